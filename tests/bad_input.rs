//! Every bad flag and every bad manifest field named in one table: each gets a clean one-line
//! error that names it, never a panic, and nothing is written. Plus the closed-stdout,
//! empty-file and partial-eval cases of `predict` and `eval`.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use digit_lab::data::idx::{encode_images, encode_labels};
use digit_lab::data::mnist::FILES;

fn scratch(name: &str) -> PathBuf {
    common::scratch_dir("bad", name)
}

fn small_data(dir: &Path, train: usize) -> PathBuf {
    common::small_mnist(dir, train, 50)
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_digit-lab"));
    c.current_dir(common::root());
    c
}

fn assert_clean_error(out: &Output, expected: &str, case: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{case}: accepted\n{stderr}");
    assert!(!stderr.contains("panicked"), "{case}: panicked\n{stderr}");
    assert!(
        stderr.contains(expected),
        "{case}: the error does not name {expected:?}\n{stderr}"
    );
    // 1: the trainer's own errors; 2: clap's usage errors.
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "{case}: {:?}",
        out.status
    );
}

#[test]
fn every_bad_training_flag_is_refused_before_any_work() {
    let dir = scratch("flags");
    let data = small_data(&dir, 300);
    let a_file = dir.join("a-file");
    std::fs::write(&a_file, b"x").unwrap();
    let runs = dir.join("runs");
    let base = |model: &str| -> Vec<String> {
        [
            "train",
            model,
            "--data",
            data.to_str().unwrap(),
            "--valid-size",
            "50",
            "--epochs",
            "1",
            "--quiet",
            "--runs",
            runs.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };
    let file = a_file.to_str().unwrap();
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("ae", vec!["--code", "0"], "--code"),
        ("ae", vec!["--c1", "0"], "--c1"),
        ("ae", vec!["--c2", "0"], "--c2"),
        ("ae", vec!["--c3", "0"], "--c3"),
        ("ae", vec!["--fc", "0"], "--fc"),
        ("ae", vec!["--c1", "1000000000"], "--c1"),
        ("ae", vec!["--dropout", "1"], "--dropout"),
        ("ae", vec!["--dropout=-0.1"], "--dropout"),
        ("vae", vec!["--code", "0"], "--code"),
        ("vae", vec!["--c1", "8"], "--c1"),
        ("dae-wide", vec!["--code", "0"], "--code"),
        ("dae", vec!["--noise-amount=-1"], "--noise-amount"),
        ("dae", vec!["--noise-amount", "2"], "--noise-amount"),
        ("dae", vec!["--noise-amount", "inf"], "--noise-amount"),
        ("dae", vec!["--noise-amount", "NaN"], "--noise-amount"),
        ("ae", vec!["--noise-amount", "0.3"], "--noise-amount"),
        ("ae", vec!["--epochs", "0"], "--epochs"),
        ("ae", vec!["--batch-size", "0"], "--batch-size"),
        ("ae", vec!["--batch-size", "100000000"], "--batch-size"),
        ("ae", vec!["--lr", "0"], "--lr"),
        ("ae", vec!["--lr=-1"], "--lr"),
        ("ae", vec!["--lr", "inf"], "--lr"),
        ("ae", vec!["--l2=-1"], "--l2"),
        ("ae", vec!["--l2", "NaN"], "--l2"),
        ("ae", vec!["--patience", "0"], "--patience"),
        ("ae", vec!["--average-from", "0"], "--average-from"),
        ("ae", vec!["--average-from", "9"], "--average-from"),
        ("ae", vec!["--seed", "abc"], "--seed"),
        ("ae", vec!["--limit-train", "0"], "--limit-train"),
        ("ae", vec!["--valid-size", "0"], "--valid-size"),
        ("ae", vec!["--valid-size", "300"], "--valid-size"),
        ("ae", vec!["--valid-size", "100000"], "--valid-size"),
        ("ae", vec!["--run-dir", file], "--run-dir"),
        ("ae", vec!["--runs", file], "--runs"),
        ("ae", vec!["--publish", file], "a-file"),
        ("ae", vec!["--init-from", "/nonexistent-run"], "/nonexistent-run"),
        ("ae", vec!["--init-from", file, "--c1", "8"], "--init-from"),
        ("classifier", vec!["--init-from", file], "--init-from"),
        ("classifier", vec!["--encoder-from", "/nonexistent-run"], "/nonexistent-run"),
        ("ae", vec!["--encoder-l2", "0.1"], "--encoder-l2"),
        ("ae", vec!["--encoder-noise", "0.1"], "--encoder-noise"),
        ("vae", vec!["--encoder-noise", "2"], "--encoder-noise"),
        ("ae", vec!["--optimizer", "sgd"], "--optimizer"),
        ("vae", vec!["--outliers", "0.5"], "--outliers"),
        ("classifier", vec!["--straight-ones", "0.5"], "--straight-ones"),
        ("classifier-best", vec!["--straight-ones", "2"], "--straight-ones"),
        ("classifier-best", vec!["--outliers", "5"], "--outliers"),
        ("classifier-best", vec!["--outliers", "NaN"], "--outliers"),
        ("classifier-best", vec!["--outliers=-1"], "--outliers"),
        ("classifier-best", vec!["--outlier-weight", "1"], "--outliers"),
        ("classifier-best", vec!["--outliers", "0.5", "--outlier-weight", "inf"], "--outlier-weight"),
        ("classifier-best", vec!["--outliers-left-out", "smiley"], "--outliers"),
        ("classifier-best", vec!["--outliers", "0.5", "--outliers-left-out", "smiley,elephant"], "elephant"),
        ("classifier-best", vec!["--outliers", "0.5", "--outliers-left-out", "dot,dot"], "dot"),
        ("ae", vec!["--data", "/nonexistent-data"], "/nonexistent-data"),
        ("all", vec!["--run-dir", "x"], "--run-dir"),
    ];
    for (model, extra, expected) in &cases {
        let mut args = base(model);
        // A case that sets a flag the base sets replaces it.
        if let Some(at) = args.iter().position(|a| a == extra[0]) {
            args.drain(at..at + 2);
        }
        let out = bin().args(args).args(extra).output().unwrap();
        assert_clean_error(
            &out,
            expected,
            &format!("train {model} {}", extra.join(" ")),
        );
    }
    // --resume takes nothing that defines a run, and needs a run.
    for (extra, expected) in [
        (vec!["--resume", "/nonexistent-run"], "run.json"),
        (vec!["--resume", file], "run.json"),
        (vec!["--resume", "/x", "--lr", "0.1"], "--lr"),
        (vec!["--resume", "/x", "--run-dir", "/y"], "--run-dir"),
        (vec!["--resume", "/x", "ae"], "cannot be used with"),
    ] {
        let out = bin().arg("train").args(&extra).output().unwrap();
        assert_clean_error(&out, expected, &extra.join(" "));
    }
    // Nothing was written: no run directory was made by any refused command.
    assert!(!runs.exists() || std::fs::read_dir(&runs).unwrap().next().is_none());
    std::fs::remove_dir_all(dir).ok();
}

/// `digit-lab eval` of the models in `weights` on the small data.
fn eval(weights: &Path, data: &Path) -> Output {
    bin()
        .arg("eval")
        .arg("--weights")
        .arg(weights)
        .arg("--data")
        .arg(data)
        .args(["--valid-size", "50"])
        .output()
        .unwrap()
}

/// `digit-lab predict --model ae` on `images` with the models in `weights`.
fn predict_ae(images: &Path, weights: &Path) -> Output {
    bin()
        .args(["predict", "--model", "ae", "--images"])
        .arg(images)
        .arg("--weights")
        .arg(weights)
        .output()
        .unwrap()
}

/// A weights directory with one trained ConvAE in it.
fn trained_store(dir: &Path, data: &Path) -> PathBuf {
    let weights = dir.join("weights");
    publish_one(data, "ae", &dir.join("run"), &weights);
    weights
}

/// Trains `model` for one epoch into `run` and publishes it into `weights`.
fn publish_one(data: &Path, model: &str, run: &Path, weights: &Path) {
    let out = bin()
        .args(["train", model, "--data", data.to_str().unwrap()])
        .args([
            "--valid-size",
            "50",
            "--epochs",
            "1",
            "--quiet",
            "--run-dir",
        ])
        .arg(run)
        .arg("--publish")
        .arg(weights)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_bad_manifest_field_is_a_clean_error_that_touches_nothing() {
    let dir = scratch("manifest");
    let data = small_data(&dir, 300);
    let weights = trained_store(&dir, &data);
    let good: serde_json::Value =
        serde_json::from_slice(&std::fs::read(weights.join("manifest.json")).unwrap()).unwrap();
    let images = dir.join("images.idx");
    std::fs::write(&images, encode_images(&common::synthetic(3, 5).images)).unwrap();
    let weights_file = weights.join(good["models"]["ae"]["file"].as_str().unwrap());
    let set = |pointer: &str, value: serde_json::Value| {
        let mut m = good.clone();
        *m.pointer_mut(pointer).unwrap() = value;
        serde_json::to_vec_pretty(&m).unwrap()
    };
    // (case, manifest, what the error names, whether the manifest is unreadable as a whole:
    // then `publish` must refuse it too; a bad entry is replaced by publishing, as it should be)
    let cases: Vec<(&str, Vec<u8>, &str, bool)> = vec![
        (
            "code 0",
            set("/models/ae/hyperparameters/model/code", 0.into()),
            "code = 0",
            false,
        ),
        (
            "c1 1e9",
            set("/models/ae/hyperparameters/model/c1", 1_000_000_000.into()),
            "c1",
            false,
        ),
        (
            "no architecture",
            set("/models/ae/hyperparameters/model", serde_json::Value::Null),
            "architecture",
            false,
        ),
        (
            "misspelt architecture field",
            set(
                "/models/ae/hyperparameters/model",
                serde_json::json!({"c1": 8, "c2": 16, "c3": 64, "fc": 64, "dropout": 0.1, "code": 2, "codeSize": 8}),
            ),
            "unknown field `codeSize`",
            false,
        ),
        (
            "null loss",
            set("/models/ae/best_valid_loss", serde_json::Value::Null),
            "manifest.json",
            true,
        ),
        (
            "path outside",
            set("/models/ae/file", "../../etc/passwd".into()),
            "not a file name",
            true,
        ),
        (
            "wrong hash",
            set("/models/ae/sha256", "00".repeat(32).into()),
            "SHA-256",
            false,
        ),
        ("not json", b"{ not json".to_vec(), "manifest.json", true),
        ("empty", Vec::new(), "manifest.json", true),
    ];
    for (case, manifest, expected, unreadable) in &cases {
        std::fs::write(weights.join("manifest.json"), manifest).unwrap();
        let before = std::fs::read_dir(&weights).unwrap().count();
        let mut commands: Vec<Vec<String>> = vec![
            vec![
                "eval".into(),
                "--weights".into(),
                weights.display().to_string(),
                "--data".into(),
                data.display().to_string(),
                "--valid-size".into(),
                "50".into(),
            ],
            vec![
                "predict".into(),
                "--model".into(),
                "ae".into(),
                "--images".into(),
                images.display().to_string(),
                "--weights".into(),
                weights.display().to_string(),
            ],
            vec![
                "train".into(),
                "ae".into(),
                "--init-from".into(),
                weights.display().to_string(),
                "--data".into(),
                data.display().to_string(),
                "--valid-size".into(),
                "50".into(),
                "--run-dir".into(),
                dir.join("never").display().to_string(),
            ],
        ];
        if *unreadable {
            commands.push(vec![
                "publish".into(),
                dir.join("run").display().to_string(),
                "--to".into(),
                weights.display().to_string(),
            ]);
        }
        for command in commands {
            let out = bin().args(&command).output().unwrap();
            assert_clean_error(&out, expected, &format!("{case}: {}", command[0]));
        }
        assert_eq!(
            std::fs::read(weights.join("manifest.json")).unwrap(),
            *manifest,
            "{case}: manifest rewritten"
        );
        assert_eq!(
            std::fs::read_dir(&weights).unwrap().count(),
            before,
            "{case}: files changed"
        );
        assert!(!dir.join("never").exists());
    }
    // Non-finite weights are rejected when loaded (a damaged model whose hash matches).
    std::fs::write(
        weights.join("manifest.json"),
        serde_json::to_vec(&good).unwrap(),
    )
    .unwrap();
    let store = digit_lab::model::weights_dir::WeightsDir::open(&weights).unwrap();
    let ae = store
        .load(
            digit_lab::model::ModelKind::Ae,
            &burn::prelude::Device::flex(),
        )
        .unwrap()
        .into_conv_ae()
        .unwrap();
    struct Poison;
    impl burn::module::ModuleMapper for Poison {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<burn::prelude::Tensor<D>>,
        ) -> burn::module::Param<burn::prelude::Tensor<D>> {
            param.map(|t| t.clone() / t.zeros_like())
        }
    }
    use burn::module::Module;
    let nan = digit_lab::model::store::to_bytes(ae.map(&mut Poison), "ae").unwrap();
    std::fs::write(&weights_file, &nan).unwrap();
    let hash = digit_lab::model::weights_dir::sha256_hex(&nan);
    std::fs::write(
        weights.join("manifest.json"),
        set("/models/ae/sha256", hash.into()),
    )
    .unwrap();
    let out = predict_ae(&images, &weights);
    assert_clean_error(&out, "non-finite", "NaN weight");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn eval_on_an_empty_test_split_is_an_error() {
    let dir = scratch("empty-test");
    let data = small_data(&dir, 300);
    let weights = trained_store(&dir, &data);
    let [_, _, tei, tel] = FILES;
    std::fs::write(data.join(tei), encode_images(&[])).unwrap();
    std::fs::write(data.join(tel), encode_labels(&[])).unwrap();
    let out = eval(&weights, &data);
    assert_clean_error(&out, "test split is empty", "empty test split");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn eval_reports_what_it_can_and_lists_what_it_cannot() {
    let dir = scratch("eval");
    let data = small_data(&dir, 300);
    let weights = trained_store(&dir, &data);
    publish_one(&data, "classifier-best", &dir.join("cb"), &weights);
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(weights.join("manifest.json")).unwrap()).unwrap();
    let ae_file = weights.join(manifest["models"]["ae"]["file"].as_str().unwrap());
    std::fs::write(&ae_file, b"not weights").unwrap();
    manifest["models"]["ae"]["sha256"] =
        digit_lab::model::weights_dir::sha256_hex(b"not weights").into();
    std::fs::write(
        weights.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let out = eval(&weights, &data);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success());
    assert!(stdout.contains("classifier_best"), "{stdout}");
    assert!(
        stderr.contains("ae:") && stderr.contains("1 of 2 models"),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn predict_handles_a_closed_stdout_an_empty_file_and_a_huge_wrong_file() {
    let dir = scratch("predict");
    let data = small_data(&dir, 300);
    let weights = trained_store(&dir, &data);
    let images = dir.join("many.idx");
    std::fs::write(&images, encode_images(&common::synthetic(2000, 3).images)).unwrap();
    // `predict … | head -1`: the reader goes away after one line.
    let mut child = bin()
        .args([
            "predict",
            "--model",
            "ae",
            "--images",
            images.to_str().unwrap(),
            "--weights",
        ])
        .arg(&weights)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success() || status.code() == Some(141),
        "{status:?} {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // No images: an error, not an empty line.
    let empty = dir.join("empty.idx");
    std::fs::write(&empty, encode_images(&[])).unwrap();
    let out = predict_ae(&empty, &weights);
    assert_clean_error(&out, "no images", "empty file");
    // A 4 GiB sparse file of the wrong kind is refused from its header, quickly.
    let huge = dir.join("huge.idx");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(1 << 32)
        .unwrap();
    let started = std::time::Instant::now();
    let out = predict_ae(&huge, &weights);
    assert_clean_error(&out, "magic", "huge file");
    assert!(started.elapsed().as_secs() < 10, "the body was read");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn digit_check_writes_a_candidate_or_the_page_file_never_both() {
    let out = bin()
        .args([
            "digit-check",
            "--final",
            "--candidate-out",
            "/tmp/never-written.json",
        ])
        .output()
        .unwrap();
    assert_clean_error(
        &out,
        "--candidate-out",
        "digit-check --final --candidate-out",
    );
    assert!(!Path::new("/tmp/never-written.json").exists());
}

#[test]
fn record_run_summarises_a_convae_run_once_and_refuses_any_other() {
    let dir = scratch("record-run");
    let data = small_data(&dir, 300);
    let file = dir.join("search/full-runs.jsonl");
    let record = |run: &Path| {
        bin()
            .args(["record-run", "--data", data.to_str().unwrap()])
            .arg(run)
            .arg("--to")
            .arg(&file)
            .output()
            .unwrap()
    };
    trained_store(&dir, &data);
    for _ in 0..2 {
        let out = record(&dir.join("run"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 1, "recorded twice:\n{text}");
    let run: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(run["run"], "run");
    assert_eq!(run["model"], "ae");
    assert_eq!(
        (run["epochs"].as_u64(), run["valid_size"].as_u64()),
        (Some(1), Some(50))
    );
    assert_eq!(run["valid_curve"].as_array().map(Vec::len), Some(1));
    let knn = run["valid_knn5"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&knn), "{knn}");

    publish_one(&data, "vae", &dir.join("vae-run"), &dir.join("vae-weights"));
    assert_clean_error(
        &record(&dir.join("vae-run")),
        "no finished ae or dae",
        "record-run of a VAE run",
    );
    assert_clean_error(
        &record(&dir.join("no-such-run")),
        "no-such-run",
        "record-run of a missing directory",
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
}
