//! "Teach it your handwriting": fine-tunes the bundled classifier on a user's own drawings.
//! Only the head (or the two dense layers and the head) learn; the convolutions stay as trained,
//! so a handful of drawings cannot wreck the features. Each step sees the drawings with a fresh
//! random warp (shift, rotation, scale, stroke width), which is what makes a few drawings
//! generalise to the user's next ones.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use crate::data::IMAGE_PIXELS;
use crate::data::augment::{AugmentConfig, augment_images};
use crate::data::mnist::{images_tensor, labels_tensor};
use crate::model::{CLASSES, Classifier};

/// Which layers fine-tuning changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layers {
    /// Only the final Linear(→10).
    Head,
    /// The encoder's two dense layers and the head.
    Dense,
}

impl Layers {
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "head" => Ok(Self::Head),
            "dense" => Ok(Self::Dense),
            other => Err(format!(
                "layers must be \"head\" or \"dense\", got \"{other}\""
            )),
        }
    }
}

pub const MAX_STEPS: usize = 1000;
pub const MAX_EXAMPLES: usize = 2000;

/// Checks user examples: `n·784` pixels in [0, 1] and `n` labels in 0..10.
pub fn check_examples(images: &[f32], labels: &[u8]) -> Result<(), String> {
    if labels.is_empty() {
        return Err("no examples: draw and add a few digits first".into());
    }
    if labels.len() > MAX_EXAMPLES {
        return Err(format!(
            "at most {MAX_EXAMPLES} examples, got {}",
            labels.len()
        ));
    }
    if images.len() != labels.len() * IMAGE_PIXELS {
        return Err(format!(
            "{} labels need {} pixels (784 per image), got {}",
            labels.len(),
            labels.len() * IMAGE_PIXELS,
            images.len()
        ));
    }
    if let Some(l) = labels.iter().find(|&&l| usize::from(l) >= CLASSES) {
        return Err(format!("labels must be digits 0-9, got {l}"));
    }
    if let Some(i) = images
        .iter()
        .position(|v| !v.is_finite() || !(0.0..=1.0).contains(v))
    {
        return Err(format!(
            "pixel {i} is {} (pixels must be numbers in [0, 1])",
            images[i]
        ));
    }
    Ok(())
}

pub struct Finetuner {
    device: Device,
    /// The bundled classifier, to start over from.
    original: Classifier,
    model: Classifier,
    optimizer: ModuleOptimizer,
    rng: StdRng,
    augment: AugmentConfig,
    layers: Layers,
    steps: usize,
    /// Drawings and step size of the latest `fit`, for the exported model's manifest entry.
    last_fit: Option<(usize, f64)>,
}

impl Finetuner {
    /// `classifier` must live on the autodiff version of `device`.
    pub fn new(classifier: Classifier, layers: Layers, device: &Device, seed: u64) -> Self {
        let mut model = classifier;
        model.encoder = match layers {
            Layers::Head => model.encoder.freeze(),
            Layers::Dense => model.encoder.freeze_convolutions(),
        };
        Self {
            device: device.clone(),
            original: model.clone(),
            model,
            optimizer: AdamConfig::new().init(),
            rng: StdRng::seed_from_u64(seed),
            augment: AugmentConfig::default(),
            layers,
            steps: 0,
            last_fit: None,
        }
    }

    /// Steps taken since the start (or the last reset).
    pub fn steps(&self) -> usize {
        self.steps
    }

    pub fn layers(&self) -> Layers {
        self.layers
    }

    /// Drawings and learning rate of the latest `fit`; `None` before the first (or after a reset).
    pub fn last_fit(&self) -> Option<(usize, f64)> {
        self.last_fit
    }

    /// The fine-tuned classifier (evaluation mode), e.g. to save with `store::to_bytes_async`.
    pub fn model(&self) -> Classifier {
        self.model.valid()
    }

    /// `steps` Adam steps on all examples (each step a new random warp of every drawing).
    /// Returns the mean cross-entropy of the last step (not yet read).
    pub fn fit(
        &mut self,
        images: &[f32],
        labels: &[u8],
        steps: usize,
        learning_rate: f64,
    ) -> Result<Tensor<1>, String> {
        check_examples(images, labels)?;
        if !(1..=MAX_STEPS).contains(&steps) {
            return Err(format!(
                "steps must be between 1 and {MAX_STEPS}, got {steps}"
            ));
        }
        if !(learning_rate.is_finite() && learning_rate > 0.0 && learning_rate <= 1.0) {
            return Err(format!(
                "learning rate must be a number in (0, 1], got {learning_rate}"
            ));
        }
        let autodiff = self.device.clone().autodiff();
        let targets = labels_tensor(labels, &autodiff);
        let mut last = None;
        for _ in 0..steps {
            let mut batch = images.to_vec();
            augment_images(&mut batch, &self.augment, &mut self.rng);
            let loss = self
                .model
                .cross_entropy(images_tensor(batch, &autodiff), targets.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &self.model);
            self.model = self
                .optimizer
                .step(learning_rate, self.model.clone(), grads);
            self.steps += 1;
            last = Some(loss.inner());
        }
        self.last_fit = Some((labels.len(), learning_rate));
        Ok(last.expect("at least one step"))
    }

    /// Class probabilities of the fine-tuned model, `[n, 10]`.
    pub fn probabilities(&self, images: &[f32]) -> Tensor<2> {
        self.model
            .valid()
            .probabilities(images_tensor(images.to_vec(), &self.device))
    }

    /// Class probabilities of the bundled model, `[n, 10]`.
    pub fn original_probabilities(&self, images: &[f32]) -> Tensor<2> {
        self.original
            .valid()
            .probabilities(images_tensor(images.to_vec(), &self.device))
    }

    /// Back to the bundled classifier (drops what was learnt and the optimiser's state).
    pub fn reset(&mut self) {
        self.model = self.original.clone();
        self.optimizer = AdamConfig::new().init();
        self.steps = 0;
        self.last_fit = None;
    }
}

/// Mean cross-entropy (nats) of rows of `probs` (`[n, 10]`, row-major) against `labels`; a
/// probability of 0 counts as e^-100 rather than an infinite loss.
pub fn cross_entropy(probs: &[f32], labels: &[u8]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    let total: f64 = probs
        .chunks_exact(CLASSES)
        .zip(labels)
        .map(|(p, &l)| -f64::from(p[usize::from(l)]).max((-100f64).exp()).ln())
        .sum();
    total / labels.len() as f64
}

/// Fraction of rows of `probs` (`[n, 10]`, row-major) whose largest entry is the label.
pub fn accuracy(probs: &[f32], labels: &[u8]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    let correct = probs
        .chunks_exact(CLASSES)
        .zip(labels)
        .filter(|(p, l)| {
            let best = p
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(k, _)| k);
            best == Some(usize::from(**l))
        })
        .count();
    correct as f64 / labels.len() as f64
}
