//! Training throughput of the default ConvAE (PROTOCOL.md "Speed"): Adam steps at a given batch
//! size on the chosen backend, after warm-up steps that are not timed.

use std::time::Instant;

use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;

use crate::data::IMAGE_PIXELS;
use crate::data::mnist::images_tensor;
use crate::model::ConvAeConfig;

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

/// Times `steps` training steps after `warmup` untimed ones. Images are random pixels: the
/// cost of a step does not depend on their content.
pub fn bench_conv_ae(
    device: &Device,
    backend: &str,
    threads: usize,
    batch_size: usize,
    warmup: usize,
    steps: usize,
) -> BenchResult {
    let ad = device.clone().autodiff();
    ad.seed(0);
    let config = ConvAeConfig::new();
    let mut model = config.init(&ad);
    let mut optimizer = AdamConfig::new()
        .with_weight_decay(Some(WeightDecayConfig::new(1e-5)))
        .init();
    let mut rng = StdRng::seed_from_u64(0);
    let pixels: Vec<f32> = (0..batch_size * IMAGE_PIXELS)
        .map(|_| rng.random::<f32>())
        .collect();
    let mut start = Instant::now();
    for step in 0..warmup + steps {
        if step == warmup {
            start = Instant::now();
        }
        let x = images_tensor(pixels.clone(), &ad);
        let loss = model.mse(x.clone(), x);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(1e-3, model, grads);
        // Reading the loss waits for the step to finish on asynchronous backends.
        let _ = loss.into_scalar::<f32>();
    }
    let seconds = start.elapsed().as_secs_f64();
    let samples_per_second = (steps * batch_size) as f64 / seconds;
    BenchResult {
        model: "ConvAE (c1=8, c2=16, c3=64, fc=64, code=2)",
        backend: backend.to_string(),
        threads,
        batch_size,
        steps,
        seconds,
        samples_per_second,
        epoch_seconds: 50_000.0 / samples_per_second,
    }
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
    let wide = crate::model::WideDaeConfig::new().init(device);
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
