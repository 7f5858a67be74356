//! `digit-lab report`: every figure under `docs/figures/` and `docs/REPORT.md`.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;
use digit_lab::analysis::maps::{self, Maps};
use digit_lab::report::{self, Models, ReportInputs, SearchResults};
use digit_lab::search::{Grid, ResultsFile};

use crate::{Common, device, load_data, read_manifest};

#[derive(Args)]
pub struct ReportArgs {
    #[command(flatten)]
    common: Common,
    /// Directory with manifest.json, the weights, their histories and maps.json.
    #[arg(long, default_value = "weights")]
    weights: PathBuf,
    /// Where REPORT.md and figures/ are written.
    #[arg(long, default_value = "docs")]
    out: PathBuf,
    /// The search's results file (skipped when it does not exist).
    #[arg(long, default_value = "docs/search/results.jsonl")]
    search_results: PathBuf,
    /// Recompute the latent maps instead of reading <weights>/maps.json (same exporter).
    #[arg(long)]
    recompute_maps: bool,
    /// Use only the first N test (and N training) digits: a quick run, not for reporting.
    #[arg(long)]
    limit: Option<usize>,
    /// t-SNE settings when the maps are recomputed.
    #[command(flatten)]
    tsne: crate::TsneArgs,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let (device, _) = device(args.common.backend)?;
    let mut data = load_data(&args.common.data)?;
    if let Some(n) = args.limit {
        data.test = data.test.slice(0..n.min(data.test.len()));
        data.train = data.train.slice(0..n.min(data.train.len()));
    }
    let manifest = read_manifest(&args.weights)?;
    let models = Models::load(&args.weights, &manifest, &device)?;
    let maps_path = args.weights.join("maps.json");
    let maps: Maps = if args.recompute_maps || args.limit.is_some() {
        maps::export(
            &data,
            &models.ae,
            &models.vae,
            &device,
            args.tsne.options(),
            |m| eprintln!("{m}"),
        )
    } else {
        let text = std::fs::read_to_string(&maps_path).with_context(|| {
            format!(
                "reading {} (write it with `digit-lab export-maps`, or pass --recompute-maps)",
                maps_path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", maps_path.display()))?
    };
    let search = if args.search_results.exists() {
        Some(SearchResults {
            path: args.search_results.display().to_string(),
            records: ResultsFile::new(&args.search_results).load()?,
            grid_size: Grid::paper().points().len(),
        })
    } else {
        eprintln!(
            "no search results at {}: the report skips them",
            args.search_results.display()
        );
        None
    };
    let inputs = ReportInputs {
        weights_dir: &args.weights,
        manifest: &manifest,
        models: &models,
        test: &data.test,
        maps: &maps,
        search,
        device: &device,
    };
    let figures_dir = args.out.join("figures");
    let results = report::make_figures(&inputs, &figures_dir)?;
    let commands = [
        "cargo run --release -- train all          # the models in weights/ (hours on 2 cores)",
        "cargo run --release -- train ae --seed 12 && cargo run --release -- train classifier   # the committed ConvAE: best of 13 seeds on validation MSE",
        "cargo run --release -- train vae --out run1 && cargo run --release -- train vae --init-from run1 --out run2 --schedule constant --lr 5e-4 --average-from 1 --epochs 25   # the committed VAE's first two phases; five more averaging phases of 20 epochs followed, the last three with a weaker decoder L2 (README)",
        "cargo run --release -- export-maps        # weights/maps.json: AE, VAE, PCA-2, t-SNE",
        "cargo run --release -- search --budget-minutes 60   # docs/search/results.jsonl",
        "cargo run --release -- report             # docs/figures/*, docs/REPORT.md",
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
