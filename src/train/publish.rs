//! Publishing: adopting a finished run's model into a weights directory (`weights/` for the
//! page). This is where the test split is used — once per adopted model: its metrics are
//! measured here and recorded with the time of publishing, and the model is committed into the
//! directory in one atomic step ([`WeightsDir::commit`]).

use std::path::Path;

use burn::prelude::Device;

use super::run::{Run, RunError, now_utc};
use crate::eval;
use crate::model::ModelKind;
use crate::model::weights_dir::{NewModel, StoreError, WeightsDir};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}: the run has not finished (resume it with `train --resume {0}`)")]
    Unfinished(String),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{dir}: {reason}")]
    Metrics { dir: String, reason: String },
}

/// What was published.
pub struct Published {
    pub kind: ModelKind,
    pub test: serde_json::Value,
}

/// Measures the test metrics of the finished run in `run_dir` and commits its model into the
/// weights directory `to`.
pub fn publish(run_dir: &Path, to: &Path, device: &Device) -> Result<Published, PublishError> {
    let run = Run::open(run_dir)?;
    let source = WeightsDir::open(run_dir).map_err(|e| match e {
        StoreError::Missing { .. } => PublishError::Unfinished(run_dir.display().to_string()),
        e => e.into(),
    })?;
    let kind = run.spec.kind()?;
    // Refuse a target that cannot take the commit before any test metric is measured.
    let mut target = WeightsDir::open_or_create(to)?;
    let model = source.load(kind, device)?;
    let data = run.data()?;
    let mut entry = source
        .manifest
        .entry(kind)
        .map_err(|e| StoreError::Load {
            path: run_dir.display().to_string(),
            source: e.into(),
        })?
        .clone();
    let test = eval::test_metrics(kind, &entry, &model, &data, device).map_err(|e| {
        PublishError::Metrics {
            dir: run_dir.display().to_string(),
            reason: e.to_string(),
        }
    })?;
    entry.test = test.clone();
    entry.published_at = Some(now_utc());
    let weights = source.read_weights(kind)?;
    let history = source.read_history(kind)?.into_bytes();
    let spec = &run.spec;
    target.commit(
        vec![NewModel {
            kind,
            entry,
            weights,
            history,
        }],
        |manifest| spec.stamp(manifest),
    )?;
    Ok(Published { kind, test })
}
