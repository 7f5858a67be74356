//! Fitting and measuring the digit check (native; `digit-lab digit-check` runs it):
//!
//! - the class Gaussians of the best classifier's features, on the training digits;
//! - the combination ([`DigitCheck::fit`]), on `fit_digits` training digits against non-digits
//!   generated with `fit_seed`;
//! - its threshold, on the validation digits (`quantile` of them pass);
//! - the rejection of non-digits of `dev_seed` (for choosing) and `held_out_seed` (to report),
//!   by kind, and optionally of each kind by a combination fitted without it;
//! - digits drawn with the pen from templates, and (only with `test`) the MNIST test digits;
//! - handwriting not from MNIST's files (`handwriting`): training digits traced and drawn again
//!   through the pad join the fit's digits; validation digits drawn so (from the first `traced`,
//!   pens 10 and 20) set the thresholds with the validation digits, those from the 5,001st on
//!   measure them (held out), and the font digits are measured only (a source never seen).

use std::collections::BTreeMap;

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use super::digit_check::{
    DigitCheck, Feature, FeatureGaussians, FeatureReaders, Models, Needs, Scores, any_needs,
    features, probe_input, score_all,
};
use super::glyphs::available_fonts;
use super::handwriting::{DigitSet, drawn, font_digits, mnist_strokes};
use super::logistic::Logistic;
use super::non_digits;
use crate::data::augment::coarse_paths;
use crate::data::redraw::HandRanges;
use crate::data::strokes::digit_paths;
use crate::data::{Dataset, Mnist};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// The first validation digit of the held-out traced digits (the dev ones start at 0).
const HELD_OUT_FROM: usize = 5000;

/// How the check is fitted and measured.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    pub features: Vec<Feature>,
    pub quantile: f64,
    pub l2: f64,
    pub quadratic: bool,
    pub fit_digits: usize,
    pub non_digits: usize,
    pub fit_seed: u64,
    pub dev_seed: u64,
    pub held_out_seed: u64,
    pub drawn: usize,
    pub leave_one_kind_out: bool,
    /// Measure the test digits (for the adopted setting, once).
    pub test: bool,
    /// Traced digits redrawn through the pad in the fit, in the dev and in the held-out set.
    #[serde(default)]
    pub traced: usize,
    /// Share of the dev digits (validation and traced) that are not refused as surely not a
    /// digit (0: the threshold refuses).
    #[serde(default)]
    pub refuse_quantile: f64,
    /// Font digits measured per font.
    #[serde(default)]
    pub font_digits: usize,
    /// Top-class probability below which the page is not sure which digit (recorded for it).
    #[serde(default)]
    pub unsure_below: Option<f64>,
    /// Seed of the non-digits the "other" head (`probe_logit`) is fitted on.
    #[serde(default = "default_probe_seed")]
    pub probe_seed: u64,
    /// L2 penalty of that head (standardised features).
    #[serde(default = "default_probe_l2")]
    pub probe_l2: f64,
    /// Non-digits that head is fitted on (0: `non_digits`).
    #[serde(default)]
    pub probe_non_digits: usize,
    /// Share of the traced training digits (of the fit and of the "other" head) made coarse
    /// before they are drawn, as other people's sets hold their digits.
    #[serde(default)]
    pub coarse_traced: f32,
}

const fn default_probe_seed() -> u64 {
    4
}

const fn default_probe_l2() -> f64 {
    1e-3
}

/// Generated non-digits, scored, and their kinds.
pub struct NonDigits {
    pub scores: Vec<Scores>,
    pub kinds: Vec<&'static str>,
}

/// Every image the check is fitted and measured on, scored.
pub struct Scored {
    /// Of the hidden and the last convolution's features.
    pub gaussians: [FeatureGaussians; 2],
    /// The "other" head, where the features read it.
    pub probe: Option<Logistic>,
    pub fit_digits: Vec<Scores>,
    pub valid: Vec<Scores>,
    pub fit: NonDigits,
    pub dev: NonDigits,
    pub held_out: NonDigits,
    pub drawn: Vec<Scores>,
    pub test: Option<Vec<Scores>>,
    /// Traced training digits (fit), validation digits from 0 (dev) and from 5,000 (held out).
    pub traced_fit: Vec<Scores>,
    pub traced_dev: Vec<Scores>,
    pub traced_held_out: Vec<Scores>,
    /// Font digits by font.
    pub fonts: Vec<(String, Vec<Scores>)>,
}

/// The share of one set of non-digits rejected, overall and by kind.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Rejection {
    pub rejected: f64,
    pub count: usize,
    pub rejected_by_kind: BTreeMap<String, f64>,
    /// Refused as surely not a digit (the rest of `rejected`: not sure).
    #[serde(default)]
    pub refused: f64,
    #[serde(default)]
    pub refused_by_kind: BTreeMap<String, f64>,
    /// Taken for a digit with the top class at [`CONFIDENT`] or above: read as a digit, sure.
    #[serde(default)]
    pub confident_digit: f64,
    #[serde(default)]
    pub confident_digit_by_kind: BTreeMap<String, f64>,
}

/// The top-class probability at which a non-digit taken for a digit counts as read with
/// confidence (the bar: none at 90 % or more).
pub const CONFIDENT: f64 = 0.9;

/// Digits of one source: the share taken for digits and the share refused.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Passing {
    pub count: usize,
    pub accepted: f64,
    pub refused: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Measured {
    /// The command that gave these figures (the CLI fills it in).
    #[serde(default)]
    pub command: String,
    pub settings: Settings,
    pub validation_digits_accepted: f64,
    pub fitting_digits_accepted: f64,
    pub drawn_digits_accepted: f64,
    pub test_digits_accepted: Option<f64>,
    /// `fit`, `dev`, `held_out`.
    pub non_digits: BTreeMap<String, Rejection>,
    /// Held-out rejection of each kind by a combination fitted without that kind.
    pub held_out_rejected_when_fitted_without_the_kind: BTreeMap<String, f64>,
    /// Handwriting not from MNIST's files: `traced_dev` (set the thresholds), `traced_held_out`,
    /// `font` (all fonts) and `font <name>`.
    #[serde(default)]
    pub handwriting: BTreeMap<String, Passing>,
}

/// `weights/digit_check.json`: the check and what it does.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub check: DigitCheck,
    pub measured: Measured,
}

/// Scores every image the settings name (an error when the non-digits cannot be drawn).
pub fn score_sets(
    models: &Models,
    data: &Mnist,
    settings: &Settings,
    device: &Device,
) -> Result<Scored, String> {
    let gaussians = class_gaussians(models, data, device);
    score_sets_with_probe_without(models, data, settings, device, None, gaussians)
}

/// The class Gaussians of the classifier's hidden and last-convolution features.
fn class_gaussians(models: &Models, data: &Mnist, device: &Device) -> [FeatureGaussians; 2] {
    let n = data.train.len();
    let pixels = data.train.pixels(&(0..n).collect::<Vec<_>>());
    let [hidden, conv] = features(models.classifier, &pixels, device);
    [
        FeatureGaussians::fit(&hidden, hidden.len() / n, &data.train.labels),
        FeatureGaussians::fit(&conv, conv.len() / n, &data.train.labels),
    ]
}

/// [`score_sets`], with the "other" head fitted without the non-digits of kind `without`.
fn score_sets_with_probe_without(
    models: &Models,
    data: &Mnist,
    settings: &Settings,
    device: &Device,
    without: Option<&str>,
    gaussians: [FeatureGaussians; 2],
) -> Result<Scored, String> {
    let all = |d: &Dataset| d.pixels(&(0..d.len()).collect::<Vec<_>>());
    let n = data.train.len();
    let probe = any_needs(&settings.features, Needs::Probe)
        .then(|| fit_probe(models, data, settings, device, without))
        .transpose()?;
    let readers = FeatureReaders {
        hidden: Some(&gaussians[0]),
        conv: Some(&gaussians[1]),
        probe: probe.as_ref(),
    };
    let score = |pixels: &[f32]| score_all(models, &readers, pixels, device);
    // Every `step`-th training digit (spread over the classes and the file).
    let step = (n / settings.fit_digits.clamp(1, n)).max(1);
    let fit_idx: Vec<usize> = (0..n).step_by(step).take(settings.fit_digits).collect();
    let generate = |seed| -> Result<NonDigits, String> {
        let (pixels, kinds) = non_digits::generate(settings.non_digits, seed)?;
        Ok(NonDigits {
            scores: score(&pixels),
            kinds,
        })
    };
    let (drawn, _) = non_digits::drawn_digits(settings.drawn, settings.dev_seed);
    let traced = traced_sets(data, settings);
    let fonts = if settings.font_digits > 0 {
        font_digits(
            &available_fonts()?,
            settings.font_digits,
            settings.held_out_seed,
        )
    } else {
        Vec::new()
    };
    Ok(Scored {
        traced_fit: score(&traced[0].pixels),
        traced_dev: score(&traced[1].pixels),
        traced_held_out: score(&traced[2].pixels),
        fonts: fonts
            .iter()
            .map(|f| (f.variant.clone(), score(&f.pixels)))
            .collect(),
        fit_digits: score(&data.train.pixels(&fit_idx)),
        valid: score(&all(&data.validation)),
        fit: generate(settings.fit_seed)?,
        dev: generate(settings.dev_seed)?,
        held_out: generate(settings.held_out_seed)?,
        drawn: score(&drawn),
        test: settings.test.then(|| score(&all(&data.test))),
        gaussians,
        probe,
    })
}

/// The "other" head: a logistic regression on the classifier's hidden and last-convolution
/// features of digits and non-digits that neither the combination's fit nor any measured set
/// has: training digits off the fit's grid (shifted by half its step and one), as many traced
/// training digits off the fit's traced grid (shifted by a quarter of its step), and
/// non-digits of `probe_seed` (but those of kind `without`).
fn fit_probe(
    models: &Models,
    data: &Mnist,
    settings: &Settings,
    device: &Device,
    without: Option<&str>,
) -> Result<Logistic, String> {
    let n = data.train.len();
    let step = (n / settings.fit_digits.clamp(1, n)).max(1);
    let plain: Vec<usize> = (step.min(n - 1) / 2 + 1..n)
        .step_by(step)
        .take(settings.fit_digits)
        .collect();
    let traced_step = (n / settings.traced.clamp(1, n)).max(1);
    let traced: Vec<usize> = (traced_step / 4..n)
        .step_by(traced_step)
        .take(settings.traced)
        .collect();
    let mut digits = data.train.pixels(&plain);
    digits.extend(
        traced_training(
            &data.train,
            &traced,
            settings.probe_seed,
            settings.coarse_traced,
        )
        .pixels,
    );
    let (mut others, kinds) = non_digits::generate(
        match settings.probe_non_digits {
            0 => settings.non_digits,
            n => n,
        },
        settings.probe_seed,
    )?;
    if let Some(without) = without {
        others = others
            .chunks_exact(crate::data::IMAGE_PIXELS)
            .zip(&kinds)
            .filter(|(_, k)| **k != without)
            .flat_map(|(image, _)| image.iter().copied())
            .collect();
    }
    let rows = |pixels: &[f32]| -> Vec<Vec<f64>> {
        let [hidden, conv] = features(models.classifier, pixels, device);
        let count = pixels.len() / crate::data::IMAGE_PIXELS;
        let (hd, cd) = (hidden.len() / count, conv.len() / count);
        (0..count)
            .map(|i| probe_input(&hidden[i * hd..][..hd], &conv[i * cd..][..cd]))
            .collect()
    };
    Ok(Logistic::fit(
        &rows(&others),
        &rows(&digits),
        settings.probe_l2,
        false,
    ))
}

/// A hand with any pen of the page's slider (the traced training digits of the fits).
fn any_pen() -> HandRanges {
    HandRanges {
        pen: (10.0, 34.0),
        ..HandRanges::person(20.0)
    }
}

/// Training digits traced and drawn with any pen of the slider, a share `coarse` of them made
/// coarse first (`augment::coarse_paths`; those draws have a generator of their own, so a share
/// of 0 draws what `handwriting::redrawn` draws).
fn traced_training(train: &Dataset, indices: &[usize], seed: u64, coarse: f32) -> DigitSet {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xC0A75E);
    let paths = indices.iter().map(|&i| {
        let image = train.pixels(&[i]);
        let made_coarse = coarse > 0.0 && rng.random::<f32>() < coarse;
        let paths = match made_coarse {
            true => coarse_paths(&image, &mut rng).unwrap_or_default(),
            false => digit_paths(&image),
        };
        (paths, train.labels[i])
    });
    drawn(paths, &any_pen(), "any pen".into(), seed)
}

/// The traced digits: of the training digits (any pen of the slider), and of the validation
/// digits from 0 (dev) and from [`HELD_OUT_FROM`] (held out), half with pen 10, half with 20.
fn traced_sets(data: &Mnist, settings: &Settings) -> [DigitSet; 3] {
    let n = settings.traced;
    let step = (data.train.len() / n.clamp(1, data.train.len())).max(1);
    // Not the digits the fit already has as MNIST draws them.
    let train: Vec<usize> = (step / 2..data.train.len()).step_by(step).take(n).collect();
    let fit = traced_training(
        &data.train,
        &train,
        settings.fit_seed,
        settings.coarse_traced,
    );
    let valid = &data.validation;
    let both_pens = |from: usize, seed: u64| {
        let half = (n / 2).min(valid.len().saturating_sub(from) / 2);
        let mut a = mnist_strokes(valid, &(from..from + half).collect::<Vec<_>>(), 10.0, seed);
        let b = mnist_strokes(
            valid,
            &(from + half..from + 2 * half).collect::<Vec<_>>(),
            20.0,
            seed,
        );
        a.pixels.extend(b.pixels);
        a.labels.extend(b.labels);
        a
    };
    let from = HELD_OUT_FROM.min(valid.len() / 2);
    [
        fit,
        both_pens(0, settings.dev_seed),
        both_pens(from, settings.held_out_seed),
    ]
}

fn refused(check: &DigitCheck, scores: &[Scores]) -> f64 {
    scores.iter().filter(|s| check.refuses(s)).count() as f64 / scores.len().max(1) as f64
}

fn passing(check: &DigitCheck, scores: &[Scores]) -> Passing {
    Passing {
        count: scores.len(),
        accepted: accepted(check, scores),
        refused: refused(check, scores),
    }
}

fn accepted(check: &DigitCheck, scores: &[Scores]) -> f64 {
    scores.iter().filter(|s| check.accepts(s)).count() as f64 / scores.len().max(1) as f64
}

fn rejection(check: &DigitCheck, set: &NonDigits) -> Rejection {
    // Per kind: rejected, refused, taken for a digit with confidence, count.
    let mut per_kind: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    for (kind, s) in set.kinds.iter().zip(&set.scores) {
        let slot = per_kind.entry(kind.to_string()).or_default();
        slot[3] += 1;
        slot[0] += usize::from(!check.accepts(s));
        slot[1] += usize::from(check.refuses(s));
        slot[2] += usize::from(confidently_read(check, s));
    }
    let share = |i: usize| -> BTreeMap<String, f64> {
        per_kind
            .iter()
            .map(|(k, c)| (k.clone(), c[i] as f64 / c[3] as f64))
            .collect()
    };
    let confident = set
        .scores
        .iter()
        .filter(|s| confidently_read(check, s))
        .count();
    Rejection {
        rejected: 1.0 - accepted(check, &set.scores),
        count: set.scores.len(),
        rejected_by_kind: share(0),
        refused: refused(check, &set.scores),
        refused_by_kind: share(1),
        confident_digit: confident as f64 / set.scores.len().max(1) as f64,
        confident_digit_by_kind: share(2),
    }
}

/// Taken for a digit, its top class at [`CONFIDENT`] or above.
pub fn confidently_read(check: &DigitCheck, score: &Scores) -> bool {
    check.accepts(score) && score.confidence >= CONFIDENT
}

/// Fits the check on the scored images and measures it.
pub fn evaluate(scored: &Scored, settings: &Settings) -> Report {
    let digits = [scored.fit_digits.as_slice(), &scored.traced_fit].concat();
    let fit = |non_digits: &[Scores]| {
        let mut check = DigitCheck::fit(
            &settings.features,
            &digits,
            non_digits,
            &scored.valid,
            settings.quantile,
            settings.l2,
            settings.quadratic,
        );
        set_thresholds(&mut check, scored, settings);
        check
    };
    let mut check = fit(&scored.fit.scores);
    if any_needs(&settings.features, Needs::HiddenGaussians) {
        check.hidden_gaussians = Some(scored.gaussians[0].clone());
    }
    if any_needs(&settings.features, Needs::ConvGaussians) {
        check.conv_gaussians = Some(scored.gaussians[1].clone());
    }
    if any_needs(&settings.features, Needs::Probe) {
        check.probe = scored.probe.clone();
    }
    let mut unseen = BTreeMap::new();
    // With the "other" head, each kind is left out of its fit too: `unseen_kinds` does that.
    if settings.leave_one_kind_out && !any_needs(&settings.features, Needs::Probe) {
        for kind in non_digits::KINDS {
            if let Some(r) = rejected_when_fitted_without(scored, settings, kind) {
                unseen.insert(kind.to_string(), r);
            }
        }
    }
    let measured = Measured {
        command: String::new(),
        settings: settings.clone(),
        validation_digits_accepted: accepted(&check, &scored.valid),
        fitting_digits_accepted: accepted(&check, &scored.fit_digits),
        drawn_digits_accepted: accepted(&check, &scored.drawn),
        test_digits_accepted: scored.test.as_ref().map(|t| accepted(&check, t)),
        non_digits: [
            ("fit", &scored.fit),
            ("dev", &scored.dev),
            ("held_out", &scored.held_out),
        ]
        .into_iter()
        .map(|(name, set)| (name.to_string(), rejection(&check, set)))
        .collect(),
        held_out_rejected_when_fitted_without_the_kind: unseen,
        handwriting: handwriting_passing(&check, scored),
    };
    Report { check, measured }
}

/// The share of the held-out non-digits of `kind` rejected by the combination fitted without
/// that kind (None where the held-out set has none).
fn rejected_when_fitted_without(scored: &Scored, settings: &Settings, kind: &str) -> Option<f64> {
    let digits = [scored.fit_digits.as_slice(), &scored.traced_fit].concat();
    let without: Vec<Scores> = (scored.fit.scores.iter().zip(&scored.fit.kinds))
        .filter(|(_, k)| **k != kind)
        .map(|(s, _)| *s)
        .collect();
    let mut check = DigitCheck::fit(
        &settings.features,
        &digits,
        &without,
        &scored.valid,
        settings.quantile,
        settings.l2,
        settings.quadratic,
    );
    set_thresholds(&mut check, scored, settings);
    rejection(&check, &scored.held_out)
        .rejected_by_kind
        .get(kind)
        .copied()
}

/// With the "other" head: for each kind, the held-out rejection of that kind by a check whose
/// head and combination were both fitted without it (every set scored again: minutes a kind).
pub fn unseen_kinds(
    models: &Models,
    data: &Mnist,
    settings: &Settings,
    device: &Device,
) -> Result<BTreeMap<String, f64>, String> {
    let gaussians = class_gaussians(models, data, device);
    // Only the sets the figure reads.
    let settings = Settings {
        test: false,
        drawn: 0,
        font_digits: 0,
        ..settings.clone()
    };
    let mut unseen = BTreeMap::new();
    for kind in non_digits::KINDS {
        let scored = score_sets_with_probe_without(
            models,
            data,
            &settings,
            device,
            Some(kind),
            gaussians.clone(),
        )?;
        if let Some(r) = rejected_when_fitted_without(&scored, &settings, kind) {
            eprintln!("left out of the fit: {kind} {:.1} % rejected", 100.0 * r);
            unseen.insert(kind.to_string(), r);
        }
    }
    Ok(unseen)
}

/// The acceptance threshold lets `quantile` of both the validation digits and the dev traced
/// digits through (the stricter of the two); the refusal threshold refuses at most
/// 1 − `refuse_quantile` of either.
fn set_thresholds(check: &mut DigitCheck, scored: &Scored, settings: &Settings) {
    let odds = |s: &[Scores]| -> Vec<f64> { s.iter().map(|s| check.log_odds(s)).collect() };
    let (valid, traced) = (odds(&scored.valid), odds(&scored.traced_dev));
    let at = |q: f64| {
        let t = super::digit_check::quantile_of(&traced, q);
        let v = super::digit_check::quantile_of(&valid, q);
        if t.is_finite() { v.max(t) } else { v }
    };
    check.threshold = at(settings.quantile);
    check.refuse_threshold =
        (settings.refuse_quantile > 0.0).then(|| at(settings.refuse_quantile).max(check.threshold));
    check.unsure_below = settings.unsure_below;
}

/// What the check does with each source of handwriting not from MNIST's files.
fn handwriting_passing(check: &DigitCheck, scored: &Scored) -> BTreeMap<String, Passing> {
    let mut out = BTreeMap::new();
    out.insert("traced_dev".into(), passing(check, &scored.traced_dev));
    out.insert(
        "traced_held_out".into(),
        passing(check, &scored.traced_held_out),
    );
    if !scored.fonts.is_empty() {
        let all: Vec<Scores> = scored
            .fonts
            .iter()
            .flat_map(|(_, s)| s.iter().copied())
            .collect();
        out.insert("font".into(), passing(check, &all));
        for (name, s) in &scored.fonts {
            out.insert(format!("font {name}"), passing(check, s));
        }
    }
    out
}

/// [`score_sets`], then [`evaluate`].
pub fn measure(
    models: &Models,
    data: &Mnist,
    settings: &Settings,
    device: &Device,
) -> Result<Report, String> {
    Ok(evaluate(
        &score_sets(models, data, settings, device)?,
        settings,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::handwriting::redrawn;
    use crate::data::IMAGE_PIXELS;

    /// Rings (labelled 0) and bars (labelled 1), a few pixels apart from each other.
    fn rings_and_bars() -> Dataset {
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        for k in 0..6u8 {
            let mut image = vec![0u8; IMAGE_PIXELS];
            for y in 0..28i32 {
                for x in 0..28i32 {
                    let (dx, dy) = (x - 14 - i32::from(k % 3), y - 14);
                    let ink = if k % 2 == 0 {
                        (dx * dx + dy * dy - 64).abs() < 18
                    } else {
                        dx.abs() < 2 && dy.abs() < 9
                    };
                    image[(y * 28 + x) as usize] = if ink { 255 } else { 0 };
                }
            }
            images.extend(image);
            labels.push(k % 2);
        }
        Dataset { images, labels }
    }

    #[test]
    fn coarse_traced_digits_are_drawn_coarse_and_none_without_a_share() {
        let data = rings_and_bars();
        let all: Vec<usize> = (0..data.labels.len()).collect();
        let plain = traced_training(&data, &all, 7, 0.0);
        let before = redrawn(&data, &all, &any_pen(), "any pen".into(), 7);
        assert_eq!(plain.pixels, before.pixels, "a share of 0 draws as before");
        let coarse = traced_training(&data, &all, 7, 1.0);
        assert_eq!(coarse.labels, plain.labels);
        // A ring at eight points or from 8×8 counts is drawn differently (a bar hardly is).
        let rings = coarse.labels.iter().enumerate().filter(|(_, l)| **l == 0);
        for (i, _) in rings {
            let (a, b) = (
                &coarse.pixels[i * IMAGE_PIXELS..][..IMAGE_PIXELS],
                &plain.pixels[i * IMAGE_PIXELS..][..IMAGE_PIXELS],
            );
            let diff: f32 = a.iter().zip(b).map(|(a, b)| (a - b).abs()).sum();
            assert!(diff > 5.0, "ring {i} drawn coarse: {diff}");
        }
    }
}
