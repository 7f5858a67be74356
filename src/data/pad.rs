//! The page's drawing pad in Rust (`www/js/draw.js`): pen strokes on a black square canvas, white
//! ink with round caps and joins, anti-aliased over about one pixel, then put in MNIST's format by
//! the pad's rule (`canvas::to_mnist_format`). Used to redraw digits through the pad's pipeline
//! (the handwriting sets, the classifier's augmentation) and to write stroke files the page's
//! end-to-end tests draw with the mouse.

use serde::{Deserialize, Serialize};

use super::canvas::to_mnist_format;

/// Side of the page's pad in canvas pixels (`<canvas id="pad" width="280">`).
pub const PAD_SIDE: usize = 280;

/// One pen stroke: its width in canvas pixels and the points the pen passed, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stroke {
    pub width: f32,
    pub points: Vec<[f32; 2]>,
}

/// The canvas (`side`×`side`, ink in [0, 1], row after row) with `strokes` drawn on it as the
/// browser draws them: a single point is a disc, more points a polyline of width `width`.
pub fn render(strokes: &[Stroke], side: usize) -> Vec<f32> {
    let mut canvas = vec![0f32; side * side];
    for stroke in strokes {
        let radius = stroke.width / 2.0;
        match stroke.points.as_slice() {
            [] => {}
            [p] => segment(&mut canvas, side, *p, *p, radius),
            points => {
                for pair in points.windows(2) {
                    segment(&mut canvas, side, pair[0], pair[1], radius);
                }
            }
        }
    }
    canvas
}

/// Ink of a round-capped segment from `a` to `b`: full within `radius` of it, fading to none
/// over one pixel (pixel centres at +0.5, as the canvas samples them).
fn segment(canvas: &mut [f32], side: usize, a: [f32; 2], b: [f32; 2], radius: f32) {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let reach = radius + 1.0;
    let span = |lo: f32, hi: f32| {
        let from = (lo - reach).floor().max(0.0) as usize;
        let to = ((hi + reach).ceil().max(0.0) as usize).min(side);
        from..to
    };
    for y in span(a[1].min(b[1]), a[1].max(b[1])) {
        for x in span(a[0].min(b[0]), a[0].max(b[0])) {
            let (px, py) = (x as f32 + 0.5 - a[0], y as f32 + 0.5 - a[1]);
            let t = if len2 > 0.0 {
                ((px * dx + py * dy) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let d = ((px - t * dx).powi(2) + (py - t * dy).powi(2)).sqrt();
            let ink = (radius + 0.5 - d).clamp(0.0, 1.0);
            let v = &mut canvas[y * side + x];
            *v = v.max(ink);
        }
    }
}

/// The 28×28 image the page makes of `strokes` on a pad of `side` pixels (None: no ink).
pub fn to_mnist(strokes: &[Stroke], side: usize) -> Option<Vec<f32>> {
    to_mnist_format(&render(strokes, side), side, side)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stroke_has_the_pen_width_and_round_caps() {
        let line = Stroke {
            width: 10.0,
            points: vec![[50.0, 100.0], [150.0, 100.0]],
        };
        let canvas = render(std::slice::from_ref(&line), 200);
        let at = |x: usize, y: usize| canvas[y * 200 + x];
        // Across the line: 10 pixels of full ink, none two pixels beyond.
        let full = (90..110).filter(|&y| at(100, y) >= 0.99).count();
        assert_eq!(full, 10);
        assert_eq!(at(100, 107), 0.0);
        // The cap reaches half the width past the end point.
        assert!(at(153, 100) >= 0.99 && at(157, 100) == 0.0);
        let dot = Stroke {
            width: 20.0,
            points: vec![[20.0, 20.0]],
        };
        let canvas = render(&[dot], 40);
        let ink: f32 = canvas.iter().sum();
        let disc = std::f32::consts::PI * 100.0;
        assert!((ink - disc).abs() < 0.05 * disc, "{ink} vs {disc}");
        assert!(to_mnist(&[], PAD_SIDE).is_none());
    }
}
