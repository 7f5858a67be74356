//! A digit image turned back into the pen paths that could have drawn it: the ink (upsampled
//! twice, so that MNIST's two-pixel strokes survive; at or above the image's own ink level) is
//! thinned to a one-pixel skeleton
//! (Zhang and Suen, 1984) and the skeleton traced into polylines, node to node, with short
//! spurs dropped and the pixel steps smoothed. Coordinates are in the 28×28 image's pixels.

use super::IMAGE_SIDE;

/// Upsampling factor before thinning.
const UP: usize = 2;
/// The ink level of an image whose inked pixels do not split into two groups.
const INK: f32 = 0.35;
/// Pixels at or below this are background, left out of [`ink_level`]'s histogram.
const FAINT: f32 = 0.02;
/// Bins of [`ink_level`]'s histogram.
const LEVELS: usize = 50;
/// Spurs (an end to a junction) shorter than this many skeleton pixels are dropped.
const SPUR: usize = 4;

/// A pen path: points in the image's pixel coordinates (x right, y down).
pub type Path = Vec<[f32; 2]>;

/// The pen paths of a 28×28 image with values in [0, 1] (empty when it holds no ink).
pub fn digit_paths(image: &[f32]) -> Vec<Path> {
    assert_eq!(image.len(), IMAGE_SIDE * IMAGE_SIDE, "image size");
    let side = IMAGE_SIDE * UP;
    let up = upsample(image);
    let cut = ink_level(&up);
    let mut shape = up.into_iter().map(|v| v >= cut).collect::<Vec<_>>();
    thin(&mut shape, side);
    let paths = trace(&shape, side);
    let longest = paths.iter().map(Vec::len).max().unwrap_or(0);
    paths
        .into_iter()
        .filter(|p| p.len() >= SPUR || p.len() == longest)
        .map(|p| {
            smooth(&p)
                .into_iter()
                .map(|[x, y]| [(x + 0.5) / UP as f32, (y + 0.5) / UP as f32])
                .collect()
        })
        .collect()
}

/// The ink level that splits the image's inked pixels (above [`FAINT`]) best into two groups
/// (Otsu, 1979: the largest between-group variance, on a histogram of [`LEVELS`] bins): a
/// stroke's faint edge, or a blurred scan's faint stroke, against its core. Fixed levels lose
/// the faint strokes of a coarse scan (chosen on validation digits in optdigits' format:
/// `handwriting --low-res`).
fn ink_level(values: &[f32]) -> f32 {
    let mut count = [0usize; LEVELS];
    let mut sum = [0f64; LEVELS];
    for &v in values.iter().filter(|&&v| v > FAINT) {
        let bin = ((v.min(1.0) * LEVELS as f32) as usize).min(LEVELS - 1);
        count[bin] += 1;
        sum[bin] += f64::from(v);
    }
    let (total, total_sum) = (count.iter().sum::<usize>(), sum.iter().sum::<f64>());
    let (mut below, mut below_sum, mut best) = (0usize, 0.0, (0.0, INK));
    for k in 1..LEVELS {
        below += count[k - 1];
        below_sum += sum[k - 1];
        let above = total - below;
        if below == 0 || above == 0 {
            continue;
        }
        let gap = below_sum / below as f64 - (total_sum - below_sum) / above as f64;
        let spread = below as f64 * above as f64 * gap * gap;
        if spread > best.0 {
            best = (spread, k as f32 / LEVELS as f32);
        }
    }
    best.1
}

/// Bilinear upsampling by [`UP`].
fn upsample(image: &[f32]) -> Vec<f32> {
    let side = IMAGE_SIDE * UP;
    let at = |x: isize, y: isize| -> f32 {
        let n = IMAGE_SIDE as isize;
        if (0..n).contains(&x) && (0..n).contains(&y) {
            image[(y * n + x) as usize]
        } else {
            0.0
        }
    };
    let mut out = vec![0f32; side * side];
    for (i, v) in out.iter_mut().enumerate() {
        let sx = ((i % side) as f32 + 0.5) / UP as f32 - 0.5;
        let sy = ((i / side) as f32 + 0.5) / UP as f32 - 0.5;
        let (x0, y0) = (sx.floor(), sy.floor());
        let (fx, fy) = (sx - x0, sy - y0);
        let (x0, y0) = (x0 as isize, y0 as isize);
        let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
        let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
        *v = top * (1.0 - fy) + bottom * fy;
    }
    out
}

/// The 8 neighbours P2..P9 of (x, y) in a `side`×`side` mask, clockwise from north (outside is
/// background).
pub fn ring(shape: &[bool], side: usize, x: usize, y: usize) -> [bool; 8] {
    let at = |dx: isize, dy: isize| {
        let (nx, ny) = (x as isize + dx, y as isize + dy);
        let n = side as isize;
        (0..n).contains(&nx) && (0..n).contains(&ny) && shape[(ny * n + nx) as usize]
    };
    [
        at(0, -1),
        at(1, -1),
        at(1, 0),
        at(1, 1),
        at(0, 1),
        at(-1, 1),
        at(-1, 0),
        at(-1, -1),
    ]
}

/// Zhang-Suen thinning in place: the shape worn down to lines one pixel wide.
pub fn thin(shape: &mut [bool], side: usize) {
    loop {
        let mut changed = false;
        for pass in 0..2 {
            let mut remove = Vec::new();
            for y in 0..side {
                for x in 0..side {
                    if shape[y * side + x] && removable(&ring(shape, side, x, y), pass) {
                        remove.push(y * side + x);
                    }
                }
            }
            changed |= !remove.is_empty();
            for i in remove {
                shape[i] = false;
            }
        }
        if !changed {
            return;
        }
    }
}

/// Zhang and Suen's deletion test for a pixel with neighbours `p` (P2..P9) in sub-pass `pass`.
fn removable(p: &[bool; 8], pass: usize) -> bool {
    let count = p.iter().filter(|&&v| v).count();
    let transitions = (0..8).filter(|&i| !p[i] && p[(i + 1) % 8]).count();
    let [p2, _, p4, _, p6, _, p8, _] = *p;
    let (a, b) = if pass == 0 {
        (p2 && p4 && p6, p4 && p6 && p8)
    } else {
        (p2 && p4 && p8, p2 && p6 && p8)
    };
    (2..=6).contains(&count) && transitions == 1 && !a && !b
}

/// The skeleton's neighbours of pixel `i` under m-adjacency: the four side neighbours, and a
/// corner neighbour only where no side neighbour links the two (so that staircases are chains,
/// not triangles).
fn neighbours(shape: &[bool], side: usize, i: usize) -> Vec<usize> {
    let (x, y) = ((i % side) as isize, (i / side) as isize);
    let n = side as isize;
    let on = |x: isize, y: isize| {
        (0..n).contains(&x) && (0..n).contains(&y) && shape[(y * n + x) as usize]
    };
    let mut out = Vec::new();
    for (dx, dy) in [(0, -1), (1, 0), (0, 1), (-1, 0)] {
        if on(x + dx, y + dy) {
            out.push(((y + dy) * n + x + dx) as usize);
        }
    }
    for (dx, dy) in [(1, -1), (1, 1), (-1, 1), (-1, -1)] {
        if on(x + dx, y + dy) && !on(x + dx, y) && !on(x, y + dy) {
            out.push(((y + dy) * n + x + dx) as usize);
        }
    }
    out
}

/// The skeleton as polylines (pixel coordinates): walks from the ends, then from the junctions,
/// then round what is left (closed loops), each edge once.
fn trace(shape: &[bool], side: usize) -> Vec<Path> {
    let pixels: Vec<usize> = (0..shape.len()).filter(|&i| shape[i]).collect();
    let adjacency: std::collections::HashMap<usize, Vec<usize>> = pixels
        .iter()
        .map(|&i| (i, neighbours(shape, side, i)))
        .collect();
    let degree = |i: usize| adjacency[&i].len();
    let mut used = std::collections::HashSet::new();
    let mut paths = Vec::new();
    let starts = pixels
        .iter()
        .filter(|&&i| degree(i) == 1)
        .chain(pixels.iter().filter(|&&i| degree(i) > 2))
        .chain(pixels.iter())
        .copied()
        .collect::<Vec<_>>();
    for start in starts {
        if degree(start) == 0 && !used.contains(&(start, start)) {
            used.insert((start, start));
            paths.push(vec![start]);
            continue;
        }
        while let Some(&next) = adjacency[&start]
            .iter()
            .find(|&&n| !used.contains(&(start.min(n), start.max(n))))
        {
            let mut path = vec![start];
            let (mut previous, mut current) = (start, next);
            loop {
                used.insert((previous.min(current), previous.max(current)));
                path.push(current);
                let onward = adjacency[&current]
                    .iter()
                    .find(|&&n| !used.contains(&(current.min(n), current.max(n))));
                match onward {
                    Some(&n) if degree(current) == 2 => (previous, current) = (current, n),
                    _ => break,
                }
            }
            paths.push(path);
        }
    }
    paths
        .into_iter()
        .map(|p| {
            p.into_iter()
                .map(|i| [(i % side) as f32, (i / side) as f32])
                .collect()
        })
        .collect()
}

/// A moving average over three points (ends kept), then every other point: the pixel steps of
/// the skeleton made into a pen's line.
fn smooth(path: &[[f32; 2]]) -> Path {
    if path.len() < 3 {
        return path.to_vec();
    }
    let mut out = vec![path[0]];
    for w in path.windows(3) {
        out.push([
            (w[0][0] + w[1][0] + w[2][0]) / 3.0,
            (w[0][1] + w[1][1] + w[2][1]) / 3.0,
        ]);
    }
    out.push(path[path.len() - 1]);
    let last = out.len() - 1;
    out.into_iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0 || *i == last)
        .map(|(_, p)| p)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(ink: impl Fn(usize, usize) -> bool) -> Vec<f32> {
        (0..IMAGE_SIDE * IMAGE_SIDE)
            .map(|i| f32::from(u8::from(ink(i % IMAGE_SIDE, i / IMAGE_SIDE))))
            .collect()
    }

    #[test]
    fn a_thick_bar_becomes_one_line_along_it() {
        let bar = image(|x, y| (6..22).contains(&y) && (12..15).contains(&x));
        let paths = digit_paths(&bar);
        assert_eq!(paths.len(), 1, "{paths:?}");
        let p = &paths[0];
        assert!(p.iter().all(|[x, _]| (*x - 13.5).abs() < 1.0), "{p:?}");
        let ys: Vec<f32> = p.iter().map(|[_, y]| *y).collect();
        let span = ys.iter().copied().fold(f32::MIN, f32::max)
            - ys.iter().copied().fold(f32::MAX, f32::min);
        assert!(span > 11.0, "{span}");
    }

    #[test]
    fn a_faint_blurred_scan_is_traced_at_its_own_ink_level() {
        // A "T" of faint blurred strokes (0.3 in the middle, 0.12 at the rim: under the fixed
        // level, as optdigits' 8×8 counts make of a light hand).
        let mut t = vec![0f32; IMAGE_SIDE * IMAGE_SIDE];
        let mut ink = |x: usize, y: usize, v: f32| {
            let at = &mut t[y * IMAGE_SIDE + x];
            *at = at.max(v);
        };
        for x in 5..23 {
            for (y, v) in [(3, 0.12), (4, 0.3), (5, 0.3), (6, 0.12)] {
                ink(x, y, v);
            }
        }
        for y in 5..24 {
            for (x, v) in [(12, 0.12), (13, 0.3), (14, 0.3), (15, 0.12)] {
                ink(x, y, v);
            }
        }
        assert!(ink_level(&upsample(&t)) < 0.3);
        let paths = digit_paths(&t);
        let points: Vec<[f32; 2]> = paths.iter().flatten().copied().collect();
        let span = |k: usize| {
            let v = points.iter().map(|p| p[k]);
            v.clone().fold(f32::MIN, f32::max) - v.fold(f32::MAX, f32::min)
        };
        assert!(span(0) > 12.0 && span(1) > 14.0, "{paths:?}");
        // A drawing of one level throughout keeps the fixed level.
        assert_eq!(ink_level(&[1.0; 64]), INK);
    }

    #[test]
    fn a_ring_is_one_closed_path_and_a_cross_four_arms() {
        let ring = image(|x, y| {
            let d = ((x as f32 - 13.5).powi(2) + (y as f32 - 13.5).powi(2)).sqrt();
            (6.0..8.5).contains(&d)
        });
        let paths = digit_paths(&ring);
        assert_eq!(paths.len(), 1, "{paths:?}");
        let (a, b) = (paths[0][0], paths[0][paths[0].len() - 1]);
        assert!(
            (a[0] - b[0]).abs() + (a[1] - b[1]).abs() < 2.5,
            "{a:?} {b:?}"
        );
        let cross = image(|x, y| {
            ((4..24).contains(&y) && (13..15).contains(&x))
                || ((4..24).contains(&x) && (13..15).contains(&y))
        });
        let paths = digit_paths(&cross);
        assert!((4..=5).contains(&paths.len()), "{}", paths.len());
        assert!(digit_paths(&[0.0; 784]).is_empty());
    }
}
