//! `digit-lab search`: budgeted successive halving over the paper's ConvAE grid — the
//! autoencoder's, or the denoiser's with `--noise-amount` — in one process or as shards of a rung
//! (`--shard I/N`, see `scripts/search-slurm`) merged by `--merge`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use digit_lab::search::trial::TrialTask;
use digit_lab::search::{self, Grid, HalvingPlan, ResultsFile, SearchPoint, SearchStop, Shard};

use super::common::Common;

#[derive(Args)]
pub struct SearchArgs {
    #[command(flatten)]
    common: Common,
    /// JSON-lines results file: every finished trial is appended; an existing file is resumed.
    /// Default docs/search/results.jsonl, or docs/search/dae-results.jsonl with --noise-amount.
    #[arg(long)]
    results: Option<PathBuf>,
    /// Search the denoiser instead: trials reconstruct the clean image from
    /// clip(x + a·N(0, 1), 0, 1) and are scored on the denoising MSE (the paper's DAE: 0.3).
    #[arg(long, value_name = "A", value_parser = parse_noise_amount)]
    noise_amount: Option<f32>,
    /// Wall-clock budget in minutes for the trials of this run (resume to spend more).
    #[arg(long, default_value_t = 60.0, value_parser = super::common::parse_finite)]
    budget_minutes: f64,
    /// Training images per configuration in the first rung.
    #[arg(long, default_value_t = 2048)]
    min_samples: usize,
    /// Keep the best 1/eta of each rung and give the next rung eta times the images.
    #[arg(long, default_value_t = 3)]
    eta: usize,
    #[arg(long, default_value_t = 6)]
    rungs: usize,
    /// Validation images each trial is scored on (the first N of the validation split).
    #[arg(long, default_value_t = 2000)]
    valid_size: usize,
    /// Restrict or change the grid, e.g. `--set c1=8,16 --set lr=1e-3` (names: c1, c2, c3, fc,
    /// lr, l2, drop).
    #[arg(long = "set", value_name = "NAME=V1,V2")]
    overrides: Vec<String>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Train only shard I of N (0 <= I < N) of a rung, into `<results>.shard-I-of-N.jsonl`:
    /// the rung's configurations sorted by key, every N-th from the I-th. Trials already in any
    /// of the search's files are skipped.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// With --shard: the rung to work on (refused until every earlier rung is complete);
    /// default the lowest rung not complete.
    #[arg(long, requires = "shard")]
    rung: Option<usize>,
    /// Train nothing: fold the shard files into the results file and print the ranking; fails
    /// when the search is not finished.
    #[arg(long, conflicts_with = "shard")]
    merge: bool,
}

/// A noise amount in (0, 1].
fn parse_noise_amount(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(a) if a > 0.0 && a <= 1.0 => Ok(a),
        _ => Err(format!("expected a noise amount in (0, 1], got {text:?}")),
    }
}

impl SearchArgs {
    fn task(&self) -> TrialTask {
        match self.noise_amount {
            Some(noise_amount) => TrialTask::Denoiser { noise_amount },
            None => TrialTask::Autoencoder,
        }
    }

    fn results_path(&self) -> PathBuf {
        self.results.clone().unwrap_or_else(|| match self.task() {
            TrialTask::Autoencoder => "docs/search/results.jsonl".into(),
            TrialTask::Denoiser { .. } => "docs/search/dae-results.jsonl".into(),
        })
    }
}

pub fn run(args: SearchArgs) -> Result<()> {
    let mut grid = Grid::paper();
    for spec in &args.overrides {
        grid.set(spec)?;
    }
    if !(args.budget_minutes.is_finite() && args.budget_minutes >= 0.0) {
        bail!("--budget-minutes must be >= 0, got {}", args.budget_minutes);
    }
    let plan = HalvingPlan {
        min_samples: args.min_samples,
        eta: args.eta,
        rungs: args.rungs,
    };
    plan.validate().map_err(anyhow::Error::msg)?;
    let points = grid.points();
    let sizes = plan.sizes(points.len());
    eprintln!(
        "successive halving: {} configurations per rung {sizes:?}, images per configuration {:?}",
        points.len(),
        (0..plan.rungs).map(|r| plan.samples(r)).collect::<Vec<_>>()
    );
    let results_path = args.results_path();
    search::plan_file::check_or_record(&results_path, &recorded_plan(&args, &points))?;
    let results = ResultsFile::new(&results_path);
    if args.merge {
        return merge(&points, &plan, &results);
    }
    let (device, data) = args.common.device_and_training_data()?;
    let valid = data
        .validation
        .slice(0..args.valid_size.min(data.validation.len()));
    let task = args.task();
    let trial = |point: &SearchPoint, samples| {
        search::trial::conv_ae_trial(
            point,
            samples,
            task,
            (&data.train, &valid),
            &device,
            args.seed,
        )
    };
    if let Some(shard) = args.shard {
        return run_shard(&args, &points, &plan, &results, shard, trial);
    }
    let folded = search::merge::fold_into_main(&results)?;
    if folded > 0 {
        eprintln!("{folded} trials merged from the shard files");
    }
    let total: usize = sizes.iter().sum();
    let mut seen = 0;
    let summary = search::run(
        &points,
        &plan,
        args.budget_minutes * 60.0,
        &results,
        trial,
        |record, reused| {
            seen += 1;
            if !reused {
                eprintln!("[{seen}/{total}] {}", describe(record));
            }
        },
    )?;
    eprintln!(
        "{}: {} trials trained now, {} reused from {}, {:.0}s",
        match summary.stop {
            SearchStop::Finished => "search finished",
            SearchStop::BudgetSpent => "budget spent (run again to continue)",
        },
        summary.trained,
        summary.reused,
        results_path.display(),
        summary.seconds
    );
    print_ranking(&search::ranking(&results.load()?));
    Ok(())
}

/// `--shard I/N`: this process's share of a rung; an unfinished share is an error, so that a
/// Slurm array task that ran out of budget fails and its rung's dependants do not start.
fn run_shard(
    args: &SearchArgs,
    points: &[SearchPoint],
    plan: &HalvingPlan,
    results: &ResultsFile,
    shard: Shard,
    trial: impl FnMut(&SearchPoint, usize) -> Result<search::TrialOutcome, String>,
) -> Result<()> {
    let summary = search::run_shard(
        points,
        plan,
        args.budget_minutes * 60.0,
        results,
        shard,
        args.rung,
        trial,
        |record, reused| {
            if !reused {
                eprintln!("shard {}/{} {}", shard.index, shard.count, describe(record));
            }
        },
    )?;
    if summary.rung == plan.rungs {
        eprintln!(
            "search finished: shard {}/{} has nothing to do",
            shard.index, shard.count
        );
        return Ok(());
    }
    eprintln!(
        "shard {}/{} of rung {}: {} of its {} trials trained now, {} found finished, {:.0}s",
        shard.index,
        shard.count,
        summary.rung,
        summary.trained,
        summary.share,
        summary.reused,
        summary.seconds
    );
    if summary.stop == SearchStop::BudgetSpent {
        bail!(
            "budget spent before shard {}/{} of rung {} was done: run it again to continue",
            shard.index,
            shard.count,
            summary.rung
        );
    }
    Ok(())
}

/// `--merge`: the shard files folded into the results file, and the ranking.
fn merge(points: &[SearchPoint], plan: &HalvingPlan, results: &ResultsFile) -> Result<()> {
    let folded = search::merge::fold_into_main(results)?;
    let at = search::progress(points, plan, results)?;
    eprintln!(
        "{folded} trials merged from the shard files into {}",
        results.path().display()
    );
    print_ranking(&search::ranking(&results.load()?));
    if at.rung < plan.rungs {
        bail!(
            "the search is not finished: rung {} lacks {} of its {} trials",
            at.rung,
            at.missing,
            at.candidates.len()
        );
    }
    Ok(())
}

/// One trial's line of progress.
fn describe(record: &search::TrialRecord) -> String {
    format!(
        "rung {} {}: valid MSE {} ({:.1}s)",
        record.rung,
        record.point.key(),
        record
            .valid_mse
            .map_or("diverged".to_string(), |m| format!("{m:.5}")),
        record.seconds
    )
}

/// What a results file records of the search that wrote it: resuming with other settings is
/// refused.
fn recorded_plan(args: &SearchArgs, points: &[SearchPoint]) -> serde_json::Value {
    let points_keys: Vec<String> = points.iter().map(|p| p.key()).collect();
    let mut plan = serde_json::json!({
        "grid_points": points.len(),
        "grid_sha256": digit_lab::model::weights_dir::sha256_hex(points_keys.join("\n").as_bytes()),
        "seed": args.seed,
        "valid_size": args.valid_size,
        "min_samples": args.min_samples,
        "eta": args.eta,
        "rungs": args.rungs,
        "data": args.common.data.display().to_string(),
    });
    // Only a denoiser search records its noise, so the autoencoder searches' files still resume.
    if let Some(a) = args.noise_amount {
        plan["noise_amount"] = serde_json::json!(a);
    }
    plan
}

/// The ten best trials by validation MSE, and where the paper's configuration ranks.
fn print_ranking(ranked: &[search::TrialRecord]) {
    println!("rank  rung  images   valid MSE  configuration");
    for (i, r) in ranked.iter().take(10).enumerate() {
        println!(
            "{:>4}  {:>4}  {:>7}  {:>9}  {}",
            i + 1,
            r.rung,
            r.samples,
            r.valid_mse.map_or("diverged".into(), |m| format!("{m:.5}")),
            r.point.key()
        );
    }
    let paper = SearchPoint::paper_best().key();
    if let Some(i) = ranked.iter().position(|r| r.point.key() == paper) {
        println!("paper's configuration: rank {} of {}", i + 1, ranked.len());
    }
}
