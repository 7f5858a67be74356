//! What several subcommands share: the data and backend flags, t-SNE's settings, opening a
//! weights directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use burn::prelude::*;
use clap::{Args, ValueEnum};
use digit_lab::data::mnist::FILES;
use digit_lab::data::{Mnist, TrainingData};
use digit_lab::model::Manifest;
use digit_lab::model::weights_dir::WeightsDir;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Backend {
    /// burn's pure-Rust multi-threaded CPU backend.
    Flex,
    /// burn's wgpu backend (GPU; build with `--features wgpu`).
    Wgpu,
}

#[derive(Args, Clone)]
pub(crate) struct Common {
    /// Directory holding the four MNIST IDX files.
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    pub backend: Backend,
}

impl Common {
    /// The device and the training and validation splits these flags name (MNIST fetched
    /// first when missing): what training, search and model selection may see.
    pub fn device_and_training_data(&self) -> Result<(Device, TrainingData)> {
        Ok((device(self.backend)?.0, load_training_data(&self.data)?))
    }

    /// The device and all three splits, test included: for figures of adopted models only.
    pub fn device_and_data_with_test(&self) -> Result<(Device, Mnist)> {
        Ok((device(self.backend)?.0, load_data_with_test(&self.data)?))
    }
}

pub(crate) fn device(backend: Backend) -> Result<(Device, String)> {
    match backend {
        Backend::Flex => Ok((Device::flex(), "flex".to_string())),
        #[cfg(feature = "wgpu")]
        Backend::Wgpu => Ok((Device::wgpu(DeviceKind::DefaultDevice), "wgpu".to_string())),
        #[cfg(not(feature = "wgpu"))]
        Backend::Wgpu => {
            bail!("this binary was built without GPU support: rebuild with `--features wgpu`")
        }
    }
}

pub(crate) fn threads() -> usize {
    rayon::current_num_threads()
}

/// Fetches MNIST with `scripts/fetch-mnist` when the default data directory lacks it.
pub(crate) fn fetch_if_missing(dir: &Path) -> Result<()> {
    let missing = FILES.iter().any(|f| !dir.join(f).exists());
    let script = Path::new("scripts/fetch-mnist");
    if missing && dir == Path::new("data/mnist") && script.exists() {
        eprintln!(
            "MNIST not found in {}: running scripts/fetch-mnist",
            dir.display()
        );
        let status = Command::new("bash")
            .arg(script)
            .status()
            .context("running scripts/fetch-mnist")?;
        if !status.success() {
            bail!("scripts/fetch-mnist failed");
        }
    }
    Ok(())
}

/// Loads MNIST's training and validation splits, fetching it first when it is missing.
pub(crate) fn load_training_data(dir: &Path) -> Result<TrainingData> {
    fetch_if_missing(dir)?;
    Ok(TrainingData::load_protocol(dir)?)
}

/// Loads MNIST in the protocol's three splits, test included, fetching it first when missing.
pub(crate) fn load_data_with_test(dir: &Path) -> Result<Mnist> {
    fetch_if_missing(dir)?;
    Ok(Mnist::load(dir)?)
}

/// A weights directory's manifest.
pub(crate) fn read_manifest(dir: &Path) -> Result<Manifest> {
    Ok(WeightsDir::open(dir)?.manifest)
}

/// t-SNE's free settings (PROTOCOL.md fixes perplexity 30).
#[derive(Args)]
pub(crate) struct TsneArgs {
    /// t-SNE gradient-descent iterations (4,000 did best on the validation split).
    #[arg(
        long = "tsne-iterations",
        alias = "tsne-epochs",
        default_value_t = 4000
    )]
    tsne_iterations: usize,
    /// t-SNE learning rate [default: n / 12 for n points, at least 50].
    #[arg(long, value_parser = parse_finite)]
    tsne_learning_rate: Option<f64>,
    /// Barnes-Hut angle θ in (0, 1] (smaller: a more exact, slower gradient).
    #[arg(long, default_value_t = 0.5, value_parser = parse_theta)]
    tsne_theta: f64,
    /// Early exaggeration factor: P is multiplied by it for the first iterations (6 for 1,000
    /// did best on the validation split; bhtsne's default is 12 for 250).
    #[arg(long, default_value_t = 6.0, value_parser = parse_exaggeration)]
    tsne_exaggeration: f64,
    /// Iterations of early exaggeration.
    #[arg(
        long = "tsne-exaggeration-iterations",
        alias = "tsne-exaggeration-epochs",
        default_value_t = 1000
    )]
    tsne_exaggeration_iterations: usize,
}

fn parse_exaggeration(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(factor) if (1.0..=100.0).contains(&factor) => Ok(factor),
        _ => Err(format!("expected a factor in [1, 100], got \"{text}\"")),
    }
}

fn parse_theta(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(theta) if theta > 0.0 && theta <= 1.0 => Ok(theta),
        _ => Err(format!("expected a number in (0, 1], got \"{text}\"")),
    }
}

/// A number in [0, 1] (noise amounts).
pub(crate) fn parse_unit_interval(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("expected a number in [0, 1], got \"{text}\"")),
    }
}

/// A finite number (`nan` and `inf` are refused here, with the flag named by clap).
pub(crate) fn parse_finite(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(format!("expected a finite number, got \"{text}\"")),
    }
}

impl TsneArgs {
    pub(crate) fn options(&self) -> digit_lab::analysis::maps::TsneOptions {
        digit_lab::analysis::maps::TsneOptions {
            epochs: self.tsne_iterations,
            learning_rate: self.tsne_learning_rate,
            theta: self.tsne_theta,
            exaggeration: self.tsne_exaggeration,
            exaggeration_epochs: self.tsne_exaggeration_iterations,
        }
    }
}

/// The test metrics without the confusion matrix, for one-line summaries.
pub(crate) fn summary(test: &serde_json::Value) -> String {
    let mut t = test.clone();
    if let Some(o) = t.as_object_mut() {
        o.remove("confusion");
    }
    t.to_string()
}
