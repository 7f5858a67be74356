//! `digit-lab digit-check`: fits "that's not a digit" (`analysis::digit_check`) and measures it.
//!
//! - The Mahalanobis Gaussians are fitted on the training split's classifier features.
//! - The combination (a logistic regression over `--features`) is fitted on `--fit-digits`
//!   training digits against non-digits generated with `--fit-seed`.
//! - Its threshold lets through `--quantile` of the validation digits.
//! - Non-digits of `--dev-seed` (for choosing features and settings) and of `--held-out-seed`
//!   (the figure to report) measure the rejection, by kind.
//! - Only with `--final` are the test digits measured, and the check and its figures written to
//!   `<weights>/digit_check.json` (for the adopted setting, once).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use burn::prelude::*;
use clap::Args;
use digit_lab::analysis::check_fit::{CONFIDENT, Measured, Report, Scored, confidently_read};
use digit_lab::analysis::digit_check::{
    ADOPTED_FEATURES, DigitCheck, Feature, Models, Scores, Settings, evaluate, score_sets,
    unseen_kinds,
};
use digit_lab::analysis::non_digits;
use digit_lab::data::IMAGE_PIXELS;
use digit_lab::data::mnist::images_tensor;
use digit_lab::model::Classifier;
use digit_lab::model::ModelKind;
use digit_lab::model::weights_dir::WeightsDir;
use digit_lab::report::figures::labelled_grid;

use super::common::{Common, device, load_data_with_test};

#[derive(Args)]
pub(crate) struct DigitCheckArgs {
    #[command(flatten)]
    common: Common,
    /// Directory with the VAE, the best classifier and the ConvAE; digit_check.json is written
    /// there (with --final).
    #[arg(long, default_value = "weights")]
    weights: PathBuf,
    /// Share of validation digits the check lets through.
    #[arg(long, default_value_t = 0.99, value_parser = super::common::parse_finite)]
    quantile: f64,
    /// Features the check combines, comma-separated (`analysis::digit_check::Feature`).
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = parse_feature,
        default_values_t = ADOPTED_FEATURES
    )]
    features: Vec<Feature>,
    /// L2 penalty of the logistic regression (standardised features).
    #[arg(long, default_value_t = 1e-4, value_parser = super::common::parse_finite)]
    l2: f64,
    /// Use the features only linearly (no squares and pairwise products).
    #[arg(long)]
    linear: bool,
    /// Digits drawn with the pen from templates to check too (a sanity check beside MNIST).
    #[arg(long, default_value_t = 1300)]
    drawn: usize,
    /// Training digits the combination is fitted on.
    #[arg(long, default_value_t = 10000)]
    fit_digits: usize,
    /// Non-digit drawings in each generated set.
    #[arg(long, default_value_t = 6600)]
    non_digits: usize,
    /// Seed of the non-digits the combination is fitted on.
    #[arg(long, default_value_t = 1)]
    fit_seed: u64,
    /// Seed of the development non-digits (choose features and settings on these).
    #[arg(long, default_value_t = 2)]
    dev_seed: u64,
    /// Seed of the held-out non-digits (report these).
    #[arg(long, default_value_t = 3)]
    held_out_seed: u64,
    /// Measure the test digits too and write <weights>/digit_check.json: for the adopted setting.
    #[arg(long)]
    r#final: bool,
    /// Write the fitted check to this file without measuring the test digits: a candidate to
    /// try (`weights/digit_check.json` is written only with --final).
    #[arg(long, value_name = "FILE", conflicts_with = "final")]
    candidate_out: Option<PathBuf>,
    /// Draw the development non-digits that the check lets through and the classifier reads at
    /// 90 % or more into this PNG, each with the digit read: to see whether they are digits.
    #[arg(long, value_name = "PNG")]
    confident_grid: Option<PathBuf>,
    /// Write every image's features to this CSV (set, kind, features) for analysis.
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Training digits traced and drawn again through the pad in the fit; as many validation
    /// digits so drawn set the thresholds (from the first) and measure them (from the 5,001st).
    #[arg(long, default_value_t = 2000)]
    traced: usize,
    /// Share of the validation and traced dev digits not refused as surely not a digit (between
    /// the two thresholds the page is not sure); 0: the threshold refuses.
    #[arg(long, default_value_t = 0.995, value_parser = super::common::parse_finite)]
    refuse_quantile: f64,
    /// Font digits measured per font (a source the check never sees).
    #[arg(long, default_value_t = 50)]
    font_digits: usize,
    /// Top-class probability below which the page says it is not sure which digit it is.
    #[arg(long, default_value_t = 0.5, value_parser = super::common::parse_finite)]
    unsure_below: f64,
    /// Also fit the combination without each kind of non-digit in turn and report how many of
    /// that kind's held-out drawings it rejects: how it does on a kind it never saw.
    #[arg(long)]
    leave_one_kind_out: bool,
    /// Seed of the non-digits the "other" head (`probe_logit`) is fitted on.
    #[arg(long, default_value_t = 4)]
    probe_seed: u64,
    /// L2 penalty of the "other" head.
    #[arg(long, default_value_t = 1e-3, value_parser = super::common::parse_finite)]
    probe_l2: f64,
    /// Non-digits the "other" head is fitted on (0: as many as --non-digits).
    #[arg(long, default_value_t = 0)]
    probe_non_digits: usize,
    /// Share of the traced training digits (of the fit and of the "other" head) made coarse
    /// first, as other people's sets hold their digits (8×8 counts, or eight points in all).
    #[arg(long, default_value_t = 0.0, value_parser = super::common::parse_unit_interval)]
    coarse_traced: f32,
}

fn parse_feature(name: &str) -> Result<Feature, String> {
    Feature::from_name(name.trim())
}

pub(crate) fn run(args: DigitCheckArgs) -> Result<()> {
    let settings = settings(&args)?;
    let (device, _) = device(args.common.backend)?;
    let store = WeightsDir::open(&args.weights)?;
    let vae = store.load(ModelKind::Vae, &device)?.into_vae()?;
    let classifier = store
        .load(ModelKind::ClassifierBest, &device)?
        .into_classifier()?;
    let ae = store.load(ModelKind::Ae, &device)?.into_conv_ae()?;
    let models = Models {
        vae: &vae,
        classifier: &classifier,
        ae: Some(&ae),
    };
    let data = load_data_with_test(&args.common.data)?;
    let started = std::time::Instant::now();
    let scored = score_sets(&models, &data, &settings, &device).map_err(anyhow::Error::msg)?;
    eprintln!("scored ({:.0} s)", started.elapsed().as_secs_f64());
    if let Some(path) = &args.dump {
        std::fs::write(path, features_csv(&scored))?;
        eprintln!("wrote {}", path.display());
    }
    let mut report = evaluate(&scored, &settings);
    print_measured(&report, &scored, args.quantile);
    if let Some(path) = &args.confident_grid {
        confident_grid(
            path,
            &report.check,
            &scored,
            &settings,
            &classifier,
            &device,
        )?;
    }
    if settings.leave_one_kind_out && settings.features.contains(&Feature::ProbeLogit) {
        report
            .measured
            .held_out_rejected_when_fitted_without_the_kind =
            unseen_kinds(&models, &data, &settings, &device).map_err(anyhow::Error::msg)?;
    }
    if let Some(path) = &args.candidate_out {
        report.measured.command = command(&args);
        return write_report(path, &report);
    }
    if report.measured.test_digits_accepted.is_none() {
        eprintln!(
            "(test digits not measured, nothing written: add --final for the adopted setting)"
        );
        return Ok(());
    }
    report.measured.command = command(&args);
    write_report(&args.weights.join("digit_check.json"), &report)
}

/// The development non-digits read as a digit at [`CONFIDENT`] or more, grouped by kind, each
/// labelled with its kind, the digit read and its probability.
fn confident_grid(
    path: &Path,
    check: &DigitCheck,
    scored: &Scored,
    settings: &Settings,
    classifier: &Classifier,
    device: &Device,
) -> Result<()> {
    // The dev set is drawn again from its seed: the same images, in the same order.
    let (pixels, kinds) =
        non_digits::generate(settings.non_digits, settings.dev_seed).map_err(anyhow::Error::msg)?;
    let mut chosen: Vec<usize> = (0..scored.dev.scores.len())
        .filter(|&i| confidently_read(check, &scored.dev.scores[i]))
        .collect();
    chosen.sort_by_key(|&i| kinds[i]);
    let images: Vec<Vec<f32>> = chosen
        .iter()
        .map(|&i| pixels[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS].to_vec())
        .collect();
    let mut labels = Vec::new();
    if !images.is_empty() {
        let probabilities = classifier
            .probabilities(images_tensor(images.concat(), device))
            .into_data()
            .iter::<f32>()
            .collect::<Vec<_>>();
        for (row, &i) in probabilities.chunks(10).zip(&chosen) {
            let (digit, p) =
                row.iter().enumerate().fold(
                    (0, 0.0f32),
                    |best, (d, &p)| if p > best.1 { (d, p) } else { best },
                );
            labels.push(format!("{} {digit} {:.0}%", kinds[i], 100.0 * p));
        }
    }
    let title = format!(
        "Development non-digits read as a digit at >= {:.0} % ({} of {})",
        100.0 * CONFIDENT,
        images.len(),
        scored.dev.scores.len()
    );
    let png = labelled_grid(&path.with_extension(""), &title, &images, &labels, 10, 3)?;
    eprintln!("wrote {}", png.display());
    Ok(())
}

/// The settings the arguments ask for, checked.
fn settings(args: &DigitCheckArgs) -> Result<Settings> {
    if !(args.quantile > 0.5 && args.quantile < 1.0) {
        anyhow::bail!("--quantile must be in (0.5, 1), got {}", args.quantile);
    }
    if args.refuse_quantile != 0.0
        && !(args.refuse_quantile >= args.quantile && args.refuse_quantile < 1.0)
    {
        anyhow::bail!(
            "--refuse-quantile must be 0 or in [--quantile, 1), got {}",
            args.refuse_quantile
        );
    }
    if !(args.unsure_below > 0.0 && args.unsure_below < 1.0) {
        anyhow::bail!(
            "--unsure-below must be in (0, 1), got {}",
            args.unsure_below
        );
    }
    if args.non_digits == 0 || args.fit_digits == 0 {
        anyhow::bail!("--non-digits and --fit-digits must be at least 1");
    }
    Ok(Settings {
        features: args.features.clone(),
        quantile: args.quantile,
        l2: args.l2,
        quadratic: !args.linear,
        fit_digits: args.fit_digits,
        non_digits: args.non_digits,
        fit_seed: args.fit_seed,
        dev_seed: args.dev_seed,
        held_out_seed: args.held_out_seed,
        drawn: args.drawn,
        leave_one_kind_out: args.leave_one_kind_out,
        test: args.r#final,
        traced: args.traced,
        refuse_quantile: args.refuse_quantile,
        font_digits: args.font_digits,
        unsure_below: Some(args.unsure_below),
        probe_seed: args.probe_seed,
        probe_l2: args.probe_l2,
        probe_non_digits: args.probe_non_digits,
        coarse_traced: args.coarse_traced,
    })
}

/// Every scored image's features, one row each (set, kind, then [`Feature::ALL`]).
fn features_csv(scored: &Scored) -> String {
    let names: Vec<&str> = Feature::ALL.map(Feature::name).to_vec();
    let mut csv = format!("set,kind,{}\n", names.join(","));
    let mut put = |set: &str, scores: &[Scores], kinds: Option<&[&str]>| {
        for (i, s) in scores.iter().enumerate() {
            let kind = kinds.map_or("digit", |k| k[i]);
            let _ = write!(csv, "{set},{kind}");
            for value in s.features(&Feature::ALL) {
                let _ = write!(csv, ",{value}");
            }
            csv.push('\n');
        }
    };
    put("fit_digits", &scored.fit_digits, None);
    put("valid", &scored.valid, None);
    put("fit_non", &scored.fit.scores, Some(&scored.fit.kinds));
    put("dev_non", &scored.dev.scores, Some(&scored.dev.kinds));
    put(
        "held_non",
        &scored.held_out.scores,
        Some(&scored.held_out.kinds),
    );
    put("drawn", &scored.drawn, None);
    put("traced_fit", &scored.traced_fit, None);
    put("traced_dev", &scored.traced_dev, None);
    put("traced_held_out", &scored.traced_held_out, None);
    for (name, s) in &scored.fonts {
        put(&format!("font {name}"), s, None);
    }
    if let Some(test) = &scored.test {
        put("test", test, None);
    }
    csv
}

fn percent(rate: f64) -> String {
    format!("{:.2} %", 100.0 * rate)
}

/// Rejection rates by kind on one line.
fn by_kind(rates: &BTreeMap<String, f64>) -> String {
    let line: Vec<String> = rates
        .iter()
        .map(|(k, r)| format!("{k} {:.1}", 100.0 * r))
        .collect();
    line.join(" · ")
}

/// Prints the check and what it accepts and rejects.
fn print_measured(report: &Report, scored: &Scored, quantile: f64) {
    let (check, m): (&DigitCheck, &Measured) = (&report.check, &report.measured);
    let names: Vec<&str> = check.features.iter().map(|f| f.name()).collect();
    println!(
        "features: {}\nthreshold: log-odds of not a digit <= {:.3} (passes {:.1} % of validation digits)",
        names.join(", "),
        check.threshold,
        100.0 * quantile
    );
    println!(
        "validation digits accepted  {}",
        percent(m.validation_digits_accepted)
    );
    println!(
        "fitting digits accepted     {}",
        percent(m.fitting_digits_accepted)
    );
    println!(
        "drawn digits accepted       {} of {}",
        percent(m.drawn_digits_accepted),
        scored.drawn.len()
    );
    for set in ["fit", "dev", "held_out"] {
        let r = &m.non_digits[set];
        println!(
            "{set} non-digits rejected {} of {} (refused {}; read as a digit at >= 90 %: {})",
            percent(r.rejected),
            r.count,
            percent(r.refused),
            percent(r.confident_digit)
        );
        println!("  rejected: {}", by_kind(&r.rejected_by_kind));
        println!("  refused:  {}", by_kind(&r.refused_by_kind));
        println!("  read at >= 90 %: {}", by_kind(&r.confident_digit_by_kind));
    }
    println!(
        "thresholds: accept <= {:.3}, refuse > {:.3}",
        check.threshold,
        check.refuse_threshold()
    );
    for (source, p) in &m.handwriting {
        println!(
            "{source:<36} accepted {} refused {} of {}",
            percent(p.accepted),
            percent(p.refused),
            p.count
        );
    }
    let unseen = &m.held_out_rejected_when_fitted_without_the_kind;
    if !unseen.is_empty() {
        println!(
            "held-out rejection of each kind when fitted without it (mean {}):\n  {}",
            percent(unseen.values().sum::<f64>() / unseen.len() as f64),
            by_kind(unseen)
        );
    }
    if let Some(test) = m.test_digits_accepted {
        println!("test digits accepted        {}", percent(test));
    }
}

/// The command that reproduces the figures of `--final`.
fn command(args: &DigitCheckArgs) -> String {
    let names: Vec<&str> = args.features.iter().map(|f| f.name()).collect();
    format!(
        "digit-lab digit-check --quantile {} --features {} --l2 {}{} --fit-digits {} --non-digits {} --fit-seed {} --dev-seed {} --held-out-seed {} --drawn {} --traced {} --refuse-quantile {} --font-digits {} --unsure-below {}{}{}{} --final",
        args.quantile,
        names.join(","),
        args.l2,
        if args.linear { " --linear" } else { "" },
        args.fit_digits,
        args.non_digits,
        args.fit_seed,
        args.dev_seed,
        args.held_out_seed,
        args.drawn,
        args.traced,
        args.refuse_quantile,
        args.font_digits,
        args.unsure_below,
        if args.features.contains(&Feature::ProbeLogit) {
            format!(
                " --probe-seed {} --probe-l2 {} --probe-non-digits {}",
                args.probe_seed, args.probe_l2, args.probe_non_digits
            )
        } else {
            String::new()
        },
        if args.coarse_traced > 0.0 {
            format!(" --coarse-traced {}", args.coarse_traced)
        } else {
            String::new()
        },
        if args.leave_one_kind_out {
            " --leave-one-kind-out"
        } else {
            ""
        }
    )
}

/// Writes `<weights>/digit_check.json`, checked to read back as the page will read it.
fn write_report(path: &Path, report: &Report) -> Result<()> {
    let text = serde_json::to_string(report)?;
    DigitCheck::parse(&text).map_err(anyhow::Error::msg)?;
    digit_lab::fs_util::write_atomic(path, text.as_bytes())?;
    eprintln!("wrote {} ({} bytes)", path.display(), text.len());
    Ok(())
}
