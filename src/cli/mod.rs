//! Subcommands of the trainer CLI that have grown their own file.

pub mod report;
pub mod search;
pub mod units;
pub mod weights;
