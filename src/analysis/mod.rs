//! Latent-space analysis (native): PCA, t-SNE, k-NN accuracy and the latent-map exporter.

pub mod knn;
pub mod maps;
pub mod pca;
