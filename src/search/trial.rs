//! One search trial: the ConvAE of a grid point trained on a number of training images with the
//! shared loop (Adam + L2, constant learning rate as in the paper), scored on validation only —
//! as an autoencoder, or as a denoiser (the DAE's search: noisy input, clean target) when a
//! noise amount is given.

use burn::prelude::*;

use super::grid::SearchPoint;
use super::halving::TrialOutcome;
use crate::data::Dataset;
use crate::data::mnist::images_tensor;
use crate::data::noise::add_gaussian_noise;
use crate::eval;
use crate::model::ConvAeConfig;
use crate::train::tasks::VALIDATION_NOISE_SEED;
use crate::train::{FitConfig, FitError, Optimizer, Schedule, fit};

/// Batch size of search trials: small budgets need many steps to tell configurations apart.
pub const SEARCH_BATCH: usize = 64;

/// What a trial trains and scores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TrialTask {
    /// Reconstruct the image (the ConvAE).
    Autoencoder,
    /// Reconstruct the clean image from clip(x + a·N(0, 1), 0, 1) (the DAE at noise a).
    Denoiser { noise_amount: f32 },
}

/// Trains `point` on `samples` images of `train` (whole passes over a prefix of it when
/// `samples` exceeds its size) for `task` and returns the task's MSE on `valid`.
pub fn conv_ae_trial(
    point: &SearchPoint,
    samples: usize,
    task: TrialTask,
    (train, valid): (&Dataset, &Dataset),
    device: &Device,
    seed: u64,
) -> Result<TrialOutcome, String> {
    if train.is_empty() || valid.is_empty() {
        return Err("empty training or validation data".into());
    }
    let epochs = samples.div_ceil(train.len());
    let per_epoch = samples.div_ceil(epochs);
    let config = ConvAeConfig::new()
        .with_c1(point.c1)
        .with_c2(point.c2)
        .with_c3(point.c3)
        .with_fc(point.fc)
        .with_dropout(point.dropout);
    let fit_config = FitConfig {
        epochs,
        patience: epochs,
        batch_size: SEARCH_BATCH,
        lr: point.lr,
        weight_decay: point.l2,
        optimizer: Optimizer::Adam,
        encoder_weight_decay: None,
        encoder_params: None,
        schedule: Schedule::Constant,
        seed,
        average_from: None,
    };
    let start = std::time::Instant::now();
    let ad = device.clone().autodiff();
    ad.seed(seed);
    let result = fit(
        config.init(&ad),
        &fit_config,
        per_epoch,
        |model, batch, rng| {
            let clean = train.pixels(batch);
            let mut input = clean.clone();
            if let TrialTask::Denoiser { noise_amount } = task {
                add_gaussian_noise(&mut input, noise_amount, rng);
            }
            model.mse(images_tensor(input, &ad), images_tensor(clean, &ad))
        },
        |model| match task {
            TrialTask::Autoencoder => eval::ae_metrics(model, valid, device).mse,
            TrialTask::Denoiser { noise_amount } => {
                eval::dae_metrics(model, valid, noise_amount, VALIDATION_NOISE_SEED, device).mse
            }
        },
        "trial",
        true,
    );
    match result {
        Ok(outcome) => Ok(TrialOutcome {
            valid_mse: outcome.best_valid_loss,
            seconds: outcome.seconds,
        }),
        // A diverged configuration is a result (ranked last), not a failure of the search.
        Err(FitError::Diverged { .. }) => Ok(TrialOutcome {
            valid_mse: f64::NAN,
            seconds: start.elapsed().as_secs_f64(),
        }),
        Err(e) => Err(e.to_string()),
    }
}
