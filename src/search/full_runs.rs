//! The search's full runs: each finalist of the last rung, and each code size of the winner,
//! trained to convergence as an ordinary run (`runs/`), kept as one JSON line of a file of its
//! own (`docs/search/full-runs.jsonl`) that the report reads without the run directories: its
//! configuration, its curves and the 5-NN accuracy of its code. Validation figures only.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::SearchPoint;
use crate::analysis::knn::loo_knn_accuracy;
use crate::analysis::maps::{KNN_K, ae_codes};
use crate::data::Dataset;
use crate::model::weights_dir::WeightsDir;
use crate::model::{ConvAe, ModelKind};
use crate::train::EpochStats;

/// One ConvAE or DAE run trained to convergence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FullRun {
    /// The run directory's id (its name under `runs/`).
    pub run: String,
    /// `ae` or `dae`.
    pub model: String,
    pub point: SearchPoint,
    pub code: usize,
    pub epochs: usize,
    pub best_epoch: usize,
    /// Validation MSE (the DAE's: denoising MSE) of the kept epoch.
    pub best_valid_loss: f64,
    pub train_seconds: f64,
    pub train_curve: Vec<f64>,
    pub valid_curve: Vec<f64>,
    /// Leave-one-out 5-NN label accuracy of the codes of the (clean) validation digits.
    pub valid_knn5: f64,
    pub valid_size: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum FullRunError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {message}")]
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Run { path: PathBuf, message: String },
}

/// The ConvAE kind a finished run directory holds, and its validation split's size: what
/// [`summarize`] needs loaded first.
pub fn run_kind(store: &WeightsDir) -> Result<(ModelKind, usize), FullRunError> {
    let err = |message: String| FullRunError::Run {
        path: store.path.clone(),
        message,
    };
    let kind = [ModelKind::Ae, ModelKind::Dae]
        .into_iter()
        .find(|&k| store.manifest.entry(k).is_ok())
        .ok_or_else(|| {
            err("holds no finished ae or dae model (only ConvAE runs are searched)".into())
        })?;
    let entry = store.manifest.entry(kind).map_err(|e| err(e.to_string()))?;
    let valid_size = entry.hyperparameters["valid_size"]
        .as_u64()
        .ok_or_else(|| err("its manifest records no valid_size".into()))?;
    Ok((kind, valid_size as usize))
}

/// Summarises a finished run: its manifest entry, its history and the 5-NN accuracy of its
/// model's codes of `validation` (the run's own validation split).
pub fn summarize(
    store: &WeightsDir,
    kind: ModelKind,
    model: &ConvAe,
    validation: &Dataset,
    device: &Device,
) -> Result<FullRun, FullRunError> {
    let err = |message: String| FullRunError::Run {
        path: store.path.clone(),
        message,
    };
    let entry = store.manifest.entry(kind).map_err(|e| err(e.to_string()))?;
    let point = point_of(&entry.hyperparameters).map_err(err)?;
    let history_path = store.path.join(&entry.history);
    let history: Vec<EpochStats> = std::fs::read_to_string(&history_path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        .map_err(|message| FullRunError::Run {
            path: history_path.clone(),
            message,
        })?;
    let code = entry.hyperparameters["model"]["code"]
        .as_u64()
        .ok_or_else(|| err("its manifest has no code".into()))? as usize;
    let codes = ae_codes(model, validation, device);
    Ok(FullRun {
        run: entry
            .run_id
            .clone()
            .unwrap_or_else(|| dir_name(&store.path)),
        model: kind.key().to_string(),
        point,
        code,
        epochs: entry.epochs,
        best_epoch: entry.best_epoch,
        best_valid_loss: entry.best_valid_loss,
        train_seconds: entry.train_seconds,
        train_curve: history.iter().map(|e| e.train_loss).collect(),
        valid_curve: history.iter().map(|e| e.valid_loss).collect(),
        valid_knn5: loo_knn_accuracy(&codes, code, &validation.labels, KNN_K),
        valid_size: validation.len(),
    })
}

/// The search grid's configuration a ConvAE's manifest hyperparameters record (the
/// architecture under `model`); the error names the first setting missing.
pub fn point_of(hyperparameters: &serde_json::Value) -> Result<SearchPoint, String> {
    let (h, arch) = (hyperparameters, &hyperparameters["model"]);
    let missing = |name: &str| format!("its manifest has no {name}");
    let int = |name: &str| {
        arch[name]
            .as_u64()
            .map(|x| x as usize)
            .ok_or_else(|| missing(name))
    };
    let float = |v: &serde_json::Value, name: &str| v[name].as_f64().ok_or_else(|| missing(name));
    Ok(SearchPoint {
        c1: int("c1")?,
        c2: int("c2")?,
        c3: int("c3")?,
        fc: int("fc")?,
        lr: float(h, "lr")?,
        l2: float(h, "weight_decay")?,
        dropout: float(arch, "dropout")?,
    })
}

fn dir_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The full runs' file: one [`FullRun`] per line, in the order they were first recorded.
pub struct FullRunsFile {
    path: PathBuf,
}

impl FullRunsFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FullRunsFile { path: path.into() }
    }

    /// Every record (none when the file does not exist yet).
    pub fn load(&self) -> Result<Vec<FullRun>, FullRunError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(FullRunError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str(line).map_err(|e| FullRunError::Malformed {
                    path: self.path.clone(),
                    line: i + 1,
                    message: e.to_string(),
                })
            })
            .collect()
    }

    /// Records `run`, replacing the record of the same run in place. The file is rewritten
    /// whole and atomically, so a kill leaves the old file or the new one.
    pub fn record(&self, run: FullRun) -> Result<(), FullRunError> {
        let mut runs = self.load()?;
        match runs.iter_mut().find(|r| r.run == run.run) {
            Some(old) => *old = run,
            None => runs.push(run),
        }
        let mut text = String::new();
        for r in &runs {
            text += &serde_json::to_string(r).expect("a FullRun serialises");
            text.push('\n');
        }
        crate::fs_util::write_atomic(&self.path, text.as_bytes()).map_err(|source| {
            FullRunError::Io {
                path: self.path.clone(),
                source,
            }
        })
    }
}

/// The finalists of `model`'s search: its full runs at the paper's code size, best first.
pub fn finalists<'a>(runs: &'a [FullRun], model: &str) -> Vec<&'a FullRun> {
    let mut out: Vec<_> = runs
        .iter()
        .filter(|r| r.model == model && r.code == 2)
        .collect();
    out.sort_by(|a, b| a.best_valid_loss.total_cmp(&b.best_valid_loss));
    out
}

/// The ConvAE winner's full runs at each code size, smallest code first: the winner is the
/// best ConvAE finalist, and a run at another code size counts when its configuration is the
/// winner's.
pub fn code_sizes(runs: &[FullRun]) -> Vec<&FullRun> {
    let Some(winner) = finalists(runs, "ae").first().copied() else {
        return Vec::new();
    };
    let mut out: Vec<_> = runs
        .iter()
        .filter(|r| r.model == "ae" && r.point == winner.point)
        .filter(|r| r.code != 2 || r.run == winner.run)
        .collect();
    out.sort_by_key(|r| r.code);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, model: &str, c1: usize, code: usize, loss: f64) -> FullRun {
        FullRun {
            run: name.into(),
            model: model.into(),
            point: SearchPoint {
                c1,
                ..SearchPoint::paper_best()
            },
            code,
            epochs: 3,
            best_epoch: 2,
            best_valid_loss: loss,
            train_seconds: 1.0,
            train_curve: vec![0.1, 0.05, 0.04],
            valid_curve: vec![0.09, 0.04, 0.041],
            valid_knn5: 0.7,
            valid_size: 100,
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("digit-lab-full-runs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn recording_a_run_again_replaces_it_in_place() {
        let dir = scratch("replace");
        let file = FullRunsFile::new(dir.join("search/full-runs.jsonl"));
        assert!(file.load().unwrap().is_empty());
        file.record(run("a", "ae", 8, 2, 0.04)).unwrap();
        file.record(run("b", "ae", 16, 2, 0.03)).unwrap();
        file.record(run("a", "ae", 8, 2, 0.02)).unwrap();
        let runs = file.load().unwrap();
        assert_eq!(
            runs.iter()
                .map(|r| (r.run.as_str(), r.best_valid_loss))
                .collect::<Vec<_>>(),
            [("a", 0.02), ("b", 0.03)]
        );
    }

    #[test]
    fn a_bad_line_is_named() {
        let dir = scratch("bad-line");
        let path = dir.join("full-runs.jsonl");
        let good = serde_json::to_string(&run("a", "ae", 8, 2, 0.04)).unwrap();
        std::fs::write(&path, format!("{good}\n{{\"run\": 1}}\n")).unwrap();
        let e = FullRunsFile::new(&path).load().unwrap_err().to_string();
        assert!(e.contains("full-runs.jsonl: line 2"), "{e}");
    }

    #[test]
    fn code_sizes_follow_the_best_finalist_and_finalists_exclude_other_codes() {
        let runs = vec![
            run("ae-8", "ae", 8, 2, 0.036),
            run("ae-16", "ae", 16, 2, 0.035),
            run("ae-16-code8", "ae", 16, 8, 0.02),
            run("ae-8-code4", "ae", 8, 4, 0.03),
            run("ae-16-code3", "ae", 16, 3, 0.03),
            run("dae-16", "dae", 16, 2, 0.01),
        ];
        let names = |v: Vec<&FullRun>| v.iter().map(|r| r.run.clone()).collect::<Vec<_>>();
        assert_eq!(names(finalists(&runs, "ae")), ["ae-16", "ae-8"]);
        assert_eq!(names(finalists(&runs, "dae")), ["dae-16"]);
        assert_eq!(
            names(code_sizes(&runs)),
            ["ae-16", "ae-16-code3", "ae-16-code8"]
        );
        assert!(code_sizes(&runs[5..]).is_empty());
    }
}
