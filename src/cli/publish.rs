//! `digit-lab publish`: adopts a finished run into a weights directory, measuring its test
//! metrics (the one time the test split is used for it).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use digit_lab::train::publish::{Replace, publish};

use super::common::{Backend, device, summary};

#[derive(Args)]
pub(crate) struct PublishArgs {
    /// A finished run directory (`runs/<id>`).
    run_dir: PathBuf,
    /// The weights directory to commit the model into.
    #[arg(long, default_value = "weights")]
    to: PathBuf,
    /// Publish even where the target holds a model that did better on the same validation
    /// split.
    #[arg(long)]
    replace_better: bool,
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
}

pub(crate) fn run(args: PublishArgs) -> Result<()> {
    let (device, _) = device(args.backend)?;
    let replace = if args.replace_better {
        Replace::Always
    } else {
        Replace::IfNotWorse
    };
    let published = publish(&args.run_dir, &args.to, replace, &device)?;
    println!("{:<16} {}", published.kind.key(), summary(&published.test));
    eprintln!(
        "published {} into {}",
        args.run_dir.display(),
        args.to.display()
    );
    Ok(())
}
