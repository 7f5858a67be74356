//! The search's full runs in the report: each search's finalists trained to convergence, set
//! against the committed model (table and validation curves), and the ConvAE winner at each
//! code size (table and figure). Validation figures only, read from the full runs' file
//! (`search::full_runs`), not from run directories.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use plotters::prelude::{RGBColor, SeriesLabelPosition};

use super::figures::{self, DIGIT_COLORS, LinePanel, Series};
use super::{ReportError, ReportInputs, ReportResults, read_history};
use crate::analysis::knn::loo_knn_accuracy;
use crate::analysis::maps::{KNN_K, ae_codes};
use crate::data::Dataset;
use crate::model::{ConvAe, Manifest, ModelKind};
use crate::search::SearchPoint;
use crate::search::full_runs::{FullRun, code_sizes, finalists, point_of};

/// The finalists' curves start at this epoch.
const FIRST_EPOCH_DRAWN: usize = 3;

/// The full runs' figures, when there are runs to draw.
#[derive(Default)]
pub struct FullRunFigures {
    pub finalists: Option<PathBuf>,
    pub code_sizes: Option<PathBuf>,
}

/// What the report compares the full runs with: the committed models' validation 5-NN.
pub struct CommittedKnn {
    pub ae_valid_knn5: f64,
    pub dae_valid_knn5: f64,
}

/// The committed models' 5-NN on the validation digits the full runs were scored on: the last
/// `valid_size` of the protocol's (a run's validation split is the training file's tail).
pub fn committed_knn(
    ae: &ConvAe,
    dae: &ConvAe,
    inputs: &ReportInputs,
    device: &Device,
) -> CommittedKnn {
    let n = inputs.validation.len();
    let size = inputs.full_runs.first().map_or(n, |r| r.valid_size.min(n));
    let validation = inputs.validation.slice(n - size..n);
    CommittedKnn {
        ae_valid_knn5: valid_knn5(ae, &validation, device),
        dae_valid_knn5: valid_knn5(dae, &validation, device),
    }
}

/// Leave-one-out 5-NN label accuracy of a ConvAE's codes of the validation digits.
pub fn valid_knn5(model: &ConvAe, validation: &Dataset, device: &Device) -> f64 {
    let codes = ae_codes(model, validation, device);
    let dim = codes.len() / validation.len().max(1);
    loo_knn_accuracy(&codes, dim, &validation.labels, KNN_K)
}

/// A configuration in a figure's legend: the channels, then what differs from the paper's fit.
fn short_label(p: &SearchPoint) -> String {
    format!(
        "{}/{}/{}/{} lr {:e} L2 {:e} drop {}",
        p.c1, p.c2, p.c3, p.fc, p.lr, p.l2, p.dropout
    )
}

fn committed_point(manifest: &Manifest, kind: ModelKind) -> Option<SearchPoint> {
    point_of(&manifest.entry(kind).ok()?.hyperparameters).ok()
}

/// Validation loss per epoch of each search's finalists and of the committed model.
fn finalist_panels(inputs: &ReportInputs) -> Result<Vec<LinePanel>, ReportError> {
    let mut panels = Vec::new();
    for (kind, title, unit) in [
        (ModelKind::Ae, "ConvAE finalists", "validation MSE"),
        (
            ModelKind::Dae,
            "DAE finalists (a = 0.3)",
            "validation denoising MSE",
        ),
    ] {
        let runs = finalists(&inputs.full_runs, kind.key());
        if runs.is_empty() {
            continue;
        }
        // The first epochs' losses are several times the last ones: drawn, they would
        // flatten the differences between the runs.
        let curve = |values: &[f64]| -> Vec<(f64, f64)> {
            values
                .iter()
                .enumerate()
                .skip(FIRST_EPOCH_DRAWN - 1)
                .map(|(i, &v)| ((i + 1) as f64, v))
                .collect()
        };
        let mut series: Vec<Series> = runs
            .iter()
            .zip(DIGIT_COLORS.iter().cycle())
            .map(|(r, &color)| Series {
                label: short_label(&r.point),
                points: curve(&r.valid_curve),
                color,
            })
            .collect();
        let history = read_history(inputs.weights_dir, inputs.manifest, kind)?;
        series.push(Series {
            label: "committed".into(),
            points: history
                .iter()
                .filter(|e| e.epoch >= FIRST_EPOCH_DRAWN)
                .map(|e| (e.epoch as f64, e.valid_loss))
                .collect(),
            color: RGBColor(0, 0, 0),
        });
        panels.push(LinePanel {
            title: title.into(),
            x_label: "epoch".into(),
            y_label: unit.into(),
            series,
            legend: SeriesLabelPosition::UpperRight,
        });
    }
    Ok(panels)
}

/// Validation MSE and 5-NN accuracy against the code size.
fn code_size_panels(runs: &[&FullRun]) -> Vec<LinePanel> {
    let points = |f: fn(&FullRun) -> f64| runs.iter().map(|r| (r.code as f64, f(r))).collect();
    vec![
        LinePanel {
            title: "Reconstruction".into(),
            x_label: "code size".into(),
            y_label: "validation MSE".into(),
            series: vec![Series {
                label: "best epoch".into(),
                points: points(|r| r.best_valid_loss),
                color: DIGIT_COLORS[0],
            }],
            legend: SeriesLabelPosition::UpperRight,
        },
        LinePanel {
            title: "Labels in the code".into(),
            x_label: "code size".into(),
            y_label: "validation 5-NN accuracy".into(),
            series: vec![Series {
                label: "leave-one-out 5-NN".into(),
                points: points(|r| r.valid_knn5),
                color: DIGIT_COLORS[1],
            }],
            legend: SeriesLabelPosition::LowerRight,
        },
    ]
}

/// Draws the finalists' curves and the code-size figure into `figures_dir`.
pub fn make_figures(
    inputs: &ReportInputs,
    figures_dir: &Path,
) -> Result<FullRunFigures, ReportError> {
    let mut out = FullRunFigures::default();
    let panels = finalist_panels(inputs)?;
    if !panels.is_empty() {
        let columns = panels.len();
        out.finalists = Some(figures::line_chart(
            &figures_dir.join("finalists"),
            "Finalists: validation loss from epoch 3",
            &panels,
            columns,
        )?);
    }
    let sizes = code_sizes(&inputs.full_runs);
    if sizes.len() > 1 {
        out.code_sizes = Some(figures::line_chart(
            &figures_dir.join("code_sizes"),
            "The ConvAE winner at each code size (validation)",
            &code_size_panels(&sizes),
            2,
        )?);
    }
    Ok(out)
}

fn figure_link(figure_dir: &str, path: &Option<PathBuf>, caption: &str) -> String {
    path.as_ref()
        .and_then(|p| p.file_name())
        .map(|f| format!("\n![{caption}]({figure_dir}/{})\n", f.to_string_lossy()))
        .unwrap_or_default()
}

/// The finalists of `kind`'s search ranked on validation, the committed model beside them,
/// and which one the page runs.
pub fn finalists_section(
    inputs: &ReportInputs,
    results: &ReportResults,
    kind: ModelKind,
    figure_dir: &str,
) -> String {
    let committed_knn5 = match kind {
        ModelKind::Dae => results.committed.dae_valid_knn5,
        _ => results.committed.ae_valid_knn5,
    };
    let runs = finalists(&inputs.full_runs, kind.key());
    if runs.is_empty() {
        return "\nNo finalist of this search has been trained to convergence yet \
                (`scripts/reproduce` trains them).\n"
            .into();
    }
    let mut out = String::from(
        "\n#### The finalists trained to convergence\n\n\
         Each configuration of the last rung trained as an ordinary run under the protocol: the \
         whole training split, a cosine schedule over the trainer's default epochs (150 for the \
         ConvAE, 100 for the DAE), early stopping on the validation loss (patience 5), the \
         trainer's defaults otherwise (`scripts/reproduce`; summaries in \
         `docs/search/full-runs.jsonl`). The 5-NN column is the leave-one-out \
         label accuracy of the codes of the validation digits.\n\n\
         | rank | configuration | validation loss | epochs (best) | 5-NN of the code | training |\n\
         |---|---|---|---|---|---|\n",
    );
    for (i, r) in runs.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | `{}` | {:.5} | {} ({}) | {:.4} | {:.0} min |",
            i + 1,
            r.point.key(),
            r.best_valid_loss,
            r.epochs,
            r.best_epoch,
            r.valid_knn5,
            r.train_seconds / 60.0
        );
    }
    let Ok(entry) = inputs.manifest.entry(kind) else {
        return out;
    };
    let config = committed_point(inputs.manifest, kind).map_or("?".into(), |p| p.key());
    let _ = writeln!(
        out,
        "| committed | `{config}` | {:.5} | {} ({}) | {committed_knn5:.4} | {:.0} min |",
        entry.best_valid_loss,
        entry.epochs,
        entry.best_epoch,
        entry.train_seconds / 60.0
    );
    let best = runs[0];
    let search = match kind {
        ModelKind::Dae => inputs.dae_search.as_ref(),
        _ => inputs.search.as_ref(),
    };
    let last_rung = search.map_or(0, |search| {
        let top = search.records.iter().map(|r| r.rung).max();
        search
            .records
            .iter()
            .filter(|r| Some(r.rung) == top)
            .count()
    });
    if runs.len() < last_rung {
        let _ = writeln!(
            out,
            "\n{} of the last rung's {last_rung} configurations trained so far.",
            runs.len()
        );
    }
    let verdict = if entry.run_id.as_deref() == Some(best.run.as_str()) {
        format!(
            "The best finalist, `{}`, is the committed model: it was published from its run, \
             and the page runs it.",
            best.point.key()
        )
    } else if best.best_valid_loss < entry.best_valid_loss {
        format!(
            "The best finalist, `{}`, beats the committed model on validation ({:.5} against \
             {:.5}) but has not been published yet.",
            best.point.key(),
            best.best_valid_loss,
            entry.best_valid_loss
        )
    } else {
        format!(
            "No finalist beats the committed model on validation: the best, `{}`, reaches \
             {:.5} against {:.5}, so the committed model stays and the page runs it.",
            best.point.key(),
            best.best_valid_loss,
            entry.best_valid_loss
        )
    };
    let epochs = runs.iter().map(|r| r.epochs);
    let (fewest, most) = (epochs.clone().min().unwrap_or(0), epochs.max().unwrap_or(0));
    let range = if fewest == most {
        format!("{most}")
    } else {
        format!("{fewest}–{most}")
    };
    out += &format!(
        "\n{verdict} The finalists ran {range} epochs; the committed model ran {}.\n",
        entry.epochs
    );
    out += &figure_link(
        figure_dir,
        &results.full_run_figures.finalists,
        "The finalists' validation curves",
    );
    out
}

/// The ConvAE winner at each code size: validation MSE and 5-NN accuracy.
pub fn code_size_section(
    inputs: &ReportInputs,
    results: &ReportResults,
    figure_dir: &str,
) -> String {
    let runs = code_sizes(&inputs.full_runs);
    let Some(winner) = runs.iter().find(|r| r.code == 2) else {
        return "No full run of the ConvAE search's winner exists yet.\n".into();
    };
    let mut out = format!(
        "The ConvAE search's winner, `{}`, trained again at each code size the same way \
         (the paper: \"the code size could be also considered a hyperparameter\"): what each \
         size costs in reconstruction, and how much of the label its code keeps (5-NN).\n\n\
         | code size | validation MSE | epochs (best) | 5-NN of the code | training |\n\
         |---|---|---|---|---|\n",
        winner.point.key()
    );
    for r in &runs {
        let _ = writeln!(
            out,
            "| {} | {:.5} | {} ({}) | {:.4} | {:.0} min |",
            r.code,
            r.best_valid_loss,
            r.epochs,
            r.best_epoch,
            r.valid_knn5,
            r.train_seconds / 60.0
        );
    }
    out += &figure_link(
        figure_dir,
        &results.full_run_figures.code_sizes,
        "Code size",
    );
    out
}
