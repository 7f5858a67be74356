//! `digit-lab dead-units`: how many of the VAE's ReLU units never activate on the validation
//! split (see `digit_lab::analysis::units`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use digit_lab::analysis::units::vae_dead_units;
use digit_lab::model::ModelKind;
use digit_lab::model::weights_dir::WeightsDir;

use super::common::Common;

#[derive(Args)]
pub(crate) struct DeadUnitsArgs {
    #[command(flatten)]
    common: Common,
    /// Directory with manifest.json and the VAE's weights.
    #[arg(long, default_value = "weights")]
    weights: PathBuf,
}

/// Prints one JSON line per layer: `{"layer","units","dead"}`.
pub(crate) fn run(args: DeadUnitsArgs) -> Result<()> {
    let (device, data) = args.common.device_and_training_data()?;
    let vae = WeightsDir::open(&args.weights)?
        .load(ModelKind::Vae, &device)?
        .into_vae()?;
    for layer in vae_dead_units(&vae, &data.validation, &device) {
        println!("{}", serde_json::to_string(&layer)?);
    }
    Ok(())
}
