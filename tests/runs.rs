//! Training runs that survive anything: checkpoints and `--resume` (a resumed run ends
//! identical to an uninterrupted one), SIGKILL at named and random instants (every model in a
//! weights directory still loads, matches its hash, and nothing committed earlier changes), and
//! a table of bad flags and bad manifest fields (a clean error naming the culprit, never a
//! panic). Small synthetic data, so the whole file runs in seconds.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use burn::prelude::*;
use common::process::{bin, run_ok, sigkill, spawn_paused, stderr};
use digit_lab::model::ModelKind;
use digit_lab::model::weights_dir::{WeightsDir, sha256_hex};
use serde_json::{Value, json};

fn scratch(name: &str) -> PathBuf {
    common::scratch_dir("runs", name)
}

/// 600 training images (the runs validate on the last 100), 100 test images.
fn small_data(dir: &Path) -> PathBuf {
    common::small_mnist(dir, 600, 100)
}

/// A short ConvAE run with dropout, a cosine schedule and weight averaging: every kind of state
/// a checkpoint must carry.
fn ae_run(data: &Path, run_dir: &Path) -> Vec<String> {
    [
        "train",
        "ae",
        "--data",
        data.to_str().unwrap(),
        "--valid-size",
        "100",
        "--epochs",
        "5",
        "--batch-size",
        "64",
        "--average-from",
        "3",
        "--quiet",
        "--run-dir",
        run_dir.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

/// The run's finished model entry, and its history with the timings removed.
fn result(run_dir: &Path, key: &str) -> (Value, Vec<Value>) {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("manifest.json")).unwrap()).unwrap();
    let entry = manifest["models"][key].clone();
    let history: Vec<Value> = serde_json::from_slice(
        &std::fs::read(run_dir.join(entry["history"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let history = history
        .into_iter()
        .map(|mut e| {
            let o = e.as_object_mut().unwrap();
            o.remove("seconds");
            o.remove("train_samples_per_second");
            e
        })
        .collect();
    (entry, history)
}

/// Every parameter value of a finished run's model, as bits (the files also hold parameter ids,
/// which differ between any two runs).
fn weight_values(run_dir: &Path, kind: ModelKind) -> Vec<Vec<u32>> {
    use burn::module::{Module, ModuleVisitor, Param};
    struct Collect(Vec<Vec<u32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let values: Vec<f32> = param.val().into_data().try_to_vec::<f32>().unwrap();
            self.0.push(values.into_iter().map(f32::to_bits).collect());
        }
    }
    let mut collect = Collect(Vec::new());
    match WeightsDir::open(run_dir)
        .unwrap()
        .load(kind, &Device::flex())
        .unwrap()
    {
        digit_lab::model::Model::ConvAe(m) => m.visit(&mut collect),
        digit_lab::model::Model::Vae(m) => m.visit(&mut collect),
        digit_lab::model::Model::Classifier(m) => m.visit(&mut collect),
        _ => unreachable!(),
    }
    collect.0
}

#[test]
fn a_resumed_run_ends_identical_to_an_uninterrupted_one() {
    let dir = scratch("resume");
    let data = small_data(&dir);
    let (whole, killed) = (dir.join("whole"), dir.join("killed"));
    run_ok(bin().args(ae_run(&data, &whole)));
    // Killed right after the checkpoint of epoch 3 (averaging has started), then resumed twice:
    // once more killed while writing epoch 4's files, then to the end.
    sigkill(spawn_paused(
        &ae_run(&data, &killed),
        "checkpoint:committed:3",
    ));
    let resume = ["train", "--resume", killed.to_str().unwrap(), "--quiet"].map(String::from);
    sigkill(spawn_paused(&resume, "checkpoint:files-written:4"));
    let out = run_ok(bin().args(&resume));
    assert!(
        stderr(&out).contains("resuming after epoch 3"),
        "{}",
        stderr(&out)
    );
    let (a, history_a) = result(&whole, "ae");
    let (b, history_b) = result(&killed, "ae");
    assert_eq!(history_a, history_b, "per-epoch losses");
    assert_eq!(
        weight_values(&whole, ModelKind::Ae),
        weight_values(&killed, ModelKind::Ae),
        "the weights are bit-identical"
    );
    assert_eq!(a["best_valid_loss"], b["best_valid_loss"]);
    assert_eq!(history_a.len(), 5);
    assert_eq!(history_a[4]["averaged_epochs"], 3);
    // A finished run is not trained again; `--resume` takes no settings.
    let out = bin().args(&resume).output().unwrap();
    assert!(
        !out.status.success() && stderr(&out).contains("publish"),
        "{}",
        stderr(&out)
    );
    let out = bin().args(&resume).args(["--lr", "0.1"]).output().unwrap();
    assert!(
        !out.status.success() && stderr(&out).contains("--lr"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_resumed_vae_run_ends_identical_too() {
    let dir = scratch("resume-vae");
    let data = small_data(&dir);
    let args = |run: &Path| -> Vec<String> {
        let mut a = ae_run(&data, run);
        a[1] = "vae".into();
        a.extend(["--encoder-noise", "0.1", "--encoder-l2", "1e-3"].map(String::from));
        a
    };
    let (whole, killed) = (dir.join("whole"), dir.join("killed"));
    run_ok(bin().args(args(&whole)));
    sigkill(spawn_paused(&args(&killed), "checkpoint:committed:2"));
    run_ok(bin().args(["train", "--resume", killed.to_str().unwrap(), "--quiet"]));
    let ((a, ha), (b, hb)) = (result(&whole, "vae"), result(&killed, "vae"));
    assert_eq!(ha, hb);
    assert_eq!(
        weight_values(&whole, ModelKind::Vae),
        weight_values(&killed, ModelKind::Vae)
    );
    let _ = (a, b);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_outlier_exposed_run_records_its_settings_and_resumes_identically() {
    let dir = scratch("resume-outliers");
    let data = small_data(&dir);
    let args = |run: &Path| -> Vec<String> {
        let mut a = ae_run(&data, run);
        a[1] = "classifier-best".into();
        a.extend(
            [
                "--outliers",
                "0.5",
                "--outlier-weight",
                "0.7",
                "--outliers-left-out",
                "heart,partial_digit",
                "--redraw",
                "0.5",
            ]
            .map(String::from),
        );
        a
    };
    let (whole, killed) = (dir.join("whole"), dir.join("killed"));
    run_ok(bin().args(args(&whole)));
    sigkill(spawn_paused(&args(&killed), "checkpoint:committed:2"));
    run_ok(bin().args(["train", "--resume", killed.to_str().unwrap(), "--quiet"]));
    let ((a, ha), (_, hb)) = (
        result(&whole, "classifier_best"),
        result(&killed, "classifier_best"),
    );
    assert_eq!(ha, hb, "per-epoch losses");
    assert_eq!(
        weight_values(&whole, ModelKind::ClassifierBest),
        weight_values(&killed, ModelKind::ClassifierBest),
        "the same pool and the same batches of non-digits"
    );
    let outliers = &a["hyperparameters"]["outliers"];
    assert_eq!(outliers["share"], 0.5);
    assert!((outliers["weight"].as_f64().unwrap() - 0.7).abs() < 1e-6);
    assert_eq!(
        outliers["kinds_left_out"],
        json!(["heart", "partial_digit"])
    );
    // The loss with the non-digits' term is above the digits' cross-entropy alone (≥ 0.7·ln 10).
    let train_loss = ha[0]["train_loss"].as_f64().unwrap();
    assert!(train_loss > 0.7 * 10f64.ln(), "{train_loss}");
    std::fs::remove_dir_all(dir).ok();
}

/// Every file of a weights directory with its hash.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                sha256_hex(&std::fs::read(e.path()).unwrap()),
            )
        })
        .collect()
}

/// What must hold after any kill: the manifest parses, every model it names loads and matches
/// its hash, and every model other than `changing` is exactly as committed before.
fn check_store(weights: &Path, before: &WeightsDir, changing: &str) {
    let store = WeightsDir::open(weights).expect("the manifest is readable");
    let device = Device::flex();
    for kind in ModelKind::ALL {
        if store.manifest.entry(kind).is_ok() {
            store
                .load(kind, &device)
                .unwrap_or_else(|e| panic!("{}: {e}", kind.key()));
        }
    }
    for (key, entry) in &before.manifest.models {
        if key != changing {
            assert_eq!(store.manifest.models.get(key), Some(entry), "{key} changed");
        }
    }
    if let Some(old) = before.manifest.models.get(changing) {
        let now = &store.manifest.models[changing];
        assert!(
            now == old || now.run_id != old.run_id,
            "{changing}: neither the old entry nor a new one"
        );
    }
}

#[test]
fn sigkill_at_any_instant_leaves_the_old_state_or_the_new_one() {
    let dir = scratch("kill");
    let data = small_data(&dir);
    let weights = dir.join("weights");
    // A store with two published models: a classifier-best and a ConvAE.
    for (model, run) in [("classifier-best", "cb"), ("ae", "first-ae")] {
        let mut args = ae_run(&data, &dir.join(run));
        args[1] = model.into();
        let at = args.iter().position(|a| a == "--epochs").unwrap();
        args.drain(at..at + 2);
        args.retain(|a| a != "--average-from" && a != "3");
        args.extend(["--epochs", "1", "--publish", weights.to_str().unwrap()].map(String::from));
        run_ok(bin().args(args));
    }
    let before = WeightsDir::open(&weights).unwrap();
    let mut kills = 0;
    // 1. Named points: the run's creation, each checkpoint step, and both commit steps of the
    //    run's own store and of publishing.
    let named = [
        "run:created",
        "checkpoint:files-written:1",
        "checkpoint:committed:1",
        "checkpoint:files-written:5",
        "checkpoint:committed:5",
        "commit:files-written",
        "commit:manifest-written",
    ];
    for (i, point) in named.iter().enumerate() {
        let run = dir.join(format!("named-{i}"));
        let mut args = ae_run(&data, &run);
        args.extend(["--publish", weights.to_str().unwrap()].map(String::from));
        sigkill(spawn_paused(&args, point));
        kills += 1;
        check_store(&weights, &before, "ae");
        // The run itself resumes to its end (unless the kill came after its own commit).
        let out = bin()
            .args(["train", "--resume", run.to_str().unwrap(), "--quiet"])
            .output()
            .unwrap();
        assert!(
            out.status.success() || stderr(&out).contains("is finished"),
            "{point}: {}",
            stderr(&out)
        );
        // Publishing, killed inside its commit.
        for point in ["commit:files-written", "commit:manifest-written"] {
            let publish = [
                "publish",
                run.to_str().unwrap(),
                "--to",
                weights.to_str().unwrap(),
            ];
            sigkill(spawn_paused(&publish.map(String::from), point));
            kills += 1;
            check_store(&weights, &before, "ae");
        }
    }
    // 2. Random instants over a whole train-and-publish.
    let started = Instant::now();
    run_ok(
        bin()
            .args(ae_run(&data, &dir.join("timed")))
            .args(["--publish", weights.to_str().unwrap()]),
    );
    let whole = started.elapsed();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..12 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let delay = whole.mul_f64((state % 1000) as f64 / 1000.0);
        let run = dir.join(format!("random-{i}"));
        let mut child = bin()
            .args(ae_run(&data, &run))
            .args(["--publish", weights.to_str().unwrap()])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        child.kill().ok();
        child.wait().unwrap();
        kills += 1;
        check_store(&weights, &before, "ae");
        if run.join("run.json").exists() {
            let out = bin()
                .args(["train", "--resume", run.to_str().unwrap(), "--quiet"])
                .output()
                .unwrap();
            let finished = stderr(&out).contains("is finished");
            assert!(out.status.success() || finished, "{}", stderr(&out));
        }
    }
    assert!(kills >= 20, "{kills} kills");
    // No temporary or unreferenced file survives the next open-and-commit's sweep.
    let store = WeightsDir::open(&weights).unwrap();
    store.sweep().unwrap();
    let files = snapshot(&weights);
    let named: Vec<&str> = store
        .manifest
        .models
        .values()
        .flat_map(|e| [e.file.as_str(), e.history.as_str()])
        .collect();
    for name in files.keys() {
        assert!(
            name == "manifest.json" || named.contains(&name.as_str()),
            "stray {name}"
        );
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn training_writes_runs_not_weights_and_publishing_measures_the_test_split_once() {
    let dir = scratch("publish");
    let data = small_data(&dir);
    let runs = dir.join("runs");
    let mut args = ae_run(&data, &dir.join("unused"));
    let at = args.iter().position(|a| a == "--run-dir").unwrap();
    args.truncate(at);
    args.extend(["--runs", runs.to_str().unwrap(), "--limit-train", "300"].map(String::from));
    run_ok(bin().args(&args));
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (entry, _) = result(&run, "ae");
    assert!(
        entry.get("test").is_none(),
        "a run records no test metrics: {entry}"
    );
    assert_eq!(entry["limit_train"], 300);
    assert_eq!(entry["run_id"], run.file_name().unwrap().to_str().unwrap());
    // A run reads (and records) the training file only; publishing adds the test files.
    assert_eq!(entry["data_sha256"].as_object().unwrap().len(), 2);
    let weights = dir.join("weights");
    let out = run_ok(bin().args([
        "publish",
        run.to_str().unwrap(),
        "--to",
        weights.to_str().unwrap(),
    ]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("mse"));
    let published = WeightsDir::open(&weights).unwrap();
    let entry = published.manifest.entry(ModelKind::Ae).unwrap();
    assert!(entry.test["mse"].as_f64().unwrap() > 0.0);
    assert!(entry.published_at.as_deref().unwrap().ends_with('Z'));
    assert_eq!(entry.data_sha256.as_ref().unwrap().len(), 4);
    assert_eq!(published.manifest.data.sha256.len(), 4);
    let file = &entry.file;
    assert!(file.starts_with("ae-") && file.ends_with(".bpk"), "{file}");
    // eval measures the same figures from the weights.
    let out = run_ok(
        bin()
            .args(["eval", "--weights", weights.to_str().unwrap()])
            .args(["--data", data.to_str().unwrap(), "--valid-size", "100"]),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ae"));
    std::fs::remove_dir_all(dir).ok();
}
