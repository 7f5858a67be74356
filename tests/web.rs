//! The browser API in headless Chromium (wasm-bindgen-test), on WebGPU and on the CPU backend:
//! every call, agreement between the backends and with the native golden outputs, and clear JS
//! errors for bad input after which the module keeps working.
//!
//! Run: `scripts/test-web` (builds for wasm32 with `--features web`).
#![cfg(all(target_arch = "wasm32", feature = "web"))]

use digit_lab::web::DigitLab;
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
    // Still working afterwards.
    assert_eq!(lab.classify(zeros(), s("best")).await.unwrap().len(), 10);
}

#[wasm_bindgen_test]
async fn cpu_and_webgpu_agree_with_native_and_each_other() {
    let cpu = DigitLab::create(s("cpu")).await.unwrap();
    let info: Value = serde_wasm_bindgen::from_value(cpu.backend().unwrap()).unwrap();
    assert_eq!(info["kind"], "cpu");
    let on_cpu = check_against_golden(&cpu).await;
    check_batched_calls(&cpu).await;
    check_bad_input(&cpu).await;

    // The page's first WebGPU lab: two created at once (as when the page upgrades to WebGPU while
    // the training mode starts) share one initialisation; a second one would fail.
    let (gpu, twin) =
        futures_util::future::join(DigitLab::create(s("auto")), DigitLab::create(s("auto"))).await;
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
    // A second WebGPU lab on the same page reuses the device.
    let again = DigitLab::create(s("auto")).await.unwrap();
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
        let message = error_message(DigitLab::create(backend).await);
        assert!(
            message.contains("DigitLab.create(): backend must be \"auto\" or \"cpu\""),
            "{message}"
        );
    }
}
