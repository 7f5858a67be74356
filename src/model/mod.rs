//! The models, defined once for the trainer, the CLI and the wasm crate, and their weights files.

pub mod classifier;
pub mod conv_ae;
pub mod manifest;
pub mod store;
pub mod vae;

pub use classifier::{CLASSES, Classifier, ClassifierConfig};
pub use conv_ae::{ConvAe, ConvAeConfig, Decoder, Encoder};
pub use manifest::{Manifest, ManifestError, ModelEntry, ModelKind};
pub use store::WeightsError;
pub use vae::{Vae, VaeConfig, VaeLoss};

use burn::prelude::Device;

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
