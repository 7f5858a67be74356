//! `digit-lab dead-units`: how many of the VAE's ReLU units never activate on the validation
//! split (see `digit_lab::analysis::units`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use digit_lab::analysis::units::vae_dead_units;
use digit_lab::model::{ModelKind, load_vae};

use crate::{Common, device, load_data, read_manifest, read_weights};

#[derive(Args)]
pub struct DeadUnitsArgs {
    #[command(flatten)]
    common: Common,
    /// Directory with manifest.json and the VAE's weights.
    #[arg(long, default_value = "weights")]
    weights: PathBuf,
}

/// Prints one JSON line per layer: `{"layer","units","dead"}`.
pub fn run(args: DeadUnitsArgs) -> Result<()> {
    let (device, _) = device(args.common.backend)?;
    let data = load_data(&args.common.data)?;
    let manifest = read_manifest(&args.weights)?;
    let bytes = read_weights(&args.weights, &manifest, ModelKind::Vae)?;
    let vae = load_vae(&manifest, &bytes, &device)?;
    for layer in vae_dead_units(&vae, &data.validation, &device) {
        println!("{}", serde_json::to_string(&layer)?);
    }
    Ok(())
}
