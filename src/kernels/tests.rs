//! The kernels' unit tests: against burn's reference ops (`check.rs`, shared with the browser
//! tests), the layers' routing, dropout and the fused losses. Not under Miri (burn's ops would
//! take hours there): `im2col.rs`, `conv.rs` and `matmul.rs` test the kernels themselves
//! against their definitions on small shapes, and those tests run under Miri (`scripts/miri`).

use super::check::{self, GENERATOR, random};
use super::*;

fn close<const D: usize>(got: Tensor<D>, want: Tensor<D>, what: &str) {
    if let Err(e) = check::close(got, want, what) {
        panic!("{e}");
    }
}

#[test]
#[cfg_attr(miri, ignore = "burn's ops under Miri: too slow")]
fn the_models_convolutions_match_burn() {
    for case in check::model_cases() {
        check::check(case).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
#[cfg_attr(miri, ignore = "burn's ops under Miri: too slow")]
fn random_shapes_match_burn() {
    let cases = check::random_cases(21, 60);
    assert!(cases.len() >= 30, "only {} of 60 draws fit", cases.len());
    for case in cases {
        check::check(case).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
#[cfg_attr(miri, ignore = "burn's ops under Miri: too slow")]
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
#[cfg_attr(miri, ignore = "burn's ops under Miri: too slow")]
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
#[cfg_attr(miri, ignore = "burn's ops under Miri: too slow")]
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
