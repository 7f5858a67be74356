//! A drawing on a canvas of any size turned into an MNIST digit, the way the data set was made
//! (and the way the page does it, `www/js/draw.js`): the ink's bounding box scaled so that its
//! longer side is 20 pixels, then placed in 28×28 with its centre of mass at the centre.

use super::{IMAGE_PIXELS, IMAGE_SIDE};

/// Ink above this value (of 1) counts for the bounding box, as the page's 20/255.
const INK: f32 = 20.0 / 255.0;
/// Side of the box the ink is scaled into.
const BOX: usize = 20;

/// The 28×28 image of a `width`×`height` canvas (values in [0, 1], row after row); `None`
/// when the canvas holds no ink.
pub fn to_mnist_format(canvas: &[f32], width: usize, height: usize) -> Option<Vec<f32>> {
    assert_eq!(canvas.len(), width * height, "canvas size");
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..height {
        for x in 0..width {
            if canvas[y * width + x] > INK {
                (x0, y0) = (x0.min(x), y0.min(y));
                (x1, y1) = (x1.max(x), y1.max(y));
            }
        }
    }
    if x0 == usize::MAX {
        return None;
    }
    let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
    let scale = BOX as f64 / bw.max(bh) as f64;
    let w = ((bw as f64 * scale).round() as usize).max(1);
    let h = ((bh as f64 * scale).round() as usize).max(1);
    // Area averaging: each output pixel is the mean of the canvas region it covers.
    let mut small = vec![0f32; w * h];
    for (oy, row) in small.chunks_exact_mut(w).enumerate() {
        let (sy0, sy1) = (y0 + oy * bh / h, y0 + ((oy + 1) * bh).div_ceil(h));
        for (ox, out) in row.iter_mut().enumerate() {
            let (sx0, sx1) = (x0 + ox * bw / w, x0 + ((ox + 1) * bw).div_ceil(w));
            let mut sum = 0.0;
            for sy in sy0..sy1 {
                sum += canvas[sy * width + sx0..sy * width + sx1]
                    .iter()
                    .sum::<f32>();
            }
            *out = sum / ((sy1 - sy0) * (sx1 - sx0)) as f32;
        }
    }
    let (mut mass, mut mx, mut my) = (0f64, 0f64, 0f64);
    for (i, &v) in small.iter().enumerate() {
        let v = f64::from(v);
        mass += v;
        mx += v * (i % w) as f64;
        my += v * (i / w) as f64;
    }
    if mass <= 0.0 {
        return None;
    }
    let centre = IMAGE_SIDE as f64 / 2.0;
    let ox = (centre - (mx / mass + 0.5)).round() as i64;
    let oy = (centre - (my / mass + 0.5)).round() as i64;
    let mut out = vec![0f32; IMAGE_PIXELS];
    for (i, &v) in small.iter().enumerate() {
        let (tx, ty) = ((i % w) as i64 + ox, (i / w) as i64 + oy);
        if (0..IMAGE_SIDE as i64).contains(&tx) && (0..IMAGE_SIDE as i64).contains(&ty) {
            out[ty as usize * IMAGE_SIDE + tx as usize] = v;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_becomes_a_centred_20_pixel_bar() {
        let (w, h) = (100, 60);
        let mut canvas = vec![0.0; w * h];
        for y in 10..50 {
            for x in 70..74 {
                canvas[y * w + x] = 1.0;
            }
        }
        let image = to_mnist_format(&canvas, w, h).unwrap();
        let rows: Vec<usize> = (0..IMAGE_SIDE)
            .filter(|y| {
                image[y * IMAGE_SIDE..(y + 1) * IMAGE_SIDE]
                    .iter()
                    .any(|v| *v > 0.5)
            })
            .collect();
        assert_eq!(rows.len(), 20);
        assert_eq!((rows[0], rows[19]), (4, 23));
        let mass: f32 = image.iter().sum();
        let mx: f32 = image
            .iter()
            .enumerate()
            .map(|(i, v)| v * (i % IMAGE_SIDE) as f32)
            .sum();
        assert!((mx / mass - 13.5).abs() <= 1.0, "{}", mx / mass);
        assert!(to_mnist_format(&[0.0; 16], 4, 4).is_none());
    }
}
