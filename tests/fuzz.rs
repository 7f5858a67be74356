//! Property tests of the two readers that take files from users: the IDX reader and the weights
//! loader. Random bytes and mutations of valid files (bytes changed, cut short, extended) must
//! give an error or a consistent result, never a panic. 10,000 cases each by default;
//! `scripts/fuzz` runs many more (PROPTEST_CASES).

mod common;

use burn::prelude::*;
use digit_lab::data::IMAGE_PIXELS;
use digit_lab::data::idx::{encode_images, encode_labels, parse_images, parse_labels};
use digit_lab::model::weights_dir::WeightsDir;
use digit_lab::model::{ConvAeConfig, ModelKind, store};
use proptest::prelude::*;

/// Changes `bytes` at the given positions, then cuts or extends it.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], resize: Option<(bool, usize)>) -> Vec<u8> {
    if !bytes.is_empty() {
        for &(at, value) in edits {
            let at = at % bytes.len();
            bytes[at] = value;
        }
    }
    match resize {
        Some((true, n)) => bytes.truncate(n % (bytes.len() + 1)),
        Some((false, n)) => bytes.extend(std::iter::repeat_n(0xA5, n % 64)),
        None => {}
    }
    bytes
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
}

/// Byte edits (position, value) and an optional cut (`true`) or extension (`false`).
type Edits = (Vec<(usize, u8)>, Option<(bool, usize)>);

fn edits() -> impl Strategy<Value = Edits> {
    (
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        prop::option::of((any::<bool>(), any::<usize>())),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn the_idx_reader_never_panics(
        seed_images in 0usize..4,
        (edits, resize) in edits(),
        labels in any::<bool>(),
    ) {
        let synthetic = common::synthetic(seed_images, 9);
        let valid = if labels {
            encode_labels(&synthetic.labels)
        } else {
            encode_images(&synthetic.images)
        };
        let bytes = mutate(valid, &edits, resize);
        if labels {
            if let Ok(parsed) = parse_labels(&bytes, "fuzz") {
                prop_assert_eq!(parsed.len() + 8, bytes.len());
                prop_assert!(parsed.iter().all(|l| *l <= 9));
            }
        } else if let Ok(parsed) = parse_images(&bytes, "fuzz") {
            prop_assert_eq!(parsed.len() + 16, bytes.len());
            prop_assert_eq!(parsed.len() % IMAGE_PIXELS, 0);
        }
    }

    #[test]
    fn random_bytes_are_never_idx_files_by_accident(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse_images(&bytes, "fuzz");
        let _ = parse_labels(&bytes, "fuzz");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn the_weights_loader_never_panics((edits, resize) in edits()) {
        thread_local! {
            static VALID: Vec<u8> = {
                let store = WeightsDir::open(&common::weights_dir()).unwrap();
                store.read_weights(ModelKind::Ae).unwrap()
            };
        }
        let bytes = VALID.with(|v| mutate(v.clone(), &edits, resize));
        let device = Device::flex();
        // Either an error, or a model of the architecture with finite weights.
        if let Ok(model) = store::from_bytes(ConvAeConfig::new().init(&device), &bytes, "fuzz") {
            prop_assert!(store::first_non_finite(&model).is_none());
        }
    }
}
