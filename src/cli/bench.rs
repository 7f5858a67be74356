//! `digit-lab bench`: training samples/s of the ConvAE, the VAE or the best classifier, or
//! inference latency.

use anyhow::Result;
use clap::{Args, ValueEnum};
use digit_lab::train::bench;

use super::common::{Backend, device, threads};

#[derive(Clone, Copy, ValueEnum)]
enum Model {
    Ae,
    Vae,
    Classifier,
}

#[derive(Args)]
pub(crate) struct BenchArgs {
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// The training step to time: the ConvAE (batch 256), the VAE (batch 128) or the best
    /// classifier (batch 128).
    #[arg(long, value_enum, default_value_t = Model::Ae)]
    model: Model,
    /// Batch size; the trainer's for the model when omitted.
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    #[arg(long, default_value_t = 40)]
    steps: usize,
    /// Measure inference latency instead: one decode and a 20×20 grid (ConvAE and VAE), as the
    /// web page calls them.
    #[arg(long)]
    inference: bool,
    /// Take the ConvAE's training step apart instead: each layer forward and backward on its
    /// own, the optimiser, the whole step (docs/PROFILE.md).
    #[arg(long)]
    profile: bool,
    /// Time a large f32 matrix product (2048³) through the kernels' GEMM instead: this CPU's
    /// practical peak in GFLOP/s, for `scripts/bench-vs-pytorch`'s "% of limit".
    #[arg(long)]
    sgemm: bool,
}

pub(crate) fn run(args: BenchArgs) -> Result<()> {
    let (device, backend) = device(args.backend)?;
    if args.inference {
        for r in bench::bench_decode(&device, &backend, threads(), 100) {
            println!("{}", serde_json::to_string(&r)?);
        }
        return Ok(());
    }
    if args.sgemm {
        let gflops = bench::sgemm_gflops(1.0);
        println!(
            "{}",
            serde_json::json!({ "threads": threads(), "sgemm_gflops": gflops })
        );
        return Ok(());
    }
    if args.profile {
        let batch = args.batch_size.unwrap_or(256);
        println!(
            "ConvAE training step by op, batch {batch}, {} threads, ms per batch (best of {})",
            threads(),
            args.steps
        );
        println!(
            "{:<40} {:>9} {:>9} {:>9}",
            "op", "forward", "backward", "(dx)"
        );
        for r in bench::profile_conv_ae(&device, batch, args.steps) {
            println!(
                "{:<40} {:>9.3} {:>9.3} {:>9.3}",
                r.op, r.forward_ms, r.backward_ms, r.input_grad_ms
            );
        }
        return Ok(());
    }
    let model = match args.model {
        Model::Ae => bench::BenchModel::Ae,
        Model::Vae => bench::BenchModel::Vae,
        Model::Classifier => bench::BenchModel::Classifier,
    };
    let batch_size = args.batch_size.unwrap_or(model.default_batch_size());
    if batch_size == 0 || args.steps == 0 {
        anyhow::bail!("--batch-size and --steps must be at least 1");
    }
    let result = bench::bench_step(
        model,
        &device,
        &backend,
        threads(),
        batch_size,
        args.warmup,
        args.steps,
    );
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}
