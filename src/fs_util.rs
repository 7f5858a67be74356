//! File writes that never leave a truncated file behind, the start-up sweep of what a killed
//! process left, and the named pause points the crash tests kill the trainer at.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Marks the temporary files of [`write_atomic`]: `.<name>.tmp-<pid>-<n>` beside the target.
const TEMP_MARKER: &str = ".tmp-";

/// Writes `bytes` to a temporary file beside `path`, syncs it, renames it over `path` (atomic on
/// POSIX) and syncs the directory, so a crash or a kill at any instant leaves either the old
/// file or the new one, and a completed write survives a power cut.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("no file name"))?
        .to_string_lossy();
    let tmp = dir.join(format!(
        ".{name}{TEMP_MARKER}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Makes a directory's entries (a rename, a new file) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Removes the temporary files that killed writers left in `dir` (those of [`write_atomic`]
/// whose process is gone), returning how many. Other files are never touched.
pub fn sweep_temp_files(dir: &Path) -> std::io::Result<usize> {
    sweep_dead_writers(dir, temp_file_pid, |path| std::fs::remove_file(path))
}

/// Removes the entries of `dir` that `writer_pid` names as written by a process that is gone.
fn sweep_dead_writers(
    dir: &Path,
    writer_pid: impl Fn(&str) -> Option<u32>,
    remove: impl Fn(&Path) -> std::io::Result<()>,
) -> std::io::Result<usize> {
    let mut removed = 0;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Some(pid) = writer_pid(&entry.file_name().to_string_lossy()) else {
            continue;
        };
        if pid != std::process::id() && !process_alive(pid) {
            remove(&entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Marks a directory being assembled before it is renamed into place: `.<name>.creating-<pid>`.
pub const STAGING_MARKER: &str = ".creating-";

/// Removes the directories that killed processes were assembling in `dir` (`.<name>.creating-
/// <pid>` whose process is gone), returning how many.
pub fn sweep_dead_staging_dirs(dir: &Path) -> std::io::Result<usize> {
    let staging_pid = |name: &str| {
        let (_, pid) = name.strip_prefix('.')?.rsplit_once(STAGING_MARKER)?;
        pid.parse::<u32>().ok()
    };
    // A file of that name is not ours: left alone.
    let remove = |path: &Path| {
        if path.is_dir() {
            std::fs::remove_dir_all(path)
        } else {
            Ok(())
        }
    };
    sweep_dead_writers(dir, staging_pid, remove)
}

/// The writer's process id of a temporary file name of [`write_atomic`].
fn temp_file_pid(name: &str) -> Option<u32> {
    if !name.starts_with('.') {
        return None;
    }
    let (_, tail) = name.rsplit_once(TEMP_MARKER)?;
    let (pid, counter) = tail.split_once('-')?;
    counter.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Whether a process is running (a live writer's temporary file is left alone).
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        // Without /proc, only the files of this process could be told apart; assume the writer
        // is gone (the sweep runs before a directory is written to).
        false
    }
}

/// Environment variable naming pause points (comma-separated) for crash tests.
pub const PAUSE_ENV: &str = "DIGIT_LAB_PAUSE_AT";

/// A named point in a multi-file update. When `DIGIT_LAB_PAUSE_AT` names it (or a prefix of it
/// ending before a `:`, so `checkpoint:committed` matches `checkpoint:committed:3`), the process says
/// `digit-lab: paused at <name>` on stderr and waits there until it is killed, so a test can
/// kill it at exactly that point. Without the variable this costs one lookup.
pub fn pause_point(name: &str) {
    let Some(points) = std::env::var_os(PAUSE_ENV) else {
        return;
    };
    // `a:b` also matches `a:b:c` (a point named with an epoch matches its general name).
    let matches = |p: &str| name == p || name.strip_prefix(p).is_some_and(|r| r.starts_with(':'));
    if points.to_string_lossy().split(',').any(matches) {
        eprintln!("digit-lab: paused at {name}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("digit-lab-fs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn writes_and_replaces() {
        let dir = temp_dir("replace");
        let path = dir.join("a/b.bin");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_sweep_removes_dead_writers_temp_files_only() {
        let dir = temp_dir("sweep");
        std::fs::create_dir_all(&dir).unwrap();
        // pid 0 is never a user process; the current process is alive.
        let dead = dir.join(".manifest.json.tmp-0-3");
        let live = dir.join(format!(".x.bpk.tmp-{}-0", std::process::id()));
        let user = dir.join("notes.tmp-1-2");
        for f in [&dead, &live, &user] {
            std::fs::write(f, b"x").unwrap();
        }
        assert_eq!(sweep_temp_files(&dir).unwrap(), 1);
        assert!(!dead.exists() && live.exists() && user.exists());
        assert_eq!(sweep_temp_files(&dir.join("missing")).unwrap(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn temp_names_carry_the_writer_pid() {
        assert_eq!(temp_file_pid(".ae.bpk.tmp-123-4"), Some(123));
        assert_eq!(temp_file_pid("ae.bpk"), None);
        assert_eq!(temp_file_pid(".ae.bpk.tmp-x-4"), None);
        assert_eq!(temp_file_pid(".ae.bpk.tmp-12"), None);
    }
}
