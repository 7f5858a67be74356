//! In-browser mini-training, written once and used by the training bundle's web API
//! (`web::training`) and by native tests: the MNIST subset it trains on, a step-by-step ConvAE or
//! VAE training session, and fine-tuning the classifier on a user's own drawings.

pub mod finetune;
pub mod session;
pub mod subset;

pub use finetune::{Finetuner, Layers};
pub use session::{ExportedModel, LatentMap, LiveModel, Progress, SessionConfig, TrainingSession};
pub use subset::Subset;
