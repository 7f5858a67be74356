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
