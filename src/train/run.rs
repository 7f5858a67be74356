//! A training run's directory (`runs/<id>/` by default): `run.json` says what the run is —
//! model, architecture, every hyperparameter, the data (with hashes), the starting weights —
//! so that `train --resume` rebuilds it without any flag. Epoch checkpoints are written beside
//! it, and a finished run ends as a weights directory of its own (`manifest.json` and
//! content-named files) holding training and validation figures only, ready to be published.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::Device;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::checkpoint::CHECKPOINT_FILE;
use super::fit::{EpochStats, FitConfig};
use super::outliers::OutlierExposure;
use super::tasks::{self, Context, Trained};
use crate::data::TrainingData;
use crate::data::augment::AugmentConfig;
use crate::data::mnist::TRAINING_FILES;
use crate::fs_util::{pause_point, write_atomic};
use crate::model::weights_dir::{MANIFEST_FILE, NewModel, StoreError, WeightsDir, sha256_hex};
use crate::model::{
    ClassifierConfig, ConvAeConfig, DaeWideConfig, ModelEntry, ModelKind, VaeConfig,
};

pub const RUN_FILE: &str = "run.json";
/// The weights a run starts from (a warm start, or the classifier's encoder), copied into the
/// run so that it does not depend on another directory staying as it was.
pub const START_FILE: &str = "start.bpk";

/// The data a run trains on.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DataSpec {
    pub dir: String,
    /// SHA-256 of the four IDX files: a resumed or published run must see the same data.
    pub sha256: BTreeMap<String, String>,
    /// The last `valid_size` images of the training file are the validation split.
    pub valid_size: usize,
    /// Only the first N training images (smoke runs).
    pub limit_train: Option<usize>,
}

impl DataSpec {
    /// The training and validation splits, checked against the recorded hashes, split and
    /// limited as recorded. The test files are not read (runs of earlier versions also recorded
    /// their hashes: `publish` checks those).
    pub fn load(&self) -> Result<TrainingData, RunError> {
        let dir = Path::new(&self.dir);
        let hashes = data_hashes(dir, &TRAINING_FILES)?;
        let changed = self
            .sha256
            .iter()
            .filter(|(f, _)| TRAINING_FILES.contains(&f.as_str()))
            .find(|(f, h)| hashes.get(*f) != Some(h));
        if let Some((file, _)) = changed {
            return Err(RunError::DataChanged {
                dir: dir.display().to_string(),
                file: file.clone(),
            });
        }
        let mut data = TrainingData::load(dir, self.valid_size)?;
        if let Some(n) = self.limit_train {
            data.train = data.train.slice(0..n.min(data.train.len()));
        }
        Ok(data)
    }
}

/// The finished model a run starts from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StartFrom {
    /// Where the weights came from (for the record; the run holds a copy, [`START_FILE`]).
    pub dir: String,
    /// Manifest key of the model they came from.
    pub model: String,
    pub sha256: String,
    /// Its manifest entry and history: a warm start carries them into the new entry.
    pub entry: ModelEntry,
    pub history: Vec<EpochStats>,
}

/// `run.json`.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSpec {
    pub id: String,
    /// Manifest key of the model trained.
    pub model: String,
    /// The model's config (`ConvAeConfig`, `VaeConfig`, …) as JSON.
    pub architecture: Value,
    pub fit: FitConfig,
    pub noise_amount: Option<f32>,
    pub encoder_noise: Option<f32>,
    pub augment: Option<AugmentConfig>,
    /// Non-digits in the best classifier's batches (absent in runs recorded before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outliers: Option<OutlierExposure>,
    /// A warm start (`--init-from`), or for the paper classifier the ConvAE whose encoder it
    /// uses.
    pub start: Option<StartFrom>,
    pub data: DataSpec,
    pub backend: String,
    pub threads: usize,
    pub created_at: String,
}

impl RunSpec {
    pub fn kind(&self) -> Result<ModelKind, RunError> {
        ModelKind::ALL
            .into_iter()
            .find(|k| k.key() == self.model)
            .ok_or_else(|| RunError::Spec(format!("unknown model `{}`", self.model)))
    }

    /// Checks everything a run needs before any work: architecture sizes, optimisation
    /// settings, noise amounts. Messages name the setting.
    pub fn check(&self) -> Result<(), RunError> {
        let kind = self.kind()?;
        let bad = |e: String| RunError::Spec(e);
        let arch = |e: crate::model::ArchitectureError| bad(format!("model.{e}"));
        match kind {
            ModelKind::Ae | ModelKind::Dae => {
                self.config::<ConvAeConfig>()?.check().map_err(arch)?
            }
            ModelKind::DaeWide => self.config::<DaeWideConfig>()?.check().map_err(arch)?,
            ModelKind::Vae => self.config::<VaeConfig>()?.check().map_err(arch)?,
            ModelKind::Classifier | ModelKind::ClassifierBest => {
                self.config::<ClassifierConfig>()?.check().map_err(arch)?
            }
        }
        self.fit.validate().map_err(bad)?;
        if let Some(a) = self.noise_amount
            && !(a.is_finite() && (0.0..=1.0).contains(&a))
        {
            return Err(bad(format!("noise_amount must be in [0, 1], got {a}")));
        }
        if let Some(s) = self.encoder_noise
            && !(s.is_finite() && (0.0..=1.0).contains(&s))
        {
            return Err(bad(format!("encoder_noise must be in [0, 1], got {s}")));
        }
        if let Some(o) = &self.outliers {
            if kind != ModelKind::ClassifierBest {
                return Err(bad(
                    "outlier exposure is for the best classifier only".into()
                ));
            }
            o.check().map_err(bad)?;
        }
        if matches!(kind, ModelKind::Dae | ModelKind::DaeWide) && self.noise_amount.is_none() {
            return Err(bad("a denoiser needs noise_amount".into()));
        }
        if kind == ModelKind::Classifier && self.start.is_none() {
            return Err(bad(
                "the paper classifier needs the ConvAE it starts from".into()
            ));
        }
        if self.data.valid_size == 0 {
            return Err(bad("valid_size must be at least 1".into()));
        }
        Ok(())
    }

    /// Marks a manifest as holding this run's model: its data hashes, backend and threads.
    pub fn stamp(&self, manifest: &mut crate::model::Manifest) {
        manifest.data.sha256 = self.data.sha256.clone();
        manifest.backend = self.backend.clone();
        manifest.threads = self.threads;
    }

    fn config<C: serde::de::DeserializeOwned>(&self) -> Result<C, RunError> {
        serde_json::from_value(self.architecture.clone())
            .map_err(|e| RunError::Spec(format!("model architecture: {e}")))
    }

    /// The manifest's hyperparameters: the optimisation settings, the architecture under
    /// `model`, and what else shaped the run.
    fn hyperparameters(&self, kind: ModelKind) -> Value {
        let mut h = serde_json::to_value(&self.fit).expect("FitConfig serialises");
        h["model"] = self.architecture.clone();
        if let Some(a) = self.noise_amount {
            h["noise_amount"] = json!(a);
        }
        if let Some(s) = self.encoder_noise.filter(|s| *s > 0.0) {
            h["encoder_noise"] = json!(s);
        }
        if matches!(kind, ModelKind::Classifier | ModelKind::ClassifierBest) {
            h["augment"] = json!(self.augment);
        }
        if let Some(o) = &self.outliers {
            h["outliers"] = json!(o);
        }
        if kind == ModelKind::Classifier {
            h["frozen"] = json!("encoder convolutions");
        }
        h["valid_size"] = json!(self.data.valid_size);
        h
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Spec(String),
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{0}")]
    Data(#[from] crate::data::mnist::LoadError),
    #[error(
        "{dir}: the data changed since the run started ({file} has another SHA-256); resume with the data it was started on"
    )]
    DataChanged { dir: String, file: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Train(#[from] tasks::TrainError),
    #[error(
        "{0}: the run is finished (its model is in manifest.json); publish it or start a new run"
    )]
    Finished(String),
    #[error(
        "{0}: another process is training this run now; wait for it to end (or stop it) before resuming"
    )]
    Busy(String),
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> RunError + '_ {
    move |e| RunError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// SHA-256 of the IDX `files` in `dir`.
pub fn data_hashes(dir: &Path, files: &[&str]) -> Result<BTreeMap<String, String>, RunError> {
    files
        .iter()
        .map(|f| {
            let path = dir.join(f);
            let bytes = std::fs::read(&path).map_err(io_error(&path))?;
            Ok((f.to_string(), sha256_hex(&bytes)))
        })
        .collect()
}

/// Seconds since the Unix epoch as RFC 3339 UTC (`2026-12-01T19:45:55Z`).
pub fn utc_timestamp(unix_seconds: u64) -> String {
    i64::try_from(unix_seconds)
        .ok()
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc_timestamp(secs)
}

/// Where a run stands.
#[derive(Debug, PartialEq, Eq)]
pub enum RunState {
    /// Created; no epoch finished yet.
    New,
    /// Epochs done so far.
    InProgress(usize),
    Finished,
}

/// An opened run directory.
pub struct Run {
    pub dir: PathBuf,
    pub spec: RunSpec,
}

impl Run {
    /// Creates the run directory `dir` (which must not exist, be empty, or hold only what a
    /// creation killed before it finished left) with its spec and starting weights. The
    /// directory is assembled beside `dir` under a temporary name and renamed into place: a
    /// kill at any instant leaves no run, or the whole run.
    pub fn create(
        dir: &Path,
        spec: RunSpec,
        start_weights: Option<&[u8]>,
    ) -> Result<Self, RunError> {
        spec.check()?;
        check_reusable(dir)?;
        let staging = staging_dir(dir)?;
        let result = (|| {
            std::fs::create_dir_all(&staging).map_err(io_error(&staging))?;
            if let Some(bytes) = start_weights {
                let path = staging.join(START_FILE);
                write_atomic(&path, bytes).map_err(io_error(&path))?;
            }
            let path = staging.join(RUN_FILE);
            let json = serde_json::to_vec_pretty(&spec).expect("RunSpec serialises");
            write_atomic(&path, &json).map_err(io_error(&path))?;
            pause_point("run:staged");
            if dir.exists() {
                // An empty directory, or one a killed creation left: replaced as a whole.
                std::fs::remove_dir_all(dir).map_err(io_error(dir))?;
            }
            std::fs::rename(&staging, dir).map_err(io_error(dir))?;
            let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
            crate::fs_util::sync_dir(parent.unwrap_or(Path::new("."))).map_err(io_error(dir))
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        result?;
        pause_point("run:created");
        Ok(Self {
            dir: dir.to_path_buf(),
            spec,
        })
    }

    /// Opens an existing run directory.
    pub fn open(dir: &Path) -> Result<Self, RunError> {
        let path = dir.join(RUN_FILE);
        let text = std::fs::read(&path).map_err(|e| RunError::Io {
            path: path.display().to_string(),
            reason: format!("{e} (not a run directory made by `digit-lab train`)"),
        })?;
        let spec: RunSpec = serde_json::from_slice(&text).map_err(|e| RunError::Io {
            path: path.display().to_string(),
            reason: format!("unreadable run spec: {e}"),
        })?;
        spec.check().map_err(|e| RunError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            spec,
        })
    }

    /// Where the run stands; a `checkpoint.json` that cannot be read is an error here, before
    /// anything says what will happen next.
    pub fn state(&self) -> Result<RunState, RunError> {
        if self.dir.join(MANIFEST_FILE).exists() {
            // A commit killed after the store's first (empty) manifest has not finished the run.
            let store = WeightsDir::open(&self.dir)?;
            if store.manifest.models.contains_key(&self.spec.model) {
                return Ok(RunState::Finished);
            }
        }
        let path = self.dir.join(CHECKPOINT_FILE);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RunState::New),
            Err(e) => return Err(io_error(&path)(e)),
        };
        let damaged = |reason: String| RunError::Io {
            path: path.display().to_string(),
            reason: format!("damaged checkpoint: {reason}"),
        };
        let index: Value = serde_json::from_slice(&text).map_err(|e| damaged(e.to_string()))?;
        let epochs = index["progress"]["epochs_done"]
            .as_u64()
            .ok_or_else(|| damaged("no progress.epochs_done".into()))?;
        Ok(RunState::InProgress(epochs as usize))
    }

    /// Holds the run for this process while it trains: a second `train --resume` of the same
    /// run is refused instead of racing the first. Released when the file is dropped (or the
    /// process dies).
    pub fn lock(&self) -> Result<std::fs::File, RunError> {
        let path = self.dir.join(RUN_FILE);
        let file = std::fs::File::open(&path).map_err(io_error(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(RunError::Busy(self.dir.display().to_string()))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(io_error(&path)(e)),
        }
    }

    /// The run's training and validation splits, checked against the hashes it was started
    /// with.
    pub fn data(&self) -> Result<TrainingData, RunError> {
        self.spec.data.load()
    }

    fn start_weights(&self) -> Result<Option<Vec<u8>>, RunError> {
        let Some(start) = &self.spec.start else {
            return Ok(None);
        };
        let path = self.dir.join(START_FILE);
        let bytes = std::fs::read(&path).map_err(io_error(&path))?;
        if sha256_hex(&bytes) != start.sha256 {
            return Err(RunError::Io {
                path: path.display().to_string(),
                reason: "does not match the SHA-256 in run.json".into(),
            });
        }
        Ok(Some(bytes))
    }

    /// Trains the run to its end, from its last checkpoint if it has one, and commits the model
    /// into the run directory's own manifest.
    pub fn train(
        &self,
        data: &TrainingData,
        device: &Device,
        quiet: bool,
    ) -> Result<ModelEntry, RunError> {
        let _lock = self.lock()?;
        if self.state()? == RunState::Finished {
            return Err(RunError::Finished(self.dir.display().to_string()));
        }
        let spec = &self.spec;
        let kind = spec.kind()?;
        let ctx = Context {
            data,
            device: device.clone(),
            quiet,
            run_dir: &self.dir,
        };
        let start = self.start_weights()?;
        let warm = start.as_deref().filter(|_| kind != ModelKind::Classifier);
        let label = kind.key();
        let trained = match kind {
            ModelKind::Ae | ModelKind::Dae => {
                let config: ConvAeConfig = spec.config()?;
                let fresh = |d: &Device| config.init(d);
                let noise = spec.noise_amount;
                tasks::train_autoencoder(&ctx, label, fresh, &spec.fit, noise, warm)?
            }
            ModelKind::DaeWide => {
                let config: DaeWideConfig = spec.config()?;
                let fresh = |d: &Device| config.init(d);
                let noise = Some(spec.noise_amount.unwrap_or_default());
                tasks::train_autoencoder(&ctx, label, fresh, &spec.fit, noise, warm)?
            }
            ModelKind::Vae => tasks::train_vae(
                &ctx,
                &spec.config()?,
                &spec.fit,
                spec.encoder_noise.unwrap_or(0.0),
                warm,
            )?,
            ModelKind::Classifier => tasks::train_classifier(
                &ctx,
                &spec.config()?,
                start.as_deref().unwrap_or_default(),
                &spec.fit,
                spec.augment.as_ref(),
            )?,
            ModelKind::ClassifierBest => tasks::train_classifier_best(
                &ctx,
                &spec.config()?,
                &spec.fit,
                &spec.augment.clone().unwrap_or_default(),
                spec.outliers.as_ref(),
                warm,
            )?,
        };
        self.finish(kind, trained)
    }

    /// Writes the finished model into the run's own manifest (a weights directory).
    fn finish(&self, kind: ModelKind, mut trained: Trained) -> Result<ModelEntry, RunError> {
        let spec = &self.spec;
        let mut hyperparameters = spec.hyperparameters(kind);
        // A warm start's history and time are carried in, so that the entry tells the whole
        // cost and the loss curves show every phase.
        if let Some(start) = spec
            .start
            .as_ref()
            .filter(|_| kind != ModelKind::Classifier)
        {
            let offset = start.history.len();
            for stats in &mut trained.history {
                stats.epoch += offset;
            }
            trained.best_epoch += offset;
            trained.history.splice(0..0, start.history.iter().cloned());
            trained.seconds += start.entry.train_seconds;
            hyperparameters["warm_start"] = json!({
                "from": start.dir,
                "epochs": offset,
                "best_valid_loss": start.entry.best_valid_loss,
                "train_seconds": start.entry.train_seconds,
                "hyperparameters": start.entry.hyperparameters,
            });
        }
        if let Some(start) = spec
            .start
            .as_ref()
            .filter(|_| kind == ModelKind::Classifier)
        {
            hyperparameters["encoder_from"] = json!({ "dir": start.dir, "sha256": start.sha256 });
        }
        let entry = ModelEntry {
            file: String::new(),
            sha256: None,
            hyperparameters,
            epochs: trained.history.len(),
            best_epoch: trained.best_epoch,
            best_valid_loss: trained.best_valid_loss,
            train_seconds: trained.seconds,
            history: String::new(),
            backend: spec.backend.clone(),
            threads: spec.threads,
            test: Value::Null,
            limit_train: spec.data.limit_train,
            run_id: Some(spec.id.clone()),
            published_at: None,
            data_sha256: Some(spec.data.sha256.clone()),
        };
        let history = serde_json::to_vec_pretty(&trained.history).expect("history serialises");
        let mut store = WeightsDir::open_or_create(&self.dir)?;
        store.commit(
            vec![NewModel {
                kind,
                entry,
                weights: trained.weights,
                history,
            }],
            |manifest| spec.stamp(manifest),
        )?;
        Ok(store.manifest.models[kind.key()].clone())
    }
}

/// Whether `dir` may become a new run: absent, an empty directory, or a directory without
/// `run.json` holding only what an interrupted creation writes (its start weights and
/// temporary files).
pub fn check_reusable(dir: &Path) -> Result<(), RunError> {
    let taken = || {
        RunError::Spec(format!(
            "{}: already exists (resume it with `train --resume {0}`, or choose another --run-dir)",
            dir.display()
        ))
    };
    if dir.symlink_metadata().is_err() {
        return Ok(());
    }
    if !dir.is_dir() {
        return Err(taken());
    }
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let name = entry.map_err(io_error(dir))?.file_name();
        let name = name.to_string_lossy();
        let leftover = name == START_FILE || (name.starts_with('.') && name.contains(".tmp-"));
        if !leftover {
            return Err(taken());
        }
    }
    Ok(())
}

/// The temporary name a run directory is assembled under: `.<name>.creating-<pid>` beside it.
fn staging_dir(dir: &Path) -> Result<PathBuf, RunError> {
    let name = dir
        .file_name()
        .ok_or_else(|| RunError::Spec(format!("{}: not a directory name", dir.display())))?;
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    let staging = format!(
        ".{}{}{}",
        name.to_string_lossy(),
        crate::fs_util::STAGING_MARKER,
        std::process::id()
    );
    let staging = parent.unwrap_or(Path::new(".")).join(staging);
    crate::fs_util::sweep_dead_staging_dirs(parent.unwrap_or(Path::new(".")))
        .map_err(io_error(dir))?;
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io_error(&staging))?;
    }
    Ok(staging)
}

/// A new run directory's name: `<model>-<UTC time>-s<seed>`, with a suffix if it is taken.
pub fn new_run_dir(runs: &Path, kind: ModelKind, seed: u64) -> PathBuf {
    let stamp: String = now_utc()
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    let base = format!("{}-{stamp}-s{seed}", kind.key());
    let mut dir = runs.join(&base);
    let mut n = 2;
    while dir.exists() {
        dir = runs.join(format!("{base}-{n}"));
        n += 1;
    }
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_796_154_355), "2026-12-01T19:45:55Z");
    }
}
