//! The models, defined once for the trainer, the CLI and the wasm crate, and their weights files.

pub mod classifier;
pub mod conv_ae;
pub mod dae_wide;
pub mod limits;
pub mod manifest;
pub mod store;
pub mod vae;
#[cfg(not(target_arch = "wasm32"))]
pub mod weights_dir;

pub use classifier::{CLASSES, Classifier, ClassifierConfig};
pub use conv_ae::{ConvAe, ConvAeConfig, Decoder, Encoder};
pub use dae_wide::{DaeWide, DaeWideConfig};
pub use limits::ArchitectureError;
pub use manifest::{Manifest, ManifestError, ModelEntry, ModelKind};
pub use store::WeightsError;
pub use vae::{Vae, VaeConfig, VaeLoss};

use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use crate::kernels::loss::{SigmoidLoss, sigmoid_loss_sums};

/// A model that maps images to images through a code (the ConvAE, the DAEs).
pub trait Autoencoder {
    /// The reconstruction's pre-sigmoid outputs.
    fn reconstruct_logits(&self, images: Tensor<4>) -> Tensor<4>;

    /// Reconstructed (or denoised) images, pixels in (0, 1).
    fn reconstruct(&self, images: Tensor<4>) -> Tensor<4> {
        sigmoid(self.reconstruct_logits(images))
    }

    /// Mean squared error per pixel between the reconstruction of `input` and `target`
    /// (the same images for the plain autoencoder, the clean ones for a denoiser).
    fn mse(&self, input: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
        let pixels = target.shape().num_elements() as f32;
        let squared = SigmoidLoss::SquaredError;
        sigmoid_loss_sums(self.reconstruct_logits(input), target, squared).sum() / pixels
    }
}

/// Failure to rebuild a model from the manifest and its weights.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error("manifest entry `{model}`: model.{source}")]
    Architecture {
        model: &'static str,
        source: ArchitectureError,
    },
}

/// Any of the trained models, as [`load`] rebuilds it.
#[allow(clippy::large_enum_variant)] // a handful per process: boxing would buy nothing
pub enum Model {
    ConvAe(ConvAe),
    DaeWide(DaeWide),
    Vae(Vae),
    Classifier(Classifier),
}

/// The one way to rebuild a model: its architecture from the manifest (checked before anything
/// is allocated), then its weights bytes (checked against the architecture and for non-finite
/// values). Used by the trainer, `eval`, `predict`, the report, the page and the tests.
pub fn load(
    manifest: &Manifest,
    kind: ModelKind,
    bytes: &[u8],
    device: &Device,
) -> Result<Model, LoadError> {
    let checked = |result: Result<(), ArchitectureError>| {
        result.map_err(|source| LoadError::Architecture {
            model: kind.key(),
            source,
        })
    };
    let name = kind.key();
    Ok(match kind {
        ModelKind::Ae | ModelKind::Dae => {
            let config: ConvAeConfig = manifest.architecture(kind)?;
            checked(config.check())?;
            Model::ConvAe(store::from_bytes(config.init(device), bytes, name)?)
        }
        ModelKind::DaeWide => {
            let config: DaeWideConfig = manifest.architecture(kind)?;
            checked(config.check())?;
            Model::DaeWide(store::from_bytes(config.init(device), bytes, name)?)
        }
        ModelKind::Vae => {
            let config: VaeConfig = manifest.architecture(kind)?;
            checked(config.check())?;
            Model::Vae(store::from_bytes(config.init(device), bytes, name)?)
        }
        ModelKind::Classifier | ModelKind::ClassifierBest => {
            let config: ClassifierConfig = manifest.architecture(kind)?;
            checked(config.check())?;
            Model::Classifier(store::from_bytes(config.init(device), bytes, name)?)
        }
    })
}

/// A [`Model`] that is not of the type asked for.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a model of this type")]
pub struct WrongModel(&'static str);

/// `Model::into_x()` for each variant: the model, or [`WrongModel`].
macro_rules! into_variant {
    ($($method:ident: $variant:ident($ty:ty), $name:literal;)*) => {
        impl Model {
            $(
                pub fn $method(self) -> Result<$ty, WrongModel> {
                    match self {
                        Model::$variant(m) => Ok(m),
                        _ => Err(WrongModel($name)),
                    }
                }
            )*
        }
    };
}

into_variant! {
    into_conv_ae: ConvAe(ConvAe), "ConvAE";
    into_dae_wide: DaeWide(DaeWide), "wide DAE";
    into_vae: Vae(Vae), "VAE";
    into_classifier: Classifier(Classifier), "classifier";
}

/// A typed loader: [`load`] and the variant's `into_x`; with a kind given here, the loader
/// takes no kind argument.
macro_rules! typed_loader {
    ($(#[$doc:meta])* $load:ident -> $ty:ty, $into:ident) => {
        $(#[$doc])*
        pub fn $load(
            manifest: &Manifest,
            kind: ModelKind,
            bytes: &[u8],
            device: &Device,
        ) -> Result<$ty, LoadError> {
            expect(load(manifest, kind, bytes, device)?.$into(), kind)
        }
    };
    ($(#[$doc:meta])* $load:ident -> $ty:ty, $into:ident, $kind:expr) => {
        $(#[$doc])*
        pub fn $load(manifest: &Manifest, bytes: &[u8], device: &Device) -> Result<$ty, LoadError> {
            expect(load(manifest, $kind, bytes, device)?.$into(), $kind)
        }
    };
}

typed_loader!(
    /// Rebuilds a ConvAE (`Ae` or `Dae`) from the manifest and its weights bytes.
    load_conv_ae -> ConvAe, into_conv_ae
);
typed_loader!(
    /// Rebuilds the wide-code denoiser.
    load_dae_wide -> DaeWide, into_dae_wide, ModelKind::DaeWide
);
typed_loader!(
    /// Rebuilds the VAE.
    load_vae -> Vae, into_vae, ModelKind::Vae
);
typed_loader!(
    /// Rebuilds a classifier (`Classifier` or `ClassifierBest`).
    load_classifier -> Classifier, into_classifier
);

/// `load` gives each kind its own variant, so a mismatch is a bug in the caller's kind.
fn expect<M>(model: Result<M, WrongModel>, kind: ModelKind) -> Result<M, LoadError> {
    model.map_err(|e| {
        LoadError::Manifest(ManifestError::BadArchitecture {
            model: kind.key(),
            reason: e.to_string(),
        })
    })
}
