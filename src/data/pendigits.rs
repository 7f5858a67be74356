//! Digits written on a tablet by 44 people who are not MNIST's writers: UCI's "Pen-Based
//! Recognition of Handwritten Digits" (pendigits, 10,992 digits; `scripts/fetch-pendigits`).
//! Each digit is its pen trajectory (the strokes in the order written, pen-up moves included)
//! resampled to [`POINTS`] points evenly spaced along it, scaled so that its longer side spans
//! 0..100, with y up. For validation only: nothing is chosen on it.
//!
//! [`eight_points`] makes the same format of any pen paths, so that how the points are drawn
//! ([`path_through`]) is chosen on validation digits traced to pen paths, not on pendigits.

use super::strokes::Path;

/// Points per digit.
pub const POINTS: usize = 8;
/// The coordinates' range.
const RANGE: u8 = 100;
/// Points of the curve drawn between two of a digit's points.
const PER_SEGMENT: usize = 8;

/// One digit: its points in the pad's orientation (y down), and its label.
#[derive(Clone, Debug, PartialEq)]
pub struct PenDigit {
    pub points: [[f32; 2]; POINTS],
    pub label: u8,
}

/// Parses the data file (`x1, y1, …, x8, y8, label` per line, coordinates 0..100 with y up);
/// an error names the line and what is wrong with it.
pub fn parse(csv: &str) -> Result<Vec<PenDigit>, String> {
    let mut digits = Vec::new();
    for (i, line) in csv
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |what: String| format!("pendigits line {}: {what}", i + 1);
        let values: Vec<u8> = line
            .split(',')
            .map(|v| v.trim().parse::<u8>())
            .collect::<Result<_, _>>()
            .map_err(|e| bad(format!("not a small whole number ({e})")))?;
        if values.len() != 2 * POINTS + 1 {
            return Err(bad(format!(
                "{} values, not {}",
                values.len(),
                2 * POINTS + 1
            )));
        }
        let label = values[2 * POINTS];
        if label > 9 || values[..2 * POINTS].iter().any(|&v| v > RANGE) {
            return Err(bad(format!(
                "a label above 9 or a coordinate above {RANGE}"
            )));
        }
        let points = std::array::from_fn(|k| {
            let (x, y) = (values[2 * k], values[2 * k + 1]);
            [f32::from(x), f32::from(RANGE - y)]
        });
        digits.push(PenDigit { points, label });
    }
    if digits.is_empty() {
        return Err("the pendigits file holds no digit".into());
    }
    Ok(digits)
}

/// Pen paths (in the order drawn) as pendigits has its digits: one trajectory through all of
/// them, pen-up moves included, resampled to [`POINTS`] points evenly spaced along it (None
/// when the paths have no length).
pub fn eight_points(paths: &[Path]) -> Option<[[f32; 2]; POINTS]> {
    let trajectory: Vec<[f32; 2]> = paths.iter().flatten().copied().collect();
    let points = evenly_spaced(&trajectory, POINTS)?;
    Some(std::array::from_fn(|k| points[k]))
}

/// Pen paths at pendigits' resolution without its pen-up moves: [`POINTS`] points shared out
/// among the strokes by length (at least two each), evenly spaced along each, and a curve
/// through each stroke's points (strokes without length are left out).
pub fn coarse_strokes(paths: &[Path]) -> Vec<Path> {
    let total: f32 = paths.iter().map(|p| length(p)).sum();
    paths
        .iter()
        .filter_map(|p| {
            let share = (POINTS as f32 * length(p) / total).round() as usize;
            evenly_spaced(p, share.max(2)).map(|points| curve_through(&points))
        })
        .collect()
}

fn distance(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt()
}

fn length(path: &[[f32; 2]]) -> f32 {
    path.windows(2).map(|w| distance(w[0], w[1])).sum()
}

/// `n` ≥ 2 points evenly spaced along `path`, its ends included (None when it has no length).
fn evenly_spaced(path: &[[f32; 2]], n: usize) -> Option<Vec<[f32; 2]>> {
    let total = length(path);
    if total.is_nan() || total <= 0.0 || n < 2 {
        return None;
    }
    let mut points = vec![path[0]; n];
    let (mut walked, mut next) = (0.0, 1);
    for w in path.windows(2) {
        let len = distance(w[0], w[1]);
        while next < n && walked + len >= total * next as f32 / (n - 1) as f32 {
            let t = if len > 0.0 {
                (total * next as f32 / (n - 1) as f32 - walked) / len
            } else {
                0.0
            };
            points[next] = [
                w[0][0] + t * (w[1][0] - w[0][0]),
                w[0][1] + t * (w[1][1] - w[0][1]),
            ];
            next += 1;
        }
        walked += len;
    }
    points[n - 1] = path[path.len() - 1];
    Some(points)
}

/// The pen path through a digit's points: a uniform Catmull–Rom curve, which passes through
/// every point and turns smoothly as a pen does, [`PER_SEGMENT`] points per segment.
pub fn path_through(points: &[[f32; 2]; POINTS]) -> Path {
    curve_through(points)
}

/// [`path_through`] for any number of points (at least one).
fn curve_through(points: &[[f32; 2]]) -> Path {
    let last = points.len() as isize - 1;
    let at = |k: isize| points[k.clamp(0, last) as usize];
    let mut path = Vec::with_capacity(last as usize * PER_SEGMENT + 1);
    for k in 0..last {
        let (p0, p1, p2, p3) = (at(k - 1), at(k), at(k + 1), at(k + 2));
        for s in 0..PER_SEGMENT {
            let t = s as f32 / PER_SEGMENT as f32;
            let (t2, t3) = (t * t, t * t * t);
            path.push(std::array::from_fn(|c| {
                0.5 * (2.0 * p1[c]
                    + (p2[c] - p0[c]) * t
                    + (2.0 * p0[c] - 5.0 * p1[c] + 4.0 * p2[c] - p3[c]) * t2
                    + (3.0 * p1[c] - p0[c] - 3.0 * p2[c] + p3[c]) * t3)
            }));
        }
    }
    path.push(points[last as usize]);
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    const EIGHT: &str = "47, 100, 27, 81, 57, 37, 26, 0, 0, 23, 56, 53, 100, 90, 40, 98, 8";

    #[test]
    fn a_line_becomes_eight_points_with_y_down() {
        let digits = parse(&format!("{EIGHT}\n\n{EIGHT}\n")).unwrap();
        assert_eq!(digits.len(), 2);
        assert_eq!(digits[0].label, 8);
        assert_eq!(digits[0].points[0], [47.0, 0.0]);
        assert_eq!(digits[0].points[3], [26.0, 100.0]);
    }

    #[test]
    fn a_bad_line_is_named() {
        let e = parse(&format!("{EIGHT}\n1,2,3\n")).unwrap_err();
        assert!(e.contains("line 2") && e.contains("3 values"), "{e}");
        assert!(
            parse(&EIGHT.replace("100, 90", "101, 90"))
                .unwrap_err()
                .contains("above 100")
        );
        assert!(
            parse(&EIGHT.replace(", 8", ", 12"))
                .unwrap_err()
                .contains("label above 9")
        );
        assert!(
            parse(&EIGHT.replace("47", "-4"))
                .unwrap_err()
                .contains("line 1")
        );
        assert!(parse("\n").unwrap_err().contains("no digit"));
    }

    #[test]
    fn eight_points_are_evenly_spaced_along_all_the_strokes() {
        // Two strokes: 0..7 along y = 0, then a pen-up move to (7, 7) and back to (0, 7):
        // 21 units in all, 3 between neighbours.
        let paths = vec![vec![[0.0, 0.0], [7.0, 0.0]], vec![[7.0, 7.0], [0.0, 7.0]]];
        let points = eight_points(&paths).unwrap();
        let expected = [
            [0.0, 0.0],
            [3.0, 0.0],
            [6.0, 0.0],
            [7.0, 2.0],
            [7.0, 5.0],
            [6.0, 7.0],
            [3.0, 7.0],
            [0.0, 7.0],
        ];
        for (p, e) in points.iter().zip(expected) {
            assert!(
                (p[0] - e[0]).abs() < 1e-4 && (p[1] - e[1]).abs() < 1e-4,
                "{points:?}"
            );
        }
        assert_eq!(eight_points(&[vec![[1.0, 1.0], [1.0, 1.0]]]), None);
        assert_eq!(eight_points(&[]), None);
    }

    #[test]
    fn coarse_strokes_keep_the_pen_lifts_and_share_the_points_by_length() {
        // A stroke of length 21 and one of 7: 6 and 2 points, no move between them.
        let paths = vec![
            vec![[0.0, 0.0], [21.0, 0.0]],
            vec![[0.0, 7.0], [7.0, 7.0]],
            vec![[3.0, 3.0]],
        ];
        let coarse = coarse_strokes(&paths);
        assert_eq!(coarse.len(), 2);
        assert_eq!(coarse[0].len(), 5 * PER_SEGMENT + 1);
        assert_eq!(coarse[1].len(), PER_SEGMENT + 1);
        assert!(coarse[0].iter().all(|p| p[1].abs() < 1e-4));
        assert!(coarse[1].iter().all(|p| (p[1] - 7.0).abs() < 1e-4));
        assert_eq!(coarse[1][0], [0.0, 7.0]);
        assert!(coarse_strokes(&[]).is_empty());
    }

    #[test]
    fn the_path_passes_through_every_point() {
        let digits = parse(EIGHT).unwrap();
        let path = path_through(&digits[0].points);
        assert_eq!(path.len(), (POINTS - 1) * PER_SEGMENT + 1);
        for (k, p) in digits[0].points.iter().enumerate() {
            let on = path[(k * PER_SEGMENT).min(path.len() - 1)];
            assert!(
                (on[0] - p[0]).abs() < 1e-4 && (on[1] - p[1]).abs() < 1e-4,
                "{k}"
            );
        }
    }
}
