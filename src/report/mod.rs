//! The paper's results regenerated from this project's models: every figure (`paper_figures`,
//! drawn by `figures`) and `docs/REPORT.md` (`markdown`). The latent maps come from the one exporter
//! (`analysis::maps`), the search table from the search's results file, and
//! `docs/EXPERIMENTS.md` from the experiments log (`experiments`); the sections on other
//! handwriting and the digit check from their records (`handwriting`).

pub mod experiments;
pub mod figures;
pub mod full_runs;
pub mod handwriting;
pub mod markdown;
mod paper_figures;

pub use paper_figures::make_figures;

use std::path::{Path, PathBuf};

use burn::prelude::*;

use crate::analysis::maps::Maps;
use crate::data::Dataset;
use crate::eval::{ClassifierMetrics, DaeMetrics};
use crate::model::{
    Classifier, ConvAe, DaeWide, Manifest, ModelKind, Vae, load_classifier, load_conv_ae,
    load_dae_wide, load_vae,
};
use crate::search::TrialRecord;
use crate::search::full_runs::FullRun;
use crate::train::EpochStats;
use figures::FigureError;

/// Noise amounts of the denoising curve.
pub const NOISE_AMOUNTS: [f32; 7] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
/// Seed of the report's own random draws (noise shown, samples).
const REPORT_SEED: u64 = 7;
/// Test digits shown in the image figures.
const SHOWN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Figure(#[from] FigureError),
    #[error(transparent)]
    Load(#[from] crate::model::LoadError),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The trained models of a weights directory.
pub struct Models {
    pub ae: ConvAe,
    pub dae: ConvAe,
    pub dae_wide: DaeWide,
    pub vae: Vae,
    pub classifier: Classifier,
    pub classifier_best: Classifier,
}

impl Models {
    pub fn load(dir: &Path, manifest: &Manifest, device: &Device) -> Result<Self, ReportError> {
        let bytes = |kind: ModelKind| -> Result<Vec<u8>, ReportError> {
            let path = dir.join(
                &manifest
                    .entry(kind)
                    .map_err(crate::model::LoadError::from)?
                    .file,
            );
            std::fs::read(&path).map_err(|e| file_err(&path, e))
        };
        Ok(Models {
            ae: load_conv_ae(manifest, ModelKind::Ae, &bytes(ModelKind::Ae)?, device)?,
            dae: load_conv_ae(manifest, ModelKind::Dae, &bytes(ModelKind::Dae)?, device)?,
            dae_wide: load_dae_wide(manifest, &bytes(ModelKind::DaeWide)?, device)?,
            vae: load_vae(manifest, &bytes(ModelKind::Vae)?, device)?,
            classifier: load_classifier(
                manifest,
                ModelKind::Classifier,
                &bytes(ModelKind::Classifier)?,
                device,
            )?,
            classifier_best: load_classifier(
                manifest,
                ModelKind::ClassifierBest,
                &bytes(ModelKind::ClassifierBest)?,
                device,
            )?,
        })
    }
}

/// What the report is made from.
pub struct ReportInputs<'a> {
    pub weights_dir: &'a Path,
    pub manifest: &'a Manifest,
    pub models: &'a Models,
    /// Test digits (the whole test split, or a subset for a quick run).
    pub test: &'a Dataset,
    pub maps: &'a Maps,
    /// Search results, when a search has been run.
    pub search: Option<SearchResults>,
    /// The denoiser's search (`search --noise-amount`), when it has been run.
    pub dae_search: Option<SearchResults>,
    /// The searches' finalists and code sizes trained to convergence (`search::full_runs`).
    pub full_runs: Vec<FullRun>,
    /// What the models make of handwriting that is not MNIST (`handwriting --record`).
    pub handwriting: Option<handwriting::HandwritingRecord>,
    /// Validation digits: the committed models' codes set beside the full runs'.
    pub validation: &'a Dataset,
    pub device: &'a Device,
}

/// The search's results file and what the report says about it.
pub struct SearchResults {
    pub path: String,
    pub records: Vec<TrialRecord>,
    /// Configurations in the grid.
    pub grid_size: usize,
    /// What a trial's validation MSE measures ("validation MSE", "denoising MSE").
    pub metric: &'static str,
}

/// One point of the denoising curve.
pub struct DenoisePoint {
    pub dae: DaeMetrics,
    pub dae_wide: DaeMetrics,
}

/// Everything computed for the report (also printed by the CLI).
pub struct ReportResults {
    pub figures: Vec<(String, PathBuf)>,
    pub denoise: Vec<DenoisePoint>,
    pub classifier: ClassifierMetrics,
    pub classifier_best: ClassifierMetrics,
    pub full_run_figures: full_runs::FullRunFigures,
    pub committed: full_runs::CommittedKnn,
}

fn read_history(
    dir: &Path,
    manifest: &Manifest,
    kind: ModelKind,
) -> Result<Vec<EpochStats>, ReportError> {
    let entry = manifest
        .entry(kind)
        .map_err(crate::model::LoadError::from)?;
    let path = dir.join(&entry.history);
    let text = std::fs::read_to_string(&path).map_err(|e| file_err(&path, e))?;
    serde_json::from_str(&text).map_err(|e| file_err(&path, e))
}
