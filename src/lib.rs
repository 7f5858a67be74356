//! Digit Lab: the paper's unsupervised models on MNIST (ConvAE, denoising AE, VAE, transfer
//! classifier) in burn. This library is shared by the native trainer (`src/main.rs`) and the
//! wasm crate: data and models compile for both; training, file I/O and the CLI are native only.

pub mod analysis;
pub mod data;
pub mod eval;
/// Faster convolutions (and dropout) for burn's CPU backend, with their own backward pass.
pub mod kernels;
pub mod model;

#[cfg(not(target_arch = "wasm32"))]
pub mod fs_util;
/// In-browser mini-training (the training bundle; also native, where its tests run fast).
#[cfg(feature = "train")]
pub mod mini_training;
#[cfg(all(feature = "train", not(target_arch = "wasm32")))]
pub mod report;
#[cfg(all(feature = "train", not(target_arch = "wasm32")))]
pub mod search;
#[cfg(all(feature = "train", not(target_arch = "wasm32")))]
pub mod train;

#[cfg(all(feature = "web", target_arch = "wasm32"))]
pub mod web;
