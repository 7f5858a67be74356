//! The browser API in headless Chromium (wasm-bindgen-test), on WebGPU and on the CPU backend:
//! every call, agreement between the backends and with the native golden outputs, and clear JS
//! errors for bad input after which the module keeps working.
//!
//! Run: `scripts/test-web` (builds for wasm32 with `--features web`).
#![cfg(all(target_arch = "wasm32", feature = "web"))]

mod hostile_js;

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use digit_lab::model::{Manifest, ModelKind};
use digit_lab::web::imported::sha256_hex;
use digit_lab::web::{DigitLab, ImportedModel, bundled_files};
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// WebGPU and CPU outputs, and either and the native golden values, agree within this
/// (absolute, on probabilities, codes and pixels in [0, 1]); latent codes are compared
/// relative to their magnitude.
const TOL: f32 = 2e-3;

fn golden() -> Value {
    serde_json::from_str(include_str!("fixtures/golden.json")).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn digits(g: &Value) -> Vec<Vec<f32>> {
    g["digits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d.as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_f64().unwrap() as f32 / 255.0)
                .collect()
        })
        .collect()
}

fn assert_close(got: &[f32], expected: &[f32], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    for (i, (a, b)) in got.iter().zip(expected).enumerate() {
        let tol = TOL * b.abs().max(1.0);
        assert!((a - b).abs() <= tol, "{what}[{i}]: {a} vs {b}");
    }
}

/// A numeric field of a result object: a Float32Array (images) or a plain array (codes).
fn field(value: &JsValue, name: &str) -> Vec<f32> {
    let v = js_sys::Reflect::get(value, &JsValue::from_str(name)).unwrap();
    if v.is_instance_of::<js_sys::Float32Array>() {
        js_sys::Float32Array::from(v).to_vec()
    } else {
        serde_wasm_bindgen::from_value(v).unwrap()
    }
}

/// A `Float32Array` of `values`, as the page passes images.
fn f32s(values: &[f32]) -> JsValue {
    js_sys::Float32Array::from(values).into()
}

fn s(text: &str) -> JsValue {
    JsValue::from_str(text)
}

fn n(x: f64) -> JsValue {
    JsValue::from_f64(x)
}

fn empty() -> JsValue {
    js_sys::Array::new().into()
}

fn error_message(result: Result<impl Sized, wasm_bindgen::JsError>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => {
            let js: JsValue = e.into();
            js_sys::Reflect::get(&js, &JsValue::from_str("message"))
                .unwrap()
                .as_string()
                .unwrap()
        }
    }
}

async fn check_against_golden(lab: &DigitLab) -> Vec<f32> {
    let g = golden();
    let digits = digits(&g);
    let labels: Vec<usize> = serde_json::from_value(g["labels"].clone()).unwrap();
    let mut all = Vec::new();
    for (i, d) in digits.iter().enumerate() {
        let probs = lab.classify(f32s(d), s("best")).await.unwrap();
        assert_close(
            &probs,
            &floats(&g["classify_best"])[i * 10..(i + 1) * 10],
            "classify best",
        );
        let argmax = probs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!(argmax, labels[i], "digit {i} classified");
        let paper = lab.classify(f32s(d), s("paper")).await.unwrap();
        assert_close(
            &paper,
            &floats(&g["classify_paper"])[i * 10..(i + 1) * 10],
            "classify paper",
        );
        let enc = lab.encode(f32s(d)).await.unwrap();
        assert_close(
            &field(&enc, "ae"),
            &floats(&g["ae_code"])[i * 2..i * 2 + 2],
            "ae code",
        );
        assert_close(
            &field(&enc, "vae_mu"),
            &floats(&g["vae_mu"])[i * 2..i * 2 + 2],
            "vae mu",
        );
        assert_close(
            &field(&enc, "vae_logvar"),
            &floats(&g["vae_logvar"])[i * 2..i * 2 + 2],
            "vae logvar",
        );
        let rec = lab.reconstruct(f32s(d)).await.unwrap();
        assert_close(
            &field(&rec, "ae"),
            &floats(&g["ae_reconstruction"])[i * 784..(i + 1) * 784],
            "ae reconstruction",
        );
        all.extend(probs);
    }
    let ae = lab.decode(s("ae"), n(0.5), n(-0.5)).await.unwrap();
    assert_close(&ae, &floats(&g["ae_decode"]), "ae decode");
    let vae = lab.decode(s("vae"), n(0.5), n(-0.5)).await.unwrap();
    assert_close(&vae, &floats(&g["vae_decode"]), "vae decode");
    let den = lab
        .denoise(f32s(&digits[0]), n(0.3), n(1.0), s("dae"))
        .await
        .unwrap();
    assert_close(
        &field(&den, "cleaned"),
        &floats(&g["denoise_cleaned"]),
        "denoised",
    );
    let wide = lab
        .denoise(f32s(&digits[0]), n(0.3), n(1.0), s("dae_wide"))
        .await
        .unwrap();
    assert_close(
        &field(&wide, "cleaned"),
        &floats(&g["denoise_wide_cleaned"]),
        "denoised (wide code)",
    );
    all.extend(ae);
    all.extend(vae);
    all.extend(field(&wide, "cleaned"));
    all
}

async fn check_batched_calls(lab: &DigitLab) {
    let g = golden();
    let d = digits(&g);
    let grid = lab
        .decode_grid(s("vae"), n(5.0), n(-2.0), n(2.0), n(-2.0), n(2.0))
        .await
        .unwrap();
    assert_eq!(grid.len(), 25 * 784);
    // The grid's centre is the decode of (0, 0); its top-left corner is (-2, 2).
    let centre = lab.decode(s("vae"), n(0.0), n(0.0)).await.unwrap();
    assert_close(&grid[12 * 784..13 * 784], &centre, "grid centre");
    let corner = lab.decode(s("vae"), n(-2.0), n(2.0)).await.unwrap();
    assert_close(&grid[..784], &corner, "grid corner");
    assert_eq!(
        lab.decode_grid(s("ae"), n(20.0), n(-5.0), n(5.0), n(-5.0), n(5.0))
            .await
            .unwrap()
            .len(),
        400 * 784
    );

    let s1 = lab
        .sample(s("vae"), n(4.0), n(9.0), empty(), empty())
        .await
        .unwrap();
    let s2 = lab
        .sample(s("vae"), n(4.0), n(9.0), empty(), empty())
        .await
        .unwrap();
    assert_eq!(s1.len(), 4 * 784);
    assert_eq!(s1, s2, "same seed, same samples");
    let ae = lab
        .sample(
            s("ae"),
            n(3.0),
            n(1.0),
            f32s(&[0.0, 0.0]),
            f32s(&[1.0, 0.0, 1.0]),
        )
        .await
        .unwrap();
    assert_eq!(ae.len(), 3 * 784);

    let path = lab
        .interpolate(s("ae"), f32s(&d[0]), f32s(&d[1]), n(6.0))
        .await
        .unwrap();
    assert_eq!(path.len(), 6 * 784);
    let first = lab.reconstruct(f32s(&d[0])).await.unwrap();
    assert_close(
        &path[..784],
        &field(&first, "ae"),
        "interpolation starts at the first image",
    );
    assert_eq!(
        lab.interpolate(s("vae"), f32s(&d[0]), f32s(&d[1]), n(2.0))
            .await
            .unwrap()
            .len(),
        2 * 784
    );
    let den = lab
        .denoise(f32s(&d[0]), n(0.5), n(3.0), s("dae_wide"))
        .await
        .unwrap();
    assert!(field(&den, "noisy").iter().all(|p| (0.0..=1.0).contains(p)));
}

/// A few bad calls with their messages (`tests/web_training.rs` sweeps every export), then a
/// good call: the lab keeps working.
async fn check_bad_input(lab: &DigitLab) {
    let mut nan = vec![0.0; 784];
    nan[5] = f32::NAN;
    let mut big = vec![0.0; 784];
    big[7] = 2.0;
    let zeros = || f32s(&[0.0; 784]);
    for (message, expected) in [
        (
            error_message(lab.classify(f32s(&[0.5; 100]), s("best")).await),
            "classify(): image must be a 28x28 image",
        ),
        (
            error_message(lab.encode(f32s(&nan)).await),
            "encode(): image[5] must be a finite number, got NaN",
        ),
        (
            error_message(lab.reconstruct(f32s(&big)).await),
            "reconstruct(): image[7] must be a pixel value in [0, 1], got 2",
        ),
        (
            error_message(lab.classify(zeros(), s("other")).await),
            "classifier must be \"best\" or \"paper\"",
        ),
        (
            error_message(lab.classify(zeros(), n(5.0)).await),
            "classify(): classifier must be \"best\" or \"paper\", got 5",
        ),
        (
            error_message(lab.decode(s("gan"), n(0.0), n(0.0)).await),
            "model must be \"ae\" or \"vae\"",
        ),
        (
            error_message(lab.decode(s("ae"), n(f64::NAN), n(0.0)).await),
            "decode(): x must be a finite number",
        ),
        (
            error_message(
                lab.decode_grid(s("vae"), n(2.7), n(-1.0), n(1.0), n(-1.0), n(1.0))
                    .await,
            ),
            "decode_grid(): n must be an integer from 1 to 40, got 2.7",
        ),
        (
            error_message(
                lab.decode_grid(s("vae"), n(4294967301.0), n(-1.0), n(1.0), n(-1.0), n(1.0))
                    .await,
            ),
            "got 4294967301",
        ),
        (
            error_message(
                lab.decode_grid(s("vae"), n(10.0), n(f64::INFINITY), n(1.0), n(-1.0), n(1.0))
                    .await,
            ),
            "decode_grid(): x0",
        ),
        (
            error_message(lab.denoise(zeros(), n(-0.1), n(1.0), s("dae")).await),
            "denoise(): amount",
        ),
        (
            error_message(lab.denoise(zeros(), n(0.1), n(1.0), s("gan")).await),
            "\"dae_wide\"",
        ),
        (
            error_message(
                lab.sample(s("ae"), n(2.0), n(1.0), f32s(&[0.0]), empty())
                    .await,
            ),
            "sample(): mean",
        ),
        (
            error_message(
                lab.sample(s("vae"), n(-1.0), n(1.0), empty(), empty())
                    .await,
            ),
            "sample(): count must be an integer from 1 to 400, got -1",
        ),
        (
            error_message(
                lab.interpolate(s("ae"), zeros(), f32s(&[0.0; 3]), n(4.0))
                    .await,
            ),
            "interpolate(): b",
        ),
    ] {
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
    }
    // Values that turn on the code reading them: each one a named error of the call (they used
    // to throw through the module, and the call's promise never settled).
    let detached = || hostile_js::detached("Float32Array", 784);
    for (message, expected) in [
        (
            error_message(
                lab.classify(hostile_js::throwing_element(784), s("best"))
                    .await,
            ),
            "classify(): image[3] cannot be read (element getter)",
        ),
        (
            error_message(
                lab.classify(hostile_js::throwing_length(784), s("best"))
                    .await,
            ),
            "classify(): image.length cannot be read (length getter)",
        ),
        (
            error_message(lab.classify(hostile_js::revoked_proxy(), s("best")).await),
            "classify(): image cannot be read",
        ),
        (
            error_message(
                lab.classify(hostile_js::prototype_trap(784), s("best"))
                    .await,
            ),
            "classify(): image must be a 28x28 image",
        ),
        (
            error_message(
                lab.classify(hostile_js::fake_typed_array(), s("best"))
                    .await,
            ),
            "classify(): image must be a 28x28 image",
        ),
        (
            error_message(lab.classify(detached(), s("best")).await),
            "classify(): image is a detached Float32Array",
        ),
        (
            error_message(lab.classify(zeros(), hostile_js::revoked_proxy()).await),
            "classify(): classifier must be \"best\" or \"paper\", got a revoked Proxy",
        ),
        (
            error_message(lab.check_digit(hostile_js::throwing_element(784)).await),
            "checkDigit(): image[3] cannot be read (element getter)",
        ),
        (
            error_message(lab.check_digit(detached()).await),
            "checkDigit(): image is a detached Float32Array",
        ),
        (
            error_message(
                lab.interpolate(s("ae"), zeros(), hostile_js::throwing_length(784), n(4.0))
                    .await,
            ),
            "interpolate(): b.length cannot be read",
        ),
        (
            error_message(
                lab.sample(
                    s("ae"),
                    n(2.0),
                    n(1.0),
                    hostile_js::throwing_length(2),
                    empty(),
                )
                .await,
            ),
            "sample(): mean.length cannot be read",
        ),
        (
            error_message(
                lab.denoise(hostile_js::revoked_proxy(), n(0.1), n(1.0), s("dae"))
                    .await,
            ),
            "denoise(): image cannot be read",
        ),
    ] {
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        assert!(!message.contains('\n'), "one line: {message:?}");
    }
    // A Float32Array's own `length` property is not its length: this is a valid image.
    let own_length = hostile_js::own_throwing_length(784);
    assert_eq!(lab.classify(own_length, s("best")).await.unwrap().len(), 10);
    // Still working afterwards.
    assert_eq!(lab.classify(zeros(), s("best")).await.unwrap().len(), 10);
}

/// "That's not a digit": the golden MNIST digits pass, a dot and a dash (as the page's MNIST
/// formatting makes them: scaled to a 20-pixel box) fail, and a bad image is an error.
async fn check_digit_check(lab: &DigitLab) {
    let verdict = |v: JsValue| -> (bool, f64) {
        let v: Value = serde_wasm_bindgen::from_value(v).unwrap();
        (
            v["isDigit"].as_bool().unwrap(),
            v["margin"].as_f64().unwrap(),
        )
    };
    for (i, digit) in digits(&golden()).iter().enumerate() {
        let (is_digit, margin) = verdict(lab.check_digit(f32s(digit)).await.unwrap());
        assert!(is_digit, "golden digit {i} rejected (margin {margin})");
    }
    let shape = |inside: &dyn Fn(f32, f32) -> bool| -> Vec<f32> {
        (0..784)
            .map(|i| {
                let (x, y) = ((i % 28) as f32 - 13.5, (i / 28) as f32 - 13.5);
                if inside(x, y) { 1.0 } else { 0.0 }
            })
            .collect()
    };
    let dot = shape(&|x, y| x * x + y * y <= 100.0);
    let dash = shape(&|x, y| x.abs() <= 10.0 && y.abs() <= 1.5);
    for (name, image) in [("dot", dot), ("dash", dash)] {
        let (is_digit, margin) = verdict(lab.check_digit(f32s(&image)).await.unwrap());
        assert!(!is_digit, "a {name} passed as a digit (margin {margin})");
    }
    let message = error_message(lab.check_digit(f32s(&[0.5; 100])).await);
    assert!(
        message.contains("checkDigit(): image must be a 28x28 image"),
        "{message}"
    );
}

#[wasm_bindgen_test]
async fn cpu_and_webgpu_agree_with_native_and_each_other() {
    let cpu = DigitLab::create(s("cpu"), JsValue::UNDEFINED)
        .await
        .unwrap();
    let info: Value = serde_wasm_bindgen::from_value(cpu.backend().unwrap()).unwrap();
    assert_eq!(info["kind"], "cpu");
    let on_cpu = check_against_golden(&cpu).await;
    check_batched_calls(&cpu).await;
    check_bad_input(&cpu).await;
    check_digit_check(&cpu).await;

    // The page's first WebGPU lab: two created at once (as when the page upgrades to WebGPU while
    // the training mode starts) share one initialisation; a second one would fail.
    let (gpu, twin) = futures_util::future::join(
        DigitLab::create(s("auto"), JsValue::UNDEFINED),
        DigitLab::create(s("auto"), JsValue::UNDEFINED),
    )
    .await;
    let (gpu, twin) = (gpu.unwrap(), twin.unwrap());
    let twin_info: Value = serde_wasm_bindgen::from_value(twin.backend().unwrap()).unwrap();
    assert_eq!(twin_info["kind"], "webgpu", "{twin_info}");
    let info: Value = serde_wasm_bindgen::from_value(gpu.backend().unwrap()).unwrap();
    // Headless Chromium here runs with --enable-unsafe-webgpu: WebGPU must come up.
    assert_eq!(info["kind"], "webgpu", "{info}");
    assert!(info["adapter"].as_str().is_some_and(|a| !a.is_empty()));
    let on_gpu = check_against_golden(&gpu).await;
    assert_close(&on_gpu, &on_cpu, "webgpu vs cpu");
    check_batched_calls(&gpu).await;
    check_bad_input(&gpu).await;
    check_digit_check(&gpu).await;
    // A second WebGPU lab on the same page reuses the device.
    let again = DigitLab::create(s("auto"), JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(
        again
            .classify(f32s(&digits(&golden())[0]), s("best"))
            .await
            .unwrap()
            .len(),
        10
    );
}

#[wasm_bindgen_test]
async fn unknown_backend_is_an_error() {
    for backend in [
        s("tpu"),
        n(5.0),
        JsValue::TRUE,
        JsValue::NULL,
        js_sys::Object::new().into(),
    ] {
        let message = error_message(DigitLab::create(backend, JsValue::UNDEFINED).await);
        assert!(
            message.contains("DigitLab.create(): backend must be \"auto\" or \"cpu\""),
            "{message}"
        );
    }
}

/// The full bundle's path: the weights handed over as `bundledWeights()` gives them load the
/// same models as the embedded ones, on both backends; a file that does not match the manifest
/// or is missing is refused before any model is built, with the file named.
#[wasm_bindgen_test]
async fn weights_handed_over_load_the_same_models() {
    let weights = digit_lab::web::weights::bundled_weights().unwrap();
    let image = f32s(&digits(&golden())[0]);
    for backend in ["cpu", "auto"] {
        let embedded = DigitLab::create(s(backend), JsValue::UNDEFINED)
            .await
            .unwrap();
        let handed = DigitLab::create(s(backend), weights.clone()).await.unwrap();
        assert_eq!(embedded.manifest(), handed.manifest());
        let want = embedded.classify(image.clone(), s("best")).await.unwrap();
        let got = handed.classify(image.clone(), s("best")).await.unwrap();
        assert_close(&got, &want, &format!("{backend}: handed-over weights"));
        let want = embedded.decode(s("vae"), n(0.3), n(-0.2)).await.unwrap();
        let got = handed.decode(s("vae"), n(0.3), n(-0.2)).await.unwrap();
        assert_close(&got, &want, &format!("{backend}: handed-over VAE"));
    }
    let files = js_sys::Reflect::get(&weights, &s("files")).unwrap();
    let ae = file_of("ae");
    // One byte of the AE's file changed: named, refused.
    let (_, bytes) = bundled_files("ae").unwrap();
    let mut corrupt = bytes.to_vec();
    corrupt[bytes.len() / 2] ^= 1;
    js_sys::Reflect::set(&files, &s(&ae), &u8s(&corrupt)).unwrap();
    let message = error_message(DigitLab::create(s("cpu"), weights.clone()).await);
    assert_eq!(
        message,
        format!(
            "DigitLab.create(): weights.files[{ae:?}] does not match the manifest's SHA-256 (a corrupt or other file)"
        )
    );
    // Left out.
    js_sys::Reflect::delete_property(files.unchecked_ref::<js_sys::Object>(), &s(&ae)).unwrap();
    let message = error_message(DigitLab::create(s("cpu"), weights.clone()).await);
    assert_eq!(
        message,
        format!("DigitLab.create(): weights.files has no {ae:?} (the manifest's ae model)")
    );
}

/// The committed manifest with `edit` applied to its JSON.
fn edited_manifest(edit: impl FnOnce(&mut Value)) -> String {
    let (manifest, _) = bundled_files("ae").unwrap();
    let mut json: Value = serde_json::from_str(manifest).unwrap();
    edit(&mut json);
    json.to_string()
}

fn file_of(key: &str) -> String {
    let (manifest, _) = bundled_files(key).unwrap();
    let json: Value = serde_json::from_str(manifest).unwrap();
    json["models"][key]["file"].as_str().unwrap().to_string()
}

fn u8s(bytes: &[u8]) -> JsValue {
    js_sys::Uint8Array::from(bytes).into()
}

#[wasm_bindgen_test]
fn sha256_matches_the_standard_vectors() {
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
    // A million "a": many blocks.
    assert_eq!(
        sha256_hex(&vec![b'a'; 1_000_000]),
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    );
    // The committed weights are named and checked by their hash.
    for key in ["ae", "vae", "classifier_best"] {
        let (manifest, bytes) = bundled_files(key).unwrap();
        let json: Value = serde_json::from_str(manifest).unwrap();
        assert_eq!(json["models"][key]["sha256"], sha256_hex(bytes), "{key}");
    }
}

/// Every committed model loads from the files of `weights/` (the manifest and its weights
/// file) on both backends and answers as the bundled one does.
#[wasm_bindgen_test]
async fn models_load_from_weights_files_and_agree_with_the_bundled_ones() {
    let g = golden();
    let digit = f32s(&digits(&g)[0]);
    for backend in ["cpu", "auto"] {
        let lab = DigitLab::create(s(backend), JsValue::UNDEFINED)
            .await
            .unwrap();
        for key in ModelKind::ALL.map(ModelKind::key) {
            let (manifest, bytes) = bundled_files(key).unwrap();
            let model =
                ImportedModel::create(s(backend), s(manifest), s(&file_of(key)), u8s(bytes))
                    .await
                    .unwrap_or_else(|e| panic!("{key}: {:?}", JsValue::from(e)));
            let summary: Value = serde_wasm_bindgen::from_value(model.summary().unwrap()).unwrap();
            assert_eq!(summary["kind"], key);
            assert_eq!(summary["file"], file_of(key));
            match key {
                "classifier" | "classifier_best" => {
                    assert_eq!(summary["family"], "classifier");
                    let which = if key == "classifier" { "paper" } else { "best" };
                    let got = model.classify(digit.clone()).await.unwrap();
                    let want = lab.classify(digit.clone(), s(which)).await.unwrap();
                    assert_close(&got, &want, &format!("{backend} {key} probabilities"));
                    assert!(model.reconstruct(digit.clone()).await.is_err());
                }
                "ae" | "vae" => {
                    assert_eq!(summary["code"], 2);
                    let got = model.decode(n(0.5), n(-0.5)).await.unwrap();
                    let want = lab.decode(s(key), n(0.5), n(-0.5)).await.unwrap();
                    assert_close(&got, &want, &format!("{backend} {key} decode"));
                    let code = model.encode(digit.clone()).await.unwrap();
                    assert_eq!(code.len(), 2);
                    let enc = lab.encode(digit.clone()).await.unwrap();
                    let want = field(&enc, if key == "ae" { "ae" } else { "vae_mu" });
                    assert_close(&code, &want, &format!("{backend} {key} code"));
                    let message = error_message(model.classify(digit.clone()).await);
                    assert!(message.contains("is not a classifier"), "{message}");
                }
                _ => {
                    assert_eq!(summary["family"], "denoiser");
                    let out = field(&model.reconstruct(digit.clone()).await.unwrap(), "image");
                    assert_eq!(out.len(), 784);
                    assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
                }
            }
        }
    }
}

/// Wrong files and wrong arguments: one clear line each, nothing built, and the next good
/// import works.
#[wasm_bindgen_test]
async fn bad_model_files_are_refused_with_a_clear_message() {
    let (manifest, bytes) = bundled_files("classifier_best").unwrap();
    let file = file_of("classifier_best");
    let mut corrupt = bytes.to_vec();
    corrupt[bytes.len() / 2] ^= 0x55;
    let (_, ae_bytes) = bundled_files("ae").unwrap();
    // The classifier's entry with a wider architecture, hash kept: the weights do not fit it.
    let wider = edited_manifest(|m| {
        m["models"]["classifier_best"]["hyperparameters"]["model"]["encoder"]["fc"] = 96.into();
    });
    // The AE's weights under the classifier's entry (hash of the AE file): wrong architecture.
    let swapped = edited_manifest(|m| {
        m["models"]["classifier_best"]["sha256"] = sha256_hex(ae_bytes).into();
    });
    // The AE's entry saying its code has 8 values: its 2-D weights must not load as that
    // (decoding a 2-D point would then trap in burn's shape check).
    let ae_file = file_of("ae");
    let ae_code8 = edited_manifest(|m| {
        m["models"]["ae"]["hyperparameters"]["model"]["code"] = 8.into();
    });
    let no_hash = edited_manifest(|m| {
        m["models"]["classifier_best"]
            .as_object_mut()
            .unwrap()
            .remove("sha256");
    });
    let huge = edited_manifest(|m| {
        m["models"]["classifier_best"]["hyperparameters"]["model"]["encoder"]["fc"] =
            1_000_000.into();
    });
    let unknown_kind = edited_manifest(|m| {
        let entry = m["models"]["classifier_best"].clone();
        m["models"] = serde_json::json!({ "resnet": entry });
    });
    let cases: Vec<(JsValue, JsValue, JsValue, JsValue, &str)> = vec![
        (
            s("cpu"),
            s(manifest),
            s(&file),
            u8s(&corrupt),
            "is corrupt or not the file manifest.json describes",
        ),
        (
            s("cpu"),
            s(manifest),
            s(&file),
            u8s(&bytes[..bytes.len() - 1]),
            "is corrupt",
        ),
        (s("cpu"), s(manifest), s(&file), u8s(&[]), "is corrupt"),
        (s("cpu"), s(manifest), s(&file), u8s(ae_bytes), "is corrupt"),
        (
            s("cpu"),
            s(manifest),
            s("nothing.bpk"),
            u8s(bytes),
            "manifest.json does not list the file \"nothing.bpk\"",
        ),
        (
            s("cpu"),
            s("{not json"),
            s(&file),
            u8s(bytes),
            "manifest.json is not a weights manifest",
        ),
        (
            s("cpu"),
            s("{}"),
            s(&file),
            u8s(bytes),
            "manifest.json is not a weights manifest",
        ),
        (
            s("cpu"),
            s(&wider),
            s(&file),
            u8s(bytes),
            "cannot be loaded",
        ),
        (
            s("cpu"),
            s(&swapped),
            s(&file),
            u8s(ae_bytes),
            "cannot be loaded",
        ),
        (
            s("cpu"),
            s(&ae_code8),
            s(&ae_file),
            u8s(ae_bytes),
            "weights do not fit this model's architecture",
        ),
        (
            s("cpu"),
            s(&no_hash),
            s(&file),
            u8s(bytes),
            "gives no sha256",
        ),
        (s("cpu"), s(&huge), s(&file), u8s(bytes), "cannot be loaded"),
        (
            s("cpu"),
            s(&unknown_kind),
            s(&file),
            u8s(bytes),
            "which this page does not know",
        ),
        (
            s("tpu"),
            s(manifest),
            s(&file),
            u8s(bytes),
            "backend must be",
        ),
        (
            s("cpu"),
            n(5.0),
            s(&file),
            u8s(bytes),
            "manifest must be a string, got 5",
        ),
        (
            s("cpu"),
            JsValue::NULL,
            s(&file),
            u8s(bytes),
            "manifest must be a string, got null",
        ),
        (
            s("cpu"),
            s(manifest),
            JsValue::UNDEFINED,
            u8s(bytes),
            "file must be a string, got undefined",
        ),
        (
            s("cpu"),
            s(manifest),
            s(&"x".repeat(300)),
            u8s(bytes),
            "file must be at most 255 characters",
        ),
        (
            s("cpu"),
            s(manifest),
            s(&file),
            s("bytes"),
            "bytes must be a Uint8Array or an ArrayBuffer",
        ),
        (
            s("cpu"),
            s(manifest),
            s(&file),
            f32s(&[1.0]),
            "bytes must be a Uint8Array or an ArrayBuffer",
        ),
        (
            s("cpu"),
            s(manifest),
            s(&file),
            empty(),
            "bytes must be a Uint8Array or an ArrayBuffer",
        ),
        (
            s("cpu"),
            s(manifest),
            s(&file),
            hostile_js::detached("Uint8Array", 16),
            "bytes is a detached Uint8Array",
        ),
        (
            s("cpu"),
            s(manifest),
            s(&file),
            hostile_js::detached_buffer(16),
            "bytes is a detached ArrayBuffer",
        ),
        (
            s("cpu"),
            s(manifest),
            s(&file),
            hostile_js::revoked_proxy(),
            "bytes cannot be read",
        ),
        (
            s("cpu"),
            s(manifest),
            s(&file),
            hostile_js::prototype_trap(16),
            "bytes must be a Uint8Array or an ArrayBuffer",
        ),
        (
            s("cpu"),
            hostile_js::revoked_proxy(),
            s(&file),
            u8s(bytes),
            "manifest must be a string, got a revoked Proxy",
        ),
    ];
    for (backend, manifest, file, bytes, expected) in cases {
        let result = ImportedModel::create(backend, manifest, file, bytes).await;
        assert!(result.is_err(), "loaded, where {expected:?} was expected");
        let message = error_message(result);
        assert!(message.starts_with("ImportedModel.create(): "), "{message}");
        assert!(
            message.contains(expected),
            "expected {expected:?} in: {message}"
        );
        assert!(!message.contains('\n'), "one line: {message}");
    }
    // Bad calls on a loaded model, then good ones.
    let model = ImportedModel::create(s("cpu"), s(manifest), s(&file), u8s(bytes))
        .await
        .unwrap();
    for (images, expected) in [
        (f32s(&[0.5; 100]), "whole 28x28 images"),
        (f32s(&[2.0; 784]), "must be a pixel value in [0, 1]"),
        (n(1.0), "whole 28x28 images"),
        (f32s(&vec![0.0; 784 * 1025]), "whole 28x28 images"),
        (
            hostile_js::throwing_element(784),
            "images[3] cannot be read",
        ),
        (
            hostile_js::throwing_length(784),
            "images.length cannot be read",
        ),
        (
            hostile_js::detached("Float32Array", 784),
            "images is a detached Float32Array",
        ),
    ] {
        let message = error_message(model.classify(images).await);
        assert!(message.contains(expected), "{message}");
    }
    for (x, y) in [(n(f64::NAN), n(0.0)), (n(0.0), s("1")), (n(1e9), n(0.0))] {
        let message = error_message(model.decode(x, y).await);
        assert!(message.starts_with("ImportedModel.decode(): "), "{message}");
    }
    assert_eq!(model.classify(f32s(&[0.0; 784])).await.unwrap().len(), 10);
    assert_eq!(
        model
            .classify(f32s(&vec![0.0; 784 * 3]))
            .await
            .unwrap()
            .len(),
        30
    );
}

/// Sets every value of a model's first float parameter to +inf.
struct FirstToInfinity(bool);

impl ModuleMapper for FirstToInfinity {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if std::mem::replace(&mut self.0, true) {
            return param;
        }
        param.map(|tensor| tensor.add_scalar(f32::INFINITY))
    }
}

/// Weights holding +inf, with the manifest's SHA-256 recomputed to match them, are refused by
/// both constructors on both backends, the parameter named (the page used to load them, and
/// answer NaN).
#[wasm_bindgen_test]
async fn weights_holding_infinity_are_refused() {
    let key = "classifier_best";
    let (manifest, bytes) = bundled_files(key).unwrap();
    let parsed = Manifest::parse(manifest).unwrap();
    let device = Device::flex();
    let model =
        digit_lab::model::load_classifier(&parsed, ModelKind::ClassifierBest, bytes, &device)
            .unwrap();
    let infinite =
        digit_lab::model::store::to_bytes(model.map(&mut FirstToInfinity(false)), key).unwrap();
    let hash = sha256_hex(&infinite);
    let edited = edited_manifest(|m| m["models"][key]["sha256"] = hash.clone().into());
    let file = file_of(key);
    for backend in ["cpu", "auto"] {
        let message = error_message(
            ImportedModel::create(s(backend), s(&edited), s(&file), u8s(&infinite)).await,
        );
        assert!(
            message.starts_with(&format!(
                "ImportedModel.create(): {file:?} cannot be loaded: {key}: weight `"
            )) && message.ends_with("` holds a non-finite value (NaN or infinity)"),
            "{backend}: {message}"
        );
        let weights = digit_lab::web::weights::bundled_weights().unwrap();
        js_sys::Reflect::set(&weights, &s("manifest"), &s(&edited)).unwrap();
        let files = js_sys::Reflect::get(&weights, &s("files")).unwrap();
        js_sys::Reflect::set(&files, &s(&file), &u8s(&infinite)).unwrap();
        let message = error_message(DigitLab::create(s(backend), weights).await);
        assert!(
            message.starts_with(&format!("DigitLab.create(): {key}: weight `"))
                && message.ends_with("` holds a non-finite value (NaN or infinity)"),
            "{backend}: {message}"
        );
    }
}
