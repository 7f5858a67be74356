//! The report's Markdown: the metrics table (also printed by `eval --markdown` for the README),
//! the denoising, k-NN and search tables, and `docs/REPORT.md` around them.

use std::fmt::Write as _;

use crate::analysis::maps::Maps;
use crate::model::{Manifest, ModelKind};
use crate::search::{SearchPoint, ranking};

use super::{ReportInputs, ReportResults, full_runs, handwriting};

/// The README's results table: recomputed test metrics next to the paper and the goals.
pub fn metrics_table(
    manifest: &Manifest,
    metrics: &serde_json::Map<String, serde_json::Value>,
) -> String {
    let get = |m: &str, k: &str| metrics.get(m).and_then(|v| v[k].as_f64());
    let fmt =
        |v: Option<f64>, digits: usize| v.map_or("–".to_string(), |v| format!("{v:.digits$}"));
    let facts = |m: &str| training_facts(manifest, m);
    let (noisy, wide_psnr) = (
        fmt(get("dae", "noisy_mse"), 4),
        fmt(get("dae_wide", "psnr"), 1),
    );
    let rows = [
        (
            "ConvAE, 2-D code",
            "MSE",
            fmt(get("ae", "mse"), 4),
            "0.040",
            "≤ 0.036",
            facts("ae"),
        ),
        (
            "Denoising AE, a = 0.3",
            "MSE (noisy input)",
            format!("{} ({})", fmt(get("dae", "mse"), 4), noisy),
            "–",
            "≤ 0.038",
            facts("dae"),
        ),
        (
            "Wide-code denoiser (not in the paper), a = 0.3",
            "MSE, PSNR dB",
            format!("{}, {}", fmt(get("dae_wide", "mse"), 4), wide_psnr),
            "–",
            "PSNR ≥ 20",
            facts("dae_wide"),
        ),
        (
            "VAE, 2-D latent",
            "−ELBO, nats (BCE + KL)",
            format!(
                "{} ({} + {})",
                fmt(get("vae", "neg_elbo"), 1),
                fmt(get("vae", "recon"), 1),
                fmt(get("vae", "kl"), 1)
            ),
            "–",
            "≤ 148",
            facts("vae"),
        ),
        (
            "Classifier, paper protocol",
            "accuracy",
            fmt(get("classifier", "accuracy"), 4),
            "0.95",
            "≥ 0.97",
            facts("classifier"),
        ),
        (
            "Best classifier",
            "accuracy",
            fmt(get("classifier_best", "accuracy"), 4),
            "–",
            "≥ 0.99",
            facts("classifier_best"),
        ),
    ];
    let mut out = String::from(
        "| model | test metric | this project | paper | goal | training |\n|---|---|---|---|---|---|\n",
    );
    for (model, metric, value, paper, goal, how) in rows {
        out += &format!("| {model} | {metric} | {value} | {paper} | {goal} | {how} |\n");
    }
    out
}

/// How model `m` of the manifest was trained, for the table's last column.
fn training_facts(manifest: &Manifest, m: &str) -> String {
    manifest.models.get(m).map_or("–".to_string(), |e| {
        let facts = format!(
            "{}, {} thread(s): {} epochs (best {}), {:.0} s",
            e.backend, e.threads, e.epochs, e.best_epoch, e.train_seconds
        );
        // A run continued with `--init-from`: say which epochs were which phase.
        match e.hyperparameters["warm_start"]["epochs"].as_u64() {
            Some(first) => format!(
                "{facts}; epochs {}–{} continued from the best weights of the first {first}{}",
                first + 1,
                e.epochs,
                if e.hyperparameters["average_from"].is_u64() {
                    ", with weight averaging"
                } else {
                    ""
                }
            ),
            None => facts,
        }
    })
}

fn mse_psnr(mse: f64, psnr: f64) -> String {
    format!("{mse:.4} | {psnr:.1}")
}

/// DAE and wide-code DAE against the noisy input for each noise amount.
pub fn denoise_table(results: &ReportResults) -> String {
    let mut out = String::from(
        "| noise a | noisy input MSE | PSNR dB | DAE (2-D code) MSE | PSNR dB | wide-code DAE MSE | PSNR dB |\n|---|---|---|---|---|---|---|\n",
    );
    for p in &results.denoise {
        let _ = writeln!(
            out,
            "| {:.1} | {} | {} | {} |",
            p.dae.noise_amount,
            mse_psnr(p.dae.noisy_mse, p.dae.noisy_psnr),
            mse_psnr(p.dae.mse, p.dae.psnr),
            mse_psnr(p.dae_wide.mse, p.dae_wide.psnr),
        );
    }
    out
}

/// Leave-one-out 5-NN accuracy of each 2-D embedding, next to the reference and the goal.
pub fn knn_table(maps: &Maps) -> String {
    let mut out = String::from(
        "| embedding of the test digits | 5-NN accuracy | PyTorch + scikit-learn reference | goal | seconds |\n|---|---|---|---|---|\n",
    );
    for (name, e, reference, goal) in [
        ("ConvAE code", &maps.ae, "0.808", "≥ 0.82"),
        ("VAE mean", &maps.vae, "0.693", "≥ 0.72"),
        (
            "PCA-2 (fitted on train)",
            &maps.pca,
            "0.431",
            "reference ± 0.01",
        ),
        (
            "t-SNE (perplexity 30, on PCA-50)",
            &maps.tsne,
            "0.959",
            "≥ 0.96",
        ),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {:.4} | {reference} | {goal} | {:.1} |",
            e.knn5, e.seconds
        );
    }
    out
}

/// The search: what ran, the ten best configurations and where the paper's choice ranks.
pub fn search_section(search: &super::SearchResults) -> String {
    let samples = |rung| {
        search
            .records
            .iter()
            .find(|r| r.rung == rung)
            .map(|r| r.samples)
    };
    let eta = match (samples(0), samples(1)) {
        (Some(a), Some(b)) if a > 0 => Some(b / a),
        _ => None,
    };
    let total: f64 = search.records.iter().map(|r| r.seconds).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Successive halving over the paper's grid of {} configurations \
         ([PROTOCOL.md](PROTOCOL.md)), selecting on the {} of the first 2,000 \
         validation images only; batch 64, constant learning rate as in the paper. Results file: `{}` ({} trials, {:.0} min of training).\n",
        search.grid_size,
        search.metric,
        search.path,
        search.records.len(),
        total / 60.0
    );
    for line in rung_lines(search, eta) {
        let _ = writeln!(out, "- {line}");
    }
    out += &halving_bias(search, eta);
    out += &ranking_table(search);
    out
}

/// One line per rung: how many configurations it trained, on how many images, for how long.
fn rung_lines(search: &super::SearchResults, eta: Option<usize>) -> Vec<String> {
    let rungs = search
        .records
        .iter()
        .map(|r| r.rung)
        .max()
        .map_or(0, |r| r + 1);
    let mut lines = Vec::new();
    // Configurations a complete rung holds: the grid, then 1/η of the previous rung.
    let mut planned = search.grid_size;
    for rung in 0..rungs {
        let of_rung: Vec<_> = search.records.iter().filter(|r| r.rung == rung).collect();
        let seconds: f64 = of_rung.iter().map(|r| r.seconds).sum();
        let done = if of_rung.len() < planned {
            format!(
                "{} of {planned} configurations (the budget ran out)",
                of_rung.len()
            )
        } else {
            format!("{} configurations", of_rung.len())
        };
        lines.push(format!(
            "rung {rung}: {done} × {} training images ({:.0} s)",
            of_rung.first().map_or(0, |r| r.samples),
            seconds
        ));
        planned = planned.div_ceil(eta.unwrap_or(1).max(1));
    }
    lines
}

/// How successive halving promotes, and the bias of short budgets it brings.
fn halving_bias(search: &super::SearchResults, eta: Option<usize>) -> String {
    let mut out = String::new();
    let eta = eta.map_or("η".to_string(), |e| e.to_string());
    let _ = write!(
        out,
        "\nEach rung trains its configurations from scratch with {eta} times the images of the \
         previous one and promotes the best 1/{eta}. "
    );
    let mut promoted_lrs: Vec<String> = search
        .records
        .iter()
        .filter(|r| r.rung == 1)
        .map(|r| format!("{:e}", r.point.lr))
        .collect();
    promoted_lrs.sort();
    promoted_lrs.dedup();
    if !promoted_lrs.is_empty() {
        let _ = write!(
            out,
            "Short budgets favour configurations that learn fast: the learning rates that \
             reached rung 1 are {{{}}}. ",
            promoted_lrs.join(", ")
        );
    }
    out += "That bias is the price of covering the whole grid on two CPU cores; a rerun of \
            `search` with more budget continues from the results file.\n";
    out
}

/// The ten best configurations, and the rank of the paper's.
fn ranking_table(search: &super::SearchResults) -> String {
    let mse = |m: Option<f64>| m.map_or("diverged".into(), |m| format!("{m:.5}"));
    let ranked = ranking(&search.records);
    let mut out = format!(
        "\n| rank | configuration | furthest rung | training images | {} |\n|---|---|---|---|---|\n",
        search.metric
    );
    for (i, r) in ranked.iter().take(10).enumerate() {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} |",
            i + 1,
            r.point.key(),
            r.rung,
            r.samples,
            mse(r.valid_mse)
        );
    }
    let paper = SearchPoint::paper_best().key();
    match ranked.iter().position(|r| r.point.key() == paper) {
        Some(i) => {
            let r = &ranked[i];
            let _ = writeln!(
                out,
                "\nThe paper's configuration `{paper}` ranks **{} of {}** (furthest rung {}, \
                 {} {}).",
                i + 1,
                ranked.len(),
                r.rung,
                search.metric,
                mse(r.valid_mse)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "\nThe paper's configuration was not part of this search."
            );
        }
    }
    out
}

/// `docs/REPORT.md`. `figure_dir` is the figures' folder relative to the report.
pub fn report(
    inputs: &ReportInputs,
    results: &ReportResults,
    figure_dir: &str,
    commands: &[String],
) -> String {
    let manifest_metrics: serde_json::Map<String, serde_json::Value> = inputs
        .manifest
        .models
        .iter()
        .map(|(k, e)| (k.clone(), e.test.clone()))
        .collect();
    let mut out = String::from("# Digit Lab — the paper reproduced\n\n");
    out += "Generated by `digit-lab report` from the models in `weights/`; every number below is \
            measured by this project's code on the MNIST test split (10,000 digits) as \
            [PROTOCOL.md](PROTOCOL.md) defines it, unless stated otherwise. What the paper did and \
            claimed is summarised in [PAPER.md](PAPER.md); every run tried, adopted or not, with \
            its settings and validation figures, is in [EXPERIMENTS.md](EXPERIMENTS.md). \
            Regenerate everything with:\n\n```sh\n";
    for c in commands {
        out += c;
        out.push('\n');
    }
    out += "```\n\n## Test metrics\n\n";
    out += "Measured when each model was adopted into `weights/` and recorded in \
            `weights/manifest.json` (`digit-lab eval` recomputes them from the weights); “paper” \
            is what the paper reports.\n\n";
    out += &metrics_table(inputs.manifest, &manifest_metrics);
    let _ = write!(
        out,
        "\nClassifiers recomputed for this report on {} test digits: paper protocol {:.4}, best {:.4}.\n",
        inputs.test.len(),
        results.classifier.accuracy,
        results.classifier_best.accuracy
    );
    out += "\n## Denoising\n\nTest MSE to the clean digit and PSNR = 10·log10(1/MSE) for noise \
            amounts a = 0.1 … 0.7 (inputs clip(x + a·N(0,1), 0, 1), seeded), against the noisy \
            input itself. The paper's DAE squeezes the digit through a 2-D code, so it cannot keep \
            much detail; the wide-code denoiser (not in the paper) keeps an 8×7×7 code.\n\n";
    out += &denoise_table(results);
    out += "\n## Latent spaces\n\nLeave-one-out 5-NN label accuracy of each 2-D embedding of the \
            test digits (one exporter writes these maps for the web page and this report).\n\n";
    out += &knn_table(inputs.maps);
    let t = &inputs.maps.tsne_settings;
    let _ = writeln!(
        out,
        "\nThe 5-NN vote gives a tie to the smallest tied label, as scikit-learn's \
         `KNeighborsClassifier` does, so that the scores compare with the reference.\n\n\
         t-SNE: bhtsne (Barnes-Hut, θ = {}), perplexity {}, {} iterations, learning rate {:.0}, \
         early exaggeration {} for {} iterations, input {}. All but the perplexity were chosen on \
         the validation split (`digit-lab export-maps --validate-tsne`); the settings tried and \
         their validation 5-NN are in [EXPERIMENTS.md](EXPERIMENTS.md) (t-SNE settings). The map \
         is not bit-reproducible: bhtsne's parallel sums depend on thread scheduling.",
        t.theta,
        t.perplexity,
        t.epochs,
        t.learning_rate,
        t.exaggeration,
        t.exaggeration_epochs,
        t.input
    );
    out += "\n## Hyperparameter search\n\n";
    match &inputs.search {
        Some(search) => {
            out += &search_section(search);
            out += &full_runs::finalists_section(inputs, results, ModelKind::Ae, figure_dir);
        }
        None => out += "No search results file was given.\n",
    }
    if let Some(search) = &inputs.dae_search {
        out += "\n### The denoising autoencoder's search (noise a = 0.3)\n\n\
                The same grid and method, the DAE trained on noisy inputs against clean targets \
                (`search --noise-amount 0.3`), each trial scored by its denoising MSE on the \
                validation digits under the trainer's validation noise seed.\n\n";
        out += &search_section(search);
        out += &full_runs::finalists_section(inputs, results, ModelKind::Dae, figure_dir);
    }
    if inputs.search.is_some() {
        out += "\n## Code size\n\n";
        out += &full_runs::code_size_section(inputs, results, figure_dir);
    }
    out += &handwriting::handwriting_section(inputs.handwriting.as_ref());
    out += &handwriting::digit_check_section(inputs.weights_dir);
    out += "\n## Figures\n\n";
    for (caption, path) in &results.figures {
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default();
        let _ = writeln!(out, "### {caption}\n\n![{caption}]({figure_dir}/{file})\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vae_entry(hyperparameters: serde_json::Value) -> String {
        let manifest: Manifest = serde_json::from_value(serde_json::json!({
            "data": {"sha256": {}}, "backend": "flex", "threads": 1,
            "models": {"vae": {
                "file": "vae.bpk", "hyperparameters": hyperparameters, "epochs": 175,
                "best_epoch": 167, "best_valid_loss": 146.9, "train_seconds": 5458.2,
                "history": "vae.history.json", "backend": "flex", "threads": 1,
                "test": {}
            }}
        }))
        .unwrap();
        let mut metrics = serde_json::Map::new();
        metrics.insert(
            "vae".into(),
            serde_json::json!({"neg_elbo": 148.34, "recon": 141.96, "kl": 6.37}),
        );
        let table = metrics_table(&manifest, &metrics);
        table
            .lines()
            .find(|l| l.starts_with("| VAE"))
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_continued_run_says_which_epochs_were_the_second_phase() {
        let plain = vae_entry(serde_json::json!({}));
        assert!(plain.contains("148.3 (142.0 + 6.4)"), "{plain}");
        assert!(
            plain.ends_with("175 epochs (best 167), 5458 s |"),
            "{plain}"
        );
        let continued = vae_entry(serde_json::json!({
            "average_from": 1, "warm_start": {"epochs": 150}
        }));
        assert!(
            continued.contains(
                "5458 s; epochs 151–175 continued from the best weights of the first 150, with weight averaging |"
            ),
            "{continued}"
        );
    }
}
