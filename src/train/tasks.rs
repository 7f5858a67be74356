//! One training recipe per model: how its batches are made, its loss, its validation loss and
//! its test metrics. Each run writes its weights and history and returns its manifest entry.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use rand::Rng;
use rand::{SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

use super::fit::{EpochStats, FitConfig, FitOutcome, fit};
use crate::data::augment::{AugmentConfig, augment_batch};
use crate::data::mnist::{images_tensor, labels_tensor};
use crate::data::noise::{add_gaussian_noise, standard_normal};
use crate::data::{IMAGE_PIXELS, Mnist};
use crate::eval;
use crate::model::{
    Autoencoder, ClassifierConfig, ConvAeConfig, ModelEntry, ModelKind, VaeConfig, WideDaeConfig,
    load_conv_ae, manifest::Manifest, store,
};

/// Seed of the validation noise (DAE inputs, VAE ε), fixed so epochs compare fairly.
const VALID_SEED: u64 = 77;

/// Where and on what a training run happens.
pub struct Context<'a> {
    pub data: &'a Mnist,
    /// The plain (non-autodiff) device; training uses its autodiff version.
    pub device: Device,
    pub backend: String,
    pub threads: usize,
    pub out_dir: PathBuf,
    pub quiet: bool,
    /// A directory of finished runs (`manifest.json`, weights, histories) whose weights start
    /// the new runs instead of a random initialisation (`train --init-from`).
    pub init_from: Option<PathBuf>,
}

/// A finished run that a new run continues: its weights are the starting point, and its
/// history and training time are carried into the new run's entry so that the manifest tells
/// the whole cost and the loss curves show both phases.
pub struct WarmStart {
    pub dir: PathBuf,
    pub entry: ModelEntry,
    pub history: Vec<EpochStats>,
}

impl WarmStart {
    /// Reads `kind`'s entry and history from the run directory `dir`.
    pub fn read(dir: &Path, kind: ModelKind) -> Result<Self, TrainError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| TrainError::Io {
                path: path.display().to_string(),
                source,
            })
        };
        let manifest =
            Manifest::parse(&read("manifest.json")?).map_err(|e| TrainError::Load(e.into()))?;
        let entry = manifest
            .entry(kind)
            .map_err(|e| TrainError::Load(e.into()))?
            .clone();
        let history =
            serde_json::from_str(&read(&entry.history)?).map_err(|e| TrainError::History {
                path: dir.join(&entry.history).display().to_string(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            entry,
            history,
        })
    }

    /// Loads the finished run's weights into `model`.
    fn load<M: Module>(&self, model: M) -> Result<M, TrainError> {
        Ok(store::load_file(model, &self.dir.join(&self.entry.file))?)
    }

    /// Puts the finished run's history before the new one (epochs renumbered to follow it), adds
    /// its training time, and returns what to record in the hyperparameters.
    fn carry_into<M>(&self, outcome: &mut FitOutcome<M>) -> Value {
        let offset = self.history.len();
        for stats in &mut outcome.history {
            stats.epoch += offset;
        }
        outcome.best_epoch += offset;
        outcome.history.splice(0..0, self.history.iter().cloned());
        outcome.seconds += self.entry.train_seconds;
        json!({
            "warm_start": {
                "from": self.dir.display().to_string(),
                "epochs": offset,
                "best_valid_loss": self.entry.best_valid_loss,
                "train_seconds": self.entry.train_seconds,
                "hyperparameters": self.entry.hyperparameters,
            }
        })
    }
}

impl Context<'_> {
    fn warm_start(&self, kind: ModelKind) -> Result<Option<WarmStart>, TrainError> {
        self.init_from
            .as_deref()
            .map(|dir| WarmStart::read(dir, kind))
            .transpose()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Fit(#[from] super::fit::FitError),
    #[error(transparent)]
    Weights(#[from] crate::model::WeightsError),
    #[error(transparent)]
    Load(#[from] crate::model::LoadError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a training history: {reason}")]
    History { path: String, reason: String },
}

fn hyperparameters(
    model: Value,
    fit: &FitConfig,
    extras: impl IntoIterator<Item = Value>,
) -> Value {
    let mut h = serde_json::to_value(fit).expect("FitConfig serialises");
    h["model"] = model;
    for extra in extras {
        if let (Some(h), Value::Object(extra)) = (h.as_object_mut(), extra) {
            h.extend(extra);
        }
    }
    h
}

/// Saves weights and history and builds the manifest entry.
fn finish<M: Module>(
    ctx: &Context,
    kind: ModelKind,
    outcome: FitOutcome<M>,
    hyperparameters: Value,
    test: Value,
) -> Result<ModelEntry, TrainError> {
    let weights = ctx.out_dir.join(kind.file_name());
    store::save_file(outcome.model, &weights)?;
    write_history(
        &ctx.out_dir.join(kind.history_file_name()),
        &outcome.history,
    )?;
    Ok(ModelEntry {
        file: kind.file_name(),
        hyperparameters,
        epochs: outcome.history.len(),
        best_epoch: outcome.best_epoch,
        best_valid_loss: outcome.best_valid_loss,
        train_seconds: outcome.seconds,
        history: kind.history_file_name(),
        backend: ctx.backend.clone(),
        threads: ctx.threads,
        test,
    })
}

fn write_history(path: &Path, history: &[EpochStats]) -> Result<(), TrainError> {
    let json = serde_json::to_vec_pretty(history).expect("history serialises");
    crate::fs_util::write_atomic(path, &json).map_err(|source| TrainError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Trains the ConvAE, or with `noise_amount` the paper's denoising AE (noisy input, clean
/// target).
pub fn train_conv_ae(
    ctx: &Context,
    config: &ConvAeConfig,
    fit_config: &FitConfig,
    noise_amount: Option<f32>,
) -> Result<ModelEntry, TrainError> {
    let kind = match noise_amount {
        Some(_) => ModelKind::Dae,
        None => ModelKind::Ae,
    };
    let ad = ctx.device.clone().autodiff();
    ad.seed(fit_config.seed);
    let model = config.init(&ad);
    train_autoencoder(ctx, kind, model, json!(config), fit_config, noise_amount)
}

/// Trains the wide-code denoiser at `noise_amount`.
pub fn train_wide_dae(
    ctx: &Context,
    config: &WideDaeConfig,
    fit_config: &FitConfig,
    noise_amount: f32,
) -> Result<ModelEntry, TrainError> {
    let ad = ctx.device.clone().autodiff();
    ad.seed(fit_config.seed);
    let model = config.init(&ad);
    train_autoencoder(
        ctx,
        ModelKind::DaeWide,
        model,
        json!(config),
        fit_config,
        Some(noise_amount),
    )
}

/// The loop shared by the autoencoders: MSE to the clean image, from a noisy input when
/// `noise_amount` is given.
fn train_autoencoder<M: Module + Clone + Autoencoder>(
    ctx: &Context,
    kind: ModelKind,
    model: M,
    architecture: Value,
    fit_config: &FitConfig,
    noise_amount: Option<f32>,
) -> Result<ModelEntry, TrainError> {
    let ad = ctx.device.clone().autodiff();
    let (train, valid) = (&ctx.data.train, &ctx.data.validation);
    let warm = ctx.warm_start(kind)?;
    let model = match &warm {
        Some(warm) => warm.load(model)?,
        None => model,
    };
    let mut outcome = fit(
        model,
        fit_config,
        train.len(),
        |model, batch, rng| {
            let clean = train.pixels(batch);
            let mut input = clean.clone();
            if let Some(a) = noise_amount {
                add_gaussian_noise(&mut input, a, rng);
            }
            model.mse(images_tensor(input, &ad), images_tensor(clean, &ad))
        },
        |model| match noise_amount {
            Some(a) => eval::dae_metrics(model, valid, a, VALID_SEED, &ctx.device).mse,
            None => eval::ae_metrics(model, valid, &ctx.device).mse,
        },
        kind.key(),
        ctx.quiet,
    )?;
    let test = match noise_amount {
        Some(a) => json!(eval::dae_metrics(
            &outcome.model,
            &ctx.data.test,
            a,
            eval::EVAL_SEED,
            &ctx.device
        )),
        None => json!(eval::ae_metrics(
            &outcome.model,
            &ctx.data.test,
            &ctx.device
        )),
    };
    let extra = match noise_amount {
        Some(a) => json!({ "noise_amount": a }),
        None => json!({}),
    };
    let carried = warm.map(|warm| warm.carry_into(&mut outcome));
    let h = hyperparameters(architecture, fit_config, [extra].into_iter().chain(carried));
    finish(ctx, kind, outcome, h, test)
}

/// Trains the VAE on the negative ELBO. With `encoder_noise` σ > 0 the encoder reads
/// x + σ·N(0, 1) (not clipped, so the noise has mean 0) while the decoder still reconstructs x:
/// a regulariser of the encoder only (amortised inference regularisation, Shu et al. 2018);
/// validation and test use clean inputs, so the loss measured is the same negative ELBO.
pub fn train_vae(
    ctx: &Context,
    config: &VaeConfig,
    fit_config: &FitConfig,
    encoder_noise: f32,
) -> Result<ModelEntry, TrainError> {
    let ad = ctx.device.clone().autodiff();
    ad.seed(fit_config.seed);
    let (train, valid, latent) = (&ctx.data.train, &ctx.data.validation, config.latent);
    let warm = ctx.warm_start(ModelKind::Vae)?;
    let model = match &warm {
        Some(warm) => warm.load(config.init(&ad))?,
        None => config.init(&ad),
    };
    let fit_config = &FitConfig {
        encoder_params: Some(model.encoder_params()),
        ..fit_config.clone()
    };
    let mut outcome = fit(
        model,
        fit_config,
        train.len(),
        |model, batch, rng| {
            let n = batch.len();
            let eps = Tensor::from_data(
                TensorData::new(standard_normal(n * latent, rng), [n, latent]),
                &ad,
            );
            let clean = train.pixels(batch);
            if encoder_noise > 0.0 {
                let noise = standard_normal(clean.len(), rng);
                let input = clean.iter().zip(noise).map(|(x, n)| x + encoder_noise * n);
                let input = images_tensor(input.collect(), &ad);
                model.loss_from_input(input, images_tensor(clean, &ad), eps)
            } else {
                model.loss(images_tensor(clean, &ad), eps)
            }
            .neg_elbo()
        },
        |model| eval::vae_metrics(model, valid, latent, VALID_SEED, &ctx.device).neg_elbo,
        "vae",
        ctx.quiet,
    )?;
    let test = json!(eval::vae_metrics(
        &outcome.model,
        &ctx.data.test,
        latent,
        eval::EVAL_SEED,
        &ctx.device
    ));
    let carried = warm.map(|warm| warm.carry_into(&mut outcome));
    let noise = (encoder_noise > 0.0).then(|| json!({ "encoder_noise": encoder_noise }));
    let h = hyperparameters(json!(config), fit_config, noise.into_iter().chain(carried));
    finish(ctx, ModelKind::Vae, outcome, h, test)
}

/// Trains the paper's classifier: the trained ConvAE's encoder (read from `ae_dir`) with frozen
/// convolutions, trainable linear layers and a new Linear(2→10) head.
pub fn train_classifier(
    ctx: &Context,
    ae_dir: &Path,
    fit_config: &FitConfig,
    augment: Option<&AugmentConfig>,
) -> Result<ModelEntry, TrainError> {
    let manifest_path = ae_dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path).map_err(|source| TrainError::Io {
        path: manifest_path.display().to_string(),
        source,
    })?;
    let manifest = Manifest::parse(&text).map_err(crate::model::LoadError::from)?;
    let weights_path = ae_dir.join(
        &manifest
            .entry(ModelKind::Ae)
            .map_err(crate::model::LoadError::from)?
            .file,
    );
    let bytes = std::fs::read(&weights_path).map_err(|source| TrainError::Io {
        path: weights_path.display().to_string(),
        source,
    })?;
    let ad = ctx.device.clone().autodiff();
    ad.seed(fit_config.seed);
    let ae = load_conv_ae(&manifest, ModelKind::Ae, &bytes, &ad)?;
    let config = ClassifierConfig::paper(
        manifest
            .architecture(ModelKind::Ae)
            .map_err(crate::model::LoadError::from)?,
    );
    let model = config.with_encoder(ae.encoder.freeze_convolutions(), &ad);
    fit_classifier(
        ctx,
        ModelKind::Classifier,
        &config,
        model,
        fit_config,
        augment,
    )
}

/// Trains the best classifier from scratch, with augmentation of the training images.
pub fn train_classifier_best(
    ctx: &Context,
    config: &ClassifierConfig,
    fit_config: &FitConfig,
    augment: &AugmentConfig,
) -> Result<ModelEntry, TrainError> {
    let ad = ctx.device.clone().autodiff();
    ad.seed(fit_config.seed);
    let model = config.init(&ad);
    fit_classifier(
        ctx,
        ModelKind::ClassifierBest,
        config,
        model,
        fit_config,
        Some(augment),
    )
}

fn fit_classifier(
    ctx: &Context,
    kind: ModelKind,
    config: &ClassifierConfig,
    model: crate::model::Classifier,
    fit_config: &FitConfig,
    augment: Option<&AugmentConfig>,
) -> Result<ModelEntry, TrainError> {
    let ad = ctx.device.clone().autodiff();
    let (train, valid) = (&ctx.data.train, &ctx.data.validation);
    let outcome = fit(
        model,
        fit_config,
        train.len(),
        |model, batch, rng: &mut StdRng| {
            let mut pixels = train.pixels(batch);
            if let Some(a) = augment {
                // Half the images stay as MNIST has them, so clean accuracy does not suffer.
                let mut local = StdRng::seed_from_u64(rng.random());
                for image in pixels.chunks_exact_mut(IMAGE_PIXELS) {
                    if local.random_bool(0.5) {
                        augment_batch(image, a, &mut local);
                    }
                }
            }
            model.cross_entropy(
                images_tensor(pixels, &ad),
                labels_tensor(&train.labels_at(batch), &ad),
            )
        },
        |model| eval::cross_entropy(model, valid, &ctx.device),
        kind.key(),
        ctx.quiet,
    )?;
    let metrics = eval::classifier_metrics(&outcome.model, &ctx.data.test, &ctx.device);
    let valid_accuracy = eval::classifier_metrics(&outcome.model, valid, &ctx.device).accuracy;
    let test = json!({ "accuracy": metrics.accuracy, "confusion": metrics.confusion, "valid_accuracy": valid_accuracy });
    let mut extra = json!({ "augment": augment });
    if kind == ModelKind::Classifier {
        extra["frozen"] = json!("encoder convolutions");
    }
    let h = hyperparameters(json!(config), fit_config, [extra]);
    finish(ctx, kind, outcome, h, test)
}
