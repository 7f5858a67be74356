//! The trainer binary end to end: `predict` on an IDX file, and its errors.

mod common;

use std::process::Command;

use digit_lab::data::idx::encode_images;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_digit-lab"));
    c.current_dir(common::root());
    c
}

/// Runs `command` and returns its output, failing the test with its stderr if it failed.
fn run_ok(command: &mut Command) -> std::process::Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("digit-lab-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn predict_prints_json_lines() {
    let m = common::real_mnist();
    let n = 50;
    let (images, labels) = (
        m.test.images[..n * 784].to_vec(),
        m.test.labels[..n].to_vec(),
    );
    let path = temp("images.idx", &encode_images(&images));
    let out = run_ok(
        bin()
            .args(["predict", "--model", "classifier-best", "--images"])
            .arg(&path),
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), images.len() / 784);
    let mut correct = 0;
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["index"], i);
        let probs: Vec<f64> = line["probs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap())
            .collect();
        assert_eq!(probs.len(), 10);
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-4);
        if labels.get(i).is_some_and(|&l| line["label"] == l) {
            correct += 1;
        }
    }
    assert!(correct >= 48, "{correct}/50 test digits right");
    for model in ["ae", "vae"] {
        let out = bin()
            .args(["predict", "--model", model, "--images"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success());
        let first: serde_json::Value = serde_json::from_str(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(first["code"].as_array().unwrap().len(), 2);
    }
    std::fs::remove_file(path).unwrap();
}

#[test]
fn predict_reports_a_malformed_idx_file() {
    let path = temp("bad.idx", b"\x00\x00\x08\x01\x00\x00\x00\x01\x07");
    let out = bin()
        .args(["predict", "--model", "classifier", "--images"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.idx") && err.contains("magic"), "{err}");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn wgpu_without_the_feature_is_a_clear_error() {
    if cfg!(feature = "wgpu") {
        return;
    }
    let out = bin()
        .args(["bench", "--backend", "wgpu", "--steps", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--features wgpu"));
}

/// `COMMAND --FLAG=value` fails with `message` for each bad value.
fn rejects_values(command: &[&str], flag: &str, bad_values: &[&str], message: &str) {
    for bad in bad_values {
        let out = bin()
            .args(command)
            .arg(format!("--{flag}={bad}"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "--{flag}={bad} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{stderr}");
    }
}

#[test]
fn an_invalid_tsne_theta_is_a_clear_error() {
    rejects_values(
        &["export-maps", "--validate-tsne"],
        "tsne-theta",
        &["0", "-1", "1.5", "abc"],
        "expected a number in (0, 1]",
    );
}

#[test]
fn an_invalid_tsne_exaggeration_is_a_clear_error() {
    rejects_values(
        &["export-maps", "--validate-tsne"],
        "tsne-exaggeration",
        &["0.5", "-2", "NaN", "1e9", "abc"],
        "expected a factor in [1, 100]",
    );
}

#[test]
fn eval_publish_and_resume_need_their_files() {
    let dir = std::env::temp_dir().join(format!("digit-lab-cli-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (args, message) in [
        (vec!["eval", "--weights"], "manifest.json"),
        (vec!["publish"], "run.json"),
        (vec!["train", "--resume"], "run.json"),
    ] {
        let out = bin().args(args).arg(&dir).output().unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{stderr}");
    }
}

#[test]
fn init_from_continues_a_finished_run_and_carries_its_history() {
    let dir = std::env::temp_dir().join(format!("digit-lab-cli-warm-{}", std::process::id()));
    let (first, second) = (dir.join("first"), dir.join("second"));
    // Refused before any data is read.
    let out = bin()
        .args(["train", "classifier", "--init-from"])
        .arg(&first)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--init-from is for"));
    common::real_mnist();
    let short_run = ["--limit-train", "2048", "--epochs", "1", "--quiet"];
    let out = bin()
        .args(["train", "ae", "--init-from"])
        .arg(&first)
        .args(["--run-dir"])
        .arg(&second)
        .args(short_run)
        .output()
        .unwrap();
    assert!(!out.status.success(), "no finished run in {first:?} yet");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("manifest.json"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let train = |extra: &[&str], out_dir: &std::path::Path| {
        run_ok(
            bin()
                .args(["train", "ae", "--run-dir"])
                .arg(out_dir)
                .args(short_run)
                .args(extra),
        );
        let text = std::fs::read_to_string(out_dir.join("manifest.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["models"]["ae"].clone()
    };
    // A first phase that learns (validation MSE ~0.20 against ~0.23 at the start), then phases
    // too slow to learn anything (lr 1e-7): a continued one must end where the first ended, a
    // fresh one where a new model starts.
    let before = train(&["--lr", "1e-2"], &first);
    let first_dir = first.to_str().unwrap();
    let still = ["--lr", "1e-7", "--average-from", "1"];
    let after = train(&[&["--init-from", first_dir][..], &still].concat(), &second);
    let fresh = train(&still, &dir.join("fresh"));
    assert_eq!(after["epochs"], 2);
    assert_eq!(after["hyperparameters"]["warm_start"]["epochs"], 1);
    assert_eq!(after["hyperparameters"]["average_from"], 1);
    assert!(after["train_seconds"].as_f64() > before["train_seconds"].as_f64());
    let history_file = second.join(after["history"].as_str().unwrap());
    let history: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(history_file).unwrap()).unwrap();
    let epochs: Vec<_> = history
        .iter()
        .map(|e| e["epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(epochs, [1, 2]);
    assert_eq!(history[1]["averaged_epochs"], 1);
    let loss = |entry: &serde_json::Value| entry["best_valid_loss"].as_f64().unwrap();
    let (first_loss, continued, new) = (loss(&before), loss(&after), loss(&fresh));
    assert!(
        (continued - first_loss).abs() < 1e-3 * first_loss && new > 1.05 * first_loss,
        "validation: first phase {first_loss}, continued {continued}, fresh {new}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn vae_training_options_are_checked_and_recorded() {
    rejects_values(
        &["train", "vae"],
        "encoder-noise",
        &["-0.1", "1.5", "NaN", "abc"],
        "expected a number in [0, 1]",
    );
    rejects_values(
        &["train", "ae"],
        "encoder-l2",
        &["0", "1e-2"],
        "--encoder-l2 is for `train vae` only",
    );
    rejects_values(&["train", "vae"], "optimizer", &["sgd"], "adamw");
    common::real_mnist();
    let dir = std::env::temp_dir().join(format!("digit-lab-cli-vae-{}", std::process::id()));
    run_ok(
        bin()
            .args(["train", "vae", "--encoder-noise", "0.2", "--run-dir"])
            .arg(dir.join("run"))
            .args(["--publish"])
            .arg(dir.join("weights"))
            .args(["--optimizer", "adamw", "--l2", "0.1", "--encoder-l2", "0"])
            .args(["--limit-train", "1024", "--epochs", "1", "--quiet"]),
    );
    let text = std::fs::read_to_string(dir.join("weights/manifest.json")).unwrap();
    let vae = &serde_json::from_str::<serde_json::Value>(&text).unwrap()["models"]["vae"];
    let h = &vae["hyperparameters"];
    assert!((h["encoder_noise"].as_f64().unwrap() - 0.2).abs() < 1e-6);
    assert_eq!(h["optimizer"], "adamw");
    assert_eq!(
        (
            h["weight_decay"].as_f64(),
            h["encoder_weight_decay"].as_f64()
        ),
        (Some(0.1), Some(0.0))
    );
    // Scored on clean test images: a finite negative ELBO made of its two parts.
    let test = &vae["test"];
    let (neg_elbo, recon, kl) = (
        test["neg_elbo"].as_f64().unwrap(),
        test["recon"].as_f64().unwrap(),
        test["kl"].as_f64().unwrap(),
    );
    assert!(neg_elbo.is_finite() && (recon + kl - neg_elbo).abs() < 1e-2 * neg_elbo);
    std::fs::remove_dir_all(&dir).ok();
}
