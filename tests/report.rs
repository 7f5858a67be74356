//! `search` and `report` end to end on small slices of the real MNIST (skipped without it): the
//! search writes and resumes its results file, and the report writes every figure and a
//! REPORT.md that embeds them.

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
    if common::real_mnist().is_none() {
        return;
    }
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
fn report_writes_every_figure_and_the_markdown() {
    if common::real_mnist().is_none() {
        return;
    }
    let dir = temp_dir("report");
    let results = dir.join("results.jsonl");
    run(&mut search(&results, "10"));
    run(bin()
        .args(["report", "--limit", "300", "--tsne-epochs", "250", "--out"])
        .arg(&dir)
        .arg("--search-results")
        .arg(&results));
    let report = std::fs::read_to_string(dir.join("REPORT.md")).unwrap();
    for section in [
        "## Test metrics",
        "## Denoising",
        "## Latent spaces",
        "## Hyperparameter search",
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
