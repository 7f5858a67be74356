//! Training-time augmentation for the robust classifier: people draw digits tilted, off-centre,
//! larger or smaller and with thinner or thicker strokes than MNIST's. Each image gets a random
//! affine warp (rotation, scale, shear, shift) and, sometimes, a stroke-width change; or, with
//! `redraw_probability`, it is traced to pen paths and drawn again through the page's pad
//! (`redraw`: its pens, sizes, centring and scaling, with slant, wobble and gaps), sometimes
//! after being made as coarse as other people's sets hold their digits (`coarse_redraw`).

use rand::Rng;

use super::idx::{IMAGE_PIXELS, IMAGE_SIDE};
use super::redraw::{HandRanges, redraw, redraw_paths};
use super::strokes::{Path, digit_paths};
use super::{optdigits, pendigits};

/// Side of the pad the augmentation draws on (the page's 280 halved: the same drawing, cheaper).
const REDRAW_SIDE: usize = 140;

/// Ranges of the random transformations.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AugmentConfig {
    /// Largest rotation, in degrees, either way.
    pub max_rotation_deg: f32,
    /// Scale factor drawn from [1 - s, 1 + s].
    pub max_scale: f32,
    /// Largest shear factor, either way.
    pub max_shear: f32,
    /// Largest shift in pixels along each axis.
    pub max_shift: f32,
    /// Probability of thickening, and separately of thinning, the strokes.
    pub stroke_probability: f32,
    /// Probability of drawing the digit again through the pad instead of warping it (0 in runs
    /// recorded before it existed).
    #[serde(default)]
    pub redraw_probability: f32,
    /// Probability that a one is replaced by a single straight stroke drawn through the pad: a
    /// one as a mouse drag makes it, which MNIST's pens rarely do (0 in runs recorded before it
    /// existed).
    #[serde(default)]
    pub straight_one_probability: f32,
    /// Probability that a one not made a straight stroke is replaced by a one with a flag at
    /// its top (flag and bar in one stroke, as many people write it; MNIST's writers rarely
    /// do), drawn through the pad (0 in runs recorded before it existed).
    #[serde(default)]
    pub flagged_one_probability: f32,
    /// Probability that a digit drawn again through the pad is first made coarse: its 8×8
    /// counts (optdigits' format) or its strokes at pendigits' eight points (without the
    /// pen-up moves), so that the classifier learns digits that lost their detail before
    /// reaching the pad (0 in runs recorded before it existed).
    #[serde(default)]
    pub coarse_probability: f32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            max_rotation_deg: 15.0,
            max_scale: 0.15,
            max_shear: 0.2,
            max_shift: 2.5,
            stroke_probability: 0.2,
            redraw_probability: 0.0,
            straight_one_probability: 0.0,
            flagged_one_probability: 0.0,
            coarse_probability: 0.0,
        }
    }
}

impl AugmentConfig {
    /// No transformation at all (for tests: what goes in comes out).
    #[cfg(test)]
    pub fn identity() -> Self {
        Self {
            max_rotation_deg: 0.0,
            max_scale: 0.0,
            max_shear: 0.0,
            max_shift: 0.0,
            stroke_probability: 0.0,
            redraw_probability: 0.0,
            straight_one_probability: 0.0,
            flagged_one_probability: 0.0,
            coarse_probability: 0.0,
        }
    }

    /// The default warps, and the digit drawn again through the pad with probability `p`.
    pub fn with_redraw(p: f32) -> Self {
        Self {
            redraw_probability: p,
            ..Self::default()
        }
    }
}

fn symmetric(rng: &mut impl Rng, max: f32) -> f32 {
    if max > 0.0 {
        rng.random_range(-max..=max)
    } else {
        0.0
    }
}

fn pixel(image: &[f32], x: isize, y: isize) -> f32 {
    let side = IMAGE_SIDE as isize;
    if (0..side).contains(&x) && (0..side).contains(&y) {
        image[(y * side + x) as usize]
    } else {
        0.0
    }
}

/// Bilinear sample at a fractional position; outside the image is background (0).
fn sample(image: &[f32], x: f32, y: f32) -> f32 {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as isize, y0 as isize);
    let top = pixel(image, x0, y0) * (1.0 - fx) + pixel(image, x0 + 1, y0) * fx;
    let bottom = pixel(image, x0, y0 + 1) * (1.0 - fx) + pixel(image, x0 + 1, y0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Grey-level dilation (`thicken`) or erosion with a 3×3 cross.
fn morph(image: &[f32], thicken: bool) -> Vec<f32> {
    let side = IMAGE_SIDE as isize;
    let mut out = vec![0.0; IMAGE_PIXELS];
    for y in 0..side {
        for x in 0..side {
            let around = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]
                .map(|(dx, dy)| pixel(image, x + dx, y + dy));
            let v = if thicken {
                around.iter().copied().fold(0.0, f32::max)
            } else {
                around.iter().copied().fold(1.0, f32::min)
            };
            out[(y * side + x) as usize] = v;
        }
    }
    out
}

/// Applies an affine map (matrix `m` about the image centre, then shift `t`) by inverse
/// mapping each output pixel.
fn warp(image: &[f32], m: [[f32; 2]; 2], t: [f32; 2]) -> Vec<f32> {
    let c = (IMAGE_SIDE as f32 - 1.0) / 2.0;
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    let inv = [
        [m[1][1] / det, -m[0][1] / det],
        [-m[1][0] / det, m[0][0] / det],
    ];
    let mut out = vec![0.0; IMAGE_PIXELS];
    for y in 0..IMAGE_SIDE {
        for x in 0..IMAGE_SIDE {
            let (dx, dy) = (x as f32 - c - t[0], y as f32 - c - t[1]);
            let sx = inv[0][0] * dx + inv[0][1] * dy + c;
            let sy = inv[1][0] * dx + inv[1][1] * dy + c;
            out[y * IMAGE_SIDE + x] = sample(image, sx, sy);
        }
    }
    out
}

/// A one as a single straight stroke (a bar traced and drawn again by a random hand of the
/// augmentation: any pen, size, slant, tilt and wobble).
pub fn straight_one(rng: &mut impl Rng) -> Option<Vec<f32>> {
    let mut bar = vec![0f32; IMAGE_PIXELS];
    for y in 4..24 {
        bar[y * IMAGE_SIDE + 13] = 1.0;
        bar[y * IMAGE_SIDE + 14] = 1.0;
    }
    redraw(&bar, &HandRanges::augmentation(), REDRAW_SIDE, rng)
}

/// A one with a flag: one stroke from the flag's end up to the top of the bar and down it. The
/// flag is 15-40 % of the bar's height and falls 20-70° below the horizontal, to the left: a
/// seven's bar is longer, flatter and its long stroke is not upright. Drawn by a random hand of
/// the augmentation.
pub fn flagged_one(rng: &mut impl Rng) -> Option<Vec<f32>> {
    let (top, bottom, x) = (4.0, 24.0, 14.0);
    let length = rng.random_range(0.15f32..0.4) * (bottom - top);
    let angle = rng.random_range(20f32..70.0).to_radians();
    let flag = [x - length * angle.cos(), top + length * angle.sin()];
    let path = vec![flag, [x, top], [x, bottom]];
    redraw_paths(&[path], &HandRanges::augmentation(), REDRAW_SIDE, rng)
}

/// [`augment`] for an image of digit `label`: a one may become a straight stroke or a one with
/// a flag.
pub fn augment_labelled(
    image: &[f32],
    label: u8,
    config: &AugmentConfig,
    rng: &mut impl Rng,
) -> Vec<f32> {
    if label == 1
        && config.straight_one_probability > 0.0
        && rng.random::<f32>() < config.straight_one_probability
        && let Some(drawn) = straight_one(rng)
    {
        return drawn;
    }
    if label == 1
        && config.flagged_one_probability > 0.0
        && rng.random::<f32>() < config.flagged_one_probability
        && let Some(drawn) = flagged_one(rng)
    {
        return drawn;
    }
    augment(image, config, rng)
}

/// A digit made coarse, then drawn through the pad by a random hand of the augmentation: with
/// even odds, its 8×8 counts smoothed back and traced, or its traced strokes at pendigits'
/// resolution (eight points in all; never its pen-up moves, which no one draws on the pad;
/// None when nothing is left to draw).
pub fn coarse_redraw(image: &[f32], rng: &mut impl Rng) -> Option<Vec<f32>> {
    let paths = coarse_paths(image, rng)?;
    redraw_paths(&paths, &HandRanges::augmentation(), REDRAW_SIDE, rng)
}

/// The pen paths of a digit made coarse: with even odds, its 8×8 counts smoothed back and
/// traced, or its traced strokes at eight points in all (None when the counts hold no ink).
pub fn coarse_paths(image: &[f32], rng: &mut impl Rng) -> Option<Vec<Path>> {
    Some(if rng.random_bool(0.5) {
        let blurred = optdigits::cells_image(&optdigits::capture(image))?;
        digit_paths(&blurred)
    } else {
        pendigits::coarse_strokes(&digit_paths(image))
    })
}

/// One randomly transformed copy of a 28×28 image with pixels in [0, 1].
pub fn augment(image: &[f32], config: &AugmentConfig, rng: &mut impl Rng) -> Vec<f32> {
    if config.redraw_probability > 0.0 && rng.random::<f32>() < config.redraw_probability {
        let coarse =
            config.coarse_probability > 0.0 && rng.random::<f32>() < config.coarse_probability;
        let drawn = if coarse {
            coarse_redraw(image, rng)
        } else {
            redraw(image, &HandRanges::augmentation(), REDRAW_SIDE, rng)
        };
        if let Some(drawn) = drawn {
            return drawn;
        }
    }
    let angle = symmetric(rng, config.max_rotation_deg).to_radians();
    let scale = 1.0 + symmetric(rng, config.max_scale);
    let shear = symmetric(rng, config.max_shear);
    let (s, c) = angle.sin_cos();
    // Rotation · shear · scale.
    let m = [
        [scale * c, scale * (c * shear - s)],
        [scale * s, scale * (s * shear + c)],
    ];
    let t = [
        symmetric(rng, config.max_shift),
        symmetric(rng, config.max_shift),
    ];
    let mut out = warp(image, m, t);
    let roll: f32 = rng.random();
    if roll < config.stroke_probability {
        out = morph(&out, true);
    } else if roll < 2.0 * config.stroke_probability {
        let thinned = morph(&out, false);
        // Thin strokes would vanish: keep the erosion only where most of the ink survives.
        if thinned.iter().sum::<f32>() > 0.5 * out.iter().sum::<f32>() {
            out = thinned;
        }
    }
    out
}

/// Augments each image of `pixels` (images of 784 pixels in [0, 1], concatenated) in place.
pub fn augment_images(pixels: &mut [f32], config: &AugmentConfig, rng: &mut impl Rng) {
    for image in pixels.chunks_exact_mut(IMAGE_PIXELS) {
        let out = augment(image, config, rng);
        image.copy_from_slice(&out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    fn square() -> Vec<f32> {
        let mut img = vec![0.0; IMAGE_PIXELS];
        for y in 10..18 {
            for x in 10..18 {
                img[y * IMAGE_SIDE + x] = 1.0;
            }
        }
        img
    }

    #[test]
    fn identity_transform_changes_nothing() {
        let none = AugmentConfig::identity();
        let img = square();
        assert_eq!(augment(&img, &none, &mut StdRng::seed_from_u64(0)), img);
        // A one may become a straight stroke; no other digit does.
        let ones = AugmentConfig {
            straight_one_probability: 1.0,
            ..none
        };
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(augment_labelled(&img, 7, &ones, &mut rng), img);
        let one = augment_labelled(&img, 1, &ones, &mut rng);
        assert_ne!(one, img);
        let ink = |y: usize| {
            (0..IMAGE_SIDE)
                .filter(|x| one[y * IMAGE_SIDE + x] > 0.3)
                .count()
        };
        // Tall and narrow: ink on most rows, a few pixels wide on each.
        let rows = (0..IMAGE_SIDE).filter(|&y| ink(y) > 0).count();
        assert!(rows >= 18 && (0..IMAGE_SIDE).all(|y| ink(y) <= 6), "{rows}");
    }

    #[test]
    fn a_flagged_one_has_its_flag_on_the_upper_left() {
        let none = AugmentConfig::identity();
        let flagged = AugmentConfig {
            flagged_one_probability: 1.0,
            ..none
        };
        let img = square();
        let mut rng = StdRng::seed_from_u64(5);
        assert_eq!(augment_labelled(&img, 7, &flagged, &mut rng), img);
        let (mut upper_left, mut lower_left) = (0.0, 0.0);
        for _ in 0..20 {
            let one = augment_labelled(&img, 1, &flagged, &mut rng);
            assert!(one.iter().all(|p| (0.0..=1.0 + 1e-6).contains(p)));
            // Ink left of the centre of mass, in the top and bottom thirds: the flag's side.
            let (mass, cx) = one.iter().enumerate().fold((0.0, 0.0), |(m, c), (i, v)| {
                (m + v, c + v * (i % IMAGE_SIDE) as f32)
            });
            let cx = cx / mass;
            for (i, v) in one.iter().enumerate() {
                if ((i % IMAGE_SIDE) as f32) < cx - 2.0 {
                    match i / IMAGE_SIDE {
                        0..10 => upper_left += v,
                        18.. => lower_left += v,
                        _ => {}
                    }
                }
            }
        }
        assert!(upper_left > 3.0 * lower_left, "{upper_left} {lower_left}");
    }

    #[test]
    fn shift_moves_the_ink() {
        let out = warp(&square(), [[1.0, 0.0], [0.0, 1.0]], [2.0, 0.0]);
        assert_eq!(out[12 * IMAGE_SIDE + 10], 0.0);
        assert_eq!(out[12 * IMAGE_SIDE + 19], 1.0);
    }

    #[test]
    fn augmented_images_stay_valid_and_keep_most_ink() {
        let img = square();
        let ink: f32 = img.iter().sum();
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..50 {
            let out = augment(&img, &AugmentConfig::default(), &mut rng);
            assert!(out.iter().all(|p| (0.0..=1.0 + 1e-6).contains(p)));
            let got: f32 = out.iter().sum();
            assert!(got > 0.4 * ink && got < 2.5 * ink, "ink {got} vs {ink}");
        }
    }

    #[test]
    fn a_redrawn_digit_keeps_its_place_and_size_rule() {
        // A one (a filled square's skeleton is a point or a short line, whatever its ink level).
        let mut img = vec![0.0; IMAGE_PIXELS];
        for y in 4..24 {
            for x in 12..15 {
                img[y * IMAGE_SIDE + x] = 1.0;
            }
        }
        let mut rng = StdRng::seed_from_u64(4);
        let out = augment(&img, &AugmentConfig::with_redraw(1.0), &mut rng);
        assert_ne!(out, img);
        assert!(out.iter().all(|p| (0.0..=1.0 + 1e-6).contains(p)));
        // The pad's rule: the ink's box is 20 pixels on its longer side.
        let rows = (0..IMAGE_SIDE)
            .filter(|y| {
                out[y * IMAGE_SIDE..(y + 1) * IMAGE_SIDE]
                    .iter()
                    .any(|v| *v > 0.1)
            })
            .count();
        assert!((19..=21).contains(&rows), "{rows}");
        // Old records without the field read as no redrawing.
        let old = r#"{"max_rotation_deg":15.0,"max_scale":0.15,"max_shear":0.2,"max_shift":2.5,"stroke_probability":0.2}"#;
        let config: AugmentConfig = serde_json::from_str(old).unwrap();
        assert_eq!(config.redraw_probability, 0.0);
    }

    #[test]
    fn a_coarse_redrawn_digit_keeps_its_shape() {
        // An L: its ink stays low and left, in both coarse formats.
        let mut img = vec![0.0; IMAGE_PIXELS];
        for y in 4..24 {
            for x in 7..10 {
                img[y * IMAGE_SIDE + x] = 1.0;
            }
        }
        for y in 21..24 {
            for x in 7..21 {
                img[y * IMAGE_SIDE + x] = 1.0;
            }
        }
        let coarse = AugmentConfig {
            coarse_probability: 1.0,
            ..AugmentConfig::with_redraw(1.0)
        };
        let mut rng = StdRng::seed_from_u64(6);
        for _ in 0..20 {
            let out = augment(&img, &coarse, &mut rng);
            assert!(out.iter().all(|p| (0.0..=1.0 + 1e-6).contains(p)));
            let ink = |ys: std::ops::Range<usize>, xs: std::ops::Range<usize>| -> f32 {
                ys.flat_map(|y| xs.clone().map(move |x| (y, x)))
                    .map(|(y, x)| out[y * IMAGE_SIDE + x])
                    .sum()
            };
            let (upper_right, lower_left) = (ink(0..12, 16..28), ink(16..28, 0..12));
            assert!(lower_left > 4.0 * upper_right, "{lower_left} {upper_right}");
        }
    }

    #[test]
    fn thickening_adds_ink() {
        let img = square();
        assert!(morph(&img, true).iter().sum::<f32>() > img.iter().sum::<f32>());
        assert!(morph(&img, false).iter().sum::<f32>() < img.iter().sum::<f32>());
    }
}
