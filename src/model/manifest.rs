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

    /// Default weights file name.
    pub fn file_name(self) -> String {
        format!("{}.bpk", self.key())
    }

    pub fn history_file_name(self) -> String {
        format!("{}.history.json", self.key())
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DataInfo {
    /// SHA-256 of the raw IDX files the models were trained and tested on.
    pub sha256: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelEntry {
    /// Weights file, relative to the manifest.
    pub file: String,
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
    /// Test-set metrics as PROTOCOL.md defines them.
    pub test: Value,
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
}

impl Manifest {
    pub fn parse(json: &str) -> Result<Self, ManifestError> {
        Ok(serde_json::from_str(json)?)
    }

    pub fn entry(&self, kind: ModelKind) -> Result<&ModelEntry, ManifestError> {
        self.models
            .get(kind.key())
            .ok_or(ManifestError::MissingModel(kind.key()))
    }

    /// The architecture config recorded for `kind`.
    pub fn architecture<C: serde::de::DeserializeOwned>(
        &self,
        kind: ModelKind,
    ) -> Result<C, ManifestError> {
        let entry = self.entry(kind)?;
        let model = entry
            .hyperparameters
            .get("model")
            .cloned()
            .unwrap_or(Value::Null);
        serde_json::from_value(model).map_err(|e| ManifestError::BadArchitecture {
            model: kind.key(),
            reason: e.to_string(),
        })
    }
}
