//! Non-digits as a person draws them on the pad (native): letters in a hand (A, B, R, W … that
//! a classifier alone reads as 4s and 8s), hearts, arrows up and down, polygons and crosses,
//! random walks, tangles and digits cut short. Each is a set of pen paths in a unit box, drawn
//! by the same hands as the traced digits (`data::redraw`) with a pen of the page's slider, so
//! that the check learns shapes and not how our own code draws.

use rand::Rng;
use std::f32::consts::{PI, TAU};

use crate::data::pad::Stroke;
use crate::data::redraw::{HandRanges, pad_strokes};
use crate::data::strokes::Path;

/// The kinds drawn here, by name.
pub const HAND_KINDS: [&str; 7] = [
    "letter_hand",
    "heart",
    "arrow_up",
    "shape",
    "walk",
    "tangle",
    "partial_digit",
];

/// Letters in strokes, in a unit box (y down): letters no hand makes as a digit.
#[rustfmt::skip] // one letter per line
const LETTERS: [&[&[(f32, f32)]]; 12] = [
    &[&[(0.0, 1.0), (0.5, 0.0), (1.0, 1.0)], &[(0.25, 0.55), (0.75, 0.55)]],
    &[&[(0.1, 0.0), (0.1, 1.0)], &[(0.1, 0.0), (0.6, 0.0), (0.8, 0.12), (0.8, 0.35), (0.6, 0.48), (0.1, 0.48)], &[(0.1, 0.48), (0.7, 0.48), (0.9, 0.62), (0.9, 0.85), (0.7, 1.0), (0.1, 1.0)]],
    &[&[(0.9, 0.0), (0.1, 0.0), (0.1, 1.0), (0.9, 1.0)], &[(0.1, 0.5), (0.7, 0.5)]],
    &[&[(0.9, 0.0), (0.1, 0.0), (0.1, 1.0)], &[(0.1, 0.5), (0.7, 0.5)]],
    &[&[(0.1, 0.0), (0.1, 1.0)], &[(0.9, 0.0), (0.9, 1.0)], &[(0.1, 0.5), (0.9, 0.5)]],
    &[&[(0.15, 0.0), (0.15, 1.0)], &[(0.85, 0.0), (0.15, 0.55)], &[(0.35, 0.4), (0.85, 1.0)]],
    &[&[(0.0, 1.0), (0.1, 0.0), (0.5, 0.6), (0.9, 0.0), (1.0, 1.0)]],
    &[&[(0.1, 1.0), (0.1, 0.0), (0.9, 1.0), (0.9, 0.0)]],
    &[&[(0.1, 1.0), (0.1, 0.0), (0.6, 0.0), (0.85, 0.15), (0.85, 0.35), (0.6, 0.5), (0.1, 0.5)], &[(0.45, 0.5), (0.9, 1.0)]],
    &[&[(0.0, 0.0), (0.25, 1.0), (0.5, 0.35), (0.75, 1.0), (1.0, 0.0)]],
    &[&[(0.0, 0.0), (1.0, 1.0)], &[(1.0, 0.0), (0.0, 1.0)]],
    &[&[(0.0, 0.0), (0.5, 1.0), (1.0, 0.0)]],
];

/// The pen strokes of one drawing of `kind` (one of [`HAND_KINDS`]) with a random pen of the
/// page's slider, in the pad's coordinates.
pub fn draw(kind: &str, rng: &mut impl Rng) -> Vec<Stroke> {
    let paths: Vec<Path> = match kind {
        "letter_hand" => LETTERS[rng.random_range(0..LETTERS.len())]
            .iter()
            .map(|s| s.iter().map(|&(x, y)| [x, y]).collect())
            .collect(),
        "heart" => vec![heart()],
        "arrow_up" => arrow_up(rng),
        "shape" => shape(rng),
        "walk" => vec![walk(rng, 40)],
        "tangle" => (0..rng.random_range(2..5)).map(|_| walk(rng, 25)).collect(),
        "partial_digit" => super::digit_templates::partial_digit(rng),
        _ => panic!("unknown hand-drawn kind {kind:?}"),
    };
    // The unit box as a 28-pixel image's coordinates, which the hands read.
    let paths: Vec<Path> = paths
        .into_iter()
        .map(|p| {
            p.into_iter()
                .map(|[x, y]| [4.0 + 20.0 * x, 4.0 + 20.0 * y])
                .collect()
        })
        .collect();
    let pen = rng.random_range(10.0f32..34.0);
    let hand = HandRanges::person(pen).draw(rng);
    pad_strokes(&paths, &hand, rng)
}

fn heart() -> Path {
    (0..=48)
        .map(|k| {
            let t = k as f32 / 48.0 * TAU;
            let x = 16.0 * t.sin().powi(3);
            let y =
                13.0 * t.cos() - 5.0 * (2.0 * t).cos() - 2.0 * (3.0 * t).cos() - (4.0 * t).cos();
            [0.5 + x / 34.0, 0.45 - y / 34.0]
        })
        .collect()
}

/// A vertical shaft with a wide head at the top or the bottom.
fn arrow_up(rng: &mut impl Rng) -> Vec<Path> {
    let up = rng.random_bool(0.5);
    let (tip, tail) = if up { (0.0, 1.0) } else { (1.0, 0.0) };
    let back = if up { 0.35 } else { 0.65 };
    let spread = rng.random_range(0.3f32..0.5);
    vec![
        vec![[0.5, tail], [0.5, tip]],
        vec![[0.5 - spread, back], [0.5, tip], [0.5 + spread, back]],
    ]
}

/// A triangle, square, diamond, pentagon or plus sign.
fn shape(rng: &mut impl Rng) -> Vec<Path> {
    let polygon = |sides: usize, turn: f32| -> Path {
        (0..=sides)
            .map(|k| {
                let a = turn + k as f32 * TAU / sides as f32;
                [0.5 + 0.5 * a.cos(), 0.5 + 0.5 * a.sin()]
            })
            .collect()
    };
    match rng.random_range(0..5) {
        0 => vec![polygon(3, -PI / 2.0)],
        1 => vec![polygon(4, PI / 4.0)],
        2 => vec![polygon(4, 0.0)],
        3 => vec![polygon(5, -PI / 2.0)],
        _ => vec![vec![[0.5, 0.0], [0.5, 1.0]], vec![[0.0, 0.5], [1.0, 0.5]]],
    }
}

/// A random walk of `steps` steps that keeps its heading for a while.
fn walk(rng: &mut impl Rng, steps: usize) -> Path {
    let mut p = [rng.random_range(0.2f32..0.8), rng.random_range(0.2f32..0.8)];
    let mut heading = rng.random_range(0.0..TAU);
    let mut path = vec![p];
    for _ in 0..steps {
        heading += rng.random_range(-0.9f32..0.9);
        p = [
            (p[0] + 0.08 * heading.cos()).clamp(0.0, 1.0),
            (p[1] + 0.08 * heading.sin()).clamp(0.0, 1.0),
        ];
        path.push(p);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn every_kind_draws_ink_on_the_pad() {
        let mut rng = StdRng::seed_from_u64(2);
        for kind in HAND_KINDS {
            let strokes = draw(kind, &mut rng);
            assert!(!strokes.is_empty(), "{kind}");
            assert!(
                crate::data::pad::to_mnist(&strokes, 280).is_some(),
                "{kind}"
            );
        }
    }
}
