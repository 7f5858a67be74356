//! Handwriting that is not MNIST as the models were trained on it, for validation only (native;
//! `digit-lab handwriting`):
//!
//! - `mnist_strokes`: MNIST *validation* digits traced to pen paths (`data::strokes`) and drawn
//!   again through the page's pad (`data::redraw`) by a person with a given pen: other sizes,
//!   places, slants, speeds and stroke shapes than the data set's;
//! - `font`: digits of the machine's fonts (`glyphs`), several families and weights, slanted.
//!
//! Nothing here is trained on; every figure is reported per source and pen (or font).

use burn::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use super::digit_check::{DigitCheck, Models, Verdict, model_outputs};
use super::glyphs::{NamedFont, Placement, draw_char};
use crate::data::canvas::to_mnist_format;
use crate::data::mnist::{INFERENCE_BATCH, images_tensor};
use crate::data::pad::{PAD_SIDE, Stroke, to_mnist};
use crate::data::redraw::{HandRanges, pad_strokes};
use crate::data::strokes::{Path, digit_paths};
use crate::data::{Dataset, IMAGE_PIXELS};
use crate::model::Classifier;

/// One set of digits: where they come from, their images and labels, and (for the traced
/// ones) the pen strokes that drew them on the pad.
pub struct DigitSet {
    /// `mnist_strokes`, `font`, `hand_font` and `hand_font_held_out` (handwriting fonts),
    /// `optdigits` and `optdigits_strokes` (`data::optdigits`), `pendigits`
    /// (`data::pendigits`), or their formats made of validation digits (`mnist_8x8`,
    /// `mnist_8x8_strokes`, `mnist_8_points`).
    pub source: &'static str,
    /// The pen (`pen 10`) or the font's name.
    pub variant: String,
    pub pixels: Vec<f32>,
    pub labels: Vec<u8>,
    pub strokes: Vec<Vec<Stroke>>,
}

/// The page tests' own non-digits (tests/e2e/page.test.js): a dot, a dash and a zigzag, as pen
/// paths on the pad (280×280), each a single stroke.
pub const PAGE_TEST_SHAPES: [(&str, &[[f32; 2]]); 3] = [
    ("dot", &[[140.0, 140.0], [141.0, 141.0]]),
    ("dash", &[[70.0, 140.0], [210.0, 143.0]]),
    (
        "zigzag",
        &[
            [50.0, 90.0],
            [230.0, 100.0],
            [50.0, 130.0],
            [230.0, 150.0],
            [50.0, 180.0],
            [230.0, 200.0],
        ],
    ),
];

/// The validation digits at `indices` drawn again on the pad with a pen of width `pen`.
pub fn mnist_strokes(valid: &Dataset, indices: &[usize], pen: f32, seed: u64) -> DigitSet {
    let seed = seed ^ (u64::from(pen.to_bits()) << 20);
    redrawn(
        valid,
        indices,
        &HandRanges::person(pen),
        format!("pen {pen}"),
        seed,
    )
}

/// The digits of `data` at `indices` drawn again on the pad by hands of `ranges`.
pub fn redrawn(
    data: &Dataset,
    indices: &[usize],
    ranges: &HandRanges,
    variant: String,
    seed: u64,
) -> DigitSet {
    let traced = indices
        .iter()
        .map(|&i| (digit_paths(&data.pixels(&[i])), data.labels[i]));
    drawn(traced, ranges, variant, seed)
}

/// Pen paths (with their labels) drawn on the pad by hands of `ranges`; digits without paths
/// are left out.
pub fn drawn(
    digits: impl Iterator<Item = (Vec<Path>, u8)>,
    ranges: &HandRanges,
    variant: String,
    seed: u64,
) -> DigitSet {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut set = DigitSet {
        source: "mnist_strokes",
        variant,
        pixels: Vec::new(),
        labels: Vec::new(),
        strokes: Vec::new(),
    };
    for (paths, label) in digits {
        if paths.is_empty() {
            continue;
        }
        let hand = ranges.draw(&mut rng);
        let strokes = pad_strokes(&paths, &hand, &mut rng);
        if let Some(image) = to_mnist(&strokes, PAD_SIDE) {
            set.pixels.extend(image);
            set.labels.push(label);
            set.strokes.push(strokes);
        }
    }
    set
}

/// All the digits of `sets` as one set.
pub fn merged(sets: Vec<DigitSet>, source: &'static str, variant: String) -> DigitSet {
    let mut all = DigitSet {
        source,
        variant,
        pixels: Vec::new(),
        labels: Vec::new(),
        strokes: Vec::new(),
    };
    for set in sets {
        all.pixels.extend(set.pixels);
        all.labels.extend(set.labels);
        all.strokes.extend(set.strokes);
    }
    all
}

/// `per_font` digits (0-9 in turn) of each font, at random sizes, places and slants on the pad.
pub fn font_digits(fonts: &[NamedFont], per_font: usize, seed: u64) -> Vec<DigitSet> {
    let mut rng = StdRng::seed_from_u64(seed);
    fonts
        .iter()
        .map(|f| {
            let mut set = DigitSet {
                source: "font",
                variant: f.name.clone(),
                pixels: Vec::with_capacity(per_font * IMAGE_PIXELS),
                labels: Vec::with_capacity(per_font),
                strokes: Vec::new(),
            };
            for k in 0..per_font {
                let label = (k % 10) as u8;
                let mut canvas = vec![0f32; PAD_SIDE * PAD_SIDE];
                let height = rng.random_range(112.0f32..238.0);
                let free = (PAD_SIDE as f32 - height) / 2.0 - 10.0;
                let at = Placement {
                    height,
                    centre: [
                        140.0 + rng.random_range(-0.5..0.5) * free,
                        140.0 + rng.random_range(-1.0..1.0) * free.max(0.0),
                    ],
                    slant: rng.random_range(-0.15..0.3),
                };
                let ch = char::from(b'0' + label);
                if draw_char(&mut canvas, PAD_SIDE, &f.font, ch, at)
                    && let Some(image) = to_mnist_format(&canvas, PAD_SIDE, PAD_SIDE)
                {
                    set.pixels.extend(image);
                    set.labels.push(label);
                }
            }
            set
        })
        .collect()
}

/// What the models make of one set (written by `handwriting --record`, read by the report).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetFigures {
    pub source: String,
    pub variant: String,
    pub count: usize,
    /// Share read correctly by the best classifier.
    pub best_accuracy: f64,
    /// By the paper's classifier.
    pub paper_accuracy: f64,
    /// Share the digit check takes for digits.
    pub check_accepted: f64,
    /// Share it refuses as surely not digits.
    pub check_refused: f64,
    /// The best classifier per label (labels the set has; none in records made before it).
    #[serde(default)]
    pub by_label: Vec<LabelFigures>,
}

/// What the best classifier makes of one label's digits in a set.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LabelFigures {
    pub label: u8,
    pub count: usize,
    /// Share read correctly.
    pub read: f64,
    /// The class most often read instead (None when none is misread).
    pub misread_as: Option<u8>,
}

/// Per label: how many, the share read as `label`, and the commonest wrong reading.
fn by_label(read: &[u8], labels: &[u8]) -> Vec<LabelFigures> {
    let mut counts = [[0usize; 10]; 10];
    for (&r, &l) in read.iter().zip(labels) {
        counts[usize::from(l)][usize::from(r)] += 1;
    }
    (0..10u8)
        .filter_map(|label| {
            let row = &counts[usize::from(label)];
            let count: usize = row.iter().sum();
            let wrong = (0..10u8)
                .filter(|&c| c != label && row[usize::from(c)] > 0)
                .max_by_key(|&c| (row[usize::from(c)], std::cmp::Reverse(c)));
            (count > 0).then(|| LabelFigures {
                label,
                count,
                read: row[usize::from(label)] as f64 / count as f64,
                misread_as: wrong,
            })
        })
        .collect()
}

/// The predicted classes of `pixels` (784 values each).
pub fn predictions(classifier: &Classifier, pixels: &[f32], device: &Device) -> Vec<u8> {
    pixels
        .chunks(INFERENCE_BATCH * IMAGE_PIXELS)
        .flat_map(|chunk| {
            let logits = classifier.forward(images_tensor(chunk.to_vec(), device));
            let classes: Vec<u8> = logits
                .argmax(1)
                .into_data()
                .iter::<i64>()
                .map(|p| p as u8)
                .collect();
            classes
        })
        .collect()
}

/// Whether the check takes each image of `pixels` for a digit.
pub fn accepted(check: &DigitCheck, models: &Models, pixels: &[f32], device: &Device) -> Vec<bool> {
    verdicts(check, models, pixels, device)
        .iter()
        .map(|v| v.is_digit)
        .collect()
}

/// The check's verdicts on `pixels`.
pub fn verdicts(
    check: &DigitCheck,
    models: &Models,
    pixels: &[f32],
    device: &Device,
) -> Vec<Verdict> {
    pixels
        .chunks(INFERENCE_BATCH * IMAGE_PIXELS)
        .flat_map(|chunk| {
            let outputs = model_outputs(models, images_tensor(chunk.to_vec(), device)).read();
            check.check_images(&outputs, chunk)
        })
        .collect()
}

/// What the page answers for one drawing: its best guess and that guess's probability (best
/// classifier), and the check's verdict.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Answer {
    pub best: u8,
    pub probability: f64,
    pub is_digit: bool,
    pub refused: bool,
    /// `digit`, `unsure` or `not-digit`, by the page's rule (`www/js/verdict.js`).
    pub state: &'static str,
}

/// The page's answers for the images `pixels`.
pub fn answers(
    check: &DigitCheck,
    models: &Models,
    pixels: &[f32],
    device: &Device,
) -> Vec<Answer> {
    let classes = predictions(models.classifier, pixels, device);
    pixels
        .chunks(INFERENCE_BATCH * IMAGE_PIXELS)
        .flat_map(|chunk| {
            let outputs = model_outputs(models, images_tensor(chunk.to_vec(), device)).read();
            let verdicts = check.check_images(&outputs, chunk);
            outputs
                .confidence
                .into_iter()
                .zip(verdicts)
                .collect::<Vec<_>>()
        })
        .zip(classes)
        .map(|((p, v), best)| {
            let p = f64::from(p);
            let unsure = check.unsure_below.is_some_and(|u| p < u);
            let state = if v.refused {
                "not-digit"
            } else if !v.is_digit || unsure {
                "unsure"
            } else {
                "digit"
            };
            Answer {
                best,
                probability: p,
                is_digit: v.is_digit,
                refused: v.refused,
                state,
            }
        })
        .collect()
}

/// The best and the paper's classifier's accuracy and the check's acceptance on `set`.
pub fn measure(
    models: &Models,
    paper: &Classifier,
    check: &DigitCheck,
    set: &DigitSet,
    device: &Device,
) -> SetFigures {
    let share = |hits: usize| hits as f64 / set.labels.len().max(1) as f64;
    let correct = |p: &[u8]| share(p.iter().zip(&set.labels).filter(|(p, l)| p == l).count());
    let best = predictions(models.classifier, &set.pixels, device);
    let verdicts = verdicts(check, models, &set.pixels, device);
    SetFigures {
        source: set.source.to_string(),
        variant: set.variant.clone(),
        count: set.labels.len(),
        best_accuracy: correct(&best),
        paper_accuracy: correct(&predictions(paper, &set.pixels, device)),
        check_accepted: share(verdicts.iter().filter(|v| v.is_digit).count()),
        check_refused: share(verdicts.iter().filter(|v| v.refused).count()),
        by_label: by_label(&best, &set.labels),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::glyphs::available_fonts;

    #[test]
    fn labels_are_counted_with_their_commonest_misreading() {
        let figures = by_label(&[1, 7, 7, 1, 3, 0], &[1, 1, 1, 1, 3, 3]);
        assert_eq!(figures.len(), 2);
        assert_eq!((figures[0].label, figures[0].count), (1, 4));
        assert_eq!((figures[0].read, figures[0].misread_as), (0.5, Some(7)));
        // A tie goes to the lower class.
        assert_eq!((figures[1].read, figures[1].misread_as), (0.5, Some(0)));
        assert_eq!(by_label(&[2], &[2])[0].misread_as, None);
    }

    #[test]
    fn every_font_gives_every_digit() {
        let fonts = available_fonts().unwrap();
        let sets = font_digits(&fonts[..1], 20, 1);
        assert_eq!(sets[0].labels.len(), 20);
        assert_eq!(sets[0].pixels.len(), 20 * IMAGE_PIXELS);
        assert_eq!(sets[0].labels[..10], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
}
