//! The browser API: a thin wasm-bindgen layer over the shared models, with the committed
//! weights embedded. Every method checks its input and returns a JS error instead of panicking;
//! results are read with burn's async reads (sync reads panic in wasm).

mod backend;
pub mod input;
#[cfg(feature = "train")]
pub mod training;

use burn::prelude::*;
use rand::{SeedableRng, rngs::StdRng};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::data::noise::{add_gaussian_noise, standard_normal};
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::{
    Autoencoder, Classifier, ConvAe, Manifest, ModelKind, Vae, WideDae, load_classifier,
    load_conv_ae, load_vae, load_wide_dae,
};

use backend::BackendInfo;

// The committed manifest and weights (`MANIFEST`, `AE`, …), embedded by `build.rs` under the
// content-hashed file names the manifest gives.
include!(concat!(env!("OUT_DIR"), "/weights.rs"));

/// Largest latent coordinate accepted (the VAE prior lives within ±4; AE codes within tens).
const MAX_COORD: f32 = 1e4;

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
#[wasm_bindgen]
pub struct DigitLab {
    device: Device,
    backend: BackendInfo,
    ae: ConvAe,
    dae: ConvAe,
    dae_wide: WideDae,
    vae: Vae,
    classifier: Classifier,
    classifier_best: Classifier,
}

#[wasm_bindgen]
impl DigitLab {
    /// Loads the bundled models on WebGPU (`prefer` = "auto") with the CPU fallback, or on the
    /// CPU backend (`prefer` = "cpu").
    pub async fn create(prefer: String) -> Result<DigitLab, JsError> {
        init_runtime();
        if prefer != "auto" && prefer != "cpu" {
            return Err(js_err(format!(
                "backend must be \"auto\" or \"cpu\", got \"{prefer}\""
            )));
        }
        let (device, backend) = backend::select(&prefer).await;
        let manifest = Manifest::parse(MANIFEST).map_err(js_err)?;
        Ok(DigitLab {
            ae: load_conv_ae(&manifest, ModelKind::Ae, AE, &device).map_err(js_err)?,
            dae: load_conv_ae(&manifest, ModelKind::Dae, DAE, &device).map_err(js_err)?,
            dae_wide: load_wide_dae(&manifest, DAE_WIDE, &device).map_err(js_err)?,
            vae: load_vae(&manifest, VAE, &device).map_err(js_err)?,
            classifier: load_classifier(&manifest, ModelKind::Classifier, CLASSIFIER, &device)
                .map_err(js_err)?,
            classifier_best: load_classifier(
                &manifest,
                ModelKind::ClassifierBest,
                CLASSIFIER_BEST,
                &device,
            )
            .map_err(js_err)?,
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
        MANIFEST.to_string()
    }

    fn images(&self, pixels: Vec<f32>) -> Tensor<4> {
        let n = pixels.len() / IMAGE_PIXELS;
        Tensor::from_data(
            TensorData::new(pixels, [n, 1, IMAGE_SIDE, IMAGE_SIDE]),
            &self.device,
        )
    }

    fn points(&self, coords: Vec<f32>) -> Tensor<2> {
        let n = coords.len() / 2;
        Tensor::from_data(TensorData::new(coords, [n, 2]), &self.device)
    }

    fn decoder(&self, model: &str) -> Result<bool, JsError> {
        match model {
            "ae" => Ok(false),
            "vae" => Ok(true),
            other => Err(js_err(format!(
                "model must be \"ae\" or \"vae\", got \"{other}\""
            ))),
        }
    }

    async fn decode_points(&self, model: &str, coords: Vec<f32>) -> Result<Vec<f32>, JsError> {
        let z = self.points(coords);
        if self.decoder(model)? {
            read(self.vae.decode(z)).await
        } else {
            read(self.ae.decoder.forward(z)).await
        }
    }

    /// Class probabilities (10) of a 28×28 image in [0, 1]; `which` is "best" or "paper".
    pub async fn classify(&self, image: Vec<f32>, which: String) -> Result<Vec<f32>, JsError> {
        let x = self.images(input::image(&image, "image").map_err(js_err)?);
        let model = match which.as_str() {
            "best" => &self.classifier_best,
            "paper" => &self.classifier,
            other => {
                return Err(js_err(format!(
                    "classifier must be \"best\" or \"paper\", got \"{other}\""
                )));
            }
        };
        read(model.probabilities(x)).await
    }

    /// `{ae: [x, y], vae_mu: [x, y], vae_logvar: [a, b]}` for one image.
    pub async fn encode(&self, image: Vec<f32>) -> Result<JsValue, JsError> {
        let x = self.images(input::image(&image, "image").map_err(js_err)?);
        let ae = read(self.ae.encoder.forward(x.clone())).await?;
        let (mu, logvar) = self.vae.encode(x);
        to_js(&Encoding {
            ae,
            vae_mu: read(mu).await?,
            vae_logvar: read(logvar).await?,
        })
    }

    /// Decodes one latent point with the AE or the VAE: 784 pixels.
    pub async fn decode(&self, model: String, x: f32, y: f32) -> Result<Vec<f32>, JsError> {
        let x = input::number(x, "x", -MAX_COORD..=MAX_COORD).map_err(js_err)?;
        let y = input::number(y, "y", -MAX_COORD..=MAX_COORD).map_err(js_err)?;
        self.decode_points(&model, vec![x, y]).await
    }

    /// Decodes an n×n grid over [x0, x1] × [y0, y1] in one batch: n·n·784 pixels, row by row
    /// from the top (y1) down, each row from x0 to x1.
    #[allow(clippy::too_many_arguments)]
    pub async fn decode_grid(
        &self,
        model: String,
        n: u32,
        x0: f32,
        x1: f32,
        y0: f32,
        y1: f32,
    ) -> Result<Vec<f32>, JsError> {
        let n = input::count(n, "grid size", 1..=40).map_err(js_err)?;
        let mut bounds = [0.0; 4];
        for (b, (v, name)) in
            bounds
                .iter_mut()
                .zip([(x0, "x0"), (x1, "x1"), (y0, "y0"), (y1, "y1")])
        {
            *b = input::number(v, name, -MAX_COORD..=MAX_COORD).map_err(js_err)?;
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
        self.decode_points(&model, coords).await
    }

    /// AE and VAE reconstructions of one image: `{ae, vae}` (Float32Arrays).
    pub async fn reconstruct(&self, image: Vec<f32>) -> Result<JsValue, JsError> {
        let x = self.images(input::image(&image, "image").map_err(js_err)?);
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
        image: Vec<f32>,
        amount: f32,
        seed: u32,
        model: String,
    ) -> Result<JsValue, JsError> {
        if model != "dae" && model != "dae_wide" {
            return Err(js_err(format!(
                "denoiser must be \"dae\" or \"dae_wide\", got \"{model}\""
            )));
        }
        let mut noisy = input::image(&image, "image").map_err(js_err)?;
        let amount = input::number(amount, "noise amount", 0.0..=1.0).map_err(js_err)?;
        add_gaussian_noise(
            &mut noisy,
            amount,
            &mut StdRng::seed_from_u64(u64::from(seed)),
        );
        let x = self.images(noisy.clone());
        let cleaned = if model == "dae" {
            read(self.dae.forward(x)).await?
        } else {
            read(self.dae_wide.reconstruct(x)).await?
        };
        float_arrays(&[("noisy", &noisy), ("cleaned", &cleaned)])
    }

    /// `k` new digits (k·784 pixels): from N(0, I) for the VAE; for the AE from `mean` and the
    /// Cholesky factor `chol` = [l11, l21, l22] of the Gaussian fitted to the training codes.
    pub async fn sample(
        &self,
        model: String,
        k: u32,
        seed: u32,
        mean: Vec<f32>,
        chol: Vec<f32>,
    ) -> Result<Vec<f32>, JsError> {
        let k = input::count(k, "sample count", 1..=400).map_err(js_err)?;
        let eps = standard_normal(2 * k, &mut StdRng::seed_from_u64(u64::from(seed)));
        let coords = if self.decoder(&model)? {
            eps
        } else {
            if mean.len() != 2
                || chol.len() != 3
                || mean.iter().chain(&chol).any(|v| !v.is_finite())
            {
                return Err(js_err(
                    "AE sampling needs mean = [mx, my] and chol = [l11, l21, l22], all finite",
                ));
            }
            eps.chunks(2)
                .flat_map(|e| {
                    [
                        mean[0] + chol[0] * e[0],
                        mean[1] + chol[1] * e[0] + chol[2] * e[1],
                    ]
                })
                .collect()
        };
        self.decode_points(&model, coords).await
    }

    /// Interpolates between two images in the AE code or VAE mean space: `steps` images
    /// (steps·784 pixels) from `a` to `b` inclusive.
    pub async fn interpolate(
        &self,
        model: String,
        a: Vec<f32>,
        b: Vec<f32>,
        steps: u32,
    ) -> Result<Vec<f32>, JsError> {
        let steps = input::count(steps, "steps", 2..=64).map_err(js_err)?;
        let mut pixels = input::image(&a, "first image").map_err(js_err)?;
        pixels.extend(input::image(&b, "second image").map_err(js_err)?);
        let x = self.images(pixels);
        let codes = if self.decoder(&model)? {
            read(self.vae.encode(x).0).await?
        } else {
            read(self.ae.encoder.forward(x)).await?
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
        self.decode_points(&model, coords).await
    }
}
