//! The convolution kernels (`src/kernels`) in headless Chromium (wasm-bindgen-test): the same
//! checks against burn's reference ops as the native unit tests (`src/kernels/check.rs`), on
//! the wasm build of burn's CPU backend, where the page's in-browser training runs them
//! (SIMD128, one thread, gemm's wasm kernels).
//!
//! Run: `scripts/test-web` (builds for wasm32 with `--features web-train`).
#![cfg(all(target_arch = "wasm32", feature = "web-train"))]

use digit_lab::kernels::check;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn the_models_convolutions_match_burn_in_the_browser() {
    for case in check::model_cases() {
        check::check(case).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[wasm_bindgen_test]
fn random_shapes_match_burn_in_the_browser() {
    let cases = check::random_cases(21, 60);
    assert!(cases.len() >= 30, "only {} of 60 draws fit", cases.len());
    for case in cases {
        check::check(case).unwrap_or_else(|e| panic!("{e}"));
    }
}
