//! Budgeted successive halving over the grid: every configuration gets a small training budget,
//! the best 1/η are trained again with η times more, and so on. Each finished trial is appended
//! to a JSON-lines file at once, so a killed search resumes without redoing finished trials.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::grid::SearchPoint;

/// Most training images a configuration may be given in one rung (a thousand epochs of MNIST).
pub const MAX_SAMPLES: usize = 50_000_000;

/// How budgets grow from rung to rung.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HalvingPlan {
    /// Training images seen by each configuration in the first rung.
    pub min_samples: usize,
    /// Keep the best 1/η of a rung; give the next rung η times the samples.
    pub eta: usize,
    pub rungs: usize,
}

impl HalvingPlan {
    pub fn validate(&self) -> Result<(), String> {
        if self.min_samples == 0 || self.rungs == 0 || self.eta < 2 {
            return Err(format!(
                "need min_samples >= 1, rungs >= 1 and eta >= 2, got {self:?}"
            ));
        }
        // The last rung's images per configuration must be a number, not an overflow.
        let last = u32::try_from(self.rungs - 1)
            .ok()
            .and_then(|r| self.eta.checked_pow(r))
            .and_then(|f| f.checked_mul(self.min_samples))
            .filter(|n| *n <= MAX_SAMPLES);
        if last.is_none() {
            return Err(format!(
                "--min-samples {} × --eta {}^(--rungs {} − 1) exceeds {MAX_SAMPLES} images per configuration",
                self.min_samples, self.eta, self.rungs
            ));
        }
        Ok(())
    }

    /// Training images per configuration in `rung`.
    pub fn samples(&self, rung: usize) -> usize {
        self.min_samples * self.eta.pow(rung as u32)
    }

    /// How many of `n` configurations go on to the next rung.
    pub fn promoted(&self, n: usize) -> usize {
        n.div_ceil(self.eta)
    }

    /// Configurations per rung, starting from `n`.
    pub fn sizes(&self, n: usize) -> Vec<usize> {
        let mut sizes = vec![n];
        for _ in 1..self.rungs {
            let next = self.promoted(*sizes.last().expect("non-empty"));
            sizes.push(next);
        }
        sizes
    }
}

/// One finished trial, as stored in the results file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    pub point: SearchPoint,
    pub rung: usize,
    pub samples: usize,
    /// Validation MSE after training; `None` when training diverged (NaN / infinite loss).
    pub valid_mse: Option<f64>,
    pub seconds: f64,
}

/// What a trial function returns.
pub struct TrialOutcome {
    pub valid_mse: f64,
    pub seconds: f64,
}

impl TrialRecord {
    /// Trains `point` with `samples` images by `trial` and records it as a trial of `rung`; a
    /// diverged trial (non-finite MSE) is recorded without one, ranked last.
    pub(crate) fn train(
        trial: &mut impl FnMut(&SearchPoint, usize) -> Result<TrialOutcome, String>,
        point: &SearchPoint,
        rung: usize,
        samples: usize,
    ) -> Result<Self, SearchError> {
        let outcome = trial(point, samples).map_err(|message| SearchError::Trial {
            key: point.key(),
            message,
        })?;
        Ok(Self {
            point: point.clone(),
            rung,
            samples,
            valid_mse: Some(outcome.valid_mse).filter(|v| v.is_finite()),
            seconds: outcome.seconds,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} line {line}: not a trial record ({message})")]
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "{path}: rung {rung} of \"{key}\" used {found} samples, this plan gives {expected}; \
         use a new results file for a different plan"
    )]
    PlanMismatch {
        path: PathBuf,
        key: String,
        rung: usize,
        found: usize,
        expected: usize,
    },
    #[error("{0}")]
    Plan(String),
    #[error("trial {key} failed: {message}")]
    Trial { key: String, message: String },
}

/// The JSON-lines results file.
pub struct ResultsFile {
    path: PathBuf,
}

impl ResultsFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ResultsFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every record so far (none when the file does not exist yet). A last line without its
    /// newline was cut by a kill mid-write and is ignored; any other bad line is an error.
    pub fn load(&self) -> Result<Vec<TrialRecord>, SearchError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(SearchError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let complete = text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        let mut records = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<TrialRecord>(line) {
                Ok(record) => records.push(record),
                Err(_) if i + 1 == lines.len() && !complete => break,
                Err(e) => {
                    return Err(SearchError::Malformed {
                        path: self.path.clone(),
                        line: i + 1,
                        message: e.to_string(),
                    });
                }
            }
        }
        Ok(records)
    }

    /// Appends one record and flushes it to disk.
    pub fn append(&self, record: &TrialRecord) -> Result<(), SearchError> {
        let io = |source| SearchError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // A kill mid-write may have left a partial last line: cut it before appending.
        if let Ok(bytes) = std::fs::read(&self.path)
            && bytes.last().is_some_and(|&b| b != b'\n')
        {
            let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            OpenOptions::new()
                .write(true)
                .open(&self.path)
                .and_then(|f| f.set_len(keep as u64))
                .map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        let mut line = serde_json::to_string(record).expect("records serialise");
        line.push('\n');
        file.write_all(line.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)
    }
}

/// Why a search returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SearchStop {
    /// Every rung is complete.
    Finished,
    /// The time budget ran out; running again with the same file continues.
    BudgetSpent,
}

#[derive(Debug)]
pub struct SearchSummary {
    pub stop: SearchStop,
    /// Trials trained by this call.
    pub trained: usize,
    /// Trials found finished in the results file.
    pub reused: usize,
    pub seconds: f64,
}

/// Orders records best first: higher rung, then lower validation MSE (diverged last), then key.
fn better(a: &TrialRecord, b: &TrialRecord) -> std::cmp::Ordering {
    b.rung
        .cmp(&a.rung)
        .then_with(|| {
            let (x, y) = (
                a.valid_mse.unwrap_or(f64::INFINITY),
                b.valid_mse.unwrap_or(f64::INFINITY),
            );
            x.total_cmp(&y)
        })
        .then_with(|| a.point.key().cmp(&b.point.key()))
}

/// Finished trials by (configuration key, rung), checked against `plan`'s image counts: trials
/// made under another plan are not comparable. `path` names the file in the error.
pub(crate) fn index_records(
    plan: &HalvingPlan,
    path: &Path,
    records: Vec<TrialRecord>,
) -> Result<FinishedTrials, SearchError> {
    let mut finished = FinishedTrials::new();
    for record in records {
        let expected = plan.samples(record.rung);
        if record.samples != expected {
            return Err(SearchError::PlanMismatch {
                path: path.to_path_buf(),
                key: record.point.key(),
                rung: record.rung,
                found: record.samples,
                expected,
            });
        }
        finished.insert((record.point.key(), record.rung), record);
    }
    Ok(finished)
}

/// Finished trials by (configuration key, rung).
pub(crate) type FinishedTrials = HashMap<(String, usize), TrialRecord>;

/// The configurations a complete rung sends to the next: its best 1/η. The order of
/// `rung_records` does not matter ([`better`] is a total order on distinct configurations).
pub(crate) fn promote(plan: &HalvingPlan, mut rung_records: Vec<TrialRecord>) -> Vec<SearchPoint> {
    rung_records.sort_by(better);
    let keep = plan.promoted(rung_records.len());
    rung_records
        .into_iter()
        .take(keep)
        .map(|r| r.point)
        .collect()
}

/// Runs (or resumes) successive halving over `points`.
///
/// `trial(point, samples)` trains one configuration on `samples` training images and returns its
/// validation MSE. New trials start only while the seconds spent by this call's trials stay
/// under `budget_seconds`; the trial that crosses the budget still finishes and is recorded.
pub fn run(
    points: &[SearchPoint],
    plan: &HalvingPlan,
    budget_seconds: f64,
    results: &ResultsFile,
    mut trial: impl FnMut(&SearchPoint, usize) -> Result<TrialOutcome, String>,
    mut on_record: impl FnMut(&TrialRecord, bool),
) -> Result<SearchSummary, SearchError> {
    plan.validate().map_err(SearchError::Plan)?;
    let finished = index_records(plan, results.path(), results.load()?)?;
    let (mut trained, mut reused, mut spent) = (0, 0, 0.0);
    let mut candidates = points.to_vec();
    for rung in 0..plan.rungs {
        let samples = plan.samples(rung);
        let mut rung_records = Vec::with_capacity(candidates.len());
        for point in &candidates {
            if let Some(record) = finished.get(&(point.key(), rung)) {
                reused += 1;
                on_record(record, true);
                rung_records.push(record.clone());
                continue;
            }
            if spent >= budget_seconds {
                return Ok(SearchSummary {
                    stop: SearchStop::BudgetSpent,
                    trained,
                    reused,
                    seconds: spent,
                });
            }
            let record = TrialRecord::train(&mut trial, point, rung, samples)?;
            results.append(&record)?;
            spent += record.seconds;
            trained += 1;
            on_record(&record, false);
            rung_records.push(record);
        }
        candidates = promote(plan, rung_records);
    }
    Ok(SearchSummary {
        stop: SearchStop::Finished,
        trained,
        reused,
        seconds: spent,
    })
}

/// The best record of each configuration, ranked: furthest rung first, then validation MSE.
pub fn ranking(records: &[TrialRecord]) -> Vec<TrialRecord> {
    let mut best: HashMap<String, TrialRecord> = HashMap::new();
    for r in records {
        let key = r.point.key();
        match best.get(&key) {
            Some(b) if better(b, r).is_le() => {}
            _ => {
                best.insert(key, r.clone());
            }
        }
    }
    let mut ranked: Vec<TrialRecord> = best.into_values().collect();
    ranked.sort_by(better);
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::grid::Grid;

    fn temp_file(name: &str) -> ResultsFile {
        let dir = std::env::temp_dir().join(format!("digit-lab-search-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        ResultsFile::new(path)
    }

    fn small_grid() -> Vec<SearchPoint> {
        let mut grid = Grid::paper();
        grid.set("c1=8,16,32,64").unwrap();
        grid.set("c2=16,32").unwrap();
        grid.set("c3=64").unwrap();
        grid.set("fc=64").unwrap();
        grid.set("lr=1e-3").unwrap();
        grid.set("l2=1e-5").unwrap();
        grid.set("drop=0.1,0.5").unwrap();
        grid.points() // 16 points
    }

    /// A fake trainer: the loss favours small c1 and c2 and shrinks with more samples.
    fn fake_loss(p: &SearchPoint, samples: usize) -> f64 {
        (p.c1 as f64 + p.c2 as f64 / 100.0 + p.dropout) / samples as f64
    }

    /// Runs the whole search with [`fake_loss`], one second a trial, recording the trials run.
    fn run_to_end(
        points: &[SearchPoint],
        file: &ResultsFile,
        trials: &mut Vec<(String, usize)>,
    ) -> SearchSummary {
        let trial = |p: &SearchPoint, samples| {
            trials.push((p.key(), samples));
            let valid_mse = fake_loss(p, samples);
            Ok(TrialOutcome {
                valid_mse,
                seconds: 1.0,
            })
        };
        run(points, &PLAN, f64::INFINITY, file, trial, |_, _| {}).unwrap()
    }

    const PLAN: HalvingPlan = HalvingPlan {
        min_samples: 10,
        eta: 2,
        rungs: 3,
    };

    #[test]
    fn plan_sizes_and_budgets() {
        assert_eq!(PLAN.sizes(16), vec![16, 8, 4]);
        assert_eq!(PLAN.samples(2), 40);
        let p = HalvingPlan {
            min_samples: 1024,
            eta: 4,
            rungs: 5,
        };
        assert_eq!(p.sizes(864), vec![864, 216, 54, 14, 4]);
        assert!(HalvingPlan { eta: 1, ..PLAN }.validate().is_err());
        // Image counts that overflow (or are absurd) are refused, not wrapped.
        let huge = HalvingPlan {
            min_samples: 2048,
            eta: 1000,
            rungs: 10,
        };
        assert!(huge.validate().unwrap_err().contains("--eta 1000"));
        assert!(HalvingPlan { rungs: 64, ..PLAN }.validate().is_err());
    }

    #[test]
    fn promotes_the_best_and_finishes() {
        let file = temp_file("full.jsonl");
        let points = small_grid();
        let mut calls = Vec::new();
        let summary = run_to_end(&points, &file, &mut calls);
        assert_eq!(summary.stop, SearchStop::Finished);
        assert_eq!(summary.trained, 16 + 8 + 4);
        assert_eq!(calls.len(), 28);
        // The fake loss orders by c1 first: the last rung holds the four c1 = 8 configurations.
        let last: Vec<&(String, usize)> = calls.iter().filter(|(_, s)| *s == 40).collect();
        assert_eq!(last.len(), 4);
        assert!(last.iter().all(|(k, _)| k.starts_with("c1=8 ")));
        let ranked = ranking(&file.load().unwrap());
        assert_eq!(ranked.len(), 16);
        assert_eq!(
            ranked[0].point.key(),
            "c1=8 c2=16 c3=64 fc=64 lr=1e-3 l2=1e-5 drop=0.1"
        );
        assert_eq!(ranked[0].rung, 2);
    }

    #[test]
    fn a_spent_budget_stops_and_a_rerun_resumes_without_redoing_trials() {
        let file = temp_file("resume.jsonl");
        let points = small_grid();
        let trial = |p: &SearchPoint, samples: usize| {
            Ok(TrialOutcome {
                valid_mse: fake_loss(p, samples),
                seconds: 1.0,
            })
        };
        let first = run(&points, &PLAN, 5.0, &file, trial, |_, _| {}).unwrap();
        assert_eq!(first.stop, SearchStop::BudgetSpent);
        assert_eq!(first.trained, 5);
        assert_eq!(file.load().unwrap().len(), 5);

        // Simulate a kill in the middle of writing a record.
        let mut text = std::fs::read_to_string(file.path()).unwrap();
        text.push_str("{\"point\":{\"c1\":");
        std::fs::write(file.path(), text).unwrap();

        let mut keys = Vec::new();
        let second = run_to_end(&points, &file, &mut keys);
        assert_eq!(second.stop, SearchStop::Finished);
        assert_eq!(second.reused, 5);
        assert_eq!(second.trained, 28 - 5);
        assert!(
            !keys.contains(&(points[0].key(), PLAN.samples(0))),
            "finished trials are not redone"
        );
        assert_eq!(file.load().unwrap().len(), 28);
    }

    #[test]
    fn diverged_trials_rank_last_and_bad_files_are_errors() {
        let file = temp_file("diverged.jsonl");
        let points = small_grid();
        run(
            &points,
            &PLAN,
            f64::INFINITY,
            &file,
            |p, s| {
                Ok(TrialOutcome {
                    valid_mse: if p.c1 == 8 { f64::NAN } else { fake_loss(p, s) },
                    seconds: 0.0,
                })
            },
            |_, _| {},
        )
        .unwrap();
        let ranked = ranking(&file.load().unwrap());
        assert!(ranked[0].point.c1 == 16);
        assert!(ranked.iter().rev().take(4).all(|r| r.valid_mse.is_none()));

        // Another plan on the same file is refused.
        let other = HalvingPlan {
            min_samples: 20,
            ..PLAN
        };
        let err = run(
            &points,
            &other,
            1.0,
            &file,
            |_, _| unreachable!(),
            |_, _| {},
        )
        .unwrap_err();
        assert!(matches!(err, SearchError::PlanMismatch { .. }), "{err}");

        std::fs::write(file.path(), "{\"not\": \"a record\"}\n").unwrap();
        let err = file.load().unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
