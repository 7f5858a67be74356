//! `digit-lab digit-check`: sets the thresholds of "that's not a digit" on the validation split
//! and measures them on the test digits and on generated non-digit drawings; writes the
//! thresholds and the measured rates to `<weights>/digit_check.json`. (The page does not use it
//! yet: it needs the class means and precision matrices too, 128² and 576² values, which call
//! for a compact file format first.)

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use digit_lab::analysis::digit_check::measure;
use digit_lab::model::ModelKind;
use digit_lab::model::weights_dir::WeightsDir;
use serde_json::json;

use super::common::{Common, device, load_data};

#[derive(Args)]
pub(crate) struct DigitCheckArgs {
    #[command(flatten)]
    common: Common,
    /// Directory with the VAE and the best classifier; digit_check.json is written there.
    #[arg(long, default_value = "weights")]
    weights: PathBuf,
    /// Share of validation digits each threshold lets through.
    #[arg(long, default_value_t = 0.998)]
    quantile: f64,
    /// Non-digit drawings to measure the rejection on.
    #[arg(long, default_value_t = 2100)]
    non_digits: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

pub(crate) fn run(args: DigitCheckArgs) -> Result<()> {
    if !(args.quantile > 0.5 && args.quantile < 1.0) {
        anyhow::bail!("--quantile must be in (0.5, 1), got {}", args.quantile);
    }
    if args.non_digits == 0 {
        anyhow::bail!("--non-digits must be at least 1");
    }
    let (device, _) = device(args.common.backend)?;
    let store = WeightsDir::open(&args.weights)?;
    let vae = store.load(ModelKind::Vae, &device)?.into_vae()?;
    let classifier = store
        .load(ModelKind::ClassifierBest, &device)?
        .into_classifier()?;
    let data = load_data(&args.common.data)?;
    let report = measure(
        &vae,
        &classifier,
        &data,
        args.quantile,
        args.non_digits,
        args.seed,
        &device,
    );
    let check = &report.check;
    println!(
        "thresholds: negative ELBO <= {:.1} nats, confidence >= {:.3}, feature distance <= {:.2}, convolution feature distance <= {:.2} (each passes {:.1} % of validation digits)",
        check.max_neg_elbo,
        check.min_confidence,
        check.max_distance,
        check.max_conv_distance,
        100.0 * args.quantile
    );
    let m = &report.measured;
    println!(
        "validation digits accepted  {:.2} %",
        100.0 * m.validation_digits_accepted
    );
    println!(
        "test digits accepted        {:.2} %",
        100.0 * m.test_digits_accepted
    );
    println!(
        "non-digits rejected         {:.2} % of {}",
        100.0 * m.non_digits_rejected,
        m.non_digits
    );
    for (kind, rejected) in &m.non_digits_rejected_by_kind {
        println!("  {kind:<9} {:.1} %", 100.0 * rejected);
    }
    let mut record = serde_json::to_value(&report)?;
    record["measured"]["command"] = json!(format!(
        "digit-lab digit-check --quantile {} --non-digits {} --seed {}",
        args.quantile, args.non_digits, args.seed
    ));
    let path = args.weights.join("digit_check.json");
    digit_lab::fs_util::write_atomic(&path, serde_json::to_string_pretty(&record)?.as_bytes())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
