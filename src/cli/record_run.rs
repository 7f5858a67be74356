//! `digit-lab record-run`: a finished ConvAE or DAE run summarised as one line of the full
//! runs' file (`docs/search/full-runs.jsonl`) the report reads: its configuration, curves and
//! the 5-NN accuracy of its validation codes.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use digit_lab::data::TrainingData;
use digit_lab::model::weights_dir::WeightsDir;
use digit_lab::search::full_runs::{self, FullRunsFile};

use super::common::{Common, device, fetch_if_missing};

#[derive(Args)]
pub struct RecordRunArgs {
    #[command(flatten)]
    common: Common,
    /// A finished run directory holding an `ae` or `dae` model.
    run_dir: PathBuf,
    /// The full runs' file; a record of the same run is replaced.
    #[arg(long, default_value = "docs/search/full-runs.jsonl")]
    to: PathBuf,
}

pub fn run(args: RecordRunArgs) -> Result<()> {
    let store = WeightsDir::open(&args.run_dir)?;
    let (kind, valid_size) = full_runs::run_kind(&store)?;
    let (device, _) = device(args.common.backend)?;
    fetch_if_missing(&args.common.data)?;
    let data = TrainingData::load(&args.common.data, valid_size)?;
    let model = store.load(kind, &device)?.into_conv_ae()?;
    let record = full_runs::summarize(&store, kind, &model, &data.validation, &device)?;
    println!(
        "{} {}: validation {:.5} (epoch {} of {}), 5-NN of the {}-D code {:.4}",
        record.model,
        record.run,
        record.best_valid_loss,
        record.best_epoch,
        record.epochs,
        record.code,
        record.valid_knn5
    );
    FullRunsFile::new(&args.to).record(record)?;
    eprintln!("recorded in {}", args.to.display());
    Ok(())
}
