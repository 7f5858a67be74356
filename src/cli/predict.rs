//! `digit-lab predict`: one JSON line per image of an IDX file — a classifier's label and
//! probabilities, or a ConvAE code / VAE mean.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, ValueEnum};
use digit_lab::data::idx::{self, IdxKind};
use digit_lab::data::mnist::images_tensor;
use digit_lab::data::{Dataset, IMAGE_PIXELS};
use digit_lab::eval::EVAL_BATCH;
use digit_lab::model::weights_dir::WeightsDir;
use digit_lab::model::{Model, ModelKind};

use super::common::{Backend, device};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PredictModel {
    Classifier,
    ClassifierBest,
    Ae,
    Vae,
}

#[derive(Args)]
pub(crate) struct PredictArgs {
    #[arg(long, value_enum)]
    model: PredictModel,
    /// IDX file of 28×28 u8 images.
    #[arg(long)]
    images: PathBuf,
    #[arg(long, default_value = "weights")]
    weights: PathBuf,
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
}

pub(crate) fn run(args: PredictArgs) -> Result<()> {
    let (device, _) = device(args.backend)?;
    let name = args.images.display().to_string();
    let bytes = idx::read_file(&args.images, IdxKind::Images)?;
    let pixels = idx::parse_images(&bytes, &name)?;
    if pixels.is_empty() {
        bail!("{name}: holds no images");
    }
    let kind = match args.model {
        PredictModel::Classifier => ModelKind::Classifier,
        PredictModel::ClassifierBest => ModelKind::ClassifierBest,
        PredictModel::Ae => ModelKind::Ae,
        PredictModel::Vae => ModelKind::Vae,
    };
    let model = WeightsDir::open(&args.weights)?.load(kind, &device)?;
    let images = Dataset {
        labels: vec![0; pixels.len() / IMAGE_PIXELS],
        images: pixels,
    };
    let mut out = std::io::stdout().lock();
    for start in (0..images.len()).step_by(EVAL_BATCH) {
        let indices: Vec<usize> = (start..(start + EVAL_BATCH).min(images.len())).collect();
        let x = images_tensor(images.pixels(&indices), &device);
        let rows = match &model {
            Model::Classifier(m) => m.probabilities(x),
            Model::ConvAe(m) => m.encoder.forward(x),
            Model::Vae(m) => m.encode(x).0,
            Model::DaeWide(_) => unreachable!("not a predict model"),
        };
        let width = rows.dims()[1];
        let values: Vec<f32> = rows
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading the outputs: {e:?}"))?;
        for (i, row) in indices.iter().zip(values.chunks(width)) {
            if row.iter().any(|v| !v.is_finite()) {
                bail!("image {i}: the model's output is not finite (damaged weights?)");
            }
            let line = match &model {
                Model::Classifier(_) => {
                    let label = row
                        .iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .map(|(k, _)| k)
                        .unwrap_or(0);
                    serde_json::json!({ "index": i, "label": label, "probs": row })
                }
                _ => serde_json::json!({ "index": i, "code": row }),
            };
            match writeln!(out, "{line}") {
                Ok(()) => {}
                // The reader has gone (`| head`): nothing more is wanted.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                Err(e) => return Err(e).context("writing to stdout"),
            }
        }
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}
