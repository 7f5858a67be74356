//! Latent-space analysis and the digit check: PCA and k-NN accuracy (native and wasm: the in-browser training mode
//! maps its codes with them), t-SNE and the latent-map exporter (native), and the VAE's dead
//! ReLU units (native); whether a drawing is a digit at all (`digit_check`, thresholds shared
//! with the page) and the non-digit drawings it is measured on (`non_digits`, native).

pub mod digit_check;
pub mod knn;
#[cfg(not(target_arch = "wasm32"))]
pub mod maps;
#[cfg(not(target_arch = "wasm32"))]
pub mod non_digits;
pub mod pca;
#[cfg(not(target_arch = "wasm32"))]
pub mod units;
