//! Shape statistics of a 28×28 drawing in MNIST's format, for the digit check: what the
//! normalisation (ink scaled to a 20-pixel box) leaves of a drawing's size and shape. A dot
//! becomes a filled disc with a thick "stroke", a dash a flat bar, a scribble or hatching many
//! holes, noise many pieces; a digit is a thin stroke of one or two pieces, taller than wide,
//! with at most two holes. Pure functions over the pixels: the same in the page.

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};

/// Pixels above this value are ink for the shape statistics.
const INK: f32 = 0.3;
/// A hole (a closed region of background) counts from this many pixels on.
const MIN_HOLE: usize = 2;

/// What [`stats`] measures of one image.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct ImageStats {
    /// Mean pixel value.
    pub ink: f64,
    /// Largest distance (3-4 chamfer, in pixels) from an ink pixel to the background: half the
    /// thickest stroke.
    pub thickness: f64,
    /// Mean of that distance over the ink pixels.
    pub mean_thickness: f64,
    /// Pieces of ink (8-connected).
    pub components: f64,
    /// Share of the ink outside the largest piece.
    pub stray_ink: f64,
    /// Closed regions of background (4-connected, not touching the image's edge).
    pub holes: f64,
    /// Pixels in those regions, over the ink's pixels.
    pub hole_area: f64,
    /// ln(height / width) of the ink's bounding box.
    pub log_aspect: f64,
    /// Ink pixels over the bounding box's area.
    pub fill: f64,
    /// Pixels of the ink's skeleton (Zhang–Suen thinning): the length of the strokes.
    pub skeleton: f64,
    /// Skeleton pixels where a stroke ends (one run of neighbours around them).
    pub endpoints: f64,
    /// Skeleton pixels where strokes meet (three or more runs of neighbours).
    pub branches: f64,
    /// The most runs of neighbours round any skeleton pixel (4: a crossing, more: a star).
    pub max_crossing: f64,
}

/// The statistics of `image` (784 values in [0, 1]).
pub fn stats(image: &[f32]) -> ImageStats {
    assert_eq!(image.len(), IMAGE_PIXELS, "image size");
    let ink: Vec<bool> = image.iter().map(|&v| v > INK).collect();
    let area = ink.iter().filter(|&&b| b).count();
    if area == 0 {
        return ImageStats {
            ink: mean(image),
            ..Default::default()
        };
    }
    let (w, h) = bounding_box(&ink);
    let ink_dist: Vec<f64> = distances_to_background(&ink)
        .iter()
        .zip(&ink)
        .filter(|(_, b)| **b)
        .map(|(&d, _)| f64::from(d) / 3.0)
        .collect();
    let thickness = ink_dist.iter().copied().fold(0.0, f64::max);
    let mean_thickness = ink_dist.iter().sum::<f64>() / area as f64;
    // Pieces of ink, 8-connected.
    let pieces = regions(&ink, true);
    let largest = pieces.iter().map(|r| r.0).max().unwrap_or(0);
    // Holes: background regions, 4-connected, that do not touch the edge.
    let background: Vec<bool> = ink.iter().map(|b| !b).collect();
    let holes: Vec<(usize, bool)> = regions(&background, false)
        .into_iter()
        .filter(|&(size, edge)| !edge && size >= MIN_HOLE)
        .collect();
    let skeleton = skeleton_stats(&ink);
    ImageStats {
        ink: mean(image),
        skeleton: skeleton.pixels,
        endpoints: skeleton.endpoints,
        branches: skeleton.branches,
        max_crossing: skeleton.max_crossing,
        thickness,
        mean_thickness,
        components: pieces.len() as f64,
        stray_ink: (area - largest) as f64 / area as f64,
        holes: holes.len() as f64,
        hole_area: holes.iter().map(|h| h.0).sum::<usize>() as f64 / area as f64,
        log_aspect: (h / w).ln(),
        fill: area as f64 / (w * h),
    }
}

/// Width and height of the box round the ink (some ink assumed).
fn bounding_box(ink: &[bool]) -> (f64, f64) {
    let n = IMAGE_SIDE;
    let (mut x0, mut y0, mut x1, mut y1) = (n, n, 0, 0);
    for (i, _) in ink.iter().enumerate().filter(|(_, b)| **b) {
        let (x, y) = (i % n, i / n);
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    ((x1 - x0 + 1) as f64, (y1 - y0 + 1) as f64)
}

/// The 3-4 chamfer distance of every pixel to the background, in thirds of a pixel (outside
/// the image counts as background; background pixels are 0).
fn distances_to_background(ink: &[bool]) -> Vec<u32> {
    let n = IMAGE_SIDE;
    let mut dist: Vec<u32> = ink
        .iter()
        .map(|&b| if b { u32::MAX / 2 } else { 0 })
        .collect();
    let at = |d: &Vec<u32>, x: isize, y: isize| -> u32 {
        if x < 0 || y < 0 || x >= n as isize || y >= n as isize {
            0
        } else {
            d[y as usize * n + x as usize]
        }
    };
    for y in 0..n as isize {
        for x in 0..n as isize {
            let i = y as usize * n + x as usize;
            if dist[i] > 0 {
                let best = (at(&dist, x - 1, y) + 3)
                    .min(at(&dist, x, y - 1) + 3)
                    .min(at(&dist, x - 1, y - 1) + 4)
                    .min(at(&dist, x + 1, y - 1) + 4);
                dist[i] = dist[i].min(best);
            }
        }
    }
    for y in (0..n as isize).rev() {
        for x in (0..n as isize).rev() {
            let i = y as usize * n + x as usize;
            if dist[i] > 0 {
                let best = (at(&dist, x + 1, y) + 3)
                    .min(at(&dist, x, y + 1) + 3)
                    .min(at(&dist, x + 1, y + 1) + 4)
                    .min(at(&dist, x - 1, y + 1) + 4);
                dist[i] = dist[i].min(best);
            }
        }
    }
    dist
}

/// What the thinned ink shows.
struct SkeletonStats {
    pixels: f64,
    /// Pixels where one stroke ends.
    endpoints: f64,
    /// Pixels where three or more strokes meet.
    branches: f64,
    /// Most strokes meeting at one pixel.
    max_crossing: f64,
}

fn skeleton_stats(ink: &[bool]) -> SkeletonStats {
    let n = IMAGE_SIDE;
    let skeleton = thin(ink);
    let (mut endpoints, mut branches, mut max_crossing) = (0, 0, 0);
    for (i, _) in skeleton.iter().enumerate().filter(|(_, b)| **b) {
        let runs = crossings(&skeleton, i % n, i / n);
        max_crossing = max_crossing.max(runs);
        endpoints += usize::from(runs == 1);
        branches += usize::from(runs >= 3);
    }
    SkeletonStats {
        pixels: skeleton.iter().filter(|&&b| b).count() as f64,
        endpoints: endpoints as f64,
        branches: branches as f64,
        max_crossing: max_crossing as f64,
    }
}

/// The 8 neighbours of (x, y) clockwise from the one above (outside the image: background).
fn neighbours(mask: &[bool], x: usize, y: usize) -> [bool; 8] {
    crate::data::strokes::ring(mask, IMAGE_SIDE, x, y)
}

/// Runs of set neighbours round (x, y) (0→1 transitions round the circle); a lone pixel or a
/// full ring counts 0.
fn crossings(mask: &[bool], x: usize, y: usize) -> usize {
    let p = neighbours(mask, x, y);
    (0..8).filter(|&k| !p[k] && p[(k + 1) % 8]).count()
}

/// Zhang–Suen thinning of `mask` to one-pixel-wide strokes.
fn thin(mask: &[bool]) -> Vec<bool> {
    let mut m = mask.to_vec();
    loop {
        let mut changed = false;
        for pass in 0..2 {
            let mut remove = Vec::new();
            for (i, _) in m.iter().enumerate().filter(|(_, b)| **b) {
                let (x, y) = (i % IMAGE_SIDE, i / IMAGE_SIDE);
                let p = neighbours(&m, x, y);
                let set = p.iter().filter(|&&b| b).count();
                if !(2..=6).contains(&set) || crossings(&m, x, y) != 1 {
                    continue;
                }
                // p[0] up, p[2] right, p[4] down, p[6] left.
                let ok = if pass == 0 {
                    !(p[2] && p[4] && (p[0] || p[6]))
                } else {
                    !(p[0] && p[6] && (p[2] || p[4]))
                };
                if ok {
                    remove.push(i);
                }
            }
            changed |= !remove.is_empty();
            for i in remove {
                m[i] = false;
            }
        }
        if !changed {
            return m;
        }
    }
}

fn mean(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len().max(1) as f64
}

/// The connected regions of the `true` pixels: (size, whether it touches the image's edge).
fn regions(mask: &[bool], diagonal: bool) -> Vec<(usize, bool)> {
    let n = IMAGE_SIDE as isize;
    let mut seen = vec![false; mask.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut size, mut edge) = (0, false);
        while let Some(i) = stack.pop() {
            size += 1;
            let (x, y) = ((i % IMAGE_SIDE) as isize, (i / IMAGE_SIDE) as isize);
            if x == 0 || y == 0 || x == n - 1 || y == n - 1 {
                edge = true;
            }
            for dy in -1..=1isize {
                for dx in -1..=1isize {
                    if (dx == 0 && dy == 0) || (!diagonal && dx != 0 && dy != 0) {
                        continue;
                    }
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= n || ny >= n {
                        continue;
                    }
                    let j = (ny * n + nx) as usize;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        out.push((size, edge));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(f: impl Fn(usize, usize) -> bool) -> Vec<f32> {
        (0..IMAGE_PIXELS)
            .map(|i| f32::from(u8::from(f(i % IMAGE_SIDE, i / IMAGE_SIDE))))
            .collect()
    }

    #[test]
    fn a_ring_has_one_piece_one_hole_and_a_thin_stroke() {
        let ring = image(|x, y| {
            let d = ((x as f64 - 13.5).powi(2) + (y as f64 - 13.5).powi(2)).sqrt();
            (7.0..9.0).contains(&d)
        });
        let s = stats(&ring);
        assert_eq!((s.components, s.holes), (1.0, 1.0), "{s:?}");
        assert!(s.thickness <= 1.5, "{s:?}");
        assert!(s.log_aspect.abs() < 0.1, "{s:?}");
        assert_eq!((s.endpoints, s.branches), (0.0, 0.0), "{s:?}");
    }

    #[test]
    fn a_plus_has_four_ends_and_a_crossing() {
        let plus = image(|x, y| {
            ((12..=15).contains(&x) && (4..24).contains(&y))
                || ((12..=15).contains(&y) && (4..24).contains(&x))
        });
        let s = stats(&plus);
        assert_eq!(s.endpoints, 4.0, "{s:?}");
        assert!(s.max_crossing >= 3.0 && s.branches >= 1.0, "{s:?}");
        let bar = stats(&image(|x, y| {
            (13..=15).contains(&x) && (4..24).contains(&y)
        }));
        assert_eq!((bar.endpoints, bar.branches), (2.0, 0.0), "{bar:?}");
        assert!((15.0..=21.0).contains(&bar.skeleton), "{bar:?}");
    }

    #[test]
    fn a_disc_is_thick_and_full() {
        let disc = image(|x, y| (x as f64 - 13.5).powi(2) + (y as f64 - 13.5).powi(2) < 100.0);
        let s = stats(&disc);
        assert_eq!((s.components, s.holes), (1.0, 0.0), "{s:?}");
        assert!(s.thickness >= 8.0 && s.fill > 0.7, "{s:?}");
    }

    #[test]
    fn pieces_and_a_flat_bar() {
        let two = image(|x, y| (y == 5 || y == 20) && (4..24).contains(&x));
        let s = stats(&two);
        assert_eq!(s.components, 2.0);
        assert!((s.stray_ink - 0.5).abs() < 1e-9);
        assert!((s.log_aspect - (16.0f64 / 20.0).ln()).abs() < 1e-9, "{s:?}");
        let flat = stats(&image(|x, y| {
            (13..=14).contains(&y) && (4..24).contains(&x)
        }));
        assert!(
            (flat.log_aspect - (2.0f64 / 20.0).ln()).abs() < 1e-9,
            "{flat:?}"
        );
    }
}
