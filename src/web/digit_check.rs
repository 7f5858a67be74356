//! "That's not a digit" in the page: the check of `analysis::digit_check` on the lab's VAE and
//! best classifier, with the calibration `weights/digit_check.json` compiled in (the file the
//! native `digit-lab digit-check --final` writes).

use std::sync::OnceLock;

use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::input::Call;
use super::{DigitLab, js_err, to_js};
use crate::analysis::digit_check::{DigitCheck, Models};

const CALIBRATION: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/weights/digit_check.json"
));

/// The check, parsed once (and validated: a broken file is an error on every call, not a trap).
fn check() -> Result<&'static DigitCheck, JsError> {
    static CHECK: OnceLock<Result<DigitCheck, String>> = OnceLock::new();
    CHECK
        .get_or_init(|| DigitCheck::parse(CALIBRATION))
        .as_ref()
        .map_err(|e| js_err(format!("weights/digit_check.json: {e}")))
}

/// What `checkDigit()` returns.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DigitVerdict {
    /// Whether the drawing is taken for a digit.
    is_digit: bool,
    /// The log-odds that it is not a digit, minus the threshold: positive is rejected.
    margin: f64,
    /// The log-odds that it is not a digit.
    log_odds: f64,
    /// Taken for a digit at log-odds up to this.
    threshold: f64,
    /// Refused as surely not a digit above this (between the two: not sure).
    refuse_threshold: f64,
    /// Whether it is refused as surely not a digit.
    refused: bool,
    /// Below this top-class probability the page is not sure which digit it is (null: never).
    unsure_below: Option<f64>,
}

#[wasm_bindgen]
impl DigitLab {
    /// `{isDigit, margin, logOdds, threshold, refuseThreshold, refused, unsureBelow}` for a
    /// 28×28 image in [0, 1] (the page's MNIST-format drawing): whether it looks like a digit at
    /// all, and the calibration's thresholds for the page's three states.
    #[wasm_bindgen(js_name = checkDigit)]
    pub async fn check_digit(&self, image: JsValue) -> Result<JsValue, JsError> {
        let pixels = Call("checkDigit()").image(&image, "image")?;
        let check = check()?;
        let models = Models {
            vae: &self.vae,
            classifier: &self.classifier_best,
            ae: None,
        };
        let verdicts = check
            .verdicts(&models, &pixels, &self.device)
            .await
            .map_err(js_err)?;
        let verdict = verdicts
            .first()
            .ok_or_else(|| js_err("checkDigit(): no verdict"))?;
        to_js(&DigitVerdict {
            is_digit: verdict.is_digit,
            margin: verdict.margin,
            log_odds: verdict.log_odds,
            threshold: check.threshold,
            refuse_threshold: check.refuse_threshold(),
            refused: verdict.refused,
            unsure_below: check.unsure_below,
        })
    }
}
