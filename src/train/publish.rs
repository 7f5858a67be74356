//! Publishing: adopting a finished run's model into a weights directory (`weights/` for the
//! page). This is where the test split is used — once per adopted model: its metrics are
//! measured here and recorded with the time of publishing, and the model is committed into the
//! directory in one atomic step ([`WeightsDir::commit`]).

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::Device;

use super::fit::EpochStats;
use super::run::{Run, RunError, RunState, data_hashes, now_utc};
use crate::data::Mnist;
use crate::data::mnist::TEST_FILES;
use crate::eval;
use crate::model::weights_dir::{NewModel, StoreError, WeightsDir};
use crate::model::{ModelEntry, ModelKind};

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
    #[error("{0}: a run cannot be published into itself; name another weights directory with --to")]
    IntoItself(String),
    #[error(
        "{dir}: history of `{model}`: {reason}; a model with a broken history is not published"
    )]
    BadHistory {
        dir: String,
        model: String,
        reason: String,
    },
    #[error(
        "{to}: already holds a better `{model}` on the same validation split (validation loss {kept} < {new}); nothing was changed (--replace-better publishes it anyway)"
    )]
    Worse {
        to: String,
        model: String,
        kept: f64,
        new: f64,
    },
}

/// What was published.
pub struct Published {
    pub kind: ModelKind,
    pub test: serde_json::Value,
}

/// Whether `publish` may replace a model that did better on the same validation split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replace {
    /// Only a model that is at least as good on validation (or was validated on other data).
    IfNotWorse,
    /// Whatever the target holds.
    Always,
}

/// Measures the test metrics of the finished run in `run_dir` and commits its model into the
/// weights directory `to`.
pub fn publish(
    run_dir: &Path,
    to: &Path,
    replace: Replace,
    device: &Device,
) -> Result<Published, PublishError> {
    let run = Run::open(run_dir)?;
    if run.state()? != RunState::Finished {
        return Err(PublishError::Unfinished(run_dir.display().to_string()));
    }
    let source = WeightsDir::open(run_dir)?;
    if same_directory(run_dir, to) {
        return Err(PublishError::IntoItself(run_dir.display().to_string()));
    }
    let kind = run.spec.kind()?;
    // Refuse a target that cannot take the commit before any test metric is measured.
    let mut target = WeightsDir::open_or_create(to)?;
    let mut entry = source
        .manifest
        .entry(kind)
        .map_err(|e| StoreError::Load {
            path: run_dir.display().to_string(),
            source: e.into(),
        })?
        .clone();
    let history = source.read_history(kind)?;
    check_history(&history).map_err(|reason| PublishError::BadHistory {
        dir: run_dir.display().to_string(),
        model: kind.key().to_string(),
        reason,
    })?;
    if replace == Replace::IfNotWorse {
        refuse_worse(&target, kind, &entry, to)?;
    }
    let model = source.load(kind, device)?;
    let (data, data_sha256) = data_with_test_split(&run)?;
    let test = eval::test_metrics(kind, &entry, &model, &data, device).map_err(|e| {
        PublishError::Metrics {
            dir: run_dir.display().to_string(),
            reason: e.to_string(),
        }
    })?;
    entry.test = test.clone();
    entry.published_at = Some(now_utc());
    entry.data_sha256 = Some(data_sha256.clone());
    let weights = source.read_weights(kind)?;
    let spec = &run.spec;
    target.commit(
        vec![NewModel {
            kind,
            entry,
            weights,
            history: history.into_bytes(),
        }],
        |manifest| {
            spec.stamp(manifest);
            manifest.data.sha256 = data_sha256;
        },
    )?;
    Ok(Published { kind, test })
}

/// The run's splits with the test split of its data directory, and the SHA-256 of all four
/// files (the test files checked against the run's record where it has one).
fn data_with_test_split(run: &Run) -> Result<(Mnist, BTreeMap<String, String>), PublishError> {
    let spec = &run.spec.data;
    let dir = Path::new(&spec.dir);
    let mut hashes = spec.sha256.clone();
    for (file, hash) in data_hashes(dir, &TEST_FILES)? {
        if hashes.get(&file).is_some_and(|recorded| *recorded != hash) {
            return Err(RunError::DataChanged {
                dir: spec.dir.clone(),
                file,
            }
            .into());
        }
        hashes.insert(file, hash);
    }
    let data = Mnist::load_test(run.data()?, dir).map_err(RunError::from)?;
    Ok((data, hashes))
}

/// Both paths name one directory (compared after resolving links and `..`).
fn same_directory(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A history that `--init-from` and `--encoder-from` can read back: every epoch's figures
/// present and finite.
pub fn check_history(json: &str) -> Result<(), String> {
    let history: Vec<EpochStats> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    for stats in &history {
        let figures = [
            ("train_loss", stats.train_loss),
            ("valid_loss", stats.valid_loss),
            ("lr", stats.lr),
            ("seconds", stats.seconds),
            ("train_samples_per_second", stats.train_samples_per_second),
        ];
        if let Some((name, value)) = figures.iter().find(|(_, v)| !v.is_finite()) {
            return Err(format!("epoch {}: {name} is {value}", stats.epoch));
        }
    }
    Ok(())
}

/// Refuses to replace a model that did better on the same validation split (same data, same
/// split): publishing a worse one is a mistake unless asked for.
fn refuse_worse(
    target: &WeightsDir,
    kind: ModelKind,
    new: &ModelEntry,
    to: &Path,
) -> Result<(), PublishError> {
    let Ok(kept) = target.manifest.entry(kind) else {
        return Ok(());
    };
    fn split(e: &ModelEntry) -> (Option<Vec<(&String, &String)>>, &serde_json::Value) {
        let training = e.data_sha256.as_ref().map(|h| {
            h.iter()
                .filter(|(f, _)| !TEST_FILES.contains(&f.as_str()))
                .collect()
        });
        (training, &e.hyperparameters["valid_size"])
    }
    let comparable = kept.data_sha256.is_some() && split(kept) == split(new);
    if comparable && kept.best_valid_loss < new.best_valid_loss {
        return Err(PublishError::Worse {
            to: to.display().to_string(),
            model: kind.key().to_string(),
            kept: kept.best_valid_loss,
            new: new.best_valid_loss,
        });
    }
    Ok(())
}
