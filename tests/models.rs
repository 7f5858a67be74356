//! Model shapes, weights round trips and loading errors.

mod common;

use burn::prelude::*;
use digit_lab::data::mnist::images_tensor;
use digit_lab::model::{ClassifierConfig, ConvAeConfig, VaeConfig, WeightsError, store};

fn device() -> Device {
    Device::flex()
}

fn batch(n: usize) -> Tensor<4> {
    let data = common::synthetic(n, 1);
    images_tensor(data.pixels(&(0..n).collect::<Vec<_>>()), &device())
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn conv_ae_shapes() {
    let model = ConvAeConfig::new().init(&device());
    let code = model.encoder.forward(batch(3));
    assert_eq!(code.dims(), [3, 2]);
    let out = model.decoder.forward(code);
    assert_eq!(out.dims(), [3, 1, 28, 28]);
    assert!(values(out).iter().all(|v| (0.0..=1.0).contains(v)));
    // Every grid configuration of the paper builds and keeps the 28×28 shape.
    for (c1, c2, c3, fc) in [(64, 64, 32, 32), (16, 32, 64, 64)] {
        let config = ConvAeConfig::new()
            .with_c1(c1)
            .with_c2(c2)
            .with_c3(c3)
            .with_fc(fc)
            .with_code(5);
        let model = config.init(&device());
        assert_eq!(model.encoder.forward(batch(2)).dims(), [2, 5]);
        assert_eq!(model.forward(batch(2)).dims(), [2, 1, 28, 28]);
    }
}

#[test]
fn vae_shapes_and_loss_parts() {
    let model = VaeConfig::new().init(&device());
    let (mu, logvar) = model.encode(batch(4));
    assert_eq!(mu.dims(), [4, 2]);
    assert_eq!(logvar.dims(), [4, 2]);
    assert_eq!(model.decode(mu).dims(), [4, 1, 28, 28]);
    let loss = model.loss(batch(4), Tensor::zeros([4, 2], &device()));
    let recon = loss.recon.into_scalar::<f32>();
    let kl = loss.kl.into_scalar::<f32>();
    // BCE of ~0.5 outputs against mostly-zero pixels is about 784·ln 2 nats; KL ≥ 0.
    assert!(recon > 100.0 && recon < 1000.0, "recon {recon}");
    assert!(kl >= 0.0, "kl {kl}");
}

/// With a separate encoder input (the VAE's input-noise regulariser) the posterior, and so the
/// KL term, follows the encoder input, while the reconstruction is scored against the images.
#[test]
fn vae_encoder_input_sets_the_posterior_and_images_the_target() {
    let dev = device();
    let model = VaeConfig::new().init(&dev);
    let (clean, other) = (batch(4), batch(8).narrow(0, 4, 4));
    let eps = || Tensor::zeros([4, 2], &dev);
    let scalar = |t: Tensor<1>| t.into_scalar::<f32>();
    let same = model.loss_from_input(clean.clone(), clean.clone(), eps());
    let plain = model.loss(clean.clone(), eps());
    assert_eq!(scalar(same.neg_elbo()), scalar(plain.neg_elbo()));
    let mixed = model.loss_from_input(other.clone(), clean.clone(), eps());
    let from_other = model.loss(other.clone(), eps());
    assert_eq!(scalar(mixed.kl.clone()), scalar(from_other.kl.clone()));
    assert_ne!(scalar(mixed.kl), scalar(plain.kl));
    // ε = 0, so z = μ(encoder input); the BCE of its decoding against the clean images.
    let decoded = model.decode(model.encode(other).0);
    let (p, x) = (values(decoded), values(clean));
    let bce: f32 = p
        .iter()
        .zip(&x)
        .map(|(p, x)| -(x * p.ln() + (1.0 - x) * (1.0 - p).ln()))
        .sum::<f32>()
        / 4.0;
    let recon = scalar(mixed.recon);
    assert!((recon - bce).abs() < 1e-4 * bce, "recon {recon}, BCE {bce}");
}

#[test]
fn classifier_shapes_and_probabilities() {
    for config in [
        ClassifierConfig::paper(ConvAeConfig::new()),
        ClassifierConfig::best(),
    ] {
        let model = config.init(&device());
        let probs = model.probabilities(batch(5));
        assert_eq!(probs.dims(), [5, 10]);
        for row in values(probs).chunks(10) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        }
    }
}

/// Saved weights are f16: loading gives exactly the model rounded to storage precision, close to
/// the f32 model, from about half the bytes.
#[test]
fn weights_round_trip_gives_the_rounded_model() {
    let dev = device();
    let x = batch(6);
    let ae = ConvAeConfig::new().init(&dev);
    let full = values(ae.valid().forward(x.clone()));
    let rounded = values(store::rounded_to_storage(ae.clone()).forward(x.clone()));
    let bytes = store::to_bytes(ae, "ae").unwrap();
    let loaded = store::from_bytes(ConvAeConfig::new().init(&dev), &bytes, "ae").unwrap();
    assert_eq!(values(loaded.forward(x.clone())), rounded);
    assert_ne!(rounded, full, "f16 rounding changes the weights");
    let max_diff = full
        .iter()
        .zip(&rounded)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(max_diff < 1e-3, "f16 storage moved an output by {max_diff}");
    let params = ConvAeConfig::new().init(&dev).num_params();
    assert!(
        bytes.len() < params * 2 + 8_192,
        "{} bytes for {params} f16 parameters",
        bytes.len()
    );

    let vae = VaeConfig::new().init(&dev);
    let rounded = store::rounded_to_storage(vae.clone());
    let expected = values(rounded.decode(rounded.encode(x.clone()).0));
    let loaded = store::from_bytes(
        VaeConfig::new().init(&dev),
        &store::to_bytes(vae, "vae").unwrap(),
        "vae",
    )
    .unwrap();
    assert_eq!(values(loaded.decode(loaded.encode(x.clone()).0)), expected);

    let config = ClassifierConfig::best();
    let clf = config.init(&dev);
    let expected = values(store::rounded_to_storage(clf.valid()).forward(x.clone()));
    let loaded =
        store::from_bytes(config.init(&dev), &store::to_bytes(clf, "c").unwrap(), "c").unwrap();
    assert_eq!(values(loaded.forward(x)), expected);
}

#[test]
fn file_round_trip_is_atomic_and_loads() {
    let dir = std::env::temp_dir().join(format!("digit-lab-models-{}", std::process::id()));
    let path = dir.join("ae.bpk");
    let ae = ConvAeConfig::new().init(&device());
    let expected = values(store::rounded_to_storage(ae.clone()).forward(batch(2)));
    store::save_file(ae, &path).unwrap();
    let loaded = store::load_file(ConvAeConfig::new().init(&device()), &path).unwrap();
    assert_eq!(values(loaded.forward(batch(2))), expected);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no temporary files left"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn wrong_architecture_is_an_error_not_a_panic() {
    let dev = device();
    let bytes = store::to_bytes(ConvAeConfig::new().init(&dev), "ae").unwrap();
    // Other channel counts: same parameter names, other shapes.
    let wider = ConvAeConfig::new().with_c1(16).init(&dev);
    let err = store::from_bytes(wider, &bytes, "ae.bpk").unwrap_err();
    assert!(
        matches!(err, WeightsError::WrongArchitecture { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("ae.bpk"), "{err}");
    // Another model altogether: other parameter names.
    let err = store::from_bytes(VaeConfig::new().init(&dev), &bytes, "ae.bpk").unwrap_err();
    assert!(
        matches!(err, WeightsError::WrongArchitecture { .. }),
        "{err}"
    );
    // A classifier on the code cannot take the weights of one on the features.
    let best = store::to_bytes(ClassifierConfig::best().init(&dev), "best").unwrap();
    let paper = ClassifierConfig::paper(ClassifierConfig::best().encoder).init(&dev);
    assert!(store::from_bytes(paper, &best, "best").is_err());
}

#[test]
fn malformed_weights_are_an_error() {
    let dev = device();
    for junk in [&b""[..], b"not a burnpack file at all", &[0xff; 64]] {
        let err = store::from_bytes(ConvAeConfig::new().init(&dev), junk, "junk.bpk").unwrap_err();
        assert!(matches!(err, WeightsError::Malformed { .. }), "{err}");
    }
    // A valid file cut short.
    let bytes = store::to_bytes(ConvAeConfig::new().init(&dev), "ae").unwrap();
    let err = store::from_bytes(
        ConvAeConfig::new().init(&dev),
        &bytes[..bytes.len() / 2],
        "half.bpk",
    );
    assert!(err.is_err());
}
