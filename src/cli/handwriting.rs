//! `digit-lab handwriting`: builds the validation-only handwriting sets
//! (`analysis::handwriting`: MNIST validation digits traced and drawn again through the pad with
//! each pen, and font digits) and measures what the best and the paper's classifier and the
//! digit check make of them, per source and pen; with `--strokes-out`, writes some of the
//! traced digits' pen strokes (in the pad's 280×280 coordinates) for the page's e2e tests.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use digit_lab::analysis::digit_check::{DigitCheck, Models};
use digit_lab::analysis::glyphs::available_fonts;
use digit_lab::analysis::handwriting::{DigitSet, SetFigures, font_digits, measure, mnist_strokes};
use digit_lab::model::ModelKind;
use digit_lab::model::weights_dir::WeightsDir;
use serde_json::json;

use super::common::{Common, device, load_training_data, parse_finite};

#[derive(Args)]
pub(crate) struct HandwritingArgs {
    #[command(flatten)]
    common: Common,
    /// Directory with the VAE, both classifiers and digit_check.json.
    #[arg(long, default_value = "weights")]
    weights: PathBuf,
    /// Validation digits traced and drawn again with each pen.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// The first validation digit used (sets from disjoint ranges do not share digits).
    #[arg(long, default_value_t = 0)]
    from: usize,
    /// Pen widths on the 280-pixel pad (the page's slider: 10 to 34).
    #[arg(long, value_delimiter = ',', default_values_t = [10.0, 20.0], value_parser = parse_finite)]
    pens: Vec<f64>,
    /// Digits drawn from each font.
    #[arg(long, default_value_t = 200)]
    per_font: usize,
    /// Seed of the hands and placements.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write this many traced digits of each pen (labels in turn) as pen strokes to this JSON
    /// file, with the 28×28 image the pad's rule makes of them.
    #[arg(long, value_name = "FILE")]
    strokes_out: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    strokes_per_pen: usize,
}

pub(crate) fn run(args: HandwritingArgs) -> Result<()> {
    let valid = load_training_data(&args.common.data)?.validation;
    if args.count == 0 || args.from + args.count > valid.len() {
        bail!(
            "--from {} --count {}: the validation split has {} digits (and at least one is needed)",
            args.from,
            args.count,
            valid.len()
        );
    }
    if let Some(bad) = args.pens.iter().find(|p| !(1.0..=60.0).contains(*p)) {
        bail!("--pens: {bad} is not a pen width in 1..=60 pixels");
    }
    let indices: Vec<usize> = (args.from..args.from + args.count).collect();
    let mut sets: Vec<DigitSet> = args
        .pens
        .iter()
        .map(|&pen| mnist_strokes(&valid, &indices, pen as f32, args.seed))
        .collect();
    if let Some(path) = &args.strokes_out {
        let text = serde_json::to_string(&strokes_file(&sets, args.strokes_per_pen))?;
        digit_lab::fs_util::write_atomic(path, text.as_bytes())?;
        eprintln!("wrote {} ({} bytes)", path.display(), text.len());
    }
    if args.per_font > 0 {
        let fonts = available_fonts().map_err(anyhow::Error::msg)?;
        sets.extend(font_digits(&fonts, args.per_font, args.seed));
    }
    let figures = measure_all(&args, &sets)?;
    print_figures(&figures);
    let record = json!({
        "settings": {
            "count": args.count, "from": args.from, "pens": args.pens,
            "per_font": args.per_font, "seed": args.seed,
        },
        "validation": figures,
    });
    println!("{record}");
    Ok(())
}

/// The models of `--weights` on every set.
fn measure_all(args: &HandwritingArgs, sets: &[DigitSet]) -> Result<Vec<SetFigures>> {
    let (device, _) = device(args.common.backend)?;
    let store = WeightsDir::open(&args.weights)?;
    let vae = store.load(ModelKind::Vae, &device)?.into_vae()?;
    let best = store
        .load(ModelKind::ClassifierBest, &device)?
        .into_classifier()?;
    let paper = store
        .load(ModelKind::Classifier, &device)?
        .into_classifier()?;
    let path = args.weights.join("digit_check.json");
    let text =
        std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let check = DigitCheck::parse(&text).map_err(anyhow::Error::msg)?;
    let models = Models {
        vae: &vae,
        classifier: &best,
        ae: None,
    };
    Ok(sets
        .iter()
        .map(|s| measure(&models, &paper, &check, s, &device))
        .collect())
}

fn print_figures(figures: &[SetFigures]) {
    println!(
        "{:<14} {:<28} {:>6} {:>8} {:>8} {:>9}",
        "source", "pen or font", "count", "best", "paper", "accepted"
    );
    for f in figures {
        println!(
            "{:<14} {:<28} {:>6} {:>8.4} {:>8.4} {:>9.4}",
            f.source, f.variant, f.count, f.best_accuracy, f.paper_accuracy, f.check_accepted
        );
    }
}

/// `per_pen` traced digits of each pen set (the first of each label in turn): their label,
/// pen, strokes and the image the pad's rule makes of them.
fn strokes_file(sets: &[DigitSet], per_pen: usize) -> serde_json::Value {
    let mut digits = Vec::new();
    for set in sets.iter().filter(|s| !s.strokes.is_empty()) {
        let mut taken = 0;
        for label in (0..10u8).cycle().take(10 * per_pen) {
            if taken == per_pen {
                break;
            }
            let skip = taken / 10;
            let Some(i) = set
                .labels
                .iter()
                .enumerate()
                .filter(|(_, l)| **l == label)
                .nth(skip)
                .map(|(i, _)| i)
            else {
                continue;
            };
            let image: Vec<f32> = set.pixels[i * 784..(i + 1) * 784]
                .iter()
                .map(|v| (v * 1000.0).round() / 1000.0)
                .collect();
            digits.push(json!({
                "source": set.source, "variant": set.variant, "label": label,
                "strokes": set.strokes[i], "image": image,
            }));
            taken += 1;
        }
    }
    json!({
        "about": "MNIST validation digits traced to pen strokes and drawn again on the 280x280 pad (digit-lab handwriting --strokes-out); image: the 28x28 the pad's rule makes of them in Rust",
        "digits": digits,
    })
}
