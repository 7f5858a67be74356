//! Outlier exposure for the best classifier: each batch of digits comes with drawings that are
//! not digits (`analysis::non_digits`, a seed of their own), which the loss pushes towards the
//! uniform distribution (`Classifier::outlier_exposure_loss`), so that a letter or a scribble
//! gets no confident digit. Some kinds are kept out of the pool, so that the digit check can
//! still be measured on kinds that neither the classifier nor the check has seen.

use rand::Rng;
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use crate::analysis::non_digits;
use crate::data::IMAGE_PIXELS;
use crate::data::augment::{AugmentConfig, augment_images};

/// How the non-digits join the training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutlierExposure {
    /// Non-digits per batch, as a share of the batch's digits.
    pub share: f32,
    /// Weight of their loss (to the uniform distribution) against the digits' cross-entropy.
    pub weight: f32,
    /// Non-digits drawn once, before training; each batch samples from them.
    pub pool: usize,
    /// Seed of the pool: not one the digit check fits, chooses or reports on (1 to 4).
    pub seed: u64,
    /// Kinds never drawn into the pool (`non_digits::KINDS`).
    pub kinds_left_out: Vec<String>,
}

impl OutlierExposure {
    /// `share` non-digits per digit at the default weight, pool, seed and kinds left out: the
    /// smileys, spirals and hand-drawn hearts, for the check to be measured on kinds no model
    /// has seen; and the partial digits, some of which are shaped like a whole digit (a nine
    /// without its tail is an o), which the classifier must not learn to doubt.
    pub fn with_share(share: f32) -> Self {
        Self {
            share,
            weight: 0.5,
            pool: 20_000,
            seed: 1000,
            kinds_left_out: ["smiley", "spiral", "heart", "partial_digit"]
                .map(String::from)
                .to_vec(),
        }
    }

    /// Every setting in range; the message names the one that is not.
    pub fn check(&self) -> Result<(), String> {
        if !(self.share.is_finite() && self.share > 0.0 && self.share <= 4.0) {
            return Err(format!(
                "outliers.share must be in (0, 4], got {}",
                self.share
            ));
        }
        if !(self.weight.is_finite() && (0.0..=10.0).contains(&self.weight)) {
            return Err(format!(
                "outliers.weight must be in [0, 10], got {}",
                self.weight
            ));
        }
        if !(1..=200_000).contains(&self.pool) {
            return Err(format!(
                "outliers.pool must be in 1..=200000, got {}",
                self.pool
            ));
        }
        non_digits::check_left_out(&self.kinds_left_out)
            .map_err(|e| format!("outliers.kinds_left_out: {e}"))?;
        if (1..=4).contains(&self.seed) {
            return Err(format!(
                "outliers.seed {} is one the digit check fits or measures on (1 to 4)",
                self.seed
            ));
        }
        Ok(())
    }

    /// Non-digits per batch of `batch` digits (at least one).
    pub fn per_batch(&self, batch: usize) -> usize {
        ((batch as f32 * self.share).round() as usize).max(1)
    }
}

/// The drawn non-digits a run samples its outliers from.
pub struct OutlierPool {
    pixels: Vec<f32>,
}

impl OutlierPool {
    /// Draws the pool (deterministic for the settings, so a resumed run gets the same one).
    pub fn draw(settings: &OutlierExposure) -> Result<Self, String> {
        let (pixels, _) =
            non_digits::generate_without(settings.pool, settings.seed, &settings.kinds_left_out)?;
        Ok(Self { pixels })
    }

    pub fn len(&self) -> usize {
        self.pixels.len() / IMAGE_PIXELS
    }

    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// `count` non-digits picked at random, half of them warped as the digits are.
    pub fn sample(&self, count: usize, augment: &AugmentConfig, rng: &mut StdRng) -> Vec<f32> {
        let warps = AugmentConfig {
            redraw_probability: 0.0,
            ..augment.clone()
        };
        let mut local = StdRng::seed_from_u64(rng.random());
        let mut out = Vec::with_capacity(count * IMAGE_PIXELS);
        for _ in 0..count {
            let i = local.random_range(0..self.len());
            let start = out.len();
            out.extend_from_slice(&self.pixels[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS]);
            if local.random_bool(0.5) {
                augment_images(&mut out[start..], &warps, &mut local);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_out_of_range_are_named() {
        let ok = OutlierExposure::with_share(0.5);
        assert_eq!(ok.check(), Ok(()));
        assert_eq!(ok.per_batch(128), 64);
        assert_eq!(OutlierExposure::with_share(0.001).per_batch(128), 1);
        for (bad, field) in [
            (
                OutlierExposure {
                    share: f32::NAN,
                    ..ok.clone()
                },
                "share",
            ),
            (
                OutlierExposure {
                    share: 0.0,
                    ..ok.clone()
                },
                "share",
            ),
            (
                OutlierExposure {
                    weight: -1.0,
                    ..ok.clone()
                },
                "weight",
            ),
            (
                OutlierExposure {
                    pool: 0,
                    ..ok.clone()
                },
                "pool",
            ),
            (
                OutlierExposure {
                    seed: 3,
                    ..ok.clone()
                },
                "seed",
            ),
        ] {
            let e = bad.check().unwrap_err();
            assert!(e.contains(&format!("outliers.{field}")), "{e}");
        }
    }

    #[test]
    fn the_pool_is_the_same_for_the_same_settings_and_samples_its_own_images() {
        let settings = OutlierExposure {
            pool: 40,
            ..OutlierExposure::with_share(0.5)
        };
        let pool = OutlierPool::draw(&settings).unwrap();
        assert_eq!(pool.len(), 40);
        assert_eq!(OutlierPool::draw(&settings).unwrap().pixels, pool.pixels);
        let none = AugmentConfig::identity();
        let picked = pool.sample(7, &none, &mut StdRng::seed_from_u64(1));
        assert_eq!(picked.len(), 7 * IMAGE_PIXELS);
        for image in picked.chunks_exact(IMAGE_PIXELS) {
            assert!(pool.pixels.chunks_exact(IMAGE_PIXELS).any(|p| p == image));
        }
    }
}
