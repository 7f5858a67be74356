//! The variational autoencoder with a Bernoulli decoder (PROTOCOL.md "VAE").

use burn::module::ParamGroup;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

use crate::kernels::loss::SigmoidLoss;

use crate::kernels;

/// Channels of the encoder's convolutions.
pub(crate) const C1: usize = 32;
pub(crate) const C2: usize = 64;
const SIDE: usize = 7;
/// Values of the flattened encoder output.
pub(crate) const FLAT: usize = C2 * SIDE * SIDE;

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
    pub(crate) conv1: Conv2d,
    pub(crate) conv2: Conv2d,
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
    /// The encoder's parameters (convolutions, μ and log σ² layers), e.g. for an optimiser
    /// group of their own.
    pub fn encoder_params(&self) -> ParamGroup {
        let mut ids = ParamGroup::ids_from_module(self.conv1.clone());
        for part in [
            ParamGroup::ids_from_module(self.conv2.clone()),
            ParamGroup::ids_from_module(self.mu.clone()),
            ParamGroup::ids_from_module(self.logvar.clone()),
        ] {
            ids = ids.fuse(&part);
        }
        ids
    }

    /// Parameters of q(z|x): (μ, log σ²), each `[n, latent]`.
    /// The code's width.
    pub fn latent(&self) -> usize {
        self.mu.weight.dims()[1]
    }

    pub fn encode(&self, images: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let x = relu(kernels::conv2d(&self.conv1, images));
        let x = relu(kernels::conv2d(&self.conv2, x)).flatten(1, 3);
        (self.mu.forward(x.clone()), self.logvar.forward(x))
    }

    /// Each ReLU unit's largest activation on each image, by layer, `[n, units]`: the encoder's
    /// two convolutions and the decoder's first transposed convolution per channel, the
    /// decoder's linear layer per unit (decoding z = μ). A unit that stays at 0 on every image
    /// is dead: it passes no gradient, so weight decay alone moves its weights.
    pub fn relu_peaks(&self, images: Tensor<4>) -> [(&'static str, Tensor<2>); 4] {
        let per_channel = |x: Tensor<4>| x.flatten::<3>(2, 3).max_dim(2).squeeze_dim::<2>(2);
        let [n, ..] = images.dims();
        let conv1 = relu(kernels::conv2d(&self.conv1, images));
        let conv2 = relu(kernels::conv2d(&self.conv2, conv1.clone()));
        let mu = self.mu.forward(conv2.clone().flatten(1, 3));
        let dec_fc = relu(self.dec_fc.forward(mu));
        let deconv1 = relu(kernels::conv_transpose2d(
            &self.deconv1,
            dec_fc.clone().reshape([n, C2, SIDE, SIDE]),
        ));
        [
            ("encoder conv1", per_channel(conv1)),
            ("encoder conv2", per_channel(conv2)),
            ("decoder linear", dec_fc),
            ("decoder deconv1", per_channel(deconv1)),
        ]
    }

    /// Bernoulli logits of p(x|z), `[n, 1, 28, 28]`.
    pub fn decode_logits(&self, z: Tensor<2>) -> Tensor<4> {
        let [n, _] = z.dims();
        let x = relu(self.dec_fc.forward(z)).reshape([n, C2, SIDE, SIDE]);
        let x = relu(kernels::conv_transpose2d(&self.deconv1, x));
        kernels::conv_transpose2d(&self.deconv2, x)
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
        let (recon, kl) = self.terms(encoder_input, images, Some(eps));
        VaeLoss {
            recon: recon.mean(),
            kl: kl.mean(),
        }
    }

    /// The negative ELBO of each image, in nats, with z = μ (no sampling, so the same image
    /// always scores the same): how far an image is from what the VAE learnt to be a digit.
    pub fn neg_elbo_at_mean(&self, images: Tensor<4>) -> Tensor<1> {
        let (recon, kl) = self.terms(images.clone(), images, None);
        recon + kl
    }

    /// Per-image reconstruction BCE and KL, `[n]` each; z = μ + σ·ε, or μ without `eps`.
    fn terms(
        &self,
        encoder_input: Tensor<4>,
        images: Tensor<4>,
        eps: Option<Tensor<2>>,
    ) -> (Tensor<1>, Tensor<1>) {
        let (mu, logvar) = self.encode(encoder_input);
        let z = match eps {
            Some(eps) => mu.clone() + (logvar.clone() * 0.5).exp() * eps,
            None => mu.clone(),
        };
        let logits = self.decode_logits(z);
        let [n, ..] = logits.dims();
        let bce = SigmoidLoss::BinaryCrossEntropy;
        let recon = kernels::loss::sigmoid_loss_sums(logits, images, bce);
        let kl = (logvar.clone() + 1.0 - mu.square() - logvar.exp())
            .sum_dim(1)
            .reshape([n])
            * -0.5;
        (recon, kl)
    }
}
