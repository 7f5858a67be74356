//! Handwriting not from MNIST's files (issue 28), on small sets: MNIST validation digits traced
//! and drawn again through the pad are read by the committed best classifier and pass the digit
//! check; and the page's stroke file (tests/e2e/fixtures/handwriting.json) is what
//! `digit-lab handwriting --strokes-out` writes, so that the e2e test draws what this code draws.

mod common;

use std::process::Command;

use burn::prelude::*;
use digit_lab::analysis::digit_check::{DigitCheck, Models};
use digit_lab::analysis::handwriting::{accepted, mnist_strokes, predictions};
use digit_lab::model::{Manifest, ModelKind, load_classifier, load_vae};

/// The command that wrote the committed stroke file (its arguments after the subcommand).
/// Other people's sets come from `scripts/fetch-optdigits`, `scripts/fetch-pendigits` and
/// `scripts/fetch-hand-fonts`, which the command runs when their files are missing.
const FIXTURE_ARGS: [&str; 11] = [
    "--count",
    "200",
    "--per-font",
    "20",
    "--strokes-per-pen",
    "5",
    "--seed",
    "1",
    "--optdigits",
    "--pendigits",
    "--hand-fonts",
];

#[test]
fn traced_validation_digits_are_read_and_pass_the_check() {
    let device = Device::flex();
    let dir = common::weights_dir();
    let m = Manifest::parse(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let bytes = |kind| common::read(&dir.join(&m.entry(kind).unwrap().file));
    let vae = load_vae(&m, &bytes(ModelKind::Vae), &device).unwrap();
    let best = ModelKind::ClassifierBest;
    let classifier = load_classifier(&m, best, &bytes(best), &device).unwrap();
    let check =
        DigitCheck::parse(&std::fs::read_to_string(dir.join("digit_check.json")).unwrap()).unwrap();
    let models = Models {
        vae: &vae,
        classifier: &classifier,
        ae: None,
    };
    let data = common::real_mnist();
    let indices: Vec<usize> = (0..100).collect();
    for pen in [10.0, 20.0] {
        let set = mnist_strokes(&data.validation, &indices, pen, 7);
        assert_eq!(set.labels.len(), 100, "every digit traced (pen {pen})");
        let p = predictions(&classifier, &set.pixels, &device);
        let read = p.iter().zip(&set.labels).filter(|(p, l)| p == l).count();
        assert!(read >= 92, "pen {pen}: {read} of 100 traced digits read");
        let passed = accepted(&check, &models, &set.pixels, &device);
        let passed = passed.iter().filter(|&&a| a).count();
        assert!(
            passed >= 97,
            "pen {pen}: {passed} of 100 traced digits pass the check"
        );
    }
}

#[test]
fn the_e2e_stroke_file_is_what_the_command_writes() {
    let root = common::root();
    let out = common::scratch_dir("handwriting", "strokes").join("handwriting.json");
    let status = Command::new(env!("CARGO_BIN_EXE_digit-lab"))
        .arg("handwriting")
        .args(FIXTURE_ARGS)
        .arg("--data")
        .arg(root.join("data/mnist"))
        .arg("--weights")
        .arg(root.join("weights"))
        .arg("--strokes-out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let read = |path: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let (now, committed) = (
        read(&out),
        read(&root.join("tests/e2e/fixtures/handwriting.json")),
    );
    let (now, committed) = (
        now["drawings"].as_array().unwrap(),
        committed["drawings"].as_array().unwrap(),
    );
    assert_eq!(now.len(), committed.len(), "drawings in the file");
    for (a, b) in now.iter().zip(committed) {
        for key in ["source", "label", "strokes", "image"] {
            assert_eq!(a[key], b[key], "{key} of a {} drawing", b["source"]);
        }
        assert_eq!(
            a["expected"]["state"], b["expected"]["state"],
            "{}",
            b["source"]
        );
    }
    let sources: std::collections::BTreeSet<&str> =
        now.iter().map(|d| d["source"].as_str().unwrap()).collect();
    for kind in [
        "mnist_strokes pen 10",
        "mnist_strokes pen 20",
        "heart",
        "letter_hand",
        "partial_digit",
        "dash",
        "hand_font_traced",
        "smiley",
        "spiral",
        "star",
    ] {
        assert!(sources.contains(kind), "{kind} in {sources:?}");
    }
}

/// An optdigits line (8×8 counts, then the label): a ring for 0, a bar for 1.
fn optdigits_line(label: u8) -> String {
    let mut cells = [0u8; 64];
    for y in 1..7 {
        for x in 2..6 {
            let ring = y == 1 || y == 6 || x == 2 || x == 5;
            let bar = x == 3 || x == 4;
            if (label == 0 && ring) || (label == 1 && bar) {
                cells[y * 8 + x] = 16;
            }
        }
    }
    let mut values: Vec<String> = cells.iter().map(u8::to_string).collect();
    values.push(label.to_string());
    values.join(",")
}

#[test]
fn other_peoples_digits_are_measured_and_drawn_and_a_bad_file_is_named() {
    let root = common::root();
    let dir = common::scratch_dir("handwriting", "optdigits");
    let csv = dir.join("digits.csv");
    std::fs::write(
        &csv,
        format!("{}\n{}\n", optdigits_line(0), optdigits_line(1)),
    )
    .unwrap();
    // pendigits: a zero as eight points around a ring, and a one down a line (y up).
    let pen = dir.join("penbased.csv");
    let zero = "50, 100, 15, 85, 0, 50, 15, 15, 50, 0, 85, 15, 100, 50, 85, 85, 0";
    let one = "50, 100, 50, 86, 50, 71, 50, 57, 50, 43, 50, 29, 50, 14, 50, 0, 1";
    std::fs::write(&pen, format!("{zero}\n{one}\n{one}\n")).unwrap();
    let run = |csv: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_digit-lab"))
            .args([
                "handwriting",
                "--count",
                "10",
                "--pens",
                "20",
                "--per-font",
                "0",
            ])
            .arg("--data")
            .arg(root.join("data/mnist"))
            .arg("--weights")
            .arg(root.join("weights"))
            .arg("--optdigits")
            .arg(csv)
            .arg("--pendigits")
            .arg(&pen)
            .arg("--low-res")
            .arg("--grid")
            .arg(dir.join("grid.png"))
            .output()
            .unwrap()
    };
    let out = run(&csv);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let record: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let sets = record["validation"].as_array().unwrap();
    let set = |source: &str| sets.iter().find(|s| s["source"] == source).unwrap();
    assert_eq!(set("optdigits")["count"], 2);
    assert_eq!(set("optdigits")["variant"], "as scanned");
    assert_eq!(set("optdigits_strokes")["variant"], "pen 20");
    assert_eq!(set("pendigits")["count"], 3);
    assert_eq!(set("pendigits")["variant"], "pen 20");
    let by_label = set("pendigits")["by_label"].as_array().unwrap();
    let counts: Vec<(u64, u64)> = by_label
        .iter()
        .map(|l| (l["label"].as_u64().unwrap(), l["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts, [(0, 1), (1, 2)]);
    // The validation digits in both coarse formats, all ten of them.
    for source in ["mnist_8x8", "mnist_8x8_strokes", "mnist_8_points"] {
        assert_eq!(set(source)["count"], 10, "{source}");
    }
    assert!(dir.join("grid.png").exists());

    std::fs::write(&csv, format!("{}\n1,2,3\n", optdigits_line(1))).unwrap();
    let out = run(&csv);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(stderr.contains("digits.csv line 2: 3 values"), "{stderr}");

    std::fs::write(&csv, format!("{}\n", optdigits_line(1))).unwrap();
    std::fs::write(
        &pen,
        format!("{one}\n{}\n", one.replace("50, 0, 1", "50, 0, 11")),
    )
    .unwrap();
    let stderr = String::from_utf8_lossy(&run(&csv).stderr).to_string();
    assert!(
        stderr.contains("pendigits line 2: a label above 9"),
        "{stderr}"
    );
}

#[test]
fn handwriting_fonts_are_measured_as_two_sets_and_a_missing_part_is_named() {
    let root = common::root();
    let dir = common::scratch_dir("handwriting", "hand-fonts");
    let fonts = digit_lab::analysis::glyphs::FONT_FILES;
    for (part, files) in [("validation", &fonts[..2]), ("held-out", &fonts[5..6])] {
        std::fs::create_dir_all(dir.join(part)).unwrap();
        for file in files {
            let name = std::path::Path::new(file).file_name().unwrap();
            std::fs::copy(file, dir.join(part).join(name)).unwrap();
        }
    }
    let run = |per_font: &str| {
        Command::new(env!("CARGO_BIN_EXE_digit-lab"))
            .args(["handwriting", "--count", "10", "--pens", "20"])
            .args(["--per-font", per_font])
            .arg("--data")
            .arg(root.join("data/mnist"))
            .arg("--weights")
            .arg(root.join("weights"))
            .arg("--hand-fonts")
            .arg(&dir)
            .output()
            .unwrap()
    };
    let out = run("10");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let record: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let sets = record["validation"].as_array().unwrap();
    let set = |source: &str| sets.iter().find(|s| s["source"] == source).unwrap();
    assert_eq!(set("hand_font")["variant"], "2 fonts, 10 each");
    assert_eq!(set("hand_font")["count"], 20);
    assert_eq!(set("hand_font_held_out")["variant"], "1 font, 10 each");
    // Printed fonts are digits the classifier reads.
    assert!(set("hand_font")["best_accuracy"].as_f64().unwrap() >= 0.8);

    let stderr = String::from_utf8_lossy(&run("0").stderr).to_string();
    assert!(stderr.contains("give --per-font above 0"), "{stderr}");
    std::fs::remove_dir_all(dir.join("held-out")).unwrap();
    let out = run("10");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(stderr.contains("held-out"), "{stderr}");
}
