//! The committed weights: every model in `weights/manifest.json` loads, the bundle stays small,
//! and (with the real MNIST present) each model reproduces the manifest's test metrics.
//!
//! Tolerance: the metrics are recomputed on the full test set with the same seeds, so they
//! agree up to float summation order across thread counts: 1e-4 relative (accuracy: exact).

mod common;

use burn::prelude::*;
use digit_lab::eval;
use digit_lab::model::{
    Manifest, ModelKind, load_classifier, load_conv_ae, load_dae_wide, load_vae,
};

fn manifest() -> Manifest {
    let text = std::fs::read_to_string(common::weights_dir().join("manifest.json"))
        .expect("weights/manifest.json");
    Manifest::parse(&text).expect("valid manifest")
}

fn weights(m: &Manifest, kind: ModelKind) -> Vec<u8> {
    common::read(&common::weights_dir().join(&m.entry(kind).unwrap().file))
}

fn close(got: f64, expected: f64, what: &str) {
    let rel = (got - expected).abs() / expected.abs().max(1e-12);
    assert!(rel < 1e-4, "{what}: recomputed {got}, manifest {expected}");
}

fn metric(m: &Manifest, kind: ModelKind, name: &str) -> f64 {
    m.entry(kind).unwrap().test[name]
        .as_f64()
        .unwrap_or_else(|| panic!("{}.test.{name}", kind.key()))
}

#[test]
fn manifest_lists_all_models_with_their_facts() {
    let m = manifest();
    assert_eq!(m.data.sha256.len(), 4);
    assert!(m.threads >= 1 && !m.backend.is_empty());
    let mut total = 0;
    for kind in ModelKind::ALL {
        let entry = m.entry(kind).unwrap();
        assert!(
            entry.epochs >= entry.best_epoch && entry.best_epoch >= 1,
            "{}",
            kind.key()
        );
        assert!(entry.train_seconds > 0.0);
        assert!(entry.hyperparameters.get("model").is_some());
        let history: serde_json::Value =
            serde_json::from_slice(&common::read(&common::weights_dir().join(&entry.history)))
                .unwrap();
        assert_eq!(history.as_array().unwrap().len(), entry.epochs);
        total += weights(&m, kind).len();
    }
    assert!(total <= 2_000_000, "weights total {total} bytes > 2 MB");
}

#[test]
fn committed_weights_load_and_reproduce_the_manifest_metrics() {
    let m = manifest();
    let device = Device::flex();
    let ae = load_conv_ae(&m, ModelKind::Ae, &weights(&m, ModelKind::Ae), &device).unwrap();
    let dae = load_conv_ae(&m, ModelKind::Dae, &weights(&m, ModelKind::Dae), &device).unwrap();
    let wide = load_dae_wide(&m, &weights(&m, ModelKind::DaeWide), &device).unwrap();
    let vae = load_vae(&m, &weights(&m, ModelKind::Vae), &device).unwrap();
    let clf = load_classifier(
        &m,
        ModelKind::Classifier,
        &weights(&m, ModelKind::Classifier),
        &device,
    )
    .unwrap();
    let best = load_classifier(
        &m,
        ModelKind::ClassifierBest,
        &weights(&m, ModelKind::ClassifierBest),
        &device,
    )
    .unwrap();
    // The AE's weights do not fit the VAE (or the best classifier): an error, not a panic.
    assert!(load_vae(&m, &weights(&m, ModelKind::Ae), &device).is_err());
    assert!(load_dae_wide(&m, &weights(&m, ModelKind::Dae), &device).is_err());
    assert!(
        load_classifier(
            &m,
            ModelKind::ClassifierBest,
            &weights(&m, ModelKind::Classifier),
            &device
        )
        .is_err()
    );

    let data = common::real_mnist();
    let test = &data.test;
    close(
        eval::ae_metrics(&ae, test, &device).mse,
        metric(&m, ModelKind::Ae, "mse"),
        "ae mse",
    );
    let a = metric(&m, ModelKind::Dae, "noise_amount") as f32;
    let d = eval::dae_metrics(&dae, test, a, eval::EVAL_SEED, &device);
    close(d.mse, metric(&m, ModelKind::Dae, "mse"), "dae mse");
    close(
        d.noisy_mse,
        metric(&m, ModelKind::Dae, "noisy_mse"),
        "dae noisy mse",
    );
    let a = metric(&m, ModelKind::DaeWide, "noise_amount") as f32;
    let w = eval::dae_metrics(&wide, test, a, eval::EVAL_SEED, &device);
    close(w.mse, metric(&m, ModelKind::DaeWide, "mse"), "dae_wide mse");
    let v = eval::vae_metrics(&vae, test, eval::EVAL_SEED, &device);
    close(
        v.neg_elbo,
        metric(&m, ModelKind::Vae, "neg_elbo"),
        "vae neg_elbo",
    );
    close(v.kl, metric(&m, ModelKind::Vae, "kl"), "vae kl");
    for (model, kind) in [
        (&clf, ModelKind::Classifier),
        (&best, ModelKind::ClassifierBest),
    ] {
        let acc = eval::classifier_metrics(model, test, &device).accuracy;
        assert_eq!(acc, metric(&m, kind, "accuracy"), "{} accuracy", kind.key());
    }
}

#[test]
fn real_mnist_has_the_protocol_splits() {
    let data = common::real_mnist();
    assert_eq!(
        (data.train.len(), data.validation.len(), data.test.len()),
        (50_000, 10_000, 10_000)
    );
    // First training label of MNIST is a 5, first test label a 7.
    assert_eq!((data.train.labels[0], data.test.labels[0]), (5, 7));
}

/// The 5-NN accuracies `weights/maps.json` gives the page and the report, recomputed from the
/// committed models and the data (the ConvAE code, the VAE mean and PCA-2 are deterministic;
/// t-SNE is not recomputed here: it takes minutes).
#[test]
fn the_maps_5nn_accuracies_are_reproduced() {
    use digit_lab::analysis::knn::loo_knn_accuracy;
    use digit_lab::analysis::maps::{self, KNN_K, Maps};
    let maps: Maps =
        serde_json::from_slice(&common::read(&common::weights_dir().join("maps.json")))
            .expect("weights/maps.json");
    let data = common::real_mnist();
    let (m, device) = (manifest(), Device::flex());
    let labels = &data.test.labels;
    let ae = load_conv_ae(&m, ModelKind::Ae, &weights(&m, ModelKind::Ae), &device).unwrap();
    let vae = load_vae(&m, &weights(&m, ModelKind::Vae), &device).unwrap();
    let pca2: Vec<f32> = maps::pca_of_test(&data)
        .chunks_exact(maps::TSNE_INPUT_DIMS)
        .flat_map(|r| [r[0], r[1]])
        .collect();
    for (name, points, recorded) in [
        (
            "ConvAE code",
            maps::ae_codes(&ae, &data.test, &device),
            maps.ae.knn5,
        ),
        (
            "VAE mean",
            maps::vae_means(&vae, &data.test, &device),
            maps.vae.knn5,
        ),
        ("PCA-2", pca2, maps.pca.knn5),
    ] {
        let knn = loo_knn_accuracy(&points, 2, labels, KNN_K);
        // Summation order across thread counts may move a point by an ulp: two digits at most.
        assert!(
            (knn - recorded).abs() <= 2.0 / labels.len() as f64,
            "{name}: 5-NN {knn}, maps.json {recorded}"
        );
    }
}
