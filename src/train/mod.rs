//! Native training: the shared loop (`fit`) with its weight averaging (`average`), one recipe
//! per model (`tasks`) and the speed benchmark (`bench`).

pub mod average;
pub mod bench;
pub mod fit;
pub mod tasks;

pub use fit::{EpochStats, FitConfig, FitError, FitOutcome, Schedule, fit};
pub use tasks::{Context, TrainError};
