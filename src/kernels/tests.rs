//! The kernels against burn's reference ops: values and gradients (input, weight, bias) on
//! random shapes, including the models' own, kernels of 1 to 4, strides of 1 to 3, padding of 0
//! to 2, output padding, batch 1, non-square images and channel counts of 1.

use burn::tensor::Distribution;
use burn::tensor::module::{
    conv_transpose2d as reference_conv_transpose2d, conv2d as reference_conv2d,
};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::*;

/// The tests seed the device's shared generator: one at a time.
static GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Uniform(-1.0, 1.0), device)
}

fn close<const D: usize>(got: Tensor<D>, want: Tensor<D>, what: &str) {
    let (got, want) = (got.into_data(), want.into_data());
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let g: Vec<f32> = got.try_to_vec().unwrap();
    let w: Vec<f32> = want.try_to_vec().unwrap();
    let scale = w.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * scale,
            "{what}: element {i}: {a} vs {b} (scale {scale})"
        );
    }
}

/// One case: `transpose` picks the op; weights laid out as burn's.
#[derive(Debug, Clone, Copy)]
struct Case {
    n: usize,
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    k: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    padding_out: [usize; 2],
    transpose: bool,
}

fn check(case: Case) {
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
        stride,
        padding,
        padding_out,
        transpose,
    } = case;
    let x = random([n, c_in, h, w], &device);
    let weight = if transpose {
        random([c_in, c_out, k[0], k[1]], &device)
    } else {
        random([c_out, c_in, k[0], k[1]], &device)
    };
    let bias = random([c_out], &device);
    let run = |fast: bool| {
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
        // A fixed, non-uniform output gradient.
        let g = Tensor::<4>::from_data(
            TensorData::new(
                (0..y.shape().num_elements())
                    .map(|i| ((i * 7919) % 13) as f32 / 6.0 - 1.0)
                    .collect::<Vec<f32>>(),
                y.shape(),
            ),
            &device,
        );
        let grads = (y.clone() * g).sum().backward();
        (
            y.detach(),
            x.grad(&grads).unwrap(),
            weight.grad(&grads).unwrap(),
            bias.grad(&grads).unwrap(),
        )
    };
    let (y0, dx0, dw0, db0) = run(false);
    // The batch as one chunk, one image per chunk, and two (an odd batch leaves a last chunk of
    // one); on a test thread the chunks are also shared out among rayon's threads.
    let [_, _, oh, ow] = y0.dims();
    let (rows, positions) = if transpose {
        (c_out * k[0] * k[1], h * w)
    } else {
        (c_in * k[0] * k[1], oh * ow)
    };
    for floats in [conv::CHUNK_FLOATS, 1, 2 * rows * positions] {
        let (y1, dx1, dw1, db1) = conv::with_chunk_floats(floats, || run(true));
        let what = format!("{case:?}, chunks of {floats} floats");
        close(y1, y0.clone(), &format!("{what}: output"));
        close(dx1, dx0.clone(), &format!("{what}: input grad"));
        close(dw1, dw0.clone(), &format!("{what}: weight grad"));
        close(db1, db0.clone(), &format!("{what}: bias grad"));
    }
}

#[test]
fn the_models_convolutions_match_burn() {
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
    // ConvAE (and the classifier's wider encoder), VAE.
    for case in [
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
    ] {
        check(case);
    }
}

#[test]
fn random_shapes_match_burn() {
    let mut rng = StdRng::seed_from_u64(21);
    for i in 0..60 {
        let k = [rng.random_range(1..=4), rng.random_range(1..=4)];
        let stride = [rng.random_range(1..=3), rng.random_range(1..=3)];
        let padding = [rng.random_range(0..=2), rng.random_range(0..=2)];
        let transpose = i % 2 == 1;
        let h = rng.random_range(1..=9);
        let w = rng.random_range(1..=9);
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
            transpose,
        };
        let fits = if transpose {
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
        if fits {
            check(case);
        }
    }
}

#[test]
fn the_layers_use_the_kernels_and_fall_back_elsewhere() {
    use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
    let _lock = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    assert!(supported(&random([1, 1, 1, 1], &device)));
    assert!(supported(&random([1, 1, 1, 1], &device.clone().autodiff())));
    let x = random([2, 3, 9, 9], &device);
    // Explicit symmetric padding: kernels; `Same` padding: burn's own forward. Same values.
    for (padding, what) in [
        (PaddingConfig2d::Explicit(1, 1, 1, 1), "conv layer"),
        (PaddingConfig2d::Same, "same padding"),
    ] {
        let layer = Conv2dConfig::new([3, 4], [3, 3])
            .with_padding(padding)
            .init(&device);
        close(conv2d(&layer, x.clone()), layer.forward(x.clone()), what);
    }
    let layer = ConvTranspose2dConfig::new([3, 2], [3, 3])
        .with_stride([2, 2])
        .with_padding([1, 1])
        .with_padding_out([1, 1])
        .init(&device);
    close(
        conv_transpose2d(&layer, x.clone()),
        layer.forward(x),
        "transposed conv layer",
    );
}

#[test]
fn dropout_keeps_the_expected_share_and_passes_the_mask_back() {
    use burn::nn::DropoutConfig;
    let _lock = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    device.seed(3);
    let layer = DropoutConfig::new(0.3).init();
    let x = Tensor::<2>::ones([64, 500], &device).require_grad();
    let y = dropout(&layer, x.clone());
    let values: Vec<f32> = y.clone().into_data().try_to_vec().unwrap();
    let kept = values.iter().filter(|&&v| v != 0.0).count() as f64 / values.len() as f64;
    assert!((kept - 0.7).abs() < 0.01, "kept {kept}");
    assert!(
        values
            .iter()
            .all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6)
    );
    // The gradient of Σ y is the mask itself.
    let grads = y.sum().backward();
    let grad: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
    assert_eq!(grad, values);
    // A second call draws a new mask; the same seed draws the same masks again.
    let again: Vec<f32> = dropout(&layer, Tensor::<2>::ones([64, 500], &device))
        .into_data()
        .try_to_vec()
        .unwrap();
    assert_ne!(again, values);
    device.seed(3);
    let replay: Vec<f32> = dropout(&layer, Tensor::<2>::ones([64, 500], &device))
        .into_data()
        .try_to_vec()
        .unwrap();
    assert_eq!(replay, values);
    // Without autodiff (inference) it is the identity, as burn's.
    let plain = Tensor::<2>::ones([4, 5], &Device::flex());
    let out: Vec<f32> = dropout(&layer, plain).into_data().try_to_vec().unwrap();
    assert!(out.iter().all(|&v| v == 1.0));
}

#[test]
fn fused_sigmoid_losses_match_burn() {
    use super::loss::{SigmoidLoss, reference, sigmoid_loss_sums};
    let _lock = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    device.seed(11);
    for loss in [SigmoidLoss::BinaryCrossEntropy, SigmoidLoss::SquaredError] {
        for shape in [[3, 1, 28, 28], [1, 2, 3, 5]] {
            // Logits up to ±12 (both branches of the stable forms), targets in [0, 1].
            let logits = random(shape, &device) * 12.0;
            let targets = (random(shape, &device) + 1.0) / 2.0;
            let run = |fused: bool| {
                let l = logits.clone().detach().require_grad();
                let x = targets.clone().detach().require_grad();
                let sums = if fused {
                    sigmoid_loss_sums(l.clone(), x.clone(), loss)
                } else {
                    reference(l.clone(), x.clone(), loss)
                };
                // A different weight per image, so the upstream gradient's layout matters.
                let weights = Tensor::<1>::from_data(
                    TensorData::new((0..shape[0]).map(|i| 1.0 + i as f32).collect(), [shape[0]]),
                    &device,
                );
                let grads = (sums.clone() * weights).sum().backward();
                (
                    sums.detach(),
                    l.grad(&grads).unwrap(),
                    x.grad(&grads).unwrap(),
                )
            };
            let (s1, dl1, dx1) = run(true);
            let (s2, dl2, dx2) = run(false);
            let what = format!("{loss:?} {shape:?}");
            close(s1, s2, &format!("{what}: sums"));
            close(dl1, dl2, &format!("{what}: logit gradient"));
            close(dx1, dx2, &format!("{what}: target gradient"));
        }
    }
}
