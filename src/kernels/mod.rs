//! Faster 2-D convolutions and transposed convolutions for burn's CPU backend (Flex), with their
//! own backward pass, plugged in through burn's backend-extension API (issue 21).
//!
//! Each op is im2col (or its adjoint col2im) plus one matrix product over the whole batch
//! (burn's own GEMM), in forward and backward alike:
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
//! Tests (`tests.rs`): values and all three gradients against burn's reference ops on the
//! models' shapes and on random shapes.

pub mod im2col;
#[cfg(test)]
mod tests;

use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, DispatchDevice, Flex, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::{DType, Shape};

use im2col::Geometry;

/// The extension: both ops take `bias` (`[c_out]`); geometry as plain integers.
#[cfg_attr(feature = "train", backend_extension(Flex, Autodiff))]
#[cfg_attr(not(feature = "train"), backend_extension(Flex))]
pub trait ConvKernels: Backend {
    /// `x` `[n, c_in, h, w]`, `weight` `[c_out, c_in, kh, kw]` → `[n, c_out, oh, ow]`.
    #[allow(clippy::too_many_arguments)]
    fn im2col_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride_h: usize,
        stride_w: usize,
        padding_h: usize,
        padding_w: usize,
    ) -> FloatTensor<Self>;

    /// `x` `[n, c_in, h, w]`, `weight` `[c_in, c_out, kh, kw]` → `[n, c_out, oh, ow]` with
    /// `oh = (h − 1)·stride − 2·padding + kh + padding_out`.
    #[allow(clippy::too_many_arguments)]
    fn im2col_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride_h: usize,
        stride_w: usize,
        padding_h: usize,
        padding_w: usize,
        padding_out_h: usize,
        padding_out_w: usize,
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

/// What the forward passes keep for the backward ones.
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "train"), allow(dead_code))] // no backward without `train`
pub struct ConvSaved {
    /// conv: im2col(x) `[K, n·P]`; transposed conv: x channel-major `[c_in, n·P]`.
    saved: FlexTensor,
    weight: FlexTensor,
    geometry: Geometry,
    batch: usize,
}

/// Conv forward; also returns im2col(x) for the weight gradient.
fn conv_forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    stride: [usize; 2],
    padding: [usize; 2],
) -> (FlexTensor, ConvSaved) {
    let [n, c_in, h, w] = dims4(x);
    let [c_out, c_in_w, kh, kw] = dims4(weight);
    assert_eq!(c_in, c_in_w, "conv2d: input channels");
    let g = Geometry {
        channels: c_in,
        height: h,
        width: w,
        kernel: [kh, kw],
        stride,
        padding,
    };
    let [oh, ow] = g
        .output()
        .expect("conv2d: kernel larger than the padded input");
    let p = oh * ow;
    let mut cols = vec![0.0; g.rows() * n * p];
    im2col::im2col(&f32_data(x), n, &g, &mut cols);
    let cols = flex(cols, [g.rows(), n * p]);
    let w2 = weight.reshape(Shape::from([c_out, g.rows()]));
    let y = Flex::float_matmul(w2, cols.clone()); // [c_out, n·P]
    let mut out = vec![0.0; n * c_out * p];
    im2col::to_batch_major(&f32_data(&y), n, c_out, p, &f32_data(bias), &mut out);
    let saved = ConvSaved {
        saved: cols,
        weight: weight.clone(),
        geometry: g,
        batch: n,
    };
    (flex(out, [n, c_out, oh, ow]), saved)
}

/// Conv backward: (dx if wanted, dW, db).
#[cfg(feature = "train")]
fn conv_backward(
    s: &ConvSaved,
    grad: &FlexTensor,
    want_x: bool,
) -> (Option<FlexTensor>, FlexTensor, FlexTensor) {
    let g = &s.geometry;
    let n = s.batch;
    let [_, c_out, oh, ow] = dims4(grad);
    let p = oh * ow;
    let mut dy = vec![0.0; n * c_out * p];
    im2col::to_channel_major(&f32_data(grad), n, c_out, p, &mut dy);
    let db = im2col::row_sums(&dy, c_out);
    let dy = flex(dy, [c_out, n * p]);
    let w_shape = s.weight.layout().shape().clone();
    let dw = Flex::float_matmul(dy.clone(), s.saved.transpose(0, 1)).reshape(w_shape);
    let dx = want_x.then(|| {
        let w2 = s.weight.reshape(Shape::from([c_out, g.rows()]));
        let dcols = Flex::float_matmul(w2.transpose(0, 1), dy); // [K, n·P]
        let mut dx = vec![0.0; n * g.channels * g.height * g.width];
        im2col::col2im(&f32_data(&dcols), n, g, &mut dx);
        flex(dx, [n, g.channels, g.height, g.width])
    });
    (dx, dw, flex(db, [c_out]))
}

/// Transposed-conv forward; also returns x channel-major for the weight gradient.
fn conv_transpose_forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    stride: [usize; 2],
    padding: [usize; 2],
    padding_out: [usize; 2],
) -> (FlexTensor, ConvSaved) {
    let [n, c_in, h, w] = dims4(x);
    let [c_in_w, c_out, kh, kw] = dims4(weight);
    assert_eq!(c_in, c_in_w, "conv_transpose2d: input channels");
    let side = |i: usize, axis: usize| {
        ((i - 1) * stride[axis] + [kh, kw][axis] + padding_out[axis])
            .checked_sub(2 * padding[axis])
            .expect("conv_transpose2d: padding larger than the output")
    };
    let (oh, ow) = (side(h, 0), side(w, 1));
    // The conv on the output side whose adjoint this op is.
    let g = Geometry {
        channels: c_out,
        height: oh,
        width: ow,
        kernel: [kh, kw],
        stride,
        padding,
    };
    assert_eq!(g.output(), Some([h, w]), "conv_transpose2d: geometry");
    let p = h * w;
    let mut xc = vec![0.0; n * c_in * p];
    im2col::to_channel_major(&f32_data(x), n, c_in, p, &mut xc);
    let xc = flex(xc, [c_in, n * p]);
    let w2 = weight.reshape(Shape::from([c_in, g.rows()]));
    let cols = Flex::float_matmul(w2.transpose(0, 1), xc.clone()); // [K, n·P]
    let mut out = vec![0.0; n * c_out * oh * ow];
    im2col::col2im(&f32_data(&cols), n, &g, &mut out);
    im2col::add_bias(&mut out, c_out, oh * ow, &f32_data(bias));
    let saved = ConvSaved {
        saved: xc,
        weight: weight.clone(),
        geometry: g,
        batch: n,
    };
    (flex(out, [n, c_out, oh, ow]), saved)
}

/// Transposed-conv backward: (dx if wanted, dW, db).
#[cfg(feature = "train")]
fn conv_transpose_backward(
    s: &ConvSaved,
    grad: &FlexTensor,
    want_x: bool,
) -> (Option<FlexTensor>, FlexTensor, FlexTensor) {
    let g = &s.geometry;
    let n = s.batch;
    let [c_in, _, _, _] = dims4(&s.weight);
    let [h, w] = g.output().expect("valid geometry");
    let p = h * w;
    let grad = f32_data(grad);
    let mut cols = vec![0.0; g.rows() * n * p];
    im2col::im2col(&grad, n, g, &mut cols);
    let cols = flex(cols, [g.rows(), n * p]);
    let db: Vec<f32> = {
        let plane = g.height * g.width;
        let mut db = vec![0.0f32; g.channels];
        for (i, chunk) in grad.chunks(plane).enumerate() {
            db[i % g.channels] += chunk.iter().sum::<f32>();
        }
        db
    };
    let w_shape = s.weight.layout().shape().clone();
    let dw = Flex::float_matmul(s.saved.clone(), cols.clone().transpose(0, 1)).reshape(w_shape);
    let dx = want_x.then(|| {
        let w2 = s.weight.reshape(Shape::from([c_in, g.rows()]));
        let dxc = Flex::float_matmul(w2, cols); // [c_in, n·P]
        let mut dx = vec![0.0; n * c_in * p];
        im2col::to_batch_major(&f32_data(&dxc), n, c_in, p, &vec![0.0; c_in], &mut dx);
        flex(dx, [n, c_in, h, w])
    });
    (dx, dw, flex(db, [g.channels]))
}

impl ConvKernels for Flex {
    fn im2col_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride_h: usize,
        stride_w: usize,
        padding_h: usize,
        padding_w: usize,
    ) -> FloatTensor<Self> {
        conv_forward(
            &x,
            &weight,
            &bias,
            [stride_h, stride_w],
            [padding_h, padding_w],
        )
        .0
    }

    fn im2col_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride_h: usize,
        stride_w: usize,
        padding_h: usize,
        padding_w: usize,
        padding_out_h: usize,
        padding_out_w: usize,
    ) -> FloatTensor<Self> {
        conv_transpose_forward(
            &x,
            &weight,
            &bias,
            [stride_h, stride_w],
            [padding_h, padding_w],
            [padding_out_h, padding_out_w],
        )
        .0
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
    struct ConvBackward {
        transpose: bool,
    }

    impl Backward<Flex, 3> for ConvBackward {
        type State = ConvSaved;

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node_x, node_w, node_b] = ops.parents;
            let grad = grads.consume::<Flex>(&ops.node);
            let (dx, dw, db) = if self.transpose {
                conv_transpose_backward(&ops.state, &grad, node_x.is_some())
            } else {
                conv_backward(&ops.state, &grad, node_x.is_some())
            };
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

    type Ad<C> = Autodiff<Flex, C>;

    /// Runs `forward` on the inner tensors and records the backward step when any input is
    /// tracked.
    fn record<C: CheckpointStrategy>(
        transpose: bool,
        x: FloatTensor<Ad<C>>,
        weight: FloatTensor<Ad<C>>,
        bias: FloatTensor<Ad<C>>,
        forward: impl FnOnce(&FlexTensor, &FlexTensor, &FlexTensor) -> (FlexTensor, ConvSaved),
    ) -> FloatTensor<Ad<C>> {
        let nodes = [x.node(), weight.node(), bias.node()];
        let (x, weight, bias) = (
            Ad::<C>::inner(x),
            Ad::<C>::inner(weight),
            Ad::<C>::inner(bias),
        );
        let op = ConvBackward { transpose };
        match op.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (out, saved) = forward(&x, &weight, &bias);
                prep.finish(saved, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(&x, &weight, &bias).0),
        }
    }

    impl<C: CheckpointStrategy> ConvKernels for Autodiff<Flex, C> {
        fn im2col_conv2d(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: FloatTensor<Self>,
            stride_h: usize,
            stride_w: usize,
            padding_h: usize,
            padding_w: usize,
        ) -> FloatTensor<Self> {
            record::<C>(false, x, weight, bias, |x, w, b| {
                conv_forward(x, w, b, [stride_h, stride_w], [padding_h, padding_w])
            })
        }

        fn im2col_conv_transpose2d(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: FloatTensor<Self>,
            stride_h: usize,
            stride_w: usize,
            padding_h: usize,
            padding_w: usize,
            padding_out_h: usize,
            padding_out_w: usize,
        ) -> FloatTensor<Self> {
            record::<C>(true, x, weight, bias, |x, w, b| {
                conv_transpose_forward(
                    x,
                    w,
                    b,
                    [stride_h, stride_w],
                    [padding_h, padding_w],
                    [padding_out_h, padding_out_w],
                )
            })
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
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            unsafe extern "C" {
                fn mallopt(param: i32, value: i32) -> i32;
            }
            const M_TRIM_THRESHOLD: i32 = -1;
            const M_MMAP_THRESHOLD: i32 = -3;
            // SAFETY: mallopt only changes allocator tuning parameters; glibc documents it as
            // safe to call at any time.
            unsafe {
                mallopt(M_MMAP_THRESHOLD, 256 << 20);
                mallopt(M_TRIM_THRESHOLD, 1 << 30);
            }
        });
    }
}

/// `conv2d` on raw tensors (bias required); see the module docs.
pub fn im2col_conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: [usize; 2],
    padding: [usize; 2],
) -> Tensor<4> {
    let out = <burn::backend::Dispatch as ConvKernels>::im2col_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride[0],
        stride[1],
        padding[0],
        padding[1],
    );
    Tensor::from_dispatch(out)
}

/// `conv_transpose2d` on raw tensors (bias required); see the module docs.
pub fn im2col_conv_transpose2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: [usize; 2],
    padding: [usize; 2],
    padding_out: [usize; 2],
) -> Tensor<4> {
    let out = <burn::backend::Dispatch as ConvKernels>::im2col_conv_transpose2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride[0],
        stride[1],
        padding[0],
        padding[1],
        padding_out[0],
        padding_out[1],
    );
    Tensor::from_dispatch(out)
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
    match (padding, &layer.bias) {
        (Some(padding), Some(bias))
            if supported(&x)
                && layer.groups == 1
                && layer.dilation == [1, 1]
                && layer.weight.val().dtype() == DType::F32 =>
        {
            im2col_conv2d(x, layer.weight.val(), bias.val(), layer.stride, padding)
        }
        _ => layer.forward(x),
    }
}

/// `layer.forward(x)`, through the kernels where they apply.
pub fn conv_transpose2d(layer: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    match &layer.bias {
        Some(bias)
            if supported(&x)
                && layer.groups == 1
                && layer.dilation == [1, 1]
                && layer.weight.val().dtype() == DType::F32 =>
        {
            im2col_conv_transpose2d(
                x,
                layer.weight.val(),
                bias.val(),
                layer.stride,
                layer.padding,
                layer.padding_out,
            )
        }
        _ => layer.forward(x),
    }
}

/// `layer.forward(x)` (inverted dropout) with the mask drawn by a fast generator: one 64-bit
/// seed per call from the device's generator (so runs stay deterministic for a given seed),
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
    let seed: Vec<i64> = Tensor::<1, Int>::random(
        [2],
        burn::tensor::Distribution::Uniform(0.0, 2f64.powi(30)),
        &device.clone().without_autodiff(),
    )
    .into_data()
    .convert::<i64>()
    .try_into_vec()
    .expect("i64 seed");
    let mut state = ((seed[0] as u64) << 30) ^ (seed[1] as u64);
    let threshold = (keep * 4_294_967_296.0) as u64;
    let scale = (1.0 / keep) as f32;
    let shape = x.shape();
    let count = shape.num_elements();
    let mut mask = Vec::with_capacity(count);
    let value = |bits: u64| if bits < threshold { scale } else { 0.0 };
    while mask.len() < count {
        // SplitMix64 (Steele, Lea & Flood 2014).
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        mask.push(value(z & 0xFFFF_FFFF));
        if mask.len() < count {
            mask.push(value(z >> 32));
        }
    }
    x * Tensor::<D>::from_data(TensorData::new(mask, shape), &device)
}
