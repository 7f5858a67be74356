//! Handwriting by other people than MNIST's: the optdigits set (UCI "Optical Recognition of
//! Handwritten Digits", the 1,797 digits by 13 writers that scikit-learn ships;
//! `scripts/fetch-optdigits`). Each digit is an 8×8 grid of counts (0..16) of the ink of a
//! 32×32 bitmap; it is smoothed back to a 64×64 grey image (the counts as they are: a
//! threshold back to a bitmap made fat blobs that traced worse) and put into MNIST's format
//! (20×20 box, centre of mass) by the same code as a drawing on the pad. For validation only:
//! nothing is chosen on it.
//!
//! [`capture`] makes optdigits' 8×8 counts of an MNIST digit (its ink scaled into a 32×32
//! bitmap and counted in 4×4 blocks, as the set's description says its digits were made): a
//! set in the same coarse format made from *validation* digits, on which what depends on the
//! format (how the pad's tracer reads such a blur) can be chosen without looking at optdigits.

use super::IMAGE_SIDE;
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
        push_cells(&mut set, cells, label).ok_or_else(|| bad("an empty image".into()))?;
    }
    if set.labels.is_empty() {
        return Err("digits.csv holds no digit".into());
    }
    Ok(set)
}

/// Adds the digit of `cells` (8×8 counts) to `set` in MNIST's format (None, and nothing added,
/// when the cells hold no ink).
pub fn push_cells(set: &mut Dataset, cells: &[u8], label: u8) -> Option<()> {
    let image = cells_image(cells)?;
    set.images.extend(
        image
            .iter()
            .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8),
    );
    set.labels.push(label);
    Some(())
}

/// The digit of `cells` (8×8 counts) as a 28×28 image in MNIST's format, values in [0, 1]
/// (None when the cells hold no ink).
pub fn cells_image(cells: &[u8]) -> Option<Vec<f32>> {
    to_mnist_format(&smooth(cells), SIDE, SIDE)
}

/// Side of the bitmap a digit is scaled into before its blocks are counted.
const BITMAP: usize = CELLS * 4;

/// The 8×8 counts of a 28×28 image (values in [0, 1]): its ink's bounding box scaled, aspect
/// kept, to fill the 32×32 bitmap's larger side, centred, each pixel on where the image is at
/// least half ink, counted in 4×4 blocks.
pub fn capture(image: &[f32]) -> [u8; CELLS * CELLS] {
    assert_eq!(image.len(), IMAGE_SIDE * IMAGE_SIDE, "image size");
    let mut cells = [0u8; CELLS * CELLS];
    let ink = |x: usize, y: usize| image[y * IMAGE_SIDE + x] >= 0.5;
    let inked: Vec<(usize, usize)> = (0..IMAGE_SIDE * IMAGE_SIDE)
        .map(|i| (i % IMAGE_SIDE, i / IMAGE_SIDE))
        .filter(|&(x, y)| ink(x, y))
        .collect();
    let Some(&(first_x, first_y)) = inked.first() else {
        return cells;
    };
    let (mut x0, mut y0, mut x1, mut y1) = (first_x, first_y, first_x, first_y);
    for &(x, y) in &inked {
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    let (w, h) = ((x1 - x0 + 1) as f32, (y1 - y0 + 1) as f32);
    let scale = BITMAP as f32 / w.max(h);
    let (left, top) = (
        (BITMAP as f32 - w * scale) / 2.0,
        (BITMAP as f32 - h * scale) / 2.0,
    );
    for by in 0..BITMAP {
        for bx in 0..BITMAP {
            // The image pixel under this bitmap pixel's centre.
            let sx = (bx as f32 + 0.5 - left) / scale;
            let sy = (by as f32 + 0.5 - top) / scale;
            if sx < 0.0 || sy < 0.0 || sx >= w || sy >= h {
                continue;
            }
            if ink(x0 + sx as usize, y0 + sy as usize) {
                cells[(by / 4) * CELLS + bx / 4] += 1;
            }
        }
    }
    cells
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
    fn a_captured_bar_fills_the_cells_it_covers() {
        // A vertical bar, 4 pixels wide and 20 tall: it fills the bitmap's height, and its
        // width (4 × 32/20 = 6.4 pixels) covers six bitmap columns, three in each middle cell.
        let mut image = vec![0f32; IMAGE_SIDE * IMAGE_SIDE];
        for y in 4..24 {
            for x in 12..16 {
                image[y * IMAGE_SIDE + x] = 1.0;
            }
        }
        let cells = capture(&image);
        for y in 0..8 {
            let row = &cells[y * 8..y * 8 + 8];
            assert_eq!(
                row.iter().map(|&c| usize::from(c)).sum::<usize>(),
                6 * 4,
                "{row:?}"
            );
            assert!(row[..2].iter().chain(&row[6..]).all(|&c| c == 0), "{row:?}");
        }
        assert_eq!(capture(&vec![0.0; IMAGE_SIDE * IMAGE_SIDE]), [0; 64]);
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
