//! A sharded search step: replay the halving over every shard's results to find the rung to
//! work on (the lowest one not complete, or `--rung R`), then train this shard's missing share
//! of it. A rung is promoted only once all its trials are in, whichever shard trained them,
//! and promotion sorts by result, so a sharded search picks the configurations an unsharded
//! one picks (every trial uses the search's one seed, whatever order trials run in).

use super::grid::SearchPoint;
use super::halving::{
    FinishedTrials, HalvingPlan, ResultsFile, SearchError, SearchStop, TrialOutcome, TrialRecord,
    index_records, promote,
};
use super::merge::load_merged;
use super::shard::Shard;

/// Where a search stands.
#[derive(Debug, PartialEq)]
pub struct Frontier {
    /// The first rung with an untrained configuration (or the rung asked for); `plan.rungs`
    /// when the search is finished.
    pub rung: usize,
    /// That rung's configurations (empty when finished).
    pub candidates: Vec<SearchPoint>,
    /// How many of them are untrained.
    pub missing: usize,
}

/// Replays the halving over `finished`, stopping at the first incomplete rung or at `stop_at`.
pub fn frontier(
    points: &[SearchPoint],
    plan: &HalvingPlan,
    finished: &FinishedTrials,
    stop_at: usize,
) -> Frontier {
    let mut candidates = points.to_vec();
    for rung in 0..plan.rungs {
        let done: Vec<TrialRecord> = candidates
            .iter()
            .filter_map(|p| finished.get(&(p.key(), rung)).cloned())
            .collect();
        let missing = candidates.len() - done.len();
        if missing > 0 || rung == stop_at {
            return Frontier {
                rung,
                candidates,
                missing,
            };
        }
        candidates = promote(plan, done);
    }
    Frontier {
        rung: plan.rungs,
        candidates: Vec::new(),
        missing: 0,
    }
}

/// Where the search in `results` and its shard files stands.
pub fn progress(
    points: &[SearchPoint],
    plan: &HalvingPlan,
    results: &ResultsFile,
) -> Result<Frontier, SearchError> {
    let finished = index_records(plan, results.path(), load_merged(results)?)?;
    Ok(frontier(points, plan, &finished, plan.rungs))
}

/// What one shard step did.
#[derive(Debug)]
pub struct ShardSummary {
    pub stop: SearchStop,
    /// The rung worked on (`plan.rungs` when the search was already finished).
    pub rung: usize,
    /// This shard's share of the rung.
    pub share: usize,
    pub trained: usize,
    /// Trials of the share found finished (in any results file of the search).
    pub reused: usize,
    pub seconds: f64,
}

/// Trains `shard`'s untrained share of `rung` (default: the lowest incomplete rung) into the
/// shard's own file, as [`super::halving::run`] would, under the same budget rule.
#[allow(clippy::too_many_arguments)]
pub fn run_shard(
    points: &[SearchPoint],
    plan: &HalvingPlan,
    budget_seconds: f64,
    results: &ResultsFile,
    shard: Shard,
    rung: Option<usize>,
    mut trial: impl FnMut(&SearchPoint, usize) -> Result<TrialOutcome, String>,
    mut on_record: impl FnMut(&TrialRecord, bool),
) -> Result<ShardSummary, SearchError> {
    plan.validate().map_err(SearchError::Plan)?;
    if let Some(r) = rung.filter(|&r| r >= plan.rungs) {
        return Err(SearchError::Plan(format!(
            "--rung {r}: the plan has rungs 0 to {}",
            plan.rungs - 1
        )));
    }
    let finished = index_records(plan, results.path(), load_merged(results)?)?;
    let at = frontier(points, plan, &finished, rung.unwrap_or(plan.rungs));
    if let Some(r) = rung.filter(|&r| at.rung < r) {
        return Err(SearchError::Plan(format!(
            "rung {r} cannot start: rung {} still lacks {} of its {} trials",
            at.rung,
            at.missing,
            at.candidates.len()
        )));
    }
    let share = shard.share(&at.candidates);
    let file = ResultsFile::new(shard.file(results.path()));
    let samples = plan.samples(at.rung.min(plan.rungs - 1));
    let mut summary = ShardSummary {
        stop: SearchStop::Finished,
        rung: at.rung,
        share: share.len(),
        trained: 0,
        reused: 0,
        seconds: 0.0,
    };
    for point in &share {
        if let Some(record) = finished.get(&(point.key(), at.rung)) {
            summary.reused += 1;
            on_record(record, true);
            continue;
        }
        if summary.seconds >= budget_seconds {
            summary.stop = SearchStop::BudgetSpent;
            return Ok(summary);
        }
        let record = TrialRecord::train(&mut trial, point, at.rung, samples)?;
        file.append(&record)?;
        summary.seconds += record.seconds;
        summary.trained += 1;
        on_record(&record, false);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::halving::{ranking, run};
    use crate::search::merge::{fold_into_main, load_merged};
    use crate::search::{Grid, TrialRecord};

    const PLAN: HalvingPlan = HalvingPlan {
        min_samples: 10,
        eta: 2,
        rungs: 3,
    };

    fn points() -> Vec<SearchPoint> {
        let mut grid = Grid::paper();
        for spec in [
            "c1=8,16,32",
            "c2=16,32",
            "c3=64",
            "fc=64",
            "lr=1e-3",
            "l2=1e-5",
        ] {
            grid.set(spec).unwrap();
        }
        grid.points() // 12 points
    }

    /// A deterministic fake trainer whose ranking changes between rungs.
    fn fake_loss(p: &SearchPoint, samples: usize) -> f64 {
        let rung_factor = if samples > 10 {
            p.dropout
        } else {
            1.0 - p.dropout
        };
        (p.c1 as f64 + p.c2 as f64 * rung_factor) / samples as f64
    }

    fn fake_trial(
        log: &mut Vec<(String, usize)>,
    ) -> impl FnMut(&SearchPoint, usize) -> Result<TrialOutcome, String> + '_ {
        |p, samples| {
            log.push((p.key(), samples));
            Ok(TrialOutcome {
                valid_mse: fake_loss(p, samples),
                seconds: 1.0,
            })
        }
    }

    fn temp_results(name: &str) -> ResultsFile {
        let dir = std::env::temp_dir()
            .join(format!("digit-lab-sharded-{}", std::process::id()))
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        ResultsFile::new(dir.join("r.jsonl"))
    }

    fn without_seconds(records: Vec<TrialRecord>) -> Vec<(String, usize, Option<f64>)> {
        records
            .into_iter()
            .map(|r| (r.point.key(), r.rung, r.valid_mse))
            .collect()
    }

    /// Runs every rung with `count` shards, the shards of a rung in `order`.
    fn sharded_search(
        results: &ResultsFile,
        count: usize,
        order: &[usize],
    ) -> Vec<(String, usize)> {
        let mut log = Vec::new();
        for rung in 0..PLAN.rungs {
            for &index in order {
                let shard = Shard { count, index };
                let s = run_shard(
                    &points(),
                    &PLAN,
                    f64::INFINITY,
                    results,
                    shard,
                    Some(rung),
                    fake_trial(&mut log),
                    |_, _| {},
                )
                .unwrap();
                assert_eq!((s.rung, s.stop), (rung, SearchStop::Finished));
            }
        }
        log
    }

    #[test]
    fn a_sharded_search_ranks_as_an_unsharded_one_whatever_the_shard_order() {
        let whole = temp_results("whole");
        let mut log = Vec::new();
        run(
            &points(),
            &PLAN,
            f64::INFINITY,
            &whole,
            fake_trial(&mut log),
            |_, _| {},
        )
        .unwrap();
        let expected = without_seconds(ranking(&whole.load().unwrap()));
        assert_eq!(log.len(), 12 + 6 + 3);

        for (name, order) in [("forward", [0, 1, 2]), ("backward", [2, 0, 1])] {
            let sharded = temp_results(name);
            let log = sharded_search(&sharded, 3, &order);
            assert_eq!(log.len(), 12 + 6 + 3, "each trial trained once");
            let merged = load_merged(&sharded).unwrap();
            assert_eq!(without_seconds(ranking(&merged)), expected, "{name}");
            fold_into_main(&sharded).unwrap();
            assert_eq!(sharded.load().unwrap().len(), 21);
            let f = frontier(
                &points(),
                &PLAN,
                &index_records(&PLAN, sharded.path(), merged).unwrap(),
                PLAN.rungs,
            );
            assert_eq!(f.rung, PLAN.rungs, "finished");
        }
    }

    #[test]
    fn a_rerun_shard_trains_only_what_it_lacks_and_a_rung_waits_for_the_last() {
        let results = temp_results("resume");
        let shard = |index| Shard { count: 3, index };
        let mut log = Vec::new();
        // Shard 1 is killed after two trials (its budget stands in for the kill)...
        let s = run_shard(
            &points(),
            &PLAN,
            1.5,
            &results,
            shard(1),
            None,
            fake_trial(&mut log),
            |_, _| {},
        )
        .unwrap();
        assert_eq!(
            (s.stop, s.trained, s.share),
            (SearchStop::BudgetSpent, 2, 4)
        );
        // ...mid-write of its third.
        let path = shard(1).file(results.path());
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"point\":{\"c1\":");
        std::fs::write(&path, text).unwrap();
        for index in [0, 2] {
            run_shard(
                &points(),
                &PLAN,
                f64::INFINITY,
                &results,
                shard(index),
                None,
                fake_trial(&mut log),
                |_, _| {},
            )
            .unwrap();
        }
        // Rung 1 cannot start while rung 0 lacks shard 1's last two trials.
        let err = run_shard(
            &points(),
            &PLAN,
            f64::INFINITY,
            &results,
            shard(0),
            Some(1),
            fake_trial(&mut log),
            |_, _| {},
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("rung 0 still lacks 2 of its 12"),
            "{err}"
        );

        log.clear();
        let s = run_shard(
            &points(),
            &PLAN,
            f64::INFINITY,
            &results,
            shard(1),
            None,
            fake_trial(&mut log),
            |_, _| {},
        )
        .unwrap();
        assert_eq!(
            (s.rung, s.trained, s.reused),
            (0, 2, 2),
            "the resubmitted shard skips its finished trials"
        );
        let first_two: Vec<String> = shard(1)
            .share(&points())
            .iter()
            .take(2)
            .map(SearchPoint::key)
            .collect();
        assert!(log.iter().all(|(k, _)| !first_two.contains(k)));
        // A shard with the whole rung finished moves on to the next rung by itself.
        let s = run_shard(
            &points(),
            &PLAN,
            f64::INFINITY,
            &results,
            shard(1),
            None,
            fake_trial(&mut log),
            |_, _| {},
        )
        .unwrap();
        assert_eq!((s.rung, s.share, s.trained), (1, 2, 2));
    }

    #[test]
    fn out_of_range_rungs_are_refused() {
        let results = temp_results("range");
        let err = run_shard(
            &points(),
            &PLAN,
            1.0,
            &results,
            Shard { count: 1, index: 0 },
            Some(3),
            |_, _| unreachable!(),
            |_, _| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("--rung 3"), "{err}");
    }
}
