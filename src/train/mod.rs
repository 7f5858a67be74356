//! Native training: the shared loop (`fit`) with its weight averaging (`average`) and epoch
//! checkpoints (`checkpoint`) and data-parallel step gradients (`step`), one recipe per model (`tasks`) with outlier exposure for the best classifier (`outliers`), run directories (`run`),
//! publishing a finished run into a weights directory (`publish`), the speed benchmark
//! (`bench`) and flush-to-zero for the CPU kernels (`denormals`).

pub mod average;
pub mod bench;
pub mod checkpoint;
pub mod denormals;
pub mod fit;
pub mod outliers;
pub mod publish;
pub mod run;
pub mod step;
pub mod tasks;

pub use fit::{EpochStats, FitConfig, FitError, FitOutcome, Optimizer, Schedule, fit};
pub use run::{Run, RunError, RunSpec};
pub use tasks::{Context, TrainError};
