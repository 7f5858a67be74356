//! The training bundle's API in headless Chromium (wasm-bindgen-test), on WebGPU and on the CPU
//! backend: a short run on the bundled subset lowers the validation loss, a run in two calls
//! (pause, resume) equals one run, the map/reconstructions/decoding work, fine-tuning learns a
//! handful of user-labelled drawings, and bad settings give clear JS errors.
//!
//! Run: `scripts/test-web` (builds for wasm32 with `--features web-train`).
#![cfg(all(target_arch = "wasm32", feature = "web-train"))]

mod hostile_js;

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

fn bytes(data: &[u8]) -> JsValue {
    js_sys::Uint8Array::from(data).into()
}

fn f32s(values: &[f32]) -> JsValue {
    js_sys::Float32Array::from(values).into()
}

/// Exported files (`{manifest, file, bytes}`) loaded back through the page's import path on the
/// CPU (the checks `digit-lab eval` makes: manifest, SHA-256, architecture, shapes).
async fn import_files(files: &JsValue, what: &str) -> digit_lab::web::ImportedModel {
    digit_lab::web::ImportedModel::create(
        JsValue::from_str("cpu"),
        get(files, "manifest"),
        get(files, "file"),
        get(files, "bytes"),
    )
    .await
    .unwrap_or_else(|e| panic!("{what}: {:?}", JsValue::from(e)))
}

/// The largest absolute difference between two equally long lists of values.
fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn n(x: f64) -> JsValue {
    JsValue::from_f64(x)
}

fn get(value: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(value, &JsValue::from_str(name)).unwrap()
}

fn number(value: &JsValue, name: &str) -> f64 {
    get(value, name)
        .as_f64()
        .unwrap_or_else(|| panic!("{name} is not a number"))
}

async fn session(backend: &str, model: &str, batch: u32, lr: f64) -> LiveTraining {
    LiveTraining::create(
        backend.into(),
        bytes(IMAGES),
        bytes(LABELS),
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
    let whole = session(backend, "ae", batch, lr).await;
    assert_eq!(
        get(&whole.backend().unwrap(), "kind").as_string().unwrap(),
        if backend == "cpu" { "cpu" } else { "webgpu" }
    );
    let before = whole.validate().await.unwrap();
    let report = whole.train(n(steps.into())).await.unwrap();
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
    let split = session(backend, "ae", batch, lr).await;
    split.train(n((steps / 2).into())).await.unwrap();
    let _ = split.reconstructions().await.unwrap();
    split.train(n((steps - steps / 2).into())).await.unwrap();
    let resumed = split.validate().await.unwrap();
    assert!(
        (resumed - after).abs() <= 1e-3 * after,
        "{backend}: resumed {resumed} vs uninterrupted {after}"
    );

    let map = split.latent_map().await.unwrap();
    let xy = js_sys::Float32Array::from(get(&map, "xy")).to_vec();
    assert_eq!(xy.len(), 2 * split.valid_labels().unwrap().len());
    assert!((0.0..=1.0).contains(&number(&map, "knn5")));
    assert_eq!(get(&map, "projected"), JsValue::FALSE);
    assert_eq!(split.reconstructions().await.unwrap().len(), 16 * 784);
    let image = split
        .decode(n(xy[0].into()), n(xy[1].into()))
        .await
        .unwrap();
    assert_eq!(image.len(), 784);
    assert!(image.iter().all(|p| (0.0..=1.0).contains(p)));

    // The VAE trains too (−ELBO in nats per image).
    let vae = session(backend, "vae", batch, if cpu { 3e-3 } else { lr }).await;
    let before = vae.validate().await.unwrap();
    vae.train(n((steps / 2).into())).await.unwrap();
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
    let tuner = HandwritingTuner::create(backend.into(), "head".into(), JsValue::UNDEFINED)
        .await
        .unwrap();
    let before = accuracy(
        &tuner
            .probabilities(f32s(&images), JsValue::FALSE)
            .await
            .unwrap(),
        &labels,
    );
    let loss = tuner
        .fit(f32s(&images), bytes(&labels), n(40.0), n(1e-2))
        .await
        .unwrap();
    assert!(loss.is_finite());
    let after = accuracy(
        &tuner
            .probabilities(f32s(&images), JsValue::FALSE)
            .await
            .unwrap(),
        &labels,
    );
    assert!(
        before < 0.1 && after >= 0.8,
        "{backend}: {before} -> {after}"
    );
    let bundled = accuracy(
        &tuner
            .probabilities(f32s(&images), JsValue::TRUE)
            .await
            .unwrap(),
        &labels,
    );
    assert_eq!(bundled, before);
    assert_eq!(tuner.steps().unwrap(), 40);

    // Saved as weights-directory files, the fine-tuned model loads through the page's import
    // path (the checks `digit-lab eval`/`predict` make) and reads the drawings as the tuner does.
    let files = tuner
        .export_files(bytes(IMAGES), bytes(LABELS), n(2.5))
        .await
        .unwrap();
    let manifest = get(&files, "manifest").as_string().unwrap();
    let file = get(&files, "file").as_string().unwrap();
    assert!(
        file.starts_with("classifier_best-") && file.ends_with(".bpk"),
        "{file}"
    );
    let json: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let entry = &json["models"]["classifier_best"];
    let hyper = &entry["hyperparameters"];
    assert_eq!(entry["file"], file.as_str());
    assert_eq!(entry["train_seconds"], 2.5);
    assert_eq!(hyper["steps"], 40);
    assert_eq!(hyper["drawings"], 20);
    assert_eq!(hyper["layers"], "head");
    assert_eq!(hyper["valid_digits"], 1000);
    // The figures are the tuned model's on the subset's 1,000 validation digits: it learnt to
    // read every digit as the next one, so it reads MNIST's labels almost never.
    let subset_valid: Vec<usize> = (0..subset.valid.len()).collect();
    let valid_probs = tuner
        .probabilities(f32s(&subset.valid.pixels(&subset_valid)), JsValue::FALSE)
        .await
        .unwrap();
    let valid_labels = subset.valid.labels_at(&subset_valid);
    let valid_accuracy = hyper["valid_accuracy"].as_f64().unwrap();
    let recomputed = accuracy(&valid_probs, &valid_labels);
    assert!(
        (valid_accuracy - recomputed).abs() < 2e-3,
        "{backend}: {valid_accuracy} vs {recomputed}"
    );
    assert!(valid_accuracy < 0.2, "{backend}: {valid_accuracy}");
    let shifted: Vec<u8> = valid_labels.iter().map(|l| (l + 1) % 10).collect();
    assert!(
        accuracy(&valid_probs, &shifted) > 0.6,
        "{backend}: the shift is learnt"
    );
    let loss = entry["best_valid_loss"].as_f64().unwrap();
    assert!(
        loss.is_finite() && loss > 1.0,
        "{backend}: cross-entropy {loss}"
    );
    let imported = import_files(&files, backend).await;
    let live = tuner
        .probabilities(f32s(&images), JsValue::FALSE)
        .await
        .unwrap();
    let saved = imported.classify(f32s(&images)).await.unwrap();
    let worst = largest_difference(&live, &saved);
    assert!(
        worst < 2e-2,
        "{backend}: saved and live probabilities differ by {worst}"
    );
    assert_eq!(accuracy(&saved, &labels), after);

    tuner.reset().unwrap();
    assert_eq!(tuner.steps().unwrap(), 0);
    let message = match tuner
        .export_files(bytes(IMAGES), bytes(LABELS), n(1.0))
        .await
    {
        Ok(_) => panic!("{backend}: exported a tuner that has learnt nothing"),
        Err(e) => js_sys::Reflect::get(&JsValue::from(e), &JsValue::from_str("message"))
            .unwrap()
            .as_string()
            .unwrap(),
    };
    assert!(message.contains("nothing fine-tuned yet"), "{message}");
}

#[wasm_bindgen_test]
async fn finetuning_on_the_cpu_backend() {
    finetune_on("cpu").await;
}

#[wasm_bindgen_test]
async fn finetuning_on_webgpu() {
    finetune_on("auto").await;
}

/// The run stops at its configured epochs: a later `train` runs nothing and says so.
#[wasm_bindgen_test]
async fn training_stops_at_the_configured_epochs() {
    let run = session("cpu", "ae", 32, 1e-3).await;
    run.train(n(2.0)).await.unwrap();
    let report = run.train(n(10_000.0)).await.unwrap();
    assert_eq!(number(&report, "ran"), (3 * TRAIN.div_ceil(32) - 2) as f64);
    assert_eq!(get(&report, "done"), JsValue::TRUE);
    assert_eq!(number(&run.train(n(5.0)).await.unwrap(), "ran"), 0.0);
}

/// Every export with hundreds of bad arguments, out-of-order and overlapping calls and use
/// after `free()`, through the JS glue as the page calls them (see `sweep.rs`).
#[wasm_bindgen_test]
async fn bad_calls_on_the_cpu_backend_are_clear_errors() {
    sweep::run("cpu", IMAGES, LABELS).await;
}

#[wasm_bindgen_test]
async fn bad_calls_on_webgpu_are_clear_errors() {
    sweep::run("auto", IMAGES, LABELS).await;
}

/// The table-driven sweep: every export of the JS API (`DigitLab`, `LiveTraining`,
/// `HandwritingTuner`, their constructors, methods and getters) called through the JS glue with
/// bad arguments of every kind, one argument at a time: each must be a JS `Error` (not a trap's
/// `RuntimeError`, not a glue `TypeError`) whose message names the call and the argument, and
/// the object must answer a good call afterwards. Then out-of-order and overlapping calls, and
/// use after `free()`.
mod sweep {
    use super::hostile_js;
    use digit_lab::web::input::describe;
    use digit_lab::web::training::{HandwritingTuner, LiveTraining};
    use digit_lab::web::{DigitLab, ImportedModel};
    use js_sys::{
        Array, Float32Array, Float64Array, Function, Object, Promise, Reflect, Uint8Array,
    };
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_test::console_log;

    const PIXELS: usize = 784;
    /// Most examples `HandwritingTuner` takes in one call (`finetune::MAX_EXAMPLES`).
    const MAX_EXAMPLES: usize = 2000;

    fn s(text: &str) -> JsValue {
        JsValue::from_str(text)
    }

    fn n(x: f64) -> JsValue {
        JsValue::from_f64(x)
    }

    fn object(fields: &[(&str, JsValue)]) -> JsValue {
        let object = Object::new();
        for (key, value) in fields {
            Reflect::set(&object, &s(key), value).unwrap();
        }
        object.into()
    }

    fn array(values: &[JsValue]) -> JsValue {
        values.iter().collect::<Array>().into()
    }

    fn numbers(values: &[f64]) -> JsValue {
        values.iter().map(|x| n(*x)).collect::<Array>().into()
    }

    fn f32s(values: &[f32]) -> JsValue {
        Float32Array::from(values).into()
    }

    fn zeros(len: u32) -> JsValue {
        Float32Array::new_with_length(len).into()
    }

    /// A blank image with one pixel set to `value`.
    fn image_with(index: usize, value: f32) -> JsValue {
        let mut pixels = vec![0.0; PIXELS];
        pixels[index] = value;
        f32s(&pixels)
    }

    /// An object claiming a billion elements (wasm-bindgen's `Vec` conversion allocated it).
    fn array_like() -> JsValue {
        object(&[("length", n(1e9))])
    }

    fn a_function() -> JsValue {
        Reflect::get(&js_sys::global(), &s("parseInt")).unwrap()
    }

    fn a_symbol() -> JsValue {
        js_sys::Symbol::for_("sweep").into()
    }

    fn a_bigint() -> JsValue {
        js_sys::BigInt::from(5u32).into()
    }

    /// Calls `method` of `target` as JS does (`target[method](...args)`), awaiting a promise.
    async fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
        call_within(target, method, args, None).await
    }

    /// How long a call with a bad argument may take to settle: it fails before any kernel runs.
    /// (A JS exception thrown through the module left such promises pending for ever.)
    const BAD_CALL_MS: u32 = 30_000;

    /// [`call`], whose promise must settle within `limit_ms` (else an `Error` saying so).
    async fn call_within(
        target: &JsValue,
        method: &str,
        args: &[JsValue],
        limit_ms: Option<u32>,
    ) -> Result<JsValue, JsValue> {
        let function: Function = Reflect::get(target, &s(method))?
            .dyn_into()
            .map_err(|_| s(&format!("{method} is not a function")))?;
        let result = function.apply(target, &args.iter().collect::<Array>())?;
        let promise = match result.dyn_into::<Promise>() {
            Ok(promise) => promise,
            Err(value) => return Ok(value),
        };
        let promise = match limit_ms {
            None => promise,
            Some(ms) => Function::new_with_args(
                "p, ms",
                "return Promise.race([p, new Promise((_, reject) => setTimeout(() => \
                 reject(new Error(`never settled: no answer within ${ms} ms`)), ms))]);",
            )
            .call2(&JsValue::NULL, &promise, &JsValue::from(ms))?
            .unchecked_into(),
        };
        JsFuture::from(promise).await
    }

    fn class_and_message(error: &JsValue) -> (String, String) {
        let class = Reflect::get(error, &s("constructor"))
            .and_then(|c| Reflect::get(&c, &s("name")))
            .ok()
            .and_then(|n| n.as_string())
            .unwrap_or_default();
        let message = Reflect::get(error, &s("message"))
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_else(|| format!("{error:?}"));
        (class, message)
    }

    /// A bad value for an argument, and what its message must contain (by default the call and
    /// the argument's name, e.g. `decode_grid(): n`).
    struct Bad {
        value: JsValue,
        expected: Option<Vec<String>>,
    }

    fn bad(values: Vec<JsValue>) -> Vec<Bad> {
        values
            .into_iter()
            .map(|value| Bad {
                value,
                expected: None,
            })
            .collect()
    }

    /// What an argument is, hence which bad values it gets.
    #[derive(Clone)]
    enum Kind {
        Choice(&'static [&'static str]),
        Count(f64, f64),
        Number(f64, f64),
        Seed,
        Image,
        Images,
        Labels,
        Bool,
        /// The `i`-th argument of the gzipped subset (`images` or `labels`).
        Gzip(&'static str),
        /// The AE's Gaussian (`mean`, 2 numbers; `chol`, 3).
        Floats(usize),
        /// `mean`/`chol` with the VAE: left out or empty.
        Nothing,
        /// A string of at most this many characters.
        Text(usize),
        /// A weights file's bytes (`Uint8Array` or `ArrayBuffer`).
        Bytes,
        Settings,
        /// The committed weights handed to a constructor (`bundledWeights()`), or left out.
        Weights,
    }

    fn bad_values(kind: &Kind, call: &str) -> Vec<Bad> {
        let common = || {
            vec![
                JsValue::NULL,
                JsValue::UNDEFINED,
                object(&[]),
                JsValue::TRUE,
                hostile_js::revoked_proxy(),
            ]
        };
        // A typed array whose buffer was transferred away: the message must say so (it used to
        // read as an empty array).
        let detached = |class: &str, len: u32| Bad {
            value: hostile_js::detached(class, len),
            expected: Some(vec![call.to_string(), "detached".to_string()]),
        };
        match kind {
            Kind::Choice(choices) => {
                let mut v = common();
                v.extend([
                    n(5.0),
                    array(&[]),
                    a_symbol(),
                    a_bigint(),
                    a_function(),
                    s("nope"),
                    s(""),
                    s(&choices[0].to_uppercase()),
                    array(&[s(choices[0])]),
                ]);
                bad(v)
            }
            Kind::Count(lo, hi) => {
                let mut v = common();
                v.extend([
                    n(-1.0),
                    n(2.7),
                    n(lo + 0.5),
                    n(2f64.powi(32) + 5.0),
                    n(2f64.powi(32) + lo),
                    n(f64::NAN),
                    n(f64::INFINITY),
                    n(f64::NEG_INFINITY),
                    s("3"),
                    a_bigint(),
                    n(hi + 1.0),
                    n(1e9),
                ]);
                if *lo >= 1.0 {
                    v.push(n(lo - 1.0));
                }
                bad(v)
            }
            Kind::Number(lo, hi) => {
                let mut v = common();
                v.extend([
                    n(f64::NAN),
                    n(f64::INFINITY),
                    n(f64::NEG_INFINITY),
                    s("0.5"),
                    a_bigint(),
                    numbers(&[0.5]),
                    n(hi + (hi - lo) + 1.0),
                    n(lo - (hi - lo) - 1.0),
                ]);
                bad(v)
            }
            Kind::Seed => {
                let mut v = common();
                v.extend([
                    n(-1.0),
                    n(0.5),
                    n(2f64.powi(53)),
                    n(f64::NAN),
                    n(f64::INFINITY),
                    s("1"),
                    a_bigint(),
                ]);
                bad(v)
            }
            Kind::Image | Kind::Images => {
                let mut with_nan = vec![0.0; PIXELS];
                with_nan[5] = f64::NAN;
                let mut with_string: Vec<JsValue> = (0..PIXELS).map(|_| n(0.0)).collect();
                with_string[3] = s("a");
                let mut huge = vec![0.0; PIXELS];
                huge[0] = 1e39;
                let mut v = common();
                v.extend([
                    n(5.0),
                    s("image"),
                    array_like(),
                    Array::new_with_length(1_000_000_000).into(),
                    array(&[]),
                    zeros(PIXELS as u32 - 1),
                    zeros(PIXELS as u32 + 1),
                    zeros(10_000_000),
                    numbers(&with_nan),
                    image_with(9, f32::INFINITY),
                    image_with(10, 1.5),
                    image_with(11, -0.1),
                    array(&with_string),
                    Array::new_with_length(PIXELS as u32).into(),
                    Uint8Array::new_with_length(PIXELS as u32).into(),
                    Float64Array::from(&huge[..]).into(),
                    a_function(),
                ]);
                if matches!(kind, Kind::Images) {
                    v.push(zeros((PIXELS * (MAX_EXAMPLES + 1)) as u32));
                    v.push(zeros(0));
                } else {
                    v.push(zeros(2 * PIXELS as u32));
                }
                v.extend([
                    hostile_js::throwing_element(PIXELS as u32),
                    hostile_js::throwing_length(PIXELS as u32),
                    hostile_js::prototype_trap(PIXELS as u32),
                    hostile_js::fake_typed_array(),
                ]);
                let mut v = bad(v);
                v.push(detached("Float32Array", PIXELS as u32));
                v
            }
            Kind::Labels => {
                let mut v = common();
                v.extend([
                    n(5.0),
                    s("1"),
                    numbers(&[12.0]),
                    numbers(&[1.5]),
                    numbers(&[-1.0]),
                    numbers(&[f64::NAN]),
                    array(&[s("1")]),
                    Uint8Array::from(&[10u8][..]).into(),
                    f32s(&[1.0]),
                    array_like(),
                    Array::new_with_length(1_000_000_000).into(),
                    numbers(&[1.0, 2.0]),
                    array(&[]),
                    hostile_js::throwing_element(4),
                    hostile_js::throwing_length(1),
                    hostile_js::prototype_trap(1),
                ]);
                let mut v = bad(v);
                v.push(detached("Uint8Array", 1));
                v
            }
            Kind::Bool => bad(vec![
                JsValue::NULL,
                JsValue::UNDEFINED,
                object(&[]),
                s("yes"),
                n(1.0),
                n(0.0),
                array(&[]),
            ]),
            Kind::Gzip(file) => {
                let mut values = common();
                values.extend([
                    n(5.0),
                    s("gz"),
                    numbers(&[31.0, 139.0, 8.0]),
                    f32s(&[1.0, 2.0]),
                    array_like(),
                    Uint8Array::new_with_length((64 << 20) + 1).into(),
                    hostile_js::prototype_trap(4),
                    hostile_js::fake_typed_array(),
                ]);
                let mut v = bad(values);
                v.push(detached("Uint8Array", 4));
                v.push(Bad {
                    value: hostile_js::detached_buffer(4),
                    expected: Some(vec![call.to_string(), "detached ArrayBuffer".to_string()]),
                });
                // Bytes of the right type but not the file: the message names the file.
                for content in [
                    Uint8Array::new_with_length(0),
                    Uint8Array::from(&b"not a gzip file"[..]),
                ] {
                    v.push(Bad {
                        value: content.into(),
                        expected: Some(vec![call.to_string(), format!("subset-{file}")]),
                    });
                }
                v
            }
            Kind::Floats(len) => {
                let mut nan = vec![0.0; *len];
                nan[0] = f64::NAN;
                let mut far = vec![0.0; *len];
                far[0] = 1e5;
                let mut text: Vec<JsValue> = (0..*len).map(|_| n(0.0)).collect();
                text[1] = s("a");
                let mut v = common();
                v.extend([
                    n(5.0),
                    s("0,0"),
                    numbers(&[0.0]),
                    numbers(&vec![0.0; len + 1]),
                    numbers(&nan),
                    numbers(&far),
                    array(&text),
                    array_like(),
                    hostile_js::throwing_length(*len as u32),
                ]);
                let mut v = bad(v);
                v.push(detached("Float32Array", *len as u32));
                v
            }
            Kind::Nothing => bad(vec![
                numbers(&[0.0, 0.0]),
                n(5.0),
                s(""),
                JsValue::NULL,
                object(&[]),
                f32s(&[1.0, 0.0, 1.0]),
                hostile_js::throwing_length(0),
                hostile_js::revoked_proxy(),
            ]),
            Kind::Text(max) => {
                let mut v = common();
                v.extend([n(5.0), a_symbol(), array(&[]), s(&"x".repeat(max + 1))]);
                bad(v)
            }
            Kind::Bytes => {
                let mut v = common();
                v.extend([
                    n(5.0),
                    s("bytes"),
                    numbers(&[1.0, 2.0]),
                    f32s(&[1.0]),
                    array_like(),
                    hostile_js::prototype_trap(4),
                    hostile_js::fake_typed_array(),
                ]);
                let mut v = bad(v);
                v.push(detached("Uint8Array", 4));
                v.push(Bad {
                    value: hostile_js::detached_buffer(4),
                    expected: Some(vec![call.to_string(), "detached ArrayBuffer".to_string()]),
                });
                v
            }
            Kind::Settings => settings_cases(call),
            Kind::Weights => weights_cases(call),
        }
    }

    /// Bad `weights` arguments: wrong types, missing or unknown fields, a manifest that does not
    /// parse, files missing, of the wrong type or not matching the manifest's SHA-256.
    fn weights_cases(call: &str) -> Vec<Bad> {
        let good = digit_lab::web::weights::bundled_weights().unwrap();
        let manifest = Reflect::get(&good, &s("manifest")).unwrap();
        let files = Reflect::get(&good, &s("files")).unwrap();
        let names: Vec<String> = js_sys::Object::keys(files.unchecked_ref::<js_sys::Object>())
            .iter()
            .map(|k| k.as_string().unwrap())
            .collect();
        // Every file named, none with its own bytes.
        let tampered = js_sys::Object::new();
        for name in &names {
            Reflect::set(&tampered, &s(name), &Uint8Array::from(&[1u8, 2, 3][..])).unwrap();
        }
        let with =
            |manifest: JsValue, files: JsValue| object(&[("manifest", manifest), ("files", files)]);
        let mut cases = bad(vec![
            n(5.0),
            s("weights"),
            JsValue::TRUE,
            JsValue::NULL,
            array(&[]),
            a_function(),
            object(&[]),
            object(&[("manifest", manifest.clone())]),
            object(&[("files", files.clone())]),
            object(&[
                ("manifest", manifest.clone()),
                ("files", files.clone()),
                ("extra", n(1.0)),
            ]),
            with(n(5.0), files.clone()),
            with(s("not json"), files.clone()),
            with(s("{}"), files.clone()),
            with(manifest.clone(), n(5.0)),
            with(manifest.clone(), array(&[])),
            with(manifest.clone(), object(&[])),
            with(manifest.clone(), object(&[("x.bpk", n(5.0))])),
            with(manifest.clone(), object(&[("x.bpk", s("bytes"))])),
            with(manifest.clone(), tampered.into()),
            hostile_js::revoked_proxy(),
            with(hostile_js::revoked_proxy(), files.clone()),
            with(manifest.clone(), hostile_js::revoked_proxy()),
        ]);
        // A file whose buffer was transferred away: named, not taken for a corrupt file.
        cases.push(Bad {
            value: with(
                manifest,
                object(&[(&names[0], hostile_js::detached("Uint8Array", 8))]),
            ),
            expected: Some(vec![
                call.to_string(),
                format!("weights.files[{:?}] is a detached Uint8Array", names[0]),
            ]),
        });
        cases
    }

    /// Good settings of `LiveTraining.create` (a small batch: sessions are made for real).
    fn good_settings(extra: &[(&str, JsValue)]) -> JsValue {
        let mut fields = vec![
            ("model", s("ae")),
            ("learningRate", n(5e-3)),
            ("batchSize", n(16.0)),
            ("epochs", n(2.0)),
            ("seed", n(1.0)),
        ];
        for (key, value) in extra {
            fields.retain(|(k, _)| k != key);
            fields.push((key, value.clone()));
        }
        object(&fields)
    }

    fn without(field: &str) -> JsValue {
        let settings = good_settings(&[]);
        Reflect::delete_property(settings.unchecked_ref::<Object>(), &s(field)).unwrap();
        settings
    }

    fn settings_cases(call: &str) -> Vec<Bad> {
        let expect = |text: &str| Some(vec![call.to_string(), text.to_string()]);
        let mut cases = Vec::new();
        for value in [
            n(5.0),
            s("fast"),
            JsValue::NULL,
            JsValue::UNDEFINED,
            JsValue::TRUE,
            array(&[]),
            f32s(&[1.0]),
            a_function(),
        ] {
            cases.push(Bad {
                value,
                expected: expect("settings must be an object"),
            });
        }
        cases.push(Bad {
            value: hostile_js::revoked_proxy(),
            expected: expect("settings cannot be read"),
        });
        for (field, hint) in [
            ("colour", "\"colour\""),
            ("codeSize", "did you mean \"code\""),
            ("learningrate", "did you mean \"learningRate\""),
            ("batch_size", "did you mean \"batchSize\""),
            ("Epochs", "did you mean \"epochs\""),
            ("seeds", "did you mean \"seed\""),
            ("lr", "\"lr\""),
        ] {
            cases.push(Bad {
                value: good_settings(&[(field, n(8.0))]),
                expected: expect(hint),
            });
        }
        let field_cases: [(&str, Vec<JsValue>); 6] = [
            ("model", vec![n(5.0), s("gan"), s("AE"), JsValue::NULL]),
            (
                "learningRate",
                vec![
                    s("0.01"),
                    n(f64::NAN),
                    n(f64::INFINITY),
                    n(-1.0),
                    n(0.0),
                    n(2.0),
                    JsValue::NULL,
                ],
            ),
            (
                "batchSize",
                vec![
                    n(0.0),
                    n(-1.0),
                    n(2.5),
                    n(2f64.powi(32) + 64.0),
                    n(1e9),
                    n(1025.0),
                    s("64"),
                    n(f64::NAN),
                ],
            ),
            (
                "epochs",
                vec![
                    n(0.0),
                    n(1.5),
                    n(101.0),
                    n(-1.0),
                    s("3"),
                    n(2f64.powi(32) + 1.0),
                ],
            ),
            (
                "code",
                vec![
                    n(1.0),
                    n(33.0),
                    n(2.5),
                    n(-2.0),
                    s("8"),
                    JsValue::NULL,
                    n(2f64.powi(32) + 2.0),
                ],
            ),
            (
                "seed",
                vec![
                    n(-1.0),
                    n(0.5),
                    n(2f64.powi(53)),
                    s("1"),
                    n(f64::NAN),
                    JsValue::NULL,
                ],
            ),
        ];
        for (field, values) in field_cases {
            for value in values {
                cases.push(Bad {
                    value: good_settings(&[(field, value)]),
                    expected: expect(&format!("settings.{field}")),
                });
            }
        }
        // A symbol key is no setting either.
        let with_symbol = good_settings(&[]);
        Reflect::set(&with_symbol, &a_symbol(), &n(1.0)).unwrap();
        cases.push(Bad {
            value: with_symbol,
            expected: expect("unknown field"),
        });
        for field in ["model", "learningRate", "batchSize", "epochs"] {
            cases.push(Bad {
                value: without(field),
                expected: expect(&format!("settings.{field} is missing")),
            });
        }
        // The VAE's latent space is 2-D.
        cases.push(Bad {
            value: good_settings(&[("model", s("vae")), ("code", n(8.0))]),
            expected: expect("settings.code"),
        });
        cases
    }

    /// One export: how JS calls it, and its arguments (name as in the messages, kind, a good
    /// value).
    struct Export {
        target: JsValue,
        method: &'static str,
        call: &'static str,
        args: Vec<(&'static str, Kind, JsValue)>,
    }

    /// Tallies the cases and collects what went wrong, to report all failures at once.
    #[derive(Default)]
    struct Tally {
        cases: usize,
        failures: Vec<String>,
    }

    impl Tally {
        /// `result` must be a clear `Error` that mentions every `expected`.
        fn error(&mut self, what: &str, result: Result<JsValue, JsValue>, expected: &[String]) {
            self.cases += 1;
            match result {
                Ok(value) => self
                    .failures
                    .push(format!("{what}: no error, got {}", describe(&value))),
                Err(error) => {
                    let (class, message) = class_and_message(&error);
                    if class != "Error" {
                        self.failures
                            .push(format!("{what}: a {class:?}, not an Error: {message}"));
                    } else if let Some(missing) =
                        expected.iter().find(|e| !message.contains(e.as_str()))
                    {
                        self.failures
                            .push(format!("{what}: {message:?} does not mention {missing:?}"));
                    }
                }
            }
        }

        /// `result` must be a value.
        fn ok(&mut self, what: &str, result: Result<JsValue, JsValue>) -> Option<JsValue> {
            self.cases += 1;
            match result {
                Ok(value) => Some(value),
                Err(error) => {
                    let (class, message) = class_and_message(&error);
                    self.failures.push(format!("{what}: {class}: {message}"));
                    None
                }
            }
        }

        /// Either a value or a "busy" `Error` (a call that overlaps another on the same object).
        /// Returns whether it was busy.
        fn ok_or_busy(&mut self, what: &str, result: Result<JsValue, JsValue>) -> bool {
            match result {
                Ok(_) => {
                    self.cases += 1;
                    false
                }
                Err(error) => {
                    self.error(what, Err(error), &["busy".to_string()]);
                    true
                }
            }
        }

        /// `result` must have settled: a value or a JS `Error` (not a trap's `RuntimeError`, not
        /// the time limit of [`call_within`]).
        fn settled(&mut self, what: &str, result: Result<JsValue, JsValue>) {
            self.cases += 1;
            if let Err(error) = result {
                let (class, message) = class_and_message(&error);
                if class != "Error" || message.starts_with("never settled") {
                    self.failures.push(format!("{what}: {class}: {message}"));
                }
            }
        }

        /// A result must be an array-like of `len` numbers.
        fn length(&mut self, what: &str, result: Result<JsValue, JsValue>, len: u32) {
            if let Some(value) = self.ok(what, result) {
                let got = Reflect::get(&value, &s("length"))
                    .ok()
                    .and_then(|l| l.as_f64());
                if got != Some(f64::from(len)) {
                    self.failures
                        .push(format!("{what}: expected {len} values, got {got:?}"));
                }
            }
        }
    }

    /// Every bad argument of `export`, each followed by `alive` (a good call on the object).
    async fn sweep_export(tally: &mut Tally, export: &Export, alive: &Alive) {
        for (i, (name, kind, _)) in export.args.iter().enumerate() {
            for bad in bad_values(kind, export.call) {
                let mut args: Vec<JsValue> = export.args.iter().map(|a| a.2.clone()).collect();
                args[i] = bad.value.clone();
                let what = format!("{} with {name} = {}", export.call, describe(&bad.value));
                let expected = bad
                    .expected
                    .unwrap_or_else(|| vec![format!("{}: {name}", export.call)]);
                let result =
                    call_within(&export.target, export.method, &args, Some(BAD_CALL_MS)).await;
                tally.error(&what, result, &expected);
                alive.check(tally, &what).await;
            }
        }
    }

    /// A good call on an object, after each bad one: it must still work.
    struct Alive {
        target: JsValue,
        method: &'static str,
        args: Vec<JsValue>,
        len: u32,
    }

    impl Alive {
        async fn check(&self, tally: &mut Tally, after: &str) {
            let result = call(&self.target, self.method, &self.args).await;
            match result {
                Ok(value)
                    if Reflect::get(&value, &s("length"))
                        .ok()
                        .and_then(|l| l.as_f64())
                        == Some(f64::from(self.len)) => {}
                Ok(value) => tally.failures.push(format!(
                    "after {after}: {}() returned {}",
                    self.method,
                    describe(&value)
                )),
                Err(error) => tally.failures.push(format!(
                    "after {after}: {}() no longer works: {:?}",
                    self.method,
                    class_and_message(&error)
                )),
            }
        }
    }

    fn class_of(instance: &JsValue) -> JsValue {
        Reflect::get(instance, &s("constructor")).unwrap()
    }

    pub async fn run(backend: &str, images: &[u8], labels: &[u8]) {
        let b = s(backend);
        let image = zeros(PIXELS as u32);
        let (gz_images, gz_labels): (JsValue, JsValue) = (
            Uint8Array::from(images).into(),
            Uint8Array::from(labels).into(),
        );
        let lab: JsValue = DigitLab::create(b.clone(), JsValue::UNDEFINED)
            .await
            .unwrap()
            .into();
        let run: JsValue = LiveTraining::create(
            b.clone(),
            gz_images.clone(),
            gz_labels.clone(),
            good_settings(&[]),
        )
        .await
        .unwrap()
        .into();
        let tuner: JsValue = HandwritingTuner::create(b.clone(), s("head"), JsValue::UNDEFINED)
            .await
            .unwrap()
            .into();
        let lab_alive = Alive {
            target: lab.clone(),
            method: "classify",
            args: vec![image.clone(), s("best")],
            len: 10,
        };
        let run_alive = Alive {
            target: run.clone(),
            method: "decode",
            args: vec![n(0.0), n(0.0)],
            len: PIXELS as u32,
        };
        let tuner_alive = Alive {
            target: tuner.clone(),
            method: "probabilities",
            args: vec![image.clone(), JsValue::FALSE],
            len: 10,
        };
        let model = || ("model", Kind::Choice(&["ae", "vae"]), s("vae"));
        let coord = |name| (name, Kind::Number(-1e4, 1e4), n(0.5));
        let lab_exports = vec![
            Export {
                target: class_of(&lab),
                method: "create",
                call: "DigitLab.create()",
                args: vec![
                    ("backend", Kind::Choice(&["auto", "cpu"]), b.clone()),
                    ("weights", Kind::Weights, JsValue::UNDEFINED),
                ],
            },
            Export {
                target: lab.clone(),
                method: "classify",
                call: "classify()",
                args: vec![
                    ("image", Kind::Image, image.clone()),
                    ("classifier", Kind::Choice(&["best", "paper"]), s("best")),
                ],
            },
            Export {
                target: lab.clone(),
                method: "encode",
                call: "encode()",
                args: vec![("image", Kind::Image, image.clone())],
            },
            Export {
                target: lab.clone(),
                method: "checkDigit",
                call: "checkDigit()",
                args: vec![("image", Kind::Image, image.clone())],
            },
            Export {
                target: lab.clone(),
                method: "decode",
                call: "decode()",
                args: vec![model(), coord("x"), coord("y")],
            },
            Export {
                target: lab.clone(),
                method: "decode_grid",
                call: "decode_grid()",
                args: vec![
                    model(),
                    ("n", Kind::Count(1.0, 40.0), n(3.0)),
                    coord("x0"),
                    coord("x1"),
                    coord("y0"),
                    coord("y1"),
                ],
            },
            Export {
                target: lab.clone(),
                method: "reconstruct",
                call: "reconstruct()",
                args: vec![("image", Kind::Image, image.clone())],
            },
            Export {
                target: lab.clone(),
                method: "denoise",
                call: "denoise()",
                args: vec![
                    ("image", Kind::Image, image.clone()),
                    ("amount", Kind::Number(0.0, 1.0), n(0.3)),
                    ("seed", Kind::Seed, n(1.0)),
                    ("model", Kind::Choice(&["dae", "dae_wide"]), s("dae")),
                ],
            },
            Export {
                target: lab.clone(),
                method: "sample",
                call: "sample()",
                args: vec![
                    ("model", Kind::Choice(&["ae", "vae"]), s("ae")),
                    ("count", Kind::Count(1.0, 400.0), n(2.0)),
                    ("seed", Kind::Seed, n(1.0)),
                    ("mean", Kind::Floats(2), numbers(&[0.0, 0.0])),
                    ("chol", Kind::Floats(3), numbers(&[1.0, 0.0, 1.0])),
                ],
            },
            Export {
                target: lab.clone(),
                method: "sample",
                call: "sample()",
                args: vec![
                    model(),
                    ("count", Kind::Count(1.0, 400.0), n(2.0)),
                    ("seed", Kind::Seed, n(1.0)),
                    ("mean", Kind::Nothing, array(&[])),
                    ("chol", Kind::Nothing, JsValue::UNDEFINED),
                ],
            },
            Export {
                target: lab.clone(),
                method: "interpolate",
                call: "interpolate()",
                args: vec![
                    model(),
                    ("a", Kind::Image, image.clone()),
                    ("b", Kind::Image, image.clone()),
                    ("steps", Kind::Count(2.0, 64.0), n(3.0)),
                ],
            },
        ];
        let training_exports = vec![
            Export {
                target: class_of(&run),
                method: "create",
                call: "LiveTraining.create()",
                args: vec![
                    ("backend", Kind::Choice(&["auto", "cpu"]), b.clone()),
                    ("images", Kind::Gzip("images"), gz_images.clone()),
                    ("labels", Kind::Gzip("labels"), gz_labels.clone()),
                    ("settings", Kind::Settings, good_settings(&[])),
                ],
            },
            Export {
                target: run.clone(),
                method: "train",
                call: "LiveTraining.train()",
                args: vec![("steps", Kind::Count(1.0, 10_000.0), n(1.0))],
            },
            Export {
                target: run.clone(),
                method: "decode",
                call: "LiveTraining.decode()",
                args: vec![coord("x"), coord("y")],
            },
            Export {
                target: run.clone(),
                method: "exportFiles",
                call: "LiveTraining.exportFiles()",
                args: vec![("trainSeconds", Kind::Number(0.0, 1e7), n(1.0))],
            },
        ];
        let tuner_exports = vec![
            Export {
                target: class_of(&tuner),
                method: "create",
                call: "HandwritingTuner.create()",
                args: vec![
                    ("backend", Kind::Choice(&["auto", "cpu"]), b.clone()),
                    ("layers", Kind::Choice(&["head", "dense"]), s("head")),
                    ("weights", Kind::Weights, JsValue::UNDEFINED),
                ],
            },
            Export {
                target: tuner.clone(),
                method: "fit",
                call: "HandwritingTuner.fit()",
                args: vec![
                    ("images", Kind::Images, image.clone()),
                    ("labels", Kind::Labels, numbers(&[3.0])),
                    ("steps", Kind::Count(1.0, 1000.0), n(1.0)),
                    ("learningRate", Kind::Number(1e-9, 1.0), n(3e-3)),
                ],
            },
            Export {
                target: tuner.clone(),
                method: "probabilities",
                call: "HandwritingTuner.probabilities()",
                args: vec![
                    ("images", Kind::Images, image.clone()),
                    ("bundled", Kind::Bool, JsValue::FALSE),
                ],
            },
            Export {
                target: tuner.clone(),
                method: "exportFiles",
                call: "HandwritingTuner.exportFiles()",
                args: vec![
                    ("images", Kind::Gzip("images"), gz_images.clone()),
                    ("labels", Kind::Gzip("labels"), gz_labels.clone()),
                    ("trainSeconds", Kind::Number(0.0, 1e7), n(1.0)),
                ],
            },
        ];

        let mut tally = Tally::default();
        for export in &lab_exports {
            sweep_export(&mut tally, export, &lab_alive).await;
        }
        let lab_cases = tally.cases;
        for export in &training_exports {
            sweep_export(&mut tally, export, &run_alive).await;
        }
        for export in &tuner_exports {
            sweep_export(&mut tally, export, &tuner_alive).await;
        }
        let imported = Imported::create(&b).await;
        for (exports, alive) in imported.exports(&b) {
            for export in &exports {
                sweep_export(&mut tally, export, &alive).await;
            }
        }
        let argument_cases = tally.cases;
        // A Float32Array's own `length` property is not its length: a valid image.
        tally.length(
            "classify() of a Float32Array with an own `length` that throws",
            call_within(
                &lab,
                "classify",
                &[hostile_js::own_throwing_length(PIXELS as u32), s("best")],
                Some(BAD_CALL_MS),
            )
            .await,
            10,
        );
        freeing_getters(&mut tally, &b, &lab, &tuner, &imported).await;

        order_and_overlap(
            &mut tally, backend, &lab, &run, &tuner, &gz_images, &gz_labels,
        )
        .await;
        for alive in [&lab_alive, &run_alive, &tuner_alive] {
            alive.check(&mut tally, "the calls in any order").await;
        }
        console_log!(
            "{backend}: {} cases ({lab_cases} bad-argument cases on DigitLab, {} on the training \
             objects and imported models, {} hostile getters, out-of-order, overlapping and \
             use-after-free), {} failures",
            tally.cases,
            argument_cases - lab_cases,
            tally.cases - argument_cases,
            tally.failures.len()
        );
        assert!(
            tally.failures.is_empty(),
            "{} of {} cases failed:\n{}",
            tally.failures.len(),
            tally.cases,
            tally.failures.join("\n")
        );
        assert!(
            argument_cases >= 300,
            "only {argument_cases} bad-argument cases"
        );
    }

    /// Models imported from the committed weights files: the best classifier and the VAE, and
    /// the classifier's constructor arguments.
    struct Imported {
        classifier: JsValue,
        vae: JsValue,
        create_args: Vec<JsValue>,
    }

    impl Imported {
        async fn create(b: &JsValue) -> Imported {
            let args = |key: &str| {
                let (manifest, bytes) = digit_lab::web::bundled_files(key).unwrap();
                let json: serde_json::Value = serde_json::from_str(manifest).unwrap();
                let file = json["models"][key]["file"].as_str().unwrap();
                vec![
                    b.clone(),
                    s(manifest),
                    s(file),
                    Uint8Array::from(bytes).into(),
                ]
            };
            let load = |args: Vec<JsValue>| async move {
                let [backend, manifest, file, bytes] = <[JsValue; 4]>::try_from(args).unwrap();
                JsValue::from(
                    ImportedModel::create(backend, manifest, file, bytes)
                        .await
                        .unwrap(),
                )
            };
            Imported {
                classifier: load(args("classifier_best")).await,
                vae: load(args("vae")).await,
                create_args: args("classifier_best"),
            }
        }

        /// Its exports, in groups that share the good call made after each bad one.
        fn exports(&self, b: &JsValue) -> Vec<(Vec<Export>, Alive)> {
            let image = zeros(PIXELS as u32);
            let coord = |name| (name, Kind::Number(-1e4, 1e4), n(0.5));
            let create_args = &self.create_args;
            let classifier = vec![
                Export {
                    target: class_of(&self.classifier),
                    method: "create",
                    call: "ImportedModel.create()",
                    args: vec![
                        ("backend", Kind::Choice(&["auto", "cpu"]), b.clone()),
                        ("manifest", Kind::Text(1 << 20), create_args[1].clone()),
                        ("file", Kind::Text(255), create_args[2].clone()),
                        ("bytes", Kind::Bytes, create_args[3].clone()),
                    ],
                },
                Export {
                    target: self.classifier.clone(),
                    method: "classify",
                    call: "ImportedModel.classify()",
                    args: vec![("images", Kind::Images, image.clone())],
                },
            ];
            let vae = vec![
                Export {
                    target: self.vae.clone(),
                    method: "encode",
                    call: "ImportedModel.encode()",
                    args: vec![("images", Kind::Images, image.clone())],
                },
                Export {
                    target: self.vae.clone(),
                    method: "decode",
                    call: "ImportedModel.decode()",
                    args: vec![coord("x"), coord("y")],
                },
                Export {
                    target: self.vae.clone(),
                    method: "reconstruct",
                    call: "ImportedModel.reconstruct()",
                    args: vec![("image", Kind::Image, image.clone())],
                },
            ];
            let alive = |target: &JsValue, method, args, len| Alive {
                target: target.clone(),
                method,
                args,
                len,
            };
            vec![
                (
                    classifier,
                    alive(&self.classifier, "classify", vec![image], 10),
                ),
                (
                    vae,
                    alive(&self.vae, "decode", vec![n(0.0), n(0.0)], PIXELS as u32),
                ),
            ]
        }
    }

    /// A call whose argument `at` (`name`: `len` values `fill`) has a getter that frees the object
    /// called; `class` and `create` make a fresh object for it.
    struct Freeing {
        class: JsValue,
        create: Vec<JsValue>,
        method: &'static str,
        call: &'static str,
        args: Vec<JsValue>,
        at: usize,
        name: &'static str,
        len: u32,
        fill: f64,
    }

    /// Getters that free the very object being called: the call is an `Error` naming the
    /// argument (or, where the getter swallows what `free()` throws, it settles either way),
    /// never a promise left pending or a trap; afterwards the object is gone (an `Error`).
    async fn freeing_getters(
        tally: &mut Tally,
        b: &JsValue,
        lab: &JsValue,
        tuner: &JsValue,
        imported: &Imported,
    ) {
        let image = zeros(PIXELS as u32);
        let fit = vec![image.clone(), numbers(&[3.0]), n(1.0), n(1e-3)];
        let case = |class: &JsValue,
                    create: &[JsValue],
                    method: &'static str,
                    call_name: &'static str,
                    args: &[JsValue],
                    at: usize,
                    name: &'static str| {
            let (len, fill) = if name == "labels" {
                (1, 3.0)
            } else {
                (PIXELS as u32, 0.0)
            };
            Freeing {
                class: class_of(class),
                create: create.to_vec(),
                method,
                call: call_name,
                args: args.to_vec(),
                at,
                name,
                len,
                fill,
            }
        };
        let lab_args = [b.clone()];
        let tuner_args = [b.clone(), s("head")];
        let cases = [
            case(
                lab,
                &lab_args,
                "classify",
                "classify()",
                &[image.clone(), s("best")],
                0,
                "image",
            ),
            case(
                lab,
                &lab_args,
                "checkDigit",
                "checkDigit()",
                std::slice::from_ref(&image),
                0,
                "image",
            ),
            case(
                &imported.classifier,
                &imported.create_args,
                "classify",
                "ImportedModel.classify()",
                std::slice::from_ref(&image),
                0,
                "images",
            ),
            case(
                tuner,
                &tuner_args,
                "fit",
                "HandwritingTuner.fit()",
                &fit,
                0,
                "images",
            ),
            case(
                tuner,
                &tuner_args,
                "fit",
                "HandwritingTuner.fit()",
                &fit,
                1,
                "labels",
            ),
        ];
        for c in &cases {
            for swallow in [false, true] {
                let what = format!(
                    "{} with a getter in {} that frees the object{}",
                    c.call,
                    c.name,
                    if swallow {
                        " (and swallows the error)"
                    } else {
                        ""
                    }
                );
                let made = call(&c.class, "create", &c.create).await;
                let Some(object) = tally.ok(&format!("{what}: create"), made) else {
                    continue;
                };
                let mut args = c.args.clone();
                args[c.at] = hostile_js::freeing(&object, c.len, c.fill, swallow);
                let result = call_within(&object, c.method, &args, Some(BAD_CALL_MS)).await;
                if swallow {
                    tally.settled(&what, result);
                } else {
                    let expected = format!("{}: {}[0] cannot be read", c.call, c.name);
                    tally.error(&what, result, &[expected]);
                }
                let again = call_within(&object, c.method, &c.args, Some(BAD_CALL_MS)).await;
                tally.error(&format!("{what}: the call again"), again, &[]);
            }
        }
    }

    /// Calls in any order, overlapping calls on one object, and use after `free()`.
    async fn order_and_overlap(
        tally: &mut Tally,
        backend: &str,
        lab: &JsValue,
        run: &JsValue,
        tuner: &JsValue,
        gz_images: &JsValue,
        gz_labels: &JsValue,
    ) {
        let gpu = backend != "cpu";
        let b = s(backend);
        let image = zeros(PIXELS as u32);

        // DigitLab holds no state a call changes: overlapping calls all succeed.
        let lab_calls: Vec<(&str, Vec<JsValue>)> = vec![
            ("classify", vec![image.clone(), s("paper")]),
            ("decode", vec![s("ae"), n(1.0), n(-1.0)]),
            (
                "decode_grid",
                vec![s("vae"), n(4.0), n(-1.0), n(1.0), n(-1.0), n(1.0)],
            ),
            (
                "sample",
                vec![s("vae"), n(3.0), n(2.0), array(&[]), array(&[])],
            ),
            (
                "denoise",
                vec![image.clone(), n(0.2), n(3.0), s("dae_wide")],
            ),
            ("encode", vec![image.clone()]),
            ("reconstruct", vec![image.clone()]),
            (
                "interpolate",
                vec![s("ae"), image.clone(), image.clone(), n(4.0)],
            ),
        ];
        let results = futures_util::future::join_all(
            lab_calls
                .iter()
                .map(|(method, args)| call(lab, method, args)),
        )
        .await;
        for ((method, _), result) in lab_calls.iter().zip(results) {
            tally.ok(&format!("overlapping DigitLab.{method}()"), result);
        }

        // A pending train(): every other call on the session is refused as busy (or, where a
        // backend finishes the call before the next starts, runs after it); the getters answer.
        let mut busy_seen = 0;
        let others: Vec<(&str, Vec<JsValue>)> = vec![
            ("train", vec![n(1.0)]),
            ("decode", vec![n(0.0), n(0.0)]),
            ("validate", vec![]),
            ("latentMap", vec![]),
            ("reconstructions", vec![]),
        ];
        for (method, args) in &others {
            let (first, second) =
                futures_util::future::join(call(run, "train", &[n(3.0)]), async {
                    let getters: Vec<Result<JsValue, JsValue>> =
                        ["progress", "config", "validLabels", "backend"]
                            .iter()
                            .map(|g| Reflect::get(run, &s(g)))
                            .collect();
                    (call(run, method, args).await, getters)
                })
                .await;
            tally.ok("train() overlapped by another call", first);
            let (result, getters) = second;
            if tally.ok_or_busy(&format!("LiveTraining.{method}() during train()"), result) {
                busy_seen += 1;
            }
            for (g, value) in ["progress", "config", "validLabels", "backend"]
                .iter()
                .zip(getters)
            {
                tally.ok(&format!("LiveTraining.{g} during train()"), value);
            }
        }
        // On WebGPU a read really waits for the device, so the calls do overlap.
        if gpu && busy_seen == 0 {
            tally
                .failures
                .push("no call overlapped a pending train() on WebGPU".into());
        }

        // The same for the tuner: fit() pending, then fit, probabilities, reset; steps answers.
        let example = image.clone();
        let tuner_others: Vec<(&str, Vec<JsValue>)> = vec![
            (
                "fit",
                vec![example.clone(), numbers(&[1.0]), n(1.0), n(1e-3)],
            ),
            ("probabilities", vec![example.clone(), JsValue::TRUE]),
            ("reset", vec![]),
        ];
        busy_seen = 0;
        for (method, args) in &tuner_others {
            let (first, (result, steps)) = futures_util::future::join(
                call(
                    tuner,
                    "fit",
                    &[example.clone(), numbers(&[2.0]), n(2.0), n(1e-3)],
                ),
                async {
                    let steps = Reflect::get(tuner, &s("steps"));
                    (call(tuner, method, args).await, steps)
                },
            )
            .await;
            tally.ok("fit() overlapped by another call", first);
            if tally.ok_or_busy(&format!("HandwritingTuner.{method}() during fit()"), result) {
                busy_seen += 1;
            }
            tally.ok("HandwritingTuner.steps during fit()", steps);
        }
        if gpu && busy_seen == 0 {
            tally
                .failures
                .push("no call overlapped a pending fit() on WebGPU".into());
        }
        tally.ok("HandwritingTuner.reset()", call(tuner, "reset", &[]).await);

        // Out of order: everything works before any training, and after the last epoch.
        let fresh: JsValue = call(
            &class_of(run),
            "create",
            &[
                b.clone(),
                gz_images.clone(),
                gz_labels.clone(),
                good_settings(&[("model", s("vae"))]),
            ],
        )
        .await
        .unwrap();
        tally.ok(
            "validate() before training",
            call(&fresh, "validate", &[]).await,
        );
        tally.length(
            "reconstructions() before training",
            call(&fresh, "reconstructions", &[]).await,
            16 * PIXELS as u32,
        );
        tally.length(
            "decode() before latentMap() on a 2-D code",
            call(&fresh, "decode", &[n(0.0), n(0.0)]).await,
            PIXELS as u32,
        );
        tally.ok(
            "latentMap() before training",
            call(&fresh, "latentMap", &[]).await,
        );
        tally.length(
            "HandwritingTuner.probabilities() before fit()",
            call(tuner, "probabilities", &[image.clone(), JsValue::FALSE]).await,
            10,
        );
        tally.ok(
            "HandwritingTuner.reset() before fit()",
            call(tuner, "reset", &[]).await,
        );

        // A code wider than 2-D: decode() maps a point of the latent map back through its
        // projection, so it needs latentMap() first (it used to abort the module).
        let wide: JsValue = call(
            &class_of(run),
            "create",
            &[
                b.clone(),
                gz_images.clone(),
                gz_labels.clone(),
                good_settings(&[("code", n(8.0))]),
            ],
        )
        .await
        .unwrap();
        tally.error(
            "decode() before latentMap() on an 8-value code",
            call(&wide, "decode", &[n(0.0), n(0.0)]).await,
            &["LiveTraining.decode()".into(), "latentMap() first".into()],
        );
        tally.ok(
            "train() after the refused decode()",
            call(&wide, "train", &[n(1.0)]).await,
        );
        tally.ok(
            "latentMap() on an 8-value code",
            call(&wide, "latentMap", &[]).await,
        );
        tally.length(
            "decode() after latentMap() on an 8-value code",
            call(&wide, "decode", &[n(0.5), n(-0.5)]).await,
            PIXELS as u32,
        );

        // Two sessions created at once (on WebGPU they share one device initialisation).
        let (one, two) = futures_util::future::join(
            call(
                &class_of(run),
                "create",
                &[
                    b.clone(),
                    gz_images.clone(),
                    gz_labels.clone(),
                    good_settings(&[]),
                ],
            ),
            call(&class_of(tuner), "create", &[b.clone(), s("dense")]),
        )
        .await;
        let one = tally.ok(
            "LiveTraining.create() beside HandwritingTuner.create()",
            one,
        );
        let two = tally.ok(
            "HandwritingTuner.create() beside LiveTraining.create()",
            two,
        );

        // Use after free(), double free(), free() while a call is pending: JS Errors, never a
        // trap; the pending call still finishes.
        let after_free = |what: &str| format!("{what} after free()");
        let lab_two: JsValue = call(&class_of(lab), "create", std::slice::from_ref(&b))
            .await
            .unwrap();
        tally.ok("DigitLab.free()", call(&lab_two, "free", &[]).await);
        tally.error(
            &after_free("DigitLab.classify()"),
            call(&lab_two, "classify", &[image.clone(), s("best")]).await,
            &[],
        );
        tally.error(
            &after_free("DigitLab.backend"),
            Reflect::get(&lab_two, &s("backend")),
            &[],
        );
        tally.error(
            &after_free("DigitLab.free()"),
            call(&lab_two, "free", &[]).await,
            &[],
        );
        for (object, method, args) in [
            (&fresh, "train", vec![n(1.0)]),
            (&wide, "decode", vec![n(0.0), n(0.0)]),
        ] {
            tally.ok("LiveTraining.free()", call(object, "free", &[]).await);
            tally.error(
                &after_free(&format!("LiveTraining.{method}()")),
                call(object, method, &args).await,
                &[],
            );
            tally.error(
                &after_free("LiveTraining.progress"),
                Reflect::get(object, &s("progress")),
                &[],
            );
        }
        if let Some(one) = one {
            let (pending, freed) =
                futures_util::future::join(call(&one, "train", &[n(2.0)]), async {
                    call(&one, "free", &[]).await
                })
                .await;
            tally.ok("train() pending while free() is called", pending);
            // wasm-bindgen refuses to free a borrowed object at once (an Error) and frees it
            // when the call ends; either way, nothing traps.
            if let Err(error) = freed {
                tally.error("free() during train()", Err(error), &[]);
            }
            tally.error(
                &after_free("LiveTraining.train()"),
                call(&one, "train", &[n(1.0)]).await,
                &[],
            );
        }
        if let Some(two) = two {
            tally.ok("HandwritingTuner.free()", call(&two, "free", &[]).await);
            tally.error(
                &after_free("HandwritingTuner.fit()"),
                call(
                    &two,
                    "fit",
                    &[image.clone(), numbers(&[1.0]), n(1.0), n(1e-3)],
                )
                .await,
                &[],
            );
            tally.error(
                &after_free("HandwritingTuner.steps"),
                Reflect::get(&two, &s("steps")),
                &[],
            );
        }
    }
}

/// A run saved as weights-directory files loads back through the page's import path (the same
/// checks `digit-lab eval` relies on: manifest, SHA-256, architecture) and decodes as the run
/// does; bad arguments and a reset-free busy call are clear errors.
#[wasm_bindgen_test]
async fn a_trained_run_exports_files_that_load_back() {
    // On WebGPU too: serialising reads every parameter back, which must not block there.
    for (backend, model, code) in [("cpu", "ae", 2), ("cpu", "vae", 2), ("auto", "ae", 2)] {
        let run = session(backend, model, 64, 5e-3).await;
        run.train(n(20.0)).await.unwrap();
        let files = run.export_files(n(1.5)).await.unwrap();
        let manifest = get(&files, "manifest").as_string().unwrap();
        let file = get(&files, "file").as_string().unwrap();
        let json: serde_json::Value = serde_json::from_str(&manifest).unwrap();
        let entry = &json["models"][model];
        assert_eq!(entry["file"], file.as_str());
        assert!(
            file.starts_with(&format!("{model}-")) && file.ends_with(".bpk"),
            "{file}"
        );
        assert_eq!(
            entry["hyperparameters"]["model"]["code"]
                .as_u64()
                .unwrap_or(2),
            code
        );
        assert_eq!(entry["train_seconds"], 1.5);
        assert!(entry["best_valid_loss"].as_f64().unwrap().is_finite());
        let imported = import_files(&files, model).await;
        // Decoding one point: the saved model (f16 weights) and the run agree closely.
        run.latent_map().await.unwrap();
        let want = run.decode(n(0.2), n(-0.1)).await.unwrap();
        let got = imported.decode(n(0.2), n(-0.1)).await.unwrap();
        let worst = largest_difference(&want, &got);
        assert!(
            worst < 5e-3,
            "{model}: saved and live decodes differ by {worst}"
        );
        for bad in [
            n(f64::NAN),
            n(-1.0),
            JsValue::from_str("1"),
            JsValue::UNDEFINED,
        ] {
            let message = match run.export_files(bad).await {
                Ok(_) => panic!("exported with a bad trainSeconds"),
                Err(e) => js_sys::Reflect::get(&JsValue::from(e), &JsValue::from_str("message"))
                    .unwrap()
                    .as_string()
                    .unwrap(),
            };
            assert!(
                message.starts_with("LiveTraining.exportFiles(): trainSeconds must be"),
                "{message}"
            );
        }
    }
}
