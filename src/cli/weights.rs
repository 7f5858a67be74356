//! The committed models as files: loading any of them by kind, measuring its PROTOCOL.md test
//! metrics (`eval`), and `convert-weights`, which rewrites a directory's weights in the storage
//! precision and re-measures their test metrics into the manifest (how the f32 weights trained
//! before the switch to f16 storage were converted without retraining).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use burn::prelude::*;
use clap::Args;
use digit_lab::data::Mnist;
use digit_lab::eval;
use digit_lab::model::{
    Classifier, ConvAe, Manifest, ModelKind, Vae, VaeConfig, WideDae, load_classifier,
    load_conv_ae, load_vae, load_wide_dae, store,
};
use serde_json::Value;

use crate::{Common, device, load_data, read_manifest, read_weights};

/// One committed model, whatever its architecture.
#[allow(clippy::large_enum_variant)] // a handful of values per command: boxing would buy nothing
pub(crate) enum Loaded {
    ConvAe(ConvAe),
    WideDae(WideDae),
    Vae(Vae),
    Classifier(Classifier),
}

pub(crate) fn load(
    manifest: &Manifest,
    kind: ModelKind,
    bytes: &[u8],
    device: &Device,
) -> Result<Loaded> {
    Ok(match kind {
        ModelKind::Ae | ModelKind::Dae => {
            Loaded::ConvAe(load_conv_ae(manifest, kind, bytes, device)?)
        }
        ModelKind::DaeWide => Loaded::WideDae(load_wide_dae(manifest, bytes, device)?),
        ModelKind::Vae => Loaded::Vae(load_vae(manifest, bytes, device)?),
        ModelKind::Classifier | ModelKind::ClassifierBest => {
            Loaded::Classifier(load_classifier(manifest, kind, bytes, device)?)
        }
    })
}

/// The test metrics of PROTOCOL.md, in the form the trainer records them in the manifest.
pub(crate) fn test_metrics(
    manifest: &Manifest,
    kind: ModelKind,
    model: &Loaded,
    data: &Mnist,
    device: &Device,
) -> Result<Value> {
    let entry = manifest.entry(kind)?;
    let noise_amount = || -> Result<f32> {
        Ok(entry.hyperparameters["noise_amount"]
            .as_f64()
            .context("noise_amount")? as f32)
    };
    let test = &data.test;
    Ok(match model {
        Loaded::ConvAe(m) if kind == ModelKind::Dae => serde_json::to_value(eval::dae_metrics(
            m,
            test,
            noise_amount()?,
            eval::EVAL_SEED,
            device,
        ))?,
        Loaded::ConvAe(m) => serde_json::to_value(eval::ae_metrics(m, test, device))?,
        Loaded::WideDae(m) => serde_json::to_value(eval::dae_metrics(
            m,
            test,
            noise_amount()?,
            eval::EVAL_SEED,
            device,
        ))?,
        Loaded::Vae(m) => {
            let config: VaeConfig = manifest.architecture(kind)?;
            serde_json::to_value(eval::vae_metrics(
                m,
                test,
                config.latent,
                eval::EVAL_SEED,
                device,
            ))?
        }
        Loaded::Classifier(m) => {
            let metrics = eval::classifier_metrics(m, test, device);
            let valid = eval::classifier_metrics(m, &data.validation, device);
            serde_json::json!({
                "accuracy": metrics.accuracy,
                "confusion": metrics.confusion,
                "valid_accuracy": valid.accuracy,
            })
        }
    })
}

#[derive(Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    common: Common,
    /// Directory with manifest.json and the weights; rewritten in place.
    #[arg(long, default_value = "weights")]
    weights: PathBuf,
}

/// Rewrites every model's weights in the storage precision and records the test metrics of the
/// rewritten weights in the manifest (training history and validation losses stay as trained).
pub fn run(args: ConvertArgs) -> Result<()> {
    let mut manifest = read_manifest(&args.weights)?;
    let (device, _) = device(args.common.backend)?;
    let data = load_data(&args.common.data)?;
    let kinds: Vec<ModelKind> = ModelKind::ALL
        .into_iter()
        .filter(|k| manifest.entry(*k).is_ok())
        .collect();
    if kinds.is_empty() {
        bail!("no trained models in {}", args.weights.display());
    }
    for kind in kinds {
        let path = args.weights.join(&manifest.entry(kind)?.file);
        let stored = read_weights(&args.weights, &manifest, kind)?;
        let model = load(&manifest, kind, &stored, &device)?;
        let bytes = match model {
            Loaded::ConvAe(m) => store::to_bytes(m, kind.key())?,
            Loaded::WideDae(m) => store::to_bytes(m, kind.key())?,
            Loaded::Vae(m) => store::to_bytes(m, kind.key())?,
            Loaded::Classifier(m) => store::to_bytes(m, kind.key())?,
        };
        write(&path, &bytes)?;
        let reloaded = load(&manifest, kind, &bytes, &device)?;
        let test = test_metrics(&manifest, kind, &reloaded, &data, &device)?;
        println!(
            "{:<16} {} -> {} bytes; test {}",
            kind.key(),
            stored.len(),
            bytes.len(),
            crate::summary(&test)
        );
        let entry = manifest
            .models
            .get_mut(kind.key())
            .expect("the entry exists");
        entry.test = test;
    }
    let json = serde_json::to_string_pretty(&manifest)? + "\n";
    write(&args.weights.join("manifest.json"), json.as_bytes())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    digit_lab::fs_util::write_atomic(path, bytes)
        .with_context(|| format!("writing {}", path.display()))
}
