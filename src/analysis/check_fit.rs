//! Fitting and measuring the digit check (native; `digit-lab digit-check` runs it):
//!
//! - the class Gaussians of the best classifier's features, on the training digits;
//! - the combination ([`DigitCheck::fit`]), on `fit_digits` training digits against non-digits
//!   generated with `fit_seed`;
//! - its threshold, on the validation digits (`quantile` of them pass);
//! - the rejection of non-digits of `dev_seed` (for choosing) and `held_out_seed` (to report),
//!   by kind, and optionally of each kind by a combination fitted without it;
//! - digits drawn with the pen from templates, and (only with `test`) the MNIST test digits.

use std::collections::BTreeMap;

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use super::digit_check::{
    DigitCheck, Feature, FeatureGaussians, Models, Needs, Scores, any_needs, features, score_all,
};
use super::non_digits;
use crate::data::{Dataset, Mnist};

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
    pub fit_digits: Vec<Scores>,
    pub valid: Vec<Scores>,
    pub fit: NonDigits,
    pub dev: NonDigits,
    pub held_out: NonDigits,
    pub drawn: Vec<Scores>,
    pub test: Option<Vec<Scores>>,
}

/// The share of one set of non-digits rejected, overall and by kind.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Rejection {
    pub rejected: f64,
    pub count: usize,
    pub rejected_by_kind: BTreeMap<String, f64>,
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
    let all = |d: &Dataset| d.pixels(&(0..d.len()).collect::<Vec<_>>());
    let n = data.train.len();
    let [hidden, conv] = features(models.classifier, &all(&data.train), device);
    let gaussians = [
        FeatureGaussians::fit(&hidden, hidden.len() / n, &data.train.labels),
        FeatureGaussians::fit(&conv, conv.len() / n, &data.train.labels),
    ];
    drop((hidden, conv));
    let score = |pixels: &[f32]| {
        score_all(
            models,
            Some(&gaussians[0]),
            Some(&gaussians[1]),
            pixels,
            device,
        )
    };
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
    Ok(Scored {
        fit_digits: score(&data.train.pixels(&fit_idx)),
        valid: score(&all(&data.validation)),
        fit: generate(settings.fit_seed)?,
        dev: generate(settings.dev_seed)?,
        held_out: generate(settings.held_out_seed)?,
        drawn: score(&drawn),
        test: settings.test.then(|| score(&all(&data.test))),
        gaussians,
    })
}

fn accepted(check: &DigitCheck, scores: &[Scores]) -> f64 {
    scores.iter().filter(|s| check.accepts(s)).count() as f64 / scores.len().max(1) as f64
}

fn rejection(check: &DigitCheck, set: &NonDigits) -> Rejection {
    let mut per_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (kind, s) in set.kinds.iter().zip(&set.scores) {
        let slot = per_kind.entry(kind.to_string()).or_default();
        slot.1 += 1;
        slot.0 += usize::from(!check.accepts(s));
    }
    Rejection {
        rejected: 1.0 - accepted(check, &set.scores),
        count: set.scores.len(),
        rejected_by_kind: per_kind
            .into_iter()
            .map(|(k, (r, n))| (k, r as f64 / n as f64))
            .collect(),
    }
}

/// Fits the check on the scored images and measures it.
pub fn evaluate(scored: &Scored, settings: &Settings) -> Report {
    let fit = |non_digits: &[Scores]| {
        DigitCheck::fit(
            &settings.features,
            &scored.fit_digits,
            non_digits,
            &scored.valid,
            settings.quantile,
            settings.l2,
            settings.quadratic,
        )
    };
    let mut check = fit(&scored.fit.scores);
    if any_needs(&settings.features, Needs::HiddenGaussians) {
        check.hidden_gaussians = Some(scored.gaussians[0].clone());
    }
    if any_needs(&settings.features, Needs::ConvGaussians) {
        check.conv_gaussians = Some(scored.gaussians[1].clone());
    }
    let mut unseen = BTreeMap::new();
    if settings.leave_one_kind_out {
        for kind in non_digits::KINDS {
            let without: Vec<Scores> = (scored.fit.scores.iter().zip(&scored.fit.kinds))
                .filter(|(_, k)| **k != kind)
                .map(|(s, _)| *s)
                .collect();
            if let Some(r) = rejection(&fit(&without), &scored.held_out)
                .rejected_by_kind
                .get(kind)
            {
                unseen.insert(kind.to_string(), *r);
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
    };
    Report { check, measured }
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
