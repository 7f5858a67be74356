//! The paper's results regenerated from this project's models: every figure (`figures`) and
//! `docs/REPORT.md` (`markdown`). The latent maps come from the one exporter
//! (`analysis::maps`), the search table from the search's results file, and
//! `docs/EXPERIMENTS.md` from the experiments log (`experiments`).

pub mod experiments;
pub mod figures;
pub mod markdown;

use std::path::{Path, PathBuf};

use burn::prelude::*;
use rand::{SeedableRng, rngs::StdRng};

use crate::analysis::maps::{Embedding, Maps};
use crate::data::mnist::images_tensor;
use crate::data::noise::{add_gaussian_noise, standard_normal};
use crate::data::{Dataset, IMAGE_PIXELS};
use crate::eval::{self, ClassifierMetrics, DaeMetrics};
use crate::model::{
    Autoencoder, Classifier, ConvAe, DaeWide, Manifest, ModelKind, Vae, load_classifier,
    load_conv_ae, load_dae_wide, load_vae,
};
use crate::search::TrialRecord;
use crate::train::EpochStats;
use figures::{FigureError, ImageRow, LinePanel, ScatterPanel, Series};
use plotters::prelude::SeriesLabelPosition;

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
    pub device: &'a Device,
}

/// The search's results file and what the report says about it.
pub struct SearchResults {
    pub path: String,
    pub records: Vec<TrialRecord>,
    /// Configurations in the grid.
    pub grid_size: usize,
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

fn read_all(t: Tensor<4>) -> Vec<Vec<f32>> {
    let values: Vec<f32> = t.into_data().try_into_vec().expect("f32 tensor");
    values.chunks(IMAGE_PIXELS).map(<[f32]>::to_vec).collect()
}

fn decode_points(
    decode: impl Fn(Tensor<2>) -> Tensor<4>,
    points: Vec<f32>,
    device: &Device,
) -> Vec<Vec<f32>> {
    let n = points.len() / 2;
    read_all(decode(Tensor::from_data(
        TensorData::new(points, [n, 2]),
        device,
    )))
}

/// Writes every figure into `figures_dir` and returns them with the computed numbers.
pub fn make_figures(
    inputs: &ReportInputs,
    figures_dir: &Path,
) -> Result<ReportResults, ReportError> {
    std::fs::create_dir_all(figures_dir).map_err(|e| file_err(figures_dir, e))?;
    let (m, device, test) = (inputs.models, inputs.device, inputs.test);
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    let stem = |name: &str| figures_dir.join(name);
    let blue = figures::DIGIT_COLORS[0];
    let orange = figures::DIGIT_COLORS[1];
    let green = figures::DIGIT_COLORS[2];

    // Loss curves (paper figures 2a, 3, 4a and the VAE's).
    let mut panels = Vec::new();
    for (kind, title, unit) in [
        (ModelKind::Ae, "ConvAE", "MSE per pixel"),
        (ModelKind::Dae, "Denoising AE (a = 0.3)", "MSE per pixel"),
        (
            ModelKind::DaeWide,
            "Wide-code denoiser (a = 0.3)",
            "MSE per pixel",
        ),
        (ModelKind::Vae, "VAE", "−ELBO (nats per image)"),
        (
            ModelKind::Classifier,
            "Classifier (paper protocol)",
            "cross-entropy",
        ),
        (
            ModelKind::ClassifierBest,
            "Best classifier",
            "cross-entropy",
        ),
    ] {
        let history = read_history(inputs.weights_dir, inputs.manifest, kind)?;
        let curve =
            |f: fn(&EpochStats) -> f64| history.iter().map(|e| (e.epoch as f64, f(e))).collect();
        panels.push(LinePanel {
            title: title.to_string(),
            x_label: "epoch".into(),
            y_label: unit.into(),
            series: vec![
                Series {
                    label: "train".into(),
                    points: curve(|e| e.train_loss),
                    color: blue,
                },
                Series {
                    label: "validation".into(),
                    points: curve(|e| e.valid_loss),
                    color: orange,
                },
            ],
            legend: SeriesLabelPosition::UpperRight,
        });
    }
    out.push((
        "Training and validation loss per epoch".into(),
        figures::line_chart(
            &stem("loss_curves"),
            "Training and validation loss per epoch",
            &panels,
            3,
        )?,
    ));

    // Reconstructions (paper figure 2b).
    let shown: Vec<usize> = (0..SHOWN.min(test.len())).collect();
    let originals: Vec<Vec<f32>> = shown.iter().map(|&i| test.pixels(&[i])).collect();
    let x = images_tensor(test.pixels(&shown), device);
    out.push((
        "ConvAE reconstructions of test digits".into(),
        figures::image_rows(
            &stem("ae_reconstructions"),
            "ConvAE (2-D code): test digits and their reconstructions",
            &[
                ImageRow {
                    label: "test digits".into(),
                    images: originals.clone(),
                },
                ImageRow {
                    label: "ConvAE".into(),
                    images: read_all(m.ae.forward(x.clone())),
                },
            ],
            2,
        )?,
    ));

    // Confusion matrices (paper figure 3b).
    let classifier = eval::classifier_metrics(&m.classifier, test, device);
    let classifier_best = eval::classifier_metrics(&m.classifier_best, test, device);
    out.push((
        "Confusion matrices of the classifiers".into(),
        figures::confusion_matrices(
            &stem("confusion"),
            "Confusion matrices on the test digits",
            &[
                (
                    format!("paper protocol (accuracy {:.4})", classifier.accuracy),
                    classifier.confusion.clone(),
                ),
                (
                    format!("best classifier (accuracy {:.4})", classifier_best.accuracy),
                    classifier_best.confusion.clone(),
                ),
            ],
        )?,
    ));

    // Noisy and denoised digits at several noise amounts (paper figure 4b).
    let mut rows = vec![ImageRow {
        label: "clean".into(),
        images: originals.clone(),
    }];
    let mut rng = StdRng::seed_from_u64(REPORT_SEED);
    for a in [0.1f32, 0.3, 0.5, 0.7] {
        let mut noisy = test.pixels(&shown);
        add_gaussian_noise(&mut noisy, a, &mut rng);
        let noisy_t = images_tensor(noisy.clone(), device);
        rows.push(ImageRow {
            label: format!("noisy, a = {a}"),
            images: noisy.chunks(IMAGE_PIXELS).map(<[f32]>::to_vec).collect(),
        });
        rows.push(ImageRow {
            label: "  DAE (2-D code)".into(),
            images: read_all(m.dae.reconstruct(noisy_t.clone())),
        });
        rows.push(ImageRow {
            label: "  wide-code DAE".into(),
            images: read_all(m.dae_wide.reconstruct(noisy_t)),
        });
    }
    out.push((
        "Noisy and denoised test digits".into(),
        figures::image_rows(
            &stem("denoising"),
            "Denoising at noise amounts a = 0.1, 0.3, 0.5, 0.7",
            &rows,
            2,
        )?,
    ));

    // The denoising curve.
    let denoise: Vec<DenoisePoint> = NOISE_AMOUNTS
        .iter()
        .map(|&a| DenoisePoint {
            dae: eval::dae_metrics(&m.dae, test, a, eval::EVAL_SEED, device),
            dae_wide: eval::dae_metrics(&m.dae_wide, test, a, eval::EVAL_SEED, device),
        })
        .collect();
    let curve = |f: &dyn Fn(&DenoisePoint) -> f64| -> Vec<(f64, f64)> {
        denoise.iter().map(|p| (p.dae.noise_amount, f(p))).collect()
    };
    // The noisy input, the paper's DAE and the wide-code DAE, for one metric of `DaeMetrics`.
    let against_noisy = |noisy: fn(&DaeMetrics) -> f64, denoised: fn(&DaeMetrics) -> f64| {
        vec![
            Series {
                label: "noisy input".into(),
                points: curve(&|p| noisy(&p.dae)),
                color: figures::DIGIT_COLORS[7],
            },
            Series {
                label: "DAE (2-D code)".into(),
                points: curve(&|p| denoised(&p.dae)),
                color: blue,
            },
            Series {
                label: "wide-code DAE".into(),
                points: curve(&|p| denoised(&p.dae_wide)),
                color: green,
            },
        ]
    };
    out.push((
        "Denoising curve".into(),
        figures::line_chart(
            &stem("denoise_curve"),
            "Denoising: test error against the noise amount a",
            &[
                LinePanel {
                    title: "MSE to the clean digit".into(),
                    x_label: "noise amount a".into(),
                    y_label: "MSE per pixel".into(),
                    series: against_noisy(|m| m.noisy_mse, |m| m.mse),
                    legend: SeriesLabelPosition::UpperLeft,
                },
                LinePanel {
                    title: "PSNR = 10·log10(1 / MSE)".into(),
                    x_label: "noise amount a".into(),
                    y_label: "PSNR (dB)".into(),
                    series: against_noisy(|m| m.noisy_psnr, |m| m.psnr),
                    legend: SeriesLabelPosition::UpperRight,
                },
            ],
            2,
        )?,
    ));

    // New digits sampled from the Gaussian fitted to the ConvAE codes (paper figure 6).
    let g = &inputs.maps.ae_gaussian;
    let eps = standard_normal(200, &mut StdRng::seed_from_u64(REPORT_SEED));
    let codes: Vec<f32> = eps
        .chunks_exact(2)
        .flat_map(|e| {
            [
                g.mean[0] + g.chol[0] * e[0],
                g.mean[1] + g.chol[1] * e[0] + g.chol[2] * e[1],
            ]
        })
        .collect();
    let samples = decode_points(|z| m.ae.decoder.forward(z), codes, device);
    out.push((
        "Digits sampled from the ConvAE code distribution".into(),
        figures::digit_grid(
            &stem("ae_samples"),
            "ConvAE: 100 codes drawn from N(mean, covariance of the train codes)",
            &samples,
            10,
            "",
            "",
            2,
        )?,
    ));

    // VAE reconstructions (paper figure 7a) and the 2-D manifold (figure 7b).
    let (mu, _) = m.vae.encode(x);
    out.push((
        "VAE reconstructions of test digits".into(),
        figures::image_rows(
            &stem("vae_reconstructions"),
            "VAE: test digits and their reconstructions (decoded posterior means)",
            &[
                ImageRow {
                    label: "test digits".into(),
                    images: originals,
                },
                ImageRow {
                    label: "VAE".into(),
                    images: read_all(m.vae.decode(mu)),
                },
            ],
            2,
        )?,
    ));
    let n = 20;
    let at = |i: usize| -2.5 + 5.0 * i as f32 / (n - 1) as f32;
    let grid: Vec<f32> = (0..n)
        .flat_map(|r| (0..n).flat_map(move |c| [at(c), at(n - 1 - r)]))
        .collect();
    let manifold = decode_points(|z| m.vae.decode(z), grid, device);
    out.push((
        "The VAE's 2-D manifold".into(),
        figures::digit_grid(
            &stem("vae_manifold"),
            "VAE manifold: decoded z on a 20×20 grid",
            &manifold,
            n,
            "z1 from −2.5 (left) to 2.5 (right)",
            "z2 from 2.5 (top) to −2.5",
            1,
        )?,
    ));

    // Latent maps (paper figures 8 and 9).
    let maps = inputs.maps;
    fn scatter<'m>(title: &str, e: &'m Embedding, labels: &'m [u8]) -> ScatterPanel<'m> {
        ScatterPanel {
            title: format!("{title} (5-NN {:.4})", e.knn5),
            xy: &e.xy,
            labels,
            bounds: e.bounds,
        }
    }
    let l = &maps.labels;
    for (key, name, code) in [
        ("ae", "ConvAE code", &maps.ae),
        ("vae", "VAE mean", &maps.vae),
    ] {
        out.push((
            format!("Latent maps: {name}, PCA, t-SNE"),
            figures::scatter_row(
                &stem(&format!("latent_{key}_pca_tsne")),
                &format!("Test digits in 2-D: {name} vs PCA vs t-SNE"),
                &[
                    scatter(name, code, l),
                    scatter("PCA-2", &maps.pca, l),
                    scatter("t-SNE", &maps.tsne, l),
                ],
            )?,
        ));
    }

    Ok(ReportResults {
        figures: out,
        denoise,
        classifier,
        classifier_best,
    })
}
