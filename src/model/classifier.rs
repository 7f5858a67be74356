//! Digit classifiers built on the ConvAE encoder.
//!
//! - Paper protocol: the trained ConvAE encoder with its convolutions frozen, its two linear
//!   layers trainable, and Linear(2→10) on the 2-D code.
//! - Best variant: the same encoder topology, wider, trained end to end with augmentation, with
//!   the head on the hidden layer's features instead of the 2-D code.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

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
        burn::nn::loss::CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits, labels)
    }
}
