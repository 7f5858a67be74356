//! Reader for the IDX format MNIST ships in (big-endian header, then raw u8 data).

use std::fmt;

/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
const MAGIC_LABELS: u32 = 0x0000_0801;
/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
const MAGIC_IMAGES: u32 = 0x0000_0803;

/// Side of an MNIST image in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Pixels of one MNIST image.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;

/// What went wrong reading an IDX file; every variant names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdxError {
    /// The file is shorter than its header says.
    Truncated {
        file: String,
        expected: usize,
        actual: usize,
    },
    /// The magic number is not the one for this kind of file.
    WrongMagic {
        file: String,
        expected: u32,
        actual: u32,
    },
    /// Images are not 28×28.
    WrongDimensions { file: String, rows: u32, cols: u32 },
    /// The image and label files hold different numbers of items.
    CountMismatch {
        images: String,
        labels: String,
        image_count: usize,
        label_count: usize,
    },
    /// A label outside 0..=9.
    BadLabel {
        file: String,
        index: usize,
        label: u8,
    },
    /// The file holds more bytes than its header says.
    TrailingBytes {
        file: String,
        expected: usize,
        actual: usize,
    },
}

impl fmt::Display for IdxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdxError::Truncated {
                file,
                expected,
                actual,
            } => write!(
                f,
                "{file}: truncated IDX file: expected {expected} bytes, found {actual}"
            ),
            IdxError::WrongMagic {
                file,
                expected,
                actual,
            } => write!(
                f,
                "{file}: not an IDX file of this kind: expected magic number 0x{expected:08x}, found 0x{actual:08x}"
            ),
            IdxError::WrongDimensions { file, rows, cols } => write!(
                f,
                "{file}: expected {IMAGE_SIDE}x{IMAGE_SIDE} images, found {rows}x{cols}"
            ),
            IdxError::CountMismatch {
                images,
                labels,
                image_count,
                label_count,
            } => write!(
                f,
                "{images} holds {image_count} images but {labels} holds {label_count} labels"
            ),
            IdxError::BadLabel { file, index, label } => {
                write!(
                    f,
                    "{file}: label {label} at index {index} is not a digit 0-9"
                )
            }
            IdxError::TrailingBytes {
                file,
                expected,
                actual,
            } => write!(
                f,
                "{file}: expected {expected} bytes from the header, found {actual} (trailing data)"
            ),
        }
    }
}

impl std::error::Error for IdxError {}

fn read_u32(bytes: &[u8], offset: usize, file: &str) -> Result<u32, IdxError> {
    let word = bytes
        .get(offset..offset + 4)
        .ok_or_else(|| IdxError::Truncated {
            file: file.to_string(),
            expected: offset + 4,
            actual: bytes.len(),
        })?;
    Ok(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

fn check_magic(bytes: &[u8], expected: u32, file: &str) -> Result<(), IdxError> {
    let actual = read_u32(bytes, 0, file)?;
    if actual != expected {
        return Err(IdxError::WrongMagic {
            file: file.to_string(),
            expected,
            actual,
        });
    }
    Ok(())
}

fn check_length(bytes: &[u8], expected: usize, file: &str) -> Result<(), IdxError> {
    if bytes.len() < expected {
        return Err(IdxError::Truncated {
            file: file.to_string(),
            expected,
            actual: bytes.len(),
        });
    }
    if bytes.len() > expected {
        return Err(IdxError::TrailingBytes {
            file: file.to_string(),
            expected,
            actual: bytes.len(),
        });
    }
    Ok(())
}

/// The two kinds of IDX file MNIST ships.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxKind {
    /// 28×28 u8 images (magic 0x803, 16-byte header).
    Images,
    /// u8 labels 0–9 (magic 0x801, 8-byte header).
    Labels,
}

impl IdxKind {
    /// Bytes of the header.
    pub fn header_len(self) -> usize {
        match self {
            IdxKind::Images => 16,
            IdxKind::Labels => 8,
        }
    }

    /// The file's total length as its header gives it (checked: a header may claim more bytes
    /// than an address space holds).
    pub fn expected_len(self, header: &[u8], file: &str) -> Result<usize, IdxError> {
        let (magic, item) = match self {
            IdxKind::Images => (MAGIC_IMAGES, IMAGE_PIXELS),
            IdxKind::Labels => (MAGIC_LABELS, 1),
        };
        check_magic(header, magic, file)?;
        let count = read_u32(header, 4, file)? as usize;
        if self == IdxKind::Images {
            let rows = read_u32(header, 8, file)?;
            let cols = read_u32(header, 12, file)?;
            if rows as usize != IMAGE_SIDE || cols as usize != IMAGE_SIDE {
                return Err(IdxError::WrongDimensions {
                    file: file.to_string(),
                    rows,
                    cols,
                });
            }
        }
        count
            .checked_mul(item)
            .and_then(|body| body.checked_add(self.header_len()))
            .ok_or_else(|| IdxError::Truncated {
                file: file.to_string(),
                expected: usize::MAX,
                actual: header.len(),
            })
    }
}

/// Parses an IDX image file of 28×28 u8 images; returns the pixels, image after image.
/// `file` names the source in error messages.
pub fn parse_images(bytes: &[u8], file: &str) -> Result<Vec<u8>, IdxError> {
    check_length(bytes, IdxKind::Images.expected_len(bytes, file)?, file)?;
    Ok(bytes[16..].to_vec())
}

/// Parses an IDX label file of digits 0–9.
pub fn parse_labels(bytes: &[u8], file: &str) -> Result<Vec<u8>, IdxError> {
    check_length(bytes, IdxKind::Labels.expected_len(bytes, file)?, file)?;
    let labels = bytes[8..].to_vec();
    if let Some((index, &label)) = labels.iter().enumerate().find(|(_, l)| **l > 9) {
        return Err(IdxError::BadLabel {
            file: file.to_string(),
            index,
            label,
        });
    }
    Ok(labels)
}

/// Failure to read an IDX file from disk.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Idx(#[from] IdxError),
}

/// Reads an IDX file of `kind`, checking its header and its size (from the file's metadata)
/// before reading the body: a huge file of the wrong kind, or `/dev/zero`, costs one header read.
/// Returns the whole file's bytes for [`parse_images`] / [`parse_labels`].
#[cfg(not(target_arch = "wasm32"))]
pub fn read_file(path: &std::path::Path, kind: IdxKind) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let name = path.display().to_string();
    let io = |source| ReadError::Io {
        path: name.clone(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut header = Vec::with_capacity(kind.header_len());
    (&mut file)
        .take(kind.header_len() as u64)
        .read_to_end(&mut header)
        .map_err(io)?;
    let expected = kind.expected_len(&header, &name)?;
    let metadata = file.metadata().map_err(io)?;
    if metadata.is_file() {
        check_length_u64(metadata.len(), expected, &name)?;
    }
    // Read at most one byte past the expected end, so that a device or pipe that never ends
    // is caught as trailing data instead of filling the memory.
    let mut bytes = header;
    bytes.reserve(expected.saturating_sub(bytes.len()));
    file.take((expected - kind.header_len()) as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    check_length(&bytes, expected, &name)?;
    Ok(bytes)
}

#[cfg(not(target_arch = "wasm32"))]
fn check_length_u64(actual: u64, expected: usize, file: &str) -> Result<(), IdxError> {
    let clamp = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    if actual < expected as u64 {
        return Err(IdxError::Truncated {
            file: file.to_string(),
            expected,
            actual: clamp(actual),
        });
    }
    if actual > expected as u64 {
        return Err(IdxError::TrailingBytes {
            file: file.to_string(),
            expected,
            actual: clamp(actual),
        });
    }
    Ok(())
}

/// Encodes images (28×28 u8 each, concatenated) as an IDX image file.
pub fn encode_images(pixels: &[u8]) -> Vec<u8> {
    let count = (pixels.len() / IMAGE_PIXELS) as u32;
    let mut out = Vec::with_capacity(16 + pixels.len());
    for word in [MAGIC_IMAGES, count, IMAGE_SIDE as u32, IMAGE_SIDE as u32] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(&pixels[..count as usize * IMAGE_PIXELS]);
    out
}

/// Encodes labels as an IDX label file.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&MAGIC_LABELS.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(count: usize) -> Vec<u8> {
        encode_images(
            &(0..count * IMAGE_PIXELS)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn round_trips_images_and_labels() {
        let bytes = images(3);
        let pixels = parse_images(&bytes, "x").unwrap();
        assert_eq!(pixels.len(), 3 * IMAGE_PIXELS);
        assert_eq!(pixels[IMAGE_PIXELS + 5], ((IMAGE_PIXELS + 5) % 251) as u8);
        assert_eq!(
            parse_labels(&encode_labels(&[0, 9, 4]), "y").unwrap(),
            vec![0, 9, 4]
        );
    }

    #[test]
    fn wrong_magic_names_the_file_and_the_expected_magic() {
        let err = parse_images(&encode_labels(&[1, 2]), "imgs.idx").unwrap_err();
        assert!(matches!(
            err,
            IdxError::WrongMagic {
                expected: 0x803,
                actual: 0x801,
                ..
            }
        ));
        let msg = err.to_string();
        assert!(
            msg.contains("imgs.idx") && msg.contains("0x00000803"),
            "{msg}"
        );
        assert!(matches!(
            parse_labels(&images(1), "l").unwrap_err(),
            IdxError::WrongMagic { .. }
        ));
    }

    #[test]
    fn truncated_files_are_rejected() {
        let bytes = images(2);
        let err = parse_images(&bytes[..bytes.len() - 1], "t.idx").unwrap_err();
        assert_eq!(
            err,
            IdxError::Truncated {
                file: "t.idx".into(),
                expected: 16 + 2 * IMAGE_PIXELS,
                actual: 16 + 2 * IMAGE_PIXELS - 1
            }
        );
        // A header cut short is truncation too, not a panic.
        assert!(matches!(
            parse_images(&bytes[..6], "t").unwrap_err(),
            IdxError::Truncated { .. }
        ));
        assert!(matches!(
            parse_labels(&[], "t").unwrap_err(),
            IdxError::Truncated { .. }
        ));
        let labels = encode_labels(&[1, 2, 3]);
        assert!(matches!(
            parse_labels(&labels[..10], "t").unwrap_err(),
            IdxError::Truncated {
                expected: 11,
                actual: 10,
                ..
            }
        ));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = images(1);
        bytes.push(0);
        assert!(matches!(
            parse_images(&bytes, "t").unwrap_err(),
            IdxError::TrailingBytes { .. }
        ));
    }

    #[test]
    fn wrong_dimensions_are_rejected() {
        let mut bytes = images(1);
        bytes[11] = 32; // rows = 32
        let err = parse_images(&bytes, "d.idx").unwrap_err();
        assert_eq!(
            err,
            IdxError::WrongDimensions {
                file: "d.idx".into(),
                rows: 32,
                cols: 28
            }
        );
        assert!(err.to_string().contains("expected 28x28"));
    }

    #[test]
    fn labels_must_be_digits() {
        let err = parse_labels(&encode_labels(&[1, 10]), "l.idx").unwrap_err();
        assert_eq!(
            err,
            IdxError::BadLabel {
                file: "l.idx".into(),
                index: 1,
                label: 10
            }
        );
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn files_are_checked_before_their_body_is_read() {
        let dir = std::env::temp_dir().join(format!("digit-lab-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good");
        std::fs::write(&good, images(2)).unwrap();
        assert_eq!(read_file(&good, IdxKind::Images).unwrap(), images(2));
        // A large file with a wrong magic: rejected from its first bytes.
        let wrong = dir.join("wrong");
        let file = std::fs::File::create(&wrong).unwrap();
        file.set_len(1 << 32).unwrap(); // sparse: no disk used
        let err = read_file(&wrong, IdxKind::Images).unwrap_err();
        assert!(err.to_string().contains("magic"), "{err}");
        // A right header over a file that is too long or too short, from the metadata.
        let mut long = images(1);
        long.extend([0; 10]);
        std::fs::write(&wrong, &long).unwrap();
        assert!(matches!(
            read_file(&wrong, IdxKind::Images).unwrap_err(),
            ReadError::Idx(IdxError::TrailingBytes { .. })
        ));
        // An endless device is refused, not read until memory runs out.
        if std::path::Path::new("/dev/zero").exists() {
            assert!(read_file(std::path::Path::new("/dev/zero"), IdxKind::Labels).is_err());
        }
        assert!(matches!(
            read_file(&dir.join("missing"), IdxKind::Labels).unwrap_err(),
            ReadError::Io { .. }
        ));
        // A header whose count overflows is an error, not a wrapped size.
        let mut huge = encode_labels(&[]);
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(IdxKind::Images.expected_len(&images(0), "x").is_ok());
        assert!(parse_labels(&huge, "h").is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
