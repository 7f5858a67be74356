//! `digit-lab report`: `docs/EXPERIMENTS.md` from the experiments log, every figure under
//! `docs/figures/` and `docs/REPORT.md`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use burn::prelude::Device;
use clap::Args;
use digit_lab::analysis::maps::{self, Maps};
use digit_lab::report::{self, Models, ReportInputs, SearchResults};
use digit_lab::search::full_runs::FullRunsFile;
use digit_lab::search::{Grid, ResultsFile};

use super::common::{Common, TsneArgs, read_manifest};

#[derive(Args)]
pub struct ReportArgs {
    #[command(flatten)]
    common: Common,
    /// Directory with manifest.json, the weights, their histories and maps.json.
    #[arg(long, default_value = "weights")]
    weights: PathBuf,
    /// Where REPORT.md, EXPERIMENTS.md and figures/ are written.
    #[arg(long, default_value = "docs")]
    out: PathBuf,
    /// The experiments log (one JSON object per run), rendered into <out>/EXPERIMENTS.md.
    #[arg(long, default_value = "docs/experiments.jsonl")]
    experiments: PathBuf,
    /// The search's results file (skipped when it does not exist).
    #[arg(long, default_value = "docs/search/results.jsonl")]
    search_results: PathBuf,
    /// The denoiser's search results file (skipped when it does not exist).
    #[arg(long, default_value = "docs/search/dae-results.jsonl")]
    dae_search_results: PathBuf,
    /// The searches' full runs (`digit-lab record-run`; skipped when it does not exist).
    #[arg(long, default_value = "docs/search/full-runs.jsonl")]
    full_runs: PathBuf,
    /// What the models make of handwriting that is not MNIST (`digit-lab handwriting --record`;
    /// the report says it is not measured yet when it does not exist).
    #[arg(long, default_value = "docs/handwriting.json")]
    handwriting: PathBuf,
    /// Recompute the latent maps instead of reading <weights>/maps.json (same exporter).
    #[arg(long)]
    recompute_maps: bool,
    /// Use only the first N test (and N training) digits: a quick run, not for reporting.
    #[arg(long)]
    limit: Option<usize>,
    /// t-SNE settings when the maps are recomputed.
    #[command(flatten)]
    tsne: TsneArgs,
}

/// The committed latent maps, or maps computed now (`--recompute-maps`, `--limit`).
fn maps_for_report(
    args: &ReportArgs,
    data: &digit_lab::data::Mnist,
    models: &Models,
    device: &Device,
) -> Result<Maps> {
    let maps_path = args.weights.join("maps.json");
    if args.recompute_maps || args.limit.is_some() {
        return Ok(maps::export(
            data,
            &models.ae,
            &models.vae,
            device,
            args.tsne.options(),
            |m| eprintln!("{m}"),
        ));
    }
    let text = std::fs::read_to_string(&maps_path).with_context(|| {
        format!(
            "reading {} (write it with `digit-lab export-maps`, or pass --recompute-maps)",
            maps_path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", maps_path.display()))
}

/// A search's results file, if there is one.
fn search_results(path: &Path, metric: &'static str) -> Result<Option<SearchResults>> {
    if !path.exists() {
        eprintln!(
            "no search results at {}: the report skips them",
            path.display()
        );
        return Ok(None);
    }
    Ok(Some(SearchResults {
        path: path.display().to_string(),
        records: ResultsFile::new(path).load()?,
        grid_size: Grid::paper().points().len(),
        metric,
    }))
}

pub fn run(args: ReportArgs) -> Result<()> {
    // First: it needs neither the data nor the models, and a malformed log stops the run early.
    let log = std::fs::read_to_string(&args.experiments)
        .with_context(|| format!("reading {}", args.experiments.display()))?;
    let experiments = report::experiments::render(&log)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.experiments.display()))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let experiments_path = args.out.join("EXPERIMENTS.md");
    digit_lab::fs_util::write_atomic(&experiments_path, experiments.as_bytes())
        .with_context(|| format!("writing {}", experiments_path.display()))?;
    eprintln!("wrote {}", experiments_path.display());

    let (device, mut data) = args.common.device_and_data_with_test()?;
    if let Some(n) = args.limit {
        data.test = data.test.slice(0..n.min(data.test.len()));
        data.train = data.train.slice(0..n.min(data.train.len()));
    }
    let manifest = read_manifest(&args.weights)?;
    let models = Models::load(&args.weights, &manifest, &device)?;
    let maps = maps_for_report(&args, &data, &models, &device)?;
    let search = search_results(&args.search_results, "validation MSE")?;
    let dae_search = search_results(&args.dae_search_results, "denoising MSE")?;
    let inputs = ReportInputs {
        weights_dir: &args.weights,
        manifest: &manifest,
        models: &models,
        test: &data.test,
        maps: &maps,
        search,
        dae_search,
        full_runs: FullRunsFile::new(&args.full_runs).load()?,
        handwriting: report::handwriting::load_record(&args.handwriting)
            .map_err(anyhow::Error::msg)?,
        validation: &data.validation,
        device: &device,
    };
    let figures_dir = args.out.join("figures");
    let results = report::make_figures(&inputs, &figures_dir)?;
    // The workflow only: how each committed model was made (settings, phases, commands) is
    // data, in the experiments log and the manifest, not typed here.
    let commands = [
        "cargo run --release -- train <model> [flags]   # a new run under runs/ (settings of the committed runs: EXPERIMENTS.md)",
        "cargo run --release -- publish runs/<id>       # adopt a finished run into weights/: its test metrics are measured here, once",
        "cargo run --release -- export-maps             # weights/maps.json: AE, VAE, PCA-2, t-SNE",
        "cargo run --release -- search --budget-minutes 60   # docs/search/results.jsonl",
        "cargo run --release -- report                  # docs/EXPERIMENTS.md, docs/figures/*, docs/REPORT.md",
    ]
    .map(String::from);
    let text = report::markdown::report(&inputs, &results, "figures", &commands);
    let path = args.out.join("REPORT.md");
    digit_lab::fs_util::write_atomic(&path, text.as_bytes())?;
    print!("{}", report::markdown::denoise_table(&results));
    for (caption, file) in &results.figures {
        eprintln!("{}: {caption}", file.display());
    }
    eprintln!("wrote {}", path.display());
    Ok(())
}
