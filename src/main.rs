//! The Digit Lab trainer CLI: parses flags and calls the library.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use burn::prelude::*;
use clap::{Args, Parser, Subcommand, ValueEnum};
use digit_lab::data::augment::AugmentConfig;
use digit_lab::data::mnist::{FILES, images_tensor};
use digit_lab::data::{Dataset, Mnist, idx};
use digit_lab::eval;
use digit_lab::model::{
    ClassifierConfig, ConvAeConfig, Manifest, ModelKind, VaeConfig, WideDaeConfig, load_classifier,
    load_conv_ae, load_vae,
};
use digit_lab::train::{Context, FitConfig, Optimizer, Schedule, bench, tasks};
use sha2::{Digest, Sha256};

mod cli;

#[derive(Parser)]
#[command(
    name = "digit-lab",
    version,
    about = "Train and evaluate the Digit Lab MNIST models (burn)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train a model (or all of them) and record it in <out>/manifest.json.
    Train(TrainArgs),
    /// Print the PROTOCOL.md test metrics of the weights in a directory.
    Eval(EvalArgs),
    /// Run a model on an IDX image file and print one JSON line per image.
    Predict(PredictArgs),
    /// Measure training samples/s of the default ConvAE.
    Bench(BenchArgs),
    /// Write the 2-D maps of the test digits (ConvAE, VAE, PCA-2, t-SNE) to <weights>/maps.json.
    ExportMaps(ExportMapsArgs),
    /// Hyperparameter search over the paper's ConvAE grid (budgeted successive halving).
    Search(cli::search::SearchArgs),
    /// Regenerate every figure under docs/figures and docs/REPORT.md.
    Report(cli::report::ReportArgs),
    /// Write the MNIST subset of the in-browser training mode (gzipped IDX) to www/data.
    ExportSubset(ExportSubsetArgs),
    /// Rewrite the weights in the storage precision (f16) and re-measure their test metrics.
    ConvertWeights(cli::weights::ConvertArgs),
    /// Count the VAE's ReLU units that never activate on the validation split.
    DeadUnits(cli::units::DeadUnitsArgs),
}

#[derive(Args)]
struct ExportSubsetArgs {
    /// Directory holding the four MNIST IDX files.
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Where the two .idx.gz files go (the page serves them from www/data).
    #[arg(long, default_value = "www/data")]
    out: PathBuf,
}

#[derive(Args)]
struct ExportMapsArgs {
    #[command(flatten)]
    common: Common,
    /// Directory with manifest.json and the weights; maps.json is written there.
    #[arg(long, default_value = "weights")]
    weights: PathBuf,
    #[command(flatten)]
    tsne: TsneArgs,
    /// Instead of exporting: run t-SNE with these settings on the validation split and print its
    /// 5-NN accuracy (how the t-SNE settings are chosen without the test digits).
    #[arg(long)]
    validate_tsne: bool,
    /// Instead of exporting: print the 5-NN accuracy of the ConvAE code and the VAE mean of the
    /// validation split, for whichever of the two the weights directory holds (how runs are
    /// compared on latent quality without the test digits).
    #[arg(long, conflicts_with = "validate_tsne")]
    validate_codes: bool,
}

/// t-SNE's free settings (PROTOCOL.md fixes perplexity 30).
#[derive(Args)]
pub(crate) struct TsneArgs {
    /// t-SNE gradient-descent iterations (4,000 did best on the validation split).
    #[arg(long, default_value_t = 4000)]
    tsne_epochs: usize,
    /// t-SNE learning rate [default: n / 12 for n points, at least 50].
    #[arg(long)]
    tsne_learning_rate: Option<f64>,
    /// Barnes-Hut angle θ in (0, 1] (smaller: a more exact, slower gradient).
    #[arg(long, default_value_t = 0.5, value_parser = parse_theta)]
    tsne_theta: f64,
    /// Early exaggeration factor: P is multiplied by it for the first iterations (6 for 1,000
    /// did best on the validation split; bhtsne's default is 12 for 250).
    #[arg(long, default_value_t = 6.0, value_parser = parse_exaggeration)]
    tsne_exaggeration: f64,
    /// Iterations of early exaggeration.
    #[arg(long, default_value_t = 1000)]
    tsne_exaggeration_epochs: usize,
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

fn parse_encoder_noise(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(sigma) if (0.0..=1.0).contains(&sigma) => Ok(sigma),
        _ => Err(format!("expected a number in [0, 1], got \"{text}\"")),
    }
}

impl TsneArgs {
    pub(crate) fn options(&self) -> digit_lab::analysis::maps::TsneOptions {
        digit_lab::analysis::maps::TsneOptions {
            epochs: self.tsne_epochs,
            learning_rate: self.tsne_learning_rate,
            theta: self.tsne_theta,
            exaggeration: self.tsne_exaggeration,
            exaggeration_epochs: self.tsne_exaggeration_epochs,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    Ae,
    Dae,
    /// The stronger denoiser: the DAE's convolutions with a wide 7×7 spatial code.
    DaeWide,
    Vae,
    Classifier,
    ClassifierBest,
    All,
}

/// Feature maps of the wide denoiser's 7×7 code unless `--code` says otherwise.
const WIDE_CODE_CHANNELS: usize = 8;

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
    data: PathBuf,
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
}

#[derive(Args)]
struct TrainArgs {
    #[arg(value_enum)]
    which: Which,
    #[command(flatten)]
    common: Common,
    /// Output directory for weights, histories and the manifest.
    #[arg(long, default_value = "weights")]
    out: PathBuf,
    /// Maximum epochs (default per model: ae 150, dae 100, dae-wide 30, vae 150, classifier 60,
    /// classifier-best 30).
    #[arg(long)]
    epochs: Option<usize>,
    /// Early-stopping patience in epochs (default 5; 10 for the paper classifier, 20 for the VAE,
    /// whose validation loss is noisy).
    #[arg(long)]
    patience: Option<usize>,
    /// Batch size (default: 256; 128 for the VAE, as PROTOCOL.md says).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Adam (peak) learning rate; default 1e-3 (the paper's best).
    #[arg(long)]
    lr: Option<f64>,
    /// L2 penalty (weight decay); default 1e-5 (the paper's best), 1.5e-2 for the VAE (chosen on
    /// validation loss over 0, 3e-3 and 1e-2; 2e-2 and 3e-2 trailed it and were stopped).
    #[arg(long)]
    l2: Option<f64>,
    /// How Adam applies the weight decay: `adam` adds the L2 penalty to the gradients,
    /// `adamw` shrinks the weights apart from Adam's step (decoupled weight decay).
    #[arg(long, value_enum, default_value_t = Optimizer::Adam)]
    optimizer: Optimizer,
    /// VAE only: the weight decay of the encoder (convolutions, μ and log σ² layers) where it
    /// should differ from `--l2`, which then applies to the decoder.
    #[arg(long)]
    encoder_l2: Option<f64>,
    /// Learning-rate schedule.
    #[arg(long, value_enum, default_value_t = Schedule::Cosine)]
    schedule: Schedule,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// ConvAE channels of the first convolution.
    #[arg(long, default_value_t = 8)]
    c1: usize,
    #[arg(long, default_value_t = 16)]
    c2: usize,
    #[arg(long, default_value_t = 64)]
    c3: usize,
    /// ConvAE hidden linear layer width.
    #[arg(long, default_value_t = 64)]
    fc: usize,
    /// ConvAE dropout rate.
    #[arg(long, default_value_t = 0.1)]
    dropout: f64,
    /// Code (latent) size of the ConvAE / DAE / VAE (default 2); for dae-wide the number of
    /// 7×7 code feature maps (default 8).
    #[arg(long)]
    code: Option<usize>,
    /// Noise amount a of the denoising AE: input clip(x + a·N(0,1), 0, 1).
    #[arg(long, default_value_t = 0.3)]
    noise_amount: f32,
    /// VAE only: the encoder reads x + σ·N(0,1) during training (σ = this; 0 = off) while the
    /// decoder reconstructs the clean x; validation and test use clean inputs.
    #[arg(long, default_value_t = 0.0, value_parser = parse_encoder_noise)]
    encoder_noise: f32,
    /// No progress bars or per-epoch lines.
    #[arg(long)]
    quiet: bool,
    /// Augment half of each training batch of the paper classifier (chosen on validation:
    /// it regularises the trainable linear layers); the best classifier always is.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    augment: bool,
    /// Average the weights of every epoch from this one on and validate the average (stochastic
    /// weight averaging); usually with `--init-from` and a constant learning rate.
    #[arg(long)]
    average_from: Option<usize>,
    /// Start from the weights of a finished run in DIR (its manifest.json, weights and history)
    /// instead of a random initialisation; its epochs and training time are carried into the
    /// new entry. For ae, dae, dae-wide and vae.
    #[arg(long, value_name = "DIR")]
    init_from: Option<PathBuf>,
    /// Use only the first N training images (quick smoke runs; not for reported weights).
    #[arg(long)]
    limit_train: Option<usize>,
}

#[derive(Args)]
struct EvalArgs {
    #[command(flatten)]
    common: Common,
    /// Directory with manifest.json and the weights.
    #[arg(long, default_value = "weights")]
    weights: PathBuf,
    /// Print a Markdown table (as in the README) instead of JSON lines.
    #[arg(long)]
    markdown: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PredictModel {
    Classifier,
    ClassifierBest,
    Ae,
    Vae,
}

#[derive(Args)]
struct PredictArgs {
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

#[derive(Args)]
struct BenchArgs {
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    #[arg(long, default_value_t = 40)]
    steps: usize,
    /// Measure inference latency instead: one decode and a 20×20 grid (ConvAE and VAE), as the
    /// web page calls them.
    #[arg(long)]
    inference: bool,
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

fn threads() -> usize {
    rayon::current_num_threads()
}

/// Loads MNIST, fetching it first with `scripts/fetch-mnist` when it is missing.
pub(crate) fn load_data(dir: &Path) -> Result<Mnist> {
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
    Ok(Mnist::load(dir)?)
}

fn sha256_files(dir: &Path) -> Result<std::collections::BTreeMap<String, String>> {
    FILES
        .iter()
        .map(|f| {
            let bytes = std::fs::read(dir.join(f))
                .with_context(|| format!("reading {}", dir.join(f).display()))?;
            let digest = Sha256::digest(&bytes);
            Ok((
                f.to_string(),
                digest.iter().map(|b| format!("{b:02x}")).collect(),
            ))
        })
        .collect()
}

pub(crate) fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join("manifest.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Manifest::parse(&text).with_context(|| format!("parsing {}", path.display()))
}

pub(crate) fn read_weights(dir: &Path, manifest: &Manifest, kind: ModelKind) -> Result<Vec<u8>> {
    let path = dir.join(&manifest.entry(kind)?.file);
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

fn train(args: TrainArgs) -> Result<()> {
    if args.init_from.is_some()
        && matches!(
            args.which,
            Which::Classifier | Which::ClassifierBest | Which::All
        )
    {
        bail!("--init-from continues one ae, dae, dae-wide or vae run");
    }
    if args.encoder_l2.is_some() && !matches!(args.which, Which::Vae) {
        bail!("--encoder-l2 is for `train vae` only (the VAE's encoder)");
    }
    if args.init_from.as_ref() == Some(&args.out) {
        bail!(
            "--init-from and --out must be different directories (the run would overwrite its start)"
        );
    }
    let (device, backend) = device(args.common.backend)?;
    let mut data = load_data(&args.common.data)?;
    if let Some(n) = args.limit_train {
        data.train = data.train.slice(0..n.min(data.train.len()));
    }
    let ctx = Context {
        data: &data,
        device,
        backend,
        threads: threads(),
        out_dir: args.out.clone(),
        quiet: args.quiet,
        init_from: args.init_from.clone(),
    };
    let kinds: Vec<ModelKind> = match args.which {
        Which::Ae => vec![ModelKind::Ae],
        Which::Dae => vec![ModelKind::Dae],
        Which::DaeWide => vec![ModelKind::DaeWide],
        Which::Vae => vec![ModelKind::Vae],
        Which::Classifier => vec![ModelKind::Classifier],
        Which::ClassifierBest => vec![ModelKind::ClassifierBest],
        Which::All => ModelKind::ALL.to_vec(),
    };
    let ae_config = ConvAeConfig::new()
        .with_c1(args.c1)
        .with_c2(args.c2)
        .with_c3(args.c3)
        .with_fc(args.fc)
        .with_dropout(args.dropout)
        .with_code(args.code.unwrap_or(2));
    if !(0.0..1.0).contains(&args.dropout) {
        bail!("--dropout must be in [0, 1), got {}", args.dropout);
    }
    for kind in kinds {
        // Per-model defaults: PROTOCOL.md where it fixes a value, otherwise chosen on validation.
        let (default_epochs, default_batch, default_lr, default_l2) = match kind {
            ModelKind::Ae => (150, 256, 1e-3, 1e-5),
            ModelKind::Dae => (100, 256, 1e-3, 1e-5),
            ModelKind::DaeWide => (30, 256, 1e-3, 1e-5),
            ModelKind::Vae => (150, 128, 1e-3, 1.5e-2),
            ModelKind::Classifier => (60, 64, 1e-3, 1e-5),
            ModelKind::ClassifierBest => (30, 128, 1e-3, 1e-5),
        };
        let fit = FitConfig {
            epochs: args.epochs.unwrap_or(default_epochs),
            patience: args.patience.unwrap_or(match kind {
                ModelKind::Classifier => 10,
                ModelKind::Vae => 20,
                _ => 5,
            }),
            batch_size: args.batch_size.unwrap_or(default_batch),
            lr: args.lr.unwrap_or(default_lr),
            weight_decay: args.l2.unwrap_or(default_l2),
            optimizer: args.optimizer,
            encoder_weight_decay: args.encoder_l2,
            encoder_params: None,
            schedule: args.schedule,
            seed: args.seed,
            average_from: args.average_from,
        };
        let entry = match kind {
            ModelKind::Ae => tasks::train_conv_ae(&ctx, &ae_config, &fit, None)?,
            ModelKind::Dae => {
                tasks::train_conv_ae(&ctx, &ae_config, &fit, Some(args.noise_amount))?
            }
            ModelKind::DaeWide => tasks::train_wide_dae(
                &ctx,
                &WideDaeConfig::new().with_code_channels(args.code.unwrap_or(WIDE_CODE_CHANNELS)),
                &fit,
                args.noise_amount,
            )?,
            ModelKind::Vae => tasks::train_vae(
                &ctx,
                &VaeConfig::new().with_latent(args.code.unwrap_or(2)),
                &fit,
                args.encoder_noise,
            )?,
            ModelKind::Classifier => tasks::train_classifier(
                &ctx,
                &args.out,
                &fit,
                args.augment.then_some(&AugmentConfig::default()),
            )?,
            ModelKind::ClassifierBest => tasks::train_classifier_best(
                &ctx,
                &ClassifierConfig::best(),
                &fit,
                &AugmentConfig::default(),
            )?,
        };
        eprintln!(
            "{}: {} epochs (best {}), {:.0}s, test {}",
            kind.key(),
            entry.epochs,
            entry.best_epoch,
            entry.train_seconds,
            summary(&entry.test)
        );
        if let Some(start) = entry.hyperparameters["warm_start"]["best_valid_loss"].as_f64()
            && entry.best_valid_loss >= start
        {
            eprintln!(
                "{}: warning: the continued run's best validation loss {} does not beat the one it started from ({start}); keep that one",
                kind.key(),
                entry.best_valid_loss
            );
        }
        // Re-read the manifest each time: another model may have been trained meanwhile.
        let mut manifest = read_manifest(&args.out).unwrap_or_default();
        manifest.data.sha256 = sha256_files(&args.common.data)?;
        manifest.backend = ctx.backend.clone();
        manifest.threads = ctx.threads;
        manifest.models.insert(kind.key().to_string(), entry);
        let json = serde_json::to_string_pretty(&manifest)? + "\n";
        digit_lab::fs_util::write_atomic(&args.out.join("manifest.json"), json.as_bytes())?;
    }
    Ok(())
}

/// The test metrics without the confusion matrix, for one-line summaries.
pub(crate) fn summary(test: &serde_json::Value) -> String {
    let mut t = test.clone();
    if let Some(o) = t.as_object_mut() {
        o.remove("confusion");
    }
    t.to_string()
}

fn evaluate(args: EvalArgs) -> Result<()> {
    let (device, _) = device(args.common.backend)?;
    let data = load_data(&args.common.data)?;
    let manifest = read_manifest(&args.weights)?;
    let mut out = serde_json::Map::new();
    for kind in ModelKind::ALL {
        if manifest.entry(kind).is_err() {
            continue;
        }
        let bytes = read_weights(&args.weights, &manifest, kind)?;
        let model = cli::weights::load(&manifest, kind, &bytes, &device)?;
        let metrics = cli::weights::test_metrics(&manifest, kind, &model, &data, &device)?;
        if !args.markdown {
            println!("{:<16} {}", kind.key(), summary(&metrics));
        }
        out.insert(kind.key().to_string(), metrics);
    }
    if out.is_empty() {
        bail!(
            "no trained models in {}",
            args.weights.join("manifest.json").display()
        );
    }
    if args.markdown {
        print!(
            "{}",
            digit_lab::report::markdown::metrics_table(&manifest, &out)
        );
    }
    Ok(())
}

fn predict(args: PredictArgs) -> Result<()> {
    let (device, _) = device(args.backend)?;
    let name = args.images.display().to_string();
    let bytes = std::fs::read(&args.images).with_context(|| format!("reading {name}"))?;
    let pixels = idx::parse_images(&bytes, &name)?;
    let manifest = read_manifest(&args.weights)?;
    let images = Dataset {
        labels: vec![0; pixels.len() / digit_lab::data::IMAGE_PIXELS],
        images: pixels,
    };
    let mut lines = Vec::with_capacity(images.len());
    for start in (0..images.len()).step_by(eval::EVAL_BATCH) {
        let idx: Vec<usize> = (start..(start + eval::EVAL_BATCH).min(images.len())).collect();
        let x = images_tensor(images.pixels(&idx), &device);
        let (rows, width) = match args.model {
            PredictModel::Classifier | PredictModel::ClassifierBest => {
                let kind = if args.model == PredictModel::Classifier {
                    ModelKind::Classifier
                } else {
                    ModelKind::ClassifierBest
                };
                let model = load_classifier(
                    &manifest,
                    kind,
                    &read_weights(&args.weights, &manifest, kind)?,
                    &device,
                )?;
                (model.probabilities(x), 10)
            }
            PredictModel::Ae => {
                let w = read_weights(&args.weights, &manifest, ModelKind::Ae)?;
                let model = load_conv_ae(&manifest, ModelKind::Ae, &w, &device)?;
                let code = model.encoder.forward(x);
                let width = code.dims()[1];
                (code, width)
            }
            PredictModel::Vae => {
                let model = load_vae(
                    &manifest,
                    &read_weights(&args.weights, &manifest, ModelKind::Vae)?,
                    &device,
                )?;
                let (mu, _) = model.encode(x);
                let width = mu.dims()[1];
                (mu, width)
            }
        };
        let values: Vec<f32> = rows
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        for (i, row) in idx.iter().zip(values.chunks(width)) {
            let line = match args.model {
                PredictModel::Classifier | PredictModel::ClassifierBest => {
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
            lines.push(line.to_string());
        }
    }
    println!("{}", lines.join("\n"));
    Ok(())
}

fn run_bench(args: BenchArgs) -> Result<()> {
    let (device, backend) = device(args.backend)?;
    if args.inference {
        for r in bench::bench_decode(&device, &backend, threads(), 100) {
            println!("{}", serde_json::to_string(&r)?);
        }
        return Ok(());
    }
    let result = bench::bench_conv_ae(
        &device,
        &backend,
        threads(),
        args.batch_size,
        args.warmup,
        args.steps,
    );
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

fn export_maps(args: ExportMapsArgs) -> Result<()> {
    let (device, _) = device(args.common.backend)?;
    let data = load_data(&args.common.data)?;
    if args.validate_tsne {
        let options = args.tsne.options();
        let (knn, seconds) = digit_lab::analysis::maps::tsne_validation_knn(&data, options);
        println!(
            "t-SNE on the validation split, {} epochs, learning rate {}, theta {}, exaggeration {} for {} epochs: 5-NN accuracy {knn:.4} ({seconds:.1}s)",
            options.epochs,
            options.learning_rate_for(data.validation.len()),
            options.theta,
            options.exaggeration,
            options.exaggeration_epochs
        );
        return Ok(());
    }
    let manifest = read_manifest(&args.weights)?;
    if args.validate_codes {
        return print_validation_codes_knn(&args.weights, &manifest, &data, &device);
    }
    let ae = load_conv_ae(
        &manifest,
        ModelKind::Ae,
        &read_weights(&args.weights, &manifest, ModelKind::Ae)?,
        &device,
    )?;
    let vae = load_vae(
        &manifest,
        &read_weights(&args.weights, &manifest, ModelKind::Vae)?,
        &device,
    )?;
    let maps =
        digit_lab::analysis::maps::export(&data, &ae, &vae, &device, args.tsne.options(), |m| {
            eprintln!("{m}")
        });
    for (name, e) in [
        ("ConvAE code", &maps.ae),
        ("VAE mean", &maps.vae),
        ("PCA-2", &maps.pca),
        ("t-SNE", &maps.tsne),
    ] {
        println!(
            "{name:<12} 5-NN accuracy {:.4}  ({:.1}s)",
            e.knn5, e.seconds
        );
    }
    let path = args.weights.join("maps.json");
    digit_lab::fs_util::write_atomic(&path, serde_json::to_string(&maps)?.as_bytes())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn print_validation_codes_knn(
    dir: &Path,
    manifest: &Manifest,
    data: &Mnist,
    device: &Device,
) -> Result<()> {
    use digit_lab::analysis::{knn::loo_knn_accuracy, maps};
    let valid = &data.validation;
    let mut printed = false;
    for kind in [ModelKind::Ae, ModelKind::Vae] {
        if manifest.entry(kind).is_err() {
            continue;
        }
        let bytes = read_weights(dir, manifest, kind)?;
        let points = match kind {
            ModelKind::Ae => maps::ae_codes(
                &load_conv_ae(manifest, kind, &bytes, device)?,
                valid,
                device,
            ),
            _ => maps::vae_means(&load_vae(manifest, &bytes, device)?, valid, device),
        };
        let knn = loo_knn_accuracy(&points, 2, &valid.labels, maps::KNN_K);
        println!("{:<4} validation 5-NN accuracy {knn:.4}", kind.key());
        printed = true;
    }
    if !printed {
        bail!("no ae or vae in {}", dir.join("manifest.json").display());
    }
    Ok(())
}

fn export_subset(args: ExportSubsetArgs) -> Result<()> {
    use digit_lab::mini_training::subset::{IMAGES_FILE, LABELS_FILE, Subset};
    let data = load_data(&args.data)?;
    let subset = Subset::from_splits(&data.train, &data.validation);
    let (images, labels) = subset.to_gzip();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for (name, bytes) in [(IMAGES_FILE, images), (LABELS_FILE, labels)] {
        let path = args.out.join(name);
        digit_lab::fs_util::write_atomic(&path, &bytes)?;
        eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}

fn main() -> Result<()> {
    // Before anything uses rayon: subnormal floats slow training several-fold on Intel CPUs.
    digit_lab::train::denormals::flush_denormals_everywhere()
        .context("configuring the CPU thread pool")?;
    match Cli::parse().command {
        Cmd::Train(a) => train(a),
        Cmd::Eval(a) => evaluate(a),
        Cmd::Predict(a) => predict(a),
        Cmd::Bench(a) => run_bench(a),
        Cmd::ExportMaps(a) => export_maps(a),
        Cmd::Search(a) => cli::search::run(a),
        Cmd::Report(a) => cli::report::run(a),
        Cmd::ExportSubset(a) => export_subset(a),
        Cmd::ConvertWeights(a) => cli::weights::run(a),
        Cmd::DeadUnits(a) => cli::units::run(a),
    }
}
