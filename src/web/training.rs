//! The training bundle's JS API (`www/pkg-full`, built with `--features web-train`): a live
//! training session and the handwriting fine-tuner, thin wrappers over `mini_training`. The page
//! loads this bundle after its first result (for WebGPU) or when the training mode opens, so
//! autodiff and the optimiser stay out of the first page load.
//!
//! Both objects run one call at a time: a call made while another one on the same object is
//! still pending fails at once with a "busy" error (the object stays usable), and the getters
//! answer at any time. Every method takes `&self`, with the state in a `RefCell` that is never
//! borrowed across an `await`: wasm-bindgen holds a `&mut self` method's borrow until its promise
//! settles, so a getter called meanwhile threw "recursive use of an object detected".

use std::cell::{Cell, RefCell};

use burn::prelude::*;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::backend::{self, BackendInfo};
use super::input::Call;
use super::weights::Weights;
use super::{MAX_COORD, backend_choice, float_arrays, js_err, read, to_js};
use crate::data::IMAGE_PIXELS;
use crate::mini_training::finetune::{self, Layers};
use crate::mini_training::{Finetuner, LiveModel, SessionConfig, Subset, TrainingSession};
use crate::model::manifest::DataInfo;
use crate::model::{CLASSES, Manifest, ModelEntry, ModelKind, load_classifier, store};

async fn read_scalar(tensor: Tensor<1>) -> Result<f32, JsError> {
    tensor
        .into_scalar_async::<f32>()
        .await
        .map_err(|e| js_err(format!("reading a result: {e:?}")))
}

/// Largest gzipped file `LiveTraining.create` takes (the subset's are about 1 MB).
const MAX_GZIP_BYTES: usize = 64 << 20;
/// Most optimiser steps one `train` call runs.
const MAX_TRAIN_STEPS: usize = 10_000;

/// One call at a time on a stateful object: the pending call's name, and a guard that clears
/// it when the call ends (also when it fails).
#[derive(Default)]
struct Busy(Cell<Option<&'static str>>);

struct BusyGuard<'a>(&'a Cell<Option<&'static str>>);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0.set(None);
    }
}

impl Busy {
    fn enter(&self, call: Call, method: &'static str) -> Result<BusyGuard<'_>, JsError> {
        match self.0.get() {
            Some(pending) => Err(call.error(format!(
                "busy: {pending}() has not finished yet; wait for its promise before the next call"
            ))),
            None => {
                self.0.set(Some(method));
                Ok(BusyGuard(&self.0))
            }
        }
    }
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

/// The fields of `LiveTraining.create`'s settings, as the page names them.
const SETTINGS: &[&str] = &[
    "model",
    "learningRate",
    "batchSize",
    "epochs",
    "code",
    "seed",
];

/// Reads the settings object field by field: unknown fields, wrong types, fractions and
/// out-of-range values are errors that name the field.
fn settings(call: Call, value: &JsValue) -> Result<SessionConfig, JsError> {
    let fields = call.object(value, "settings", SETTINGS)?;
    let model = match fields.required("model", |c, v, n| c.choice(v, n, &["ae", "vae"]))? {
        "ae" => LiveModel::Ae,
        _ => LiveModel::Vae,
    };
    let config = SessionConfig {
        model,
        learning_rate: fields.required("learningRate", |c, v, n| {
            c.number_where(v, n, "a number in (0, 1]", |x| x > 0.0 && x <= 1.0)
        })?,
        batch_size: fields.required("batchSize", |c, v, n| {
            c.count(v, n, 1..=SessionConfig::MAX_BATCH)
        })?,
        epochs: fields.required("epochs", |c, v, n| {
            c.count(v, n, 1..=SessionConfig::MAX_EPOCHS)
        })?,
        code: fields
            .optional("code", |c, v, n| c.count(v, n, 2..=SessionConfig::MAX_CODE))?
            .unwrap_or(2),
        seed: fields
            .optional("seed", |c, v, n| c.seed(v, n))?
            .unwrap_or(0),
    };
    if model == LiveModel::Vae && config.code != 2 {
        return Err(call.error(format!(
            "settings.code must be 2 (or left out) for the VAE, whose latent space is 2-D; got {}",
            config.code
        )));
    }
    config.validate().map_err(|e| call.error(e))?;
    Ok(config)
}

/// The two files of a weights directory (as `digit-lab train` leaves one) holding one model:
/// `{manifest: string, file: string, bytes: Uint8Array}`, the weights file named by its content
/// as the trainer names it (`<key>-<first 16 hex digits of its SHA-256>.bpk`).
fn weights_files(call: Call, model: PageModel, weights: &[u8]) -> Result<JsValue, JsError> {
    let kind = model.kind;
    let sha256 = super::imported::sha256_hex(weights);
    let file = format!("{}-{}.bpk", kind.key(), &sha256[..16]);
    let history = format!("{}-{}.history.json", kind.key(), &sha256[..16]);
    let entry = ModelEntry {
        file: file.clone(),
        sha256: Some(sha256),
        hyperparameters: model.hyperparameters,
        epochs: model.epochs,
        best_epoch: model.epochs,
        best_valid_loss: model.valid_loss,
        train_seconds: model.train_seconds,
        history,
        backend: model.backend.clone(),
        threads: 1,
        test: serde_json::Value::Null,
        limit_train: None,
        run_id: None,
        published_at: None,
        data_sha256: None,
    };
    let manifest = Manifest {
        data: DataInfo::default(),
        backend: model.backend,
        threads: 1,
        models: [(kind.key().to_string(), entry)].into(),
    };
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| call.error(e))?;
    let object = js_sys::Object::new();
    for (name, value) in [
        ("manifest", JsValue::from_str(&text)),
        ("file", JsValue::from_str(&file)),
        ("bytes", js_sys::Uint8Array::from(weights).into()),
    ] {
        js_sys::Reflect::set(&object, &JsValue::from_str(name), &value)
            .map_err(|_| call.error("cannot build the result"))?;
    }
    Ok(object.into())
}

/// What the manifest entry of a model made in the page records (validation figures only: the
/// page has no test split).
struct PageModel {
    kind: ModelKind,
    hyperparameters: serde_json::Value,
    /// Epochs trained (0 for a fine-tuning on drawings).
    epochs: usize,
    /// The model's loss on the validation digits of the subset.
    valid_loss: f64,
    train_seconds: f64,
    /// Where it was trained (`manifest_backend`).
    backend: String,
}

/// How an exported manifest names the backend a model was trained on in the page.
fn manifest_backend(info: &BackendInfo) -> String {
    match info.kind {
        "webgpu" => "webgpu (browser)".to_string(),
        _ => "flex (browser, wasm)".to_string(),
    }
}

/// A ConvAE or VAE being trained on the bundled MNIST subset.
#[wasm_bindgen]
pub struct LiveTraining {
    session: RefCell<TrainingSession>,
    backend: BackendInfo,
    busy: Busy,
    /// Whether `latentMap` has run: for codes wider than 2-D, decoding a map point needs the
    /// map's projection (without it the 2-D point reached the decoder and burn's shape check
    /// aborted the module).
    mapped: Cell<bool>,
}

/// `f` on the object behind `cell`, or a "busy" error naming `what` while a call holds it.
fn read_shared<S, T>(
    cell: &RefCell<S>,
    call: Call,
    what: &str,
    f: impl FnOnce(&S) -> T,
) -> Result<T, JsError> {
    let object = cell
        .try_borrow()
        .map_err(|_| call.error(format!("busy: another call is using this {what}")))?;
    Ok(f(&object))
}

impl LiveTraining {
    /// The session, for a call that holds the busy guard (or a getter): no borrow outlives a
    /// call's synchronous part, so this never meets another one.
    fn session(&self, call: Call) -> Result<std::cell::RefMut<'_, TrainingSession>, JsError> {
        self.session
            .try_borrow_mut()
            .map_err(|_| call.error("busy: another call is using this session"))
    }

    fn read_session<T>(
        &self,
        call: Call,
        f: impl FnOnce(&TrainingSession) -> T,
    ) -> Result<T, JsError> {
        read_shared(&self.session, call, "session", f)
    }
}

#[wasm_bindgen]
impl LiveTraining {
    /// A new run. `backend` is "auto" (WebGPU, else CPU) or "cpu"; `images` and `labels` are
    /// the two gzipped files of `www/data` (Uint8Arrays); `settings` is `{model: "ae" | "vae",
    /// learningRate, batchSize, epochs, code?, seed?}`.
    pub async fn create(
        backend: JsValue,  // "auto" or "cpu"
        images: JsValue,   // gzipped IDX images
        labels: JsValue,   // gzipped IDX labels
        settings: JsValue, // the run's settings
    ) -> Result<LiveTraining, JsError> {
        super::init_runtime();
        let call = Call("LiveTraining.create()");
        let prefer = backend_choice(call, &backend)?;
        let images = call.bytes(&images, "images", MAX_GZIP_BYTES)?;
        let labels = call.bytes(&labels, "labels", MAX_GZIP_BYTES)?;
        let config = self::settings(call, &settings)?;
        let subset = Subset::from_gzip(&images, &labels).map_err(|e| call.error(e))?;
        let (device, backend) = backend::select(prefer).await;
        let session = TrainingSession::new(config, subset, &device).map_err(|e| call.error(e))?;
        Ok(LiveTraining {
            session: RefCell::new(session),
            backend,
            busy: Busy::default(),
            mapped: Cell::new(false),
        })
    }

    /// `{kind: "webgpu" | "cpu", adapter, reason}`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> Result<JsValue, JsError> {
        to_js(&self.backend)
    }

    /// The settings this run was created with.
    #[wasm_bindgen(getter)]
    pub fn config(&self) -> Result<JsValue, JsError> {
        let call = Call("LiveTraining.config");
        to_js(&self.read_session(call, |s| s.config().clone())?)
    }

    /// `{steps, epoch, epochFraction, samplesSeen, done}`; answers while a call is pending.
    #[wasm_bindgen(getter)]
    pub fn progress(&self) -> Result<JsValue, JsError> {
        let call = Call("LiveTraining.progress");
        to_js(&self.read_session(call, |s| s.progress().clone())?)
    }

    /// Labels of the validation digits (the map's colours), in map order.
    #[wasm_bindgen(getter, js_name = validLabels)]
    pub fn valid_labels(&self) -> Result<Vec<u8>, JsError> {
        let call = Call("LiveTraining.validLabels");
        self.read_session(call, |s| s.valid_labels().to_vec())
    }

    /// Runs up to `steps` optimiser steps and reads their mean loss once at the end:
    /// `{ran, loss, steps, epoch, epochFraction, samplesSeen, done}`. A loss that is no longer
    /// finite is an error (the learning rate is too high): reset and lower it.
    pub async fn train(&self, steps: JsValue) -> Result<JsValue, JsError> {
        let call = Call("LiveTraining.train()");
        let count = call.count(&steps, "steps", 1..=MAX_TRAIN_STEPS)?;
        let _busy = self.busy.enter(call, "train")?;
        // Bound first: a borrow in the `match` scrutinee would live across the `await`.
        let stepped = self.session(call)?.steps(count);
        let (loss, ran) = match stepped {
            Some((sum, ran)) => (Some(read_scalar(sum).await? / ran as f32), ran),
            None => (None, 0),
        };
        if loss.is_some_and(|l| !l.is_finite()) {
            return Err(call.error(
                "training diverged (the loss is no longer a number): lower the learning rate and reset",
            ));
        }
        let progress = self.read_session(call, |s| s.progress().clone())?;
        to_js(&TrainReport {
            ran,
            loss,
            progress,
        })
    }

    /// Loss on the 1,000 validation digits (no dropout; the VAE with a fixed ε).
    pub async fn validate(&self) -> Result<f32, JsError> {
        let call = Call("LiveTraining.validate()");
        let _busy = self.busy.enter(call, "validate")?;
        let loss = self.read_session(call, |s| s.valid_loss())?;
        read_scalar(loss).await
    }

    /// The 2-D map of the validation digits: `{xy: Float32Array, knn5, projected}`; `projected`
    /// when codes wider than 2 are shown by their first two principal components.
    #[wasm_bindgen(js_name = latentMap)]
    pub async fn latent_map(&self) -> Result<JsValue, JsError> {
        let call = Call("LiveTraining.latentMap()");
        let _busy = self.busy.enter(call, "latentMap")?;
        let codes = read(self.read_session(call, |s| s.codes())?).await?;
        let map = self
            .session(call)?
            .latent_map(&codes)
            .map_err(|e| call.error(e))?;
        self.mapped.set(true);
        let object = float_arrays(&[("xy", &map.xy)])?;
        for (name, value) in [
            ("knn5", JsValue::from_f64(map.knn5)),
            ("projected", JsValue::from_bool(map.is_projected())),
        ] {
            js_sys::Reflect::set(&object, &JsValue::from_str(name), &value)
                .map_err(|_| call.error("cannot build the map result"))?;
        }
        Ok(object)
    }

    /// The first 8 validation digits, then their reconstructions: 16·784 pixels.
    pub async fn reconstructions(&self) -> Result<Vec<f32>, JsError> {
        let call = Call("LiveTraining.reconstructions()");
        let _busy = self.busy.enter(call, "reconstructions")?;
        read(self.read_session(call, |s| s.reconstructions())?).await
    }

    /// The model as it is now, as the files of a weights directory that `digit-lab eval` and
    /// `predict` load: `{manifest, file, bytes}` (see `weights_files`). `trainSeconds` is the
    /// time spent training, for the manifest.
    #[wasm_bindgen(js_name = exportFiles)]
    pub async fn export_files(&self, train_seconds: JsValue) -> Result<JsValue, JsError> {
        let call = Call("LiveTraining.exportFiles()");
        let train_seconds = call.number(&train_seconds, "trainSeconds", 0.0..=1e7)?;
        let _busy = self.busy.enter(call, "exportFiles")?;
        let valid = read_scalar(self.read_session(call, |s| s.valid_loss())?).await?;
        if !valid.is_finite() {
            return Err(call.error(
                "the model's validation loss is not a number (training diverged): nothing to save",
            ));
        }
        let (exported, config, progress) = self.read_session(call, |s| {
            (s.export(), s.config().clone(), s.progress().clone())
        })?;
        let exported = exported.map_err(|e| call.error(e))?;
        let (kind, architecture) = (exported.kind, exported.architecture.clone());
        // Read back without blocking (the session may be on WebGPU); no borrow is held.
        let weights = exported.weights().await.map_err(|e| call.error(e))?;
        let hyperparameters = serde_json::json!({
            "model": architecture,
            "learning_rate": config.learning_rate,
            "batch_size": config.batch_size,
            "epochs": config.epochs,
            "seed": config.seed,
            "trained_in": "the Digit Lab page (5,000-digit MNIST subset)",
        });
        let model = PageModel {
            kind,
            hyperparameters,
            epochs: progress.epoch,
            valid_loss: f64::from(valid),
            train_seconds,
            backend: manifest_backend(&self.backend),
        };
        weights_files(call, model, &weights)
    }

    /// Decodes a point of the latest latent map: 784 pixels. For codes wider than 2-D the map
    /// is a projection, so `latentMap` must have run first.
    pub async fn decode(&self, x: JsValue, y: JsValue) -> Result<Vec<f32>, JsError> {
        let call = Call("LiveTraining.decode()");
        let x = call.float(&x, "x", -MAX_COORD..=MAX_COORD)?;
        let y = call.float(&y, "y", -MAX_COORD..=MAX_COORD)?;
        let _busy = self.busy.enter(call, "decode")?;
        let code = self.read_session(call, |s| s.config().code)?;
        let model = self.read_session(call, |s| s.config().model)?;
        if model == LiveModel::Ae && code != 2 && !self.mapped.get() {
            return Err(call.error(format!(
                "this ConvAE's code has {code} values, and (x, y) is a point of its latent map \
                 (the code's first two principal components): call latentMap() first"
            )));
        }
        read(self.read_session(call, |s| s.decode_map_points(&[x, y]))?).await
    }
}

/// The bundled best classifier, fine-tuned on the user's drawings.
#[wasm_bindgen]
pub struct HandwritingTuner {
    tuner: RefCell<Finetuner>,
    /// The manifest entry of the classifier it starts from.
    bundled: ModelEntry,
    /// Where it runs, as an exported manifest names the backend.
    backend: String,
    busy: Busy,
}

impl HandwritingTuner {
    fn tuner(&self, call: Call) -> Result<std::cell::RefMut<'_, Finetuner>, JsError> {
        self.tuner
            .try_borrow_mut()
            .map_err(|_| call.error("busy: another call is using this tuner"))
    }

    fn read_tuner<T>(&self, call: Call, f: impl FnOnce(&Finetuner) -> T) -> Result<T, JsError> {
        read_shared(&self.tuner, call, "tuner", f)
    }
}

#[wasm_bindgen]
impl HandwritingTuner {
    /// `backend`: "auto" or "cpu"; `layers`: "head" (the final layer only) or "dense" (the two
    /// dense layers and the head); `weights`: the first-load bundle's `bundledWeights()` (or
    /// left out where this bundle embeds them), whose best classifier is fine-tuned.
    pub async fn create(
        backend: JsValue, // "auto" or "cpu"
        layers: JsValue,  // "head" or "dense"
        weights: JsValue, // undefined, or {manifest, files}
    ) -> Result<HandwritingTuner, JsError> {
        super::init_runtime();
        let call = Call("HandwritingTuner.create()");
        let prefer = backend_choice(call, &backend)?;
        let layers = match call.choice(&layers, "layers", &["head", "dense"])? {
            "head" => Layers::Head,
            _ => Layers::Dense,
        };
        let weights = Weights::from_js(call, &weights)?;
        let bytes = weights.model(call, ModelKind::ClassifierBest)?;
        let bundled = weights
            .manifest()
            .entry(ModelKind::ClassifierBest)
            .map_err(js_err)?
            .clone();
        let (device, info) = backend::select(prefer).await;
        let classifier = load_classifier(
            weights.manifest(),
            ModelKind::ClassifierBest,
            bytes,
            &device.clone().autodiff(),
        )
        .map_err(js_err)?;
        Ok(HandwritingTuner {
            tuner: RefCell::new(Finetuner::new(classifier, layers, &device, 1)),
            bundled,
            backend: manifest_backend(&info),
            busy: Busy::default(),
        })
    }

    /// `steps` Adam steps on the examples (`n·784` pixels, `n` labels), each step on a new
    /// random warp of every drawing; resolves to the last step's mean cross-entropy.
    pub async fn fit(
        &self,
        images: JsValue,        // n·784 pixels
        labels: JsValue,        // n digits
        steps: JsValue,         // Adam steps
        learning_rate: JsValue, // Adam's step size
    ) -> Result<f32, JsError> {
        let call = Call("HandwritingTuner.fit()");
        let pixels = call.images(&images, "images", 1..=finetune::MAX_EXAMPLES)?;
        let labels = call.labels(&labels, "labels", finetune::MAX_EXAMPLES)?;
        if labels.len() * IMAGE_PIXELS != pixels.len() {
            return Err(call.error(format!(
                "labels must have one label per image: {} images, got {} labels",
                pixels.len() / IMAGE_PIXELS,
                labels.len()
            )));
        }
        let steps = call.count(&steps, "steps", 1..=finetune::MAX_STEPS)?;
        let learning_rate =
            call.number_where(&learning_rate, "learningRate", "a number in (0, 1]", |x| {
                x > 0.0 && x <= 1.0
            })?;
        let _busy = self.busy.enter(call, "fit")?;
        let loss = self
            .tuner(call)?
            .fit(&pixels, &labels, steps, learning_rate)
            .map_err(|e| call.error(e))?;
        read_scalar(loss).await
    }

    /// Class probabilities (`n·10`) of the fine-tuned model, or with `bundled` of the model as
    /// shipped.
    pub async fn probabilities(
        &self,
        images: JsValue,
        bundled: JsValue,
    ) -> Result<Vec<f32>, JsError> {
        let call = Call("HandwritingTuner.probabilities()");
        let pixels = call.images(&images, "images", 1..=finetune::MAX_EXAMPLES)?;
        let bundled = call.boolean(&bundled, "bundled")?;
        let _busy = self.busy.enter(call, "probabilities")?;
        let probs = self.read_tuner(call, |t| {
            if bundled {
                t.original_probabilities(&pixels)
            } else {
                t.probabilities(&pixels)
            }
        })?;
        let values = read(probs).await?;
        debug_assert_eq!(values.len(), pixels.len() / IMAGE_PIXELS * CLASSES);
        Ok(values)
    }

    /// Steps taken since creation or the last reset; answers while a call is pending.
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> Result<usize, JsError> {
        self.read_tuner(Call("HandwritingTuner.steps"), Finetuner::steps)
    }

    /// The fine-tuned classifier as the files of a weights directory (`{manifest, file, bytes}`,
    /// like `LiveTraining.exportFiles`), which `digit-lab eval`/`predict` and the page's model
    /// import load as the best classifier. Its manifest entry records the fine-tuning (layers,
    /// steps, drawings, step size) and the cross-entropy and accuracy on the validation digits
    /// of the subset (`images`, `labels`: the two gzipped files of `www/data`), which shows
    /// whether learning the user's hand cost anything on MNIST.
    #[wasm_bindgen(js_name = exportFiles)]
    pub async fn export_files(
        &self,
        images: JsValue,        // gzipped IDX images of the subset
        labels: JsValue,        // gzipped IDX labels of the subset
        train_seconds: JsValue, // time spent fine-tuning
    ) -> Result<JsValue, JsError> {
        let call = Call("HandwritingTuner.exportFiles()");
        let images = call.bytes(&images, "images", MAX_GZIP_BYTES)?;
        let labels = call.bytes(&labels, "labels", MAX_GZIP_BYTES)?;
        let train_seconds = call.number(&train_seconds, "trainSeconds", 0.0..=1e7)?;
        let subset = Subset::from_gzip(&images, &labels).map_err(|e| call.error(e))?;
        let _busy = self.busy.enter(call, "exportFiles")?;
        let Some((examples, learning_rate)) = self.read_tuner(call, Finetuner::last_fit)? else {
            return Err(call.error(
                "nothing fine-tuned yet: fit() on a few drawings first (the bundled classifier \
                 is in weights/ already)",
            ));
        };
        let all: Vec<usize> = (0..subset.valid.len()).collect();
        let (pixels, valid_labels) = (subset.valid.pixels(&all), subset.valid.labels_at(&all));
        let probs = read(self.read_tuner(call, |t| t.probabilities(&pixels))?).await?;
        let loss = finetune::cross_entropy(&probs, &valid_labels);
        let accuracy = finetune::accuracy(&probs, &valid_labels);
        let (model, steps, layers) =
            self.read_tuner(call, |t| (t.model(), t.steps(), t.layers()))?;
        let weights = store::to_bytes_async(model, ModelKind::ClassifierBest.key())
            .await
            .map_err(|e| call.error(e))?;
        let bundled = &self.bundled;
        let hyperparameters = serde_json::json!({
            "model": bundled.hyperparameters.get("model").cloned().unwrap_or_default(),
            "fine_tuned_from": bundled.file.clone(),
            "layers": layers,
            "steps": steps,
            "drawings": examples,
            "learning_rate": learning_rate,
            "valid_accuracy": accuracy,
            "valid_digits": valid_labels.len(),
            "trained_in": "the Digit Lab page (the user's drawings)",
        });
        let model = PageModel {
            kind: ModelKind::ClassifierBest,
            hyperparameters,
            epochs: 0,
            valid_loss: loss,
            train_seconds,
            backend: self.backend.clone(),
        };
        weights_files(call, model, &weights)
    }

    /// Forgets the fine-tuning: back to the bundled classifier. Refused (busy) while a `fit`
    /// or `probabilities` call is pending.
    pub fn reset(&self) -> Result<(), JsError> {
        let call = Call("HandwritingTuner.reset()");
        let _busy = self.busy.enter(call, "reset")?;
        self.tuner(call)?.reset();
        Ok(())
    }
}
