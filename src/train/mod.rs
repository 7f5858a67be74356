//! Native training: the shared loop (`fit`) with its weight averaging (`average`), one recipe
//! per model (`tasks`), the speed benchmark (`bench`) and flush-to-zero for the CPU kernels
//! (`denormals`).

pub mod average;
pub mod bench;
pub mod denormals;
pub mod fit;
pub mod tasks;

pub use fit::{EpochStats, FitConfig, FitError, FitOutcome, Optimizer, Schedule, fit};
pub use tasks::{Context, TrainError};
