//! Saving and loading a module's weights in the [safetensors] format.
//!
//! A safetensors file is an 8-byte little-endian header length, a JSON header mapping each
//! tensor name to its dtype, shape and byte range, then the raw little-endian data. nabla
//! writes every parameter and buffer under its dotted name (`block1.conv.weight`), so the file
//! can be inspected or loaded by any safetensors reader, and a model can load files written by
//! other tools if the names and shapes match.
//!
//! Reading is defensive: the header is validated against the file's length before any tensor
//! is materialised, and every failure names the file and the tensor.
//!
//! [safetensors]: https://huggingface.co/docs/safetensors

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nabla_tensor::{DType, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::module::{Module, ModuleExt, StateError};

/// Why weights could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The bytes are not a valid safetensors file.
    #[error("{path}: not a valid safetensors file: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What the parser found.
        reason: String,
    },
    /// A tensor's dtype is not one nabla holds.
    #[error("{path}: tensor `{name}` has dtype {dtype}, but nabla reads only F32 and F64")]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Its dtype as the file states it.
        dtype: String,
    },
    /// The tensors do not match the model.
    #[error("{path}: {source}")]
    State {
        /// The file.
        path: PathBuf,
        /// Which tensor differs and how.
        source: StateError,
    },
}

fn to_bytes(t: &Tensor) -> (Dtype, Vec<u8>) {
    match t.dtype() {
        DType::F32 => (Dtype::F32, t.to_vec_f32().iter().flat_map(|v| v.to_le_bytes()).collect()),
        DType::F64 => (Dtype::F64, t.to_vec_f64().iter().flat_map(|v| v.to_le_bytes()).collect()),
    }
}

/// The module's parameters and buffers as safetensors bytes.
pub fn to_safetensors_bytes<M: Module + ?Sized>(module: &M) -> Vec<u8> {
    let state = module.state_dict();
    let encoded: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = state
        .iter()
        .map(|(name, t)| {
            let (dtype, bytes) = to_bytes(t);
            (name.clone(), dtype, t.shape().to_vec(), bytes)
        })
        .collect();
    let views = encoded.iter().map(|(name, dtype, shape, bytes)| {
        (name.as_str(), TensorView::new(*dtype, shape.clone(), bytes).expect("byte length matches the shape"))
    });
    safetensors::tensor::serialize(views, None).expect("names are unique and views are consistent")
}

/// Parses safetensors bytes into named tensors; `path` is only used in error messages.
pub fn state_from_safetensors_bytes(bytes: &[u8], path: &Path) -> Result<BTreeMap<String, Tensor>, WeightsError> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| WeightsError::Format { path: path.to_path_buf(), reason: e.to_string() })?;
    let mut state = BTreeMap::new();
    for (name, view) in file.tensors() {
        let data = view.data();
        let tensor = match view.dtype() {
            Dtype::F32 => Tensor::from_vec(
                data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect(),
                view.shape(),
            ),
            Dtype::F64 => Tensor::from_vec(
                data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect(),
                view.shape(),
            ),
            other => return Err(WeightsError::Dtype { path: path.to_path_buf(), name, dtype: format!("{other:?}") }),
        };
        state.insert(name, tensor);
    }
    Ok(state)
}

/// Writes the module's weights to `path` (a temporary file, then renamed, so a crash never
/// leaves a half-written file).
pub fn save_safetensors<M: Module + ?Sized>(module: &M, path: impl AsRef<Path>) -> Result<(), WeightsError> {
    let path = path.as_ref();
    let io = |source| WeightsError::Io { path: path.to_path_buf(), source };
    let tmp = path.with_extension("safetensors.tmp");
    std::fs::write(&tmp, to_safetensors_bytes(module)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Loads weights from `path` into the module; on any error the module is unchanged.
pub fn load_safetensors<M: Module + ?Sized>(module: &M, path: impl AsRef<Path>) -> Result<(), WeightsError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io { path: path.to_path_buf(), source })?;
    let state = state_from_safetensors_bytes(&bytes, path)?;
    module.load_state_dict(&state).map_err(|source| WeightsError::State { path: path.to_path_buf(), source })
}
