//! The trainer CLI: one file per subcommand, each with its own arguments.

pub(crate) mod bench;
pub(crate) mod common;
pub(crate) mod digit_check;
pub(crate) mod eval;
pub(crate) mod handwriting;
pub(crate) mod maps;
pub(crate) mod predict;
pub(crate) mod publish;
pub(crate) mod record_run;
pub(crate) mod report;
pub(crate) mod search;
pub(crate) mod subset;
pub(crate) mod train;
pub(crate) mod units;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "digit-lab",
    version,
    about = "Train, publish and evaluate the Digit Lab MNIST models (burn)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model in a new run directory (runs/<id>), or resume one with --resume.
    Train(Box<train::TrainArgs>),
    /// Adopt a finished run into a weights directory, measuring its test metrics.
    Publish(publish::PublishArgs),
    /// Print the PROTOCOL.md test metrics of the models in a weights directory.
    Eval(eval::EvalArgs),
    /// Run a model on an IDX image file and print one JSON line per image.
    Predict(predict::PredictArgs),
    /// Measure training samples/s of the default ConvAE (or inference latency).
    Bench(bench::BenchArgs),
    /// Write the 2-D maps of the test digits (ConvAE, VAE, PCA-2, t-SNE) to <weights>/maps.json.
    ExportMaps(maps::ExportMapsArgs),
    /// Hyperparameter search over the paper's ConvAE grid (budgeted successive halving).
    Search(search::SearchArgs),
    /// Summarise a finished ConvAE or DAE run for the report (docs/search/full-runs.jsonl).
    RecordRun(record_run::RecordRunArgs),
    /// Regenerate every figure under docs/figures, docs/REPORT.md and docs/EXPERIMENTS.md.
    Report(report::ReportArgs),
    /// Write the MNIST subset of the in-browser training mode (gzipped IDX) to www/data.
    ExportSubset(subset::ExportSubsetArgs),
    /// Count the VAE's ReLU units that never activate on the validation split.
    DeadUnits(units::DeadUnitsArgs),
    /// Fit and measure "that's not a digit" (<weights>/digit_check.json).
    DigitCheck(digit_check::DigitCheckArgs),
    /// Measure the models on handwriting not from MNIST's files (validation only): validation
    /// digits redrawn through the pad with each pen, and font digits.
    Handwriting(handwriting::HandwritingArgs),
}

/// Parses the command line and runs the subcommand.
pub(crate) fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Train(a) => train::run(*a),
        Command::Publish(a) => publish::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Bench(a) => bench::run(a),
        Command::ExportMaps(a) => maps::run(a),
        Command::Search(a) => search::run(a),
        Command::RecordRun(a) => record_run::run(a),
        Command::Report(a) => report::run(a),
        Command::ExportSubset(a) => subset::run(a),
        Command::DeadUnits(a) => units::run(a),
        Command::DigitCheck(a) => digit_check::run(a),
        Command::Handwriting(a) => handwriting::run(a),
    }
}
