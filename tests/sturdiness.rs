//! What a hostile user found in round two (issue 30), one test per finding: a weights directory
//! without its manifest, floats through JSON, a kill while a run is being created, relative
//! paths, a history holding null, two processes on one run or one store, messages, stores
//! without hashes, publishing into itself or over a better model, and training that never
//! reads the test split. Small synthetic data, so the file runs in seconds.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::process::{bin, run_ok, sigkill, spawn_paused, spawn_paused_in, stderr};
use digit_lab::data::mnist::FILES;
use digit_lab::model::ModelKind;
use digit_lab::model::weights_dir::WeightsDir;

fn scratch(name: &str) -> PathBuf {
    common::scratch_dir("sturdy", name)
}

fn run_err(command: &mut Command, expected: &str) -> String {
    let out = command.output().unwrap();
    let text = stderr(&out);
    assert!(!out.status.success(), "accepted:\n{text}");
    assert!(!text.contains("panicked"), "panicked:\n{text}");
    assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    text
}

/// A short run of `model` on `data` into `run_dir`.
fn train_args(model: &str, data: &Path, run_dir: &Path, epochs: usize) -> Vec<String> {
    let epochs = epochs.to_string();
    let args = [
        "train",
        model,
        "--data",
        data.to_str().unwrap(),
        "--valid-size",
        "100",
        "--epochs",
        &epochs,
        "--batch-size",
        "64",
        "--quiet",
        "--run-dir",
        run_dir.to_str().unwrap(),
    ];
    args.map(String::from).to_vec()
}

fn publish(run: &Path, to: &Path) -> Command {
    let mut c = bin();
    c.arg("publish").arg(run).arg("--to").arg(to);
    c
}

/// File name → bytes of every file in `dir`.
fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                common::read(&e.path()),
            )
        })
        .collect()
}

/// A store holding a published ConvAE and VAE, and the run directories they came from.
fn store_with_two_models(dir: &Path, data: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let weights = dir.join("weights");
    let (ae, vae) = (dir.join("ae-run"), dir.join("vae-run"));
    run_ok(bin().args(train_args("ae", data, &ae, 1)));
    run_ok(bin().args(train_args("vae", data, &vae, 1)));
    run_ok(&mut publish(&ae, &weights));
    run_ok(&mut publish(&vae, &weights));
    (weights, ae, vae)
}

#[test]
fn publishing_into_a_store_without_its_manifest_deletes_nothing() {
    let dir = scratch("no-manifest");
    let data = common::small_mnist(&dir, 300, 50);
    let (weights, ae, _) = store_with_two_models(&dir, &data);
    std::fs::remove_file(weights.join("manifest.json")).unwrap();
    let before = files(&weights);
    assert_eq!(before.len(), 4, "two weights files and two histories");
    run_err(&mut publish(&ae, &weights), "no readable manifest.json");
    assert_eq!(files(&weights), before, "every file is still there");
    // The same through `train --publish`, refused before any epoch.
    let mut args = train_args("ae", &data, &dir.join("again"), 1);
    args.extend(["--publish".into(), weights.display().to_string()]);
    run_err(bin().args(&args), "no readable manifest.json");
    assert_eq!(files(&weights), before);
    // A manifest that is a dangling link is no empty store either.
    std::os::unix::fs::symlink(dir.join("nowhere.json"), weights.join("manifest.json")).unwrap();
    run_err(&mut publish(&ae, &weights), "link to a missing file");
    assert_eq!(files(&weights), before);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn floats_survive_a_json_round_trip() {
    // The values the hostile test saw change (an epoch's lr, the VAE's train_seconds) ...
    for text in ["0.00021410601988619394", "13801.533607142997"] {
        let value: f64 = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), text);
    }
    // ... and 100,000 random finite doubles, bit for bit.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..100_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let value = f64::from_bits(state);
        if !value.is_finite() {
            continue;
        }
        let back: f64 = serde_json::from_str(&serde_json::to_string(&value).unwrap()).unwrap();
        assert_eq!(back.to_bits(), value.to_bits(), "{value:e}");
    }
}

/// The lines of a pretty-printed history without the timings (which differ between runs).
fn history_text(run: &Path, key: &str) -> Vec<String> {
    let store = WeightsDir::open(run).unwrap();
    let kind = ModelKind::ALL.into_iter().find(|k| k.key() == key).unwrap();
    store
        .read_history(kind)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("second"))
        .map(String::from)
        .collect()
}

#[test]
fn resumed_and_republished_figures_are_the_same_text() {
    let dir = scratch("float-text");
    let data = common::small_mnist(&dir, 600, 50);
    let (whole, killed) = (dir.join("whole"), dir.join("killed"));
    let args = |run: &Path| {
        let mut a = train_args("ae", &data, run, 4);
        a.extend(["--average-from", "2"].map(String::from));
        a
    };
    run_ok(bin().args(args(&whole)));
    for epoch in 1..4 {
        let point = format!("checkpoint:committed:{epoch}");
        let resume = ["train", "--resume", killed.to_str().unwrap(), "--quiet"].map(String::from);
        let run_args = if epoch == 1 {
            args(&killed)
        } else {
            resume.to_vec()
        };
        sigkill(spawn_paused(&run_args, &point));
    }
    run_ok(bin().args(["train", "--resume", killed.to_str().unwrap(), "--quiet"]));
    assert_eq!(history_text(&whole, "ae"), history_text(&killed, "ae"));
    // Publishing one model leaves every other entry's text as it was.
    let weights = dir.join("weights");
    let vae = dir.join("vae");
    run_ok(bin().args(train_args("vae", &data, &vae, 1)));
    run_ok(&mut publish(&vae, &weights));
    let entry_text = |key: &str| -> String {
        let manifest = String::from_utf8(common::read(&weights.join("manifest.json"))).unwrap();
        let start = manifest.find(&format!("\"{key}\": {{")).unwrap();
        let end = start + manifest[start..].find("\n    }").unwrap();
        manifest[start..end].to_string()
    };
    let vae_before = entry_text("vae");
    run_ok(&mut publish(&whole, &weights));
    assert_eq!(entry_text("vae"), vae_before);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_kill_while_a_run_is_created_leaves_a_directory_that_can_be_reused() {
    let dir = scratch("kill-create");
    let data = common::small_mnist(&dir, 300, 50);
    let run = dir.join("runs/one");
    let args = train_args("ae", &data, &run, 1);
    sigkill(spawn_paused(&args, "run:staged"));
    assert!(!run.join("run.json").exists());
    // What an interrupted creation of an earlier version left (start weights, no run.json).
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("start.bpk"), b"partial").unwrap();
    run_ok(bin().args(&args));
    run_ok(
        bin()
            .args(["eval", "--weights", run.to_str().unwrap()])
            .args(["--data", data.to_str().unwrap(), "--valid-size", "100"]),
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["one"], "the killed creation's staging is swept");
    // A directory holding anything else is still refused.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), b"mine").unwrap();
    run_err(
        bin().args(train_args("ae", &data, &other, 1)),
        "already exists",
    );
    assert_eq!(common::read(&other.join("notes.txt")), b"mine");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_run_started_with_relative_paths_resumes_from_anywhere() {
    let dir = scratch("relative");
    common::small_mnist(&dir, 300, 50);
    let args = train_args("ae", Path::new("data"), Path::new("runs/r"), 2);
    sigkill(spawn_paused_in(&dir, &args, "checkpoint:committed:1"));
    let run = dir.join("runs/r");
    // Resumed from the repository root, not from where it was started.
    let out = run_ok(bin().args(["train", "--resume", run.to_str().unwrap(), "--quiet"]));
    assert!(
        stderr(&out).contains("resuming after epoch 1"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_history_holding_null_is_not_published() {
    let dir = scratch("null-history");
    let data = common::small_mnist(&dir, 300, 50);
    let run = dir.join("run");
    run_ok(bin().args(train_args("ae", &data, &run, 2)));
    let store = WeightsDir::open(&run).unwrap();
    let history = run.join(&store.manifest.models["ae"].history);
    let text = String::from_utf8(common::read(&history)).unwrap();
    let at = text.find("\"train_loss\": ").unwrap() + "\"train_loss\": ".len();
    let end = at + text[at..].find(',').unwrap();
    std::fs::write(&history, format!("{}null{}", &text[..at], &text[end..])).unwrap();
    let weights = dir.join("weights");
    run_err(&mut publish(&run, &weights), "history of `ae`");
    assert!(!weights.join("manifest.json").exists());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn one_run_and_one_store_take_one_writer_at_a_time() {
    let dir = scratch("locks");
    let data = common::small_mnist(&dir, 300, 50);
    let run = dir.join("run");
    let resume = ["train", "--resume", run.to_str().unwrap(), "--quiet"].map(String::from);
    sigkill(spawn_paused_in(
        &dir,
        &train_args("ae", &data, &run, 3),
        "checkpoint:committed:1",
    ));
    let first = spawn_paused_in(&dir, &resume, "checkpoint:committed:2");
    let text = run_err(bin().args(&resume), "another process is training this run");
    assert!(!text.contains("resuming after"), "{text}");
    sigkill(first);
    run_ok(bin().args(&resume));
    // A publish stuck inside its commit holds the store: the next one says so and gives up.
    let weights = dir.join("weights");
    let publish_args = [
        "publish",
        run.to_str().unwrap(),
        "--to",
        weights.to_str().unwrap(),
    ];
    let stuck = spawn_paused_in(
        &dir,
        &publish_args.map(String::from),
        "commit:files-written",
    );
    let started = Instant::now();
    let text = run_err(
        publish(&run, &weights).env("DIGIT_LAB_LOCK_TIMEOUT", "2"),
        "held this directory's lock for 2 s",
    );
    assert!(text.contains("waiting for its lock"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(60));
    sigkill(stuck);
    run_ok(&mut publish(&run, &weights));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn messages_name_the_flag_say_each_cause_once_and_nothing_before_the_error() {
    let dir = scratch("messages");
    let data = common::small_mnist(&dir, 300, 50);
    for (flag, value) in [("--dropout", "nan"), ("--lr", "inf"), ("--l2", "NaN")] {
        let mut args = train_args("ae", &data, &dir.join("never"), 1);
        args.extend([flag.to_string(), value.to_string()]);
        run_err(bin().args(&args), flag);
    }
    let missing = dir.join("missing");
    for args in [
        vec!["eval", "--data", missing.to_str().unwrap()],
        train_args("ae", &missing, &dir.join("never"), 1)
            .iter()
            .map(String::as_str)
            .collect(),
    ] {
        let text = run_err(bin().args(&args), "missing");
        assert_eq!(text.matches("os error 2").count(), 1, "{text}");
    }
    // A damaged checkpoint is the first and only thing said.
    let run = dir.join("run");
    sigkill(spawn_paused_in(
        &dir,
        &train_args("ae", &data, &run, 2),
        "checkpoint:committed:1",
    ));
    std::fs::write(run.join("checkpoint.json"), b"{\"progress\": ").unwrap();
    let text = run_err(
        bin().args(["train", "--resume", run.to_str().unwrap()]),
        "damaged checkpoint",
    );
    assert!(!text.contains("starting it"), "{text}");
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_store_entry_without_its_hash_is_refused() {
    let dir = scratch("no-hash");
    let data = common::small_mnist(&dir, 300, 50);
    let (weights, _, _) = store_with_two_models(&dir, &data);
    let path = weights.join("manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&common::read(&path)).unwrap();
    manifest["models"]["ae"]
        .as_object_mut()
        .unwrap()
        .remove("sha256");
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    let store = WeightsDir::open(&weights).unwrap();
    let err = store.read_weights(ModelKind::Ae).unwrap_err().to_string();
    assert!(err.contains("has no sha256"), "{err}");
    let eval = bin()
        .args(["eval", "--weights", weights.to_str().unwrap()])
        .args(["--data", data.to_str().unwrap(), "--valid-size", "100"])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&eval.stdout), stderr(&eval));
    assert!(text.contains("has no sha256"), "{text}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn publish_refuses_itself_and_a_worse_model() {
    let dir = scratch("publish-guards");
    let data = common::small_mnist(&dir, 600, 50);
    let run = dir.join("run");
    run_ok(bin().args(train_args("ae", &data, &run, 4)));
    let before = files(&run);
    run_err(&mut publish(&run, &run), "into itself");
    assert_eq!(files(&run), before);
    let weights = dir.join("weights");
    run_ok(&mut publish(&run, &weights));
    // A model that did worse on the same validation split (one epoch instead of four) does not
    // replace it, through `train --publish` or `publish` ...
    let worse = dir.join("worse");
    let mut args = train_args("ae", &data, &worse, 1);
    args.extend(["--publish", weights.to_str().unwrap()].map(String::from));
    let kept = files(&weights);
    run_err(bin().args(&args), "already holds a better `ae`");
    run_err(
        &mut publish(&worse, &weights),
        "already holds a better `ae`",
    );
    assert_eq!(files(&weights), kept);
    // ... unless asked to.
    run_ok(publish(&worse, &weights).arg("--replace-better"));
    assert_ne!(files(&weights), kept);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn training_never_reads_the_test_split() {
    let dir = scratch("no-test");
    let data = common::small_mnist(&dir, 300, 50);
    for test_file in &FILES[2..] {
        std::fs::write(data.join(test_file), b"not an IDX file").unwrap();
    }
    let run = dir.join("run");
    run_ok(bin().args(train_args("ae", &data, &run, 1)));
    let spec: serde_json::Value =
        serde_json::from_slice(&common::read(&run.join("run.json"))).unwrap();
    let recorded: Vec<&String> = spec["data"]["sha256"].as_object().unwrap().keys().collect();
    assert_eq!(recorded, [FILES[0], FILES[1]]);
    // Only publishing reads the test split.
    run_err(&mut publish(&run, &dir.join("weights")), FILES[2]);
    std::fs::remove_dir_all(dir).ok();
}
