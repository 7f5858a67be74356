//! The training bundle's API in headless Chromium (wasm-bindgen-test), on WebGPU and on the CPU
//! backend: a short run on the bundled subset lowers the validation loss, a run in two calls
//! (pause, resume) equals one run, the map/reconstructions/decoding work, fine-tuning learns a
//! handful of user-labelled drawings, and bad settings give clear JS errors.
//!
//! Run: `scripts/test-web` (builds for wasm32 with `--features web-train`).
#![cfg(all(target_arch = "wasm32", feature = "web-train"))]

use digit_lab::mini_training::finetune::accuracy;
use digit_lab::mini_training::subset::{Subset, TRAIN};
use digit_lab::web::training::{HandwritingTuner, LiveTraining};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const IMAGES: &[u8] = include_bytes!("../www/data/mnist-subset-images.idx.gz");
const LABELS: &[u8] = include_bytes!("../www/data/mnist-subset-labels.idx.gz");

fn settings(model: &str, batch: u32, learning_rate: f64) -> JsValue {
    let object = js_sys::Object::new();
    for (key, value) in [
        ("model", JsValue::from_str(model)),
        ("learningRate", JsValue::from_f64(learning_rate)),
        ("batchSize", JsValue::from(batch)),
        ("epochs", JsValue::from(3)),
        ("seed", JsValue::from(3)),
    ] {
        js_sys::Reflect::set(&object, &JsValue::from_str(key), &value).unwrap();
    }
    object.into()
}

fn get(value: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(value, &JsValue::from_str(name)).unwrap()
}

fn number(value: &JsValue, name: &str) -> f64 {
    get(value, name)
        .as_f64()
        .unwrap_or_else(|| panic!("{name} is not a number"))
}

fn message(result: Result<impl Sized, wasm_bindgen::JsError>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => {
            let js: JsValue = e.into();
            get(&js, "message").as_string().unwrap()
        }
    }
}

async fn session(backend: &str, model: &str, batch: u32, lr: f64) -> LiveTraining {
    LiveTraining::create(
        backend.into(),
        IMAGES.to_vec(),
        LABELS.to_vec(),
        settings(model, batch, lr),
    )
    .await
    .unwrap()
}

/// Training lowers the validation loss; a run split over two calls equals one call; the map,
/// reconstructions and decoding have the right shapes. On the CPU backend three epochs must beat
/// the mean image (MSE ~0.067, so the code carries the digit); WebGPU runs on SwiftShader here
/// (a CPU rasteriser, ~35 samples/s), so its run is short and only has to lower the loss.
async fn train_on(backend: &str) {
    let cpu = backend == "cpu";
    // The learning rate warms up over 12,800 samples: the short WebGPU run asks for a high peak
    // rate so that its few steps (at most 4.5e-3 after the warm-up's 12th step) move the model.
    let (steps, batch, lr) = if cpu {
        (3 * TRAIN.div_ceil(64) as u32, 64, 5e-3)
    } else {
        (12, 16, 0.3)
    };
    let mut whole = session(backend, "ae", batch, lr).await;
    assert_eq!(
        get(&whole.backend().unwrap(), "kind").as_string().unwrap(),
        if backend == "cpu" { "cpu" } else { "webgpu" }
    );
    let before = whole.validate().await.unwrap();
    let report = whole.train(steps).await.unwrap();
    assert_eq!(number(&report, "ran"), f64::from(steps));
    assert!(number(&report, "loss").is_finite());
    let samples = (steps * batch).min(3 * TRAIN as u32);
    assert_eq!(number(&report, "samplesSeen"), f64::from(samples));
    let after = whole.validate().await.unwrap();
    let goal = if cpu { 0.065 } else { 0.9 * before };
    assert!(
        after < goal,
        "{backend}: validation MSE {before} -> {after}"
    );

    // Pause and resume: the same run in two calls, with other calls in between.
    let mut split = session(backend, "ae", batch, lr).await;
    split.train(steps / 2).await.unwrap();
    let _ = split.reconstructions().await.unwrap();
    split.train(steps - steps / 2).await.unwrap();
    let resumed = split.validate().await.unwrap();
    assert!(
        (resumed - after).abs() <= 1e-3 * after,
        "{backend}: resumed {resumed} vs uninterrupted {after}"
    );

    let map = split.latent_map().await.unwrap();
    let xy = js_sys::Float32Array::from(get(&map, "xy")).to_vec();
    assert_eq!(xy.len(), 2 * split.valid_labels().len());
    assert!((0.0..=1.0).contains(&number(&map, "knn5")));
    assert_eq!(get(&map, "projected"), JsValue::FALSE);
    assert_eq!(split.reconstructions().await.unwrap().len(), 16 * 784);
    let image = split.decode(xy[0], xy[1]).await.unwrap();
    assert_eq!(image.len(), 784);
    assert!(image.iter().all(|p| (0.0..=1.0).contains(p)));

    // The VAE trains too (−ELBO in nats per image).
    let mut vae = session(backend, "vae", batch, if cpu { 3e-3 } else { lr }).await;
    let before = vae.validate().await.unwrap();
    vae.train(steps / 2).await.unwrap();
    let after = vae.validate().await.unwrap();
    assert!(after < before, "{backend}: VAE −ELBO {before} -> {after}");
}

#[wasm_bindgen_test]
async fn training_on_the_cpu_backend() {
    train_on("cpu").await;
}

#[wasm_bindgen_test]
async fn training_on_webgpu() {
    train_on("auto").await;
}

/// 20 validation digits labelled one higher than MNIST says: the bundled classifier gets them
/// all wrong, fine-tuning must learn them.
async fn finetune_on(backend: &str) {
    let subset = Subset::from_gzip(IMAGES, LABELS).unwrap();
    let indices: Vec<usize> = (0..20).collect();
    let images = subset.valid.pixels(&indices);
    let labels: Vec<u8> = subset
        .valid
        .labels_at(&indices)
        .iter()
        .map(|l| (l + 1) % 10)
        .collect();
    let mut tuner = HandwritingTuner::create(backend.into(), "head".into())
        .await
        .unwrap();
    let before = accuracy(
        &tuner.probabilities(images.clone(), false).await.unwrap(),
        &labels,
    );
    let loss = tuner
        .fit(images.clone(), labels.clone(), 40, 1e-2)
        .await
        .unwrap();
    assert!(loss.is_finite());
    let after = accuracy(
        &tuner.probabilities(images.clone(), false).await.unwrap(),
        &labels,
    );
    assert!(
        before < 0.1 && after >= 0.8,
        "{backend}: {before} -> {after}"
    );
    let bundled = accuracy(
        &tuner.probabilities(images.clone(), true).await.unwrap(),
        &labels,
    );
    assert_eq!(bundled, before);
    assert_eq!(tuner.steps(), 40);
    tuner.reset();
    assert_eq!(tuner.steps(), 0);
}

#[wasm_bindgen_test]
async fn finetuning_on_the_cpu_backend() {
    finetune_on("cpu").await;
}

#[wasm_bindgen_test]
async fn finetuning_on_webgpu() {
    finetune_on("auto").await;
}

#[wasm_bindgen_test]
async fn bad_settings_give_clear_errors_and_nothing_breaks() {
    let create = |settings: JsValue, images: &[u8]| {
        LiveTraining::create("cpu".into(), images.to_vec(), LABELS.to_vec(), settings)
    };
    for (settings, expected) in [
        (settings("ae", 0, 1e-3), "batch size"),
        (settings("ae", 64, f64::NAN), "learning rate"),
        (settings("ae", 64, -1.0), "learning rate"),
        (settings("gan", 64, 1e-3), "gan"),
        (JsValue::from_str("fast"), "training settings"),
    ] {
        let err = message(create(settings, IMAGES).await);
        assert!(err.contains(expected), "{err}");
    }
    let err = message(create(settings("ae", 64, 1e-3), b"not a gzip file").await);
    assert!(err.contains("gzip"), "{err}");
    let err = message(create(settings("ae", 64, 1e-3), LABELS).await);
    assert!(err.contains("images"), "{err}");

    // After the errors, a run works; bad calls on it are errors too and leave it working.
    let mut run = session("cpu", "ae", 32, 1e-3).await;
    assert!(message(run.train(0).await).contains("step count"));
    assert!(message(run.decode(f32::NAN, 0.0).await).contains("finite"));
    run.train(2).await.unwrap();
    // Steps stop at the configured epochs.
    let report = run.train(10_000).await.unwrap();
    assert_eq!(number(&report, "ran"), (3 * TRAIN.div_ceil(32) - 2) as f64);
    assert_eq!(get(&report, "done"), JsValue::TRUE);
    assert_eq!(number(&run.train(5).await.unwrap(), "ran"), 0.0);

    let mut tuner = HandwritingTuner::create("cpu".into(), "dense".into())
        .await
        .unwrap();
    assert!(message(HandwritingTuner::create("cpu".into(), "all".into()).await).contains("layers"));
    for (images, labels, steps, lr, expected) in [
        (vec![0.5; 784], vec![12u8], 5, 1e-3, "digits 0-9"),
        (vec![0.5; 780], vec![1u8], 5, 1e-3, "pixels"),
        (vec![f32::NAN; 784], vec![1u8], 5, 1e-3, "NaN"),
        (vec![0.5; 784], vec![1u8], 5, f64::NAN, "learning rate"),
        (vec![], vec![], 5, 1e-3, "no examples"),
    ] {
        let err = message(tuner.fit(images, labels, steps, lr).await);
        assert!(err.contains(expected), "{err}");
    }
    assert!(message(tuner.probabilities(vec![0.5; 100], false).await).contains("784"));
    assert!(message(tuner.probabilities(vec![2.0; 784], false).await).contains("outside"));
    let probs = tuner.probabilities(vec![0.0; 784], false).await.unwrap();
    assert_eq!(probs.len(), 10);
}
