//! The kernels against burn's reference ops: values and gradients (input, weight, bias) on the
//! models' shapes and on random ones — kernels of 1 to 4, strides of 1 to 3, padding of 0 to 2,
//! output padding, batch 1, non-square images and channel counts of 1 — each with the whole
//! batch as one chunk, one image per chunk and two (`conv.rs`).
//!
//! Shared by the native unit tests (`tests.rs`) and the browser tests (`tests/web_kernels.rs`,
//! headless Chromium), so the same checks run on both builds of the kernels.

use burn::tensor::Distribution;
use burn::tensor::module::{
    conv_transpose2d as reference_conv_transpose2d, conv2d as reference_conv2d,
};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::*;

/// The checks seed the device's shared generator: one at a time.
pub(crate) static GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Uniform(-1.0, 1.0), device)
}

/// `got` equals `want` within 1e-4 of `want`'s largest magnitude (at least 1); otherwise the
/// first element that does not, named by `what`.
pub fn close<const D: usize>(got: Tensor<D>, want: Tensor<D>, what: &str) -> Result<(), String> {
    let (got, want) = (got.into_data(), want.into_data());
    if got.shape() != want.shape() {
        return Err(format!(
            "{what}: shape {:?} vs {:?}",
            got.shape(),
            want.shape()
        ));
    }
    let g: Vec<f32> = got.try_to_vec().map_err(|e| format!("{what}: {e:?}"))?;
    let w: Vec<f32> = want.try_to_vec().map_err(|e| format!("{what}: {e:?}"))?;
    let scale = w.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    match g
        .iter()
        .zip(&w)
        .position(|(a, b)| (a - b).abs() > 1e-4 * scale || a.is_nan())
    {
        Some(i) => Err(format!(
            "{what}: element {i}: {} vs {} (scale {scale})",
            g[i], w[i]
        )),
        None => Ok(()),
    }
}

/// One case: `transpose` picks the op; weights laid out as burn's.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub n: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub h: usize,
    pub w: usize,
    pub k: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub padding_out: [usize; 2],
    pub transpose: bool,
}

/// The output, input gradient, weight gradient and bias gradient of one run.
type Run = (Tensor<4>, Tensor<4>, Tensor<4>, Tensor<1>);

/// The convolution of `case` on `x` and `weight` (and `bias`), by the kernels (`fast`) or
/// burn's reference ops, and the gradients of a fixed, non-uniform output gradient.
fn forward_backward(
    case: &Case,
    [x, weight]: [&Tensor<4>; 2],
    bias: &Tensor<1>,
    fast: bool,
) -> Run {
    let Case {
        stride,
        padding,
        padding_out,
        transpose,
        ..
    } = *case;
    let x = x.clone().detach().require_grad();
    let weight = weight.clone().detach().require_grad();
    let bias = bias.clone().detach().require_grad();
    let y = match (transpose, fast) {
        (_, true) => {
            let op = ConvOp {
                transpose,
                stride,
                padding,
                padding_out,
            };
            im2col_conv(x.clone(), weight.clone(), bias.clone(), op)
        }
        (false, false) => reference_conv2d(
            x.clone(),
            weight.clone(),
            Some(bias.clone()),
            ConvOptions::new(stride, padding, [1, 1], 1),
        ),
        (true, false) => reference_conv_transpose2d(
            x.clone(),
            weight.clone(),
            Some(bias.clone()),
            ConvTransposeOptions::new(stride, padding, padding_out, [1, 1], 1),
        ),
    };
    let g = Tensor::<4>::from_data(
        TensorData::new(
            (0..y.shape().num_elements())
                .map(|i| ((i * 7919) % 13) as f32 / 6.0 - 1.0)
                .collect::<Vec<f32>>(),
            y.shape(),
        ),
        &y.device(),
    );
    let grads = (y.clone() * g).sum().backward();
    let grad = |t: Option<Tensor<4>>| t.expect("a gradient");
    (
        y.detach(),
        grad(x.grad(&grads)),
        grad(weight.grad(&grads)),
        bias.grad(&grads).expect("a gradient"),
    )
}

/// The case through the kernels against burn's reference op: the output and all three
/// gradients, or the first value that differs.
pub fn check(case: Case) -> Result<(), String> {
    let _lock = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    device.seed(7);
    let Case {
        n,
        c_in,
        c_out,
        h,
        w,
        k,
        transpose,
        ..
    } = case;
    let x = random([n, c_in, h, w], &device);
    let weight = if transpose {
        random([c_in, c_out, k[0], k[1]], &device)
    } else {
        random([c_out, c_in, k[0], k[1]], &device)
    };
    let bias = random([c_out], &device);
    let run = |fast: bool| forward_backward(&case, [&x, &weight], &bias, fast);
    let (y0, dx0, dw0, db0) = run(false);
    // The batch as one chunk, one image per chunk, and two (an odd batch leaves a last chunk of
    // one); off a rayon thread the chunks are also shared out among its threads (native).
    let [_, _, oh, ow] = y0.dims();
    let (rows, positions) = if transpose {
        (c_out * k[0] * k[1], h * w)
    } else {
        (c_in * k[0] * k[1], oh * ow)
    };
    for floats in [conv::CHUNK_FLOATS, 1, 2 * rows * positions] {
        let (y1, dx1, dw1, db1) = conv::with_chunk_floats(floats, || run(true));
        let what = format!("{case:?}, chunks of {floats} floats");
        close(y1, y0.clone(), &format!("{what}: output"))?;
        close(dx1, dx0.clone(), &format!("{what}: input grad"))?;
        close(dw1, dw0.clone(), &format!("{what}: weight grad"))?;
        close(db1, db0.clone(), &format!("{what}: bias grad"))?;
    }
    Ok(())
}

/// The models' own convolutions (batches of 5 and 3): the ConvAE's (and the classifier's
/// wider encoder's geometry), the VAE's.
pub fn model_cases() -> Vec<Case> {
    let conv = |n, c_in, c_out, side, k, stride, padding| Case {
        n,
        c_in,
        c_out,
        h: side,
        w: side,
        k: [k, k],
        stride: [stride, stride],
        padding: [padding, padding],
        padding_out: [0, 0],
        transpose: false,
    };
    let deconv = |n, c_in, c_out, side, k, padding, padding_out| Case {
        padding_out: [padding_out, padding_out],
        transpose: true,
        ..conv(n, c_in, c_out, side, k, 2, padding)
    };
    vec![
        conv(5, 1, 8, 28, 3, 2, 1),
        conv(5, 8, 16, 14, 3, 2, 1),
        conv(5, 16, 64, 7, 3, 2, 0),
        deconv(5, 64, 16, 3, 3, 0, 0),
        deconv(5, 16, 8, 7, 3, 1, 1),
        deconv(5, 8, 1, 14, 3, 1, 1),
        conv(3, 1, 32, 28, 4, 2, 1),
        conv(3, 32, 64, 14, 4, 2, 1),
        deconv(3, 64, 32, 7, 4, 1, 0),
        deconv(3, 32, 1, 14, 4, 1, 0),
    ]
}

/// `count` random draws from `seed`, alternating convolutions and transposed ones, of which
/// those burn's reference ops accept.
pub fn random_cases(seed: u64, count: usize) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .filter_map(|i| {
            let k = [rng.random_range(1..=4), rng.random_range(1..=4)];
            let stride = [rng.random_range(1..=3), rng.random_range(1..=3)];
            let padding = [rng.random_range(0..=2), rng.random_range(0..=2)];
            let (h, w) = (rng.random_range(1..=9), rng.random_range(1..=9));
            let padding_out = [
                rng.random_range(0..stride[0]),
                rng.random_range(0..stride[1]),
            ];
            let case = Case {
                n: rng.random_range(1..=3),
                c_in: rng.random_range(1..=4),
                c_out: rng.random_range(1..=4),
                h,
                w,
                k,
                stride,
                padding,
                padding_out,
                transpose: i % 2 == 1,
            };
            let fits = if case.transpose {
                // burn requires the output to exist and output padding below the stride.
                (0..2).all(|a| {
                    let side = [h, w][a];
                    (side - 1) * stride[a] + k[a] + padding_out[a] > 2 * padding[a]
                        && padding_out[a] < stride[a].max(1)
                        && padding[a] < k[a]
                })
            } else {
                h + 2 * padding[0] >= k[0] && w + 2 * padding[1] >= k[1]
            };
            fits.then_some(case)
        })
        .collect()
}
