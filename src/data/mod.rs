//! MNIST data: the IDX reader, the PROTOCOL.md splits, Gaussian input noise and the
//! augmentation used for the robust classifier, and the page's pad (`pad`) with digits traced
//! back to pen paths (`strokes`) and drawn again through it (`redraw`); other people's digits
//! (`optdigits`, `pendigits`: validation only). Shared by the native trainer and the wasm crate.

pub mod augment;
pub mod canvas;
pub mod idx;
pub mod mnist;
pub mod noise;
pub mod optdigits;
pub mod pad;
pub mod pendigits;
pub mod redraw;
pub mod strokes;

pub use idx::{IMAGE_PIXELS, IMAGE_SIDE, IdxError};
pub use mnist::{Dataset, Mnist, Split, TrainingData};
