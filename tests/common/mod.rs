//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod process;

use std::path::{Path, PathBuf};

use digit_lab::data::{Dataset, IMAGE_PIXELS, IMAGE_SIDE, Mnist};

/// The repository root. `cargo test` sets CARGO_MANIFEST_DIR when it runs a test, and that is
/// preferred to the compile-time value: with a shared target directory, cargo reuses a test
/// binary built in another clone of the same sources, whose compile-time path names that clone.
pub fn root() -> PathBuf {
    PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
}

/// The real MNIST. Tests that need it fail, naming the command that fetches it, when it is
/// missing (`scripts/test` and CI fetch it first): a missing data set must not pass quietly.
pub fn real_mnist() -> Mnist {
    let dir = root().join("data/mnist");
    Mnist::load(&dir).unwrap_or_else(|e| {
        panic!("this test needs the real MNIST: run `scripts/fetch-mnist` ({e})")
    })
}

/// Synthetic "digits": class k is a bar at one of 10 positions/orientations, slightly jittered,
/// so that models can learn something without the real data set.
pub fn synthetic(count: usize, seed: u64) -> Dataset {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let mut images = vec![0u8; count * IMAGE_PIXELS];
    let mut labels = Vec::with_capacity(count);
    for i in 0..count {
        let label = next() % 10;
        let jitter = next() % 3;
        let img = &mut images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS];
        for t in 4..24 {
            let (x, y) = if label < 5 {
                (4 + label * 4 + jitter, t)
            } else {
                (t, 4 + (label - 5) * 4 + jitter)
            };
            img[y * IMAGE_SIDE + x] = 255;
            img[y * IMAGE_SIDE + (x + 1).min(IMAGE_SIDE - 1)] = 200;
        }
        labels.push(label as u8);
    }
    Dataset { images, labels }
}

pub fn weights_dir() -> PathBuf {
    root().join("weights")
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fresh directory under the system temp dir, named for the test file and case.
pub fn scratch_dir(test: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("digit-lab-{test}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Synthetic MNIST-shaped IDX files in `dir/data`: `train` training images (the trainer's
/// `--valid-size` takes its validation split from their end) and `test` test images.
pub fn small_mnist(dir: &Path, train: usize, test: usize) -> PathBuf {
    use digit_lab::data::idx::{encode_images, encode_labels};
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (tr, te) = (synthetic(train, 11), synthetic(test, 12));
    let [tri, trl, tei, tel] = digit_lab::data::mnist::FILES;
    std::fs::write(data.join(tri), encode_images(&tr.images)).unwrap();
    std::fs::write(data.join(trl), encode_labels(&tr.labels)).unwrap();
    std::fs::write(data.join(tei), encode_images(&te.images)).unwrap();
    std::fs::write(data.join(tel), encode_labels(&te.labels)).unwrap();
    data
}
