//! `search` and `report` end to end on small slices of the real MNIST (skipped without it): the
//! search writes and resumes its results file, and the report writes every figure and a
//! REPORT.md that embeds them. The experiments log renders to the committed EXPERIMENTS.md, its
//! runs in use are the models of `weights/manifest.json`, and the README's results table is theirs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_digit-lab"));
    c.current_dir(common::root());
    c
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("digit-lab-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A tiny search: 4 configurations, 2 rungs.
fn search(results: &Path, budget_minutes: &str) -> Command {
    let mut c = bin();
    c.args(["search", "--results"]).arg(results).args([
        "--budget-minutes",
        budget_minutes,
        "--min-samples",
        "128",
        "--eta",
        "2",
        "--rungs",
        "2",
        "--valid-size",
        "200",
        "--set",
        "c1=8",
        "--set",
        "c2=16",
        "--set",
        "c3=32",
        "--set",
        "fc=32,64",
        "--set",
        "lr=1e-3",
        "--set",
        "l2=1e-5",
        "--set",
        "drop=0.1,0.5",
    ]);
    c
}

#[test]
fn search_writes_resumes_and_ranks() {
    common::real_mnist();
    let dir = temp_dir("search");
    let results = dir.join("results.jsonl");
    // No budget, no trials (the budget is checked before each new one).
    run(&mut search(&results, "0"));
    assert!(!results.exists());
    let table = run(&mut search(&results, "10"));
    // 4 configurations in rung 0, the best 2 in rung 1.
    assert_eq!(
        std::fs::read_to_string(&results).unwrap().lines().count(),
        6
    );
    assert!(table.contains("rank"), "{table}");
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap()
            .trim_start()
            .starts_with("1     1"),
        "{table}"
    );

    let out = bin()
        .args(["search", "--set", "c1=8x", "--results"])
        .arg(&results)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("c1: \"8x\" is not valid"));
}

#[test]
fn denoiser_search_scores_denoising_in_its_own_file() {
    common::real_mnist();
    let dir = temp_dir("dae-search");
    let (ae, dae) = (dir.join("ae.jsonl"), dir.join("dae.jsonl"));
    run(&mut search(&ae, "10"));
    run(search(&dae, "10").args(["--noise-amount", "0.3"]));
    let mse = |path: &Path| -> Vec<f64> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["valid_mse"]
                    .as_f64()
                    .unwrap()
            })
            .collect()
    };
    let (ae_mse, dae_mse) = (mse(&ae), mse(&dae));
    assert_eq!(dae_mse.len(), 6, "the same halving: 4 + 2 trials");
    // The same configurations and seeds, scored on another task.
    assert_ne!(ae_mse[..4], dae_mse[..4]);
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("dae.plan.json")).unwrap()).unwrap();
    assert!(
        (plan["noise_amount"].as_f64().unwrap() - 0.3).abs() < 1e-6,
        "{plan}"
    );
    // A file is resumed only by the search that wrote it.
    let out = search(&dae, "10").output().unwrap();
    assert!(
        !out.status.success(),
        "an autoencoder search resumed the denoiser's file"
    );
    for bad in ["0", "1.5", "nan"] {
        let out = search(&dir.join("x.jsonl"), "1")
            .args(["--noise-amount", bad])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("--noise-amount"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn report_writes_every_figure_and_the_markdown() {
    common::real_mnist();
    let dir = temp_dir("report");
    let results = dir.join("results.jsonl");
    run(&mut search(&results, "10"));
    // The denoiser's search section reads its own file: here the same trials stand in for it.
    let dae_results = dir.join("dae-results.jsonl");
    std::fs::copy(&results, &dae_results).unwrap();
    run(bin()
        .args(["report", "--limit", "300", "--tsne-epochs", "250", "--out"])
        .arg(&dir)
        .arg("--search-results")
        .arg(&results)
        .arg("--dae-search-results")
        .arg(&dae_results));
    let report = std::fs::read_to_string(dir.join("REPORT.md")).unwrap();
    let experiments = std::fs::read_to_string(dir.join("EXPERIMENTS.md")).unwrap();
    assert!(experiments.starts_with("# Experiments"), "{experiments}");
    for section in [
        "## Test metrics",
        "## Denoising",
        "## Latent spaces",
        "## Hyperparameter search",
        "### The denoising autoencoder's search (noise a = 0.3)",
        "| denoising MSE |",
        "## Figures",
    ] {
        assert!(report.contains(section), "missing {section}");
    }
    let figures = [
        "loss_curves",
        "ae_reconstructions",
        "confusion",
        "denoising",
        "denoise_curve",
        "ae_samples",
        "vae_reconstructions",
        "vae_manifold",
        "latent_ae_pca_tsne",
        "latent_vae_pca_tsne",
    ];
    for name in figures {
        let png = std::fs::read(dir.join(format!("figures/{name}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name}.png is not a PNG");
        assert!(png.len() > 5_000, "{name}.png is nearly empty");
        assert!(
            report.contains(&format!("(figures/{name}.png)")),
            "{name} not embedded"
        );
    }
    for name in ["loss_curves", "confusion", "denoise_curve"] {
        let svg = std::fs::read_to_string(dir.join(format!("figures/{name}.svg"))).unwrap();
        assert!(svg.contains("<svg"), "{name}.svg");
    }
    // Seven noise amounts in the denoising table.
    assert_eq!(report.matches("\n| 0.").count(), 7, "{report}");
}

/// `docs/EXPERIMENTS.md` is what `digit-lab report` renders from `docs/experiments.jsonl`. With
/// `DIGIT_LAB_BLESS=1` the test writes the rendering instead (after editing the log).
#[test]
fn experiments_page_is_the_rendered_log() {
    let docs = common::root().join("docs");
    let log = std::fs::read_to_string(docs.join("experiments.jsonl")).unwrap();
    let rendered = digit_lab::report::experiments::render(&log)
        .unwrap_or_else(|e| panic!("docs/experiments.jsonl: {e}"));
    let page = docs.join("EXPERIMENTS.md");
    if std::env::var_os("DIGIT_LAB_BLESS").is_some() {
        std::fs::write(&page, &rendered).unwrap();
    }
    let committed = std::fs::read_to_string(&page).unwrap_or_default();
    assert!(
        committed == rendered,
        "docs/EXPERIMENTS.md differs from the rendering of docs/experiments.jsonl: run \
         `cargo run --release -- report`, or `DIGIT_LAB_BLESS=1 cargo test --release --test report \
         experiments_page`"
    );
}

/// Each model of `weights/manifest.json` is the run in use of its model in the log, with the same
/// validation figure (the one the run was chosen on).
#[test]
fn runs_in_use_are_the_committed_models() {
    let root = common::root();
    let log = std::fs::read_to_string(root.join("docs/experiments.jsonl")).unwrap();
    let runs = digit_lab::report::experiments::parse(&log).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("weights/manifest.json")).unwrap())
            .unwrap();
    for (key, model, figure) in [
        ("ae", "ae", "mse"),
        ("dae", "dae", "mse"),
        ("dae_wide", "dae-wide", "mse"),
        ("vae", "vae", "neg_elbo"),
        ("classifier", "classifier", "cross_entropy"),
        ("classifier_best", "classifier-best", "cross_entropy"),
    ] {
        let in_use: Vec<_> = runs
            .iter()
            .filter(|r| r.model == model && r.is_current())
            .collect();
        assert_eq!(in_use.len(), 1, "{model}: runs in use in the log");
        let logged = in_use[0]
            .validation
            .get(figure)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or_else(|| panic!("{}: no validation {figure}", in_use[0].id));
        let committed = manifest["models"][key]["best_valid_loss"]
            .as_f64()
            .unwrap_or_else(|| panic!("weights/manifest.json: no models.{key}.best_valid_loss"));
        assert!(
            (logged - committed).abs() <= 1e-4 * committed.abs(),
            "{}: validation {figure} {logged} in the log, {committed} in the manifest",
            in_use[0].id
        );
    }
}

/// The README's results table is the one `digit-lab eval --markdown` prints for the committed
/// models (tests/committed_weights.rs checks that eval measures what the manifest records).
#[test]
fn readme_results_table_is_the_committed_one() {
    let root = common::root();
    let text = std::fs::read_to_string(root.join("weights/manifest.json")).unwrap();
    let manifest = digit_lab::model::Manifest::parse(&text).unwrap();
    let metrics: serde_json::Map<String, serde_json::Value> = manifest
        .models
        .iter()
        .map(|(k, e)| (k.clone(), e.test.clone()))
        .collect();
    let table = digit_lab::report::markdown::metrics_table(&manifest, &metrics);
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains(&table),
        "README.md's results table is not the committed models' table: paste the output of \
         `cargo run --release -- eval --markdown`:\n{table}"
    );
}

/// The README is a user's guide, not a diary: it stays short and points only inside the
/// repository.
#[test]
fn readme_is_short_and_self_contained() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    // Bytes, which count a multi-byte character more than once: the stricter reading.
    let bytes = readme.len();
    assert!(
        bytes <= 13_000,
        "README.md has {bytes} bytes (at most 13,000)"
    );
    assert!(
        !readme.contains("../"),
        "README.md points outside the repository"
    );
}

/// The generated documents name files by their place in the repository: an absolute path (one
/// `reproduce` passed as it found it) would point at the machine that wrote them.
#[test]
fn generated_documents_name_no_absolute_paths() {
    let root = common::root();
    for file in ["docs/REPORT.md", "docs/handwriting.json"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for (i, line) in text.lines().enumerate() {
            assert!(
                !line.contains("`/") && !line.contains("\"/"),
                "{file}:{}: an absolute path: {line}",
                i + 1
            );
        }
    }
}
