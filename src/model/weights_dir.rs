//! A weights directory (`weights/` is one, and so is every finished training run): a
//! `manifest.json` and the files it names. Weights and history files are named by their content
//! hash and never rewritten; the manifest is replaced by one atomic rename, the single commit
//! point of any change. A crash at any instant leaves the old manifest with its files, or the new
//! one with its files; files no manifest names any more are removed only after the commit, and
//! by the start-up [`WeightsDir::sweep`] if a crash came first.

use std::path::{Path, PathBuf};

use super::manifest::{Manifest, ModelEntry, ModelKind};
use super::{LoadError, Model};
use crate::fs_util::{pause_point, sweep_temp_files, write_atomic};
use burn::prelude::Device;

pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: unreadable manifest, nothing was changed: {reason}")]
    Manifest { path: String, reason: String },
    #[error("{path}: not a directory")]
    NotADirectory { path: String },
    #[error("{path}: no manifest.json (not a weights directory or a finished run)")]
    Missing { path: String },
    #[error(
        "{path}: holds weights files ({file}, …) but no readable manifest.json; nothing was changed (restore its manifest.json, or publish into an empty directory)"
    )]
    Orphaned { path: String, file: String },
    #[error("{path}: manifest.json is a link to a missing file; nothing was changed")]
    DanglingManifest { path: String },
    #[error("{path}: manifest entry `{model}` has no sha256, so its weights cannot be checked")]
    NoHash { path: String, model: String },
    #[error(
        "{path}: another process has held this directory's lock for {seconds} s; nothing was changed (is a digit-lab process stuck? DIGIT_LAB_LOCK_TIMEOUT sets the wait)"
    )]
    LockTimeout { path: String, seconds: u64 },
    #[error("{path}: the weights do not match the manifest's SHA-256 (the file was changed)")]
    HashMismatch { path: String },
    #[error("{path}: {source}")]
    Load { path: String, source: LoadError },
}

/// A model to commit: its entry (file names are filled in from the content) and its bytes.
pub struct NewModel {
    pub kind: ModelKind,
    pub entry: ModelEntry,
    pub weights: Vec<u8>,
    pub history: Vec<u8>,
}

/// An opened weights directory.
pub struct WeightsDir {
    pub path: PathBuf,
    pub manifest: Manifest,
}

pub use super::store::sha256_hex;

/// `<key>-<first 16 hex digits of the hash><extension>`.
fn content_name(kind: ModelKind, hash: &str, extension: &str) -> String {
    format!("{}-{}{extension}", kind.key(), &hash[..16])
}

/// Whether `name` is a file this store writes (and so may remove once nothing names it).
fn is_content_name(name: &str) -> bool {
    let stem = name
        .strip_suffix(".bpk")
        .or_else(|| name.strip_suffix(".history.json"));
    let Some((key, hash)) = stem.and_then(|s| s.rsplit_once('-')) else {
        return false;
    };
    ModelKind::ALL.iter().any(|k| k.key() == key)
        && hash.len() == 16
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

impl WeightsDir {
    fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// Opens a directory that must hold a manifest.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_inner(path, false)
    }

    /// Opens a directory to publish into: a missing directory or manifest is an empty store; an
    /// unreadable manifest is an error and nothing is touched.
    pub fn open_or_create(path: &Path) -> Result<Self, StoreError> {
        Self::open_inner(path, true)
    }

    fn open_inner(path: &Path, create: bool) -> Result<Self, StoreError> {
        if path.exists() && !path.is_dir() {
            return Err(StoreError::NotADirectory {
                path: path.display().to_string(),
            });
        }
        let manifest_path = path.join(MANIFEST_FILE);
        let manifest = match std::fs::read_to_string(&manifest_path) {
            Ok(text) => Manifest::parse(&text).map_err(|e| StoreError::Manifest {
                path: manifest_path.display().to_string(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                Self::check_unmanaged(path)?;
                Manifest::default()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Missing {
                    path: path.display().to_string(),
                });
            }
            Err(e) => return Err(Self::io(&manifest_path)(e)),
        };
        Ok(Self {
            path: path.to_path_buf(),
            manifest,
        })
    }

    /// A directory without a manifest becomes a store only if it holds none of the
    /// content-named files a store writes: the first commit's sweep would delete them all.
    fn check_unmanaged(path: &Path) -> Result<(), StoreError> {
        let manifest_path = path.join(MANIFEST_FILE);
        if manifest_path.symlink_metadata().is_ok() {
            return Err(StoreError::DanglingManifest {
                path: path.display().to_string(),
            });
        }
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Self::io(path)(e)),
        };
        for entry in entries {
            let name = entry.map_err(Self::io(path))?.file_name();
            let name = name.to_string_lossy();
            if is_content_name(&name) {
                return Err(StoreError::Orphaned {
                    path: path.display().to_string(),
                    file: name.into_owned(),
                });
            }
        }
        Ok(())
    }

    /// The bytes of `kind`'s weights, checked against the manifest's hash.
    pub fn read_weights(&self, kind: ModelKind) -> Result<Vec<u8>, StoreError> {
        let entry = self.manifest.entry(kind).map_err(|e| StoreError::Load {
            path: self.path.join(MANIFEST_FILE).display().to_string(),
            source: e.into(),
        })?;
        let path = self.path.join(&entry.file);
        let Some(expected) = &entry.sha256 else {
            return Err(StoreError::NoHash {
                path: self.path.join(MANIFEST_FILE).display().to_string(),
                model: kind.key().to_string(),
            });
        };
        let bytes = std::fs::read(&path).map_err(Self::io(&path))?;
        if *expected != sha256_hex(&bytes) {
            return Err(StoreError::HashMismatch {
                path: path.display().to_string(),
            });
        }
        Ok(bytes)
    }

    /// Rebuilds `kind` from this directory.
    pub fn load(&self, kind: ModelKind, device: &Device) -> Result<Model, StoreError> {
        let bytes = self.read_weights(kind)?;
        super::load(&self.manifest, kind, &bytes, device).map_err(|source| StoreError::Load {
            path: self
                .path
                .join(&self.manifest.models[kind.key()].file)
                .display()
                .to_string(),
            source,
        })
    }

    /// The history file of `kind`, as raw JSON.
    pub fn read_history(&self, kind: ModelKind) -> Result<String, StoreError> {
        let entry = self.manifest.entry(kind).map_err(|e| StoreError::Load {
            path: self.path.join(MANIFEST_FILE).display().to_string(),
            source: e.into(),
        })?;
        let path = self.path.join(&entry.history);
        std::fs::read_to_string(&path).map_err(Self::io(&path))
    }

    /// Commits models into the directory: writes their content-named files, then the manifest
    /// (the commit point), then removes the files nothing names any more. `update` may change
    /// the manifest's other fields in the same commit.
    pub fn commit(
        &mut self,
        models: Vec<NewModel>,
        update: impl FnOnce(&mut Manifest),
    ) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.path).map_err(Self::io(&self.path))?;
        // One writer at a time: an exclusive lock on the directory, then the manifest as it is
        // now (another process may have committed since this one opened it).
        let _lock = lock_dir(&self.path)?;
        self.manifest = Self::open_or_create(&self.path)?.manifest;
        let manifest_path = self.path.join(MANIFEST_FILE);
        if !manifest_path.exists() {
            // A new store gets its (empty) manifest before any weights file: a directory with
            // weights files and no manifest is then never one of ours, and is refused.
            self.write_manifest(&self.manifest)?;
        }
        self.sweep()?;
        let mut manifest = self.manifest.clone();
        for model in models {
            let hash = sha256_hex(&model.weights);
            let file = content_name(model.kind, &hash, ".bpk");
            let history = content_name(model.kind, &sha256_hex(&model.history), ".history.json");
            for (name, bytes) in [(&file, &model.weights), (&history, &model.history)] {
                let path = self.path.join(name);
                // Same name, same content: an identical file is already in place.
                if !path.exists() {
                    write_atomic(&path, bytes).map_err(Self::io(&path))?;
                }
            }
            let mut entry = model.entry;
            entry.file = file;
            entry.history = history;
            entry.sha256 = Some(hash);
            manifest.models.insert(model.kind.key().to_string(), entry);
        }
        update(&mut manifest);
        pause_point("commit:files-written");
        self.write_manifest(&manifest)?;
        self.manifest = manifest;
        pause_point("commit:manifest-written");
        self.sweep()
    }

    /// Replaces the manifest atomically: the commit point.
    fn write_manifest(&self, manifest: &Manifest) -> Result<(), StoreError> {
        let manifest_path = self.path.join(MANIFEST_FILE);
        let json = serde_json::to_string_pretty(manifest).map_err(|e| StoreError::Manifest {
            path: manifest_path.display().to_string(),
            reason: e.to_string(),
        })? + "\n";
        write_atomic(&manifest_path, json.as_bytes()).map_err(Self::io(&manifest_path))
    }

    /// Removes temporary files of dead writers and content-named files the manifest does not
    /// name (left by a crash between a commit and its clean-up). Files of other names are never
    /// touched.
    pub fn sweep(&self) -> Result<(), StoreError> {
        sweep_temp_files(&self.path).map_err(Self::io(&self.path))?;
        let referenced: Vec<&str> = self
            .manifest
            .models
            .values()
            .flat_map(|e| [e.file.as_str(), e.history.as_str()])
            .collect();
        let entries = match std::fs::read_dir(&self.path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Self::io(&self.path)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(Self::io(&self.path))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_content_name(&name) && !referenced.contains(&name.as_str()) {
                std::fs::remove_file(entry.path()).map_err(Self::io(&entry.path()))?;
            }
        }
        Ok(())
    }
}

/// How long [`lock_dir`] waits for another writer, unless `DIGIT_LAB_LOCK_TIMEOUT` (seconds)
/// says otherwise.
const LOCK_TIMEOUT_SECONDS: u64 = 120;

/// Takes the exclusive lock on a store directory (released when the file is dropped or the
/// process dies). While another process holds it, says so once and waits, up to a limit.
pub fn lock_dir(path: &Path) -> Result<std::fs::File, StoreError> {
    let lock = std::fs::File::open(path).map_err(WeightsDir::io(path))?;
    let seconds = std::env::var("DIGIT_LAB_LOCK_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(LOCK_TIMEOUT_SECONDS);
    let start = std::time::Instant::now();
    let mut told = false;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(lock),
            Err(std::fs::TryLockError::Error(e)) => return Err(WeightsDir::io(path)(e)),
            Err(std::fs::TryLockError::WouldBlock) => {}
        }
        if start.elapsed().as_secs() >= seconds {
            return Err(StoreError::LockTimeout {
                path: path.display().to_string(),
                seconds,
            });
        }
        if !told {
            eprintln!(
                "{}: another process is writing here; waiting for its lock (up to {seconds} s)",
                path.display()
            );
            told = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_names_are_recognised() {
        let hash = sha256_hex(b"x");
        let name = content_name(ModelKind::DaeWide, &hash, ".bpk");
        assert!(
            name.starts_with("dae_wide-") && is_content_name(&name),
            "{name}"
        );
        assert!(is_content_name("vae-0123456789abcdef.history.json"));
        assert!(!is_content_name("vae.bpk"));
        assert!(!is_content_name("maps.json"));
        assert!(!is_content_name("other-0123456789abcdef.bpk"));
        assert!(!is_content_name("ae-0123456789abcdeg.bpk"));
    }
}
