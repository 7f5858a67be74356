//! The small MNIST subset the browser trains on: 5,000 training and 1,000 validation digits
//! (the first of PROTOCOL.md's training and validation splits), as two gzipped IDX files that the
//! page downloads only when the mini-training mode opens (~1.5 MB instead of ~50 MB).

use std::io::Read;

use crate::data::mnist::Dataset;
use crate::data::{IMAGE_PIXELS, idx::IdxError};

/// Training digits in the subset.
pub const TRAIN: usize = 5_000;
/// Validation digits in the subset (after the training ones in the files).
pub const VALID: usize = 1_000;
/// File names, as served from `www/data/`.
pub const IMAGES_FILE: &str = "mnist-subset-images.idx.gz";
pub const LABELS_FILE: &str = "mnist-subset-labels.idx.gz";

#[derive(Debug, thiserror::Error)]
pub enum SubsetError {
    #[error("{file}: not a gzip file or corrupt ({reason})")]
    Gzip { file: String, reason: String },
    #[error(transparent)]
    Idx(#[from] IdxError),
    #[error(
        "the subset must hold {expected} digits ({TRAIN} training + {VALID} validation), got {got}"
    )]
    Size { expected: usize, got: usize },
}

/// The training and validation digits of the subset.
#[derive(Clone, Debug)]
pub struct Subset {
    pub train: Dataset,
    pub valid: Dataset,
}

/// Most bytes a subset file may hold unzipped (the images file holds 4.7 MB): a corrupt or
/// hostile file must not exhaust memory, which aborts the module in the browser.
const MAX_UNZIPPED: u64 = 16 << 20;

fn gunzip(bytes: &[u8], file: &str) -> Result<Vec<u8>, SubsetError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_UNZIPPED + 1)
        .read_to_end(&mut out)
        .map_err(|e| SubsetError::Gzip {
            file: file.to_string(),
            reason: e.to_string(),
        })?;
    if out.len() as u64 > MAX_UNZIPPED {
        return Err(SubsetError::Gzip {
            file: file.to_string(),
            reason: format!("more than {MAX_UNZIPPED} bytes unzipped"),
        });
    }
    Ok(out)
}

impl Subset {
    /// Reads the two gzipped IDX files (images, labels), checking every header and the size.
    pub fn from_gzip(images: &[u8], labels: &[u8]) -> Result<Self, SubsetError> {
        let all = Dataset::from_idx(
            &gunzip(images, IMAGES_FILE)?,
            IMAGES_FILE,
            &gunzip(labels, LABELS_FILE)?,
            LABELS_FILE,
        )?;
        if all.len() != TRAIN + VALID {
            return Err(SubsetError::Size {
                expected: TRAIN + VALID,
                got: all.len(),
            });
        }
        Ok(Self {
            train: all.slice(0..TRAIN),
            valid: all.slice(TRAIN..TRAIN + VALID),
        })
    }

    /// The subset of a full data set: the first `TRAIN` training and `VALID` validation digits.
    pub fn from_splits(train: &Dataset, valid: &Dataset) -> Self {
        Self {
            train: train.slice(0..TRAIN.min(train.len())),
            valid: valid.slice(0..VALID.min(valid.len())),
        }
    }

    /// The two gzipped IDX files (images, labels), training digits first. Deterministic bytes
    /// (no timestamp in the gzip header), so a re-export leaves git clean.
    pub fn to_gzip(&self) -> (Vec<u8>, Vec<u8>) {
        use crate::data::idx::{encode_images, encode_labels};
        let gzip = |raw: Vec<u8>| {
            let mut encoder = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::best());
            std::io::Write::write_all(&mut encoder, &raw).expect("writing to memory");
            encoder.finish().expect("writing to memory")
        };
        let images = [self.train.images.as_slice(), &self.valid.images].concat();
        let labels = [self.train.labels.as_slice(), &self.valid.labels].concat();
        debug_assert_eq!(images.len(), labels.len() * IMAGE_PIXELS);
        (gzip(encode_images(&images)), gzip(encode_labels(&labels)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(count: usize, offset: u8) -> Dataset {
        Dataset {
            images: (0..count * IMAGE_PIXELS)
                .map(|i| (i % 251) as u8 ^ offset)
                .collect(),
            labels: (0..count).map(|i| (i % 10) as u8).collect(),
        }
    }

    #[test]
    fn round_trips_through_gzip() {
        let subset = Subset::from_splits(&toy(TRAIN + 7, 1), &toy(VALID + 3, 2));
        let (images, labels) = subset.to_gzip();
        let back = Subset::from_gzip(&images, &labels).unwrap();
        assert_eq!(back.train.images, subset.train.images);
        assert_eq!(back.valid.labels, subset.valid.labels);
        assert_eq!((back.train.len(), back.valid.len()), (TRAIN, VALID));
        // Deterministic output.
        assert_eq!(subset.to_gzip().0, images);
    }

    #[test]
    fn rejects_bad_files() {
        let small = Subset::from_splits(&toy(10, 0), &toy(5, 0));
        let (images, labels) = small.to_gzip();
        let err = Subset::from_gzip(&images, &labels).unwrap_err().to_string();
        assert!(err.contains("must hold 6000 digits"), "{err}");
        let err = Subset::from_gzip(b"not gzip", &labels)
            .unwrap_err()
            .to_string();
        assert!(err.contains(IMAGES_FILE) && err.contains("gzip"), "{err}");
        // Swapped files: the IDX reader names the wrong magic number.
        let err = Subset::from_gzip(&labels, &images).unwrap_err().to_string();
        assert!(err.contains(IMAGES_FILE), "{err}");
        // A small file that unzips to more than any subset holds.
        let bomb = {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut encoder, &vec![0u8; (MAX_UNZIPPED + 1) as usize])
                .unwrap();
            encoder.finish().unwrap()
        };
        let err = Subset::from_gzip(&bomb, &labels).unwrap_err().to_string();
        assert!(err.contains("bytes unzipped"), "{err}");
        // Truncated gzip stream.
        let err = Subset::from_gzip(&images[..images.len() / 2], &labels)
            .unwrap_err()
            .to_string();
        assert!(err.contains("gzip") || err.contains("truncated"), "{err}");
    }
}
