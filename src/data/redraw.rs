//! A digit's pen paths (`strokes::digit_paths`) drawn again on the pad as a person would draw
//! them: at some size and place, with some pen, slant, tilt, wobble and speed (the mouse reports
//! a point every few pixels and the pad joins them with straight lines), sometimes with a gap
//! where the pen lifted. The validation sets of `analysis::handwriting` and the classifier's
//! pad augmentation (`augment`) both draw through here and then through the pad's rule.

use rand::Rng;

use super::pad::{PAD_SIDE, Stroke, to_mnist};
use super::strokes::{Path, digit_paths};

/// How one copy of a digit is drawn, in the pad's pixels (280 a side).
#[derive(Clone, Debug, PartialEq)]
pub struct Hand {
    /// Height of the digit's box.
    pub height: f32,
    /// Where the box's centre is.
    pub centre: [f32; 2],
    /// Pen width.
    pub pen: f32,
    /// Horizontal shear (positive leans right).
    pub slant: f32,
    /// Rotation in radians (clockwise).
    pub tilt: f32,
    /// Distance between the points the pointer reports.
    pub step: f32,
    /// Amplitude of a smooth displacement of the paths (elastic distortion).
    pub wobble: f32,
    /// Probability that a stroke has a gap where the pen lifted.
    pub gap: f32,
}

/// Ranges a [`Hand`] is drawn from.
#[derive(Clone, Debug, PartialEq)]
pub struct HandRanges {
    pub height: (f32, f32),
    pub pen: (f32, f32),
    pub slant: f32,
    pub tilt: f32,
    pub step: (f32, f32),
    pub wobble: f32,
    pub gap: f32,
}

impl HandRanges {
    /// A person at the page: digits from 40 to 85 % of the pad, a fixed pen, moderate slant.
    pub fn person(pen: f32) -> Self {
        Self {
            height: (112.0, 238.0),
            pen: (pen, pen),
            slant: 0.25,
            tilt: 0.15,
            step: (2.0, 12.0),
            wobble: 4.0,
            gap: 0.0,
        }
    }

    /// Training augmentation: every pen of the page's slider on any size, and gaps.
    pub fn augmentation() -> Self {
        Self {
            height: (100.0, 250.0),
            pen: (8.0, 34.0),
            slant: 0.35,
            tilt: 0.25,
            step: (2.0, 16.0),
            wobble: 8.0,
            gap: 0.15,
        }
    }

    /// One hand, placed where a box of its height (and the pen) fits on the pad.
    pub fn draw(&self, rng: &mut impl Rng) -> Hand {
        let between = |rng: &mut _, (lo, hi): (f32, f32)| {
            if hi > lo {
                Rng::random_range(rng, lo..hi)
            } else {
                lo
            }
        };
        let either = |rng: &mut _, m: f32| between(rng, (-m, m));
        let height = between(rng, self.height);
        let pen = between(rng, self.pen);
        let free = (PAD_SIDE as f32 - height - pen).max(0.0) / 2.0;
        Hand {
            height,
            centre: [
                PAD_SIDE as f32 / 2.0 + either(rng, free * 0.5),
                PAD_SIDE as f32 / 2.0 + either(rng, free),
            ],
            pen,
            slant: either(rng, self.slant),
            tilt: either(rng, self.tilt),
            step: between(rng, self.step),
            wobble: between(rng, (0.0, self.wobble)),
            gap: self.gap,
        }
    }
}

/// The strokes a person with `hand` makes of `paths` (in the 28×28 image's coordinates).
pub fn pad_strokes(paths: &[Path], hand: &Hand, rng: &mut impl Rng) -> Vec<Stroke> {
    let all = paths.iter().flatten();
    let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
    for p in all {
        for k in 0..2 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    let scale = hand.height / (hi[1] - lo[1]).max(hi[0] - lo[0]).max(1.0);
    let mid = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    let (sin, cos) = hand.tilt.sin_cos();
    let phase: [f32; 4] = std::array::from_fn(|_| rng.random_range(0.0..std::f32::consts::TAU));
    let waves = rng.random_range(1.0f32..2.5) * std::f32::consts::TAU / hand.height;
    let place = |p: &[f32; 2]| {
        let (x, y) = ((p[0] - mid[0]) * scale, (p[1] - mid[1]) * scale);
        let x = x - hand.slant * y;
        let (x, y) = (cos * x - sin * y, sin * x + cos * y);
        [
            hand.centre[0]
                + x
                + hand.wobble * (waves * y + phase[0]).sin() * (waves * x + phase[1]).cos(),
            hand.centre[1]
                + y
                + hand.wobble * (waves * x + phase[2]).sin() * (waves * y + phase[3]).cos(),
        ]
    };
    let mut strokes = Vec::new();
    for path in paths {
        // The pointer stays on the pad (a slanted, tilted box may reach past its edge).
        let inside = |v: f32| v.clamp(1.0, PAD_SIDE as f32 - 1.0);
        let placed: Vec<[f32; 2]> = path.iter().map(|p| place(p).map(inside)).collect();
        let sampled = resample(&placed, hand.step);
        for piece in with_gap(sampled, hand, rng) {
            strokes.push(Stroke {
                width: hand.pen,
                points: piece,
            });
        }
    }
    strokes
}

/// Points every `step` pixels along `path` (its ends kept): what the pointer reports.
fn resample(path: &[[f32; 2]], step: f32) -> Vec<[f32; 2]> {
    let Some(&first) = path.first() else {
        return Vec::new();
    };
    let mut out = vec![first];
    let mut carried = 0.0;
    for w in path.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        let mut at = step - carried;
        while at < len {
            let t = at / len;
            out.push([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]);
            at += step;
        }
        carried = (carried + len) % step;
    }
    let last = path[path.len() - 1];
    if out.len() == 1 || out[out.len() - 1] != last {
        out.push(last);
    }
    out
}

/// The stroke split in two where the pen lifted for a little more than its width (with the
/// hand's gap probability, on strokes long enough to show it).
fn with_gap(points: Vec<[f32; 2]>, hand: &Hand, rng: &mut impl Rng) -> Vec<Vec<[f32; 2]>> {
    let lift = ((1.5 * hand.pen / hand.step).ceil() as usize).max(1);
    if hand.gap <= 0.0 || points.len() < 2 * lift + 6 || !rng.random_bool(f64::from(hand.gap)) {
        return vec![points];
    }
    let at = rng.random_range(3..points.len() - lift - 3);
    vec![points[..at].to_vec(), points[at + lift..].to_vec()]
}

/// A 28×28 digit image drawn again through the pad by a random hand of `ranges`, on a pad of
/// `side` pixels (the page's 280 scaled down: the same drawing, cheaper; None when the image
/// has no ink to trace).
pub fn redraw(
    image: &[f32],
    ranges: &HandRanges,
    side: usize,
    rng: &mut impl Rng,
) -> Option<Vec<f32>> {
    redraw_paths(&digit_paths(image), ranges, side, rng)
}

/// Pen paths (in the 28×28 image's coordinates) drawn on the pad by a hand of `ranges`, in
/// MNIST's format at `side` (None when there are none).
pub fn redraw_paths(
    paths: &[Path],
    ranges: &HandRanges,
    side: usize,
    rng: &mut impl Rng,
) -> Option<Vec<f32>> {
    if paths.is_empty() {
        return None;
    }
    let hand = ranges.draw(rng);
    let k = side as f32 / PAD_SIDE as f32;
    let strokes: Vec<Stroke> = pad_strokes(paths, &hand, rng)
        .into_iter()
        .map(|s| Stroke {
            width: s.width * k,
            points: s.points.iter().map(|p| p.map(|v| v * k)).collect(),
        })
        .collect();
    to_mnist(&strokes, side)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn strokes_stay_on_the_pad_and_a_redrawn_bar_is_a_bar() {
        let mut bar = vec![0f32; 784];
        for y in 4..24 {
            for x in 13..15 {
                bar[y * 28 + x] = 1.0;
            }
        }
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..20 {
            let hand = HandRanges::person(20.0).draw(&mut rng);
            let strokes = pad_strokes(&digit_paths(&bar), &hand, &mut rng);
            assert!(!strokes.is_empty());
            for p in strokes.iter().flat_map(|s| &s.points) {
                assert!(
                    p.iter().all(|v| (0.0..PAD_SIDE as f32).contains(v)),
                    "{p:?} {hand:?}"
                );
            }
            let image = redraw(&bar, &HandRanges::person(20.0), PAD_SIDE, &mut rng).unwrap();
            let rows = (0..28)
                .filter(|y| image[y * 28..(y + 1) * 28].iter().any(|v| *v > 0.3))
                .count();
            let cols = (0..28)
                .filter(|x| (0..28).any(|y| image[y * 28 + x] > 0.3))
                .count();
            assert!(rows >= 19 && cols <= 12, "{rows} rows, {cols} columns");
        }
        assert!(redraw(&[0.0; 784], &HandRanges::person(10.0), 140, &mut rng).is_none());
    }

    #[test]
    fn the_pointer_reports_points_every_step() {
        let points = resample(&[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]], 4.0);
        assert_eq!(
            points,
            [
                [0.0, 0.0],
                [4.0, 0.0],
                [8.0, 0.0],
                [10.0, 2.0],
                [10.0, 6.0],
                [10.0, 10.0]
            ]
        );
    }
}
