//! The training bundle's JS API (`www/pkg-full`, built with `--features web-train`): a live
//! training session and the handwriting fine-tuner, thin wrappers over `mini_training`. The page
//! loads this bundle after its first result (for WebGPU) or when the training mode opens, so
//! autodiff and the optimiser stay out of the first page load.
//!
//! JS must not call a method of an object while another call on it is pending (wasm-bindgen
//! refuses the re-entry); the page queues its calls.

use burn::prelude::*;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::backend::{self, BackendInfo};
use super::{CLASSIFIER_BEST, MANIFEST, MAX_COORD, float_arrays, input, js_err, read, to_js};
use crate::data::IMAGE_PIXELS;
use crate::mini_training::finetune::{self, Layers};
use crate::mini_training::{Finetuner, SessionConfig, Subset, TrainingSession};
use crate::model::{CLASSES, Manifest, ModelKind, load_classifier};

async fn read_scalar(tensor: Tensor<1>) -> Result<f32, JsError> {
    tensor
        .into_scalar_async::<f32>()
        .await
        .map_err(|e| js_err(format!("reading a result: {e:?}")))
}

/// What one `train` call did, and where the run stands.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TrainReport {
    /// Steps this call ran (fewer than asked once the last epoch ends).
    ran: usize,
    /// Mean training loss over those steps (MSE per pixel, or −ELBO nats per image).
    loss: Option<f32>,
    #[serde(flatten)]
    progress: crate::mini_training::Progress,
}

/// A ConvAE or VAE being trained on the bundled MNIST subset.
#[wasm_bindgen]
pub struct LiveTraining {
    session: TrainingSession,
    backend: BackendInfo,
}

#[wasm_bindgen]
impl LiveTraining {
    /// A new run. `prefer` is "auto" (WebGPU, else CPU) or "cpu"; `images_gz` and `labels_gz`
    /// are the two files of `www/data`; `config` is `{model: "ae" | "vae", learningRate,
    /// batchSize, epochs, code?, seed?}`.
    pub async fn create(
        prefer: String,
        images_gz: Vec<u8>,
        labels_gz: Vec<u8>,
        config: JsValue,
    ) -> Result<LiveTraining, JsError> {
        super::init_runtime();
        if prefer != "auto" && prefer != "cpu" {
            return Err(js_err(format!(
                "backend must be \"auto\" or \"cpu\", got \"{prefer}\""
            )));
        }
        let config: SessionConfig = serde_wasm_bindgen::from_value(config)
            .map_err(|e| js_err(format!("training settings: {e}")))?;
        let subset = Subset::from_gzip(&images_gz, &labels_gz).map_err(js_err)?;
        let (device, backend) = backend::select(&prefer).await;
        let session = TrainingSession::new(config, subset, &device).map_err(js_err)?;
        Ok(LiveTraining { session, backend })
    }

    /// `{kind: "webgpu" | "cpu", adapter, reason}`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> Result<JsValue, JsError> {
        to_js(&self.backend)
    }

    /// The settings this run was created with.
    #[wasm_bindgen(getter)]
    pub fn config(&self) -> Result<JsValue, JsError> {
        to_js(self.session.config())
    }

    /// `{steps, epoch, epochFraction, samplesSeen, done}`.
    #[wasm_bindgen(getter)]
    pub fn progress(&self) -> Result<JsValue, JsError> {
        to_js(self.session.progress())
    }

    /// Labels of the validation digits (the map's colours), in map order.
    #[wasm_bindgen(getter, js_name = validLabels)]
    pub fn valid_labels(&self) -> Vec<u8> {
        self.session.valid_labels().to_vec()
    }

    /// Runs up to `count` optimiser steps and reads their mean loss once at the end:
    /// `{ran, loss, steps, epoch, epochFraction, samplesSeen, done}`. A loss that is no longer
    /// finite is an error (the learning rate is too high): reset and lower it.
    pub async fn train(&mut self, count: u32) -> Result<JsValue, JsError> {
        let count = input::count(count, "step count", 1..=10_000).map_err(js_err)?;
        let (loss, ran) = match self.session.steps(count) {
            Some((sum, ran)) => (Some(read_scalar(sum).await? / ran as f32), ran),
            None => (None, 0),
        };
        if loss.is_some_and(|l| !l.is_finite()) {
            return Err(js_err(
                "training diverged (the loss is no longer a number): lower the learning rate and reset",
            ));
        }
        to_js(&TrainReport {
            ran,
            loss,
            progress: self.session.progress().clone(),
        })
    }

    /// Loss on the 1,000 validation digits (no dropout; the VAE with a fixed ε).
    pub async fn validate(&self) -> Result<f32, JsError> {
        read_scalar(self.session.valid_loss()).await
    }

    /// The 2-D map of the validation digits: `{xy: Float32Array, knn5, projected}`; `projected`
    /// when codes wider than 2 are shown by their first two principal components.
    #[wasm_bindgen(js_name = latentMap)]
    pub async fn latent_map(&mut self) -> Result<JsValue, JsError> {
        let codes = read(self.session.codes()).await?;
        let map = self.session.latent_map(&codes).map_err(js_err)?;
        let object = float_arrays(&[("xy", &map.xy)])?;
        for (name, value) in [
            ("knn5", JsValue::from_f64(map.knn5)),
            ("projected", JsValue::from_bool(map.is_projected())),
        ] {
            js_sys::Reflect::set(&object, &JsValue::from_str(name), &value)
                .map_err(|_| js_err("cannot build the map result"))?;
        }
        Ok(object)
    }

    /// The first 8 validation digits, then their reconstructions: 16·784 pixels.
    pub async fn reconstructions(&self) -> Result<Vec<f32>, JsError> {
        read(self.session.reconstructions()).await
    }

    /// Decodes a point of the latest latent map (call `latentMap` first for codes wider than
    /// 2-D): 784 pixels.
    pub async fn decode(&self, x: f32, y: f32) -> Result<Vec<f32>, JsError> {
        let x = input::number(x, "x", -MAX_COORD..=MAX_COORD).map_err(js_err)?;
        let y = input::number(y, "y", -MAX_COORD..=MAX_COORD).map_err(js_err)?;
        read(self.session.decode_map_points(&[x, y])).await
    }
}

/// Checks a batch of images for classification: whole 28×28 images with pixels in [0, 1].
fn check_images(values: &[f32]) -> Result<(), JsError> {
    if values.is_empty() || !values.len().is_multiple_of(IMAGE_PIXELS) {
        return Err(js_err(format!(
            "images: expected whole 28x28 images (a multiple of 784 values), got {} values",
            values.len()
        )));
    }
    if values.len() / IMAGE_PIXELS > finetune::MAX_EXAMPLES {
        return Err(js_err(format!(
            "images: at most {} at once",
            finetune::MAX_EXAMPLES
        )));
    }
    for image in values.chunks_exact(IMAGE_PIXELS) {
        input::image(image, "images").map_err(js_err)?;
    }
    Ok(())
}

/// The bundled best classifier, fine-tuned on the user's drawings.
#[wasm_bindgen]
pub struct HandwritingTuner {
    tuner: Finetuner,
}

#[wasm_bindgen]
impl HandwritingTuner {
    /// `layers`: "head" (the final layer only) or "dense" (the two dense layers and the head).
    pub async fn create(prefer: String, layers: String) -> Result<HandwritingTuner, JsError> {
        super::init_runtime();
        if prefer != "auto" && prefer != "cpu" {
            return Err(js_err(format!(
                "backend must be \"auto\" or \"cpu\", got \"{prefer}\""
            )));
        }
        let layers = Layers::parse(&layers).map_err(js_err)?;
        let (device, _) = backend::select(&prefer).await;
        let manifest = Manifest::parse(MANIFEST).map_err(js_err)?;
        let classifier = load_classifier(
            &manifest,
            ModelKind::ClassifierBest,
            CLASSIFIER_BEST,
            &device.clone().autodiff(),
        )
        .map_err(js_err)?;
        Ok(HandwritingTuner {
            tuner: Finetuner::new(classifier, layers, &device, 1),
        })
    }

    /// `steps` Adam steps on the examples (`n·784` pixels, `n` labels), each step on a new
    /// random warp of every drawing; resolves to the last step's mean cross-entropy.
    pub async fn fit(
        &mut self,
        images: Vec<f32>,
        labels: Vec<u8>,
        steps: u32,
        learning_rate: f64,
    ) -> Result<f32, JsError> {
        let loss = self
            .tuner
            .fit(&images, &labels, steps as usize, learning_rate)
            .map_err(js_err)?;
        read_scalar(loss).await
    }

    /// Class probabilities (`n·10`) of the fine-tuned model, or with `bundled` of the model as
    /// shipped.
    pub async fn probabilities(
        &self,
        images: Vec<f32>,
        bundled: bool,
    ) -> Result<Vec<f32>, JsError> {
        check_images(&images)?;
        let probs = if bundled {
            self.tuner.original_probabilities(&images)
        } else {
            self.tuner.probabilities(&images)
        };
        let values = read(probs).await?;
        debug_assert_eq!(values.len(), images.len() / IMAGE_PIXELS * CLASSES);
        Ok(values)
    }

    /// Steps taken since creation or the last reset.
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> usize {
        self.tuner.steps()
    }

    /// Forgets the fine-tuning: back to the bundled classifier.
    pub fn reset(&mut self) {
        self.tuner.reset();
    }
}
