//! Stochastic weight averaging (Izmailov et al., 2018): the mean of a model's parameters at the
//! end of several epochs, which usually sits in a flatter, better-generalising part of the loss
//! surface than any single one of them. The models here have no batch norm, so the averaged
//! parameters need no statistics recomputed.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;

/// Running sums of every float parameter, keyed by parameter id, flattened to 1-D so that
/// parameters of any rank share one map.
#[derive(Default)]
pub struct WeightAverage {
    sums: HashMap<ParamId, Tensor<1>>,
    count: usize,
}

struct Accumulate<'a>(&'a mut HashMap<ParamId, Tensor<1>>);

impl ModuleVisitor for Accumulate<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let flat: Tensor<1> = param.val().reshape([-1]);
        let sum = match self.0.remove(&param.id) {
            Some(sum) => sum + flat,
            None => flat,
        };
        self.0.insert(param.id, sum);
    }
}

struct Replace<'a> {
    sums: &'a HashMap<ParamId, Tensor<1>>,
    count: f32,
    missing: usize,
}

impl ModuleMapper for Replace<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.sums.get(&param.id) {
            Some(sum) => {
                let mean = sum.clone() / self.count;
                param.map(|tensor| mean.reshape(tensor.shape()))
            }
            None => {
                self.missing += 1;
                param
            }
        }
    }
}

impl WeightAverage {
    /// Adds one model's parameters to the average.
    pub fn add<M: Module>(&mut self, model: &M) {
        model.visit(&mut Accumulate(&mut self.sums));
        self.count += 1;
    }

    /// The running sums as a copy of `model` (same parameter ids), for a checkpoint; `None`
    /// before anything was added.
    pub fn sums_as<M: Module>(&self, model: M) -> Option<M> {
        if self.count == 0 {
            return None;
        }
        let mut replace = Replace {
            sums: &self.sums,
            count: 1.0,
            missing: 0,
        };
        let sums = model.map(&mut replace);
        (replace.missing == 0).then_some(sums)
    }

    /// The average of `count` models whose parameter sums `sums` holds (from [`Self::sums_as`]).
    pub fn from_sums<M: Module>(sums: &M, count: usize) -> Self {
        let mut average = Self::default();
        if count > 0 {
            sums.visit(&mut Accumulate(&mut average.sums));
            average.count = count;
        }
        average
    }

    /// How many models the average holds.
    pub fn count(&self) -> usize {
        self.count
    }

    /// `model` with every parameter replaced by its average, or `None` when nothing was added
    /// yet or `model` has parameters the average has not seen (another architecture).
    pub fn apply<M: Module>(&self, model: M) -> Option<M> {
        if self.count == 0 {
            return None;
        }
        let mut replace = Replace {
            sums: &self.sums,
            count: self.count as f32,
            missing: 0,
        };
        let averaged = model.map(&mut replace);
        (replace.missing == 0).then_some(averaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};

    fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
        tensor.into_data().try_to_vec().unwrap()
    }

    /// `model` with every parameter set to `value` (ids kept, as after an optimiser step).
    fn filled(model: Linear, value: f32) -> Linear {
        struct Fill(f32);
        impl ModuleMapper for Fill {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let value = self.0;
                param.map(|t| t.ones_like() * value)
            }
        }
        model.map(&mut Fill(value))
    }

    #[test]
    fn the_average_of_three_models_is_their_elementwise_mean() {
        let device = Device::flex();
        let model = LinearConfig::new(3, 2).init(&device);
        let mut average = WeightAverage::default();
        for value in [1.0, 2.0, 6.0] {
            average.add(&filled(model.clone(), value));
        }
        assert_eq!(average.count(), 3);
        let averaged = average.apply(model.clone()).expect("same parameters");
        assert_eq!(values(averaged.weight.val()), vec![3.0; 6]);
        assert_eq!(values(averaged.bias.unwrap().val()), vec![3.0; 2]);
        // Shapes are restored, not just values.
        assert_eq!(averaged.weight.val().dims(), model.weight.val().dims());
    }

    #[test]
    fn an_empty_average_or_another_model_gives_none() {
        let device = Device::flex();
        let model = LinearConfig::new(3, 2).init(&device);
        assert!(WeightAverage::default().apply(model.clone()).is_none());
        let mut average = WeightAverage::default();
        average.add(&model);
        let other = LinearConfig::new(3, 2).init(&device); // fresh parameter ids
        assert!(average.apply(other).is_none());
    }
}
