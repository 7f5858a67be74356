//! The settings a results file was made with, kept beside it (`<results>.plan.json`): a search
//! resumes only under the same grid, seed, validation size and halving plan, since trials made
//! under other settings are not comparable with new ones.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::halving::SearchError;

/// `docs/search/results.jsonl` → `docs/search/results.plan.json`.
pub fn plan_path(results: &Path) -> PathBuf {
    results.with_extension("plan.json")
}

/// Records `plan` beside a new results file, or checks it against the recorded one.
pub fn check_or_record(results: &Path, plan: &Value) -> Result<(), SearchError> {
    let path = plan_path(results);
    let io = |source| SearchError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            let recorded: Value = serde_json::from_slice(&bytes).map_err(|e| {
                SearchError::Plan(format!("{}: unreadable plan: {e}", path.display()))
            })?;
            // Every setting of either plan: one recorded only by the file's search (a denoiser's
            // noise) differs as much as one with another value.
            let keys: std::collections::BTreeSet<&String> = [plan, &recorded]
                .into_iter()
                .filter_map(Value::as_object)
                .flat_map(|o| o.keys())
                .collect();
            let shown = |v: Option<&Value>| v.map_or("nothing".into(), Value::to_string);
            let differing: Vec<String> = keys
                .into_iter()
                .filter(|k| recorded.get(k.as_str()) != plan.get(k.as_str()))
                .map(|k| {
                    format!(
                        "{k} {} (the file was made with {})",
                        shown(plan.get(k.as_str())),
                        shown(recorded.get(k.as_str()))
                    )
                })
                .collect();
            if differing.is_empty() {
                Ok(())
            } else {
                Err(SearchError::Plan(format!(
                    "{} was made with other settings: {}; use a new --results file for a different plan",
                    results.display(),
                    differing.join(", ")
                )))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let has_records = |file: &Path| std::fs::metadata(file).is_ok_and(|m| m.len() > 0);
            let shards = super::merge::shard_files(results)?;
            if has_records(results) || shards.iter().any(|(_, f)| has_records(f)) {
                return Err(SearchError::Plan(format!(
                    "{} has no record of its settings ({} is missing); use a new --results file",
                    results.display(),
                    path.display()
                )));
            }
            let json = serde_json::to_vec_pretty(plan).expect("a JSON value serialises");
            crate::fs_util::write_atomic(&path, &json).map_err(io)
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_different_plan_is_refused_and_names_the_setting() {
        let dir = std::env::temp_dir().join(format!("digit-lab-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let results = dir.join("r.jsonl");
        let plan = serde_json::json!({ "seed": 42, "valid_size": 2000 });
        check_or_record(&results, &plan).unwrap();
        check_or_record(&results, &plan).unwrap();
        let other = serde_json::json!({ "seed": 7, "valid_size": 2000 });
        let err = check_or_record(&results, &other).unwrap_err().to_string();
        assert!(
            err.contains("seed 7") && err.contains("made with 42"),
            "{err}"
        );
        // A setting only the file's plan has is a difference too.
        let without_seed = serde_json::json!({ "valid_size": 2000 });
        let err = check_or_record(&results, &without_seed)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("seed nothing (the file was made with 42)"),
            "{err}"
        );
        // A results file (or a shard's) without its plan is not resumed blindly.
        std::fs::remove_file(plan_path(&results)).unwrap();
        let shard = dir.join("r.shard-0-of-2.jsonl");
        std::fs::write(&shard, "{}\n").unwrap();
        assert!(check_or_record(&results, &plan).is_err());
        std::fs::remove_file(shard).unwrap();
        std::fs::write(&results, "{}\n").unwrap();
        assert!(check_or_record(&results, &plan).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
