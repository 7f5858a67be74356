//! Digit classifiers built on the ConvAE encoder.
//!
//! - Paper protocol: the trained ConvAE encoder with its convolutions frozen, its two linear
//!   layers trainable, and Linear(2→10) on the 2-D code.
//! - Best variant: the same encoder topology, wider, trained end to end with augmentation, with
//!   the head on the hidden layer's features instead of the 2-D code.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};

use super::conv_ae::{ConvAeConfig, Encoder};

/// Number of classes (digits).
pub const CLASSES: usize = 10;

#[derive(Config, Debug, PartialEq)]
pub struct ClassifierConfig {
    /// The encoder's architecture.
    pub encoder: ConvAeConfig,
    /// Put the head on the hidden layer (`fc` features) rather than on the code.
    #[config(default = false)]
    pub from_features: bool,
}

impl ClassifierConfig {
    /// The paper's classifier over an encoder of this architecture.
    pub fn paper(encoder: ConvAeConfig) -> Self {
        Self {
            encoder,
            from_features: false,
        }
    }

    /// The best variant's default architecture: wider convolutions, head on the features.
    pub fn best() -> Self {
        Self {
            encoder: ConvAeConfig::new()
                .with_c1(32)
                .with_c2(64)
                .with_c3(64)
                .with_fc(128)
                .with_dropout(0.3),
            from_features: true,
        }
    }

    fn head_inputs(&self) -> usize {
        if self.from_features {
            self.encoder.fc
        } else {
            self.encoder.code
        }
    }

    /// A freshly initialised classifier.
    pub fn init(&self, device: &Device) -> Classifier {
        self.with_encoder(self.encoder.init_encoder(device), device)
    }

    /// A classifier over an existing (e.g. trained) encoder, with a new head.
    pub fn with_encoder(&self, encoder: Encoder, device: &Device) -> Classifier {
        Classifier {
            encoder,
            head: LinearConfig::new(self.head_inputs(), CLASSES).init(device),
            from_features: self.from_features,
        }
    }
}

#[derive(Module, Debug)]
pub struct Classifier {
    pub encoder: Encoder,
    head: Linear,
    from_features: bool,
}

impl Classifier {
    /// Class scores before softmax, `[n, 10]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let features = self.encoder.features(images);
        let x = if self.from_features {
            features
        } else {
            self.encoder.code_from_features(features)
        };
        self.head.forward(x)
    }

    /// Class probabilities, `[n, 10]`.
    pub fn probabilities(&self, images: Tensor<4>) -> Tensor<2> {
        softmax(self.forward(images), 1)
    }

    /// Mean cross-entropy against integer labels.
    pub fn cross_entropy(&self, images: Tensor<4>, labels: Tensor<1, Int>) -> Tensor<1> {
        let logits = self.forward(images);
        Self::labelled_loss(logits, labels)
    }

    fn labelled_loss(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
        burn::nn::loss::CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits, labels)
    }

    /// Outlier exposure (Hendrycks et al., 2019): the cross-entropy of the digits plus `weight`
    /// times the cross-entropy of the non-digit `outliers` to the uniform distribution, so that
    /// what is not a digit gets no confident class. One forward pass over both.
    pub fn outlier_exposure_loss(
        &self,
        digits: Tensor<4>,
        labels: Tensor<1, Int>,
        outliers: Tensor<4>,
        weight: f32,
    ) -> Tensor<1> {
        let n = digits.dims()[0];
        let m = outliers.dims()[0];
        let logits = self.forward(Tensor::cat(vec![digits, outliers], 0));
        let labelled = Self::labelled_loss(logits.clone().slice(0..n), labels);
        let to_uniform = log_softmax(logits.slice(n..n + m), 1)
            .mean_dim(1)
            .neg()
            .mean();
        labelled + to_uniform.mul_scalar(weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(n: usize, seed: u64, device: &Device) -> Tensor<4> {
        let values: Vec<f32> = (0..n * 784)
            .map(|i| ((i as u64 * 2654435761 + seed) % 1000) as f32 / 1000.0)
            .collect();
        Tensor::from_data(TensorData::new(values, [n, 1, 28, 28]), device)
    }

    #[test]
    fn outlier_exposure_adds_the_outliers_cross_entropy_to_the_uniform() {
        let device = Device::flex();
        let model = ClassifierConfig::best().init(&device);
        let (digits, outliers) = (images(3, 1, &device), images(2, 7, &device));
        let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 4, 9], [3]), &device);
        let scalar = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap()[0];
        let plain = scalar(model.cross_entropy(digits.clone(), labels.clone()));
        let none =
            model.outlier_exposure_loss(digits.clone(), labels.clone(), outliers.clone(), 0.0);
        assert!((scalar(none) - plain).abs() < 1e-5);
        let probabilities = model
            .probabilities(outliers.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let to_uniform: f32 = probabilities
            .chunks_exact(CLASSES)
            .map(|p| -p.iter().map(|v| v.ln()).sum::<f32>() / CLASSES as f32)
            .sum::<f32>()
            / 2.0;
        assert!(to_uniform >= 10f32.ln() - 1e-4, "{to_uniform}");
        let weighted = scalar(model.outlier_exposure_loss(digits, labels, outliers, 0.5));
        assert!(
            (weighted - plain - 0.5 * to_uniform).abs() < 1e-4,
            "{weighted} {plain} {to_uniform}"
        );
    }
}
