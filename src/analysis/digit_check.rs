//! "That's not a digit": one calibrated statistic decides whether a drawing is taken for a digit.
//!
//! Each image is measured ([`Scores`]): by the paper's models — the VAE's negative ELBO at
//! z = μ, the best classifier's confidence, the Mahalanobis distance of its hidden and
//! last-convolution features to the nearest class mean (one covariance shared by the classes,
//! fitted on the training digits: Lee et al., 2018), an "other" class on the frozen classifier
//! (a linear head on those features fitted on digits and non-digits of its own, a fourth
//! seed), the ConvAE's reconstruction error — and by
//! the shape of the drawing in MNIST's format (`image_stats`: stroke thickness, pieces, holes,
//! aspect, fill), which the normalisation to a 20-pixel box does not hide (a dot becomes a
//! filled disc). A logistic regression ([`Logistic`]) on a chosen set of these features gives
//! the log-odds that the image is *not* a digit; it is fitted on training digits against one
//! generated set of non-digits (`non_digits`, its own seed), and the image is taken for a digit
//! when the log-odds are at most a threshold that lets through a set share of the validation
//! digits. A development set of non-digits (another seed) chose the features; a held-out set
//! (a third seed) and the test digits measure the result.
//!
//! The page calls [`model_outputs`] on its device, reads the tensors back, and calls
//! [`scores`] and [`DigitCheck::check`].

use burn::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(not(target_arch = "wasm32"))]
pub use super::check_fit::{
    Measured, Report, Settings, evaluate, measure, score_sets, unseen_kinds,
};

use super::image_stats::{ImageStats, stats};
use super::logistic::Logistic;
use crate::data::IMAGE_PIXELS;
use crate::model::{Autoencoder, Classifier, ConvAe, Vae};

/// Declares [`Feature`] from one table of variants and names, so that [`Feature::ALL`] and
/// [`Feature::name`] cannot leave a feature out.
macro_rules! features {
    ($($variant:ident = $name:literal,)*) => {
        /// A feature the check can combine, named in `digit_check.json` and `--features` by
        /// [`Feature::name`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum Feature {
            $($variant,)*
        }

        impl Feature {
            /// Every feature, in the order of the `--dump` table's columns.
            pub const ALL: [Feature; [$($name),*].len()] = [$(Feature::$variant),*];

            pub const fn name(self) -> &'static str {
                match self {
                    $(Feature::$variant => $name,)*
                }
            }
        }
    };
}

features! {
    LogNegElbo = "log_neg_elbo",
    ConfidenceLogit = "confidence_logit",
    Energy = "energy",
    LogFeatureNorm = "log_feature_norm",
    LogDistance = "log_distance",
    LogConvDistance = "log_conv_distance",
    LogRecon = "log_recon",
    Ink = "ink",
    Thickness = "thickness",
    MeanThickness = "mean_thickness",
    LogComponents = "log_components",
    StrayInk = "stray_ink",
    Holes = "holes",
    HoleArea = "hole_area",
    LogAspect = "log_aspect",
    Fill = "fill",
    LogSkeleton = "log_skeleton",
    Endpoints = "endpoints",
    Branches = "branches",
    MaxCrossing = "max_crossing",
    DistanceGap = "distance_gap",
    ProbeLogit = "probe_logit",
}

/// What a feature reads besides the VAE, the classifier and the drawing itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// The class Gaussians of the classifier's hidden features.
    HiddenGaussians,
    /// Those of its last convolution's features.
    ConvGaussians,
    /// The ConvAE.
    ConvAe,
    /// The "other" head on the classifier's features ([`DigitCheck::probe`]).
    Probe,
}

/// The features of the adopted check (`weights/digit_check.json`; `digit-check`'s default).
pub const ADOPTED_FEATURES: [Feature; 20] = [
    Feature::LogNegElbo,
    Feature::ConfidenceLogit,
    Feature::LogDistance,
    Feature::Energy,
    Feature::LogFeatureNorm,
    Feature::DistanceGap,
    Feature::Ink,
    Feature::Thickness,
    Feature::MeanThickness,
    Feature::LogComponents,
    Feature::StrayInk,
    Feature::Holes,
    Feature::HoleArea,
    Feature::LogAspect,
    Feature::Fill,
    Feature::LogSkeleton,
    Feature::Endpoints,
    Feature::Branches,
    Feature::MaxCrossing,
    Feature::ProbeLogit,
];

impl Feature {
    /// The feature called `name`, or an error listing the known names.
    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.map(Feature::name).to_vec();
                format!("unknown feature {name:?}; known: {}", known.join(", "))
            })
    }

    /// What the feature reads beyond the VAE, the classifier and the drawing (None: nothing).
    pub const fn needs(self) -> Option<Needs> {
        match self {
            Feature::LogDistance | Feature::DistanceGap => Some(Needs::HiddenGaussians),
            Feature::LogConvDistance => Some(Needs::ConvGaussians),
            Feature::LogRecon => Some(Needs::ConvAe),
            Feature::ProbeLogit => Some(Needs::Probe),
            _ => None,
        }
    }

    /// Its value for an image with these scores.
    pub fn value(self, scores: &Scores) -> f64 {
        let s = &scores.image;
        match self {
            Feature::LogNegElbo => scores.neg_elbo.max(1e-3).ln(),
            Feature::ConfidenceLogit => {
                let p = scores.confidence.clamp(1e-7, 1.0 - 1e-7);
                (p / (1.0 - p)).ln()
            }
            Feature::Energy => scores.energy,
            Feature::LogFeatureNorm => scores.feature_norm.max(1e-6).ln(),
            Feature::LogDistance => scores.distance.max(1e-6).ln(),
            Feature::LogConvDistance => scores.conv_distance.max(1e-6).ln(),
            Feature::LogRecon => scores.recon.max(1e-9).ln(),
            Feature::ProbeLogit => scores.probe,
            Feature::Ink => s.ink,
            Feature::Thickness => s.thickness,
            Feature::MeanThickness => s.mean_thickness,
            Feature::LogComponents => s.components.ln_1p(),
            Feature::StrayInk => s.stray_ink,
            Feature::Holes => s.holes,
            Feature::HoleArea => s.hole_area,
            Feature::LogAspect => s.log_aspect,
            Feature::Fill => s.fill,
            Feature::LogSkeleton => s.skeleton.ln_1p(),
            Feature::Endpoints => s.endpoints,
            Feature::Branches => s.branches,
            Feature::MaxCrossing => s.max_crossing,
            Feature::DistanceGap => scores.distance_gap,
        }
    }
}

impl std::fmt::Display for Feature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl From<Feature> for &'static str {
    fn from(feature: Feature) -> Self {
        feature.name()
    }
}

impl TryFrom<String> for Feature {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        Feature::from_name(&name)
    }
}

/// Whether any of `features` needs `what`.
pub fn any_needs(features: &[Feature], what: Needs) -> bool {
    features.iter().any(|f| f.needs() == Some(what))
}

/// What the check measures of one image.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Scores {
    /// The VAE's negative ELBO at z = μ (nats).
    pub neg_elbo: f64,
    /// The best classifier's top-class probability.
    pub confidence: f64,
    /// Its log-sum-exp of the class logits (the negative free energy, Liu et al., 2020).
    pub energy: f64,
    /// Euclidean norm of its hidden features.
    pub feature_norm: f64,
    /// Mahalanobis distance of its hidden features to the nearest class mean (NaN when the
    /// Gaussians were not given).
    pub distance: f64,
    /// The same for its last convolution's features.
    pub conv_distance: f64,
    /// The ConvAE's mean squared reconstruction error per pixel (NaN without the ConvAE).
    pub recon: f64,
    /// Mahalanobis distance of the hidden features to the second-nearest class mean minus
    /// that to the nearest (NaN without the Gaussians).
    pub distance_gap: f64,
    /// The log-odds of the "other" head on the classifier's hidden and last-convolution
    /// features (NaN without it).
    pub probe: f64,
    pub image: ImageStats,
}

impl Scores {
    /// The values of `features`, in order.
    pub fn features(&self, features: &[Feature]) -> Vec<f64> {
        features.iter().map(|f| f.value(self)).collect()
    }
}

/// The check as `weights/digit_check.json` stores it for the page.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DigitCheck {
    /// The features the combination reads.
    pub features: Vec<Feature>,
    /// The log-odds that an image is not a digit (quadratic in the features when
    /// `model.quadratic`).
    pub model: Logistic,
    /// An image is taken for a digit when its log-odds are at most this.
    pub threshold: f64,
    /// Share of validation digits that pass (how the threshold was set).
    pub quantile: f64,
    /// An image is refused as surely not a digit only when its log-odds are above this (between
    /// the two thresholds the page says it is not sure); absent in checks made before it: the
    /// threshold then refuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refuse_threshold: Option<f64>,
    /// Below this top-class probability the page says it is not sure which digit it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsure_below: Option<f64>,
    /// The class Gaussians of the classifier's hidden features, for `log_distance` and
    /// `distance_gap`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_gaussians: Option<FeatureGaussians>,
    /// Those of its last convolution's features, for `log_conv_distance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv_gaussians: Option<FeatureGaussians>,
    /// For `probe_logit`: an "other" class on the frozen classifier, a linear head on its
    /// hidden and last-convolution features (concatenated) giving the log-odds of not a digit,
    /// fitted on digits and non-digits of their own (not those of the combination).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Logistic>,
}

/// The check's answer for one image.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub is_digit: bool,
    /// Log-odds that the image is not a digit, minus the threshold: positive is rejected.
    pub margin: f64,
    /// The log-odds themselves.
    pub log_odds: f64,
    /// Above the refusal threshold: surely not a digit.
    pub refused: bool,
}

impl DigitCheck {
    /// The check stored in `digit_check.json` (its `check` field), verified to be usable: known
    /// features (an unknown name fails to parse), consistent sizes, the Gaussians the features
    /// need.
    pub fn parse(json: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct File {
            check: DigitCheck,
        }
        let file: File =
            serde_json::from_str(json).map_err(|e| format!("digit_check.json: {e}"))?;
        let c = file.check;
        let d = c.features.len();
        let expanded = if c.model.quadratic {
            d + d * (d + 1) / 2
        } else {
            d
        };
        if c.refuse_threshold.is_some_and(|t| !t.is_finite()) {
            return Err("digit_check.json: refuse_threshold is not a finite number".into());
        }
        if c.unsure_below.is_some_and(|p| !(0.0..1.0).contains(&p)) {
            return Err("digit_check.json: unsure_below is not a probability below 1".into());
        }
        let sizes = [c.model.centre.len(), c.model.spread.len()];
        if sizes != [d, d] || c.model.weights.len() != expanded || c.model.bound.len() != expanded {
            return Err("digit_check.json: the model's sizes do not match its features".into());
        }
        for (needed, g, what) in [
            (
                any_needs(&c.features, Needs::HiddenGaussians),
                &c.hidden_gaussians,
                "hidden_gaussians",
            ),
            (
                any_needs(&c.features, Needs::ConvGaussians),
                &c.conv_gaussians,
                "conv_gaussians",
            ),
        ] {
            match g {
                None if needed => return Err(format!("digit_check.json: no {what}")),
                Some(g)
                    if g.centres.len() != 10 * g.dim
                        || g.whiten.len() != g.dim * (g.dim + 1) / 2 =>
                {
                    return Err(format!("digit_check.json: {what} of the wrong size"));
                }
                _ => {}
            }
        }
        match &c.probe {
            None if any_needs(&c.features, Needs::Probe) => {
                return Err("digit_check.json: no probe".into());
            }
            Some(p)
                if p.quadratic
                    || p.spread.len() != p.centre.len()
                    || p.weights.len() != p.centre.len()
                    || p.bound.len() != p.centre.len() =>
            {
                return Err("digit_check.json: the probe's sizes do not match".into());
            }
            _ => {}
        }
        Ok(c)
    }

    /// What the check reads of the classifier's features.
    pub fn readers(&self) -> FeatureReaders<'_> {
        FeatureReaders {
            hidden: self.hidden_gaussians.as_ref(),
            conv: self.conv_gaussians.as_ref(),
            probe: self.probe.as_ref(),
        }
    }

    /// Whether the check reads the ConvAE (`log_recon`): without it the page need not run it.
    pub fn needs_conv_ae(&self) -> bool {
        any_needs(&self.features, Needs::ConvAe)
    }

    /// The verdicts on the images `pixels` (784 values each) from their model outputs.
    pub fn check_images(&self, outputs: &Outputs, pixels: &[f32]) -> Vec<Verdict> {
        scores(outputs, pixels, &self.readers())
            .iter()
            .map(|s| self.check(s))
            .collect()
    }

    /// The verdicts on the images `pixels` (784 values each, in [0, 1], as
    /// `data::canvas::to_mnist_format` makes them): the models run on `device`, the rest on the
    /// host. The one call the page needs (with the models it has: `ae` only if
    /// [`DigitCheck::needs_conv_ae`]).
    pub async fn verdicts(
        &self,
        models: &Models<'_>,
        pixels: &[f32],
        device: &Device,
    ) -> Result<Vec<Verdict>, String> {
        if pixels.is_empty() || !pixels.len().is_multiple_of(IMAGE_PIXELS) {
            return Err(format!(
                "images: expected a positive multiple of {IMAGE_PIXELS} values, got {}",
                pixels.len()
            ));
        }
        if self.needs_conv_ae() && models.ae.is_none() {
            return Err("the digit check needs the ConvAE".into());
        }
        let images = crate::data::mnist::images_tensor(pixels.to_vec(), device);
        let outputs = model_outputs(models, images).read_async().await?;
        Ok(self.check_images(&outputs, pixels))
    }

    /// The log-odds that an image with these scores is not a digit.
    pub fn log_odds(&self, score: &Scores) -> f64 {
        self.model.score(&score.features(&self.features))
    }

    /// Whether an image with these scores is taken for a digit, and by how much.
    pub fn check(&self, score: &Scores) -> Verdict {
        let log_odds = self.log_odds(score);
        let margin = log_odds - self.threshold;
        Verdict {
            is_digit: margin <= 0.0,
            margin,
            log_odds,
            refused: log_odds > self.refuse_threshold(),
        }
    }

    pub fn accepts(&self, score: &Scores) -> bool {
        self.check(score).is_digit
    }

    /// The log-odds above which an image is refused (the threshold where none was set).
    pub fn refuse_threshold(&self) -> f64 {
        self.refuse_threshold
            .unwrap_or(self.threshold)
            .max(self.threshold)
    }

    /// Whether an image with these scores is refused as surely not a digit.
    pub fn refuses(&self, score: &Scores) -> bool {
        self.check(score).refused
    }

    /// Fits the combination of `features` on `digits` against `non_digits` and sets the
    /// threshold at the `quantile` of the log-odds of the `valid` digits.
    pub fn fit(
        features: &[Feature],
        digits: &[Scores],
        non_digits: &[Scores],
        valid: &[Scores],
        quantile: f64,
        l2: f64,
        quadratic: bool,
    ) -> Self {
        let rows = |s: &[Scores]| -> Vec<Vec<f64>> {
            s.iter()
                .map(|s| s.features(features))
                .filter(|r| r.iter().all(|v| v.is_finite()))
                .collect()
        };
        let model = Logistic::fit(&rows(non_digits), &rows(digits), l2, quadratic);
        let mut check = Self {
            features: features.to_vec(),
            model,
            threshold: 0.0,
            quantile,
            refuse_threshold: None,
            unsure_below: None,
            hidden_gaussians: None,
            conv_gaussians: None,
            probe: None,
        };
        let odds: Vec<f64> = valid.iter().map(|s| check.log_odds(s)).collect();
        check.threshold = quantile_of(&odds, quantile);
        check
    }
}

/// The `q` quantile of the finite values (nearest rank, rounding the position).
pub fn quantile_of(values: &[f64], q: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Class means and one shared covariance of the classifier's features, stored whitened: with
/// the covariance `Σ = L·Lᵀ` (shrunk towards its diagonal mean so that it is invertible: ReLU
/// features have dead units), `whiten = L⁻¹` (lower triangular, packed row by row) and
/// `centres = L⁻¹·μ_c`, the Mahalanobis distance to class c is `|L⁻¹·f − centres_c|`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FeatureGaussians {
    pub dim: usize,
    /// `[10 · dim]`, class after class.
    #[serde(with = "super::packed")]
    pub centres: Vec<f32>,
    /// `[dim · (dim + 1) / 2]`, rows of `L⁻¹` up to the diagonal.
    #[serde(with = "super::packed")]
    pub whiten: Vec<f32>,
}

impl FeatureGaussians {
    /// Fits the class means and the shared covariance of `features` (`dim` values per item).
    pub fn fit(features: &[f32], dim: usize, labels: &[u8]) -> Self {
        use nalgebra::{DMatrix, DVector};
        let n = labels.len();
        let mut means = vec![0f64; 10 * dim];
        let mut counts = [0usize; 10];
        for (row, &l) in features.chunks_exact(dim).zip(labels) {
            counts[l as usize] += 1;
            for (m, &v) in means[l as usize * dim..][..dim].iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        for (class, count) in counts.iter().enumerate() {
            for m in &mut means[class * dim..][..dim] {
                *m /= (*count).max(1) as f64;
            }
        }
        let mut cov = DMatrix::<f64>::zeros(dim, dim);
        for (row, &l) in features.chunks_exact(dim).zip(labels) {
            let centred = DVector::from_iterator(
                dim,
                row.iter()
                    .zip(&means[l as usize * dim..][..dim])
                    .map(|(v, m)| f64::from(*v) - m),
            );
            cov.ger(1.0, &centred, &centred, 1.0);
        }
        cov /= n.max(1) as f64;
        let shrink = 1e-2 * cov.trace() / dim as f64 + 1e-9;
        for i in 0..dim {
            cov[(i, i)] += shrink;
        }
        let l = cov
            .cholesky()
            .expect("a shrunk covariance is positive definite")
            .unpack();
        let inverse = l
            .solve_lower_triangular(&DMatrix::identity(dim, dim))
            .expect("a Cholesky factor is invertible");
        let whiten: Vec<f32> = (0..dim)
            .flat_map(|i| (0..=i).map(move |j| (i, j)))
            .map(|(i, j)| inverse[(i, j)] as f32)
            .collect();
        let mut g = Self {
            dim,
            centres: Vec::new(),
            whiten,
        };
        let means: Vec<f32> = means.iter().map(|&m| m as f32).collect();
        g.centres = means
            .chunks_exact(dim)
            .flat_map(|m| g.whitened(m))
            .collect();
        g
    }

    /// `L⁻¹ · feature`.
    fn whitened(&self, feature: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.dim);
        let mut start = 0;
        for i in 0..self.dim {
            let row = &self.whiten[start..start + i + 1];
            start += i + 1;
            let dot: f64 = row
                .iter()
                .zip(feature)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            out.push(dot as f32);
        }
        out
    }

    /// The Mahalanobis distance of `feature` to the nearest class mean.
    pub fn distance(&self, feature: &[f32]) -> f64 {
        self.distances(feature)
            .into_iter()
            .fold(f64::INFINITY, f64::min)
    }

    /// The Mahalanobis distances of `feature` to the nearest and the second-nearest class mean.
    pub fn nearest_two(&self, feature: &[f32]) -> (f64, f64) {
        let mut d = self.distances(feature);
        d.sort_by(f64::total_cmp);
        (d[0], d[1])
    }

    fn distances(&self, feature: &[f32]) -> Vec<f64> {
        assert_eq!(feature.len(), self.dim, "feature size");
        let y = self.whitened(feature);
        self.centres
            .chunks_exact(self.dim)
            .map(|c| {
                y.iter()
                    .zip(c)
                    .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .collect()
    }
}

/// The models the check reads.
pub struct Models<'a> {
    pub vae: &'a Vae,
    pub classifier: &'a Classifier,
    /// Only for the `log_recon` feature.
    pub ae: Option<&'a ConvAe>,
}

/// What the models compute for a batch, on their device.
pub struct ModelOutputs {
    /// `[n]`
    pub neg_elbo: Tensor<1>,
    /// `[n]`, the top-class probability.
    pub confidence: Tensor<1>,
    /// `[n]`, the log-sum-exp of the class logits.
    pub energy: Tensor<1>,
    /// `[n, fc]`, the classifier's hidden features.
    pub hidden: Tensor<2>,
    /// `[n, c3·9]`, its last convolution's features.
    pub conv: Tensor<2>,
    /// `[n]`, the ConvAE's mean squared error per pixel (without the ConvAE: none).
    pub recon: Option<Tensor<1>>,
}

/// The model outputs of a batch of images (`[n, 1, 28, 28]`, pixels in [0, 1]).
pub fn model_outputs(models: &Models, images: Tensor<4>) -> ModelOutputs {
    let [n, ..] = images.dims();
    let neg_elbo = models.vae.neg_elbo_at_mean(images.clone());
    let logits = models.classifier.forward(images.clone());
    let top = logits.clone().max_dim(1);
    let energy = top.clone() + (logits - top.clone()).exp().sum_dim(1).log();
    let confidence = (top - energy.clone()).exp().reshape([n]);
    let energy = energy.reshape([n]);
    let hidden = models.classifier.encoder.features(images.clone());
    let conv = models.classifier.encoder.conv_features(images.clone());
    let recon = models.ae.map(|ae| {
        (ae.reconstruct(images.clone()) - images)
            .powi_scalar(2)
            .flatten::<2>(1, 3)
            .mean_dim(1)
            .reshape([n])
    });
    ModelOutputs {
        neg_elbo,
        confidence,
        energy,
        hidden,
        conv,
        recon,
    }
}

/// [`ModelOutputs`] read back to the host (the page reads them with `into_data_async`).
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    pub neg_elbo: Vec<f32>,
    pub confidence: Vec<f32>,
    pub energy: Vec<f32>,
    pub hidden: Vec<f32>,
    pub conv: Vec<f32>,
    /// Empty without the ConvAE.
    pub recon: Vec<f32>,
}

impl ModelOutputs {
    /// Reads the tensors back without blocking (the page: WebGPU reads are asynchronous).
    pub async fn read_async(self) -> Result<Outputs, String> {
        async fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, String> {
            t.into_data_async()
                .await
                .map_err(|e| format!("reading a result: {e:?}"))?
                .try_into_vec::<f32>()
                .map_err(|e| format!("reading a result: {e:?}"))
        }
        Ok(Outputs {
            neg_elbo: read(self.neg_elbo).await?,
            confidence: read(self.confidence).await?,
            energy: read(self.energy).await?,
            hidden: read(self.hidden).await?,
            conv: read(self.conv).await?,
            recon: match self.recon {
                Some(r) => read(r).await?,
                None => Vec::new(),
            },
        })
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl ModelOutputs {
    /// Reads the tensors back (native: synchronously).
    pub fn read(self) -> Outputs {
        let v1 = |t: Tensor<1>| t.into_data().iter::<f32>().collect();
        let v2 = |t: Tensor<2>| t.into_data().iter::<f32>().collect();
        Outputs {
            neg_elbo: v1(self.neg_elbo),
            confidence: v1(self.confidence),
            energy: v1(self.energy),
            hidden: v2(self.hidden),
            conv: v2(self.conv),
            recon: self.recon.map(v1).unwrap_or_default(),
        }
    }
}

/// What reads the classifier's features into scores: the class Gaussians of its hidden and
/// last-convolution features and the "other" head (each NaN in the scores where absent).
#[derive(Clone, Copy, Default)]
pub struct FeatureReaders<'a> {
    pub hidden: Option<&'a FeatureGaussians>,
    pub conv: Option<&'a FeatureGaussians>,
    pub probe: Option<&'a Logistic>,
}

/// The scores of the images `pixels` (784 values each) from their model outputs.
pub fn scores(outputs: &Outputs, pixels: &[f32], readers: &FeatureReaders) -> Vec<Scores> {
    let FeatureReaders {
        hidden: hidden_gaussians,
        conv,
        probe,
    } = *readers;
    let n = pixels.len() / IMAGE_PIXELS;
    assert_eq!(outputs.neg_elbo.len(), n, "one output per image");
    let (hd, cd) = (
        outputs.hidden.len() / n.max(1),
        outputs.conv.len() / n.max(1),
    );
    (0..n)
        .map(|i| {
            let hidden = &outputs.hidden[i * hd..][..hd];
            let (distance, distance_gap) = hidden_gaussians.map_or((f64::NAN, f64::NAN), |h| {
                let (first, second) = h.nearest_two(hidden);
                (first, second - first)
            });
            let conv_features = &outputs.conv[i * cd..][..cd];
            let conv_distance = conv.map_or(f64::NAN, |c| c.distance(conv_features));
            let probe = probe.map_or(f64::NAN, |p| p.score(&probe_input(hidden, conv_features)));
            Scores {
                neg_elbo: f64::from(outputs.neg_elbo[i]),
                confidence: f64::from(outputs.confidence[i]),
                energy: f64::from(outputs.energy[i]),
                feature_norm: hidden
                    .iter()
                    .map(|v| f64::from(*v).powi(2))
                    .sum::<f64>()
                    .sqrt(),
                distance,
                distance_gap,
                conv_distance,
                recon: outputs.recon.get(i).map_or(f64::NAN, |&r| f64::from(r)),
                probe,
                image: stats(&pixels[i * IMAGE_PIXELS..][..IMAGE_PIXELS]),
            }
        })
        .collect()
}

/// The input of the "other" head: an image's hidden features, then its last convolution's.
pub fn probe_input(hidden: &[f32], conv: &[f32]) -> Vec<f64> {
    hidden.iter().chain(conv).map(|&v| f64::from(v)).collect()
}

/// The scores of every image of `pixels`, in batches (native).
#[cfg(not(target_arch = "wasm32"))]
pub fn score_all(
    models: &Models,
    readers: &FeatureReaders,
    pixels: &[f32],
    device: &Device,
) -> Vec<Scores> {
    use crate::data::mnist::{INFERENCE_BATCH, images_tensor};
    pixels
        .chunks(INFERENCE_BATCH * IMAGE_PIXELS)
        .flat_map(|chunk| {
            let outputs = model_outputs(models, images_tensor(chunk.to_vec(), device)).read();
            scores(&outputs, chunk, readers)
        })
        .collect()
}

/// The classifier's hidden and last-convolution features of every image of `pixels` (native).
#[cfg(not(target_arch = "wasm32"))]
pub fn features(classifier: &Classifier, pixels: &[f32], device: &Device) -> [Vec<f32>; 2] {
    use crate::data::mnist::{INFERENCE_BATCH, images_tensor};
    let (mut hidden, mut conv) = (Vec::new(), Vec::new());
    for chunk in pixels.chunks(INFERENCE_BATCH * IMAGE_PIXELS) {
        let x = images_tensor(chunk.to_vec(), device);
        hidden.extend(
            classifier
                .encoder
                .features(x.clone())
                .into_data()
                .iter::<f32>(),
        );
        conv.extend(
            classifier
                .encoder
                .conv_features(x)
                .into_data()
                .iter::<f32>(),
        );
    }
    [hidden, conv]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_the_validation_quantile() {
        let values: Vec<f64> = (0..=100).map(f64::from).collect();
        assert_eq!(quantile_of(&values, 0.9), 90.0);
        assert_eq!(quantile_of(&values, 0.995), 100.0);
        assert_eq!(quantile_of(&[f64::NAN, 2.0, 1.0], 0.0), 1.0);
        // Digits are thin, non-digits thick: the check lets `quantile` of the valid ones through.
        let score = |thickness: f64| Scores {
            image: ImageStats {
                thickness,
                ..Default::default()
            },
            ..Default::default()
        };
        let digits: Vec<Scores> = (0..200)
            .map(|i| score(1.0 + f64::from(i % 20) * 0.05))
            .collect();
        let others: Vec<Scores> = (0..200)
            .map(|i| score(4.0 + f64::from(i % 20) * 0.2))
            .collect();
        let valid: Vec<Scores> = (0..=100)
            .map(|i| score(1.0 + f64::from(i) * 0.01))
            .collect();
        let check = DigitCheck::fit(
            &[Feature::Thickness],
            &digits,
            &others,
            &valid,
            0.9,
            1e-3,
            false,
        );
        let passed = valid.iter().filter(|s| check.accepts(s)).count();
        assert_eq!(passed, 91);
        assert!(!check.accepts(&score(4.0)));
        assert!(check.check(&score(1.0)).margin < 0.0);
    }

    #[test]
    fn every_feature_has_one_name_that_reads_back() {
        let names: std::collections::BTreeSet<&str> = Feature::ALL.map(Feature::name).into();
        assert_eq!(names.len(), Feature::ALL.len(), "a name used twice");
        for feature in Feature::ALL {
            assert_eq!(Feature::from_name(feature.name()), Ok(feature));
            let json = serde_json::to_string(&feature).unwrap();
            assert_eq!(json, format!("\"{}\"", feature.name()));
            assert_eq!(serde_json::from_str::<Feature>(&json).unwrap(), feature);
        }
        let e = Feature::from_name("log_neg_elbow").unwrap_err();
        assert!(
            e.contains("\"log_neg_elbow\"") && e.contains("log_neg_elbo,"),
            "{e}"
        );
        assert!(serde_json::from_str::<Feature>("\"thicknes\"").is_err());
    }

    #[test]
    fn the_adopted_features_are_those_of_the_committed_check() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/weights/digit_check.json");
        let check = DigitCheck::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(check.features, ADOPTED_FEATURES);
    }

    #[test]
    fn a_check_that_reads_the_other_head_needs_one_of_the_right_size() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/weights/digit_check.json");
        let mut file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let check = file["check"].as_object_mut().unwrap();
        // One feature swapped for `probe_logit`: the combination's sizes still fit.
        *check["features"]
            .as_array_mut()
            .unwrap()
            .last_mut()
            .unwrap() = Feature::ProbeLogit.name().into();
        check.remove("probe");
        let e = DigitCheck::parse(&file.to_string()).unwrap_err();
        assert_eq!(e, "digit_check.json: no probe");
        let probe = Logistic::fit(
            &[vec![1.0, 0.0], vec![2.0, 1.0]],
            &[vec![0.0, 1.0], vec![-1.0, 0.0]],
            1e-2,
            false,
        );
        assert!(probe.score(&[2.0, 0.0]) > probe.score(&[-1.0, 1.0]));
        let mut short = serde_json::to_value(&probe).unwrap();
        short["weights"].as_array_mut().unwrap().pop();
        file["check"]["probe"] = short;
        let e = DigitCheck::parse(&file.to_string()).unwrap_err();
        assert_eq!(e, "digit_check.json: the probe's sizes do not match");
        // Its log-odds are the feature's value.
        let scores = scores(
            &Outputs {
                neg_elbo: vec![100.0],
                confidence: vec![0.9],
                energy: vec![3.0],
                hidden: vec![2.0],
                conv: vec![0.0],
                recon: Vec::new(),
            },
            &[0.0; IMAGE_PIXELS],
            &FeatureReaders {
                probe: Some(&probe),
                ..Default::default()
            },
        );
        assert_eq!(
            Feature::ProbeLogit.value(&scores[0]),
            probe.score(&[2.0, 0.0])
        );
    }

    #[test]
    fn the_distance_is_to_the_nearest_class() {
        // Two features, class k centred at (k, 0), unit spread along both axes.
        let mut features = Vec::new();
        let mut labels = Vec::new();
        for k in 0..10u8 {
            for (dx, dy) in [(-1.0, -1.0), (1.0, 1.0), (-1.0, 1.0), (1.0, -1.0)] {
                features.extend([f32::from(k) * 10.0 + dx, dy]);
                labels.push(k);
            }
        }
        let g = FeatureGaussians::fit(&features, 2, &labels);
        assert!(g.distance(&[30.0, 0.0]) < 1e-3);
        let far = g.distance(&[35.0, 0.0]);
        assert!((far - 5.0 / 1.005f64.sqrt()).abs() < 0.05, "{far}");
        let (first, second) = g.nearest_two(&[32.0, 0.0]);
        assert!((first - 2.0 / 1.005f64.sqrt()).abs() < 0.05, "{first}");
        assert!((second - 8.0 / 1.005f64.sqrt()).abs() < 0.05, "{second}");
        // Stored whitened and packed, it reads back the same.
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(serde_json::from_str::<FeatureGaussians>(&json).unwrap(), g);
    }
}
