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
use super::tasks::{self, Context, Trained};
use crate::data::Mnist;
use crate::data::augment::AugmentConfig;
use crate::data::mnist::FILES;
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
    /// The data, checked against the recorded hashes, split and limited as recorded.
    pub fn load(&self) -> Result<Mnist, RunError> {
        let dir = Path::new(&self.dir);
        let hashes = data_hashes(dir)?;
        if let Some((file, _)) = self.sha256.iter().find(|(f, h)| hashes.get(*f) != Some(h)) {
            return Err(RunError::DataChanged {
                dir: dir.display().to_string(),
                file: file.clone(),
            });
        }
        let mut data = Mnist::load_split(dir, self.valid_size)?;
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
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> RunError + '_ {
    move |e| RunError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// SHA-256 of the four IDX files in `dir`.
pub fn data_hashes(dir: &Path) -> Result<BTreeMap<String, String>, RunError> {
    FILES
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
    let (days, secs) = (unix_seconds / 86_400, unix_seconds % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
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
    /// Creates the run directory `dir` (which must not exist, or be empty) with its spec and
    /// starting weights. `run.json` is written last: a directory without it is no run.
    pub fn create(
        dir: &Path,
        spec: RunSpec,
        start_weights: Option<&[u8]>,
    ) -> Result<Self, RunError> {
        spec.check()?;
        if dir.exists() {
            let empty = std::fs::read_dir(dir)
                .map_err(io_error(dir))?
                .next()
                .is_none();
            if !dir.is_dir() || !empty {
                return Err(RunError::Spec(format!(
                    "{}: already exists (resume it with `train --resume {0}`, or choose another --run-dir)",
                    dir.display()
                )));
            }
        }
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        if let Some(bytes) = start_weights {
            let path = dir.join(START_FILE);
            write_atomic(&path, bytes).map_err(io_error(&path))?;
        }
        let path = dir.join(RUN_FILE);
        let json = serde_json::to_vec_pretty(&spec).expect("RunSpec serialises");
        write_atomic(&path, &json).map_err(io_error(&path))?;
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

    pub fn state(&self) -> RunState {
        if self.dir.join(MANIFEST_FILE).exists() {
            return RunState::Finished;
        }
        let progress = std::fs::read(self.dir.join(CHECKPOINT_FILE))
            .ok()
            .and_then(|t| serde_json::from_slice::<Value>(&t).ok())
            .and_then(|v| v["progress"]["epochs_done"].as_u64());
        match progress {
            Some(epochs) => RunState::InProgress(epochs as usize),
            None => RunState::New,
        }
    }

    /// The run's data, checked against the hashes it was started with.
    pub fn data(&self) -> Result<Mnist, RunError> {
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
        data: &Mnist,
        device: &Device,
        quiet: bool,
    ) -> Result<ModelEntry, RunError> {
        if self.state() == RunState::Finished {
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
