//! Running the trainer binary from a test: one-line checks of its outcome, and processes paused
//! at a named point (`DIGIT_LAB_PAUSE_AT`) so that a test can kill them exactly there.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// The trainer, started in the repository root, with no pause point inherited.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_digit-lab"));
    c.current_dir(super::root());
    c.env_remove(digit_lab::fs_util::PAUSE_ENV);
    c
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn run_ok(command: &mut Command) -> Output {
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

/// A process paused at a named point; killed (SIGKILL on Unix) when dropped, so that a failed
/// assertion leaves no process behind.
pub struct Paused(Child);

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Kills a paused process.
pub fn sigkill(paused: Paused) {
    drop(paused);
}

/// Starts the trainer with `args` in the repository root, paused at `point`, and returns it once
/// it has reached it.
pub fn spawn_paused(args: &[String], point: &str) -> Paused {
    spawn_paused_in(&super::root(), args, point)
}

/// [`spawn_paused`] in the working directory `cwd`.
pub fn spawn_paused_in(cwd: &Path, args: &[String], point: &str) -> Paused {
    let mut child = bin()
        .current_dir(cwd)
        .args(args)
        .env(digit_lab::fs_util::PAUSE_ENV, point)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let paused = Paused(child);
    let reached = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stderr)
            .lines()
            .any(|line| line.is_ok_and(|l| l.contains("paused at")))
    });
    assert!(reached.join().unwrap(), "{args:?} never reached {point}");
    paused
}
