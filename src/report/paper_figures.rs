//! The report's figures of the adopted models, one function per figure (paper figures 2–9 and
//! the denoising curve), and the test metrics they show.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use plotters::prelude::{RGBColor, SeriesLabelPosition};
use rand::{SeedableRng, rngs::StdRng};

use super::figures::{self, DIGIT_COLORS, ImageRow, LinePanel, ScatterPanel, Series};
use super::full_runs;
use super::{
    DenoisePoint, Models, NOISE_AMOUNTS, REPORT_SEED, ReportError, ReportInputs, ReportResults,
    SHOWN, file_err, read_history,
};
use crate::analysis::maps::{Embedding, Maps};
use crate::data::mnist::images_tensor;
use crate::data::noise::{add_gaussian_noise, standard_normal};
use crate::data::{Dataset, IMAGE_PIXELS};
use crate::eval::{self, ClassifierMetrics, DaeMetrics};
use crate::model::{Autoencoder, ModelKind};
use crate::train::EpochStats;

/// A figure's caption in the report and its PNG.
type Figure = (String, PathBuf);

const BLUE: RGBColor = DIGIT_COLORS[0];
const ORANGE: RGBColor = DIGIT_COLORS[1];
const GREEN: RGBColor = DIGIT_COLORS[2];
const GREY: RGBColor = DIGIT_COLORS[7];

/// Writes every figure into `figures_dir` and returns them with the computed numbers.
pub fn make_figures(
    inputs: &ReportInputs,
    figures_dir: &Path,
) -> Result<ReportResults, ReportError> {
    std::fs::create_dir_all(figures_dir).map_err(|e| file_err(figures_dir, e))?;
    let (m, device, test) = (inputs.models, inputs.device, inputs.test);
    let stem = |name: &str| figures_dir.join(name);
    let shown = Shown::new(test, device);
    let mut out = vec![
        loss_curves(inputs, &stem("loss_curves"))?,
        ae_reconstructions(m, &shown, &stem("ae_reconstructions"))?,
    ];
    let classifier = eval::classifier_metrics(&m.classifier, test, device);
    let classifier_best = eval::classifier_metrics(&m.classifier_best, test, device);
    out.push(confusion(
        &classifier,
        &classifier_best,
        &stem("confusion"),
    )?);
    out.push(denoising(m, test, &shown, device, &stem("denoising"))?);
    let denoise: Vec<DenoisePoint> = NOISE_AMOUNTS
        .iter()
        .map(|&a| DenoisePoint {
            dae: eval::dae_metrics(&m.dae, test, a, eval::EVAL_SEED, device),
            dae_wide: eval::dae_metrics(&m.dae_wide, test, a, eval::EVAL_SEED, device),
        })
        .collect();
    out.push(denoise_curve(&denoise, &stem("denoise_curve"))?);
    out.push(ae_samples(inputs, &stem("ae_samples"))?);
    out.push(vae_reconstructions(m, shown, &stem("vae_reconstructions"))?);
    out.push(vae_manifold(m, device, &stem("vae_manifold"))?);
    out.extend(latent_maps(inputs.maps, figures_dir)?);
    let committed = full_runs::committed_knn(&m.ae, &m.dae, inputs, device);
    Ok(ReportResults {
        figures: out,
        denoise,
        classifier,
        classifier_best,
        full_run_figures: full_runs::make_figures(inputs, figures_dir)?,
        committed,
    })
}

/// The test digits the image figures show: the first [`SHOWN`].
struct Shown {
    indices: Vec<usize>,
    /// Their pixels, one image each.
    originals: Vec<Vec<f32>>,
    /// The same as a batch on the models' device.
    batch: Tensor<4>,
}

impl Shown {
    fn new(test: &Dataset, device: &Device) -> Self {
        let indices: Vec<usize> = (0..SHOWN.min(test.len())).collect();
        Shown {
            originals: indices.iter().map(|&i| test.pixels(&[i])).collect(),
            batch: images_tensor(test.pixels(&indices), device),
            indices,
        }
    }
}

fn read_all(t: Tensor<4>) -> Vec<Vec<f32>> {
    let values: Vec<f32> = t.into_data().try_into_vec().expect("f32 tensor");
    values.chunks(IMAGE_PIXELS).map(<[f32]>::to_vec).collect()
}

/// The images `decode` makes of 2-D `points` (x, y interleaved).
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

/// Training and validation loss per epoch of every model (paper figures 2a, 3, 4a and the
/// VAE's).
fn loss_curves(inputs: &ReportInputs, stem: &Path) -> Result<Figure, ReportError> {
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
                    color: BLUE,
                },
                Series {
                    label: "validation".into(),
                    points: curve(|e| e.valid_loss),
                    color: ORANGE,
                },
            ],
            legend: SeriesLabelPosition::UpperRight,
        });
    }
    let title = "Training and validation loss per epoch";
    Ok((title.into(), figures::line_chart(stem, title, &panels, 3)?))
}

/// Test digits and their ConvAE reconstructions (paper figure 2b).
fn ae_reconstructions(m: &Models, shown: &Shown, stem: &Path) -> Result<Figure, ReportError> {
    let rows = [
        ImageRow {
            label: "test digits".into(),
            images: shown.originals.clone(),
        },
        ImageRow {
            label: "ConvAE".into(),
            images: read_all(m.ae.forward(shown.batch.clone())),
        },
    ];
    Ok((
        "ConvAE reconstructions of test digits".into(),
        figures::image_rows(
            stem,
            "ConvAE (2-D code): test digits and their reconstructions",
            &rows,
            2,
        )?,
    ))
}

/// The classifiers' confusion matrices on the test digits (paper figure 3b).
fn confusion(
    classifier: &ClassifierMetrics,
    classifier_best: &ClassifierMetrics,
    stem: &Path,
) -> Result<Figure, ReportError> {
    let matrices = [
        (
            format!("paper protocol (accuracy {:.4})", classifier.accuracy),
            classifier.confusion.clone(),
        ),
        (
            format!("best classifier (accuracy {:.4})", classifier_best.accuracy),
            classifier_best.confusion.clone(),
        ),
    ];
    Ok((
        "Confusion matrices of the classifiers".into(),
        figures::confusion_matrices(stem, "Confusion matrices on the test digits", &matrices)?,
    ))
}

/// Noisy and denoised digits at several noise amounts (paper figure 4b).
fn denoising(
    m: &Models,
    test: &Dataset,
    shown: &Shown,
    device: &Device,
    stem: &Path,
) -> Result<Figure, ReportError> {
    let mut rows = vec![ImageRow {
        label: "clean".into(),
        images: shown.originals.clone(),
    }];
    let mut rng = StdRng::seed_from_u64(REPORT_SEED);
    for a in [0.1f32, 0.3, 0.5, 0.7] {
        let mut noisy = test.pixels(&shown.indices);
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
    Ok((
        "Noisy and denoised test digits".into(),
        figures::image_rows(
            stem,
            "Denoising at noise amounts a = 0.1, 0.3, 0.5, 0.7",
            &rows,
            2,
        )?,
    ))
}

/// Test error of the noisy input and the two denoisers against the noise amount.
fn denoise_curve(denoise: &[DenoisePoint], stem: &Path) -> Result<Figure, ReportError> {
    let curve = |f: &dyn Fn(&DenoisePoint) -> f64| -> Vec<(f64, f64)> {
        denoise.iter().map(|p| (p.dae.noise_amount, f(p))).collect()
    };
    // The noisy input, the paper's DAE and the wide-code DAE, for one metric of `DaeMetrics`.
    let against_noisy = |noisy: fn(&DaeMetrics) -> f64, denoised: fn(&DaeMetrics) -> f64| {
        vec![
            Series {
                label: "noisy input".into(),
                points: curve(&|p| noisy(&p.dae)),
                color: GREY,
            },
            Series {
                label: "DAE (2-D code)".into(),
                points: curve(&|p| denoised(&p.dae)),
                color: BLUE,
            },
            Series {
                label: "wide-code DAE".into(),
                points: curve(&|p| denoised(&p.dae_wide)),
                color: GREEN,
            },
        ]
    };
    let panels = [
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
    ];
    Ok((
        "Denoising curve".into(),
        figures::line_chart(
            stem,
            "Denoising: test error against the noise amount a",
            &panels,
            2,
        )?,
    ))
}

/// New digits decoded from codes drawn from the Gaussian fitted to the ConvAE's codes (paper
/// figure 6).
fn ae_samples(inputs: &ReportInputs, stem: &Path) -> Result<Figure, ReportError> {
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
    let ae = &inputs.models.ae;
    let samples = decode_points(|z| ae.decoder.forward(z), codes, inputs.device);
    Ok((
        "Digits sampled from the ConvAE code distribution".into(),
        figures::digit_grid(
            stem,
            "ConvAE: 100 codes drawn from N(mean, covariance of the train codes)",
            &samples,
            10,
            "",
            "",
            2,
        )?,
    ))
}

/// Test digits and their VAE reconstructions from the posterior means (paper figure 7a).
fn vae_reconstructions(m: &Models, shown: Shown, stem: &Path) -> Result<Figure, ReportError> {
    let (mu, _) = m.vae.encode(shown.batch);
    let rows = [
        ImageRow {
            label: "test digits".into(),
            images: shown.originals,
        },
        ImageRow {
            label: "VAE".into(),
            images: read_all(m.vae.decode(mu)),
        },
    ];
    Ok((
        "VAE reconstructions of test digits".into(),
        figures::image_rows(
            stem,
            "VAE: test digits and their reconstructions (decoded posterior means)",
            &rows,
            2,
        )?,
    ))
}

/// The VAE's decoder on a 20×20 grid of z (paper figure 7b).
fn vae_manifold(m: &Models, device: &Device, stem: &Path) -> Result<Figure, ReportError> {
    let n = 20;
    let at = |i: usize| -2.5 + 5.0 * i as f32 / (n - 1) as f32;
    let grid: Vec<f32> = (0..n)
        .flat_map(|r| (0..n).flat_map(move |c| [at(c), at(n - 1 - r)]))
        .collect();
    let manifold = decode_points(|z| m.vae.decode(z), grid, device);
    Ok((
        "The VAE's 2-D manifold".into(),
        figures::digit_grid(
            stem,
            "VAE manifold: decoded z on a 20×20 grid",
            &manifold,
            n,
            "z1 from −2.5 (left) to 2.5 (right)",
            "z2 from 2.5 (top) to −2.5",
            1,
        )?,
    ))
}

/// The test digits in 2-D: each model's code beside PCA and t-SNE (paper figures 8 and 9).
fn latent_maps(maps: &Maps, figures_dir: &Path) -> Result<Vec<Figure>, ReportError> {
    fn scatter<'m>(title: &str, e: &'m Embedding, labels: &'m [u8]) -> ScatterPanel<'m> {
        ScatterPanel {
            title: format!("{title} (5-NN {:.4})", e.knn5),
            xy: &e.xy,
            labels,
            bounds: e.bounds,
        }
    }
    let l = &maps.labels;
    let mut out = Vec::new();
    for (key, name, code) in [
        ("ae", "ConvAE code", &maps.ae),
        ("vae", "VAE mean", &maps.vae),
    ] {
        out.push((
            format!("Latent maps: {name}, PCA, t-SNE"),
            figures::scatter_row(
                &figures_dir.join(format!("latent_{key}_pca_tsne")),
                &format!("Test digits in 2-D: {name} vs PCA vs t-SNE"),
                &[
                    scatter(name, code, l),
                    scatter("PCA-2", &maps.pca, l),
                    scatter("t-SNE", &maps.tsne, l),
                ],
            )?,
        ));
    }
    Ok(out)
}
