//! The variational autoencoder with a Bernoulli decoder (PROTOCOL.md "VAE").

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

const C1: usize = 32;
const C2: usize = 64;
const SIDE: usize = 7;
const FLAT: usize = C2 * SIDE * SIDE;

#[derive(Config, Debug, PartialEq)]
pub struct VaeConfig {
    /// Size of the latent space.
    #[config(default = 2)]
    pub latent: usize,
}

impl VaeConfig {
    pub fn init(&self, device: &Device) -> Vae {
        let conv = |c: [usize; 2]| {
            Conv2dConfig::new(c, [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let deconv = |c: [usize; 2]| {
            ConvTranspose2dConfig::new(c, [4, 4])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .init(device)
        };
        Vae {
            conv1: conv([1, C1]),
            conv2: conv([C1, C2]),
            mu: LinearConfig::new(FLAT, self.latent).init(device),
            logvar: LinearConfig::new(FLAT, self.latent).init(device),
            dec_fc: LinearConfig::new(self.latent, FLAT).init(device),
            deconv1: deconv([C2, C1]),
            deconv2: deconv([C1, 1]),
        }
    }
}

#[derive(Module, Debug)]
pub struct Vae {
    conv1: Conv2d,
    conv2: Conv2d,
    mu: Linear,
    logvar: Linear,
    dec_fc: Linear,
    deconv1: ConvTranspose2d,
    deconv2: ConvTranspose2d,
}

/// The per-image terms of the negative ELBO, averaged over the batch.
pub struct VaeLoss {
    /// Σ_pixels BCE(x̂, x), nats per image.
    pub recon: Tensor<1>,
    /// KL(q(z|x) ‖ N(0, I)), nats per image.
    pub kl: Tensor<1>,
}

impl VaeLoss {
    pub fn neg_elbo(&self) -> Tensor<1> {
        self.recon.clone() + self.kl.clone()
    }
}

impl Vae {
    /// Parameters of q(z|x): (μ, log σ²), each `[n, latent]`.
    pub fn encode(&self, images: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let x = relu(self.conv1.forward(images));
        let x = relu(self.conv2.forward(x)).flatten(1, 3);
        (self.mu.forward(x.clone()), self.logvar.forward(x))
    }

    /// Bernoulli logits of p(x|z), `[n, 1, 28, 28]`.
    pub fn decode_logits(&self, z: Tensor<2>) -> Tensor<4> {
        let [n, _] = z.dims();
        let x = relu(self.dec_fc.forward(z)).reshape([n, C2, SIDE, SIDE]);
        let x = relu(self.deconv1.forward(x));
        self.deconv2.forward(x)
    }

    /// Bernoulli means (pixel intensities in (0, 1)).
    pub fn decode(&self, z: Tensor<2>) -> Tensor<4> {
        sigmoid(self.decode_logits(z))
    }

    /// The negative ELBO's parts with one reparameterised sample z = μ + σ·ε per image.
    /// `eps` is `[n, latent]` standard normal noise, passed in so runs are reproducible.
    pub fn loss(&self, images: Tensor<4>, eps: Tensor<2>) -> VaeLoss {
        self.loss_from_input(images.clone(), images, eps)
    }

    /// [`Vae::loss`] with the encoder reading `encoder_input` (e.g. a noisy copy of `images`,
    /// which regularises the encoder) while the decoder still reconstructs `images`.
    pub fn loss_from_input(
        &self,
        encoder_input: Tensor<4>,
        images: Tensor<4>,
        eps: Tensor<2>,
    ) -> VaeLoss {
        let (mu, logvar) = self.encode(encoder_input);
        let z = mu.clone() + (logvar.clone() * 0.5).exp() * eps;
        let logits = self.decode_logits(z);
        let [n, ..] = logits.dims();
        // Binary cross-entropy on logits, in the stable form max(l,0) − l·x + log(1 + e^−|l|).
        let bce = relu(logits.clone()) - logits.clone() * images + logits.abs().neg().exp().log1p();
        let recon = bce.reshape([n as i32, -1]).sum_dim(1).mean();
        let kl = (logvar.clone() + 1.0 - mu.square() - logvar.exp())
            .sum_dim(1)
            .mean()
            * -0.5;
        VaeLoss { recon, kl }
    }
}
