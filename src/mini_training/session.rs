//! One mini-training run: a ConvAE (any code size) or the paper's VAE trained step by step with
//! Adam on the subset. Nothing here reads a tensor back: steps and evaluations return tensors,
//! and the caller reads them when it suits it (asynchronously in the browser, once per chunk of
//! steps, because every read waits for the GPU).

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use super::subset::Subset;
use crate::analysis::knn::loo_knn_accuracy;
use crate::analysis::pca::Pca;
use crate::data::mnist::images_tensor;
use crate::data::noise::standard_normal;
use crate::model::{ConvAe, ConvAeConfig, ModelKind, Vae, VaeConfig, WeightsError, store};

/// Validation digits whose reconstructions the page shows.
pub const SHOWN_DIGITS: usize = 8;
/// Samples over which the learning rate warms up linearly from 0. Without it, Adam's first
/// full-size steps push the 2-D ConvAE into a blank output (every ReLU of the decoder dead) in
/// about one run of four at these rates (4 of 15 seeds at 5e-3 on the subset); with it, all
/// recover (measured natively with the same code).
pub const WARMUP_SAMPLES: usize = 12_800;
/// Seed of the validation ε (VAE), fixed so that validation losses compare across steps.
const VALIDATION_NOISE_SEED: u64 = 7;

/// Which model to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LiveModel {
    /// The paper's ConvAE (default architecture) with a code of `code` values; MSE loss.
    Ae,
    /// The paper's VAE (2-D latent); negative ELBO in nats per image.
    Vae,
}

/// What the user picks in the page. Field names are the JS ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionConfig {
    pub model: LiveModel,
    pub learning_rate: f64,
    pub batch_size: usize,
    pub epochs: usize,
    /// Code size of the ConvAE (the VAE's latent is 2-D, as in the paper).
    #[serde(default = "default_code")]
    pub code: usize,
    #[serde(default)]
    pub seed: u64,
}

fn default_code() -> usize {
    2
}

impl SessionConfig {
    pub const MAX_BATCH: usize = 1024;
    pub const MAX_EPOCHS: usize = 100;
    pub const MAX_CODE: usize = 32;

    /// Checks every field, with a message that says what is allowed.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.learning_rate.is_finite()
            && self.learning_rate > 0.0
            && self.learning_rate <= 1.0)
        {
            return Err(format!(
                "learning rate must be a number in (0, 1], got {}",
                self.learning_rate
            ));
        }
        if !(1..=Self::MAX_BATCH).contains(&self.batch_size) {
            return Err(format!(
                "batch size must be between 1 and {}, got {}",
                Self::MAX_BATCH,
                self.batch_size
            ));
        }
        if !(1..=Self::MAX_EPOCHS).contains(&self.epochs) {
            return Err(format!(
                "epochs must be between 1 and {}, got {}",
                Self::MAX_EPOCHS,
                self.epochs
            ));
        }
        if self.model == LiveModel::Ae && !(2..=Self::MAX_CODE).contains(&self.code) {
            return Err(format!(
                "code size must be between 2 and {}, got {}",
                Self::MAX_CODE,
                self.code
            ));
        }
        Ok(())
    }
}

/// The model being trained (its parameters on the autodiff device). One per session, so the
/// variants' size difference does not matter.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)]
enum Net {
    Ae(ConvAe),
    Vae(Vae),
}

/// Where training stands.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub steps: usize,
    /// Completed epochs.
    pub epoch: usize,
    /// Fraction of the current epoch done, in [0, 1).
    pub epoch_fraction: f64,
    pub samples_seen: usize,
    pub done: bool,
}

/// The 2-D map of the validation digits: the code itself for 2-D codes, else its first two
/// principal components (fitted on these codes).
#[derive(Clone, Debug)]
pub struct LatentMap {
    /// x, y interleaved, one pair per validation digit.
    pub xy: Vec<f32>,
    /// Leave-one-out 5-NN label accuracy of the map (PROTOCOL.md's latent-quality metric).
    pub knn5: f64,
    /// Whether the map is a PCA projection of wider codes.
    projected: bool,
}

pub struct TrainingSession {
    config: SessionConfig,
    device: Device,
    net: Net,
    optimizer: ModuleOptimizer,
    subset: Subset,
    order: Vec<usize>,
    position: usize,
    progress: Progress,
    rng: StdRng,
    valid_images: Tensor<4>,
    valid_eps: Tensor<2>,
    /// Set by the last `latent_map`: how to decode a map point.
    projection: Option<Pca>,
}

impl TrainingSession {
    /// A freshly initialised model (seeded) on `device` (a plain device; training uses its
    /// autodiff version).
    pub fn new(config: SessionConfig, subset: Subset, device: &Device) -> Result<Self, String> {
        config.validate()?;
        if subset.train.is_empty() || subset.valid.len() < 6 {
            return Err("the subset needs training digits and at least 6 validation digits".into());
        }
        let autodiff = device.clone().autodiff();
        autodiff.seed(config.seed);
        let net = match config.model {
            LiveModel::Ae => Net::Ae(ConvAeConfig::new().with_code(config.code).init(&autodiff)),
            LiveModel::Vae => Net::Vae(VaeConfig::new().init(&autodiff)),
        };
        // burn initialises parameters lazily, on first use, from the device's generator: use
        // them all now, while it holds this run's seed, so the initial weights do not depend on
        // what runs first (a step, which reseeds it, or an evaluation).
        let blank = Tensor::<4>::zeros([1, 1, 28, 28], &autodiff);
        match &net {
            Net::Ae(ae) => drop(ae.forward(blank)),
            Net::Vae(vae) => drop(vae.decode(vae.encode(blank).0)),
        }
        let all: Vec<usize> = (0..subset.valid.len()).collect();
        let valid_images = images_tensor(subset.valid.pixels(&all), device);
        let latent = 2;
        let valid_eps = Tensor::from_data(
            TensorData::new(
                standard_normal(
                    subset.valid.len() * latent,
                    &mut StdRng::seed_from_u64(VALIDATION_NOISE_SEED),
                ),
                [subset.valid.len(), latent],
            ),
            device,
        );
        Ok(Self {
            optimizer: AdamConfig::new().with_epsilon(1e-8).init(),
            order: (0..subset.train.len()).collect(),
            position: 0,
            progress: Progress {
                steps: 0,
                epoch: 0,
                epoch_fraction: 0.0,
                samples_seen: 0,
                done: false,
            },
            rng: StdRng::seed_from_u64(config.seed),
            device: device.clone(),
            config,
            net,
            subset,
            valid_images,
            valid_eps,
            projection: None,
        })
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    pub fn valid_labels(&self) -> &[u8] {
        &self.subset.valid.labels
    }

    /// One optimiser step on the next batch; `None` once the configured epochs are done.
    /// Returns the batch's mean loss, detached (not yet read).
    pub fn step(&mut self) -> Option<Tensor<1>> {
        if self.progress.done {
            return None;
        }
        if self.position == 0 {
            self.order.shuffle(&mut self.rng);
        }
        let end = (self.position + self.config.batch_size).min(self.order.len());
        let batch = &self.order[self.position..end];
        let autodiff = self.device.clone().autodiff();
        // Dropout draws from the device's generator, which every session on the page shares:
        // seeding it per step keeps a run reproducible whatever else runs in between.
        autodiff.seed(
            self.config
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(self.progress.steps as u64),
        );
        let images = images_tensor(self.subset.train.pixels(batch), &autodiff);
        let loss = match &self.net {
            Net::Ae(ae) => ae.mse(images.clone(), images),
            Net::Vae(vae) => {
                let eps = standard_normal(batch.len() * 2, &mut self.rng);
                let eps = Tensor::from_data(TensorData::new(eps, [batch.len(), 2]), &autodiff);
                vae.loss(images, eps).neg_elbo()
            }
        };
        let grads = loss.backward();
        let lr = self.learning_rate();
        self.net = match self.net.clone() {
            Net::Ae(ae) => {
                let grads = GradientsParams::from_grads(grads, &ae);
                Net::Ae(self.optimizer.step(lr, ae, grads))
            }
            Net::Vae(vae) => {
                let grads = GradientsParams::from_grads(grads, &vae);
                Net::Vae(self.optimizer.step(lr, vae, grads))
            }
        };
        self.progress.steps += 1;
        self.progress.samples_seen += batch.len();
        self.position = end;
        if self.position >= self.order.len() {
            self.position = 0;
            self.progress.epoch += 1;
            self.progress.done = self.progress.epoch >= self.config.epochs;
        }
        self.progress.epoch_fraction = self.position as f64 / self.order.len() as f64;
        Some(loss.inner())
    }

    /// The learning rate of the next step: a linear warm-up over the first `WARMUP_SAMPLES`
    /// samples, then the configured rate.
    pub fn learning_rate(&self) -> f64 {
        let warmup_steps = WARMUP_SAMPLES.div_ceil(self.config.batch_size);
        let ramp = ((self.progress.steps + 1) as f64 / warmup_steps as f64).min(1.0);
        self.config.learning_rate * ramp
    }

    /// Up to `count` steps: the sum of their losses (not yet read) and how many ran.
    pub fn steps(&mut self, count: usize) -> Option<(Tensor<1>, usize)> {
        let mut total: Option<Tensor<1>> = None;
        let mut ran = 0;
        for _ in 0..count {
            let Some(loss) = self.step() else { break };
            total = Some(match total {
                Some(t) => t + loss,
                None => loss,
            });
            ran += 1;
        }
        total.map(|t| (t, ran))
    }

    /// Loss on all validation digits (model in evaluation mode: no dropout); MSE per pixel for
    /// the ConvAE, −ELBO nats per image (fixed ε) for the VAE.
    pub fn valid_loss(&self) -> Tensor<1> {
        match &self.net {
            Net::Ae(ae) => ae
                .valid()
                .mse(self.valid_images.clone(), self.valid_images.clone()),
            Net::Vae(vae) => vae
                .valid()
                .loss(self.valid_images.clone(), self.valid_eps.clone())
                .neg_elbo(),
        }
    }

    /// Codes of the validation digits, `[n, code]` (the VAE's mean μ).
    pub fn codes(&self) -> Tensor<2> {
        match &self.net {
            Net::Ae(ae) => ae.valid().encoder.forward(self.valid_images.clone()),
            Net::Vae(vae) => vae.valid().encode(self.valid_images.clone()).0,
        }
    }

    /// Turns codes (as read from `codes`) into the 2-D map, and remembers how to go back.
    pub fn latent_map(&mut self, codes: &[f32]) -> Result<LatentMap, String> {
        let n = self.subset.valid.len();
        if !codes.len().is_multiple_of(n) || codes.iter().any(|v| !v.is_finite()) {
            return Err(
                "the codes are not finite: training diverged (lower the learning rate and reset)"
                    .into(),
            );
        }
        let dim = codes.len() / n;
        let (xy, projection) = if dim == 2 {
            (codes.to_vec(), None)
        } else {
            let pca = Pca::fit(codes, dim, 2);
            (pca.transform(codes), Some(pca))
        };
        let knn5 = loo_knn_accuracy(&xy, 2, &self.subset.valid.labels, 5);
        let projected = projection.is_some();
        self.projection = projection;
        Ok(LatentMap {
            xy,
            knn5,
            projected,
        })
    }

    /// The first `SHOWN_DIGITS` validation digits and their reconstructions, `[2·k, 1, 28, 28]`
    /// (originals first). The VAE decodes its mean.
    pub fn reconstructions(&self) -> Tensor<4> {
        let shown = self.valid_images.clone().narrow(0, 0, SHOWN_DIGITS);
        let rebuilt = match &self.net {
            Net::Ae(ae) => ae.valid().forward(shown.clone()),
            Net::Vae(vae) => {
                let vae = vae.valid();
                vae.decode(vae.encode(shown.clone()).0)
            }
        };
        Tensor::cat(vec![shown, rebuilt], 0)
    }

    /// Decodes points of the latest latent map (x, y interleaved): `[n, 1, 28, 28]`.
    pub fn decode_map_points(&self, points: &[f32]) -> Tensor<4> {
        let n = points.len() / 2;
        let codes: Vec<f32> = match &self.projection {
            None => points.to_vec(),
            Some(pca) => points
                .chunks_exact(2)
                .flat_map(|p| {
                    (0..pca.mean.len()).map(move |j| {
                        (pca.mean[j]
                            + f64::from(p[0]) * pca.components[0][j]
                            + f64::from(p[1]) * pca.components[1][j]) as f32
                    })
                })
                .collect(),
        };
        let dim = codes.len() / n.max(1);
        let z = Tensor::from_data(TensorData::new(codes, [n, dim]), &self.device);
        match &self.net {
            Net::Ae(ae) => ae.valid().decoder.forward(z),
            Net::Vae(vae) => vae.valid().decode(z),
        }
    }
}

/// A trained model as the native trainer stores it: its manifest kind, its architecture (the
/// entry's `hyperparameters.model`) and the model (evaluation mode), whose weights file
/// [`ExportedModel::weights`] writes.
#[derive(Clone, Debug)]
pub struct ExportedModel {
    pub kind: ModelKind,
    pub architecture: serde_json::Value,
    model: ExportedNet,
}

#[derive(Clone, Debug)]
enum ExportedNet {
    Ae(Box<ConvAe>),
    Vae(Box<Vae>),
}

impl ExportedModel {
    /// The weights file's bytes ([`store::to_bytes_async`]: the parameters are read back
    /// without blocking, as WebGPU needs in the browser).
    pub async fn weights(self) -> Result<Vec<u8>, WeightsError> {
        let key = self.kind.key();
        match self.model {
            ExportedNet::Ae(ae) => store::to_bytes_async(*ae, key).await,
            ExportedNet::Vae(vae) => store::to_bytes_async(*vae, key).await,
        }
    }
}

impl TrainingSession {
    /// The model as it is now (evaluation mode), ready for a weights directory.
    pub fn export(&self) -> Result<ExportedModel, WeightsError> {
        let serialise = |e: serde_json::Error| WeightsError::Serialise {
            name: "architecture".into(),
            reason: e.to_string(),
        };
        Ok(match &self.net {
            Net::Ae(ae) => ExportedModel {
                kind: ModelKind::Ae,
                architecture: serde_json::to_value(ConvAeConfig::new().with_code(self.config.code))
                    .map_err(serialise)?,
                model: ExportedNet::Ae(Box::new(ae.valid())),
            },
            Net::Vae(vae) => ExportedModel {
                kind: ModelKind::Vae,
                architecture: serde_json::to_value(VaeConfig::new()).map_err(serialise)?,
                model: ExportedNet::Vae(Box::new(vae.valid())),
            },
        })
    }
}

impl LatentMap {
    /// Whether the map is a PCA projection of wider codes.
    pub fn is_projected(&self) -> bool {
        self.projected
    }
}
