//! Latent-space analysis: PCA and k-NN accuracy (native and wasm: the in-browser training mode
//! maps its codes with them), t-SNE and the latent-map exporter (native), and the VAE's dead
//! ReLU units (native).

pub mod knn;
#[cfg(not(target_arch = "wasm32"))]
pub mod maps;
pub mod pca;
#[cfg(not(target_arch = "wasm32"))]
pub mod units;
