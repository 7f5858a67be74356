//! `digit-lab eval`: the PROTOCOL.md test metrics of every model in a weights directory,
//! measured again from the weights (the manifest's figures are what publishing measured).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use digit_lab::eval::test_metrics;
use digit_lab::model::ModelKind;
use digit_lab::model::weights_dir::WeightsDir;

use super::common::{Common, device, fetch_if_missing, summary};

#[derive(Args)]
pub(crate) struct EvalArgs {
    #[command(flatten)]
    common: Common,
    /// Directory with manifest.json and the weights.
    #[arg(long, default_value = "weights")]
    weights: PathBuf,
    /// Validation split (the last N training images) for the classifiers' validation accuracy.
    #[arg(long, default_value_t = 10_000)]
    valid_size: usize,
    /// Print a Markdown table (as in the README) instead of JSON lines.
    #[arg(long)]
    markdown: bool,
}

/// Measures every model it can load; lists the ones it cannot and fails if there were any.
pub(crate) fn run(args: EvalArgs) -> Result<()> {
    let (device, _) = device(args.common.backend)?;
    let store = WeightsDir::open(&args.weights)?;
    fetch_if_missing(&args.common.data)?;
    let data = digit_lab::data::Mnist::load_split(&args.common.data, args.valid_size)?;
    let mut measured = serde_json::Map::new();
    let mut failed = Vec::new();
    for kind in ModelKind::ALL {
        let Ok(entry) = store.manifest.entry(kind) else {
            continue;
        };
        let metrics = store
            .load(kind, &device)
            .map_err(anyhow::Error::from)
            .and_then(|model| Ok(test_metrics(kind, entry, &model, &data, &device)?));
        match metrics {
            Ok(metrics) => {
                if !args.markdown {
                    println!("{:<16} {}", kind.key(), summary(&metrics));
                }
                measured.insert(kind.key().to_string(), metrics);
            }
            Err(e) => failed.push(format!("{}: {e}", kind.key())),
        }
    }
    if args.markdown && !measured.is_empty() {
        print!(
            "{}",
            digit_lab::report::markdown::metrics_table(&store.manifest, &measured)
        );
    }
    for failure in &failed {
        eprintln!("error: {failure}");
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} models in {} could not be evaluated",
            failed.len(),
            failed.len() + measured.len(),
            args.weights.display()
        );
    }
    if measured.is_empty() {
        bail!(
            "no trained models in {}",
            args.weights.join("manifest.json").display()
        );
    }
    Ok(())
}
