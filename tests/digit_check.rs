//! "That's not a digit" with the committed models and `weights/digit_check.json`: the file
//! loads as the page will load it, the page tests' dot, dash and zigzag drawn on the pad are
//! refused, real validation digits and pen-drawn template digits pass, and the recorded figures
//! meet the goals (≥ 99 % of MNIST test digits and of held-out traced digits accepted, at most
//! 2 % of them refused) and are what `digit-lab digit-check` gives for the committed models.

mod common;

use burn::prelude::*;
use digit_lab::analysis::digit_check::{DigitCheck, Models, Report, measure, model_outputs};
use digit_lab::analysis::handwriting::{PAGE_TEST_SHAPES, predictions};
use digit_lab::analysis::non_digits::drawn_digits;
use digit_lab::data::canvas::to_mnist_format;
use digit_lab::data::mnist::images_tensor;
use digit_lab::data::pad::{PAD_SIDE, Stroke, to_mnist};
use digit_lab::model::{Manifest, ModelKind, load_classifier, load_vae};

fn file() -> String {
    std::fs::read_to_string(common::weights_dir().join("digit_check.json"))
        .expect("weights/digit_check.json")
}

/// The committed VAE and best classifier.
/// `f` with the committed VAE and best classifier on the CPU backend.
fn with_models<T>(f: impl FnOnce(&Models, &Device) -> T) -> T {
    let device = Device::flex();
    let text = std::fs::read_to_string(common::weights_dir().join("manifest.json")).unwrap();
    let m = Manifest::parse(&text).unwrap();
    let bytes = |kind| common::read(&common::weights_dir().join(&m.entry(kind).unwrap().file));
    let vae = load_vae(&m, &bytes(ModelKind::Vae), &device).unwrap();
    let best = ModelKind::ClassifierBest;
    let classifier = load_classifier(&m, best, &bytes(best), &device).unwrap();
    let models = Models {
        vae: &vae,
        classifier: &classifier,
        ae: None,
    };
    f(&models, &device)
}

/// The verdicts of the check on `pixels` (784 values each) with the committed models.
fn verdicts(check: &DigitCheck, pixels: &[f32]) -> Vec<bool> {
    full_verdicts(check, pixels)
        .iter()
        .map(|v| v.is_digit)
        .collect()
}

fn full_verdicts(
    check: &DigitCheck,
    pixels: &[f32],
) -> Vec<digit_lab::analysis::digit_check::Verdict> {
    assert!(!check.needs_conv_ae(), "the page need not run the ConvAE");
    let outputs = with_models(|models, device| {
        model_outputs(models, images_tensor(pixels.to_vec(), device)).read()
    });
    check.check_images(&outputs, pixels)
}

/// The image the pad makes of one stroke with the page's default pen (20 pixels).
fn on_pad(points: &[[f32; 2]]) -> Vec<f32> {
    let stroke = Stroke {
        width: 20.0,
        points: points.to_vec(),
    };
    to_mnist(&[stroke], PAD_SIDE).unwrap()
}

/// A 112×112 canvas with round-pen strokes through `points` (radius 4.5, as the page's pen).
fn drawing(strokes: &[&[(f32, f32)]]) -> Vec<f32> {
    let side = 112;
    let mut canvas = vec![0f32; side * side];
    for stroke in strokes {
        for (i, v) in canvas.iter_mut().enumerate() {
            let (px, py) = ((i % side) as f32 + 0.5, (i / side) as f32 + 0.5);
            let d = stroke
                .windows(2)
                .map(|w| {
                    let ((ax, ay), (bx, by)) = (w[0], w[1]);
                    let (dx, dy) = (bx - ax, by - ay);
                    let t = (((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy).max(1e-6))
                        .clamp(0.0, 1.0);
                    ((px - ax - t * dx).powi(2) + (py - ay - t * dy).powi(2)).sqrt()
                })
                .fold(f32::INFINITY, f32::min);
            *v = v.max((5.0 - d).clamp(0.0, 1.0));
        }
    }
    to_mnist_format(&canvas, side, side).unwrap()
}

#[test]
fn the_file_loads_and_meets_the_goals() {
    let text = file();
    let check = DigitCheck::parse(&text).unwrap();
    assert!(check.quantile >= 0.99 && check.threshold.is_finite());
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    let measured = &record["measured"];
    assert!(measured["test_digits_accepted"].as_f64().unwrap() >= 0.99);
    // Non-digits: nine in ten refused (issue 28's goal), few read as a digit with confidence
    // (its goal of none read at >= 90 % is not met, mostly by half-drawn digits: see LAB_NOTES).
    let held_out = &measured["non_digits"]["held_out"];
    assert!(held_out["rejected"].as_f64().unwrap() >= 0.90, "{held_out}");
    assert!(held_out["refused"].as_f64().unwrap() >= 0.90, "{held_out}");
    assert!(
        held_out["confident_digit"].as_f64().unwrap() <= 0.03,
        "{held_out}"
    );
    assert!(measured["command"].as_str().unwrap().contains("--final"));
    // Every kind measured when left out of the fit (of the head and the combination).
    let unseen = measured["held_out_rejected_when_fitted_without_the_kind"]
        .as_object()
        .unwrap();
    assert_eq!(
        unseen.len(),
        held_out["rejected_by_kind"].as_object().unwrap().len()
    );
    // Other people's digits (traced and drawn again through the pad, held out): passed, and
    // hardly ever refused; the refusal is surer than the acceptance. The thresholds pass 99 % of
    // the dev digits; on the 2,000 held-out ones that is 99 % give or take 0.2 % (one standard
    // error), so the bar here is 98.5 %.
    let traced = &measured["handwriting"]["traced_held_out"];
    assert!(traced["accepted"].as_f64().unwrap() >= 0.985, "{traced}");
    assert!(traced["refused"].as_f64().unwrap() <= 0.02, "{traced}");
    assert!(check.refuse_threshold() > check.threshold);
    assert!(check.unsure_below.is_some_and(|p| p > 0.0 && p < 1.0));
    // A broken file is an error, not a panic later.
    let broken = text.replacen("\"log_neg_elbo\"", "\"no_such_feature\"", 1);
    assert!(DigitCheck::parse(&broken).is_err());
    let unsure = format!("\"unsure_below\":{}", check.unsure_below.unwrap());
    assert!(DigitCheck::parse(&text.replacen(&unsure, "\"unsure_below\":1.5", 1)).is_err());
    assert!(DigitCheck::parse("{}").is_err());
}

/// The page tests' dot, dash and zigzag (tests/e2e/page.test.js, a11y.test.js) are refused as
/// surely not digits; a one and a seven drawn so pass.
#[test]
fn the_page_tests_dot_dash_and_zigzag_are_refused_and_digits_pass() {
    let check = DigitCheck::parse(&file()).unwrap();
    let shapes = PAGE_TEST_SHAPES.iter().map(|(_, points)| on_pad(points));
    let digits = [
        on_pad(&[[140.0, 40.0], [142.0, 240.0]]),
        on_pad(&[[70.0, 60.0], [210.0, 60.0], [120.0, 240.0]]),
    ];
    let pixels: Vec<f32> = shapes.chain(digits).flatten().collect();
    let v = full_verdicts(&check, &pixels);
    let refused: Vec<bool> = v.iter().map(|v| v.refused).collect();
    let digit: Vec<bool> = v.iter().map(|v| v.is_digit).collect();
    assert_eq!(refused, [true, true, true, false, false], "{v:?}");
    assert_eq!(digit, [false, false, false, true, true], "{v:?}");
    // The 112-pixel canvas of the native non-digits too.
    let scribble = drawing(&[&[
        (15.0, 30.0),
        (95.0, 38.0),
        (18.0, 46.0),
        (97.0, 54.0),
        (14.0, 62.0),
        (96.0, 70.0),
        (16.0, 78.0),
    ]]);
    assert_eq!(verdicts(&check, &scribble), [false]);
}

#[test]
fn validation_and_drawn_digits_pass() {
    let check = DigitCheck::parse(&file()).unwrap();
    let data = common::real_mnist();
    let valid = data.validation.pixels(&(0..300).collect::<Vec<_>>());
    let passed = verdicts(&check, &valid).iter().filter(|&&d| d).count();
    assert!(passed >= 295, "{passed} of 300 validation digits accepted");
    let (drawn, _) = drawn_digits(130, 11);
    let passed = verdicts(&check, &drawn).iter().filter(|&&d| d).count();
    assert!(passed >= 125, "{passed} of 130 drawn digits accepted");
}

/// Fitting again with the recorded settings gives the recorded check and figures (up to float
/// summation order across thread counts).
#[test]
fn the_recorded_check_is_reproduced() {
    let recorded: Report = serde_json::from_str(&file()).expect("weights/digit_check.json");
    let data = common::real_mnist();
    let settings = &recorded.measured.settings;
    let r = with_models(|models, device| measure(models, &data, settings, device).unwrap());
    let near = |a: f64, b: f64, what: &str| assert!((a - b).abs() <= 2e-3, "{what}: {a} vs {b}");
    near(r.check.threshold, recorded.check.threshold, "threshold");
    let (m, was) = (&r.measured, &recorded.measured);
    near(
        m.validation_digits_accepted,
        was.validation_digits_accepted,
        "validation",
    );
    near(
        m.test_digits_accepted.unwrap(),
        was.test_digits_accepted.unwrap(),
        "test",
    );
    for set in ["dev", "held_out"] {
        near(
            m.non_digits[set].rejected,
            was.non_digits[set].rejected,
            set,
        );
        near(m.non_digits[set].refused, was.non_digits[set].refused, set);
    }
    near(
        r.check.refuse_threshold(),
        recorded.check.refuse_threshold(),
        "refusal",
    );
    let traced =
        |m: &digit_lab::analysis::check_fit::Measured| m.handwriting["traced_held_out"].accepted;
    near(traced(m), traced(was), "traced held out");
    assert!(m.test_digits_accepted.unwrap() >= 0.99, "{m:?}");
}

/// Polls a future that needs no waking (the CPU backend's reads are ready at once).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// The page's one call gives the same verdicts, and refuses a malformed batch.
#[test]
fn the_async_call_agrees() {
    let check = DigitCheck::parse(&file()).unwrap();
    let (drawn, _) = drawn_digits(20, 4);
    let dot = drawing(&[&[(50.0, 60.0), (51.0, 60.0)]]);
    let pixels = [drawn, dot].concat();
    let (answers, short, empty) = with_models(|models, device| {
        (
            block_on(check.verdicts(models, &pixels, device)).unwrap(),
            block_on(check.verdicts(models, &pixels[..783], device)),
            block_on(check.verdicts(models, &[], device)),
        )
    });
    let flags: Vec<bool> = answers.iter().map(|v| v.is_digit).collect();
    assert_eq!(flags, verdicts(&check, &pixels));
    assert!(!flags[20] && answers[20].margin > 0.0);
    assert!(
        short.is_err() && empty.is_err(),
        "malformed batches refused"
    );
}

/// What the browser test (tests/web.rs, `check_digit_check`) asks of the compiled-in check, here
/// natively: the golden digits pass, a filled disc and a bar (a dot and a dash as the page's
/// formatting makes them) do not.
#[test]
fn the_browser_tests_golden_digits_pass_and_its_dot_and_dash_do_not() {
    let check = DigitCheck::parse(&file()).unwrap();
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("tests/fixtures/golden.json")).unwrap(),
    )
    .unwrap();
    let digits: Vec<f32> = golden["digits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d.as_array().unwrap().clone())
        .map(|p| p.as_f64().unwrap() as f32 / 255.0)
        .collect();
    let n = digits.len() / 784;
    assert!(
        verdicts(&check, &digits).iter().all(|&d| d),
        "a golden digit rejected"
    );
    let shape = |inside: &dyn Fn(f32, f32) -> bool| -> Vec<f32> {
        (0..784)
            .map(|i| {
                let (x, y) = ((i % 28) as f32 - 13.5, (i / 28) as f32 - 13.5);
                if inside(x, y) { 1.0 } else { 0.0 }
            })
            .collect()
    };
    let dot = shape(&|x, y| x * x + y * y <= 100.0);
    let dash = shape(&|x, y| x.abs() <= 10.0 && y.abs() <= 1.5);
    assert_eq!(verdicts(&check, &[dot, dash].concat()), [false, false]);
    assert!(n >= 5);
}

/// A one drawn as a single straight drag, as a mouse or a finger makes it: upright or leaning,
/// short or tall, with each pen of the slider. Read as a one and never refused (an upright
/// stroke was refused by a classifier trained on non-digits before it also saw such ones).
#[test]
fn a_one_drawn_as_one_straight_stroke_is_read_and_never_refused() {
    let check = DigitCheck::parse(&file()).unwrap();
    let mut pixels = Vec::new();
    for width in [10.0f32, 20.0, 30.0] {
        for (dx, length) in [
            (0.0f32, 200.0f32),
            (2.0, 200.0),
            (20.0, 200.0),
            (-40.0, 200.0),
            (0.0, 120.0),
            (-20.0, 160.0),
        ] {
            let stroke = Stroke {
                width,
                points: vec![[140.0, 40.0], [140.0 + dx, 40.0 + length]],
            };
            pixels.extend(to_mnist(&[stroke], PAD_SIDE).unwrap());
        }
    }
    let verdicts = full_verdicts(&check, &pixels);
    let read = with_models(|models, device| predictions(models.classifier, &pixels, device));
    for (i, (v, digit)) in verdicts.iter().zip(&read).enumerate() {
        assert!(!v.refused && *digit == 1, "stroke {i}: read {digit}, {v:?}");
    }
    let accepted = verdicts.iter().filter(|v| v.is_digit).count();
    assert!(accepted >= 16, "{accepted} of 18 accepted as digits");
}
