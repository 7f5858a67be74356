//! Checks on what JavaScript passes in, so bad input becomes a JS error with a clear message
//! instead of a panic that would kill the page.

use crate::data::IMAGE_PIXELS;

/// A 28×28 image: 784 finite values in [0, 1].
pub fn image(values: &[f32], what: &str) -> Result<Vec<f32>, String> {
    if values.len() != IMAGE_PIXELS {
        return Err(format!(
            "{what}: expected a 28x28 image (784 values), got {} values",
            values.len()
        ));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "{what}: value at index {i} is {} (pixels must be numbers)",
            values[i]
        ));
    }
    if let Some(i) = values.iter().position(|v| !(0.0..=1.0).contains(v)) {
        return Err(format!(
            "{what}: value {} at index {i} is outside [0, 1]",
            values[i]
        ));
    }
    Ok(values.to_vec())
}

/// A finite number within `range`.
pub fn number(value: f32, what: &str, range: std::ops::RangeInclusive<f32>) -> Result<f32, String> {
    if !value.is_finite() {
        return Err(format!("{what} must be a finite number, got {value}"));
    }
    if !range.contains(&value) {
        return Err(format!(
            "{what} must be in [{}, {}], got {value}",
            range.start(),
            range.end()
        ));
    }
    Ok(value)
}

/// A count within `range`.
pub fn count(
    value: u32,
    what: &str,
    range: std::ops::RangeInclusive<u32>,
) -> Result<usize, String> {
    if !range.contains(&value) {
        return Err(format!(
            "{what} must be between {} and {}, got {value}",
            range.start(),
            range.end()
        ));
    }
    Ok(value as usize)
}
