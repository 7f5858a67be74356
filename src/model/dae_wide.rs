//! The stronger denoiser (not a paper model): the DAE's convolutional encoder and decoder with a
//! wide spatial code — `code_channels` feature maps of 7×7 instead of a 2-D vector — so detail
//! survives the bottleneck. With the defaults the code holds 8·7·7 = 392 values (the paper's DAE: 2).

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

use crate::kernels;

use super::Autoencoder;

#[derive(Config, Debug, PartialEq)]
pub struct DaeWideConfig {
    /// Channels of the first convolution (28 → 14).
    #[config(default = 32)]
    pub c1: usize,
    /// Feature maps of the 7×7 code (the second convolution, 14 → 7).
    #[config(default = 8)]
    pub code_channels: usize,
}

/// The ConvAE's first two convolutions and last two transposed convolutions, without the
/// linear bottleneck between them.
#[derive(Module, Debug)]
pub struct DaeWide {
    conv1: Conv2d,
    to_code: Conv2d,
    deconv1: ConvTranspose2d,
    to_image: ConvTranspose2d,
}

fn conv(channels: [usize; 2], device: &Device) -> Conv2d {
    Conv2dConfig::new(channels, [3, 3])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

fn upsample(channels: [usize; 2], device: &Device) -> ConvTranspose2d {
    ConvTranspose2dConfig::new(channels, [3, 3])
        .with_stride([2, 2])
        .with_padding([1, 1])
        .with_padding_out([1, 1])
        .init(device)
}

impl DaeWideConfig {
    pub fn init(&self, device: &Device) -> DaeWide {
        DaeWide {
            conv1: conv([1, self.c1], device),
            to_code: conv([self.c1, self.code_channels], device),
            deconv1: upsample([self.code_channels, self.c1], device),
            to_image: upsample([self.c1, 1], device),
        }
    }

    /// Values in the code of one image.
    pub fn code_size(&self) -> usize {
        self.code_channels * 7 * 7
    }
}

impl DaeWide {
    /// The code, `[n, 1, 28, 28]` → `[n, code_channels, 7, 7]`.
    pub fn encode(&self, images: Tensor<4>) -> Tensor<4> {
        let x = relu(kernels::conv2d(&self.conv1, images));
        relu(kernels::conv2d(&self.to_code, x))
    }

    /// Pre-sigmoid outputs from codes.
    pub fn decode_logits(&self, code: Tensor<4>) -> Tensor<4> {
        let x = relu(kernels::conv_transpose2d(&self.deconv1, code));
        kernels::conv_transpose2d(&self.to_image, x)
    }

    /// Images with pixels in (0, 1) from codes.
    pub fn decode(&self, code: Tensor<4>) -> Tensor<4> {
        sigmoid(self.decode_logits(code))
    }
}

impl Autoencoder for DaeWide {
    fn reconstruct_logits(&self, images: Tensor<4>) -> Tensor<4> {
        self.decode_logits(self.encode(images))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_code_size() {
        let device = Device::flex();
        let config = DaeWideConfig::new();
        let model = config.init(&device);
        let x = Tensor::<4>::zeros([3, 1, 28, 28], &device);
        assert_eq!(model.encode(x.clone()).dims(), [3, 8, 7, 7]);
        assert_eq!(model.reconstruct(x).dims(), [3, 1, 28, 28]);
        assert_eq!(config.code_size(), 392);
    }
}
