//! The Digit Lab trainer CLI: parses flags and calls the library (see `cli`).

use anyhow::Context as _;

mod cli;

fn main() -> std::process::ExitCode {
    let result = digit_lab::train::denormals::flush_denormals_everywhere()
        // Before anything uses rayon: subnormal floats slow training several-fold on Intel CPUs.
        .context("configuring the CPU thread pool")
        .and_then(|()| cli::main());
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes, without a backtrace.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
