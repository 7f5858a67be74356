//! Models brought into the page from files: a `manifest.json` of a weights directory (the
//! trainer's `weights/`, a finished run, or a file the page saved) and one of the weights files it
//! lists. Everything is checked here, in this order, before the model is built or any kernel
//! runs: the argument types, the manifest (JSON, finite numbers, plain file names), that it lists
//! the file under a model kind the page knows, the file's SHA-256 against the manifest's, the
//! architecture's limits, that the weights hold no NaN or infinity, and that they fit that
//! architecture. Each failure is one line that says what is wrong.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use serde::Serialize;
use serde_json::Value;
use wasm_bindgen::prelude::*;

use super::backend::{self, BackendInfo};
use super::input::Call;
use super::{MAX_COORD, backend_choice, float_arrays, read, to_js};
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::{
    Autoencoder, ClassifierConfig, ConvAeConfig, DaeWideConfig, Manifest, Model, ModelEntry,
    ModelKind, VaeConfig,
};

/// Largest manifest text accepted (the committed one is about 10 kB).
const MAX_MANIFEST_CHARS: usize = 1 << 20;
/// Largest weights file accepted (the committed ones are 20 kB to 2 MB).
const MAX_WEIGHTS_BYTES: usize = 64 << 20;
/// Most images one `classify`/`encode` call takes.
const MAX_IMAGES: usize = 1024;

pub use crate::model::store::sha256_hex;

/// The shapes of a module's float parameters, in visiting order, read without initialising any
/// (a fresh module's parameters are lazy: nothing is allocated or computed).
fn shapes<M: Module>(module: &M) -> Vec<Vec<usize>> {
    struct Shapes(Vec<Vec<usize>>);
    impl ModuleVisitor for Shapes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.lazy_shape().to_vec());
        }
    }
    let mut found = Shapes(Vec::new());
    module.visit(&mut found);
    found.0
}

fn model_shapes(model: &Model) -> Vec<Vec<usize>> {
    match model {
        Model::ConvAe(m) => shapes(m),
        Model::DaeWide(m) => shapes(m),
        Model::Vae(m) => shapes(m),
        Model::Classifier(m) => shapes(m),
    }
}

/// The parameter shapes of the architecture `manifest` gives `kind` (already checked by `load`).
fn architecture_shapes(
    manifest: &Manifest,
    kind: ModelKind,
    device: &Device,
) -> Result<Vec<Vec<usize>>, String> {
    let e = |e: crate::model::ManifestError| e.to_string();
    Ok(match kind {
        ModelKind::Ae | ModelKind::Dae => shapes(
            &manifest
                .architecture::<ConvAeConfig>(kind)
                .map_err(e)?
                .init(device),
        ),
        ModelKind::DaeWide => shapes(
            &manifest
                .architecture::<DaeWideConfig>(kind)
                .map_err(e)?
                .init(device),
        ),
        ModelKind::Vae => shapes(
            &manifest
                .architecture::<VaeConfig>(kind)
                .map_err(e)?
                .init(device),
        ),
        ModelKind::Classifier | ModelKind::ClassifierBest => shapes(
            &manifest
                .architecture::<ClassifierConfig>(kind)
                .map_err(e)?
                .init(device),
        ),
    })
}

/// What the page shows about an imported model.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary<'a> {
    /// The manifest key: "ae", "dae", "dae_wide", "vae", "classifier" or "classifier_best".
    kind: &'static str,
    /// "autoencoder", "denoiser", "vae" or "classifier".
    family: &'static str,
    /// Values in the model's code (its latent space); 0 for a classifier.
    code: usize,
    file: &'a str,
    sha256: &'a str,
    hyperparameters: &'a Value,
    epochs: usize,
    best_valid_loss: f64,
    /// Test metrics recorded when it was published (null for a run's own store).
    test: &'a Value,
    run_id: Option<&'a str>,
    backend: &'a str,
}

/// A model loaded from a weights directory's files.
#[wasm_bindgen]
pub struct ImportedModel {
    kind: ModelKind,
    entry: ModelEntry,
    sha256: String,
    model: Model,
    /// Values in the code (from the manifest's architecture); 0 for a classifier.
    code: usize,
    device: Device,
    backend: BackendInfo,
}

/// The model kind whose manifest entry names `file`.
fn find_entry<'m>(
    call: Call,
    manifest: &'m Manifest,
    file: &str,
) -> Result<(ModelKind, &'m ModelEntry), JsError> {
    let listed: Vec<&str> = manifest.models.values().map(|e| e.file.as_str()).collect();
    let (key, entry) = manifest
        .models
        .iter()
        .find(|(_, e)| e.file == file)
        .ok_or_else(|| {
            call.error(format!(
                "manifest.json does not list the file {file:?} (it lists {}): pick the manifest \
                 of the directory this weights file comes from",
                if listed.is_empty() {
                    "no models".to_string()
                } else {
                    listed.join(", ")
                }
            ))
        })?;
    let kind = ModelKind::ALL
        .into_iter()
        .find(|k| k.key() == key)
        .ok_or_else(|| {
            call.error(format!(
                "manifest.json lists {file:?} as model {key:?}, which this page does not know \
                 (it knows {})",
                ModelKind::ALL.map(ModelKind::key).join(", ")
            ))
        })?;
    Ok((kind, entry))
}

/// The SHA-256 of `bytes`, which must be the one the manifest's entry gives for `file`.
fn checked_sha256(
    call: Call,
    entry: &ModelEntry,
    file: &str,
    bytes: &[u8],
) -> Result<String, JsError> {
    let Some(expected) = entry.sha256.as_deref() else {
        return Err(call.error(format!(
            "manifest.json gives no sha256 for {file:?}: the page loads only weights it can check"
        )));
    };
    let sha256 = sha256_hex(bytes);
    if !expected.eq_ignore_ascii_case(&sha256) {
        return Err(call.error(format!(
            "{file:?} is corrupt or not the file manifest.json describes: its SHA-256 is {}…, \
             the manifest says {}…",
            &sha256[..16],
            expected.get(..16).unwrap_or(expected)
        )));
    }
    Ok(sha256)
}

/// burn takes a stored tensor's shape as it is, so weights of a wider or narrower model than the
/// manifest describes would load, and fail (trap) in the first kernel that relies on the
/// described sizes: every parameter's shape must be the architecture's.
fn check_shapes(
    call: Call,
    file: &str,
    manifest: &Manifest,
    kind: ModelKind,
    model: &Model,
    device: &Device,
) -> Result<(), JsError> {
    let expected = architecture_shapes(manifest, kind, device)
        .map_err(|e| call.error(format!("{file:?} cannot be loaded: {e}")))?;
    let found = model_shapes(model);
    if let Some((i, (want, got))) = expected
        .iter()
        .zip(&found)
        .enumerate()
        .find(|(_, (want, got))| want != got)
    {
        return Err(call.error(format!(
            "{file:?} cannot be loaded: weights do not fit this model's architecture (the \
             manifest's {}): parameter {i} is {got:?}, the architecture needs {want:?}",
            kind.key()
        )));
    }
    if expected.len() != found.len() {
        return Err(call.error(format!(
            "{file:?} cannot be loaded: weights do not fit this model's architecture: {} \
             parameters, the architecture has {}",
            found.len(),
            expected.len()
        )));
    }
    Ok(())
}

/// Values in the model's code (its latent space), from the manifest's architecture; 0 for a
/// classifier.
fn code_size(
    call: Call,
    manifest: &Manifest,
    kind: ModelKind,
    model: &Model,
) -> Result<usize, JsError> {
    Ok(match model {
        Model::ConvAe(_) => {
            manifest
                .architecture::<ConvAeConfig>(kind)
                .map_err(|e| call.error(e))?
                .code
        }
        Model::Vae(_) => 2,
        Model::DaeWide(_) => manifest
            .architecture::<DaeWideConfig>(kind)
            .map_err(|e| call.error(e))?
            .code_size(),
        Model::Classifier(_) => 0,
    })
}

#[wasm_bindgen]
impl ImportedModel {
    /// Loads one model: `manifest` is the text of a `manifest.json`, `file` the name of a
    /// weights file it lists and `bytes` that file's contents (Uint8Array or ArrayBuffer).
    /// `backend` is "auto" (WebGPU, else CPU) or "cpu".
    pub async fn create(
        backend: JsValue,  // "auto" or "cpu"
        manifest: JsValue, // manifest.json's text
        file: JsValue,     // the weights file's name
        bytes: JsValue,    // the weights file
    ) -> Result<ImportedModel, JsError> {
        super::init_runtime();
        let call = Call("ImportedModel.create()");
        let prefer = backend_choice(call, &backend)?;
        let text = call.text(&manifest, "manifest", MAX_MANIFEST_CHARS)?;
        let file = call.text(&file, "file", 255)?;
        let bytes = call.bytes(&bytes, "bytes", MAX_WEIGHTS_BYTES)?;
        let manifest = Manifest::parse(&text)
            .map_err(|e| call.error(format!("manifest.json is not a weights manifest: {e}")))?;
        let (kind, entry) = find_entry(call, &manifest, &file)?;
        let sha256 = checked_sha256(call, entry, &file, &bytes)?;
        let entry = entry.clone();
        let (device, backend) = backend::select(prefer).await;
        let model = crate::model::load(&manifest, kind, &bytes, &device)
            .map_err(|e| call.error(format!("{file:?} cannot be loaded: {e}")))?;
        check_shapes(call, &file, &manifest, kind, &model, &device)?;
        let code = code_size(call, &manifest, kind, &model)?;
        let imported = ImportedModel {
            kind,
            entry,
            sha256,
            model,
            code,
            device,
            backend,
        };
        imported.check_finite(call).await?;
        Ok(imported)
    }

    /// `{kind, family, code, file, sha256, hyperparameters, epochs, bestValidLoss, test, runId,
    /// backend}`.
    #[wasm_bindgen(getter)]
    pub fn summary(&self) -> Result<JsValue, JsError> {
        to_js(&Summary {
            kind: self.kind.key(),
            family: self.family(),
            code: self.code(),
            file: &self.entry.file,
            sha256: &self.sha256,
            hyperparameters: &self.entry.hyperparameters,
            epochs: self.entry.epochs,
            best_valid_loss: self.entry.best_valid_loss,
            test: &self.entry.test,
            run_id: self.entry.run_id.as_deref(),
            backend: &self.entry.backend,
        })
    }

    /// `{kind: "webgpu" | "cpu", adapter, reason}`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> Result<JsValue, JsError> {
        to_js(&self.backend)
    }

    /// Class probabilities (`n·10`) of `n` images; classifiers only.
    pub async fn classify(&self, images: JsValue) -> Result<Vec<f32>, JsError> {
        let call = Call("ImportedModel.classify()");
        let pixels = call.images(&images, "images", 1..=MAX_IMAGES)?;
        let Model::Classifier(classifier) = &self.model else {
            return Err(self.wrong_family(call, "a classifier"));
        };
        read(classifier.probabilities(self.tensor(pixels))).await
    }

    /// Codes (`n·code`) of `n` images: the ConvAE's code or the VAE's posterior mean.
    pub async fn encode(&self, images: JsValue) -> Result<Vec<f32>, JsError> {
        let call = Call("ImportedModel.encode()");
        let pixels = call.images(&images, "images", 1..=MAX_IMAGES)?;
        let x = self.tensor(pixels);
        match &self.model {
            Model::ConvAe(ae) => read(ae.encoder.forward(x)).await,
            Model::Vae(vae) => read(vae.encode(x).0).await,
            _ => Err(self.wrong_family(call, "a ConvAE or a VAE")),
        }
    }

    /// Decodes one point of a 2-D code: 784 pixels.
    pub async fn decode(&self, x: JsValue, y: JsValue) -> Result<Vec<f32>, JsError> {
        let call = Call("ImportedModel.decode()");
        let x = call.float(&x, "x", -MAX_COORD..=MAX_COORD)?;
        let y = call.float(&y, "y", -MAX_COORD..=MAX_COORD)?;
        let z = || Tensor::from_data(TensorData::new(vec![x, y], [1, 2]), &self.device);
        match &self.model {
            Model::ConvAe(ae) if self.code() == 2 => read(ae.decoder.forward(z())).await,
            Model::Vae(vae) => read(vae.decode(z())).await,
            Model::ConvAe(_) => Err(call.error(format!(
                "this ConvAE's code has {} values, so a 2-D point does not decode",
                self.code()
            ))),
            _ => Err(self.wrong_family(call, "a ConvAE or a VAE")),
        }
    }

    /// The model's reconstruction of one image (`{image}`, a Float32Array); not classifiers.
    pub async fn reconstruct(&self, image: JsValue) -> Result<JsValue, JsError> {
        let call = Call("ImportedModel.reconstruct()");
        let x = self.tensor(call.image(&image, "image")?);
        let out = match &self.model {
            Model::ConvAe(ae) => read(ae.forward(x)).await?,
            Model::DaeWide(dae) => read(dae.reconstruct(x)).await?,
            Model::Vae(vae) => read(vae.decode(vae.encode(x).0)).await?,
            Model::Classifier(_) => {
                return Err(self.wrong_family(call, "an autoencoder, a denoiser or a VAE"));
            }
        };
        float_arrays(&[("image", &out)])
    }
}

impl ImportedModel {
    fn family(&self) -> &'static str {
        match (&self.model, self.kind) {
            (Model::Classifier(_), _) => "classifier",
            (Model::Vae(_), _) => "vae",
            (Model::DaeWide(_), _) | (Model::ConvAe(_), ModelKind::Dae) => "denoiser",
            (Model::ConvAe(_), _) => "autoencoder",
        }
    }

    fn code(&self) -> usize {
        self.code
    }

    fn tensor(&self, pixels: Vec<f32>) -> Tensor<4> {
        let n = pixels.len() / IMAGE_PIXELS;
        Tensor::from_data(
            TensorData::new(pixels, [n, 1, IMAGE_SIDE, IMAGE_SIDE]),
            &self.device,
        )
    }

    fn wrong_family(&self, call: Call, wanted: &str) -> JsError {
        call.error(format!(
            "this model ({}, a {}) is not {wanted}",
            self.kind.key(),
            self.family()
        ))
    }

    /// Weights holding NaN or infinity are refused from the file's bytes as they load; finite
    /// ones can still be large enough to overflow, and answer NaN or infinity: run the model once
    /// on a blank image and refuse it if so.
    async fn check_finite(&self, call: Call) -> Result<(), JsError> {
        let blank = || self.tensor(vec![0.0; IMAGE_PIXELS]);
        let out = match &self.model {
            Model::Classifier(c) => read(c.forward(blank())).await?,
            Model::ConvAe(ae) => read(ae.forward(blank())).await?,
            Model::DaeWide(dae) => read(dae.reconstruct(blank())).await?,
            Model::Vae(vae) => {
                let (mu, logvar) = vae.encode(blank());
                let mut values = read(vae.decode(mu)).await?;
                values.extend(read(logvar).await?);
                values
            }
        };
        if out.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(call.error(format!(
                "{:?} answers a blank image with values that are not finite numbers (NaN or \
                 infinity): its weights overflow",
                self.entry.file
            )))
        }
    }
}
