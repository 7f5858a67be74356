//! Hyperparameter search for the ConvAE over the paper's grid: the grid and its overrides
//! (`grid`), budgeted successive halving with a resumable JSON-lines results file (`halving`)
//! and the training trial it runs (`trial`).

pub mod grid;
pub mod halving;
pub mod plan_file;
pub mod trial;

pub use grid::{Grid, GridError, SearchPoint};
pub use halving::{
    HalvingPlan, ResultsFile, SearchError, SearchStop, SearchSummary, TrialOutcome, TrialRecord,
    ranking, run,
};
