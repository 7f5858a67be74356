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
            eprintln!("error: {}", one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, without a backtrace; a cause whose text the message
/// already carries (errors that print their source) is not repeated.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}
