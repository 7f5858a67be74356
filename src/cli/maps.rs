//! `digit-lab export-maps`: the 2-D maps of the test digits for the page and the report, and
//! their validation-split counterparts for choosing settings.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use digit_lab::analysis::knn::loo_knn_accuracy;
use digit_lab::analysis::maps;
use digit_lab::model::weights_dir::WeightsDir;
use digit_lab::model::{Model, ModelKind};

use super::common::{Common, TsneArgs};

#[derive(Args)]
pub(crate) struct ExportMapsArgs {
    #[command(flatten)]
    common: Common,
    /// Directory with manifest.json and the weights; maps.json is written there.
    #[arg(long, default_value = "weights")]
    weights: PathBuf,
    #[command(flatten)]
    tsne: TsneArgs,
    /// Instead of exporting: run t-SNE with these settings on the validation split and print its
    /// 5-NN accuracy (how the t-SNE settings are chosen without the test digits).
    #[arg(long)]
    validate_tsne: bool,
    /// Instead of exporting: print the 5-NN accuracy of the ConvAE code and the VAE mean of the
    /// validation split, for whichever of the two the weights directory holds.
    #[arg(long, conflicts_with = "validate_tsne")]
    validate_codes: bool,
}

pub(crate) fn run(args: ExportMapsArgs) -> Result<()> {
    let (device, data) = args.common.device_and_data_with_test()?;
    if args.validate_tsne {
        let options = args.tsne.options();
        let (knn, seconds) = maps::tsne_validation_knn(&data, options);
        println!(
            "t-SNE on the validation split, {} iterations, learning rate {}, theta {}, exaggeration {} for {} iterations: 5-NN accuracy {knn:.4} ({seconds:.1}s)",
            options.epochs,
            options.learning_rate_for(data.validation.len()),
            options.theta,
            options.exaggeration,
            options.exaggeration_epochs
        );
        return Ok(());
    }
    let store = WeightsDir::open(&args.weights)?;
    if args.validate_codes {
        let valid = &data.validation;
        let mut printed = false;
        for kind in [ModelKind::Ae, ModelKind::Vae] {
            if store.manifest.entry(kind).is_err() {
                continue;
            }
            let points = match store.load(kind, &device)? {
                Model::ConvAe(ae) => maps::ae_codes(&ae, valid, &device),
                Model::Vae(vae) => maps::vae_means(&vae, valid, &device),
                _ => unreachable!("ae and vae load as themselves"),
            };
            let knn = loo_knn_accuracy(&points, 2, &valid.labels, maps::KNN_K);
            println!("{:<4} validation 5-NN accuracy {knn:.4}", kind.key());
            printed = true;
        }
        if !printed {
            bail!(
                "no ae or vae in {}",
                args.weights.join("manifest.json").display()
            );
        }
        return Ok(());
    }
    let ae = store.load(ModelKind::Ae, &device)?.into_conv_ae()?;
    let vae = store.load(ModelKind::Vae, &device)?.into_vae()?;
    let maps = maps::export(&data, &ae, &vae, &device, args.tsne.options(), |m| {
        eprintln!("{m}")
    });
    for (name, e) in [
        ("ConvAE code", &maps.ae),
        ("VAE mean", &maps.vae),
        ("PCA-2", &maps.pca),
        ("t-SNE", &maps.tsne),
    ] {
        println!(
            "{name:<12} 5-NN accuracy {:.4}  ({:.1}s)",
            e.knn5, e.seconds
        );
    }
    let path = args.weights.join("maps.json");
    digit_lab::fs_util::write_atomic(&path, serde_json::to_string(&maps)?.as_bytes())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
