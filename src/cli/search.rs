//! `digit-lab search`: budgeted successive halving over the paper's ConvAE grid.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use digit_lab::search::{self, Grid, HalvingPlan, ResultsFile, SearchPoint, SearchStop};

use super::common::Common;

#[derive(Args)]
pub struct SearchArgs {
    #[command(flatten)]
    common: Common,
    /// JSON-lines results file: every finished trial is appended; an existing file is resumed.
    #[arg(long, default_value = "docs/search/results.jsonl")]
    results: PathBuf,
    /// Wall-clock budget in minutes for the trials of this run (resume to spend more).
    #[arg(long, default_value_t = 60.0)]
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
    let points_keys: Vec<String> = points.iter().map(|p| p.key()).collect();
    let recorded_plan = serde_json::json!({
        "grid_points": points.len(),
        "grid_sha256": digit_lab::model::weights_dir::sha256_hex(points_keys.join("\n").as_bytes()),
        "seed": args.seed,
        "valid_size": args.valid_size,
        "min_samples": args.min_samples,
        "eta": args.eta,
        "rungs": args.rungs,
        "data": args.common.data.display().to_string(),
    });
    search::plan_file::check_or_record(&args.results, &recorded_plan)?;
    let (device, data) = args.common.device_and_data()?;
    let valid = data
        .validation
        .slice(0..args.valid_size.min(data.validation.len()));
    let results = ResultsFile::new(&args.results);
    let total: usize = sizes.iter().sum();
    let mut seen = 0;
    let summary = search::run(
        &points,
        &plan,
        args.budget_minutes * 60.0,
        &results,
        |point, samples| {
            search::trial::conv_ae_trial(point, samples, &data.train, &valid, &device, args.seed)
        },
        |record, reused| {
            seen += 1;
            if !reused {
                eprintln!(
                    "[{seen}/{total}] rung {} {}: valid MSE {} ({:.1}s)",
                    record.rung,
                    record.point.key(),
                    record
                        .valid_mse
                        .map_or("diverged".to_string(), |m| format!("{m:.5}")),
                    record.seconds
                );
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
        args.results.display(),
        summary.seconds
    );
    let ranked = search::ranking(&results.load()?);
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
    Ok(())
}
