//! The main results file and its shard files read as one search: each (rung, configuration)
//! once, taken in a fixed order (the main file, then shard files by shard count and index), so
//! what a merge holds does not depend on which shard finished first or on a re-run that
//! trained a trial again.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::halving::{ResultsFile, SearchError, TrialRecord};
use super::shard::Shard;

/// The shard files beside `results`, in merge order.
pub fn shard_files(results: &Path) -> Result<Vec<(Shard, PathBuf)>, SearchError> {
    let dir = match results.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(SearchError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| SearchError::Io {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        if let Some(shard) = Shard::of_file(results, &path) {
            files.push((
                shard,
                results.with_file_name(path.file_name().expect("a file")),
            ));
        }
    }
    files.sort();
    Ok(files)
}

/// Concatenates record lists in the order given, keeping the first record of each
/// (rung, configuration).
pub fn merge_records(files: impl IntoIterator<Item = Vec<TrialRecord>>) -> Vec<TrialRecord> {
    let mut seen = HashSet::new();
    let mut merged = Vec::new();
    for record in files.into_iter().flatten() {
        if seen.insert((record.point.key(), record.rung)) {
            merged.push(record);
        }
    }
    merged
}

/// Every record of the search: the main file's, then its shard files', each trial once.
pub fn load_merged(results: &ResultsFile) -> Result<Vec<TrialRecord>, SearchError> {
    let mut files = vec![results.load()?];
    for (_, path) in shard_files(results.path())? {
        files.push(ResultsFile::new(path).load()?);
    }
    Ok(merge_records(files))
}

/// Appends to the main file the shard files' records it lacks, by rung and then configuration
/// key, so that the main file alone holds the whole search (and resumes as before). Returns how
/// many were appended.
pub fn fold_into_main(results: &ResultsFile) -> Result<usize, SearchError> {
    let merged = load_merged(results)?;
    let main_keys: HashSet<(String, usize)> = results
        .load()?
        .iter()
        .map(|r| (r.point.key(), r.rung))
        .collect();
    let mut new: Vec<TrialRecord> = merged
        .into_iter()
        .filter(|r| !main_keys.contains(&(r.point.key(), r.rung)))
        .collect();
    new.sort_by_key(|r| (r.rung, r.point.key()));
    for record in &new {
        results.append(record)?;
    }
    Ok(new.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::grid::Grid;

    fn record(point: usize, rung: usize, valid_mse: f64) -> TrialRecord {
        TrialRecord {
            point: Grid::paper().points()[point].clone(),
            rung,
            samples: 10 << rung,
            valid_mse: Some(valid_mse),
            seconds: 1.0,
        }
    }

    #[test]
    fn merging_keeps_each_trial_once_in_the_given_order() {
        let a = vec![record(0, 0, 0.5), record(1, 0, 0.4)];
        let b = vec![record(1, 0, 0.9), record(2, 0, 0.3), record(1, 1, 0.2)];
        let merged = merge_records([a.clone(), b.clone()]);
        assert_eq!(merged.len(), 4);
        assert_eq!(
            merged[1].valid_mse,
            Some(0.4),
            "the first file's record wins"
        );
        assert_eq!(merged[3].rung, 1, "another rung is another trial");
    }

    #[test]
    fn shard_files_are_found_in_a_fixed_order_and_folded_once() {
        let dir = std::env::temp_dir().join(format!("digit-lab-merge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let results = ResultsFile::new(dir.join("r.jsonl"));
        results.append(&record(0, 0, 0.5)).unwrap();
        // Written in the opposite order to the merge order; shard 0 repeats shard 2's trial.
        let file = |index| Shard { count: 3, index }.file(results.path());
        ResultsFile::new(file(2))
            .append(&record(2, 0, 0.3))
            .unwrap();
        ResultsFile::new(file(1))
            .append(&record(1, 0, 0.4))
            .unwrap();
        ResultsFile::new(file(0))
            .append(&record(2, 0, 0.7))
            .unwrap();
        ResultsFile::new(file(0))
            .append(&record(0, 0, 0.9))
            .unwrap();
        std::fs::write(dir.join("r.shard-x-of-3.jsonl"), "not a record\n").unwrap();

        let found: Vec<usize> = shard_files(results.path())
            .unwrap()
            .iter()
            .map(|(s, _)| s.index)
            .collect();
        assert_eq!(found, [0, 1, 2]);
        let merged = load_merged(&results).unwrap();
        let mses: Vec<Option<f64>> = merged.iter().map(|r| r.valid_mse).collect();
        assert_eq!(mses, [Some(0.5), Some(0.7), Some(0.4)]);

        assert_eq!(fold_into_main(&results).unwrap(), 2);
        assert_eq!(
            fold_into_main(&results).unwrap(),
            0,
            "folding twice adds nothing"
        );
        assert_eq!(results.load().unwrap(), merged);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
