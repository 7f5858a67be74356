//! The MNIST data set and the PROTOCOL.md splits: train = first 50,000 training images,
//! validation = the last 10,000, test = the 10,000 t10k images. Pixels are scaled to [0, 1].

#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;

use burn::tensor::{Device, Int, Tensor, TensorData};

#[cfg(not(target_arch = "wasm32"))]
use super::idx::IdxKind;
use super::idx::{IMAGE_PIXELS, IMAGE_SIDE, IdxError, parse_images, parse_labels};

/// Batch size for inference over a whole split (it changes no result, only memory and speed).
pub const INFERENCE_BATCH: usize = 500;

/// Images in the training split (the rest of the training file is validation).
pub const TRAIN_SIZE: usize = 50_000;

/// The four raw files, as named in the npm package and in PROTOCOL.md.
pub const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// The training file's two IDX files: all that training, search and model selection read.
pub const TRAINING_FILES: [&str; 2] = [FILES[0], FILES[1]];
/// The test split's two IDX files: read only by `publish`, `eval` and the report's figures of
/// adopted models ([`Mnist`]).
pub const TEST_FILES: [&str; 2] = [FILES[2], FILES[3]];

/// Images (28×28 u8, concatenated) with their labels.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Parses an image file and a label file, checking that they hold the same number of items.
    pub fn from_idx(
        images: &[u8],
        images_name: &str,
        labels: &[u8],
        labels_name: &str,
    ) -> Result<Self, IdxError> {
        let images_u8 = parse_images(images, images_name)?;
        let labels_u8 = parse_labels(labels, labels_name)?;
        let image_count = images_u8.len() / IMAGE_PIXELS;
        if image_count != labels_u8.len() {
            return Err(IdxError::CountMismatch {
                images: images_name.to_string(),
                labels: labels_name.to_string(),
                image_count,
                label_count: labels_u8.len(),
            });
        }
        Ok(Self {
            images: images_u8,
            labels: labels_u8,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The raw pixels of image `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        &self.images[index * IMAGE_PIXELS..(index + 1) * IMAGE_PIXELS]
    }

    /// Items `range` as a new data set.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Self {
        Self {
            images: self.images[range.start * IMAGE_PIXELS..range.end * IMAGE_PIXELS].to_vec(),
            labels: self.labels[range].to_vec(),
        }
    }

    /// Pixels of the images at `indices`, scaled to [0, 1], image after image.
    pub fn pixels(&self, indices: &[usize]) -> Vec<f32> {
        let mut out = Vec::with_capacity(indices.len() * IMAGE_PIXELS);
        for &i in indices {
            out.extend(self.image(i).iter().map(|&p| f32::from(p) / 255.0));
        }
        out
    }

    /// Indices of every item, in batches of [`INFERENCE_BATCH`] (evaluation and analysis).
    pub fn batches(&self) -> impl Iterator<Item = Vec<usize>> + use<> {
        let n = self.len();
        (0..n)
            .step_by(INFERENCE_BATCH)
            .map(move |s| (s..(s + INFERENCE_BATCH).min(n)).collect())
    }

    /// The labels at `indices`.
    pub fn labels_at(&self, indices: &[usize]) -> Vec<u8> {
        indices.iter().map(|&i| self.labels[i]).collect()
    }
}

/// Which part of the data set, as PROTOCOL.md defines them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Validation,
    Test,
}

/// The splits training, search and model selection see: the training file cut into a
/// training and a validation split. It holds no test image, so nothing that is handed one can
/// tune on the test split (PROTOCOL.md).
#[derive(Clone, Debug)]
pub struct TrainingData {
    pub train: Dataset,
    pub validation: Dataset,
}

impl TrainingData {
    /// Cuts the 60k training file into the protocol's training and validation splits.
    pub fn from_training_file(training_file: Dataset) -> Self {
        let n = training_file.len();
        let cut = TRAIN_SIZE.min(n);
        Self {
            train: training_file.slice(0..cut),
            validation: training_file.slice(cut..n),
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// Reads the training file's two IDX files from `dir` (never the test files), with its last
    /// `valid_size` images as the validation split (the protocol's 10,000 on MNIST; smaller for
    /// small test data). Both splits must hold images.
    pub fn load(dir: &Path, valid_size: usize) -> Result<Self, LoadError> {
        let training_file = read_pair(dir, TRAINING_FILES)?;
        let n = training_file.len();
        if valid_size == 0 || valid_size >= n {
            return Err(LoadError::Split {
                file: dir.join(FILES[0]).display().to_string(),
                images: n,
                valid_size,
            });
        }
        Ok(Self {
            train: training_file.slice(0..n - valid_size),
            validation: training_file.slice(n - valid_size..n),
        })
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// [`TrainingData::load`] with the protocol's split.
    pub fn load_protocol(dir: &Path) -> Result<Self, LoadError> {
        Ok(Self::from_training_file(read_pair(dir, TRAINING_FILES)?))
    }
}

/// The whole data set in its three splits: for measuring adopted models (`publish`, `eval`, the
/// report), never handed to training.
#[derive(Clone, Debug)]
pub struct Mnist {
    pub train: Dataset,
    pub validation: Dataset,
    pub test: Dataset,
}

impl Mnist {
    /// Builds the splits from the 60k training and the 10k test data sets.
    pub fn from_parts(training_file: Dataset, test: Dataset) -> Self {
        Self::with_test(TrainingData::from_training_file(training_file), test)
    }

    /// The training splits joined with the test split.
    pub fn with_test(training: TrainingData, test: Dataset) -> Self {
        Self {
            train: training.train,
            validation: training.validation,
            test,
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// Reads the four IDX files from `dir` (see `scripts/fetch-mnist`), split as PROTOCOL.md says.
    pub fn load(dir: &Path) -> Result<Self, LoadError> {
        let training = TrainingData::load_protocol(dir)?;
        Ok(Self::with_test(training, read_pair(dir, TEST_FILES)?))
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// The four IDX files with the last `valid_size` training-file images as validation
    /// ([`TrainingData::load`]).
    pub fn load_split(dir: &Path, valid_size: usize) -> Result<Self, LoadError> {
        let training = TrainingData::load(dir, valid_size)?;
        Ok(Self::with_test(training, read_pair(dir, TEST_FILES)?))
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// `training` joined with the test split read from `dir`.
    pub fn load_test(training: TrainingData, dir: &Path) -> Result<Self, LoadError> {
        Ok(Self::with_test(training, read_pair(dir, TEST_FILES)?))
    }

    pub fn split(&self, split: Split) -> &Dataset {
        match split {
            Split::Train => &self.train,
            Split::Validation => &self.validation,
            Split::Test => &self.test,
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
/// Reads an images file and its labels file (`[images, labels]`) from `dir`.
fn read_pair(dir: &Path, [images, labels]: [&str; 2]) -> Result<Dataset, LoadError> {
    let read = |name: &str, kind| {
        super::idx::read_file(&dir.join(name), kind).map_err(|e| match e {
            super::idx::ReadError::Io { path, source } => LoadError::Io { path, source },
            super::idx::ReadError::Idx(e) => LoadError::Idx(e),
        })
    };
    let name = |f: &str| dir.join(f).display().to_string();
    let pixels = read(images, IdxKind::Images)?;
    let classes = read(labels, IdxKind::Labels)?;
    Ok(Dataset::from_idx(
        &pixels,
        &name(images),
        &classes,
        &name(labels),
    )?)
}

/// Failure to load the data set from disk.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source} (run `scripts/fetch-mnist` to download MNIST)")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Idx(#[from] IdxError),
    /// The validation size leaves no training or no validation images.
    #[error(
        "{file} holds {images} images: a validation split of {valid_size} (--valid-size) must leave at least one image for each split"
    )]
    Split {
        file: String,
        images: usize,
        valid_size: usize,
    },
}

/// A batch of images as a `[n, 1, 28, 28]` tensor from pixels in [0, 1].
pub fn images_tensor(pixels: Vec<f32>, device: &Device) -> Tensor<4> {
    let n = pixels.len() / IMAGE_PIXELS;
    Tensor::from_data(
        TensorData::new(pixels, [n, 1, IMAGE_SIDE, IMAGE_SIDE]),
        device,
    )
}

/// Labels as an integer tensor.
pub fn labels_tensor(labels: &[u8], device: &Device) -> Tensor<1, Int> {
    let labels: Vec<i64> = labels.iter().map(|&l| i64::from(l)).collect();
    let n = labels.len();
    Tensor::from_data(TensorData::new(labels, [n]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::{encode_images, encode_labels};

    fn toy(count: usize) -> Dataset {
        let pixels: Vec<u8> = (0..count * IMAGE_PIXELS)
            .map(|i| (i / IMAGE_PIXELS) as u8)
            .collect();
        let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
        Dataset::from_idx(&encode_images(&pixels), "i", &encode_labels(&labels), "l").unwrap()
    }

    #[test]
    fn count_mismatch_names_both_files() {
        let err = Dataset::from_idx(
            &encode_images(&vec![0; 2 * IMAGE_PIXELS]),
            "imgs",
            &encode_labels(&[1, 2, 3]),
            "lbls",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "imgs holds 2 images but lbls holds 3 labels"
        );
    }

    #[test]
    fn splits_follow_the_protocol() {
        let mnist = Mnist::from_parts(toy(TRAIN_SIZE + 7), toy(3));
        assert_eq!(mnist.train.len(), TRAIN_SIZE);
        assert_eq!(mnist.validation.len(), 7);
        assert_eq!(mnist.split(Split::Test).len(), 3);
        // The validation split starts right after the training split.
        assert_eq!(mnist.validation.image(0)[0], (TRAIN_SIZE % 256) as u8);
    }

    #[test]
    fn pixels_are_scaled_to_unit_range() {
        let data = toy(3);
        let px = data.pixels(&[2, 0]);
        assert_eq!(px.len(), 2 * IMAGE_PIXELS);
        assert!((px[0] - 2.0 / 255.0).abs() < 1e-7);
        assert_eq!(px[IMAGE_PIXELS], 0.0);
        assert_eq!(data.labels_at(&[2, 1]), vec![2, 1]);
    }

    #[test]
    fn missing_files_suggest_the_fetch_script() {
        let err = Mnist::load(Path::new("/nonexistent-mnist-dir")).unwrap_err();
        assert!(err.to_string().contains("scripts/fetch-mnist"), "{err}");
    }
}
