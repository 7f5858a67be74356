//! Training throughput (PROTOCOL.md "Speed"): Adam steps of the default ConvAE, the VAE or the
//! best classifier at a given batch size on the chosen backend, after warm-up steps that are not
//! timed.

use std::time::Instant;

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;

use super::step;
use crate::data::IMAGE_PIXELS;
use crate::data::mnist::{images_tensor, labels_tensor};
use crate::model::{Classifier, ClassifierConfig, ConvAe, ConvAeConfig, Vae, VaeConfig};

#[derive(Debug, Serialize)]
pub struct BenchResult {
    pub model: &'static str,
    pub backend: String,
    pub threads: usize,
    pub batch_size: usize,
    pub steps: usize,
    pub seconds: f64,
    pub samples_per_second: f64,
    /// Seconds one 50,000-image epoch would take at this rate.
    pub epoch_seconds: f64,
}

/// The training steps `digit-lab bench --model` times (and `scripts/bench_pytorch.py` mirrors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchModel {
    /// The paper's ConvAE: MSE, Adam lr 1e-3 with L2 1e-5 (batch 256 by default).
    Ae,
    /// The VAE: negative ELBO (BCE sum + KL), Adam lr 1e-3 with L2 1.5e-2 (batch 128).
    Vae,
    /// The best classifier (`ClassifierConfig::best()`): cross-entropy, Adam lr 1e-3 with L2
    /// 1e-5 (batch 128).
    Classifier,
}

impl BenchModel {
    /// The batch size the trainer uses for this model (`tasks::default_fit`).
    pub fn default_batch_size(self) -> usize {
        match self {
            BenchModel::Ae => 256,
            BenchModel::Vae | BenchModel::Classifier => 128,
        }
    }

    fn weight_decay(self) -> f64 {
        match self {
            BenchModel::Ae | BenchModel::Classifier => 1e-5,
            BenchModel::Vae => 1.5e-2,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            BenchModel::Ae => "ConvAE (c1=8, c2=16, c3=64, fc=64, code=2)",
            BenchModel::Vae => "VAE (conv 32/64, 4x4, latent 2)",
            BenchModel::Classifier => "best classifier (c1=32, c2=64, c3=64, fc=128)",
        }
    }
}

/// Times `steps` training steps of `model` (forward, loss, backward, Adam with its weight
/// decay) after `warmup` untimed ones, on random inputs (random labels, random ε for the VAE):
/// the cost of a step does not depend on what the images show.
pub fn bench_step(
    model: BenchModel,
    device: &Device,
    backend: &str,
    threads: usize,
    batch_size: usize,
    warmup: usize,
    steps: usize,
) -> BenchResult {
    let timing = Timing {
        warmup,
        steps,
        batch_size,
        threads,
    };
    let seconds = time_model(model, device, &timing);
    let samples_per_second = (steps * batch_size) as f64 / seconds;
    BenchResult {
        model: model.describe(),
        backend: backend.to_string(),
        threads,
        batch_size,
        steps,
        seconds,
        samples_per_second,
        epoch_seconds: 50_000.0 / samples_per_second,
    }
}

/// Seconds that the timed steps of `model` take on random inputs.
fn time_model(model: BenchModel, device: &Device, timing: &Timing) -> f64 {
    let batch_size = timing.batch_size;
    let ad = device.clone().autodiff();
    ad.seed(0);
    let mut rng = StdRng::seed_from_u64(0);
    let pixels: Vec<f32> = (0..batch_size * IMAGE_PIXELS)
        .map(|_| rng.random::<f32>())
        .collect();
    let optimizer = || {
        AdamConfig::new()
            .with_weight_decay(Some(WeightDecayConfig::new(model.weight_decay() as f32)))
            .init()
    };
    // The images (labels, ε) of a batch part, by index, as the trainer's data does.
    let images = |part: &[usize]| {
        let rows = part
            .iter()
            .flat_map(|&i| &pixels[i * IMAGE_PIXELS..][..IMAGE_PIXELS]);
        images_tensor(rows.copied().collect(), &ad)
    };
    match model {
        BenchModel::Ae => time_steps(
            ConvAeConfig::new().init(&ad),
            optimizer(),
            timing,
            &|net: &ConvAe, part: &[usize], _: &mut StdRng| {
                let x = images(part);
                net.mse(x.clone(), x)
            },
        ),
        BenchModel::Vae => {
            let eps: Vec<f32> = (0..batch_size * 2)
                .map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal))
                .collect();
            time_steps(
                VaeConfig::new().init(&ad),
                optimizer(),
                timing,
                &|net: &Vae, part: &[usize], _: &mut StdRng| {
                    let rows = part.iter().flat_map(|&i| &eps[2 * i..][..2]);
                    let eps = TensorData::new(rows.copied().collect(), [part.len(), 2]);
                    net.loss(images(part), Tensor::from_data(eps, &ad))
                        .neg_elbo()
                },
            )
        }
        BenchModel::Classifier => {
            let labels: Vec<u8> = (0..batch_size).map(|_| rng.random_range(0..10)).collect();
            time_steps(
                ClassifierConfig::best().init(&ad),
                optimizer(),
                timing,
                &|net: &Classifier, part: &[usize], _: &mut StdRng| {
                    let labels: Vec<u8> = part.iter().map(|&i| labels[i]).collect();
                    net.cross_entropy(images(part), labels_tensor(&labels, &ad))
                },
            )
        }
    }
}

/// What [`time_steps`] times: `steps` optimiser steps on a batch of `batch_size` after `warmup`
/// untimed ones, with the trainer's data-parallel step over `threads` parts.
struct Timing {
    warmup: usize,
    steps: usize,
    batch_size: usize,
    threads: usize,
}

/// Seconds that the timed steps take.
fn time_steps<M: Module + Clone + Send + Sync>(
    mut model: M,
    mut optimizer: ModuleOptimizer,
    &Timing {
        warmup,
        steps,
        batch_size,
        threads,
    }: &Timing,
    loss: &(dyn Fn(&M, &[usize], &mut StdRng) -> Tensor<1> + Sync),
) -> f64 {
    let batch: Vec<usize> = (0..batch_size).collect();
    let mut rng = StdRng::seed_from_u64(1);
    let mut start = Instant::now();
    for i in 0..warmup + steps {
        if i == warmup {
            start = Instant::now();
        }
        let (grads, loss) = step::gradients(&model, &batch, threads, &mut rng, &loss);
        model = optimizer.step(1e-3, model, grads);
        // Reading the loss waits for the step to finish on asynchronous backends.
        let _ = loss.into_scalar::<f32>();
    }
    start.elapsed().as_secs_f64()
}

/// A large f32 matrix product (2048³, as `scripts/bench_pytorch.py --peak` times PyTorch's)
/// through the kernels' GEMM on rayon's threads, repeated for about `seconds`: this CPU's
/// practical peak, GFLOP/s, the "physical limit" of `scripts/bench-vs-pytorch`.
pub fn sgemm_gflops(seconds: f64) -> f64 {
    use crate::kernels::matmul::{Mat, product};
    const SIDE: usize = 2048;
    let mut rng = StdRng::seed_from_u64(0);
    let a: Vec<f32> = (0..SIDE * SIDE).map(|_| rng.random()).collect();
    let b: Vec<f32> = (0..SIDE * SIDE).map(|_| rng.random()).collect();
    let multiply = || product(Mat::new(&a, SIDE, SIDE), Mat::new(&b, SIDE, SIDE));
    for _ in 0..3 {
        std::hint::black_box(multiply());
    }
    let (mut count, start) = (0, Instant::now());
    while start.elapsed().as_secs_f64() < seconds {
        std::hint::black_box(multiply());
        count += 1;
    }
    2.0 * (SIDE as f64).powi(3) * count as f64 / start.elapsed().as_secs_f64() / 1e9
}

/// Native inference latency of one decoder call (readback included), the same calls the web
/// page makes: median and p90 over `repeats` after `warmup`.
#[derive(Debug, Serialize)]
pub struct LatencyResult {
    pub call: String,
    pub backend: String,
    pub threads: usize,
    pub median_ms: f64,
    pub p90_ms: f64,
}

fn time_calls(mut call: impl FnMut(), warmup: usize, repeats: usize) -> (f64, f64) {
    for _ in 0..warmup {
        call();
    }
    let mut ms: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            call();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((q * ms.len() as f64) as usize).min(ms.len() - 1)];
    (at(0.5), at(0.9))
}

/// Decoding one latent point and a 20×20 grid with the default ConvAE and VAE decoders, and
/// denoising one image with the wide-code DAE (untrained weights: the cost does not depend on
/// their values).
pub fn bench_decode(
    device: &Device,
    backend: &str,
    threads: usize,
    repeats: usize,
) -> Vec<LatencyResult> {
    let ae = ConvAeConfig::new().init_decoder(device);
    let vae = crate::model::VaeConfig::new().init(device);
    let mut results = Vec::new();
    for (name, points) in [("decode 1 point", 1usize), ("decode 20×20 grid", 400)] {
        let coords: Vec<f32> = (0..points * 2)
            .map(|i| (i % 7) as f32 / 3.0 - 1.0)
            .collect();
        let z = || Tensor::<2>::from_data(TensorData::new(coords.clone(), [points, 2]), device);
        let read = |t: Tensor<4>| {
            let _: Vec<f32> = t.into_data().try_into_vec().expect("f32 output");
        };
        for (model, decode) in [
            ("ConvAE", &(|| read(ae.forward(z()))) as &dyn Fn()),
            ("VAE", &(|| read(vae.decode(z()))) as &dyn Fn()),
        ] {
            let (median_ms, p90_ms) = time_calls(decode, 5, repeats);
            results.push(LatencyResult {
                call: format!("{model} {name}"),
                backend: backend.to_string(),
                threads,
                median_ms,
                p90_ms,
            });
        }
    }
    let wide = crate::model::DaeWideConfig::new().init(device);
    let image = || Tensor::<4>::zeros([1, 1, 28, 28], device);
    let (median_ms, p90_ms) = time_calls(
        || {
            let out = crate::model::Autoencoder::reconstruct(&wide, image());
            let _: Vec<f32> = out.into_data().try_into_vec().expect("f32 output");
        },
        5,
        repeats,
    );
    results.push(LatencyResult {
        call: "wide-code DAE denoise 1 image".into(),
        backend: backend.to_string(),
        threads,
        median_ms,
        p90_ms,
    });
    results
}

/// One row of [`profile_conv_ae`]: an op of the ConvAE's training step, timed on its own at the
/// shapes it has in the model (the fastest of the repeats, milliseconds per batch).
#[derive(Debug, Serialize)]
pub struct OpTime {
    pub op: String,
    /// Forward, with autodiff recording (what the training step pays).
    pub forward_ms: f64,
    /// Backward of this op alone: gradients of its parameters and of its input.
    pub backward_ms: f64,
    /// The part of `backward_ms` that computes the input's gradient (0 where the model needs
    /// none: the first convolution).
    pub input_grad_ms: f64,
}

/// The ConvAE training step taken apart (docs/PROFILE.md): each layer (through
/// [`crate::kernels`], as the model calls them), activation and the loss timed alone, forward
/// and backward, at the model's shapes; then the optimiser step and the
/// whole step, so that what the parts do not explain (autodiff bookkeeping between ops,
/// allocation, reshapes) shows as the remainder.
pub fn profile_conv_ae(device: &Device, batch: usize, repeats: usize) -> Vec<OpTime> {
    let ad = device.clone().autodiff();
    ad.seed(0);
    let timer = OpTimer {
        device: &ad,
        repeats,
    };
    let mut rows = layer_rows(&timer, batch);
    rows.extend(relu_rows(&timer, batch));
    rows.push(loss_row(&timer, batch));
    rows.extend(whole_step_rows(&ad, batch, repeats));
    rows
}

/// The ConvAE's channels and hidden width (`ConvAeConfig::new()`).
const C1: usize = 8;
const C2: usize = 16;
const C3: usize = 64;
const FC: usize = 64;

/// The fastest of the repeats: on a shared machine, the slower ones measure other processes
/// taking the core.
fn fastest(v: Vec<f64>) -> f64 {
    v.into_iter().fold(f64::INFINITY, f64::min)
}

/// Times single ops on the autodiff `device`, `repeats` times after two untimed runs.
struct OpTimer<'a> {
    device: &'a Device,
    repeats: usize,
}

/// Milliseconds of one run of an op: forward, backward, backward with the input not tracked,
/// and backward of the Σ y·g wrapper alone.
struct OpSample {
    forward: f64,
    backward: f64,
    backward_params_only: f64,
    wrapper: f64,
}

fn seconds_of<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64())
}

impl OpTimer<'_> {
    fn random(&self, shape: [usize; 4]) -> Tensor<4> {
        Tensor::<4>::random(shape, burn::tensor::Distribution::Default, self.device)
    }

    /// Times `f` forward and backward (through Σ y·g), then backward again with the input not
    /// tracked, and subtracts the cost of the Σ y·g wrapper itself.
    fn time(
        &self,
        name: &str,
        input: [usize; 4],
        needs_input_grad: bool,
        f: &dyn Fn(Tensor<4>) -> Tensor<4>,
    ) -> OpTime {
        let samples: Vec<OpSample> = (0..self.repeats + 2)
            .map(|_| self.sample(input, f))
            .collect();
        // The first two runs warm up (allocations, caches) and are not counted.
        let ms = |part: fn(&OpSample) -> f64| samples[2..].iter().map(|s| part(s) * 1e3).collect();
        let wrap = fastest(ms(|s| s.wrapper));
        let params_only = fastest(ms(|s| s.backward_params_only));
        let backward = if needs_input_grad {
            fastest(ms(|s| s.backward))
        } else {
            params_only
        };
        let backward = (backward - wrap).max(0.0);
        let input_grad = if needs_input_grad {
            (backward - (params_only - wrap).max(0.0)).max(0.0)
        } else {
            0.0
        };
        OpTime {
            op: name.to_string(),
            forward_ms: fastest(ms(|s| s.forward)),
            backward_ms: backward,
            input_grad_ms: input_grad,
        }
    }

    /// One run of `f` on a random input of shape `input` (seconds).
    fn sample(&self, input: [usize; 4], f: &dyn Fn(Tensor<4>) -> Tensor<4>) -> OpSample {
        let x = self.random(input).require_grad();
        let (y, forward) = seconds_of(|| f(x.clone()));
        let g = Tensor::<4>::ones(y.dims(), self.device);
        let loss = (y.clone() * g.clone()).sum();
        let (grads, backward) = seconds_of(|| loss.backward());
        drop(grads);
        // Parameter gradients only (ops without parameters: none, so nothing to time).
        let y2 = f(self.random(input));
        let backward_params_only = if y2.is_tracked() {
            let loss = (y2 * g.clone()).sum();
            let (grads, t) = seconds_of(|| loss.backward());
            drop(grads);
            t
        } else {
            0.0
        };
        let leaf = self.random(y.dims()).require_grad();
        let loss = (leaf * g).sum();
        let (grads, wrapper) = seconds_of(|| loss.backward());
        drop(grads);
        OpSample {
            forward,
            backward,
            backward_params_only,
            wrapper,
        }
    }
}

/// The layers of the step in its order: convolutions, dropout, linear layers, transposed
/// convolutions, each through the kernels the model calls.
fn layer_rows(timer: &OpTimer, n: usize) -> Vec<OpTime> {
    use crate::kernels::{conv_transpose2d, conv2d};
    use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
    use burn::nn::{DropoutConfig, LinearConfig, PaddingConfig2d};

    let ad = timer.device;
    let mut rows = Vec::new();
    // (name, channels, padding, input side, whether the input needs a gradient — not the
    // image's).
    for (name, channels, p, side, input_grad) in [
        ("conv1 1→8, 28→14", [1, C1], 1, 28, false),
        ("conv2 8→16, 14→7", [C1, C2], 1, 14, true),
        ("conv3 16→64, 7→3", [C2, C3], 0, 7, true),
    ] {
        let l = Conv2dConfig::new(channels, [3, 3])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .init(ad);
        let shape = [n, channels[0], side, side];
        rows.push(timer.time(name, shape, input_grad, &|x| conv2d(&l, x)));
    }
    let d = DropoutConfig::new(0.1).init();
    rows.push(timer.time("dropout 576", [n, C3 * 9, 1, 1], true, &|x| {
        crate::kernels::dropout(&d, x)
    }));
    // Linear layers run on [n, features] viewed as [n, features, 1, 1].
    let flat = |x: Tensor<4>| x.flatten::<2>(1, 3);
    let unflat = |x: Tensor<2>| x.unsqueeze_dims::<4>(&[2, 3]);
    for (name, features) in [
        ("enc fc1 576→64", [C3 * 9, FC]),
        ("enc fc2 64→2", [FC, 2]),
        ("dec fc1 2→64", [2, FC]),
        ("dec fc2 64→576", [FC, C3 * 9]),
    ] {
        let l = LinearConfig::new(features[0], features[1]).init(ad);
        let shape = [n, features[0], 1, 1];
        rows.push(timer.time(name, shape, true, &|x| unflat(l.forward(flat(x)))));
    }
    for (name, channels, p, padding_out, side) in [
        ("deconv1 64→16, 3→7", [C3, C2], 0, 0, 3),
        ("deconv2 16→8, 7→14", [C2, C1], 1, 1, 7),
        ("deconv3 8→1, 14→28", [C1, 1], 1, 1, 14),
    ] {
        let l = ConvTranspose2dConfig::new(channels, [3, 3])
            .with_stride([2, 2])
            .with_padding([p, p])
            .with_padding_out([padding_out, padding_out])
            .init(ad);
        let shape = [n, channels[0], side, side];
        rows.push(timer.time(name, shape, true, &|x| conv_transpose2d(&l, x)));
    }
    rows
}

/// ReLUs of the step, by the shape they act on (encoder and decoder mirror each other: two
/// of each).
fn relu_rows(timer: &OpTimer, n: usize) -> Vec<OpTime> {
    use burn::tensor::activation::relu;
    [
        ("relu ×2 on 8×14×14", [n, C1, 14, 14]),
        ("relu ×2 on 16×7×7", [n, C2, 7, 7]),
        ("relu ×2 on 64×3×3", [n, C3, 3, 3]),
        ("relu ×2 on 64", [n, FC, 1, 1]),
    ]
    .into_iter()
    .map(|(name, shape)| {
        let mut r = timer.time(name, shape, true, &|x| relu(x));
        r.forward_ms *= 2.0;
        r.backward_ms *= 2.0;
        r.input_grad_ms *= 2.0;
        r
    })
    .collect()
}

/// The output's sigmoid and the MSE, fused as the model computes them (`kernels::loss`).
fn loss_row(timer: &OpTimer, n: usize) -> OpTime {
    use crate::kernels::loss::{SigmoidLoss, sigmoid_loss_sums};
    let target = timer.random([n, 1, 28, 28]);
    timer.time("sigmoid + MSE loss 28×28", [n, 1, 28, 28], true, &|x| {
        let squared = SigmoidLoss::SquaredError;
        let sums = sigmoid_loss_sums(x, target.clone(), squared);
        (sums.sum() / (n * 784) as f32).reshape([1, 1, 1, 1])
    })
}

/// The optimiser step and the whole step, on the real model.
fn whole_step_rows(ad: &Device, n: usize, repeats: usize) -> [OpTime; 2] {
    let mut model = ConvAeConfig::new().init(ad);
    let mut optimizer = AdamConfig::new()
        .with_weight_decay(Some(WeightDecayConfig::new(1e-5)))
        .init();
    let pixels = Tensor::<4>::random([n, 1, 28, 28], burn::tensor::Distribution::Default, ad);
    let mut adam = Vec::new();
    let mut whole_fw = Vec::new();
    let mut whole_bw = Vec::new();
    let mut whole = Vec::new();
    for i in 0..repeats + 2 {
        let start = Instant::now();
        let loss = model.mse(pixels.clone(), pixels.clone());
        let t_fw = start.elapsed().as_secs_f64();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let t_bw = start.elapsed().as_secs_f64() - t_fw;
        let s = Instant::now();
        model = optimizer.step(1e-3, model, grads);
        let t_adam = s.elapsed().as_secs_f64();
        let _ = loss.into_scalar::<f32>();
        let t = start.elapsed().as_secs_f64();
        if i >= 2 {
            adam.push(t_adam * 1e3);
            whole_fw.push(t_fw * 1e3);
            whole_bw.push(t_bw * 1e3);
            whole.push(t * 1e3);
        }
    }
    [
        OpTime {
            op: "Adam step (L2 decay), 11 params".into(),
            forward_ms: 0.0,
            backward_ms: fastest(adam),
            input_grad_ms: 0.0,
        },
        OpTime {
            op: "WHOLE STEP (forward | backward+Adam)".into(),
            forward_ms: fastest(whole_fw.clone()),
            backward_ms: fastest(whole) - fastest(whole_fw),
            input_grad_ms: fastest(whole_bw),
        },
    ]
}
