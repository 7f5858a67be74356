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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::IMAGE_PIXELS;
    use crate::model::VaeConfig;
    use crate::model::vae::{C1, C2, FLAT};
    use burn::module::Param;

    /// Random digit-like images: a few bright strokes on black.
    fn images(count: usize) -> Dataset {
        let mut pixels = vec![0u8; count * IMAGE_PIXELS];
        for (i, p) in pixels.iter_mut().enumerate() {
            if (i * 7919 + i / 97) % 5 == 0 {
                *p = 255;
            }
        }
        Dataset {
            images: pixels,
            labels: vec![0; count],
        }
    }

    #[test]
    fn a_channel_that_never_fires_is_counted_dead() {
        let device = Device::flex();
        let data = images(64);
        let mut vae = VaeConfig::new().init(&device);
        let count = |vae: &Vae| -> Vec<usize> {
            vae_dead_units(vae, &data, &device)
                .iter()
                .map(|l| l.dead)
                .collect()
        };
        let units: Vec<usize> = vae_dead_units(&vae, &data, &device)
            .iter()
            .map(|l| l.units)
            .collect();
        assert_eq!(units, [C1, C2, FLAT, C1]);
        // Large positive biases make every encoder channel fire on every image, whatever the
        // random init drew (inputs are in [0, 1], so no weighted sum comes near these).
        let set_bias = |bias: Option<Param<Tensor<1>>>, value: &dyn Fn(usize) -> f32| {
            let bias = bias.expect("the conv layers have biases");
            Some(bias.map(|b| {
                let values: Vec<f32> = (0..b.dims()[0]).map(value).collect();
                let len = values.len();
                Tensor::from_data(TensorData::new(values, [len]), &b.device())
            }))
        };
        vae.conv1.bias = set_bias(vae.conv1.bias.take(), &|_| 1e2);
        vae.conv2.bias = set_bias(vae.conv2.bias.take(), &|_| 1e5);
        let before = count(&vae);
        // A large negative bias keeps the first five channels of conv2 at 0 on every image.
        vae.conv2.bias = set_bias(vae.conv2.bias.take(), &|c| if c < 5 { -1e7 } else { 1e5 });
        let after = count(&vae);
        assert_eq!((before[0], before[1]), (0, 0), "{before:?}");
        assert_eq!((after[0], after[1]), (0, 5), "{after:?}");
    }
}
