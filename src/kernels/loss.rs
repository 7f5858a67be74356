//! The models' output losses fused into one pass: the per-image sum, over pixels, of a loss of
//! σ(logit) against a target — the Bernoulli negative log-likelihood (binary cross-entropy on
//! logits, the VAE) or the squared error of the sigmoid's output (the autoencoders' MSE).
//!
//! Written with burn's tensor ops, either is eight element-wise ops forward and as many
//! backward over every pixel of the batch, each a pass through memory with its own buffer;
//! here it is one pass forward and one backward. The reference composition ([`reference`])
//! runs wherever the kernels do not (WebGPU, `DIGIT_LAB_KERNELS=burn`) and in the tests.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

use super::{f32_data, flex, supported};

/// Which loss of σ(logit) against the target `x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigmoidLoss {
    /// −x·log σ(l) − (1 − x)·log(1 − σ(l)), in the stable form max(l, 0) − l·x + log(1 + e^−|l|).
    BinaryCrossEntropy,
    /// (σ(l) − x)².
    SquaredError,
}

/// The extension: `logits` and `targets` `[n, …]` → the per-image sums `[n]`.
#[cfg_attr(feature = "train", backend_extension(Flex, Autodiff))]
#[cfg_attr(not(feature = "train"), backend_extension(Flex))]
pub trait LossKernels: Backend {
    fn sigmoid_loss_sums(
        logits: FloatTensor<Self>,
        targets: FloatTensor<Self>,
        loss: SigmoidLoss,
    ) -> FloatTensor<Self>;
}

/// σ(l) and e^−|l| (shared by the loss and σ, so one exponential per pixel).
fn sigmoid_parts(l: f32) -> (f32, f32) {
    let e = (-l.abs()).exp();
    let s = if l >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    };
    (s, e)
}

/// The loss of one pixel.
fn pixel_loss(loss: SigmoidLoss, l: f32, x: f32) -> f32 {
    let (s, e) = sigmoid_parts(l);
    match loss {
        SigmoidLoss::BinaryCrossEntropy => l.max(0.0) - l * x + e.ln_1p(),
        SigmoidLoss::SquaredError => (s - x) * (s - x),
    }
}

/// The derivatives of one pixel's loss by its logit and by its target.
#[cfg_attr(not(feature = "train"), allow(dead_code))] // no backward without `train`
fn pixel_grads(loss: SigmoidLoss, l: f32, x: f32) -> (f32, f32) {
    let (s, _) = sigmoid_parts(l);
    match loss {
        SigmoidLoss::BinaryCrossEntropy => (s - x, -l),
        SigmoidLoss::SquaredError => (2.0 * (s - x) * s * (1.0 - s), -2.0 * (s - x)),
    }
}

fn rows(t: &FlexTensor) -> usize {
    t.layout().shape()[0]
}

fn forward(logits: &FlexTensor, targets: &FlexTensor, loss: SigmoidLoss) -> FlexTensor {
    let (l, x) = (f32_data(logits), f32_data(targets));
    assert_eq!(
        l.len(),
        x.len(),
        "sigmoid loss: logits and targets differ in size"
    );
    let n = rows(logits);
    let per = l.len() / n.max(1);
    let sums: Vec<f32> = l
        .chunks(per.max(1))
        .zip(x.chunks(per.max(1)))
        .map(|(l, x)| l.iter().zip(x).map(|(&l, &x)| pixel_loss(loss, l, x)).sum())
        .collect();
    flex(sums, [n])
}

impl LossKernels for Flex {
    fn sigmoid_loss_sums(logits: FlexTensor, targets: FlexTensor, loss: SigmoidLoss) -> FlexTensor {
        forward(&logits, &targets, loss)
    }
}

#[cfg(feature = "train")]
mod autodiff {
    use super::*;
    use burn::backend::Autodiff;
    use burn::backend::AutodiffBackend;
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};

    #[derive(Debug)]
    struct LossBackward(SigmoidLoss);

    impl Backward<Flex, 2> for LossBackward {
        /// The logits and the targets.
        type State = (FlexTensor, FlexTensor);

        fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node_l, node_x] = ops.parents;
            let upstream = f32_data(&grads.consume::<Flex>(&ops.node)).into_owned();
            let (logits, targets) = &ops.state;
            let shape = logits.layout().shape().clone();
            let (l, x) = (f32_data(logits), f32_data(targets));
            let per = (l.len() / upstream.len().max(1)).max(1);
            // d/d(logit) always; d/d(target) only when the targets are tracked (rarely).
            let grad = |by_target: bool| {
                let mut out = vec![0.0; l.len()];
                let images = l.chunks(per).zip(x.chunks(per));
                for ((&g, (l, x)), out) in upstream.iter().zip(images).zip(out.chunks_mut(per)) {
                    for ((&l, &x), out) in l.iter().zip(x).zip(out.iter_mut()) {
                        let (by_l, by_x) = pixel_grads(self.0, l, x);
                        *out = g * if by_target { by_x } else { by_l };
                    }
                }
                out
            };
            if let Some(node) = node_x {
                grads.register::<Flex>(node.id, flex(grad(true), shape.clone()));
            }
            if let Some(node) = node_l {
                grads.register::<Flex>(node.id, flex(grad(false), shape));
            }
        }
    }

    impl<C: CheckpointStrategy> LossKernels for Autodiff<Flex, C> {
        fn sigmoid_loss_sums(
            logits: FloatTensor<Self>,
            targets: FloatTensor<Self>,
            loss: SigmoidLoss,
        ) -> FloatTensor<Self> {
            let nodes = [logits.node(), targets.node()];
            let (logits, targets) = (Self::inner(logits), Self::inner(targets));
            match LossBackward(loss)
                .prepare::<C>(nodes)
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let out = forward(&logits, &targets, loss);
                    prep.finish((logits, targets), out)
                }
                OpsKind::UnTracked(prep) => prep.finish(forward(&logits, &targets, loss)),
            }
        }
    }
}

/// The per-image sums `[n]` of `loss` between σ(`logits`) and `targets` (`[n, c, h, w]`),
/// fused where the kernels run.
pub fn sigmoid_loss_sums(logits: Tensor<4>, targets: Tensor<4>, loss: SigmoidLoss) -> Tensor<1> {
    if !supported(&logits) || targets.dtype() != logits.dtype() {
        return reference(logits, targets, loss);
    }
    let out = <burn::backend::Dispatch as LossKernels>::sigmoid_loss_sums(
        logits.into_dispatch(),
        targets.into_dispatch(),
        loss,
    );
    Tensor::from_dispatch(out)
}

/// The same with burn's tensor ops.
pub fn reference(logits: Tensor<4>, targets: Tensor<4>, loss: SigmoidLoss) -> Tensor<1> {
    let [n, ..] = logits.dims();
    let per_pixel = match loss {
        SigmoidLoss::BinaryCrossEntropy => {
            relu(logits.clone()) - logits.clone() * targets + logits.abs().neg().exp().log1p()
        }
        SigmoidLoss::SquaredError => (sigmoid(logits) - targets).square(),
    };
    per_pixel.reshape([n as i32, -1]).sum_dim(1).reshape([n])
}
