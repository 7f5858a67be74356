//! Handwriting by other people than MNIST's: the optdigits set (UCI "Optical Recognition of
//! Handwritten Digits", the 1,797 digits by 13 writers that scikit-learn ships;
//! `scripts/fetch-optdigits`). Each digit is an 8×8 grid of counts (0..16) of the ink of a
//! 32×32 bitmap; it is smoothed back to a 64×64 grey image (the counts as they are: a
//! threshold back to a bitmap made fat blobs that traced worse) and put into MNIST's format
//! (20×20 box, centre of mass) by the same code as a drawing on the pad. For validation only:
//! nothing is chosen on it.

use super::canvas::to_mnist_format;
use super::mnist::Dataset;

/// Cells per side of an optdigits image, and the highest count a cell holds.
const CELLS: usize = 8;
const FULL: u8 = 16;
/// Side of the grey image the cells are smoothed into.
const SIDE: usize = 64;

/// Parses `digits.csv` (64 counts and the label per line) into 28×28 images; an error names the
/// line and what is wrong with it.
pub fn parse(csv: &str) -> Result<Dataset, String> {
    let mut set = Dataset::default();
    for (i, line) in csv
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |what: String| format!("digits.csv line {}: {what}", i + 1);
        let values: Vec<u8> = line
            .split(',')
            .map(|v| v.trim().parse::<u8>())
            .collect::<Result<_, _>>()
            .map_err(|e| bad(format!("not a small whole number ({e})")))?;
        if values.len() != CELLS * CELLS + 1 {
            return Err(bad(format!("{} values, not 65", values.len())));
        }
        let (cells, label) = (&values[..CELLS * CELLS], values[CELLS * CELLS]);
        if label > 9 || cells.iter().any(|&c| c > FULL) {
            return Err(bad("a label above 9 or a count above 16".into()));
        }
        let image = to_mnist_format(&smooth(cells), SIDE, SIDE)
            .ok_or_else(|| bad("an empty image".into()))?;
        set.images.extend(
            image
                .iter()
                .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8),
        );
        set.labels.push(label);
    }
    if set.labels.is_empty() {
        return Err("digits.csv holds no digit".into());
    }
    Ok(set)
}

/// The cells as a 64×64 grey image, bilinear between the cells' centres, so that a stroke's
/// ink spread over two cells reads as one stroke, not as blocks.
fn smooth(cells: &[u8]) -> Vec<f32> {
    let scale = CELLS as f32 / SIDE as f32;
    let cell = |x: isize, y: isize| -> f32 {
        let (x, y) = (x.clamp(0, 7) as usize, y.clamp(0, 7) as usize);
        f32::from(cells[y * CELLS + x]) / f32::from(FULL)
    };
    let mut image = vec![0.0; SIDE * SIDE];
    for (i, v) in image.iter_mut().enumerate() {
        let (px, py) = ((i % SIDE) as f32, (i / SIDE) as f32);
        let (fx, fy) = ((px + 0.5) * scale - 0.5, (py + 0.5) * scale - 0.5);
        let (x0, y0) = (fx.floor(), fy.floor());
        let (tx, ty) = (fx - x0, fy - y0);
        let (x0, y0) = (x0 as isize, y0 as isize);
        let top = cell(x0, y0) * (1.0 - tx) + cell(x0 + 1, y0) * tx;
        let bottom = cell(x0, y0 + 1) * (1.0 - tx) + cell(x0 + 1, y0 + 1) * tx;
        *v = top * (1.0 - ty) + bottom * ty;
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::IMAGE_SIDE;

    /// A vertical bar two cells wide in the middle of the grid: a one.
    fn one() -> String {
        let mut cells = [0u8; 64];
        for y in 1..7 {
            cells[y * 8 + 3] = 16;
            cells[y * 8 + 4] = 12;
        }
        let mut line: Vec<String> = cells.iter().map(u8::to_string).collect();
        line.push("1".into());
        line.join(",")
    }

    #[test]
    fn a_digit_becomes_a_centred_mnist_image_with_its_label() {
        let set = parse(&format!("{}\n\n{}\n", one(), one())).unwrap();
        assert_eq!(set.labels, [1, 1]);
        assert_eq!(set.images.len(), 2 * IMAGE_SIDE * IMAGE_SIDE);
        let image = &set.images[..IMAGE_SIDE * IMAGE_SIDE];
        let (mut mass, mut cx, mut rows) = (0.0, 0.0, Vec::new());
        for (i, &v) in image.iter().enumerate() {
            mass += f64::from(v);
            cx += f64::from(v) * (i % IMAGE_SIDE) as f64;
            if v > 0 {
                rows.push(i / IMAGE_SIDE);
            }
        }
        // MNIST's format: 20 pixels tall, centred by mass.
        let height = rows.iter().max().unwrap() - rows.iter().min().unwrap() + 1;
        assert!((19..=21).contains(&height), "{height}");
        assert!((cx / mass - 13.5).abs() < 1.0, "{}", cx / mass);
    }

    #[test]
    fn a_bad_line_is_named() {
        let short = "0,1,2,3";
        let e = parse(&format!("{}\n{short}\n", one())).unwrap_err();
        assert!(e.contains("line 2") && e.contains("4 values"), "{e}");
        let over = one().replacen("16", "17", 1);
        assert!(parse(&over).unwrap_err().contains("above 16"));
        let label = format!("{}0", &one()[..one().len() - 1]);
        assert!(parse(&label).is_ok());
        let label = format!("{}12", &one()[..one().len() - 1]);
        assert!(parse(&label).unwrap_err().contains("label above 9"));
        assert!(parse("").unwrap_err().contains("no digit"));
        let blank = format!("{}3", "0,".repeat(64));
        assert!(parse(&blank).unwrap_err().contains("empty image"));
    }
}
