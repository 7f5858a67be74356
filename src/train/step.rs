//! The gradients of one training step, data-parallel over the CPU's threads.
//!
//! burn's CPU backend parallelises little inside the small ops of these models, so a second
//! thread added almost nothing to a step (docs/PROFILE.md). Here the batch is split into one
//! part per thread; each part runs forward and backward on its own replica of the model, and
//! the parts' gradients are averaged, weighted by their sizes — the gradient of the mean loss
//! over the whole batch, as one replica would compute it (up to float rounding).
//!
//! Each replica's parameters are fresh autodiff leaves (same values and parameter ids), so the
//! replicas build separate autodiff graphs: burn's autodiff merges graphs that share a node
//! under one lock, which would serialise the backward passes. The random numbers a part uses
//! (its own generator for noise, augmentation and ε, and its own dropout stream) are drawn
//! from the step's generator before the parts start, so a step is deterministic for a given
//! seed and thread count whichever thread runs which part.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use rayon::prelude::*;

use crate::kernels;

/// Fewest samples worth a part of their own: below this the per-part overhead (a replica,
/// a graph, the gradient sums) outweighs a thread's share of the work.
const MIN_PART: usize = 16;

/// The gradients and mean loss of one step on `batch`, over up to `threads` parts.
///
/// With one part it is exactly `loss(model, batch, rng)` and its backward pass.
pub fn gradients<M, L>(
    model: &M,
    batch: &[usize],
    threads: usize,
    rng: &mut StdRng,
    loss: &L,
) -> (GradientsParams, Tensor<1>)
where
    M: Module + Clone + Send + Sync,
    L: Fn(&M, &[usize], &mut StdRng) -> Tensor<1> + Sync,
{
    let parts = threads.min(batch.len() / MIN_PART).max(1);
    if parts == 1 {
        let value = loss(model, batch, rng);
        let grads = GradientsParams::from_grads(value.backward(), model);
        return (grads, value);
    }
    let chunk = batch.len().div_ceil(parts);
    let work: Vec<(&[usize], u64, u64)> = batch
        .chunks(chunk)
        .map(|part| (part, rng.random(), rng.random()))
        .collect();
    let results: Vec<(GradientsParams, Tensor<1>, usize)> = work
        .into_par_iter()
        .map(|(part, seed, dropout_seed)| {
            let replica = model.clone().map(&mut FreshLeaves);
            let mut rng = StdRng::seed_from_u64(seed);
            let value =
                kernels::with_dropout_stream(dropout_seed, || loss(&replica, part, &mut rng));
            let grads = GradientsParams::from_grads(value.backward(), &replica);
            (grads, value.detach(), part.len())
        })
        .collect();
    let total = batch.len() as f32;
    let mut sum = WeightedSum {
        parts: results
            .iter()
            .map(|(grads, _, n)| (grads, *n as f32 / total))
            .collect(),
        out: GradientsParams::new(),
    };
    model.visit(&mut sum);
    let value = results
        .iter()
        .map(|(_, value, n)| value.clone() * (*n as f32 / total))
        .reduce(|a, b| a + b)
        .expect("at least two parts");
    (sum.out, value)
}

/// Each float parameter as a new autodiff leaf with the same value and id (frozen ones stay
/// frozen).
struct FreshLeaves;

impl ModuleMapper for FreshLeaves {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|tensor| {
            let tracked = tensor.is_require_grad();
            let leaf = tensor.detach();
            if tracked { leaf.require_grad() } else { leaf }
        })
    }
}

/// Σ weight·gradient over the parts, per parameter (parameters without a gradient in any
/// part, such as frozen ones, get none).
struct WeightedSum<'a> {
    parts: Vec<(&'a GradientsParams, f32)>,
    out: GradientsParams,
}

impl ModuleVisitor for WeightedSum<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let id: ParamId = param.id;
        let sum = self
            .parts
            .iter()
            .filter_map(|(grads, weight)| grads.get::<D>(id).map(|g| g * *weight))
            .reduce(|a, b| a + b);
        if let Some(sum) = sum {
            self.out.register(id, sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::IMAGE_PIXELS;
    use crate::data::mnist::images_tensor;
    use crate::model::{ConvAe, ConvAeConfig};

    /// Every float parameter's gradient values, in visiting order.
    fn values(model: &ConvAe, grads: &GradientsParams) -> Vec<Vec<f32>> {
        struct Collect<'a>(&'a GradientsParams, Vec<Vec<f32>>);
        impl ModuleVisitor for Collect<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let g = self
                    .0
                    .get::<D>(param.id)
                    .expect("a gradient for every parameter");
                self.1.push(g.into_data().try_to_vec().unwrap());
            }
        }
        let mut collect = Collect(grads, Vec::new());
        model.visit(&mut collect);
        collect.1
    }

    fn random_images(count: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..count * IMAGE_PIXELS).map(|_| rng.random()).collect()
    }

    /// The ConvAE's reconstruction MSE on the images of a batch part.
    fn reconstruction_loss<'a>(
        pixels: &'a [f32],
        device: &'a Device,
    ) -> impl Fn(&ConvAe, &[usize], &mut StdRng) -> Tensor<1> + Sync + 'a {
        move |m, part, _| {
            let rows = part
                .iter()
                .flat_map(|&i| &pixels[i * IMAGE_PIXELS..][..IMAGE_PIXELS]);
            let x = images_tensor(rows.copied().collect(), device);
            m.mse(x.clone(), x)
        }
    }

    #[test]
    fn parts_give_the_whole_batch_gradient_and_repeat_exactly() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let model = ConvAeConfig::new().with_dropout(0.0).init(&device);
        let pixels = random_images(70, 9);
        let loss = reconstruction_loss(&pixels, &device);
        // 70 samples: parts of 35 (two threads) and 24, 24, 22 (three): unequal parts are
        // weighted by their sizes.
        let batch: Vec<usize> = (0..70).collect();
        let run = |threads| {
            let (grads, value) = gradients(
                &model,
                &batch,
                threads,
                &mut StdRng::seed_from_u64(1),
                &loss,
            );
            (values(&model, &grads), value.into_scalar::<f32>())
        };
        let (whole, whole_loss) = run(1);
        for threads in [2, 3] {
            let (parts, parts_loss) = run(threads);
            assert!((parts_loss - whole_loss).abs() <= 1e-6 * whole_loss.abs());
            for (a, b) in whole.iter().flatten().zip(parts.iter().flatten()) {
                let scale = whole.iter().flatten().fold(1e-6f32, |m, v| m.max(v.abs()));
                assert!(
                    (a - b).abs() <= 1e-4 * scale,
                    "{a} vs {b} ({threads} threads)"
                );
            }
            assert_eq!(parts, run(threads).0, "the same step twice");
        }
    }

    #[test]
    fn dropout_masks_follow_the_step_seed_not_the_threads_timing() {
        let device = Device::flex().autodiff();
        let pixels = random_images(64, 4);
        let loss = reconstruction_loss(&pixels, &device);
        let batch: Vec<usize> = (0..64).collect();
        // One initialisation: the device's generator is shared with tests running alongside,
        // and the parts' masks must not depend on it.
        let model = ConvAeConfig::new().with_dropout(0.5).init(&device);
        let run = |step_seed| {
            let mut rng = StdRng::seed_from_u64(step_seed);
            let (grads, _) = gradients(&model, &batch, 2, &mut rng, &loss);
            values(&model, &grads)
        };
        let first = run(1);
        for _ in 0..3 {
            assert_eq!(first, run(1));
        }
        assert_ne!(first, run(2), "another step seed draws other masks");
    }
}
