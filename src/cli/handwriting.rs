//! `digit-lab handwriting`: builds the validation-only handwriting sets
//! (`analysis::handwriting`: MNIST validation digits traced and drawn again through the pad with
//! each pen, font digits and, with `--optdigits`, other people's digits) and measures what the best and the paper's classifier and the
//! digit check make of them, per source and pen; with `--strokes-out`, writes some of the
//! traced digits' pen strokes (in the pad's 280×280 coordinates) for the page's e2e tests.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use burn::prelude::Device;
use clap::Args;
use digit_lab::analysis::digit_check::{DigitCheck, Models};
use digit_lab::analysis::glyphs::{available_fonts, fonts_in};
use digit_lab::analysis::hand_shapes::{self, HAND_KINDS};
use digit_lab::analysis::handwriting::{
    Answer, DigitSet, PAGE_TEST_SHAPES, SetFigures, answers, drawn, font_digits, measure, merged,
    mnist_strokes, predictions, redrawn,
};
use digit_lab::analysis::non_digits::{PEN_KINDS, pen_strokes};
use digit_lab::data::pad::{PAD_SIDE, Stroke, to_mnist};
use digit_lab::data::redraw::{HandRanges, pad_strokes};
use digit_lab::data::strokes::digit_paths;
use digit_lab::data::{Dataset, IMAGE_PIXELS};
use digit_lab::data::{optdigits, pendigits};
use digit_lab::model::ModelKind;
use digit_lab::model::weights_dir::WeightsDir;
use digit_lab::model::{Classifier, Vae};
use digit_lab::report::figures::labelled_grid;
use rand::{SeedableRng, rngs::StdRng};
use serde_json::json;

use super::common::{Common, device, load_training_data, parse_finite};

#[derive(Args)]
pub(crate) struct HandwritingArgs {
    #[command(flatten)]
    common: Common,
    /// Directory with the VAE, both classifiers and digit_check.json.
    #[arg(long, default_value = "weights")]
    weights: PathBuf,
    /// Take the best classifier from this weights or run directory instead (a finished run, to
    /// choose on validation before publishing it).
    #[arg(long, value_name = "DIR")]
    best_from: Option<PathBuf>,
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
    /// Write drawings for the page's tests to this JSON file: traced digits of each pen, of the
    /// fonts and of the validation handwriting fonts (labels in turn), non-digits of every kind
    /// a mouse can draw, with the 28×28 image the pad's rule makes of each and what the models
    /// and check answer.
    #[arg(long, value_name = "FILE")]
    strokes_out: Option<PathBuf>,
    /// Digits of each source in the file of --strokes-out.
    #[arg(long, default_value_t = 10)]
    strokes_per_pen: usize,
    /// Also measure the optdigits set (1,797 digits by 13 people, not MNIST's): as scanned, and
    /// traced and drawn through the pad with each pen. Fetched by `scripts/fetch-optdigits` when
    /// the default file is missing.
    #[arg(long, value_name = "CSV", num_args = 0..=1, default_missing_value = OPTDIGITS)]
    optdigits: Option<PathBuf>,
    /// Also measure the pendigits set (10,992 digits written on a tablet by 44 people, not
    /// MNIST's: eight points of each pen trajectory), drawn through the pad with each pen.
    /// Fetched by `scripts/fetch-pendigits` when the default file is missing.
    #[arg(long, value_name = "CSV", num_args = 0..=1, default_missing_value = PENDIGITS)]
    pendigits: Option<PathBuf>,
    /// Also measure digits of handwriting fonts (`scripts/fetch-hand-fonts`, fetched when the
    /// default folder is missing): --per-font digits of each font, on the pad as the font
    /// draws them; the fonts of `validation/` as one set, those of `held-out/` as another.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = HAND_FONTS)]
    hand_fonts: Option<PathBuf>,
    /// Also measure the same validation digits in the coarse formats of optdigits (8×8 counts of
    /// a 32×32 bitmap: as scanned, and traced and drawn through the pad with each pen) and of
    /// pendigits (eight points of the traced trajectory, drawn with each pen). What depends on
    /// a format is chosen on these, never on optdigits or pendigits.
    #[arg(long)]
    low_res: bool,
    /// Write the figures, with the command that measured them, to this JSON file (the report's
    /// section on handwriting that is not MNIST reads `docs/handwriting.json`).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Draw the first 20 digits of each set into this PNG, each with its label and what the
    /// best classifier reads: to see what a set holds.
    #[arg(long, value_name = "PNG")]
    grid: Option<PathBuf>,
}

/// The first digits of each set, labelled "set: label → read".
fn sets_grid(path: &Path, sets: &[DigitSet], loaded: &Loaded) -> Result<()> {
    const SHOWN: usize = 20;
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for set in sets {
        let n = set.labels.len().min(SHOWN);
        let pixels = &set.pixels[..n * IMAGE_PIXELS];
        let read = predictions(&loaded.best, pixels, &loaded.device);
        for (i, image) in pixels.chunks(IMAGE_PIXELS).enumerate() {
            images.push(image.to_vec());
            labels.push(format!("{}: {}→{}", set.variant, set.labels[i], read[i]));
        }
    }
    let title = "The first digits of each handwriting set (label → best classifier)";
    let png = labelled_grid(&path.with_extension(""), title, &images, &labels, SHOWN, 3)?;
    eprintln!("wrote {}", png.display());
    Ok(())
}

/// Where `scripts/fetch-optdigits` puts the optdigits set.
const OPTDIGITS: &str = "data/optdigits/digits.csv";

/// The validation digits at `indices` in optdigits' 8×8 format, as scanned and drawn through the
/// pad with each pen.
fn low_res_sets(valid: &Dataset, indices: &[usize], pens: &[f64], seed: u64) -> Vec<DigitSet> {
    let mut data = Dataset::default();
    for &i in indices {
        let cells = optdigits::capture(&valid.pixels(&[i]));
        // A validation digit always has ink at or above one half.
        optdigits::push_cells(&mut data, &cells, valid.labels[i]);
    }
    let mut sets = coarse_sets(&data, "mnist_8x8", "mnist_8x8_strokes", pens, seed);
    for &pen in pens {
        let digits = indices.iter().filter_map(|&i| {
            let points = pendigits::eight_points(&digit_paths(&valid.pixels(&[i])))?;
            Some((points, valid.labels[i]))
        });
        sets.push(eight_point_set(digits, "mnist_8_points", pen, seed));
    }
    sets
}

/// Digits given as eight points of their trajectory, drawn through the pad with `pen`.
fn eight_point_set(
    digits: impl Iterator<Item = ([[f32; 2]; pendigits::POINTS], u8)>,
    source: &'static str,
    pen: f64,
    seed: u64,
) -> DigitSet {
    // A curve through the points, not straight segments: chosen on `mnist_8_points`.
    let paths = digits.map(|(points, label)| (vec![pendigits::path_through(&points)], label));
    let ranges = HandRanges::person(pen as f32);
    let mut set = drawn(paths, &ranges, format!("pen {pen}"), seed ^ 0x8E17);
    set.source = source;
    set
}

/// Where `scripts/fetch-hand-fonts` puts the handwriting fonts.
const HAND_FONTS: &str = "data/hand-fonts";

/// The digits of the handwriting fonts in `dir`: its validation fonts as one set, its held-out
/// fonts as another.
fn hand_font_sets(dir: &Path, per_font: usize, seed: u64) -> Result<Vec<DigitSet>> {
    // The script checks every font against its recorded checksum (no download when all are
    // there), so a fetch killed half-way is finished rather than measured short.
    if dir == Path::new(HAND_FONTS) {
        run_fetch("scripts/fetch-hand-fonts")?;
    }
    let mut sets = Vec::new();
    for (part, source) in [
        ("validation", "hand_font"),
        ("held-out", "hand_font_held_out"),
    ] {
        let fonts = fonts_in(&dir.join(part)).map_err(anyhow::Error::msg)?;
        let n = fonts.len();
        let variant = format!("{n} font{}, {per_font} each", if n == 1 { "" } else { "s" });
        let each = font_digits(&fonts, per_font, seed ^ 0x4A4D);
        sets.push(merged(each, source, variant));
    }
    Ok(sets)
}

/// Where `scripts/fetch-pendigits` puts the pendigits set.
const PENDIGITS: &str = "data/pendigits/penbased.csv";

/// The pendigits set drawn through the pad with each pen.
fn pendigits_sets(path: &Path, pens: &[f64], seed: u64) -> Result<Vec<DigitSet>> {
    fetch_if_default(path, PENDIGITS, "scripts/fetch-pendigits")?;
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let digits = pendigits::parse(&text).map_err(anyhow::Error::msg)?;
    Ok(pens
        .iter()
        .map(|&pen| {
            let each = digits.iter().map(|d| (d.points, d.label));
            eight_point_set(each, "pendigits", pen, seed)
        })
        .collect())
}

/// Runs `script` when `path` is the default file `default` and is missing.
fn fetch_if_default(path: &Path, default: &str, script: &str) -> Result<()> {
    if path == Path::new(default) && !path.exists() {
        run_fetch(script)?;
    }
    Ok(())
}

/// Runs a fetch script, its messages on stderr (stdout carries the figures).
fn run_fetch(script: &str) -> Result<()> {
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("{script} 1>&2"))
        .status()?;
    if !status.success() {
        bail!("{script} failed");
    }
    Ok(())
}

/// `data` as it is and drawn through the pad with each pen.
fn coarse_sets(
    data: &Dataset,
    scanned: &'static str,
    traced: &'static str,
    pens: &[f64],
    seed: u64,
) -> Vec<DigitSet> {
    let all: Vec<usize> = (0..data.len()).collect();
    let mut sets = vec![DigitSet {
        source: scanned,
        variant: "as scanned".into(),
        pixels: data.pixels(&all),
        labels: data.labels.clone(),
        strokes: Vec::new(),
    }];
    for &pen in pens {
        let ranges = HandRanges::person(pen as f32);
        let mut set = redrawn(data, &all, &ranges, format!("pen {pen}"), seed ^ 0x0D16);
        set.source = traced;
        sets.push(set);
    }
    sets
}

/// The optdigits set as scanned and drawn through the pad with each pen.
fn optdigits_sets(path: &Path, pens: &[f64], seed: u64) -> Result<Vec<DigitSet>> {
    fetch_if_default(path, OPTDIGITS, "scripts/fetch-optdigits")?;
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let data = optdigits::parse(&text).map_err(anyhow::Error::msg)?;
    Ok(coarse_sets(
        &data,
        "optdigits",
        "optdigits_strokes",
        pens,
        seed,
    ))
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
    // MNIST's own validation digits, as the data set has them: the reference.
    let all: Vec<usize> = (0..valid.len()).collect();
    sets.push(DigitSet {
        source: "mnist",
        variant: "validation".into(),
        pixels: valid.pixels(&all),
        labels: valid.labels.clone(),
        strokes: Vec::new(),
    });
    if args.per_font > 0 {
        let fonts = available_fonts().map_err(anyhow::Error::msg)?;
        sets.extend(font_digits(&fonts, args.per_font, args.seed));
    }
    if let Some(dir) = &args.hand_fonts {
        if args.per_font == 0 {
            bail!("--hand-fonts draws --per-font digits of each font: give --per-font above 0");
        }
        sets.extend(hand_font_sets(dir, args.per_font, args.seed)?);
    }
    if args.low_res {
        sets.extend(low_res_sets(&valid, &indices, &args.pens, args.seed));
    }
    if let Some(path) = &args.optdigits {
        sets.extend(optdigits_sets(path, &args.pens, args.seed)?);
    }
    if let Some(path) = &args.pendigits {
        sets.extend(pendigits_sets(path, &args.pens, args.seed)?);
    }
    let loaded = Loaded::open(&args)?;
    let figures: Vec<SetFigures> = sets.iter().map(|s| loaded.measure(s)).collect();
    if let Some(path) = &args.grid {
        sets_grid(path, &sets, &loaded)?;
    }
    print_figures(&figures);
    if let Some(path) = &args.strokes_out {
        let file = strokes_file(&loaded, &sets, args.strokes_per_pen, args.seed)?;
        let text = serde_json::to_string(&file)?;
        digit_lab::fs_util::write_atomic(path, text.as_bytes())?;
        eprintln!("wrote {} ({} bytes)", path.display(), text.len());
    }
    let record = json!({
        "command": command_line(),
        "settings": {
            "count": args.count, "from": args.from, "pens": args.pens,
            "per_font": args.per_font, "seed": args.seed,
            "best_from": args.best_from, "weights": args.weights, "optdigits": args.optdigits,
            "pendigits": args.pendigits, "low_res": args.low_res, "hand_fonts": args.hand_fonts,
        },
        "validation": figures,
    });
    println!("{record}");
    if let Some(path) = &args.record {
        digit_lab::fs_util::write_atomic(path, format!("{record:#}\n").as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// `digit-lab handwriting …` as it was run (the arguments after the program's path).
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("digit-lab {}", args.join(" "))
}

/// The models of `--weights` (the best classifier of `--best-from`) and the digit check.
struct Loaded {
    device: Device,
    vae: Vae,
    best: Classifier,
    paper: Classifier,
    check: DigitCheck,
}

impl Loaded {
    fn open(args: &HandwritingArgs) -> Result<Self> {
        let (device, _) = device(args.common.backend)?;
        let store = WeightsDir::open(&args.weights)?;
        let best_store = match &args.best_from {
            Some(dir) => WeightsDir::open(dir)?,
            None => WeightsDir::open(&args.weights)?,
        };
        let path = args.weights.join("digit_check.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(Self {
            vae: store.load(ModelKind::Vae, &device)?.into_vae()?,
            best: best_store
                .load(ModelKind::ClassifierBest, &device)?
                .into_classifier()?,
            paper: store
                .load(ModelKind::Classifier, &device)?
                .into_classifier()?,
            check: DigitCheck::parse(&text).map_err(anyhow::Error::msg)?,
            device,
        })
    }

    fn models(&self) -> Models<'_> {
        Models {
            vae: &self.vae,
            classifier: &self.best,
            ae: None,
        }
    }

    fn measure(&self, set: &DigitSet) -> SetFigures {
        measure(&self.models(), &self.paper, &self.check, set, &self.device)
    }

    /// The page's answers for `drawings` (each a set of strokes on the pad).
    fn answers(&self, drawings: &[Vec<Stroke>]) -> Vec<Answer> {
        let pixels: Vec<f32> = drawings
            .iter()
            .flat_map(|d| to_mnist(d, PAD_SIDE).expect("a drawing with ink"))
            .collect();
        answers(&self.check, &self.models(), &pixels, &self.device)
    }
}

fn print_figures(figures: &[SetFigures]) {
    println!(
        "{:<17} {:<28} {:>6} {:>8} {:>8} {:>9} {:>8}",
        "source", "pen or font", "count", "best", "paper", "accepted", "refused"
    );
    for f in figures {
        println!(
            "{:<17} {:<28} {:>6} {:>8.4} {:>8.4} {:>9.4} {:>8.4}",
            f.source,
            f.variant,
            f.count,
            f.best_accuracy,
            f.paper_accuracy,
            f.check_accepted,
            f.check_refused
        );
    }
    println!("best classifier by label (share read, and the commonest misreading):");
    for f in figures {
        let labels: Vec<String> = f
            .by_label
            .iter()
            .map(|l| match l.misread_as {
                Some(c) => format!("{} {:.2}→{c}", l.label, l.read),
                None => format!("{} {:.2}", l.label, l.read),
            })
            .collect();
        println!("{:<17} {:<28} {}", f.source, f.variant, labels.join(" · "));
    }
}

/// One drawing of the stroke file.
struct Drawing {
    source: String,
    label: Option<u8>,
    strokes: Vec<Stroke>,
}

/// The drawings of the stroke file: `per_source` traced digits of each pen (labels in turn),
/// as many font digits traced and drawn with pen 20 (fonts in turn), two drawings of each
/// hand-drawn kind of non-digit, (with `--hand-fonts`) `per_source` digits of the handwriting
/// fonts traced and drawn with pen 20, and one drawing of each kind the non-digit generator
/// draws with a pen.
fn drawings(sets: &[DigitSet], per_source: usize, seed: u64) -> Vec<Drawing> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = stroke_drawings(sets, per_source);
    out.extend(font_drawings(sets, per_source, &mut rng));
    out.extend(hand_drawn_non_digits(&mut rng));
    out.extend(hand_font_drawings(sets, per_source, &mut rng));
    out.extend(pen_kind_drawings(&mut rng));
    for d in &mut out {
        as_pointer_writes(&mut d.strokes);
    }
    out
}

/// The `k`-th of `per_source` labels, spread over 0-9 from `offset` (every other one from 0,
/// then from 1, when there are 5 per source).
fn spread_label(k: usize, per_source: usize, offset: usize) -> u8 {
    ((k * 10 / per_source.clamp(1, 10) + offset) % 10) as u8
}

/// `per_source` digits of each set that has strokes of its own, labels in turn.
fn stroke_drawings(sets: &[DigitSet], per_source: usize) -> Vec<Drawing> {
    let mut out = Vec::new();
    for (n, set) in sets.iter().filter(|s| !s.strokes.is_empty()).enumerate() {
        for k in 0..per_source {
            let label = spread_label(k, per_source, n);
            let nth = k / 10.min(per_source.max(1));
            let found = (0..set.labels.len())
                .filter(|&i| set.labels[i] == label)
                .nth(nth);
            if let Some(i) = found {
                out.push(Drawing {
                    source: format!("{} {}", set.source, set.variant),
                    label: Some(label),
                    strokes: set.strokes[i].clone(),
                });
            }
        }
    }
    out
}

/// A font's digit, which has no strokes of its own: traced and drawn with pen 20.
fn traced_with_pen_20(set: &DigitSet, i: usize, rng: &mut StdRng) -> Vec<Stroke> {
    let paths = digit_paths(&set.pixels[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS]);
    let hand = HandRanges::person(20.0).draw(rng);
    pad_strokes(&paths, &hand, rng)
}

/// `per_source` digits of the machine's fonts (fonts in turn), traced.
fn font_drawings(sets: &[DigitSet], per_source: usize, rng: &mut StdRng) -> Vec<Drawing> {
    let fonts: Vec<&DigitSet> = sets.iter().filter(|s| s.source == "font").collect();
    let mut out = Vec::new();
    for k in 0..per_source.min(10 * fonts.len()) {
        let set = fonts[k % fonts.len()];
        let label = spread_label(k, per_source, 1);
        if let Some(i) = set.labels.iter().position(|l| *l == label) {
            out.push(Drawing {
                source: format!("font_traced {}", set.variant),
                label: Some(label),
                strokes: traced_with_pen_20(set, i, rng),
            });
        }
    }
    out
}

/// A non-digit drawing of `kind`.
fn non_digit(kind: &str, strokes: Vec<Stroke>) -> Drawing {
    Drawing {
        source: kind.to_string(),
        label: None,
        strokes,
    }
}

/// The page tests' own dot, dash and zigzag (tests/e2e/page.test.js, with the default pen) and
/// two drawings of each hand-drawn kind.
fn hand_drawn_non_digits(rng: &mut StdRng) -> Vec<Drawing> {
    let mut out = Vec::new();
    for (kind, points) in PAGE_TEST_SHAPES {
        let stroke = Stroke {
            width: 20.0,
            points: points.to_vec(),
        };
        out.push(non_digit(kind, vec![stroke]));
    }
    for kind in HAND_KINDS {
        for _ in 0..2 {
            out.push(non_digit(kind, hand_shapes::draw(kind, rng)));
        }
    }
    out
}

/// The handwriting fonts kept for validation (never the held-out ones), as other people's
/// digits: labels in turn, each from a font further along the set, traced.
fn hand_font_drawings(sets: &[DigitSet], per_source: usize, rng: &mut StdRng) -> Vec<Drawing> {
    let Some(set) = sets.iter().find(|s| s.source == "hand_font") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for k in 0..per_source {
        let label = spread_label(k, per_source, 1);
        let of_label: Vec<usize> = (0..set.labels.len())
            .filter(|&i| set.labels[i] == label)
            .collect();
        if let Some(&i) = of_label.get(k * of_label.len() / per_source) {
            out.push(Drawing {
                source: "hand_font_traced".to_string(),
                label: Some(label),
                strokes: traced_with_pen_20(set, i, rng),
            });
        }
    }
    out
}

/// One drawing of each kind the non-digit generator draws with a pen (its dot and dash are the
/// page tests').
fn pen_kind_drawings(rng: &mut StdRng) -> Vec<Drawing> {
    let kinds = PEN_KINDS.iter().filter(|k| !["dot", "dash"].contains(k));
    kinds
        .map(|kind| {
            non_digit(
                kind,
                pen_strokes(kind, rng).expect("a kind drawn with a pen"),
            )
        })
        .collect()
}

/// A pointer moving fast (a point every 12 pixels at least: the mouse draws them in seconds),
/// at a tenth of a pixel (a small file); the images and answers written with the file are
/// those of the points as written.
fn as_pointer_writes(strokes: &mut [Stroke]) {
    for s in strokes {
        s.points = sparse(&s.points, 12.0)
            .into_iter()
            .map(|p| p.map(|v| (v * 10.0).round() / 10.0))
            .collect();
    }
}

/// The first hand-drawn partial digit, walk or tangle (a seed of their own) that the models
/// and check are clearly unsure of, so that the page's third state is drawn too; none in 300
/// tries is an error.
fn unsure_drawing(loaded: &Loaded, seed: u64) -> Result<(Drawing, Answer)> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    for kind in ["partial_digit", "walk", "tangle"].iter().cycle().take(300) {
        let mut strokes = hand_shapes::draw(kind, &mut rng);
        as_pointer_writes(&mut strokes);
        let answer = loaded.answers(std::slice::from_ref(&strokes)).remove(0);
        // Unsure by its best class (under 50 %, here 40 %), inside the check's acceptance: a
        // margin from both thresholds, for the page's image is a little different.
        if answer.state == "unsure" && answer.is_digit && answer.probability < 0.4 {
            let source = format!("{kind} (unsure)");
            return Ok((
                Drawing {
                    source,
                    label: None,
                    strokes,
                },
                answer,
            ));
        }
    }
    anyhow::bail!("no partial digit, walk or tangle in 300 that the check is unsure of")
}

/// The points of `points` at least `gap` pixels from the previous one kept (the ends always).
fn sparse(points: &[[f32; 2]], gap: f32) -> Vec<[f32; 2]> {
    let mut out: Vec<[f32; 2]> = Vec::with_capacity(points.len());
    for (i, p) in points.iter().enumerate() {
        let far = out
            .last()
            .is_none_or(|q| (p[0] - q[0]).hypot(p[1] - q[1]) >= gap);
        if far || i == points.len() - 1 {
            out.push(*p);
        }
    }
    out
}

/// The stroke file for the page's tests: each drawing with its source, label (digits), strokes
/// in the pad's coordinates, the 28×28 image the pad's rule makes of it in Rust, and what the
/// page should answer (by the models and check of `--weights`).
fn strokes_file(
    loaded: &Loaded,
    sets: &[DigitSet],
    per_source: usize,
    seed: u64,
) -> Result<serde_json::Value> {
    let mut drawings = drawings(sets, per_source, seed);
    let strokes: Vec<Vec<Stroke>> = drawings.iter().map(|d| d.strokes.clone()).collect();
    let mut answers = loaded.answers(&strokes);
    // Drawings near a threshold may land on either side on the page; this one may not.
    let (drawing, answer) = unsure_drawing(loaded, seed)?;
    drawings.push(drawing);
    answers.push(answer);
    // As bytes, 0 to 255 (as MNIST stores its images): a third of the file's size as decimals.
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let items: Vec<serde_json::Value> = drawings
        .iter()
        .zip(answers)
        .map(|(d, a)| {
            let image: Vec<u8> = to_mnist(&d.strokes, PAD_SIDE)
                .expect("a drawing with ink")
                .into_iter()
                .map(byte)
                .collect();
            json!({
                "source": d.source, "label": d.label,
                "strokes": d.strokes,
                "image": image, "expected": a,
            })
        })
        .collect();
    Ok(json!({
        "about": "Drawings on the page's 280x280 pad written by `digit-lab handwriting --strokes-out`: MNIST validation digits traced and drawn again with each pen, other people's digits (with --optdigits and --pendigits: optdigits traced, pendigits' own pen trajectories) drawn with each pen, font digits and (with --hand-fonts) the validation handwriting fonts' digits traced and drawn with pen 20, hand-drawn non-digits of each kind, and one drawing the check is clearly unsure of; image: the 28x28 the pad's rule makes of them in Rust, as bytes (ink 0-255); expected: what the committed models and check answer",
        "drawings": items,
    }))
}
