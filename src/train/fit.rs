//! The training loop shared by every model: Adam with L2 weight decay (or AdamW), an optional
//! cosine learning-rate decay, early stopping on validation loss with the best weights kept, an
//! indicatif progress bar per epoch and a per-epoch history; optionally stochastic weight
//! averaging over the last epochs.

use std::time::Instant;

use burn::module::{Module, ParamGroup};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use super::average::WeightAverage;
use super::step;

/// How the learning rate changes over training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// The same learning rate throughout (the paper).
    Constant,
    /// Cosine decay from the learning rate to 0 over the maximum number of epochs.
    Cosine,
}

/// How the weight decay enters Adam.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// Adam with the L2 penalty added to the gradients (PyTorch's `Adam(weight_decay=…)`).
    #[default]
    Adam,
    /// AdamW (Loshchilov & Hutter, 2019): the weights shrink by lr·decay·θ per step, apart
    /// from Adam's normalised step, so a parameter with small gradients is not decayed faster
    /// than the others.
    #[value(name = "adamw")]
    AdamW,
}

impl Optimizer {
    fn is_adam(&self) -> bool {
        *self == Optimizer::Adam
    }
}

/// Most epochs a run may ask for.
pub const MAX_EPOCHS: usize = 100_000;
/// Largest batch accepted: activations of a batch this size of the widest model fit in a few
/// GB; beyond it a typo would exhaust the memory before the first step.
pub const MAX_BATCH: usize = 16_384;

/// Optimisation settings of one training run.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FitConfig {
    /// Maximum epochs.
    pub epochs: usize,
    /// Epochs without a better validation loss before stopping.
    pub patience: usize,
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Weight decay: with Adam the L2 penalty added to the gradients (PyTorch's Adam
    /// `weight_decay`), with AdamW the decoupled decay rate.
    pub weight_decay: f64,
    /// Adam's flavour of weight decay.
    #[serde(default, skip_serializing_if = "Optimizer::is_adam")]
    pub optimizer: Optimizer,
    /// Weight decay of the parameters in `encoder_params` where it differs from
    /// `weight_decay` (the VAE's encoder).
    pub encoder_weight_decay: Option<f64>,
    /// The parameters `encoder_weight_decay` applies to, set by the task that knows the model.
    #[serde(skip)]
    pub encoder_params: Option<ParamGroup>,
    pub schedule: Schedule,
    pub seed: u64,
    /// From this epoch on, validate (and keep as best) the mean of the weights at the end of
    /// every epoch so far instead of the last weights: stochastic weight averaging.
    pub average_from: Option<usize>,
}

impl FitConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return Err(format!(
                "epochs must be in 1..={MAX_EPOCHS}, got {}",
                self.epochs
            ));
        }
        if !(1..=MAX_BATCH).contains(&self.batch_size) {
            return Err(format!(
                "batch size must be in 1..={MAX_BATCH}, got {}",
                self.batch_size
            ));
        }
        if self.patience == 0 {
            return Err("patience must be at least 1 epoch".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 1.0) {
            return Err(format!("learning rate must be in (0, 1], got {}", self.lr));
        }
        for decay in [Some(self.weight_decay), self.encoder_weight_decay]
            .into_iter()
            .flatten()
        {
            if !(decay.is_finite() && decay >= 0.0) {
                return Err(format!("weight decay must be >= 0, got {decay}"));
            }
        }
        if self
            .average_from
            .is_some_and(|start| start == 0 || start > self.epochs)
        {
            return Err(format!(
                "weight averaging must start between epoch 1 and {}",
                self.epochs
            ));
        }
        Ok(())
    }

    /// The optimiser: one for every parameter, and a second for the encoder's where its
    /// weight decay differs.
    fn optimizer(&self) -> ModuleOptimizer {
        match self.optimizer {
            Optimizer::Adam => self.grouped(|decay| {
                AdamConfig::new()
                    .with_epsilon(1e-8)
                    .with_weight_decay(Some(WeightDecayConfig::new(decay)))
                    .build()
            }),
            Optimizer::AdamW => self.grouped(|decay| {
                AdamWConfig::new()
                    .with_epsilon(1e-8)
                    .with_weight_decay(decay)
                    .build()
            }),
        }
    }

    fn grouped<O: burn::optim::Optimizer + 'static>(
        &self,
        with_decay: impl Fn(f32) -> O,
    ) -> ModuleOptimizer {
        let optimizer = ModuleOptimizer::from(with_decay(self.weight_decay as f32));
        match (&self.encoder_params, self.encoder_weight_decay) {
            (Some(group), Some(decay)) => {
                optimizer.with_group(group.clone(), with_decay(decay as f32), None)
            }
            _ => optimizer,
        }
    }
}

/// One epoch of the history file.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochStats {
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (dropout active).
    pub train_loss: f64,
    pub valid_loss: f64,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    pub seconds: f64,
    pub train_samples_per_second: f64,
    /// How many epochs' weights the validated model averages (weight averaging only).
    pub averaged_epochs: Option<usize>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FitError {
    #[error("{0}")]
    Config(String),
    #[error("no training data")]
    NoData,
    /// A loss became NaN or infinite (too high a learning rate, usually).
    #[error(
        "{label}: the {what} became {value} at epoch {epoch}; nothing was written for this epoch (lower --lr, or check --noise-amount and the data)"
    )]
    Diverged {
        label: String,
        value: f64,
        epoch: usize,
        what: &'static str,
    },
    /// Writing the epoch's checkpoint failed.
    #[error("writing the checkpoint: {0}")]
    Checkpoint(String),
}

/// What training returns: the best model (validation mode, parameters rounded to the storage
/// precision) and how it got there.
pub struct FitOutcome<M> {
    pub model: M,
    pub history: Vec<EpochStats>,
    pub best_epoch: usize,
    pub best_valid_loss: f64,
    pub seconds: f64,
}

/// Where a run stands after an epoch: everything a checkpoint holds besides tensors.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    /// Epochs completed.
    pub epochs_done: usize,
    pub history: Vec<EpochStats>,
    /// Best epoch so far and its validation loss.
    pub best_epoch: usize,
    pub best_valid_loss: f64,
    /// Training time so far, over every process that worked on the run.
    pub seconds: f64,
    /// Epochs' weights summed into the average (weight averaging).
    pub averaged: usize,
    /// Early stopping ended the run (no further epochs).
    pub stopped: bool,
}

/// The complete state of a run between two epochs: resuming from it gives the same run as
/// never stopping. The data order, the training RNG and the backend's dropout RNG of epoch `e`
/// are derived from (seed, e), so they need no state of their own.
pub struct FitState<M> {
    pub progress: Progress,
    /// The training model (autodiff device, parameter ids kept).
    pub model: M,
    /// Adam's moments and step count, keyed by parameter id.
    pub optimizer: ModuleOptimizer,
    /// The best validated model so far (validation mode).
    pub best: Option<M>,
    pub average: WeightAverage,
}

/// Optional parts of a run: a state to resume from, a device whose RNG (dropout) is reseeded
/// every epoch, and a function that saves each epoch's state (a checkpoint).
pub struct FitHooks<'a, M> {
    pub resume: Option<FitState<M>>,
    pub device: Option<&'a Device>,
    #[allow(clippy::type_complexity)]
    pub on_epoch: Option<&'a mut dyn FnMut(&FitState<M>) -> Result<(), String>>,
}

impl<M> Default for FitHooks<'_, M> {
    fn default() -> Self {
        Self {
            resume: None,
            device: None,
            on_epoch: None,
        }
    }
}

/// A seed for epoch `epoch` of a run seeded `seed` (splitmix64, so neighbouring seeds and epochs
/// give unrelated streams); `stream` separates the data-order RNG from the backend's.
pub fn epoch_seed(seed: u64, epoch: usize, stream: u64) -> u64 {
    let mut z = seed
        ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl FitConfig {
    /// A fresh optimiser for this configuration (to load a checkpoint's state into).
    pub fn new_optimizer(&self) -> ModuleOptimizer {
        self.optimizer()
    }
}

/// What a run trains on and how it reports: everything [`fit_with`] needs besides the model and
/// its hooks.
pub struct FitTask<'a, T, V> {
    pub config: &'a FitConfig,
    /// Training images; an epoch visits each once, in an order drawn from (seed, epoch).
    pub train_len: usize,
    /// `train_loss(model, batch_indices, rng)` builds a training batch and returns its mean loss.
    pub train_loss: T,
    /// `valid_loss(model)` returns the loss on the whole validation split for a model in
    /// validation mode.
    pub valid_loss: V,
    /// Names the run on the progress bar and in messages.
    pub label: &'a str,
    /// No progress bar and no messages.
    pub quiet: bool,
}

/// Trains `model` (whose parameters live on an autodiff device).
///
/// `train_loss(model, batch_indices, rng)` builds a training batch and returns its mean loss;
/// `valid_loss(model)` returns the loss on the whole validation split for a model in
/// validation mode. `label` names the run on the progress bar.
pub fn fit<M: Module + Clone + Send + Sync>(
    model: M,
    config: &FitConfig,
    train_len: usize,
    train_loss: impl Fn(&M, &[usize], &mut StdRng) -> Tensor<1> + Sync,
    valid_loss: impl FnMut(&M) -> f64,
    label: &str,
    quiet: bool,
) -> Result<FitOutcome<M>, FitError> {
    let task = FitTask {
        config,
        train_len,
        train_loss,
        valid_loss,
        label,
        quiet,
    };
    fit_with(model, task, FitHooks::default())
}

/// [`fit`] with a checkpoint hook, a state to resume from and per-epoch reseeding.
///
/// The run is a state machine over [`FitState`]: each epoch takes the state after the previous
/// one to the next (train, validate, judge, checkpoint) until the epochs run out or early
/// stopping ends it. Its parts: the learning-rate [`Schedule`], weight averaging
/// ([`FitConfig::average_from`]), early stopping (`patience`) and the checkpoint hook.
pub fn fit_with<M, T, V>(
    model: M,
    task: FitTask<'_, T, V>,
    hooks: FitHooks<'_, M>,
) -> Result<FitOutcome<M>, FitError>
where
    M: Module + Clone + Send + Sync,
    T: Fn(&M, &[usize], &mut StdRng) -> Tensor<1> + Sync,
    V: FnMut(&M) -> f64,
{
    let config = task.config;
    check(config, task.train_len)?;
    let steps_per_epoch = task.train_len.div_ceil(config.batch_size);
    let mut state = hooks.resume.unwrap_or_else(|| FitState {
        progress: Progress::default(),
        model,
        optimizer: config.optimizer(),
        best: None,
        average: WeightAverage::default(),
    });
    let mut run = FitRun {
        schedule: LrSchedule::new(config, steps_per_epoch, state.progress.epochs_done)?,
        stopping: EarlyStopping {
            patience: config.patience,
        },
        device: hooks.device,
        on_epoch: hooks.on_epoch,
        steps_per_epoch,
        // One batch part per thread (see `step`); results depend on the count, so a run
        // records it.
        threads: rayon::current_num_threads(),
        started: Instant::now(),
        seconds_before: state.progress.seconds,
        task,
    };
    while let Some(epoch) = run.next_epoch(&state.progress) {
        state = run.epoch(state, epoch)?;
    }
    let progress = state.progress;
    let model = state.best.ok_or_else(|| {
        FitError::Config("the run holds no validated epoch (no epoch ran)".into())
    })?;
    Ok(FitOutcome {
        // As it will be saved, so that the metrics describe the weights file.
        model: crate::model::store::rounded_to_storage(model),
        history: progress.history,
        best_epoch: progress.best_epoch,
        best_valid_loss: progress.best_valid_loss,
        seconds: progress.seconds,
    })
}

/// The configuration is valid for a run on `train_len` images.
fn check(config: &FitConfig, train_len: usize) -> Result<(), FitError> {
    config.validate().map_err(FitError::Config)?;
    if config.encoder_weight_decay.is_some() && config.encoder_params.is_none() {
        return Err(FitError::Config(
            "a separate encoder weight decay is for the VAE only".into(),
        ));
    }
    if train_len == 0 {
        return Err(FitError::NoData);
    }
    Ok(())
}

/// The learning rate of each step: the configured one, or the cosine decay over every step of
/// the run.
struct LrSchedule {
    lr: f64,
    cosine: Option<ModuleLrScheduler>,
}

impl LrSchedule {
    /// The schedule of a run that has finished `epochs_done` epochs.
    fn new(
        config: &FitConfig,
        steps_per_epoch: usize,
        epochs_done: usize,
    ) -> Result<Self, FitError> {
        let mut cosine = match config.schedule {
            Schedule::Constant => None,
            Schedule::Cosine => Some(
                CosineAnnealingLrSchedulerConfig::new(config.lr, config.epochs * steps_per_epoch)
                    .init()
                    .map_err(FitError::Config)?,
            ),
        };
        // The schedule is a function of the step: replay it to where a resumed run stopped.
        if let Some(s) = cosine.as_mut() {
            for _ in 0..epochs_done * steps_per_epoch {
                s.step();
            }
        }
        Ok(Self {
            lr: config.lr,
            cosine,
        })
    }

    /// The learning rate of the next step.
    fn next(&mut self) -> f64 {
        match self.cosine.as_mut() {
            Some(s) => s.step().base(),
            None => self.lr,
        }
    }
}

/// Early stopping on the validation loss.
struct EarlyStopping {
    /// Epochs without a better validation loss before stopping.
    patience: usize,
}

/// What early stopping makes of an epoch's validation loss.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Judgement {
    /// Better than every epoch before (or the first): the new best model.
    Improved,
    /// Not better, and patience is left.
    Waiting,
    /// Not better for `patience` epochs: the run ends.
    Stop,
}

impl EarlyStopping {
    fn judge(&self, progress: &Progress, has_best: bool, epoch: usize, valid: f64) -> Judgement {
        if !has_best || valid < progress.best_valid_loss {
            Judgement::Improved
        } else if epoch - progress.best_epoch >= self.patience {
            Judgement::Stop
        } else {
            Judgement::Waiting
        }
    }
}

/// An epoch's training steps, done.
struct TrainedEpoch<M> {
    model: M,
    /// Mean training loss over the epoch's batches.
    loss: f64,
    /// Learning rate of its last step.
    lr: f64,
    /// Seconds of the training steps (the samples-per-second figure).
    seconds: f64,
    /// Shown until the epoch is validated.
    bar: ProgressBar,
}

/// The parts of a run that do not change from epoch to epoch (besides the schedule's step).
struct FitRun<'t, 'h, M, T, V> {
    task: FitTask<'t, T, V>,
    schedule: LrSchedule,
    stopping: EarlyStopping,
    /// The hooks' device and checkpoint function.
    device: Option<&'h Device>,
    #[allow(clippy::type_complexity)]
    on_epoch: Option<&'h mut dyn FnMut(&FitState<M>) -> Result<(), String>>,
    steps_per_epoch: usize,
    threads: usize,
    /// When this process started on the run, and the training seconds before it.
    started: Instant,
    seconds_before: f64,
}

impl<M, T, V> FitRun<'_, '_, M, T, V>
where
    M: Module + Clone + Send + Sync,
    T: Fn(&M, &[usize], &mut StdRng) -> Tensor<1> + Sync,
    V: FnMut(&M) -> f64,
{
    /// The epoch to run after `progress`, if any.
    fn next_epoch(&self, progress: &Progress) -> Option<usize> {
        (!progress.stopped && progress.epochs_done < self.task.config.epochs)
            .then_some(progress.epochs_done + 1)
    }

    /// One transition of the run: trains epoch `epoch`, validates, judges and checkpoints.
    fn epoch(&mut self, mut state: FitState<M>, epoch: usize) -> Result<FitState<M>, FitError> {
        let started = Instant::now();
        let trained = self.train(state.model, &mut state.optimizer, epoch)?;
        state.model = trained.model;
        let snapshot = self.validated_model(&state.model, &mut state.average, epoch)?;
        let valid = (self.task.valid_loss)(&snapshot);
        trained.bar.finish_and_clear();
        if !valid.is_finite() {
            return Err(self.diverged(valid, epoch, "validation loss"));
        }
        let averaged = state.average.count();
        let stats = EpochStats {
            epoch,
            train_loss: trained.loss,
            valid_loss: valid,
            lr: trained.lr,
            seconds: started.elapsed().as_secs_f64(),
            // A clock that did not advance must not put an infinity (JSON null) into the history.
            train_samples_per_second: self.task.train_len as f64 / trained.seconds.max(1e-9),
            averaged_epochs: (averaged > 0).then_some(averaged),
        };
        let judgement = self
            .stopping
            .judge(&state.progress, state.best.is_some(), epoch, valid);
        self.print_epoch(&stats, judgement);
        let progress = &mut state.progress;
        progress.history.push(stats);
        progress.epochs_done = epoch;
        progress.averaged = averaged;
        progress.seconds = self.seconds_before + self.started.elapsed().as_secs_f64();
        match judgement {
            Judgement::Improved => {
                state.best = Some(snapshot);
                progress.best_epoch = epoch;
                progress.best_valid_loss = valid;
            }
            Judgement::Waiting => {}
            Judgement::Stop => progress.stopped = true,
        }
        if let Some(save) = self.on_epoch.as_mut() {
            save(&state).map_err(FitError::Checkpoint)?;
        }
        Ok(state)
    }

    /// The training steps of epoch `epoch`: the data order, the training RNG and the device's
    /// are drawn from (seed, epoch), so that a resumed run takes the same steps.
    fn train(
        &mut self,
        mut model: M,
        optimizer: &mut ModuleOptimizer,
        epoch: usize,
    ) -> Result<TrainedEpoch<M>, FitError> {
        let started = Instant::now();
        let (config, train_len) = (self.task.config, self.task.train_len);
        let mut rng = StdRng::seed_from_u64(epoch_seed(config.seed, epoch, 0));
        if let Some(device) = self.device {
            device.seed(epoch_seed(config.seed, epoch, 1));
        }
        let mut order: Vec<usize> = (0..train_len).collect();
        order.shuffle(&mut rng);
        let bar = self.progress_bar(epoch);
        let (mut loss_sum, mut lr) = (0.0, config.lr);
        for (step, batch) in order.chunks(config.batch_size).enumerate() {
            lr = self.schedule.next();
            let (grads, loss) =
                step::gradients(&model, batch, self.threads, &mut rng, &self.task.train_loss);
            let value = f64::from(loss.into_scalar::<f32>());
            if !value.is_finite() {
                bar.abandon();
                return Err(self.diverged(value, epoch, "training loss"));
            }
            loss_sum += value;
            model = optimizer.step(lr, model, grads);
            bar.inc(1);
            bar.set_message(format!("loss {:.4}", loss_sum / (step + 1) as f64));
        }
        Ok(TrainedEpoch {
            model,
            loss: loss_sum / self.steps_per_epoch as f64,
            lr,
            seconds: started.elapsed().as_secs_f64(),
            bar,
        })
    }

    /// The model validated after epoch `epoch`: the last weights, or from `average_from` on
    /// the mean of every epoch's weights since (stochastic weight averaging).
    fn validated_model(
        &self,
        model: &M,
        average: &mut WeightAverage,
        epoch: usize,
    ) -> Result<M, FitError> {
        let snapshot = model.valid();
        let averaging = self
            .task
            .config
            .average_from
            .is_some_and(|start| epoch >= start);
        if !averaging {
            return Ok(snapshot);
        }
        average.add(&snapshot);
        average
            .apply(snapshot)
            .ok_or_else(|| FitError::Config("weight averaging lost track of a parameter".into()))
    }

    fn progress_bar(&self, epoch: usize) -> ProgressBar {
        let bar = if self.task.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(self.steps_per_epoch as u64)
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed} < {eta})",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        let label = self.task.label;
        bar.set_prefix(format!("{label} epoch {epoch}/{}", self.task.config.epochs));
        bar
    }

    fn print_epoch(&self, stats: &EpochStats, judgement: Judgement) {
        if self.task.quiet {
            return;
        }
        let label = self.task.label;
        eprintln!(
            "{label} epoch {:>3}: train {:.5}  valid {:.5}{}  lr {:.2e}  {:.1}s ({:.0} samples/s)",
            stats.epoch,
            stats.train_loss,
            stats.valid_loss,
            if judgement == Judgement::Improved {
                " *"
            } else {
                "  "
            },
            stats.lr,
            stats.seconds,
            stats.train_samples_per_second
        );
        if judgement == Judgement::Stop {
            eprintln!(
                "{label}: early stop, no improvement for {} epochs",
                self.task.config.patience
            );
        }
    }

    fn diverged(&self, value: f64, epoch: usize, what: &'static str) -> FitError {
        FitError::Diverged {
            label: self.task.label.to_string(),
            value,
            epoch,
            what,
        }
    }
}
