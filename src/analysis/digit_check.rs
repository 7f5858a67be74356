//! "That's not a digit": a drawing is taken for a digit only if
//! - the VAE finds it likely (its negative ELBO at z = μ is no higher than that of nearly all
//!   validation digits),
//! - the best classifier's hidden features lie near those of a digit class (the Mahalanobis
//!   distance to the nearest class mean, with one covariance shared by the classes, fitted on
//!   the training digits: Lee et al., 2018), and
//! - the best classifier is confident about it.
//!
//! Every threshold is set on the validation split, to let through a given share of its digits;
//! the test digits and generated non-digits (`non_digits`) measure the result.

use serde::{Deserialize, Serialize};

/// The thresholds of the check, as `weights/digit_check.json` stores them for the page.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DigitCheck {
    /// Highest VAE negative ELBO (nats, z = μ) of a digit.
    pub max_neg_elbo: f64,
    /// Lowest top-class probability of the best classifier for a digit.
    pub min_confidence: f64,
    /// Highest Mahalanobis distance of the classifier's hidden features to the nearest class
    /// mean.
    pub max_distance: f64,
    /// The same for the features of its last convolution.
    pub max_conv_distance: f64,
    /// Share of validation digits each threshold lets through (how they were set).
    pub quantile: f64,
}

impl DigitCheck {
    /// Whether an image with these scores is taken for a digit.
    pub fn accepts(&self, score: &Scores) -> bool {
        score.neg_elbo <= self.max_neg_elbo
            && score.confidence >= self.min_confidence
            && score.distance <= self.max_distance
            && score.conv_distance <= self.max_conv_distance
    }

    /// Thresholds from the scores of validation digits: the `quantile` of the negative ELBOs
    /// and distances, the `1 − quantile` of the confidences.
    pub fn calibrate(valid: &[Scores], quantile: f64) -> Self {
        let at = |value: fn(&Scores) -> f64, q: f64| {
            let mut sorted: Vec<f64> = valid.iter().map(value).filter(|v| v.is_finite()).collect();
            sorted.sort_by(f64::total_cmp);
            sorted[((sorted.len() - 1) as f64 * q).round() as usize]
        };
        Self {
            max_neg_elbo: at(|s| s.neg_elbo, quantile),
            min_confidence: at(|s| s.confidence, 1.0 - quantile),
            max_distance: at(|s| s.distance, quantile),
            max_conv_distance: at(|s| s.conv_distance, quantile),
            quantile,
        }
    }
}

/// What the check measures of one image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scores {
    pub neg_elbo: f64,
    pub confidence: f64,
    pub distance: f64,
    pub conv_distance: f64,
}

/// Class means and one shared precision matrix of the classifier's hidden features.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FeatureGaussians {
    pub dim: usize,
    /// `[10 · dim]`, class after class.
    pub means: Vec<f32>,
    /// `[dim · dim]`, the inverse of the shared covariance (shrunk towards its diagonal mean so
    /// that it is invertible: ReLU features have dead units).
    pub precision: Vec<f32>,
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
        let precision = cov
            .cholesky()
            .expect("a shrunk covariance is positive definite")
            .inverse();
        Self {
            dim,
            means: means.iter().map(|&m| m as f32).collect(),
            precision: precision.transpose().iter().map(|&p| p as f32).collect(),
        }
    }

    /// The Mahalanobis distance of `feature` to the nearest class mean.
    pub fn distance(&self, feature: &[f32]) -> f64 {
        let d = self.dim;
        (0..10)
            .map(|class| {
                let diff: Vec<f64> = feature
                    .iter()
                    .zip(&self.means[class * d..][..d])
                    .map(|(f, m)| f64::from(*f) - f64::from(*m))
                    .collect();
                let mut total = 0.0;
                for (i, row) in self.precision.chunks_exact(d).enumerate() {
                    let dot: f64 = row.iter().zip(&diff).map(|(p, x)| f64::from(*p) * x).sum();
                    total += diff[i] * dot;
                }
                total.max(0.0).sqrt()
            })
            .fold(f64::INFINITY, f64::min)
    }
}

/// The best classifier's hidden features (`fc` values per image) of every image of `pixels`, or
/// with `convolutional` its last convolution's (c3·3·3 values).
#[cfg(not(target_arch = "wasm32"))]
pub fn features(
    classifier: &crate::model::Classifier,
    pixels: &[f32],
    convolutional: bool,
    device: &burn::prelude::Device,
) -> Vec<f32> {
    use crate::data::IMAGE_PIXELS;
    use crate::data::mnist::{INFERENCE_BATCH, images_tensor};
    pixels
        .chunks(INFERENCE_BATCH * IMAGE_PIXELS)
        .flat_map(|chunk| {
            let x = images_tensor(chunk.to_vec(), device);
            let f = if convolutional {
                classifier.encoder.conv_features(x)
            } else {
                classifier.encoder.features(x)
            };
            f.into_data().iter::<f32>().collect::<Vec<_>>()
        })
        .collect()
}

/// The scores of every image of `pixels` (784 each).
#[cfg(not(target_arch = "wasm32"))]
pub fn scores(
    vae: &crate::model::Vae,
    classifier: &crate::model::Classifier,
    gaussians: &[FeatureGaussians; 2],
    pixels: &[f32],
    device: &burn::prelude::Device,
) -> Vec<Scores> {
    use crate::data::IMAGE_PIXELS;
    use crate::data::mnist::{INFERENCE_BATCH, images_tensor};
    let mut out = Vec::with_capacity(pixels.len() / IMAGE_PIXELS);
    for chunk in pixels.chunks(INFERENCE_BATCH * IMAGE_PIXELS) {
        let x = images_tensor(chunk.to_vec(), device);
        let elbo: Vec<f32> = vae
            .neg_elbo_at_mean(x.clone())
            .into_data()
            .iter::<f32>()
            .collect();
        let top: Vec<f32> = classifier
            .probabilities(x)
            .max_dim(1)
            .into_data()
            .iter::<f32>()
            .collect();
        let hidden = features(classifier, chunk, false, device);
        let conv = features(classifier, chunk, true, device);
        let rows = hidden
            .chunks_exact(gaussians[0].dim)
            .zip(conv.chunks_exact(gaussians[1].dim));
        for ((e, c), (h, v)) in elbo.iter().zip(&top).zip(rows) {
            out.push(Scores {
                neg_elbo: f64::from(*e),
                confidence: f64::from(*c),
                distance: gaussians[0].distance(h),
                conv_distance: gaussians[1].distance(v),
            });
        }
    }
    out
}

/// The check set on the validation split and what it does on the test digits and on generated
/// non-digits.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub check: DigitCheck,
    pub measured: Measured,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Measured {
    pub validation_digits_accepted: f64,
    pub test_digits_accepted: f64,
    pub non_digits_rejected: f64,
    pub non_digits: usize,
    pub non_digits_rejected_by_kind: std::collections::BTreeMap<String, f64>,
}

/// Fits the feature Gaussians on the training digits, sets the thresholds on the validation
/// digits at `quantile`, and measures the test digits and `non_digits` generated drawings.
#[cfg(not(target_arch = "wasm32"))]
pub fn measure(
    vae: &crate::model::Vae,
    classifier: &crate::model::Classifier,
    data: &crate::data::Mnist,
    quantile: f64,
    non_digits: usize,
    seed: u64,
    device: &burn::prelude::Device,
) -> Report {
    let all = |d: &crate::data::Dataset| d.pixels(&(0..d.len()).collect::<Vec<_>>());
    let train = all(&data.train);
    let fit = |convolutional| {
        let f = features(classifier, &train, convolutional, device);
        let dim = f.len() / data.train.len();
        FeatureGaussians::fit(&f, dim, &data.train.labels)
    };
    let gaussians = [fit(false), fit(true)];
    let score = |pixels: &[f32]| scores(vae, classifier, &gaussians, pixels, device);
    let valid = score(&all(&data.validation));
    let check = DigitCheck::calibrate(&valid, quantile);
    let rate =
        |s: &[Scores]| s.iter().filter(|s| check.accepts(s)).count() as f64 / s.len().max(1) as f64;
    let (pixels, kinds) = super::non_digits::generate(non_digits, seed);
    let non = score(&pixels);
    let mut per_kind: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for (kind, s) in kinds.iter().zip(&non) {
        let slot = per_kind.entry(kind.to_string()).or_default();
        slot.1 += 1;
        slot.0 += usize::from(!check.accepts(s));
    }
    let measured = Measured {
        validation_digits_accepted: rate(&valid),
        test_digits_accepted: rate(&score(&all(&data.test))),
        non_digits_rejected: 1.0 - rate(&non),
        non_digits: kinds.len(),
        non_digits_rejected_by_kind: per_kind
            .into_iter()
            .map(|(k, (r, n))| (k, r as f64 / n as f64))
            .collect(),
    };
    Report { check, measured }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_the_validation_quantiles() {
        let valid: Vec<Scores> = (0..=100)
            .map(|i| Scores {
                neg_elbo: f64::from(i),
                confidence: f64::from(i) / 100.0,
                distance: f64::from(100 - i),
                conv_distance: 0.0,
            })
            .collect();
        let check = DigitCheck::calibrate(&valid, 0.9);
        assert_eq!(
            (check.max_neg_elbo, check.min_confidence, check.max_distance),
            (90.0, 0.1, 90.0)
        );
        let score = |neg_elbo, confidence, distance| Scores {
            neg_elbo,
            confidence,
            distance,
            conv_distance: 0.0,
        };
        assert!(check.accepts(&score(90.0, 0.1, 90.0)));
        assert!(!check.accepts(&score(90.5, 0.5, 1.0)));
        assert!(!check.accepts(&score(10.0, 0.05, 1.0)));
        assert!(!check.accepts(&score(10.0, 0.5, 91.0)));
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
    }
}
