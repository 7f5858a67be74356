//! Digits as pen strokes in a unit box (y down), one or two templates per digit: drawn whole
//! they are a check on what the page sees from a user (`non_digits::drawn_digits`); cut short
//! they are the partial digits the check must refuse (`hand_shapes`).

use rand::{Rng, RngCore, SeedableRng, rngs::StdRng};

use crate::data::strokes::Path;

/// Pen strokes, each a polyline.
pub type Strokes = &'static [&'static [(f32, f32)]];

/// Digits drawn with the pen from templates (one or two per digit, in a unit box, y down),
/// jittered: a check on what the page sees from a user, beside MNIST's own digits.
#[rustfmt::skip] // one digit per line
pub const TEMPLATES: [(u8, Strokes); 13] = [
    (0, &[&[(0.5, 0.0), (0.15, 0.2), (0.05, 0.55), (0.25, 0.92), (0.6, 1.0), (0.9, 0.7), (0.9, 0.3), (0.65, 0.02), (0.45, 0.02)]]),
    (1, &[&[(0.5, 0.0), (0.5, 1.0)]]),
    (1, &[&[(0.25, 0.2), (0.55, 0.0), (0.55, 1.0)]]),
    (2, &[&[(0.12, 0.25), (0.3, 0.04), (0.6, 0.0), (0.82, 0.18), (0.75, 0.45), (0.15, 0.96), (0.9, 0.95)]]),
    (3, &[&[(0.15, 0.1), (0.5, 0.0), (0.8, 0.15), (0.75, 0.35), (0.45, 0.48), (0.8, 0.6), (0.85, 0.85), (0.5, 1.0), (0.12, 0.9)]]),
    (4, &[&[(0.6, 0.0), (0.08, 0.65), (0.92, 0.65)], &[(0.66, 0.3), (0.66, 1.0)]]),
    (4, &[&[(0.2, 0.0), (0.12, 0.55), (0.85, 0.55)], &[(0.75, 0.0), (0.75, 1.0)]]),
    (5, &[&[(0.82, 0.02), (0.25, 0.02), (0.2, 0.45), (0.55, 0.38), (0.84, 0.55), (0.8, 0.85), (0.5, 0.99), (0.14, 0.88)]]),
    (6, &[&[(0.7, 0.0), (0.35, 0.3), (0.16, 0.65), (0.28, 0.95), (0.62, 0.97), (0.82, 0.74), (0.62, 0.52), (0.3, 0.56), (0.18, 0.7)]]),
    (7, &[&[(0.08, 0.04), (0.92, 0.04), (0.4, 1.0)]]),
    (7, &[&[(0.08, 0.04), (0.92, 0.04), (0.45, 1.0)], &[(0.3, 0.5), (0.85, 0.5)]]),
    (8, &[&[(0.75, 0.15), (0.5, 0.0), (0.25, 0.15), (0.3, 0.35), (0.7, 0.6), (0.78, 0.85), (0.5, 1.0), (0.22, 0.85), (0.3, 0.6), (0.7, 0.35), (0.75, 0.15)]]),
    (9, &[&[(0.8, 0.25), (0.6, 0.03), (0.3, 0.06), (0.18, 0.3), (0.4, 0.48), (0.78, 0.38), (0.8, 0.25), (0.74, 1.0)]]),
];

/// The first `share` of a template's ink (its strokes in order, cut within a stroke).
pub fn cut_short(strokes: Strokes, share: f32) -> Vec<Path> {
    let length = |s: &[(f32, f32)]| -> f32 {
        s.windows(2)
            .map(|w| ((w[1].0 - w[0].0).powi(2) + (w[1].1 - w[0].1).powi(2)).sqrt())
            .sum()
    };
    let mut left = share.clamp(0.0, 1.0) * strokes.iter().map(|s| length(s)).sum::<f32>();
    let mut out = Vec::new();
    for stroke in strokes {
        if left <= 0.0 {
            break;
        }
        let mut path: Path = vec![[stroke[0].0, stroke[0].1]];
        for w in stroke.windows(2) {
            let step = length(w);
            if step >= left {
                let t = if step > 0.0 { left / step } else { 0.0 };
                path.push([
                    w[0].0 + t * (w[1].0 - w[0].0),
                    w[0].1 + t * (w[1].1 - w[0].1),
                ]);
                left = 0.0;
                break;
            }
            path.push([w[1].0, w[1].1]);
            left -= step;
        }
        out.push(path);
    }
    out
}

/// A digit cut to 25–60 % of its ink: what the pad holds midway through a digit, or a digit
/// left unfinished. Never a one or a seven (a one cut short is still a one; a seven cut past its
/// corner is still a seven, and before it a dash), and never a straight stroke: that is how a
/// one is drawn (`augment::straight_one` teaches the classifier so).
pub fn partial_digit(rng: &mut impl Rng) -> Vec<Path> {
    let candidates: Vec<Strokes> = TEMPLATES
        .iter()
        .filter(|(label, _)| !matches!(label, 1 | 7))
        .map(|(_, s)| *s)
        .collect();
    let pick = |rng: &mut dyn RngCore| {
        let strokes = candidates[rng.random_range(0..candidates.len())];
        cut_short(strokes, rng.random_range(0.25f32..0.6))
    };
    let mut cut = pick(rng);
    // Draws again from a generator seeded by the first cut, not from `rng`: the drawings that
    // follow this one in a set stay the same whether or not it was drawn again.
    let end = cut
        .last()
        .and_then(|p| p.last())
        .copied()
        .unwrap_or_default();
    let mut again =
        StdRng::seed_from_u64(u64::from(end[0].to_bits()) << 32 | u64::from(end[1].to_bits()));
    while is_straight(&cut) {
        cut = pick(&mut again);
    }
    cut
}

/// Whether every point of `paths` lies within a tenth of the chord's length of the chord from
/// their first point to their last.
fn is_straight(paths: &[Path]) -> bool {
    let points: Vec<[f32; 2]> = paths.iter().flatten().copied().collect();
    let (Some(a), Some(b)) = (points.first(), points.last()) else {
        return false;
    };
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let chord = (dx * dx + dy * dy).sqrt();
    chord > 1e-3
        && points
            .iter()
            .all(|p| ((p[0] - a[0]) * dy - (p[1] - a[1]) * dx).abs() / chord < 0.1 * chord)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_cut_short_keeps_that_share_of_its_ink_from_its_start() {
        let length = |paths: &[Path]| -> f32 {
            paths
                .iter()
                .flat_map(|p| p.windows(2))
                .map(|w| ((w[1][0] - w[0][0]).powi(2) + (w[1][1] - w[0][1]).powi(2)).sqrt())
                .sum()
        };
        for (_, strokes) in TEMPLATES {
            let whole = cut_short(strokes, 1.0);
            let half = cut_short(strokes, 0.5);
            assert!((length(&half) - 0.5 * length(&whole)).abs() < 1e-4);
            assert_eq!(half[0][0], whole[0][0]);
        }
        // A four in two strokes: 30 % of its ink stays within the first stroke.
        assert!(cut_short(TEMPLATES[5].1, 0.0).is_empty());
        assert_eq!(cut_short(TEMPLATES[5].1, 0.3).len(), 1);
        assert_eq!(cut_short(TEMPLATES[5].1, 1.0).len(), 2);
    }

    #[test]
    fn a_partial_digit_is_never_a_straight_stroke() {
        assert!(is_straight(&[vec![[0.6, 0.0], [0.35, 0.33], [0.08, 0.65]]]));
        assert!(!is_straight(&[vec![[0.6, 0.0], [0.08, 0.65], [0.5, 0.65]]]));
        assert!(!is_straight(&[vec![[0.5, 0.5], [0.5, 0.5]]]));
        // The first stroke of a four: a leaning one.
        assert!(is_straight(&cut_short(TEMPLATES[5].1, 0.3)));
        let mut rng = StdRng::seed_from_u64(9);
        for _ in 0..500 {
            assert!(!is_straight(&partial_digit(&mut rng)));
        }
    }
}
