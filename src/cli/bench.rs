//! `digit-lab bench`: training samples/s of the default ConvAE, or inference latency.

use anyhow::Result;
use clap::Args;
use digit_lab::train::bench;

use super::common::{Backend, device, threads};

#[derive(Args)]
pub(crate) struct BenchArgs {
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    #[arg(long, default_value_t = 40)]
    steps: usize,
    /// Measure inference latency instead: one decode and a 20×20 grid (ConvAE and VAE), as the
    /// web page calls them.
    #[arg(long)]
    inference: bool,
}

pub(crate) fn run(args: BenchArgs) -> Result<()> {
    let (device, backend) = device(args.backend)?;
    if args.inference {
        for r in bench::bench_decode(&device, &backend, threads(), 100) {
            println!("{}", serde_json::to_string(&r)?);
        }
        return Ok(());
    }
    if args.batch_size == 0 || args.steps == 0 {
        anyhow::bail!("--batch-size and --steps must be at least 1");
    }
    let result = bench::bench_conv_ae(
        &device,
        &backend,
        threads(),
        args.batch_size,
        args.warmup,
        args.steps,
    );
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}
