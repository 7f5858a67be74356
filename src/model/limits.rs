//! The sizes an architecture may have. Checked before a model is built — from flags or from a
//! manifest — so that a zero width is an error naming the field instead of a panic inside burn,
//! and an absurd one is refused before a huge allocation.

use super::{ClassifierConfig, ConvAeConfig, DaeWideConfig, VaeConfig};

/// Largest channel count or layer width accepted (the paper's grid tops out at 64; the best
/// classifier uses 128).
pub const MAX_WIDTH: usize = 1024;
/// Largest code (latent) size accepted.
pub const MAX_CODE: usize = 1024;

/// An architecture field outside what the models support.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field} = {value} is outside {range}")]
pub struct ArchitectureError {
    /// The config field (`c1`, `code`, `latent`, …).
    pub field: &'static str,
    pub value: String,
    pub range: String,
}

fn within(field: &'static str, value: usize, max: usize) -> Result<(), ArchitectureError> {
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(ArchitectureError {
            field,
            value: value.to_string(),
            range: format!("1..={max}"),
        })
    }
}

impl ConvAeConfig {
    /// Checks every size and the dropout rate.
    pub fn check(&self) -> Result<(), ArchitectureError> {
        within("c1", self.c1, MAX_WIDTH)?;
        within("c2", self.c2, MAX_WIDTH)?;
        within("c3", self.c3, MAX_WIDTH)?;
        within("fc", self.fc, MAX_WIDTH * 8)?;
        within("code", self.code, MAX_CODE)?;
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ArchitectureError {
                field: "dropout",
                value: self.dropout.to_string(),
                range: "[0, 1)".into(),
            });
        }
        Ok(())
    }
}

impl VaeConfig {
    pub fn check(&self) -> Result<(), ArchitectureError> {
        within("latent", self.latent, MAX_CODE)
    }
}

impl DaeWideConfig {
    pub fn check(&self) -> Result<(), ArchitectureError> {
        within("c1", self.c1, MAX_WIDTH)?;
        within("code_channels", self.code_channels, MAX_WIDTH)
    }
}

impl ClassifierConfig {
    pub fn check(&self) -> Result<(), ArchitectureError> {
        self.encoder.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_absurd_sizes_name_the_field() {
        assert!(ConvAeConfig::new().check().is_ok());
        let err = ConvAeConfig::new().with_code(0).check().unwrap_err();
        assert_eq!(err.to_string(), "code = 0 is outside 1..=1024");
        let err = ConvAeConfig::new()
            .with_c1(1_000_000_000)
            .check()
            .unwrap_err();
        assert_eq!(err.field, "c1");
        assert_eq!(
            ConvAeConfig::new()
                .with_dropout(1.0)
                .check()
                .unwrap_err()
                .field,
            "dropout"
        );
        assert_eq!(
            VaeConfig::new().with_latent(0).check().unwrap_err().field,
            "latent"
        );
        assert_eq!(
            DaeWideConfig::new()
                .with_code_channels(0)
                .check()
                .unwrap_err()
                .field,
            "code_channels"
        );
        assert!(ClassifierConfig::best().check().is_ok());
    }
}
