//! The paper's convolutional autoencoder (PROTOCOL.md "ConvAE"), also used as the denoiser.

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

use crate::kernels;

use super::Autoencoder;

/// Side of the encoder's last feature map (28 → 14 → 7 → 3).
const LAST_SIDE: usize = 3;

/// ConvAE hyperparameters; the defaults are the paper's best configuration with a 2-D code.
#[derive(Config, Debug, PartialEq)]
pub struct ConvAeConfig {
    /// Channels of the first convolution.
    #[config(default = 8)]
    pub c1: usize,
    /// Channels of the second convolution.
    #[config(default = 16)]
    pub c2: usize,
    /// Channels of the third convolution.
    #[config(default = 64)]
    pub c3: usize,
    /// Width of the hidden linear layer.
    #[config(default = 64)]
    pub fc: usize,
    /// Dropout rate before the first linear layer.
    #[config(default = 0.1)]
    pub dropout: f64,
    /// Size of the code (the latent space).
    #[config(default = 2)]
    pub code: usize,
}

fn conv(channels: [usize; 2], padding: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new(channels, [3, 3])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
        .init(device)
}

fn deconv(
    channels: [usize; 2],
    padding: usize,
    padding_out: usize,
    device: &Device,
) -> ConvTranspose2d {
    ConvTranspose2dConfig::new(channels, [3, 3])
        .with_stride([2, 2])
        .with_padding([padding, padding])
        .with_padding_out([padding_out, padding_out])
        .init(device)
}

impl ConvAeConfig {
    pub fn init_encoder(&self, device: &Device) -> Encoder {
        Encoder {
            conv1: conv([1, self.c1], 1, device),
            conv2: conv([self.c1, self.c2], 1, device),
            conv3: conv([self.c2, self.c3], 0, device),
            dropout: DropoutConfig::new(self.dropout).init(),
            fc1: LinearConfig::new(self.c3 * LAST_SIDE * LAST_SIDE, self.fc).init(device),
            fc2: LinearConfig::new(self.fc, self.code).init(device),
        }
    }

    pub fn init_decoder(&self, device: &Device) -> Decoder {
        Decoder {
            fc1: LinearConfig::new(self.code, self.fc).init(device),
            fc2: LinearConfig::new(self.fc, self.c3 * LAST_SIDE * LAST_SIDE).init(device),
            deconv1: deconv([self.c3, self.c2], 0, 0, device),
            deconv2: deconv([self.c2, self.c1], 1, 1, device),
            deconv3: deconv([self.c1, 1], 1, 1, device),
            c3: self.c3,
        }
    }

    pub fn init(&self, device: &Device) -> ConvAe {
        ConvAe {
            encoder: self.init_encoder(device),
            decoder: self.init_decoder(device),
        }
    }
}

/// Three stride-2 convolutions, then two linear layers down to the code.
#[derive(Module, Debug)]
pub struct Encoder {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    dropout: Dropout,
    fc1: Linear,
    fc2: Linear,
}

impl Encoder {
    /// The convolutional part, flattened: `[n, 1, 28, 28]` → `[n, c3·3·3]`.
    pub fn conv_features(&self, images: Tensor<4>) -> Tensor<2> {
        let x = relu(kernels::conv2d(&self.conv1, images));
        let x = relu(kernels::conv2d(&self.conv2, x));
        let x = relu(kernels::conv2d(&self.conv3, x));
        x.flatten(1, 3)
    }

    /// The hidden layer's activations, `[n, fc]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let x = kernels::dropout(&self.dropout, self.conv_features(images));
        relu(self.fc1.forward(x))
    }

    /// The code, `[n, code]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.fc2.forward(self.features(images))
    }

    /// The code computed from the hidden layer's activations.
    pub fn code_from_features(&self, features: Tensor<2>) -> Tensor<2> {
        self.fc2.forward(features)
    }

    /// Freezes the convolutions (transfer learning keeps them as trained).
    pub fn freeze_convolutions(mut self) -> Self {
        self.conv1 = self.conv1.freeze();
        self.conv2 = self.conv2.freeze();
        self.conv3 = self.conv3.freeze();
        self
    }
}

/// The mirror of the encoder: two linear layers, then three transposed convolutions.
#[derive(Module, Debug)]
pub struct Decoder {
    fc1: Linear,
    fc2: Linear,
    deconv1: ConvTranspose2d,
    deconv2: ConvTranspose2d,
    deconv3: ConvTranspose2d,
    c3: usize,
}

impl Decoder {
    /// Pre-sigmoid outputs, `[n, code]` → `[n, 1, 28, 28]`.
    pub fn forward_logits(&self, code: Tensor<2>) -> Tensor<4> {
        let [n, _] = code.dims();
        let x = relu(self.fc1.forward(code));
        let x = relu(self.fc2.forward(x));
        let x = x.reshape([n, self.c3, LAST_SIDE, LAST_SIDE]);
        let x = relu(kernels::conv_transpose2d(&self.deconv1, x));
        let x = relu(kernels::conv_transpose2d(&self.deconv2, x));
        kernels::conv_transpose2d(&self.deconv3, x)
    }

    /// Images with pixels in (0, 1).
    pub fn forward(&self, code: Tensor<2>) -> Tensor<4> {
        sigmoid(self.forward_logits(code))
    }
}

#[derive(Module, Debug)]
pub struct ConvAe {
    pub encoder: Encoder,
    pub decoder: Decoder,
}

impl ConvAe {
    /// Reconstructs images through the code.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        self.decoder.forward(self.encoder.forward(images))
    }

    /// Mean squared error per pixel between the reconstruction of `input` and `target`
    /// (the same images for the plain autoencoder, the clean ones for the denoiser).
    pub fn mse(&self, input: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
        Autoencoder::mse(self, input, target)
    }
}

impl Autoencoder for ConvAe {
    fn reconstruct_logits(&self, images: Tensor<4>) -> Tensor<4> {
        self.decoder.forward_logits(self.encoder.forward(images))
    }
}
