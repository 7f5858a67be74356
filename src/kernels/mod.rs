//! Faster 2-D convolutions and transposed convolutions for burn's CPU backend (Flex), with their
//! own backward pass, plugged in through burn's backend-extension API (issue 21).
//!
//! Each op is im2col (or its adjoint col2im) plus a matrix product (the `gemm` crate burn's
//! CPU backend uses), in forward and backward alike, a few images at a time so that the column
//! matrix stays in cache (`conv.rs`):
//!
//! | op | forward | input gradient | weight gradient |
//! |---|---|---|---|
//! | conv | `W·im2col(x)` | `col2im(Wᵀ·dY)` | `dY·im2col(x)ᵀ` |
//! | transposed conv | `col2im(Wᵀ·X)` | `W·im2col(dY)` | `X·im2col(dY)ᵀ` |
//!
//! burn's reference ops compute the weight gradient as a convolution of the swapped input with
//! the swapped output gradient as kernel, which is what made the ConvAE's backward pass slow
//! (docs/PROFILE.md). Models call [`conv2d`] and [`conv_transpose2d`] (and [`dropout`]) with
//! their burn layers: on a Flex device with an f32 layer of the supported kind (one group,
//! dilation 1, symmetric explicit padding, a bias) the kernels run, otherwise the layer's own
//! `forward`. So the model definitions stay one burn code path for native, wasm and the GPU
//! backends. `DIGIT_LAB_KERNELS=burn` in the environment switches them off (native), for
//! side-by-side comparisons with burn's reference ops.
//!
//! Tests (`check.rs`, run natively by `tests.rs` and in headless Chromium by
//! `tests/web_kernels.rs`): values and all three gradients against burn's reference ops on the
//! models' shapes and on random shapes. The unit tests of `matmul.rs`, `im2col.rs` and
//! `conv.rs` check the kernels against their definitions (`direct.rs`) on small shapes, and
//! run under Miri as well (`scripts/miri`), which checks the `unsafe` matrix product's reads
//! and writes.

#[cfg(feature = "train")]
#[doc(hidden)]
pub mod check;
pub mod conv;
#[cfg(test)]
mod direct;
pub mod im2col;
pub mod loss;
pub mod matmul;
#[cfg(test)]
mod tests;

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, DispatchDevice, Flex, backend_extension};
use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::{DType, Shape};

use conv::Shapes;
use im2col::Geometry;

/// Which op and its geometry (plain integers; the kernels run in CPU memory only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvOp {
    /// A transposed convolution (`weight` `[c_in, c_out, kh, kw]`) rather than a convolution
    /// (`weight` `[c_out, c_in, kh, kw]`).
    pub transpose: bool,
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    /// Extra output rows/columns of a transposed convolution (0 for a convolution).
    pub padding_out: [usize; 2],
}

impl ConvOp {
    /// The convolution geometry over `channels` planes of `side` with a `kernel`.
    fn geometry(
        &self,
        channels: usize,
        [height, width]: [usize; 2],
        kernel: [usize; 2],
    ) -> Geometry {
        Geometry {
            channels,
            height,
            width,
            kernel,
            stride: self.stride,
            padding: self.padding,
        }
    }
}

/// The extension: one op, a convolution or a transposed convolution with a bias (`[c_out]`).
#[cfg_attr(feature = "train", backend_extension(Flex, Autodiff))]
#[cfg_attr(not(feature = "train"), backend_extension(Flex))]
pub trait ConvKernels: Backend {
    /// `x` `[n, c_in, h, w]` → `[n, c_out, oh, ow]`, where a transposed convolution has
    /// `oh = (h − 1)·stride − 2·padding + kh + padding_out`.
    fn im2col_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        op: ConvOp,
    ) -> FloatTensor<Self>;
}

// ---- Flex: the kernels ------------------------------------------------------------------------

fn f32_data(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().unwrap().to_vec()),
    }
}

fn flex(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

fn dims4(t: &FlexTensor) -> [usize; 4] {
    let s = t.layout().shape();
    [s[0], s[1], s[2], s[3]]
}

/// What the forward passes keep for the backward ones: the input (each chunk's column matrix
/// is rebuilt from it, see `conv.rs`) and the weight.
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "train"), allow(dead_code))] // no backward without `train`
pub struct ConvSaved {
    x: FlexTensor,
    weight: FlexTensor,
    shapes: Shapes,
    transpose: bool,
}

/// The shapes of `op` on `x` with `weight`; also the output's dims.
fn shapes(x: &FlexTensor, weight: &FlexTensor, op: ConvOp) -> (Shapes, [usize; 4]) {
    let [n, c_in, h, w] = dims4(x);
    let [w0, w1, kh, kw] = dims4(weight);
    if !op.transpose {
        assert_eq!(c_in, w1, "conv2d: input channels");
        let g = op.geometry(c_in, [h, w], [kh, kw]);
        let [oh, ow] = g
            .output()
            .expect("conv2d: kernel larger than the padded input");
        let shapes = Shapes { g, n, other: w0 };
        return (shapes, [n, w0, oh, ow]);
    }
    let ConvOp {
        stride,
        padding,
        padding_out,
        ..
    } = op;
    assert_eq!(c_in, w0, "conv_transpose2d: input channels");
    let side = |i: usize, axis: usize| {
        ((i - 1) * stride[axis] + [kh, kw][axis] + padding_out[axis])
            .checked_sub(2 * padding[axis])
            .expect("conv_transpose2d: padding larger than the output")
    };
    let (oh, ow) = (side(h, 0), side(w, 1));
    // The conv on the output side whose adjoint this op is.
    let g = op.geometry(w1, [oh, ow], [kh, kw]);
    assert_eq!(g.output(), Some([h, w]), "conv_transpose2d: geometry");
    let shapes = Shapes { g, n, other: c_in };
    (shapes, [n, w1, oh, ow])
}

/// Either forward pass, by `op.transpose`; also what the backward pass needs.
fn forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    op: ConvOp,
) -> (FlexTensor, ConvSaved) {
    let (shapes, out_dims) = shapes(x, weight, op);
    let mut out = vec![0.0; out_dims.iter().product()];
    let (xs, ws, bs) = (f32_data(x), f32_data(weight), f32_data(bias));
    if op.transpose {
        conv::conv_transpose_forward(&shapes, &xs, &ws, &bs, &mut out);
    } else {
        conv::conv_forward(&shapes, &xs, &ws, &bs, &mut out);
    }
    let saved = ConvSaved {
        x: x.clone(),
        weight: weight.clone(),
        shapes,
        transpose: op.transpose,
    };
    (flex(out, out_dims), saved)
}

/// The backward pass: the gradients of (x if wanted, weight, bias).
#[cfg(feature = "train")]
fn backward(
    s: &ConvSaved,
    grad: &FlexTensor,
    want_x: bool,
) -> (Option<FlexTensor>, FlexTensor, FlexTensor) {
    let x_dims = dims4(&s.x);
    let mut dx = want_x.then(|| vec![0.0; x_dims.iter().product()]);
    let (x, weight, grad) = (f32_data(&s.x), f32_data(&s.weight), f32_data(grad));
    let pass = if s.transpose {
        conv::conv_transpose_backward
    } else {
        conv::conv_backward
    };
    let grads = pass(&s.shapes, &x, &weight, &grad, dx.as_deref_mut());
    let w_shape = s.weight.layout().shape().clone();
    let bias_len = grads.bias.len();
    (
        dx.map(|dx| flex(dx, x_dims)),
        flex(grads.weight, w_shape),
        flex(grads.bias, [bias_len]),
    )
}

impl ConvKernels for Flex {
    fn im2col_conv(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, op: ConvOp) -> FlexTensor {
        forward(&x, &weight, &bias, op).0
    }
}

// ---- Autodiff<Flex>: the backward passes ------------------------------------------------------

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
    struct ConvBackward;

    impl Backward<Flex, 3> for ConvBackward {
        type State = ConvSaved;

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node_x, node_w, node_b] = ops.parents;
            let grad = grads.consume::<Flex>(&ops.node);
            let (dx, dw, db) = backward(&ops.state, &grad, node_x.is_some());
            if let (Some(node), Some(dx)) = (node_x, dx) {
                grads.register::<Flex>(node.id, dx);
            }
            if let Some(node) = node_w {
                grads.register::<Flex>(node.id, dw);
            }
            if let Some(node) = node_b {
                grads.register::<Flex>(node.id, db);
            }
        }
    }

    impl<C: CheckpointStrategy> ConvKernels for Autodiff<Flex, C> {
        /// Runs the forward pass on the inner tensors and records the backward step when any
        /// input is tracked.
        fn im2col_conv(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: FloatTensor<Self>,
            op: ConvOp,
        ) -> FloatTensor<Self> {
            let nodes = [x.node(), weight.node(), bias.node()];
            let (x, weight, bias) = (Self::inner(x), Self::inner(weight), Self::inner(bias));
            match ConvBackward.prepare::<C>(nodes).compute_bound().stateful() {
                OpsKind::Tracked(prep) => {
                    let (out, saved) = forward(&x, &weight, &bias, op);
                    prep.finish(saved, out)
                }
                OpsKind::UnTracked(prep) => prep.finish(forward(&x, &weight, &bias, op).0),
            }
        }
    }
}

// ---- The tensor API the models call -----------------------------------------------------------

/// Whether the kernels are switched on: always, unless the environment variable
/// `DIGIT_LAB_KERNELS` is `burn` (burn's reference ops everywhere, for comparisons).
pub fn enabled() -> bool {
    #[cfg(not(target_arch = "wasm32"))]
    {
        static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *ENABLED.get_or_init(|| std::env::var("DIGIT_LAB_KERNELS").as_deref() != Ok("burn"))
    }
    #[cfg(target_arch = "wasm32")]
    {
        true
    }
}

/// Whether the kernels run on this tensor: f32 on a Flex device, with or without autodiff.
pub fn supported<const D: usize>(x: &Tensor<D>) -> bool {
    let device = x.device().without_autodiff();
    let yes = enabled()
        && matches!(device.as_dispatch(), DispatchDevice::Flex(_))
        && x.dtype() == DType::F32;
    if yes {
        keep_freed_memory();
    }
    yes
}

/// Tells glibc's allocator (once per process) to keep freed memory for reuse: no trimming of
/// the heap and no `mmap` for buffers under 256 MiB. A training step allocates and frees the
/// same few-MB buffers (im2col matrices, activations, gradients) every time; by default glibc
/// returns them to the system and takes them back, and the page faults and zeroing of fresh
/// pages took ~20 % of the ConvAE step on one thread (docs/PROFILE.md). The cost: the process
/// keeps its peak heap. Only on Linux with glibc; elsewhere nothing to do.
pub fn keep_freed_memory() {
    // (Not under Miri, which cannot call into C: there, nothing to do.)
    #[cfg(all(target_os = "linux", target_env = "gnu", not(miri)))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            unsafe extern "C" {
                fn mallopt(param: i32, value: i32) -> i32;
            }
            const M_TRIM_THRESHOLD: i32 = -1;
            const M_MMAP_THRESHOLD: i32 = -3;
            // SAFETY: the declaration above is glibc's `int mallopt(int param, int value)`
            // (malloc.h), and the parameters are glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD
            // with in-range values; mallopt takes no pointers and only changes the allocator's
            // tuning, which glibc allows at any time (it takes the arena lock itself).
            unsafe {
                mallopt(M_MMAP_THRESHOLD, 256 << 20);
                mallopt(M_TRIM_THRESHOLD, 1 << 30);
            }
        });
    }
}

/// A convolution or transposed convolution (`op`) on raw tensors; see the module docs.
pub fn im2col_conv(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, op: ConvOp) -> Tensor<4> {
    let out = <burn::backend::Dispatch as ConvKernels>::im2col_conv(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        op,
    );
    Tensor::from_dispatch(out)
}

/// The kernels on a layer's parameters, when they apply: an f32 tensor on a Flex device, one
/// group, dilation 1, a bias and a geometry the kernels take (`op`); otherwise `None`.
fn through_kernels(
    x: &Tensor<4>,
    weight: &Param<Tensor<4>>,
    bias: Option<&Param<Tensor<1>>>,
    groups: usize,
    dilation: [usize; 2],
    op: Option<ConvOp>,
) -> Option<Tensor<4>> {
    let (op, bias) = (op?, bias?);
    let weight = weight.val();
    (supported(x) && groups == 1 && dilation == [1, 1] && weight.dtype() == DType::F32)
        .then(|| im2col_conv(x.clone(), weight, bias.val(), op))
}

/// `layer.forward(x)`, through the kernels where they apply.
pub fn conv2d(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let padding = match layer.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            Some([top, left])
        }
        PaddingConfig2d::Valid => Some([0, 0]),
        _ => None,
    };
    let op = padding.map(|padding| ConvOp {
        transpose: false,
        stride: layer.stride,
        padding,
        padding_out: [0, 0],
    });
    let bias = layer.bias.as_ref();
    through_kernels(&x, &layer.weight, bias, layer.groups, layer.dilation, op)
        .unwrap_or_else(|| layer.forward(x))
}

/// `layer.forward(x)`, through the kernels where they apply.
pub fn conv_transpose2d(layer: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let op = ConvOp {
        transpose: true,
        stride: layer.stride,
        padding: layer.padding,
        padding_out: layer.padding_out,
    };
    let bias = layer.bias.as_ref();
    through_kernels(
        &x,
        &layer.weight,
        bias,
        layer.groups,
        layer.dilation,
        Some(op),
    )
    .unwrap_or_else(|| layer.forward(x))
}

/// SplitMix64 (Steele, Lea & Flood 2014): the next state and its output.
fn splitmix64(state: u64) -> (u64, u64) {
    let state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (state, z ^ (z >> 31))
}

thread_local! {
    /// A dropout stream set by [`with_dropout_stream`] for the code running on this thread.
    static DROPOUT_STREAM: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with [`dropout`] seeding its masks from a stream started at `seed` instead of the
/// device's generator, which the parts of a data-parallel step would otherwise draw from in
/// whatever order their threads reach it. Nested calls (a thread that runs another part while
/// it waits) see their own stream and restore the outer one.
pub fn with_dropout_stream<T>(seed: u64, f: impl FnOnce() -> T) -> T {
    let outer = DROPOUT_STREAM.replace(Some(seed));
    let out = f();
    DROPOUT_STREAM.set(outer);
    out
}

/// `layer.forward(x)` (inverted dropout) with the mask drawn by a fast generator: one 64-bit
/// seed per call from the device's generator or the thread's [`with_dropout_stream`] (so runs
/// stay deterministic for a given seed),
/// then SplitMix64, 32 bits per element. burn's own dropout draws every element through the
/// device's ChaCha generator, which cost more than the ConvAE's third convolution
/// (docs/PROFILE.md). Where the kernels do not run (see [`conv2d`]), the layer's own forward.
pub fn dropout<const D: usize>(layer: &burn::nn::Dropout, x: Tensor<D>) -> Tensor<D> {
    if !supported(&x) {
        return layer.forward(x);
    }
    let device = x.device();
    if !layer.training.is_enabled() || !device.is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    let keep = 1.0 - layer.prob;
    let mut state = match DROPOUT_STREAM.get() {
        Some(stream) => {
            DROPOUT_STREAM.set(Some(splitmix64(stream).0));
            splitmix64(stream).1
        }
        None => {
            let seed: Vec<i64> = Tensor::<1, Int>::random(
                [2],
                burn::tensor::Distribution::Uniform(0.0, 2f64.powi(30)),
                &device.clone().without_autodiff(),
            )
            .into_data()
            .convert::<i64>()
            .try_into_vec()
            .expect("i64 seed");
            ((seed[0] as u64) << 30) ^ (seed[1] as u64)
        }
    };
    let threshold = (keep * 4_294_967_296.0) as u64;
    let scale = (1.0 / keep) as f32;
    let shape = x.shape();
    let count = shape.num_elements();
    let mut mask = Vec::with_capacity(count);
    let value = |bits: u64| if bits < threshold { scale } else { 0.0 };
    while mask.len() < count {
        let z;
        (state, z) = splitmix64(state);
        mask.push(value(z & 0xFFFF_FFFF));
        if mask.len() < count {
            mask.push(value(z >> 32));
        }
    }
    x * Tensor::<D>::from_data(TensorData::new(mask, shape), &device)
}
