//! Weights files: burn records (`.bpk`) in memory and on disk. Loading checks the record against
//! the architecture it is applied to, so weights for another architecture are an error.
//!
//! Weights are stored in half precision (f16); the models compute in f32: the browser downloads
//! half the bytes, and the trainer measures every test metric on the rounded weights
//! ([`rounded_to_storage`]), so the numbers describe exactly what is saved.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, DType};
use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of a file's bytes, as weights files are named and checked.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The precision of saved weights.
pub const STORAGE_DTYPE: DType = DType::F16;

/// Casts every float parameter of a module to one dtype.
struct CastFloats(DType);

impl ModuleMapper for CastFloats {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|tensor| tensor.cast(dtype))
    }
}

/// `model` with its parameters rounded to the storage precision (and back to f32): the model
/// that loading its saved weights gives.
pub fn rounded_to_storage<M: Module>(model: M) -> M {
    model
        .map(&mut CastFloats(STORAGE_DTYPE))
        .map(&mut CastFloats(DType::F32))
}

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{name}: not a valid weights file: {reason}")]
    Malformed { name: String, reason: String },
    #[error("{name}: weights do not fit this model's architecture: {reason}")]
    WrongArchitecture { name: String, reason: String },
    #[error("{name}: weight `{param}` holds a non-finite value (NaN or infinity)")]
    NonFinite { name: String, param: String },
    #[error("{name}: cannot serialise the weights: {reason}")]
    Serialise { name: String, reason: String },
    #[cfg(not(target_arch = "wasm32"))]
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Serialises a module's parameters to a burnpack buffer, in the storage precision.
pub fn to_bytes<M: Module>(model: M, name: &str) -> Result<Vec<u8>, WeightsError> {
    to_exact_bytes(model.map(&mut CastFloats(STORAGE_DTYPE)), name)
}

/// [`to_bytes`] for a module on any device: its parameters are read back without blocking, then
/// serialised on the CPU. In the browser a WebGPU read must be asynchronous (a blocking one
/// aborts the module), and serialising reads every parameter.
pub async fn to_bytes_async<M: Module>(model: M, name: &str) -> Result<Vec<u8>, WeightsError> {
    /// Every float parameter, flattened, in visiting order.
    struct Collect(Vec<Tensor<1>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val();
            let count = value.shape().num_elements();
            self.0.push(value.reshape([count]));
        }
    }
    /// Each float parameter replaced by its values on the CPU, in the same order.
    struct OnCpu(std::vec::IntoIter<TensorData>, Device);
    impl ModuleMapper for OnCpu {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let data = self
                .0
                .next()
                .unwrap_or_else(|| TensorData::new(Vec::<f32>::new(), [0]));
            let device = self.1.clone();
            param.map(|tensor| Tensor::<1>::from_data(data, &device).reshape(tensor.shape()))
        }
    }
    let mut collected = Collect(Vec::new());
    model.visit(&mut collected);
    let mut values = Vec::with_capacity(collected.0.len());
    for tensor in collected.0 {
        values.push(
            tensor
                .into_data_async()
                .await
                .map_err(|e| WeightsError::Serialise {
                    name: name.to_string(),
                    reason: format!("reading a parameter back: {e:?}"),
                })?,
        );
    }
    to_bytes(
        model.map(&mut OnCpu(values.into_iter(), Device::flex())),
        name,
    )
}

/// Applies a burnpack buffer to `model` (a freshly initialised module of the expected
/// architecture), converting the stored precision to the module's. `name` identifies the source
/// in errors.
pub fn from_bytes<M: Module>(model: M, bytes: &[u8], name: &str) -> Result<M, WeightsError> {
    // burnpack's reader indexes the header it parses; guard against a panic on garbage input.
    let record = std::panic::catch_unwind(|| {
        ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
    })
    .map_err(|_| WeightsError::Malformed {
        name: name.to_string(),
        reason: "unreadable burnpack data".into(),
    })?
    .map_err(|e| WeightsError::Malformed {
        name: name.to_string(),
        reason: e.to_string(),
    })?;
    // NaN or infinity in the weights makes a model that answers `label 9` with null
    // probabilities: refuse them from the file's own bytes, which are CPU data on every target
    // (a WebGPU model's values cannot be read back synchronously in the browser).
    if let Some(param) =
        first_non_finite_stored(bytes).map_err(|reason| WeightsError::Malformed {
            name: name.to_string(),
            reason,
        })?
    {
        return Err(WeightsError::NonFinite {
            name: name.to_string(),
            param,
        });
    }
    model
        .try_load_record(record.cast_to_module_dtype())
        .map_err(|e| WeightsError::WrongArchitecture {
            name: name.to_string(),
            reason: e.to_string(),
        })
}

/// The module path (`encoder.fc.weight`) of the first tensor of a burnpack buffer that holds
/// NaN or infinity, read from the stored bits. Quantised tensors are refused: their scales could
/// hold either, and this program never writes them.
fn first_non_finite_stored(bytes: &[u8]) -> Result<Option<String>, String> {
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| e.to_string())?;
    for tensor in reader.into_tensors().map_err(|e| e.to_string())? {
        let (path, dtype, _, _, data) = tensor.into_parts().map_err(|e| e.to_string())?;
        // A value is NaN or infinite when every bit of its exponent is set (IEEE 754, stored
        // little-endian).
        let exponent_full = |width: usize, mask: u64| {
            data.chunks_exact(width).any(|value| {
                let mut bits = [0u8; 8];
                bits[..width].copy_from_slice(value);
                u64::from_le_bytes(bits) & mask == mask
            })
        };
        let non_finite = match dtype {
            DType::F64 => exponent_full(8, 0x7ff0_0000_0000_0000),
            DType::F32 | DType::Flex32 => exponent_full(4, 0x7f80_0000),
            DType::F16 => exponent_full(2, 0x7c00),
            DType::BF16 => exponent_full(2, 0x7f80),
            DType::QFloat(_) => return Err(format!("tensor `{path}` is quantised")),
            _ => false, // integers and booleans hold neither
        };
        if non_finite {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// The path-less id of the first parameter of a built model holding NaN or infinity, if any.
#[cfg(not(target_arch = "wasm32"))]
pub fn first_non_finite<M: Module>(model: &M) -> Option<String> {
    struct Find(Option<String>);
    impl burn::module::ModuleVisitor for Find {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.0.is_some() {
                return;
            }
            let data = param.val().into_data().convert::<f32>();
            let finite = data
                .as_slice::<f32>()
                .map(|values| values.iter().all(|v| v.is_finite()))
                .unwrap_or(false);
            if !finite {
                self.0 = Some(format!("{:?} {:?}", param.id, param.val().dims()));
            }
        }
    }
    let mut find = Find(None);
    model.visit(&mut find);
    find.0
}

/// Serialises a module's parameters exactly (f32, parameter ids kept): what a checkpoint needs
/// to resume bit for bit, where [`to_bytes`] rounds to the storage precision.
pub fn to_exact_bytes<M: Module>(model: M, name: &str) -> Result<Vec<u8>, WeightsError> {
    let bytes = model
        .into_record()
        .into_bytes()
        .map_err(|e| WeightsError::Serialise {
            name: name.to_string(),
            reason: e.to_string(),
        })?;
    Ok(bytes.to_vec())
}

/// Writes a module's weights to `path` atomically: a temporary file, then a rename, so an
/// interrupted run never leaves a truncated weights file behind.
#[cfg(not(target_arch = "wasm32"))]
pub fn save_file<M: Module>(model: M, path: &std::path::Path) -> Result<(), WeightsError> {
    let bytes = to_bytes(model, &path.display().to_string())?;
    crate::fs_util::write_atomic(path, &bytes).map_err(|source| WeightsError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Loads weights from `path` into `model`.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_file<M: Module>(model: M, path: &std::path::Path) -> Result<M, WeightsError> {
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
        path: path.display().to_string(),
        source,
    })?;
    from_bytes(model, &bytes, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ConvAeConfig;

    #[test]
    fn weights_of_another_architecture_are_refused() {
        let device = Device::flex();
        let bytes = to_bytes(ConvAeConfig::new().init(&device), "code 2").unwrap();
        // Same parameters, other shapes: an 8-D code.
        let wider = ConvAeConfig::new().with_code(8).init(&device);
        let err = from_bytes(wider, &bytes, "code 2").unwrap_err();
        assert!(
            matches!(err, WeightsError::WrongArchitecture { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("shape mismatch"), "{err}");
        assert!(from_bytes(ConvAeConfig::new().init(&device), &bytes, "code 2").is_ok());
    }

    /// Sets the first value of the parameter at module path `target` to `value`.
    struct SetFirst {
        target: String,
        value: f32,
        path: Vec<String>,
    }

    impl ModuleMapper for SetFirst {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }

        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }

        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if self.path.join(".") != self.target {
                return param;
            }
            let value = self.value;
            param.map(|tensor| {
                let mut values = tensor.clone().into_data().try_into_vec::<f32>().unwrap();
                values[0] = value;
                Tensor::from_data(TensorData::new(values, tensor.shape()), &tensor.device())
            })
        }
    }

    /// Weights whose stored values hold +inf (half precision) or NaN (exact f32) are refused
    /// from the file's bytes, with the parameter named by its module path; the same weights
    /// without them load.
    #[test]
    fn weights_holding_infinity_or_nan_are_refused_naming_the_parameter() {
        let device = Device::flex();
        let model = ConvAeConfig::new().init(&device);
        let good = to_bytes(model.clone(), "ae").unwrap();
        let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(good.clone())).unwrap();
        let names: Vec<String> = reader
            .tensor_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        let last = names.last().unwrap().clone();
        assert!(last.contains('.'), "a module path: {last}");
        for (value, exact) in [(f32::INFINITY, false), (f32::NAN, true)] {
            let mut set = SetFirst {
                target: last.clone(),
                value,
                path: Vec::new(),
            };
            let changed = model.clone().map(&mut set);
            let bytes = if exact {
                to_exact_bytes(changed, "ae").unwrap()
            } else {
                to_bytes(changed, "ae").unwrap()
            };
            let err = from_bytes(ConvAeConfig::new().init(&device), &bytes, "ae").unwrap_err();
            assert!(matches!(err, WeightsError::NonFinite { .. }), "{err}");
            assert_eq!(
                err.to_string(),
                format!("ae: weight `{last}` holds a non-finite value (NaN or infinity)")
            );
        }
        assert!(from_bytes(ConvAeConfig::new().init(&device), &good, "ae").is_ok());
    }
}
