//! `Vec<f32>` stored in JSON as base64 of its little-endian bytes (`#[serde(with = "packed")]`):
//! a quarter of the size of decimal numbers, bit-exact, for the digit check's matrices.

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::{Deserialize, Deserializer, Serializer};

/// Standard base64, written padded; read with or without the padding and ignoring the unused
/// bits of the last character, as the files this project wrote before have always been read.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

pub fn encode(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    BASE64.encode(bytes)
}

pub fn decode(text: &str) -> Result<Vec<f32>, String> {
    let bytes = BASE64
        .decode(text)
        .map_err(|e| format!("not base64: {e}"))?;
    if !bytes.len().is_multiple_of(4) {
        return Err(format!(
            "{} bytes is not a whole number of f32s",
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

pub fn serialize<S: Serializer>(values: &[f32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&encode(values))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
    decode(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_bit_exactly() {
        for n in 0..5 {
            let v: Vec<f32> = (0..n).map(|i| i as f32 * -1.37e-5 + 0.1).collect();
            assert_eq!(decode(&encode(&v)).unwrap(), v);
        }
        assert_eq!(encode(&[1.0]), "AACAPw==");
        assert_eq!(decode("AACAPw").unwrap(), [1.0], "padding is optional");
        assert!(decode("AAC").is_err() && decode("AA*A").is_err());
        assert!(decode("AACAPw==AACAPw==").is_err(), "padding inside");
    }
}
