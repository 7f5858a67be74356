//! The browser API: a thin wasm-bindgen layer over the shared models, on the committed weights
//! (compiled into the first-load bundle, handed to the full one: `weights`). Every export takes its arguments as `JsValue`s and checks them (`input`)
//! before any kernel runs, so no input reachable from JS panics (a panic aborts the module);
//! results are read with burn's async reads (sync reads panic in wasm).

mod backend;
mod digit_check;
pub mod imported;
pub mod input;
mod js_read;
#[cfg(feature = "train")]
pub mod training;
pub mod weights;

use burn::prelude::*;
use rand::{SeedableRng, rngs::StdRng};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use input::Call;

use crate::data::noise::{add_gaussian_noise, standard_normal};
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::{
    Autoencoder, Classifier, ConvAe, DaeWide, ModelKind, Vae, load_classifier, load_conv_ae,
    load_dae_wide, load_vae,
};

use backend::BackendInfo;
pub use imported::ImportedModel;
pub use weights::Weights;
#[cfg(feature = "embed-weights")]
pub use weights::bundled_files;

/// Largest latent coordinate accepted (the VAE prior lives within ±4; AE codes within tens).
const MAX_COORD: f32 = 1e4;
/// Largest grid side of `decode_grid` (1,600 images in one batch).
const MAX_GRID: usize = 40;
/// Most digits one `sample` call draws.
const MAX_SAMPLES: usize = 400;
/// Most images one `interpolate` call returns.
const MAX_STEPS: usize = 64;

unsafe extern "C" {
    /// Runs the static constructors (burn's kernels register themselves through `inventory`);
    /// synthesised by the linker.
    fn __wasm_call_ctors();
}

/// Runs the static constructors once. Calling them explicitly matters for speed: a module that
/// never does gets them re-run at the start of every exported call by wasm-ld ("command"
/// linkage), which cost ~1 ms per call and re-registered every kernel each time. Called by the
/// start function and, in case a host skips it, by every constructor of the API's objects.
pub(crate) fn init_runtime() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: the linker-synthesised constructor list, run exactly once per instance.
    ONCE.call_once(|| unsafe { __wasm_call_ctors() });
}

#[wasm_bindgen(start)]
pub fn start() {
    init_runtime();
    console_error_panic_hook::set_once();
}

fn js_err(message: impl std::fmt::Display) -> JsError {
    JsError::new(&message.to_string())
}

async fn read<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, JsError> {
    let data = tensor
        .into_data_async()
        .await
        .map_err(|e| js_err(format!("reading a result: {e:?}")))?;
    data.try_into_vec::<f32>()
        .map_err(|e| js_err(format!("reading a result: {e:?}")))
}

/// Plain JS objects and numbers (not `Map`s or `BigInt`s), as a JS caller expects.
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(js_err)
}

/// The `backend` argument of the constructors: "auto" (WebGPU, else the CPU) or "cpu".
fn backend_choice(call: Call, value: &JsValue) -> Result<&'static str, JsError> {
    call.choice(value, "backend", &["auto", "cpu"])
}

#[derive(Serialize)]
struct Encoding {
    ae: Vec<f32>,
    vae_mu: Vec<f32>,
    vae_logvar: Vec<f32>,
}

/// A JS object whose fields are `Float32Array`s. Images go back this way, not through serde:
/// serde-wasm-bindgen builds a JS array element by element, which took ~0.5 s for two images.
fn float_arrays(fields: &[(&str, &[f32])]) -> Result<JsValue, JsError> {
    let object = js_sys::Object::new();
    for (name, values) in fields {
        js_sys::Reflect::set(
            &object,
            &JsValue::from_str(name),
            &js_sys::Float32Array::from(*values),
        )
        .map_err(|_| js_err(format!("cannot build the result field {name}")))?;
    }
    Ok(object.into())
}

/// The models on one device. Built once per page (`DigitLab.create`), reused for every call.
/// It holds no state that a call changes, so calls may overlap freely.
#[wasm_bindgen]
pub struct DigitLab {
    device: Device,
    backend: BackendInfo,
    /// The manifest the models came with, as given.
    manifest: String,
    ae: ConvAe,
    dae: ConvAe,
    dae_wide: DaeWide,
    vae: Vae,
    classifier: Classifier,
    classifier_best: Classifier,
}

/// The two decoders of the latent explorer.
#[derive(Clone, Copy, PartialEq)]
enum Decoder {
    Ae,
    Vae,
}

fn decoder(call: Call, value: &JsValue) -> Result<Decoder, JsError> {
    Ok(match call.choice(value, "model", &["ae", "vae"])? {
        "ae" => Decoder::Ae,
        _ => Decoder::Vae,
    })
}

#[wasm_bindgen]
impl DigitLab {
    /// Loads the bundled models on WebGPU (`backend` = "auto") with the CPU fallback, or on the
    /// CPU backend (`backend` = "cpu"). `weights`: left out where this bundle embeds them (the
    /// first-load bundle), else that bundle's `bundledWeights()`.
    pub async fn create(
        backend: JsValue, // "auto" or "cpu"
        weights: JsValue, // undefined, or {manifest, files}
    ) -> Result<DigitLab, JsError> {
        init_runtime();
        let call = Call("DigitLab.create()");
        let prefer = backend_choice(call, &backend)?;
        let weights = Weights::from_js(call, &weights)?;
        let m = weights.manifest();
        // Every file is checked (present, SHA-256) before the device starts.
        let mut files = Vec::with_capacity(ModelKind::ALL.len());
        for kind in ModelKind::ALL {
            files.push(weights.model(call, kind)?);
        }
        let [ae, dae, dae_wide, vae, classifier, classifier_best] = files[..] else {
            unreachable!("one file per kind of ModelKind::ALL")
        };
        let (device, backend) = backend::select(prefer).await;
        // Each load checks the weights against the architecture and refuses NaN or infinity.
        let loaded = |e: crate::model::LoadError| call.error(e);
        Ok(DigitLab {
            ae: load_conv_ae(m, ModelKind::Ae, ae, &device).map_err(loaded)?,
            dae: load_conv_ae(m, ModelKind::Dae, dae, &device).map_err(loaded)?,
            dae_wide: load_dae_wide(m, dae_wide, &device).map_err(loaded)?,
            vae: load_vae(m, vae, &device).map_err(loaded)?,
            classifier: load_classifier(m, ModelKind::Classifier, classifier, &device)
                .map_err(loaded)?,
            classifier_best: load_classifier(
                m,
                ModelKind::ClassifierBest,
                classifier_best,
                &device,
            )
            .map_err(loaded)?,
            manifest: weights.manifest_text().to_string(),
            device,
            backend,
        })
    }

    /// `{kind: "webgpu" | "cpu", adapter, reason}`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> Result<JsValue, JsError> {
        to_js(&self.backend)
    }

    /// The bundled manifest (hyperparameters, test metrics) as a JSON string.
    #[wasm_bindgen(getter)]
    pub fn manifest(&self) -> String {
        self.manifest.clone()
    }

    /// Checked pixels (whole images) as a tensor.
    fn images(&self, pixels: Vec<f32>) -> Tensor<4> {
        let n = pixels.len() / IMAGE_PIXELS;
        Tensor::from_data(
            TensorData::new(pixels, [n, 1, IMAGE_SIDE, IMAGE_SIDE]),
            &self.device,
        )
    }

    /// Decodes checked 2-D points (x, y interleaved).
    async fn decode_points(&self, model: Decoder, coords: Vec<f32>) -> Result<Vec<f32>, JsError> {
        let n = coords.len() / 2;
        let z = Tensor::from_data(TensorData::new(coords, [n, 2]), &self.device);
        match model {
            Decoder::Vae => read(self.vae.decode(z)).await,
            Decoder::Ae => read(self.ae.decoder.forward(z)).await,
        }
    }

    /// Class probabilities (10) of a 28×28 image in [0, 1]; `classifier` is "best" or "paper".
    pub async fn classify(&self, image: JsValue, classifier: JsValue) -> Result<Vec<f32>, JsError> {
        let call = Call("classify()");
        let pixels = call.image(&image, "image")?;
        let model = match call.choice(&classifier, "classifier", &["best", "paper"])? {
            "best" => &self.classifier_best,
            _ => &self.classifier,
        };
        read(model.probabilities(self.images(pixels))).await
    }

    /// `{ae: [x, y], vae_mu: [x, y], vae_logvar: [a, b]}` for one image.
    pub async fn encode(&self, image: JsValue) -> Result<JsValue, JsError> {
        let x = self.images(Call("encode()").image(&image, "image")?);
        let ae = read(self.ae.encoder.forward(x.clone())).await?;
        let (mu, logvar) = self.vae.encode(x);
        to_js(&Encoding {
            ae,
            vae_mu: read(mu).await?,
            vae_logvar: read(logvar).await?,
        })
    }

    /// Decodes one latent point with the AE or the VAE (`model`): 784 pixels.
    pub async fn decode(
        &self,
        model: JsValue,
        x: JsValue,
        y: JsValue,
    ) -> Result<Vec<f32>, JsError> {
        let call = Call("decode()");
        let model = decoder(call, &model)?;
        let x = call.float(&x, "x", -MAX_COORD..=MAX_COORD)?;
        let y = call.float(&y, "y", -MAX_COORD..=MAX_COORD)?;
        self.decode_points(model, vec![x, y]).await
    }

    /// Decodes an n×n grid over [x0, x1] × [y0, y1] in one batch: n·n·784 pixels, row by row
    /// from the top (y1) down, each row from x0 to x1.
    #[allow(clippy::too_many_arguments)]
    pub async fn decode_grid(
        &self,
        model: JsValue, // "ae" or "vae"
        n: JsValue,     // points per side
        x0: JsValue,    // left edge
        x1: JsValue,    // right edge
        y0: JsValue,    // bottom edge
        y1: JsValue,    // top edge
    ) -> Result<Vec<f32>, JsError> {
        let call = Call("decode_grid()");
        let model = decoder(call, &model)?;
        let n = call.count(&n, "n", 1..=MAX_GRID)?;
        let mut bounds = [0.0; 4];
        for (b, (v, name)) in
            bounds
                .iter_mut()
                .zip([(&x0, "x0"), (&x1, "x1"), (&y0, "y0"), (&y1, "y1")])
        {
            *b = call.float(v, name, -MAX_COORD..=MAX_COORD)?;
        }
        let [x0, x1, y0, y1] = bounds;
        let at = |i: usize, lo: f32, hi: f32| {
            if n == 1 {
                (lo + hi) / 2.0
            } else {
                lo + (hi - lo) * i as f32 / (n - 1) as f32
            }
        };
        let coords: Vec<f32> = (0..n)
            .flat_map(|r| (0..n).flat_map(move |c| [at(c, x0, x1), at(r, y1, y0)]))
            .collect();
        self.decode_points(model, coords).await
    }

    /// AE and VAE reconstructions of one image: `{ae, vae}` (Float32Arrays).
    pub async fn reconstruct(&self, image: JsValue) -> Result<JsValue, JsError> {
        let x = self.images(Call("reconstruct()").image(&image, "image")?);
        let (mu, _) = self.vae.encode(x.clone());
        let ae = read(self.ae.forward(x)).await?;
        let vae = read(self.vae.decode(mu)).await?;
        float_arrays(&[("ae", &ae), ("vae", &vae)])
    }

    /// Adds seeded Gaussian noise of `amount` (clip(x + a·N(0,1), 0, 1)) and denoises it with
    /// `model`: "dae" (the paper's, 2-D code) or "dae_wide" (the wide-code denoiser).
    /// Returns `{noisy, cleaned}` (Float32Arrays).
    pub async fn denoise(
        &self,
        image: JsValue,  // 784 pixels in [0, 1]
        amount: JsValue, // the noise's a, in [0, 1]
        seed: JsValue,   // the noise's seed
        model: JsValue,  // "dae" or "dae_wide"
    ) -> Result<JsValue, JsError> {
        let call = Call("denoise()");
        let mut noisy = call.image(&image, "image")?;
        let amount = call.float(&amount, "amount", 0.0..=1.0)?;
        let seed = call.seed(&seed, "seed")?;
        let wide = call.choice(&model, "model", &["dae", "dae_wide"])? == "dae_wide";
        add_gaussian_noise(&mut noisy, amount, &mut StdRng::seed_from_u64(seed));
        let x = self.images(noisy.clone());
        let cleaned = if wide {
            read(self.dae_wide.reconstruct(x)).await?
        } else {
            read(self.dae.forward(x)).await?
        };
        float_arrays(&[("noisy", &noisy), ("cleaned", &cleaned)])
    }

    /// `count` new digits (count·784 pixels): from N(0, I) for the VAE; for the AE from `mean`
    /// and the Cholesky factor `chol` = [l11, l21, l22] of the Gaussian fitted to the training
    /// codes (the VAE takes no `mean` or `chol`: pass `[]` or leave them out).
    pub async fn sample(
        &self,
        model: JsValue, // "ae" or "vae"
        count: JsValue, // how many digits
        seed: JsValue,  // the draws' seed
        mean: JsValue,  // AE only: the codes' mean
        chol: JsValue,  // AE only: [l11, l21, l22]
    ) -> Result<Vec<f32>, JsError> {
        let call = Call("sample()");
        let model = decoder(call, &model)?;
        let k = call.count(&count, "count", 1..=MAX_SAMPLES)?;
        let seed = call.seed(&seed, "seed")?;
        let in_range = |values: &[f32], name: &str| match values
            .iter()
            .find(|v| !(-MAX_COORD..=MAX_COORD).contains(*v))
        {
            Some(v) => Err(call.error(format!(
                "{name} values must be within ±{MAX_COORD}, got {v}"
            ))),
            None => Ok(()),
        };
        let gaussian = if model == Decoder::Ae {
            let mean = call.floats(&mean, "mean", "[mx, my] (2 numbers)", |n| n == 2)?;
            let chol = call.floats(&chol, "chol", "[l11, l21, l22] (3 numbers)", |n| n == 3)?;
            in_range(&mean, "mean")?;
            in_range(&chol, "chol")?;
            Some((mean, chol))
        } else {
            for (value, name) in [(&mean, "mean"), (&chol, "chol")] {
                if !value.is_undefined() {
                    call.floats(
                        value,
                        name,
                        "left out or [] for the VAE (it samples its prior N(0, I))",
                        |n| n == 0,
                    )?;
                }
            }
            None
        };
        let eps = standard_normal(2 * k, &mut StdRng::seed_from_u64(seed));
        let coords = match gaussian {
            None => eps,
            Some((mean, chol)) => eps
                .chunks(2)
                .flat_map(|e| {
                    [
                        mean[0] + chol[0] * e[0],
                        mean[1] + chol[1] * e[0] + chol[2] * e[1],
                    ]
                })
                .collect(),
        };
        self.decode_points(model, coords).await
    }

    /// Interpolates between two images in the AE code or VAE mean space: `steps` images
    /// (steps·784 pixels) from `a` to `b` inclusive.
    pub async fn interpolate(
        &self,
        model: JsValue, // "ae" or "vae"
        a: JsValue,     // the first image
        b: JsValue,     // the last image
        steps: JsValue, // images in between, ends included
    ) -> Result<Vec<f32>, JsError> {
        let call = Call("interpolate()");
        let model = decoder(call, &model)?;
        let mut pixels = call.image(&a, "a")?;
        pixels.extend(call.image(&b, "b")?);
        let steps = call.count(&steps, "steps", 2..=MAX_STEPS)?;
        let x = self.images(pixels);
        let codes = match model {
            Decoder::Vae => read(self.vae.encode(x).0).await?,
            Decoder::Ae => read(self.ae.encoder.forward(x)).await?,
        };
        let coords: Vec<f32> = (0..steps)
            .flat_map(|i| {
                let t = i as f32 / (steps - 1) as f32;
                [
                    codes[0] + t * (codes[2] - codes[0]),
                    codes[1] + t * (codes[3] - codes[1]),
                ]
            })
            .collect();
        self.decode_points(model, coords).await
    }
}
