//! Test metrics exactly as PROTOCOL.md defines them. Shared by `train`, `eval` and the tests.

use burn::prelude::*;
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use crate::data::mnist::{images_tensor, labels_tensor};
use crate::data::noise::{add_gaussian_noise, standard_normal};
use crate::data::{Dataset, IMAGE_PIXELS};
use crate::model::{Autoencoder, CLASSES, Classifier, Vae};

/// Batch size for evaluation (it does not change any metric).
pub const EVAL_BATCH: usize = crate::data::mnist::INFERENCE_BATCH;
/// Seed of the noise used by every reported DAE metric and VAE ε sample.
pub const EVAL_SEED: u64 = 2024;

pub(crate) fn scalar(t: Tensor<1>) -> f64 {
    f64::from(t.into_scalar::<f32>())
}

/// Reconstruction error of an autoencoder.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AeMetrics {
    /// Mean squared error per pixel.
    pub mse: f64,
    /// 10·log10(1/MSE).
    pub psnr: f64,
}

/// Denoising metrics at one noise amount.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DaeMetrics {
    pub noise_amount: f64,
    /// MSE(denoised, clean).
    pub mse: f64,
    /// MSE(noisy, clean): the baseline a denoiser must beat.
    pub noisy_mse: f64,
    pub psnr: f64,
    pub noisy_psnr: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VaeMetrics {
    /// Negative ELBO, nats per image, one ε sample per image.
    pub neg_elbo: f64,
    /// Σ_pixels BCE, nats per image.
    pub recon: f64,
    /// KL(q(z|x) ‖ N(0, I)), nats per image.
    pub kl: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClassifierMetrics {
    pub accuracy: f64,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<u32>>,
}

pub fn psnr(mse: f64) -> f64 {
    10.0 * (1.0 / mse).log10()
}

/// Per-pixel MSE of the autoencoder's reconstructions of `data`.
pub fn ae_metrics(model: &impl Autoencoder, data: &Dataset, device: &Device) -> AeMetrics {
    let mut sum = 0.0;
    for idx in data.batches() {
        let x = images_tensor(data.pixels(&idx), device);
        sum += scalar(model.mse(x.clone(), x)) * idx.len() as f64;
    }
    let mse = sum / data.len() as f64;
    AeMetrics {
        mse,
        psnr: psnr(mse),
    }
}

/// Denoising metrics: inputs clip(x + a·N(0,1), 0, 1) with noise seeded by `seed`.
pub fn dae_metrics(
    model: &impl Autoencoder,
    data: &Dataset,
    noise_amount: f32,
    seed: u64,
    device: &Device,
) -> DaeMetrics {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut sum, mut noisy_sum) = (0.0, 0.0);
    for idx in data.batches() {
        let clean = data.pixels(&idx);
        let mut noisy = clean.clone();
        add_gaussian_noise(&mut noisy, noise_amount, &mut rng);
        noisy_sum += noisy
            .iter()
            .zip(&clean)
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum::<f64>();
        let loss = model.mse(images_tensor(noisy, device), images_tensor(clean, device));
        sum += scalar(loss) * (idx.len() * IMAGE_PIXELS) as f64;
    }
    let pixels = (data.len() * IMAGE_PIXELS) as f64;
    let (mse, noisy_mse) = (sum / pixels, noisy_sum / pixels);
    DaeMetrics {
        noise_amount: f64::from(noise_amount),
        mse,
        noisy_mse,
        psnr: psnr(mse),
        noisy_psnr: psnr(noisy_mse),
    }
}

/// Negative ELBO and its parts, one ε sample per image drawn with `seed`.
pub fn vae_metrics(model: &Vae, data: &Dataset, seed: u64, device: &Device) -> VaeMetrics {
    let latent = model.latent();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut recon, mut kl) = (0.0, 0.0);
    for idx in data.batches() {
        let n = idx.len();
        let eps = Tensor::from_data(
            TensorData::new(standard_normal(n * latent, &mut rng), [n, latent]),
            device,
        );
        let loss = model.loss(images_tensor(data.pixels(&idx), device), eps);
        recon += scalar(loss.recon) * n as f64;
        kl += scalar(loss.kl) * n as f64;
    }
    let n = data.len() as f64;
    VaeMetrics {
        neg_elbo: (recon + kl) / n,
        recon: recon / n,
        kl: kl / n,
    }
}

/// Predicted classes of the images in `data`.
pub fn predictions(model: &Classifier, data: &Dataset, device: &Device) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for idx in data.batches() {
        let pred = model
            .forward(images_tensor(data.pixels(&idx), device))
            .argmax(1);
        out.extend(pred.into_data().iter::<i64>().map(|p| p as u8));
    }
    out
}

/// Accuracy and confusion matrix.
pub fn classifier_metrics(
    model: &Classifier,
    data: &Dataset,
    device: &Device,
) -> ClassifierMetrics {
    let mut confusion = vec![vec![0u32; CLASSES]; CLASSES];
    for (p, &t) in predictions(model, data, device).iter().zip(&data.labels) {
        confusion[t as usize][*p as usize] += 1;
    }
    let correct: u32 = (0..CLASSES).map(|k| confusion[k][k]).sum();
    ClassifierMetrics {
        accuracy: f64::from(correct) / data.len() as f64,
        confusion,
    }
}

/// Mean cross-entropy of the classifier on `data` (the validation loss of its training).
pub fn cross_entropy(model: &Classifier, data: &Dataset, device: &Device) -> f64 {
    let mut sum = 0.0;
    for idx in data.batches() {
        let x = images_tensor(data.pixels(&idx), device);
        let y = labels_tensor(&data.labels_at(&idx), device);
        sum += scalar(model.cross_entropy(x, y)) * idx.len() as f64;
    }
    sum / data.len() as f64
}

/// What can keep the test metrics of a model from being measured.
#[derive(Debug, thiserror::Error)]
pub enum TestMetricsError {
    #[error("manifest entry `{0}` has no noise_amount in its hyperparameters")]
    NoNoiseAmount(&'static str),
    #[error("the test split is empty: there is nothing to measure")]
    EmptyTestSplit,
}

/// The PROTOCOL.md test metrics of `model` (the model `kind` of `entry`), as the manifest
/// records them: the one place they are computed, for `publish`, `eval` and the tests.
/// The classifiers also record their validation accuracy.
pub fn test_metrics(
    kind: crate::model::ModelKind,
    entry: &crate::model::ModelEntry,
    model: &crate::model::Model,
    data: &crate::data::Mnist,
    device: &Device,
) -> Result<serde_json::Value, TestMetricsError> {
    use crate::model::Model;
    let test = &data.test;
    if test.is_empty() {
        return Err(TestMetricsError::EmptyTestSplit);
    }
    let noise_amount = || {
        entry.hyperparameters["noise_amount"]
            .as_f64()
            .map(|a| a as f32)
            .ok_or(TestMetricsError::NoNoiseAmount(kind.key()))
    };
    Ok(match model {
        Model::ConvAe(m) if kind == crate::model::ModelKind::Dae => {
            to_json(&dae_metrics(m, test, noise_amount()?, EVAL_SEED, device))
        }
        Model::ConvAe(m) => to_json(&ae_metrics(m, test, device)),
        Model::DaeWide(m) => to_json(&dae_metrics(m, test, noise_amount()?, EVAL_SEED, device)),
        Model::Vae(m) => to_json(&vae_metrics(m, test, EVAL_SEED, device)),
        Model::Classifier(m) => {
            let metrics = classifier_metrics(m, test, device);
            let valid = classifier_metrics(m, &data.validation, device);
            serde_json::json!({
                "accuracy": metrics.accuracy,
                "confusion": metrics.confusion,
                "valid_accuracy": valid.accuracy,
            })
        }
    })
}

fn to_json<T: Serialize>(metrics: &T) -> serde_json::Value {
    serde_json::to_value(metrics).expect("metrics serialise")
}
