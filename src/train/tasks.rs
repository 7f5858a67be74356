//! One training recipe per model: how its batches are made, its loss and its validation loss.
//! Every recipe runs through [`run_fit`], which resumes from and writes the run's checkpoints.
//! Recipes measure training and validation only: test metrics are measured once, when a model
//! is published (`super::publish`).

use std::path::Path;

use burn::module::Module;
use burn::prelude::*;
use rand::Rng;
use rand::{SeedableRng, rngs::StdRng};

use super::checkpoint::{self, CheckpointError};
use super::fit::{EpochStats, FitConfig, FitHooks, FitState, FitTask, fit_with};
use super::outliers::{OutlierExposure, OutlierPool};
use crate::data::augment::{AugmentConfig, augment_labelled};
use crate::data::mnist::{images_tensor, labels_tensor};
use crate::data::noise::{add_gaussian_noise, standard_normal};
use crate::data::{IMAGE_PIXELS, TrainingData};
use crate::eval;
use crate::model::{Autoencoder, Classifier, ClassifierConfig, VaeConfig, store};

/// Seed of the validation noise (DAE inputs, VAE ε), fixed so that epochs compare fairly.
pub const VALIDATION_NOISE_SEED: u64 = 77;

/// Where and on what a training run happens.
pub struct Context<'a> {
    pub data: &'a TrainingData,
    /// The plain (non-autodiff) device; training uses its autodiff version.
    pub device: Device,
    pub quiet: bool,
    /// The run directory, where the checkpoints are written and read.
    pub run_dir: &'a Path,
}

/// A finished training: the best weights in the storage precision and how the run got there.
pub struct Trained {
    pub weights: Vec<u8>,
    pub history: Vec<EpochStats>,
    pub best_epoch: usize,
    pub best_valid_loss: f64,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Fit(#[from] super::fit::FitError),
    #[error(transparent)]
    Weights(#[from] crate::model::WeightsError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("the non-digits of outlier exposure: {0}")]
    Outliers(String),
}

/// Trains `model` with the run's checkpoints: resumes from the last one if there is one, and
/// writes one after every epoch.
/// `fit_config` gives the settings for the model being trained (the VAE's encoder group is a set
/// of its parameter ids).
fn run_fit<M: Module + Clone + Send + Sync>(
    ctx: &Context,
    label: &str,
    model: M,
    fit_config: impl Fn(&M) -> FitConfig,
    train_loss: impl Fn(&M, &[usize], &mut StdRng) -> Tensor<1> + Sync,
    valid_loss: impl FnMut(&M) -> f64,
) -> Result<Trained, TrainError> {
    let ad = ctx.device.clone().autodiff();
    let resume = checkpoint::load(ctx.run_dir, &model, &fit_config)?;
    let fit_config = &match &resume {
        Some(state) => fit_config(&state.model),
        None => fit_config(&model),
    };
    if let Some(state) = &resume
        && !ctx.quiet
    {
        eprintln!(
            "{label}: resuming after epoch {} of {} (best {} at epoch {})",
            state.progress.epochs_done,
            fit_config.epochs,
            state.progress.best_valid_loss,
            state.progress.best_epoch
        );
    }
    let dir = ctx.run_dir;
    let mut save = |state: &FitState<M>| checkpoint::save(dir, state).map_err(|e| e.to_string());
    let task = FitTask {
        config: fit_config,
        train_len: ctx.data.train.len(),
        train_loss,
        valid_loss,
        label,
        quiet: ctx.quiet,
    };
    let outcome = fit_with(
        model,
        task,
        FitHooks {
            resume,
            device: Some(&ad),
            on_epoch: Some(&mut save),
        },
    )?;
    Ok(Trained {
        weights: store::to_bytes(outcome.model, label)?,
        history: outcome.history,
        best_epoch: outcome.best_epoch,
        best_valid_loss: outcome.best_valid_loss,
        seconds: outcome.seconds,
    })
}

/// A fresh model of the run's seed, or the weights it starts from (`--init-from`).
fn initial<M: Module>(
    fresh: impl FnOnce(&Device) -> M,
    ctx: &Context,
    seed: u64,
    start: Option<&[u8]>,
) -> Result<M, TrainError> {
    let ad = ctx.device.clone().autodiff();
    ad.seed(seed);
    let model = fresh(&ad);
    Ok(match start {
        Some(bytes) => store::from_bytes(model, bytes, "the starting weights")?,
        None => model,
    })
}

/// Trains an autoencoder built by `fresh` (the ConvAE, the wide-code denoiser) on the MSE to
/// the clean image, from a noisy input when `noise_amount` is given (the denoisers).
pub fn train_autoencoder<M: Module + Clone + Send + Sync + Autoencoder>(
    ctx: &Context,
    label: &str,
    fresh: impl FnOnce(&Device) -> M,
    fit_config: &FitConfig,
    noise_amount: Option<f32>,
    start: Option<&[u8]>,
) -> Result<Trained, TrainError> {
    let model = initial(fresh, ctx, fit_config.seed, start)?;
    let (ad, train) = (ctx.device.clone().autodiff(), &ctx.data.train);
    let fit_config = |_: &M| fit_config.clone();
    run_fit(
        ctx,
        label,
        model,
        fit_config,
        |model, batch, rng| {
            let clean = train.pixels(batch);
            let mut input = clean.clone();
            if let Some(a) = noise_amount {
                add_gaussian_noise(&mut input, a, rng);
            }
            model.mse(images_tensor(input, &ad), images_tensor(clean, &ad))
        },
        |model| {
            let valid = &ctx.data.validation;
            match noise_amount {
                Some(a) => {
                    eval::dae_metrics(model, valid, a, VALIDATION_NOISE_SEED, &ctx.device).mse
                }
                None => eval::ae_metrics(model, valid, &ctx.device).mse,
            }
        },
    )
}

/// Trains the VAE on the negative ELBO. With `encoder_noise` σ > 0 the encoder reads
/// x + σ·N(0, 1) (not clipped, so the noise has mean 0) while the decoder still reconstructs x:
/// a regulariser of the encoder only (amortised inference regularisation, Shu et al. 2018);
/// validation uses clean inputs, so the loss measured is the same negative ELBO.
pub fn train_vae(
    ctx: &Context,
    config: &VaeConfig,
    fit_config: &FitConfig,
    encoder_noise: f32,
    start: Option<&[u8]>,
) -> Result<Trained, TrainError> {
    let ad = ctx.device.clone().autodiff();
    let (train, valid, latent) = (&ctx.data.train, &ctx.data.validation, config.latent);
    let model = initial(|d| config.init(d), ctx, fit_config.seed, start)?;
    run_fit(
        ctx,
        "vae",
        model,
        |model| FitConfig {
            encoder_params: Some(model.encoder_params()),
            ..fit_config.clone()
        },
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
        |model| eval::vae_metrics(model, valid, VALIDATION_NOISE_SEED, &ctx.device).neg_elbo,
    )
}

/// Trains the paper's classifier: the trained ConvAE's encoder (`encoder_weights`, of
/// architecture `config.encoder`) with frozen convolutions, trainable linear layers and a new
/// Linear(2→10) head.
pub fn train_classifier(
    ctx: &Context,
    config: &ClassifierConfig,
    encoder_weights: &[u8],
    fit_config: &FitConfig,
    augment: Option<&AugmentConfig>,
) -> Result<Trained, TrainError> {
    let ad = ctx.device.clone().autodiff();
    ad.seed(fit_config.seed);
    let ae = store::from_bytes(config.encoder.init(&ad), encoder_weights, "the encoder")?;
    let model = config.with_encoder(ae.encoder.freeze_convolutions(), &ad);
    fit_classifier(ctx, "classifier", model, fit_config, augment, None)
}

/// Trains the best classifier, from scratch or from `start` (`--init-from`), with augmentation
/// of the training images and, with `outliers`, non-digits pushed towards no class.
pub fn train_classifier_best(
    ctx: &Context,
    config: &ClassifierConfig,
    fit_config: &FitConfig,
    augment: &AugmentConfig,
    outliers: Option<&OutlierExposure>,
    start: Option<&[u8]>,
) -> Result<Trained, TrainError> {
    let model = initial(|d| config.init(d), ctx, fit_config.seed, start)?;
    let pool = outliers
        .map(OutlierPool::draw)
        .transpose()
        .map_err(TrainError::Outliers)?;
    let exposure = outliers.zip(pool.as_ref());
    fit_classifier(
        ctx,
        "classifier_best",
        model,
        fit_config,
        Some(augment),
        exposure,
    )
}

fn fit_classifier(
    ctx: &Context,
    label: &str,
    model: Classifier,
    fit_config: &FitConfig,
    augment: Option<&AugmentConfig>,
    outliers: Option<(&OutlierExposure, &OutlierPool)>,
) -> Result<Trained, TrainError> {
    let ad = ctx.device.clone().autodiff();
    let (train, valid) = (&ctx.data.train, &ctx.data.validation);
    let augmented = |model: &Classifier, batch: &[usize], rng: &mut StdRng| {
        let mut pixels = train.pixels(batch);
        let labels = train.labels_at(batch);
        if let Some(a) = augment {
            // Half the images stay as MNIST has them, so clean accuracy does not suffer.
            let mut local = StdRng::seed_from_u64(rng.random());
            for (image, &label) in pixels.chunks_exact_mut(IMAGE_PIXELS).zip(&labels) {
                if local.random_bool(0.5) {
                    let out = augment_labelled(image, label, a, &mut local);
                    image.copy_from_slice(&out);
                }
            }
        }
        let (digits, labels) = (images_tensor(pixels, &ad), labels_tensor(&labels, &ad));
        match outliers {
            Some((settings, pool)) => {
                let warps = augment.cloned().unwrap_or_default();
                let others = pool.sample(settings.per_batch(batch.len()), &warps, rng);
                let others = images_tensor(others, &ad);
                model.outlier_exposure_loss(digits, labels, others, settings.weight)
            }
            None => model.cross_entropy(digits, labels),
        }
    };
    let valid_loss = |model: &Classifier| eval::cross_entropy(model, valid, &ctx.device);
    run_fit(
        ctx,
        label,
        model,
        |_| fit_config.clone(),
        augmented,
        valid_loss,
    )
}

/// Noise amount a of the denoisers unless told otherwise (PROTOCOL.md).
pub const DEFAULT_NOISE_AMOUNT: f32 = 0.3;

/// Each model's training recipe defaults: PROTOCOL.md where it fixes a value, otherwise chosen
/// on validation loss (the VAE's L2 over 0, 3e-3, 1e-2 and 1.5e-2; its patience because its
/// validation loss is noisy; the classifiers' batch sizes; the wide denoiser's 60 epochs over 30).
pub fn default_fit(kind: crate::model::ModelKind) -> FitConfig {
    use crate::model::ModelKind;
    let (epochs, batch_size, weight_decay, patience) = match kind {
        ModelKind::Ae => (150, 256, 1e-5, 5),
        ModelKind::Dae => (100, 256, 1e-5, 5),
        ModelKind::DaeWide => (60, 256, 1e-5, 5),
        ModelKind::Vae => (150, 128, 1.5e-2, 20),
        ModelKind::Classifier => (60, 64, 1e-5, 10),
        ModelKind::ClassifierBest => (30, 128, 1e-5, 5),
    };
    FitConfig {
        epochs,
        patience,
        batch_size,
        lr: 1e-3,
        weight_decay,
        optimizer: super::fit::Optimizer::Adam,
        encoder_weight_decay: None,
        encoder_params: None,
        schedule: super::fit::Schedule::Cosine,
        seed: 42,
        average_from: None,
    }
}
