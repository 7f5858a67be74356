//! The models, defined once for the trainer, the CLI and the wasm crate, and their weights files.

pub mod classifier;
pub mod conv_ae;
pub mod manifest;
pub mod store;
pub mod vae;
pub mod wide_dae;

pub use classifier::{CLASSES, Classifier, ClassifierConfig};
pub use conv_ae::{ConvAe, ConvAeConfig, Decoder, Encoder};
pub use manifest::{Manifest, ManifestError, ModelEntry, ModelKind};
pub use store::WeightsError;
pub use vae::{Vae, VaeConfig, VaeLoss};
pub use wide_dae::{WideDae, WideDaeConfig};

use burn::prelude::*;

/// A model that maps images to images through a code (the ConvAE, the DAEs).
pub trait Autoencoder {
    /// Reconstructed (or denoised) images, pixels in (0, 1).
    fn reconstruct(&self, images: Tensor<4>) -> Tensor<4>;

    /// Mean squared error per pixel between the reconstruction of `input` and `target`
    /// (the same images for the plain autoencoder, the clean ones for a denoiser).
    fn mse(&self, input: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
        (self.reconstruct(input) - target).square().mean()
    }
}

/// Failure to rebuild a model from the manifest and its weights.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

/// Rebuilds a ConvAE (`Ae` or `Dae`) from the manifest and its weights bytes.
pub fn load_conv_ae(
    manifest: &Manifest,
    kind: ModelKind,
    bytes: &[u8],
    device: &Device,
) -> Result<ConvAe, LoadError> {
    let config: ConvAeConfig = manifest.architecture(kind)?;
    Ok(store::from_bytes(config.init(device), bytes, kind.key())?)
}

/// Rebuilds the wide-code denoiser.
pub fn load_wide_dae(
    manifest: &Manifest,
    bytes: &[u8],
    device: &Device,
) -> Result<WideDae, LoadError> {
    let config: WideDaeConfig = manifest.architecture(ModelKind::DaeWide)?;
    Ok(store::from_bytes(
        config.init(device),
        bytes,
        ModelKind::DaeWide.key(),
    )?)
}

/// Rebuilds the VAE.
pub fn load_vae(manifest: &Manifest, bytes: &[u8], device: &Device) -> Result<Vae, LoadError> {
    let config: VaeConfig = manifest.architecture(ModelKind::Vae)?;
    Ok(store::from_bytes(
        config.init(device),
        bytes,
        ModelKind::Vae.key(),
    )?)
}

/// Rebuilds a classifier (`Classifier` or `ClassifierBest`).
pub fn load_classifier(
    manifest: &Manifest,
    kind: ModelKind,
    bytes: &[u8],
    device: &Device,
) -> Result<Classifier, LoadError> {
    let config: ClassifierConfig = manifest.architecture(kind)?;
    Ok(store::from_bytes(config.init(device), bytes, kind.key())?)
}
