//! `digit-lab train`: starts a run in its own directory (or resumes one) and, if asked,
//! publishes the result.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser as _};
use digit_lab::analysis::non_digits;
use digit_lab::data::augment::AugmentConfig;
use digit_lab::data::mnist::TRAINING_FILES;
use digit_lab::model::weights_dir::{WeightsDir, sha256_hex};
use digit_lab::model::{ClassifierConfig, ConvAeConfig, DaeWideConfig, ModelKind, VaeConfig};
use digit_lab::train::outliers::OutlierExposure;
use digit_lab::train::run::{
    DataSpec, Run, RunSpec, RunState, StartFrom, check_reusable, data_hashes, new_run_dir, now_utc,
};
use digit_lab::train::tasks::{DEFAULT_NOISE_AMOUNT, default_fit};
use digit_lab::train::{EpochStats, Optimizer, Schedule, publish};
use serde_json::json;

use super::common::{
    Backend, device, fetch_if_missing, parse_finite, parse_unit_interval, threads,
};

/// The models `train` takes by name: each model's manifest key with `-` for `_`, or `all` (every
/// model in turn; the paper classifier uses the ConvAE trained just before).
const MODEL_NAMES: [&str; 7] = [
    "ae",
    "dae",
    "dae-wide",
    "vae",
    "classifier",
    "classifier-best",
    "all",
];

/// The models one `train` command trains.
#[derive(Clone)]
struct Models(Vec<ModelKind>);

fn models(name: String) -> Models {
    Models(
        ModelKind::ALL
            .into_iter()
            .filter(|k| name == "all" || k.key().replace('_', "-") == name)
            .collect(),
    )
}

#[derive(Args)]
pub(crate) struct TrainArgs {
    /// The model to train (not with --resume).
    #[arg(
        required_unless_present = "resume",
        value_parser = PossibleValuesParser::new(MODEL_NAMES).map(models)
    )]
    model: Option<Models>,
    /// Continue the run in RUN_DIR from its last checkpoint; its model, architecture, data and
    /// every hyperparameter come from RUN_DIR/run.json.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["model", "hyper", "run_dir", "runs"])]
    resume: Option<PathBuf>,
    /// Directory under which a new run directory is made.
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
    /// The new run's directory (must not exist or be empty) instead of one under --runs.
    #[arg(long, value_name = "DIR")]
    run_dir: Option<PathBuf>,
    /// When the run has finished, publish it into this weights directory (measuring its test
    /// metrics): `--publish weights` adopts it for the page.
    #[arg(long, value_name = "WEIGHTS_DIR")]
    publish: Option<PathBuf>,
    /// With --publish: publish even where the target holds a model that did better on the same
    /// validation split.
    #[arg(long, requires = "publish")]
    replace_better: bool,
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// No progress bars or per-epoch lines.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    hyper: HyperArgs,
}

/// Everything that defines a run; recorded in run.json, so not accepted with --resume.
#[derive(Args)]
#[group(id = "hyper", multiple = true, required = false)]
struct HyperArgs {
    /// Directory holding the four MNIST IDX files.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Validation split: the last N images of the training file (PROTOCOL.md: 10,000).
    #[arg(long)]
    valid_size: Option<usize>,
    /// Use only the first N training images (smoke runs; recorded in the manifest).
    #[arg(long)]
    limit_train: Option<usize>,
    /// Maximum epochs (defaults: ae 150, dae 100, dae-wide 60, vae 150, classifier 60,
    /// classifier-best 30).
    #[arg(long)]
    epochs: Option<usize>,
    /// Early-stopping patience in epochs (default 5; 10 for the paper classifier, 20 for the VAE).
    #[arg(long)]
    patience: Option<usize>,
    /// Batch size (default 256; 128 for the VAE as PROTOCOL.md says; 64 and 128 for the
    /// classifiers).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Adam (peak) learning rate (default 1e-3, the paper's best).
    #[arg(long, value_parser = parse_finite)]
    lr: Option<f64>,
    /// Weight decay (default 1e-5, the paper's best; 1.5e-2 for the VAE).
    #[arg(long, value_parser = parse_finite)]
    l2: Option<f64>,
    /// `adam` adds the L2 penalty to the gradients; `adamw` decays the weights apart from
    /// Adam's step.
    #[arg(long, value_enum)]
    optimizer: Option<Optimizer>,
    /// VAE only: the encoder's own weight decay (then --l2 applies to the decoder).
    #[arg(long, value_parser = parse_finite)]
    encoder_l2: Option<f64>,
    /// Learning-rate schedule (default cosine).
    #[arg(long, value_enum)]
    schedule: Option<Schedule>,
    #[arg(long)]
    seed: Option<u64>,
    /// ConvAE channels of the first convolution (default 8; 32 for the wide DAE).
    #[arg(long)]
    c1: Option<usize>,
    /// ConvAE channels of the second convolution (default 16).
    #[arg(long)]
    c2: Option<usize>,
    /// ConvAE channels of the third convolution (default 64).
    #[arg(long)]
    c3: Option<usize>,
    /// ConvAE hidden linear width (default 64).
    #[arg(long)]
    fc: Option<usize>,
    /// ConvAE dropout rate in [0, 1) (default 0.1).
    #[arg(long, value_parser = parse_finite)]
    dropout: Option<f64>,
    /// Code size of the ConvAE / DAE / VAE (default 2); feature maps of the wide DAE's 7×7
    /// code (default 8).
    #[arg(long)]
    code: Option<usize>,
    /// Noise amount a of the denoisers, in [0, 1]: input clip(x + a·N(0,1), 0, 1) (default 0.3).
    #[arg(long, value_parser = parse_unit_interval)]
    noise_amount: Option<f32>,
    /// VAE only: the encoder reads x + σ·N(0,1) in training (σ in [0, 1]; default 0).
    #[arg(long, value_parser = parse_unit_interval)]
    encoder_noise: Option<f32>,
    /// Paper classifier: augment half of each training batch (default true).
    #[arg(long, action = clap::ArgAction::Set)]
    augment: Option<bool>,
    /// Best classifier: share of the augmented images drawn again through the page's pad
    /// (traced to pen paths; any pen, size, slant, wobble, gaps) instead of warped (default 0).
    #[arg(long, value_parser = parse_unit_interval)]
    redraw: Option<f32>,
    /// Best classifier: share of the augmented ones replaced by a single straight stroke drawn
    /// through the pad (a one as a mouse drag makes it; default 0).
    #[arg(long, value_parser = parse_unit_interval)]
    straight_ones: Option<f32>,
    /// Best classifier: share of the other augmented ones replaced by a one with a flag at its
    /// top, drawn through the pad (as many people write a one; default 0).
    #[arg(long, value_parser = parse_unit_interval)]
    flagged_ones: Option<f32>,
    /// Best classifier: share of the redrawn digits made coarse first, as other people's sets
    /// hold theirs (8×8 counts, or the strokes at eight points in all; default 0).
    #[arg(long, value_parser = parse_unit_interval, requires = "redraw")]
    coarse: Option<f32>,
    /// Best classifier: non-digit drawings per batch, as a share of its digits, trained
    /// towards no class (outlier exposure; kinds kept out: --outliers-left-out). 0 or absent:
    /// none.
    #[arg(long, value_name = "SHARE")]
    outliers: Option<f32>,
    /// Weight of the non-digits' loss against the digits' (default 0.5).
    #[arg(long, value_name = "WEIGHT", requires = "outliers")]
    outlier_weight: Option<f32>,
    /// Non-digit kinds kept out of the outliers, comma-separated (default
    /// smiley,spiral,heart,partial_digit; `none` keeps none out).
    #[arg(long, value_name = "KINDS", requires = "outliers", value_parser = parse_kinds)]
    outliers_left_out: Option<KindList>,
    /// Validate the mean of the weights of every epoch from this one on (weight averaging).
    #[arg(long)]
    average_from: Option<usize>,
    /// Start an ae/dae/dae-wide/vae/classifier-best run from the finished model in this weights directory (a
    /// run directory or weights/); its architecture is the one used.
    #[arg(long, value_name = "DIR")]
    init_from: Option<PathBuf>,
    /// Paper classifier: the weights directory holding the ConvAE whose encoder it uses
    /// (default weights/; with `train all`, the ConvAE run just trained).
    #[arg(long, value_name = "DIR")]
    encoder_from: Option<PathBuf>,
}

/// Trains (or resumes) and prints where the result is.
pub(crate) fn run(args: TrainArgs) -> Result<()> {
    let (device, backend) = device(args.backend)?;
    if let Some(target) = &args.publish {
        // Refuse an unusable target before any epoch is spent.
        WeightsDir::open_or_create(target)?;
    }
    if let Some(dir) = &args.resume {
        return resume(dir, &device, &backend, &args);
    }
    let kinds = args
        .model
        .clone()
        .expect("clap requires a model without --resume")
        .0;
    let h = &args.hyper;
    check_flags(&kinds, h, &args)?;
    let data_spec = data_spec(h)?;
    // The data and its split are checked before any run directory is made.
    let data = data_spec.load()?;
    let mut last_ae_run: Option<PathBuf> = None;
    for kind in kinds {
        let dir = match &args.run_dir {
            Some(dir) => dir.clone(),
            None => new_run_dir(&args.runs, kind, h.seed.unwrap_or(42)),
        };
        let encoder_from = h
            .encoder_from
            .clone()
            .or_else(|| last_ae_run.clone())
            .unwrap_or_else(|| PathBuf::from("weights"));
        let (spec, start_weights) =
            spec_for(kind, h, data_spec.clone(), &backend, &dir, &encoder_from)?;
        let run = Run::create(&dir, spec, start_weights.as_deref())?;
        eprintln!(
            "{}: run directory {} (after a crash: digit-lab train --resume {1})",
            kind.key(),
            dir.display()
        );
        finish(&run, &data, &device, &args)?;
        if kind == ModelKind::Ae {
            last_ae_run = Some(dir);
        }
    }
    Ok(())
}

/// `train --resume DIR`: the run's own settings, from its last checkpoint.
fn resume(
    dir: &Path,
    device: &burn::prelude::Device,
    backend: &str,
    args: &TrainArgs,
) -> Result<()> {
    let run = Run::open(dir)?;
    // Taken before anything is said or read: a second resume of the same run stops here.
    let lock = run.lock()?;
    match run.state()? {
        RunState::Finished => bail!(
            "{}: the run is finished (publish it with `digit-lab publish {0}`)",
            dir.display()
        ),
        RunState::InProgress(epochs) => {
            eprintln!("{}: resuming after epoch {epochs}", dir.display())
        }
        RunState::New => eprintln!("{}: no epoch was finished; starting it", dir.display()),
    }
    if run.spec.threads != threads() || run.spec.backend != backend {
        eprintln!(
            "warning: the run was started on {} with {} threads, this process has {} with {}; the result may differ in the last bits from an uninterrupted run",
            run.spec.backend,
            run.spec.threads,
            backend,
            threads()
        );
    }
    let data = run.data()?;
    // `Run::train` takes the lock again for the whole training.
    drop(lock);
    finish(&run, &data, device, args)
}

/// The data a new run records: the directory (absolute, so that `--resume` works from any
/// directory), the training file's hashes and the split.
fn data_spec(h: &HyperArgs) -> Result<DataSpec> {
    let data_dir = h
        .data
        .clone()
        .unwrap_or_else(|| PathBuf::from("data/mnist"));
    fetch_if_missing(&data_dir)?;
    let data_dir = std::fs::canonicalize(&data_dir)
        .with_context(|| format!("--data {}", data_dir.display()))?;
    Ok(DataSpec {
        dir: data_dir.display().to_string(),
        sha256: data_hashes(&data_dir, &TRAINING_FILES)?,
        valid_size: h.valid_size.unwrap_or(10_000),
        limit_train: h.limit_train,
    })
}

/// Trains the run to its end, reports it and publishes it if asked.
fn finish(
    run: &Run,
    data: &digit_lab::data::TrainingData,
    device: &burn::prelude::Device,
    args: &TrainArgs,
) -> Result<()> {
    let entry = run.train(data, device, args.quiet)?;
    let key = &run.spec.model;
    eprintln!(
        "{key}: {} epochs (best {}), {:.0}s, best validation loss {}",
        entry.epochs, entry.best_epoch, entry.train_seconds, entry.best_valid_loss
    );
    if let Some(start) = entry.hyperparameters["warm_start"]["best_valid_loss"].as_f64()
        && entry.best_valid_loss >= start
    {
        eprintln!(
            "{key}: warning: the continued run's best validation loss {} does not beat the one it started from ({start})",
            entry.best_valid_loss
        );
    }
    match &args.publish {
        Some(target) => {
            let replace = if args.replace_better {
                publish::Replace::Always
            } else {
                publish::Replace::IfNotWorse
            };
            let published = publish::publish(&run.dir, target, replace, device)?;
            eprintln!(
                "{key}: published into {} (test {})",
                target.display(),
                super::common::summary(&published.test)
            );
        }
        None => eprintln!(
            "{key}: finished in {}; adopt it with `digit-lab publish {0}`",
            run.dir.display()
        ),
    }
    Ok(())
}

/// Flag combinations that cannot make sense, refused before any data is read.
fn check_flags(kinds: &[ModelKind], h: &HyperArgs, args: &TrainArgs) -> Result<()> {
    let only = |flag: &str, set: bool, allowed: &[ModelKind]| -> Result<()> {
        if set && !kinds.iter().all(|k| allowed.contains(k)) {
            let names: Vec<_> = allowed.iter().map(|k| k.key()).collect();
            bail!("{flag} is for `train {}` only", names.join("|"));
        }
        Ok(())
    };
    use ModelKind::*;
    only("--encoder-l2", h.encoder_l2.is_some(), &[Vae])?;
    only("--encoder-noise", h.encoder_noise.is_some(), &[Vae])?;
    only("--noise-amount", h.noise_amount.is_some(), &[Dae, DaeWide])?;
    only(
        "--init-from",
        h.init_from.is_some(),
        &[Ae, Dae, DaeWide, Vae, ClassifierBest],
    )?;
    only("--outliers", h.outliers.is_some(), &[ClassifierBest])?;
    only("--encoder-from", h.encoder_from.is_some(), &[Classifier])?;
    only("--augment", h.augment.is_some(), &[Classifier])?;
    only("--redraw", h.redraw.is_some(), &[ClassifierBest])?;
    only(
        "--straight-ones",
        h.straight_ones.is_some(),
        &[ClassifierBest],
    )?;
    only(
        "--flagged-ones",
        h.flagged_ones.is_some(),
        &[ClassifierBest],
    )?;
    only("--coarse", h.coarse.is_some(), &[ClassifierBest])?;
    let conv_flags = h.c2.is_some() || h.c3.is_some() || h.fc.is_some() || h.dropout.is_some();
    only("--c2/--c3/--fc/--dropout", conv_flags, &[Ae, Dae])?;
    only("--c1", h.c1.is_some(), &[Ae, Dae, DaeWide])?;
    only("--code", h.code.is_some(), &[Ae, Dae, DaeWide, Vae])?;
    if h.init_from.is_some() && (conv_flags || h.c1.is_some() || h.code.is_some()) {
        bail!(
            "--init-from takes the architecture from the run it continues: drop --c1/--c2/--c3/--fc/--dropout/--code"
        );
    }
    if kinds.len() > 1 && args.run_dir.is_some() {
        bail!("--run-dir names one run: use --runs DIR with `train all`");
    }
    if h.limit_train == Some(0) {
        bail!("--limit-train must be at least 1");
    }
    if h.valid_size == Some(0) {
        bail!("--valid-size must be at least 1");
    }
    if args.runs.exists() && !args.runs.is_dir() {
        bail!("--runs {}: not a directory", args.runs.display());
    }
    if let Some(dir) = &args.run_dir {
        check_reusable(dir).map_err(|e| anyhow::anyhow!("--run-dir {e}"))?;
    }
    Ok(())
}

/// The finished model a run starts from, read and checked.
fn start_from(dir: &Path, kind: ModelKind) -> Result<(StartFrom, Vec<u8>)> {
    let store = WeightsDir::open(dir)?;
    let entry = store.manifest.entry(kind)?.clone();
    // Built once here so that its architecture and weights are checked before any work.
    store.load(kind, &burn::prelude::Device::flex())?;
    let weights = store.read_weights(kind)?;
    let history: Vec<EpochStats> = serde_json::from_str(&store.read_history(kind)?)
        .map_err(|e| anyhow::anyhow!("{}: history of `{}`: {e}", dir.display(), kind.key()))?;
    Ok((
        StartFrom {
            dir: dir.display().to_string(),
            model: kind.key().to_string(),
            sha256: sha256_hex(&weights),
            entry,
            history,
        },
        weights,
    ))
}

/// The spec of a new run of `kind` from the flags and the per-model defaults.
fn spec_for(
    kind: ModelKind,
    h: &HyperArgs,
    data: DataSpec,
    backend: &str,
    dir: &Path,
    encoder_from: &Path,
) -> Result<(RunSpec, Option<Vec<u8>>)> {
    let start = match kind {
        ModelKind::Classifier => Some(start_from(encoder_from, ModelKind::Ae)?),
        _ => h
            .init_from
            .as_deref()
            .map(|d| start_from(d, kind))
            .transpose()?,
    };
    let architecture = architecture(kind, h, start.as_ref().map(|(s, _)| s))?;
    let augment = match kind {
        ModelKind::ClassifierBest => Some(AugmentConfig {
            straight_one_probability: h.straight_ones.unwrap_or(0.0),
            flagged_one_probability: h.flagged_ones.unwrap_or(0.0),
            coarse_probability: h.coarse.unwrap_or(0.0),
            ..AugmentConfig::with_redraw(h.redraw.unwrap_or(0.0))
        }),
        ModelKind::Classifier => h.augment.unwrap_or(true).then(AugmentConfig::default),
        _ => None,
    };
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| kind.key().to_string());
    let spec = RunSpec {
        id,
        model: kind.key().to_string(),
        architecture,
        fit: fit_config(kind, h),
        noise_amount: matches!(kind, ModelKind::Dae | ModelKind::DaeWide)
            .then(|| h.noise_amount.unwrap_or(DEFAULT_NOISE_AMOUNT)),
        encoder_noise: h.encoder_noise.filter(|s| *s > 0.0),
        augment,
        outliers: h.outliers.filter(|s| *s != 0.0).map(|share| {
            let default = OutlierExposure::with_share(share);
            OutlierExposure {
                weight: h.outlier_weight.unwrap_or(default.weight),
                kinds_left_out: h
                    .outliers_left_out
                    .clone()
                    .map_or(default.kinds_left_out, |k| k.0),
                ..default
            }
        }),
        start: start.as_ref().map(|(s, _)| s.clone()),
        data,
        backend: backend.to_string(),
        threads: threads(),
        created_at: now_utc(),
    };
    // Every setting is checked before the data is read or a directory is made.
    spec.check()
        .map_err(|e| anyhow::anyhow!("{}: {e}", flag_names(&e.to_string())))?;
    Ok((spec, start.map(|(_, w)| w)))
}

/// The optimisation settings: the flags, else the model's defaults.
fn fit_config(kind: ModelKind, h: &HyperArgs) -> digit_lab::train::FitConfig {
    let defaults = default_fit(kind);
    digit_lab::train::FitConfig {
        epochs: h.epochs.unwrap_or(defaults.epochs),
        patience: h.patience.unwrap_or(defaults.patience),
        batch_size: h.batch_size.unwrap_or(defaults.batch_size),
        lr: h.lr.unwrap_or(defaults.lr),
        weight_decay: h.l2.unwrap_or(defaults.weight_decay),
        optimizer: h.optimizer.unwrap_or(defaults.optimizer),
        encoder_weight_decay: h.encoder_l2,
        encoder_params: None,
        schedule: h.schedule.unwrap_or(defaults.schedule),
        seed: h.seed.unwrap_or(defaults.seed),
        average_from: h.average_from,
    }
}

/// The architecture of a new run: the model it starts from, else the flags and defaults.
fn architecture(
    kind: ModelKind,
    h: &HyperArgs,
    start: Option<&StartFrom>,
) -> Result<serde_json::Value> {
    Ok(match (start, kind) {
        (Some(s), ModelKind::Classifier) => {
            let encoder: ConvAeConfig =
                serde_json::from_value(s.entry.hyperparameters["model"].clone())?;
            json!(ClassifierConfig::paper(encoder))
        }
        (Some(s), _) => s.entry.hyperparameters["model"].clone(),
        (None, ModelKind::Ae | ModelKind::Dae) => {
            let d = ConvAeConfig::new();
            json!(
                ConvAeConfig::new()
                    .with_c1(h.c1.unwrap_or(d.c1))
                    .with_c2(h.c2.unwrap_or(d.c2))
                    .with_c3(h.c3.unwrap_or(d.c3))
                    .with_fc(h.fc.unwrap_or(d.fc))
                    .with_dropout(h.dropout.unwrap_or(d.dropout))
                    .with_code(h.code.unwrap_or(d.code))
            )
        }
        (None, ModelKind::DaeWide) => {
            let d = DaeWideConfig::new();
            json!(
                DaeWideConfig::new()
                    .with_c1(h.c1.unwrap_or(d.c1))
                    .with_code_channels(h.code.unwrap_or(d.code_channels))
            )
        }
        (None, ModelKind::Vae) => {
            json!(VaeConfig::new().with_latent(h.code.unwrap_or(VaeConfig::new().latent)))
        }
        (None, ModelKind::ClassifierBest) => json!(ClassifierConfig::best()),
        (None, ModelKind::Classifier) => unreachable!("the classifier always has a start"),
    })
}

/// `--outliers-left-out`'s kinds.
#[derive(Clone, Debug)]
struct KindList(Vec<String>);

fn parse_kinds(text: &str) -> Result<KindList, String> {
    let kinds: Vec<String> = match text {
        "none" => Vec::new(),
        _ => text.split(',').map(|k| k.trim().to_string()).collect(),
    };
    non_digits::check_left_out(&kinds)?;
    Ok(KindList(kinds))
}

/// Names the flag behind a spec field in an error message.
fn flag_names(message: &str) -> String {
    if message.starts_with("weight averaging") {
        return "invalid --average-from".into();
    }
    let field = message
        .trim_start_matches("model.")
        .split([' ', '=', ':'])
        .next()
        .unwrap_or_default();
    let flag = match field {
        "c1" | "c2" | "c3" | "fc" | "dropout" | "code" => format!("--{field}"),
        "latent" | "code_channels" => "--code".into(),
        "noise_amount" => "--noise-amount".into(),
        "encoder_noise" => "--encoder-noise".into(),
        "epochs" => "--epochs".into(),
        "batch" => "--batch-size".into(),
        "learning" => "--lr".into(),
        "weight" => "--l2/--encoder-l2".into(),
        "outliers.share" => "--outliers".into(),
        "outliers.weight" => "--outlier-weight".into(),
        "outliers.kinds_left_out" => "--outliers-left-out".into(),
        "patience" => "--patience".into(),
        "valid_size" => "--valid-size".into(),
        _ => return "invalid settings".into(),
    };
    format!("invalid {flag}")
}
