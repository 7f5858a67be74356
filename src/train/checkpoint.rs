//! Per-epoch checkpoints of a training run: the model, Adam's state, the best model so far and
//! the weight-averaging sums (exact f32, parameter ids kept), plus the [`Progress`] (history,
//! early-stopping and averaging counters, time). The files of epoch `e` are written first, then
//! `checkpoint.json` names them — the commit point — and only then are the previous epoch's files
//! removed: a kill at any instant leaves the previous checkpoint or the new one.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

use super::average::WeightAverage;
use super::fit::{FitConfig, FitState, Progress};
use crate::fs_util::{pause_point, sweep_temp_files, write_atomic};
use crate::model::store;
use crate::model::weights_dir::sha256_hex;

pub const CHECKPOINT_FILE: &str = "checkpoint.json";

/// `checkpoint.json`: the progress and the files holding the tensors, with their hashes.
#[derive(Debug, Serialize, Deserialize)]
struct Index {
    progress: Progress,
    /// Part (`model`, `optimizer`, `best`, `average`) → file name.
    files: BTreeMap<String, String>,
    sha256: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: damaged checkpoint: {reason}")]
    Damaged { path: String, reason: String },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn is_checkpoint_part(name: &str) -> bool {
    name.starts_with("ckpt-") && name.ends_with(".bpk")
}

/// Saves `state` into the run directory `dir`.
pub fn save<M: Module + Clone>(dir: &Path, state: &FitState<M>) -> Result<(), CheckpointError> {
    let epoch = state.progress.epochs_done;
    let damaged = |reason: String| CheckpointError::Damaged {
        path: dir.display().to_string(),
        reason,
    };
    let mut parts: Vec<(&str, Vec<u8>)> = vec![
        (
            "model",
            store::to_exact_bytes(state.model.clone(), "model")
                .map_err(|e| damaged(e.to_string()))?,
        ),
        (
            "optimizer",
            state
                .optimizer
                .into_bytes()
                .map_err(|e| damaged(format!("optimizer state: {e:?}")))?
                .to_vec(),
        ),
    ];
    if let Some(best) = &state.best {
        parts.push((
            "best",
            store::to_exact_bytes(best.clone(), "best").map_err(|e| damaged(e.to_string()))?,
        ));
    }
    if let Some(sums) = state.average.sums_as(state.model.valid()) {
        parts.push((
            "average",
            store::to_exact_bytes(sums, "average").map_err(|e| damaged(e.to_string()))?,
        ));
    }
    let mut index = Index {
        progress: state.progress.clone(),
        files: BTreeMap::new(),
        sha256: BTreeMap::new(),
    };
    for (part, bytes) in &parts {
        let name = format!("ckpt-{epoch:04}-{part}.bpk");
        let path = dir.join(&name);
        write_atomic(&path, bytes).map_err(io(&path))?;
        index.sha256.insert(part.to_string(), sha256_hex(bytes));
        index.files.insert(part.to_string(), name);
    }
    pause_point(&format!("checkpoint:files-written:{epoch}"));
    let json = serde_json::to_vec_pretty(&index).map_err(|e| damaged(e.to_string()))?;
    let path = dir.join(CHECKPOINT_FILE);
    write_atomic(&path, &json).map_err(io(&path))?;
    pause_point(&format!("checkpoint:committed:{epoch}"));
    sweep(dir, &index)
}

/// Removes checkpoint parts that `index` does not name, and dead writers' temporary files.
fn sweep(dir: &Path, index: &Index) -> Result<(), CheckpointError> {
    sweep_temp_files(dir).map_err(io(dir))?;
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_checkpoint_part(&name) && !index.files.values().any(|f| *f == name) {
            std::fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
        }
    }
    Ok(())
}

/// Loads the last checkpoint of the run in `dir`, rebuilding its tensors on `template` (a fresh
/// model of the run's architecture on the training device). `None` when no epoch finished yet.
/// `config_for` gives the run's settings for the restored model (parameter groups are sets of
/// parameter ids, which the checkpoint restores).
pub fn load<M: Module + Clone>(
    dir: &Path,
    template: &M,
    config_for: &dyn Fn(&M) -> FitConfig,
) -> Result<Option<FitState<M>>, CheckpointError> {
    let path = dir.join(CHECKPOINT_FILE);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    let damaged = |reason: String| CheckpointError::Damaged {
        path: path.display().to_string(),
        reason,
    };
    let index: Index = serde_json::from_slice(&text).map_err(|e| damaged(e.to_string()))?;
    sweep(dir, &index)?;
    let read = |part: &str| -> Result<Option<Vec<u8>>, CheckpointError> {
        let Some(name) = index.files.get(part) else {
            return Ok(None);
        };
        if !crate::model::manifest::is_plain_file_name(name) {
            return Err(damaged(format!("{part}: bad file name {name:?}")));
        }
        let file = dir.join(name);
        let bytes = std::fs::read(&file).map_err(io(&file))?;
        if index.sha256.get(part) != Some(&sha256_hex(&bytes)) {
            return Err(damaged(format!("{name} does not match its SHA-256")));
        }
        Ok(Some(bytes))
    };
    let load_model = |part: &str, template: M| -> Result<Option<M>, CheckpointError> {
        read(part)?
            .map(|bytes| {
                store::from_bytes(template, &bytes, part).map_err(|e| damaged(e.to_string()))
            })
            .transpose()
    };
    let model =
        load_model("model", template.clone())?.ok_or_else(|| damaged("no model file".into()))?;
    let optimizer_bytes = read("optimizer")?.ok_or_else(|| damaged("no optimizer file".into()))?;
    let optimizer = config_for(&model)
        .new_optimizer()
        .from_bytes(Bytes::from_bytes_vec(optimizer_bytes))
        .map_err(|e| damaged(format!("optimizer state: {e:?}")))?;
    let best = load_model("best", template.valid())?;
    let progress = index.progress;
    let average = match load_model("average", template.valid())? {
        Some(sums) => WeightAverage::from_sums(&sums, progress.averaged),
        None => WeightAverage::default(),
    };
    if best.is_none() && progress.epochs_done > 0 {
        return Err(damaged("no best model".into()));
    }
    Ok(Some(FitState {
        progress,
        model,
        optimizer,
        best,
        average,
    }))
}
