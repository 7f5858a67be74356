//! Dead ReLU units of the VAE: units that never activate on a split. Such a unit passes no
//! gradient, so with Adam's L2 penalty its weights are driven to zero at the full learning rate
//! per step (the penalty is its whole, normalised gradient) and it does not come back: capacity
//! the weight decay took away.

use burn::prelude::*;
use serde::Serialize;

use crate::data::Dataset;
use crate::data::mnist::images_tensor;
use crate::model::Vae;

/// How many of a layer's units never activate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LayerUnits {
    pub layer: &'static str,
    pub units: usize,
    pub dead: usize,
}

/// The VAE's ReLU units (channels of convolutions) that stay at 0 on every image of `data`.
pub fn vae_dead_units(model: &Vae, data: &Dataset, device: &Device) -> Vec<LayerUnits> {
    let mut peaks: Vec<(&'static str, Tensor<1>)> = Vec::new();
    for idx in data.batches() {
        let layers = model.relu_peaks(images_tensor(data.pixels(&idx), device));
        let batch = layers.map(|(layer, t)| (layer, t.max_dim(0).squeeze_dim::<1>(0)));
        peaks = if peaks.is_empty() {
            batch.into()
        } else {
            peaks
                .into_iter()
                .zip(batch)
                .map(|((layer, a), (_, b))| (layer, a.max_pair(b)))
                .collect()
        };
    }
    peaks
        .into_iter()
        .map(|(layer, peak)| {
            let values = peak.into_data().iter::<f32>().collect::<Vec<_>>();
            LayerUnits {
                layer,
                units: values.len(),
                dead: values.iter().filter(|&&v| v <= 0.0).count(),
            }
        })
        .collect()
}
