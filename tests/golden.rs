//! Golden outputs of the committed models on fixed inputs (five real MNIST test digits), shared
//! with the browser tests (`tests/web.rs`), which check WebGPU and CPU results against them.
//!
//! `UPDATE_GOLDEN=1 cargo test --release --test golden` rewrites `tests/fixtures/golden.json`
//! (needs the real MNIST for the digits); otherwise this test checks that the file still matches
//! what the native models compute, so the browser tests never compare against stale values.

mod common;

use burn::prelude::*;
use digit_lab::data::mnist::images_tensor;
use digit_lab::data::noise::add_gaussian_noise;
use digit_lab::model::{
    Autoencoder, Manifest, ModelKind, load_classifier, load_conv_ae, load_dae_wide, load_vae,
};
use rand::{SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

/// Indices of the fixture digits in the MNIST test set (labels 7, 2, 1, 0, 4).
const DIGITS: [usize; 5] = [0, 1, 2, 3, 4];

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn compute(digits: &[Vec<u8>]) -> Value {
    let device = Device::flex();
    let dir = common::weights_dir();
    let manifest =
        Manifest::parse(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let bytes = |k: ModelKind| common::read(&dir.join(&manifest.entry(k).unwrap().file));
    let ae = load_conv_ae(&manifest, ModelKind::Ae, &bytes(ModelKind::Ae), &device).unwrap();
    let dae = load_conv_ae(&manifest, ModelKind::Dae, &bytes(ModelKind::Dae), &device).unwrap();
    let vae = load_vae(&manifest, &bytes(ModelKind::Vae), &device).unwrap();
    let dae_wide = load_dae_wide(&manifest, &bytes(ModelKind::DaeWide), &device).unwrap();
    let best = load_classifier(
        &manifest,
        ModelKind::ClassifierBest,
        &bytes(ModelKind::ClassifierBest),
        &device,
    )
    .unwrap();
    let paper = load_classifier(
        &manifest,
        ModelKind::Classifier,
        &bytes(ModelKind::Classifier),
        &device,
    )
    .unwrap();
    let pixels: Vec<f32> = digits
        .iter()
        .flatten()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    let x = images_tensor(pixels.clone(), &device);
    let (mu, logvar) = vae.encode(x.clone());
    let mut noisy = pixels[..784].to_vec();
    add_gaussian_noise(&mut noisy, 0.3, &mut StdRng::seed_from_u64(1));
    let point = Tensor::<2>::from_data(TensorData::new(vec![0.5f32, -0.5], [1, 2]), &device);
    json!({
        "classify_best": values(best.probabilities(x.clone())),
        "classify_paper": values(paper.probabilities(x.clone())),
        "ae_code": values(ae.encoder.forward(x.clone())),
        "ae_reconstruction": values(ae.forward(x)),
        "vae_mu": values(mu),
        "vae_logvar": values(logvar),
        "decode_point": [0.5, -0.5],
        "ae_decode": values(ae.decoder.forward(point.clone())),
        "vae_decode": values(vae.decode(point)),
        "denoise_amount": 0.3,
        "denoise_seed": 1,
        "denoise_cleaned": values(dae.forward(images_tensor(noisy.clone(), &device))),
        "denoise_wide_cleaned": values(dae_wide.reconstruct(images_tensor(noisy, &device))),
    })
}

/// Every output of `now` that `golden` lacks or holds another value for (numbers within 1e-5),
/// one line each.
fn differences(now: &Value, golden: &Value) -> Vec<String> {
    let close = |x: &Value, y: &Value| match (x.as_f64(), y.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-5,
        _ => x == y,
    };
    let mut found = Vec::new();
    for (key, value) in now.as_object().expect("the outputs are an object") {
        let Some(expected) = golden.get(key) else {
            found.push(format!("{key}: missing from the golden file"));
            continue;
        };
        match (value.as_array(), expected.as_array()) {
            (Some(a), Some(b)) if a.len() != b.len() => {
                found.push(format!("{key}: {} values, golden {}", a.len(), b.len()))
            }
            (Some(a), Some(b)) => found.extend(
                a.iter()
                    .zip(b)
                    .filter(|(x, y)| !close(x, y))
                    .map(|(x, y)| format!("{key}: native {x} vs golden {y}"))
                    .take(1),
            ),
            _ if !close(value, expected) => {
                found.push(format!("{key}: native {value} vs golden {expected}"))
            }
            _ => {}
        }
    }
    found
}

#[test]
fn a_missing_or_changed_golden_output_is_a_difference() {
    let now = json!({"values": [1.0, 2.0], "amount": 0.3, "seed": 1});
    assert!(differences(&now, &now).is_empty());
    let close = json!({"values": [1.0, 2.000001], "amount": 0.3, "seed": 1});
    assert!(differences(&now, &close).is_empty());
    for golden in [
        json!({"amount": 0.3, "seed": 1}),
        json!({"values": [1.0], "amount": 0.3, "seed": 1}),
        json!({"values": [1.0, 2.1], "amount": 0.3, "seed": 1}),
        json!({"values": 1.0, "amount": 0.3, "seed": 1}),
        json!({"values": [1.0, 2.0], "amount": 0.4, "seed": 1}),
        json!({"values": [1.0, 2.0], "amount": 0.3}),
    ] {
        assert_eq!(differences(&now, &golden).len(), 1, "{golden}");
    }
}

#[test]
fn golden_outputs_match_the_native_models() {
    let path = common::root().join("tests/fixtures/golden.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let data = common::real_mnist();
        let digits: Vec<Vec<u8>> = DIGITS
            .iter()
            .map(|&i| data.test.image(i).to_vec())
            .collect();
        let labels: Vec<u8> = DIGITS.iter().map(|&i| data.test.labels[i]).collect();
        let mut golden = compute(&digits);
        golden["digits"] = json!(digits);
        golden["labels"] = json!(labels);
        std::fs::write(&path, serde_json::to_string(&golden).unwrap() + "\n").unwrap();
    }
    let golden: Value = serde_json::from_slice(&common::read(&path)).unwrap();
    let digits: Vec<Vec<u8>> = serde_json::from_value(golden["digits"].clone()).unwrap();
    let now = compute(&digits);
    let differences = differences(&now, &golden);
    assert!(
        differences.is_empty(),
        "{} (rerun with UPDATE_GOLDEN=1?)",
        differences.join("\n")
    );
    // The fixture digits are classified correctly by both classifiers.
    let labels: Vec<usize> = serde_json::from_value(golden["labels"].clone()).unwrap();
    for key in ["classify_best", "classify_paper"] {
        let probs: Vec<f32> = serde_json::from_value(now[key].clone()).unwrap();
        for (row, &label) in probs.chunks(10).zip(&labels) {
            let argmax = row
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0;
            assert_eq!(argmax, label, "{key}");
        }
    }
}
