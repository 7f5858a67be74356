//! Latent-space analysis and the digit check: PCA and k-NN accuracy (native and wasm: the
//! in-browser training mode maps its codes with them), t-SNE and the latent-map exporter
//! (native), and the VAE's dead ReLU units (native); whether a drawing is a digit at all
//! (`digit_check`, shared with the page, with its shape features `image_stats`, its logistic
//! model `logistic` and their storage `packed`; fitted and measured by `check_fit`, native) and
//! the non-digit drawings it is measured on (`non_digits`, `hand_shapes` and the digit templates
//! they cut short, `digit_templates`; native); handwriting not from MNIST's
//! files (`handwriting`: digits redrawn through the pad, font digits from `glyphs`; native).

#[cfg(not(target_arch = "wasm32"))]
pub mod check_fit;
pub mod digit_check;
#[cfg(not(target_arch = "wasm32"))]
pub mod digit_templates;
#[cfg(not(target_arch = "wasm32"))]
pub mod glyphs;
#[cfg(not(target_arch = "wasm32"))]
pub mod hand_shapes;
#[cfg(not(target_arch = "wasm32"))]
pub mod handwriting;
pub mod image_stats;
pub mod knn;
pub mod logistic;
#[cfg(not(target_arch = "wasm32"))]
pub mod maps;
#[cfg(not(target_arch = "wasm32"))]
pub mod non_digits;
pub mod packed;
pub mod pca;
#[cfg(not(target_arch = "wasm32"))]
pub mod units;
