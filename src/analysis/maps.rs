//! The 2-D latent maps of the 10,000 test digits — ConvAE code, VAE mean, PCA-2 (fitted on the
//! training split) and t-SNE (perplexity 30, on PCA-50 of the pixels) — with their leave-one-out
//! 5-NN accuracies. One exporter feeds both the web page (`weights/maps.json`) and the report.

use std::time::Instant;

use bhtsne::tSNE;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::knn::loo_knn_accuracy;
use super::pca::Pca;
use crate::data::mnist::images_tensor;
use crate::data::{Dataset, IMAGE_PIXELS, Mnist};
use crate::model::{ConvAe, Vae};

/// Neighbours of the k-NN accuracy (PROTOCOL.md).
pub const KNN_K: usize = 5;
pub const TSNE_PERPLEXITY: f64 = 30.0;
/// PCA dimensions t-SNE runs on (the usual pre-reduction; it removes pixel noise).
pub const TSNE_INPUT_DIMS: usize = 50;
/// Test digits bundled for the page's denoiser and examples.
const BUNDLED_DIGITS: usize = 100;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Embedding {
    /// x, y interleaved, one pair per test digit, rounded to 1e-3.
    pub xy: Vec<f32>,
    /// [x0, x1, y0, y1] covering the central 99% of the points with a margin.
    pub bounds: [f32; 4],
    /// Leave-one-out 5-NN label accuracy.
    pub knn5: f64,
    pub seconds: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Maps {
    pub labels: Vec<u8>,
    pub ae: Embedding,
    pub vae: Embedding,
    pub pca: Embedding,
    pub tsne: Embedding,
    /// Gaussian fitted to the ConvAE codes of the training split: mean and the Cholesky factor
    /// [l11, l21, l22] of its covariance (the page samples new digits from it).
    pub ae_gaussian: Gaussian,
    pub tsne_settings: TsneSettings,
    /// The first test digits (u8 pixels) and their labels.
    pub digits: Vec<Vec<u8>>,
    pub digit_labels: Vec<u8>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Gaussian {
    pub mean: [f32; 2],
    pub chol: [f32; 3],
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TsneSettings {
    pub perplexity: f64,
    pub input: String,
    pub theta: f64,
    pub epochs: usize,
    /// Gradient-descent learning rate (bhtsne's default is 200).
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    /// Early exaggeration factor and how many iterations it lasts (bhtsne's 12 for 250).
    #[serde(default = "default_exaggeration")]
    pub exaggeration: f64,
    #[serde(default = "default_exaggeration_epochs")]
    pub exaggeration_epochs: usize,
}

fn default_learning_rate() -> f64 {
    200.0
}

fn default_exaggeration() -> f64 {
    12.0
}

fn default_exaggeration_epochs() -> usize {
    250
}

/// The t-SNE settings that are not fixed by PROTOCOL.md (perplexity 30 is).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TsneOptions {
    pub epochs: usize,
    /// `None`: n / 12 for n points (at least 50), the rule of Belkina et al. (2019) that
    /// openTSNE and scikit-learn's "auto" follow; chosen over bhtsne's fixed 200 on the
    /// validation split (5-NN 0.964 vs 0.952).
    pub learning_rate: Option<f64>,
    /// Barnes-Hut's accuracy: cells seen from a point under this angle count as one point
    /// (0 = exact gradient; smaller is slower and closer to exact).
    pub theta: f64,
    /// Early exaggeration: P is multiplied by this for the first `exaggeration_epochs`
    /// iterations, which lets clusters form before they settle.
    pub exaggeration: f64,
    pub exaggeration_epochs: usize,
}

impl TsneOptions {
    /// The learning rate used for `n` points.
    pub fn learning_rate_for(&self, n: usize) -> f64 {
        self.learning_rate.unwrap_or((n as f64 / 12.0).max(50.0))
    }
}

/// ConvAE codes of every image of `data` (2 values per image).
pub fn ae_codes(model: &ConvAe, data: &Dataset, device: &Device) -> Vec<f32> {
    data.batches()
        .flat_map(|idx| {
            model
                .encoder
                .forward(images_tensor(data.pixels(&idx), device))
                .into_data()
                .iter::<f32>()
                .collect::<Vec<_>>()
        })
        .collect()
}

/// VAE posterior means.
pub fn vae_means(model: &Vae, data: &Dataset, device: &Device) -> Vec<f32> {
    data.batches()
        .flat_map(|idx| {
            model
                .encode(images_tensor(data.pixels(&idx), device))
                .0
                .into_data()
                .iter::<f32>()
                .collect::<Vec<_>>()
        })
        .collect()
}

fn quantile(sorted: &[f32], q: f64) -> f32 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn bounds(xy: &[f32]) -> [f32; 4] {
    let mut out = [0.0; 4];
    for axis in 0..2 {
        let mut v: Vec<f32> = xy.iter().skip(axis).step_by(2).copied().collect();
        v.sort_by(f32::total_cmp);
        let (lo, hi) = (quantile(&v, 0.005), quantile(&v, 0.995));
        let pad = 0.08 * (hi - lo).max(1e-6);
        out[axis * 2] = lo - pad;
        out[axis * 2 + 1] = hi + pad;
    }
    out
}

/// Builds an [`Embedding`] from raw 2-D points.
pub fn embedding(xy: Vec<f32>, labels: &[u8], seconds: f64) -> Embedding {
    let knn5 = loo_knn_accuracy(&xy, 2, labels, KNN_K);
    let bounds = bounds(&xy);
    let xy = xy.iter().map(|v| (v * 1000.0).round() / 1000.0).collect();
    Embedding {
        xy,
        bounds,
        knn5,
        seconds,
    }
}

/// Mean and Cholesky factor of the covariance of 2-D points.
pub fn fit_gaussian(xy: &[f32]) -> Gaussian {
    let n = (xy.len() / 2) as f64;
    let (mut mx, mut my) = (0.0, 0.0);
    for p in xy.chunks_exact(2) {
        mx += f64::from(p[0]);
        my += f64::from(p[1]);
    }
    (mx, my) = (mx / n, my / n);
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for p in xy.chunks_exact(2) {
        let (dx, dy) = (f64::from(p[0]) - mx, f64::from(p[1]) - my);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    let (sxx, sxy, syy) = (sxx / (n - 1.0), sxy / (n - 1.0), syy / (n - 1.0));
    let l11 = sxx.sqrt();
    let l21 = sxy / l11;
    let l22 = (syy - l21 * l21).max(0.0).sqrt();
    Gaussian {
        mean: [mx as f32, my as f32],
        chol: [l11 as f32, l21 as f32, l22 as f32],
    }
}

/// t-SNE of `rows` (`dim` values each) to 2-D, Barnes-Hut, spectral initialisation.
pub fn tsne(rows: &[f32], dim: usize, perplexity: f64, options: TsneOptions) -> Vec<f32> {
    let points: Vec<&[f32]> = rows.chunks_exact(dim).collect();
    let mut t: tSNE<f64, &[f32]> = tSNE::new(&points);
    t.perplexity(perplexity)
        .spectral_init()
        .epochs(options.epochs)
        .learning_rate(options.learning_rate_for(points.len()))
        .early_exaggeration(options.exaggeration)
        .stop_lying_epoch(options.exaggeration_epochs)
        .barnes_hut(options.theta, |a, b| {
            a.iter()
                .zip(b.iter())
                .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
                .sum::<f64>()
                .sqrt()
        });
    t.embedding().into_iter().map(|v| v as f32).collect()
}

/// Computes all four maps of the test split.
/// The test digits projected on the first `TSNE_INPUT_DIMS` principal components of the
/// training pixels (the first two are the PCA-2 map; all of them are t-SNE's input).
pub fn pca_of_test(data: &Mnist) -> Vec<f32> {
    let train_pixels = data
        .train
        .pixels(&(0..data.train.len()).collect::<Vec<_>>());
    let pca = Pca::fit(&train_pixels, IMAGE_PIXELS, TSNE_INPUT_DIMS);
    pca.transform(&data.test.pixels(&(0..data.test.len()).collect::<Vec<_>>()))
}

pub fn export(
    data: &Mnist,
    ae: &ConvAe,
    vae: &Vae,
    device: &Device,
    tsne_options: TsneOptions,
    log: impl Fn(&str),
) -> Maps {
    let labels = data.test.labels.clone();
    let timed = |f: &dyn Fn() -> Vec<f32>| {
        let t = Instant::now();
        let v = f();
        (v, t.elapsed().as_secs_f64())
    };
    let (ae_xy, ae_s) = timed(&|| ae_codes(ae, &data.test, device));
    log("ConvAE codes done");
    let (vae_xy, vae_s) = timed(&|| vae_means(vae, &data.test, device));
    log("VAE means done");
    let t = Instant::now();
    let projected = pca_of_test(data);
    let pca_s = t.elapsed().as_secs_f64();
    let pca2: Vec<f32> = projected
        .chunks_exact(TSNE_INPUT_DIMS)
        .flat_map(|r| [r[0], r[1]])
        .collect();
    log("PCA done");
    let (tsne_xy, tsne_s) =
        timed(&|| tsne(&projected, TSNE_INPUT_DIMS, TSNE_PERPLEXITY, tsne_options));
    log(&format!("t-SNE done in {tsne_s:.0}s"));
    let ae_gaussian = fit_gaussian(&ae_codes(ae, &data.train, device));
    let digits = (0..BUNDLED_DIGITS.min(data.test.len()))
        .map(|i| data.test.image(i).to_vec())
        .collect();
    Maps {
        ae: embedding(ae_xy, &labels, ae_s),
        vae: embedding(vae_xy, &labels, vae_s),
        pca: embedding(pca2, &labels, pca_s),
        tsne: embedding(tsne_xy, &labels, tsne_s),
        ae_gaussian,
        tsne_settings: TsneSettings {
            perplexity: TSNE_PERPLEXITY,
            input: format!("PCA-{TSNE_INPUT_DIMS} (fitted on train) of the test pixels"),
            theta: tsne_options.theta,
            epochs: tsne_options.epochs,
            learning_rate: tsne_options.learning_rate_for(labels.len()),
            exaggeration: tsne_options.exaggeration,
            exaggeration_epochs: tsne_options.exaggeration_epochs,
        },
        digit_labels: labels[..BUNDLED_DIGITS.min(labels.len())].to_vec(),
        digits,
        labels,
    }
}

/// Leave-one-out 5-NN accuracy of t-SNE on the validation split (PCA-50 fitted on train), and
/// its seconds: how t-SNE's free settings are chosen without looking at the test digits.
pub fn tsne_validation_knn(data: &Mnist, options: TsneOptions) -> (f64, f64) {
    let train_pixels = data
        .train
        .pixels(&(0..data.train.len()).collect::<Vec<_>>());
    let pca = Pca::fit(&train_pixels, IMAGE_PIXELS, TSNE_INPUT_DIMS);
    let valid = &data.validation;
    let projected = pca.transform(&valid.pixels(&(0..valid.len()).collect::<Vec<_>>()));
    let t = Instant::now();
    let xy = tsne(&projected, TSNE_INPUT_DIMS, TSNE_PERPLEXITY, options);
    let seconds = t.elapsed().as_secs_f64();
    (loo_knn_accuracy(&xy, 2, &valid.labels, KNN_K), seconds)
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng, rngs::StdRng};

    use super::*;

    #[test]
    fn gaussian_fit_recovers_a_known_covariance() {
        // Points (±1, ±1)·diag(2, 1) rotated by nothing: variances 4·4/3 and 4/3, no correlation.
        let xy = [2.0, 1.0, -2.0, 1.0, 2.0, -1.0, -2.0, -1.0];
        let g = fit_gaussian(&xy);
        assert_eq!(g.mean, [0.0, 0.0]);
        assert!((g.chol[0] - (16.0f32 / 3.0).sqrt()).abs() < 1e-5);
        assert!(g.chol[1].abs() < 1e-6);
        assert!((g.chol[2] - (4.0f32 / 3.0).sqrt()).abs() < 1e-5);
    }

    #[test]
    fn tsne_separates_well_separated_clusters() {
        // Three Gaussian-ish clusters in 10-D, far apart: t-SNE keeps them apart (k-NN ≈ 1).
        let (mut rows, mut labels) = (Vec::new(), Vec::new());
        let mut rng = StdRng::seed_from_u64(1);
        let mut noise = || rng.random::<f32>() - 0.5;
        for i in 0..150 {
            let c = i % 3;
            for d in 0..10 {
                rows.push(if d == c { 20.0 } else { 0.0 } + noise());
            }
            labels.push(c as u8);
        }
        let options = TsneOptions {
            epochs: 300,
            learning_rate: None,
            theta: 0.5,
            exaggeration: 12.0,
            exaggeration_epochs: 250,
        };
        let xy = tsne(&rows, 10, 15.0, options);
        assert_eq!(xy.len(), 300);
        assert!(loo_knn_accuracy(&xy, 2, &labels, 5) > 0.97);
    }
}
