//! `weights/manifest.json`: which file holds which model, its hyperparameters (architecture
//! included, so it can be rebuilt before its weights are applied), training facts and test metrics.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The trained models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    Ae,
    Dae,
    /// The stronger denoiser: the same architecture with a wider code (not a paper model).
    DaeWide,
    Vae,
    Classifier,
    ClassifierBest,
}

impl ModelKind {
    pub const ALL: [ModelKind; 6] = [
        ModelKind::Ae,
        ModelKind::Dae,
        ModelKind::DaeWide,
        ModelKind::Vae,
        ModelKind::Classifier,
        ModelKind::ClassifierBest,
    ];

    /// Key under `models` in the manifest.
    pub fn key(self) -> &'static str {
        match self {
            ModelKind::Ae => "ae",
            ModelKind::Dae => "dae",
            ModelKind::DaeWide => "dae_wide",
            ModelKind::Vae => "vae",
            ModelKind::Classifier => "classifier",
            ModelKind::ClassifierBest => "classifier_best",
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DataInfo {
    /// SHA-256 of the raw IDX files the models were trained and tested on.
    pub sha256: BTreeMap<String, String>,
}

#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelEntry {
    /// Weights file, relative to the manifest, named by its content (`<key>-<hash>.bpk`).
    pub file: String,
    /// SHA-256 of the weights file: checked when the model is loaded.
    pub sha256: Option<String>,
    /// Training hyperparameters; `hyperparameters.model` is the architecture.
    pub hyperparameters: Value,
    /// Epochs run (early stopping may end before the maximum).
    pub epochs: usize,
    /// Epoch whose weights were kept (lowest validation loss).
    pub best_epoch: usize,
    /// Best validation loss, in the model's loss unit.
    pub best_valid_loss: f64,
    pub train_seconds: f64,
    /// Per-epoch losses, relative to the manifest.
    pub history: String,
    /// burn backend and CPU threads used for training.
    pub backend: String,
    pub threads: usize,
    /// Test-set metrics as PROTOCOL.md defines them, measured once when the model was
    /// published; absent (null) in a training run's own store.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub test: Value,
    /// Training images used, when a run was limited to the first N (`--limit-train`).
    pub limit_train: Option<usize>,
    /// The run directory's id the model comes from.
    pub run_id: Option<String>,
    /// When the model was published into this store (RFC 3339, UTC), and so when its test
    /// metrics were measured.
    pub published_at: Option<String>,
    /// SHA-256 of the four IDX files the model was trained (and, once published, tested) on.
    pub data_sha256: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub data: DataInfo,
    /// Backend and threads of the most recent training run.
    pub backend: String,
    pub threads: usize,
    pub models: BTreeMap<String, ModelEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("manifest has no entry for model `{0}` (train it with `train {0}`)")]
    MissingModel(&'static str),
    #[error("manifest entry `{model}` has no valid architecture: {reason}")]
    BadArchitecture { model: &'static str, reason: String },
    #[error("manifest entry `{model}`: {reason}")]
    BadEntry { model: String, reason: String },
}

impl ModelEntry {
    /// What a reader relies on: finite numbers and plain file names (a manifest must not point
    /// outside its directory).
    pub fn check(&self) -> Result<(), String> {
        for (name, value) in [
            ("best_valid_loss", self.best_valid_loss),
            ("train_seconds", self.train_seconds),
        ] {
            if !value.is_finite() {
                return Err(format!("{name} is {value}"));
            }
        }
        for (name, file) in [("file", &self.file), ("history", &self.history)] {
            if !is_plain_file_name(file) {
                return Err(format!("{name} \"{file}\" is not a file name in the store"));
            }
        }
        Ok(())
    }
}

/// A name without directories, `..` or hidden-file dot.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0'])
}

impl Manifest {
    /// Parses a manifest and checks every entry (finite losses, file names inside the store).
    pub fn parse(json: &str) -> Result<Self, ManifestError> {
        let manifest: Self = serde_json::from_str(json)?;
        for (key, entry) in &manifest.models {
            entry.check().map_err(|reason| ManifestError::BadEntry {
                model: key.clone(),
                reason,
            })?;
        }
        Ok(manifest)
    }

    pub fn entry(&self, kind: ModelKind) -> Result<&ModelEntry, ManifestError> {
        self.models
            .get(kind.key())
            .ok_or(ManifestError::MissingModel(kind.key()))
    }

    /// The architecture config recorded for `kind`, unchecked (see [`crate::model::load`]).
    pub fn architecture<C: serde::de::DeserializeOwned + serde::Serialize>(
        &self,
        kind: ModelKind,
    ) -> Result<C, ManifestError> {
        let entry = self.entry(kind)?;
        let model = entry
            .hyperparameters
            .get("model")
            .cloned()
            .unwrap_or(Value::Null);
        let bad = |reason: String| ManifestError::BadArchitecture {
            model: kind.key(),
            reason,
        };
        let config: C = serde_json::from_value(model.clone()).map_err(|e| bad(e.to_string()))?;
        // burn's configs skip fields they do not know: a misspelt or misplaced one would
        // silently leave its default in place.
        let known = serde_json::to_value(&config).map_err(|e| bad(e.to_string()))?;
        if let (Some(given), Some(known)) = (model.as_object(), known.as_object())
            && let Some(unknown) = given.keys().find(|k| !known.contains_key(*k))
        {
            return Err(bad(format!("unknown field `{unknown}`")));
        }
        Ok(config)
    }
}
