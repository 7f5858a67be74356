//! `digit-lab export-subset`: the MNIST subset of the in-browser training mode.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;
use digit_lab::mini_training::subset::{IMAGES_FILE, LABELS_FILE, Subset};

use super::common::load_training_data;

#[derive(Args)]
pub(crate) struct ExportSubsetArgs {
    /// Directory holding the four MNIST IDX files.
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Where the two .idx.gz files go (the page serves them from www/data).
    #[arg(long, default_value = "www/data")]
    out: PathBuf,
}

pub(crate) fn run(args: ExportSubsetArgs) -> Result<()> {
    let data = load_training_data(&args.data)?;
    let subset = Subset::from_splits(&data.train, &data.validation);
    let (images, labels) = subset.to_gzip();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for (name, bytes) in [(IMAGES_FILE, images), (LABELS_FILE, labels)] {
        let path = args.out.join(name);
        digit_lab::fs_util::write_atomic(&path, &bytes)?;
        eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}
