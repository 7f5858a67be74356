//! Hyperparameter search for the ConvAE over the paper's grid: the grid and its overrides
//! (`grid`), budgeted successive halving with a resumable JSON-lines results file (`halving`)
//! and the training trial it runs (`trial`). A rung can be split over processes or Slurm array
//! tasks (`shard`), each with a results file of its own, read back as one search (`merge`) by
//! the sharded step (`sharded`). The finalists' full runs are summarised for the report by
//! `full_runs`.

pub mod full_runs;
pub mod grid;
pub mod halving;
pub mod merge;
pub mod plan_file;
pub mod shard;
pub mod sharded;
pub mod trial;

pub use grid::{Grid, GridError, SearchPoint};
pub use halving::{
    HalvingPlan, ResultsFile, SearchError, SearchStop, SearchSummary, TrialOutcome, TrialRecord,
    ranking, run,
};
pub use shard::Shard;
pub use sharded::{Frontier, ShardSummary, frontier, progress, run_shard};
