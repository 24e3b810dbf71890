//! Checkpoint files: the whole training state in one file, written atomically.
//!
//! A checkpoint holds what is needed to continue a run exactly as if it had never stopped:
//! the model's parameters and buffers (which include BatchNorm's running statistics and
//! Dropout's call counters), the optimizer's moments and step count, the epoch and step
//! reached, each callback's state, and the history. The data loader needs nothing: its order
//! and augmentations are functions of its seed and the epoch.
//!
//! Layout (all integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `NABLACKP` |
//! | 4 | format version (`u32`, currently 1) |
//! | 8 + n | metadata: length `n`, then `bincode` (serde) of [`CheckpointMeta`] |
//! | 8 + m | model: length `m`, then a safetensors blob of every parameter and buffer |
//! | 8 + k | optimizer: length `k`, then a safetensors blob of its slots (`name#i`) |
//! | 8 | FNV-1a 64 checksum of everything before it |
//!
//! Every length is checked against the bytes that remain before anything is decoded, and
//! every section is validated by its own parser, so a truncated, corrupt or hostile file is
//! an error naming the file and the field — never a panic or a huge allocation. Files are
//! written to a temporary name and renamed into place, so a crash mid-write never leaves a
//! half-written checkpoint under the real name.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use nabla_layers::safetensors_io::state_from_safetensors_bytes;
use nabla_layers::{Module, ModuleExt};
use nabla_tensor::Tensor;
use safetensors_bytes::to_bytes;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::history::History;
use crate::optim::OptimizerState;

/// The file's first eight bytes.
pub const MAGIC: &[u8; 8] = b"NABLACKP";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// The largest metadata section accepted (the history of a very long run fits easily).
const MAX_META_BYTES: usize = 64 << 20;

/// The small, structured part of a checkpoint (serialised with serde + bincode).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// The next epoch to run (0-based).
    pub epoch: usize,
    /// Optimizer steps taken.
    pub step: u64,
    /// The optimizer's name, checked on load.
    pub optimizer: String,
    /// Each callback's name and state, in order.
    pub callbacks: Vec<(String, Vec<f64>)>,
    /// Every epoch so far.
    pub history: History,
}

/// What the file holds besides the tensors.
#[derive(Serialize, Deserialize)]
struct Meta {
    checkpoint: CheckpointMeta,
    optimizer_step: u64,
    learning_rate: f64,
    /// Slot counts per parameter, to rebuild the slot lists in order.
    slot_counts: Vec<(String, usize)>,
}

/// A checkpoint as read back.
pub struct Loaded {
    /// Epoch, step, callback states, history.
    pub meta: CheckpointMeta,
    /// Parameters and buffers by name.
    pub model: BTreeMap<String, Tensor>,
    /// The optimizer's state.
    pub optimizer: OptimizerState,
}

mod safetensors_bytes {
    use std::collections::BTreeMap;

    use nabla_tensor::{DType, Tensor};
    use safetensors::tensor::{Dtype, TensorView};

    /// Named tensors as a safetensors blob.
    pub fn to_bytes(tensors: &BTreeMap<String, Tensor>) -> Vec<u8> {
        let encoded: Vec<(&String, Dtype, Vec<usize>, Vec<u8>)> = tensors
            .iter()
            .map(|(name, t)| match t.dtype() {
                DType::F32 => (
                    name,
                    Dtype::F32,
                    t.shape().to_vec(),
                    t.to_vec_f32().iter().flat_map(|v| v.to_le_bytes()).collect(),
                ),
                DType::F64 => (
                    name,
                    Dtype::F64,
                    t.shape().to_vec(),
                    t.to_vec_f64().iter().flat_map(|v| v.to_le_bytes()).collect(),
                ),
            })
            .collect();
        let views = encoded.iter().map(|(name, dtype, shape, bytes)| {
            (name.as_str(), TensorView::new(*dtype, shape.clone(), bytes).expect("length matches shape"))
        });
        safetensors::tensor::serialize(views, None).expect("unique names, consistent views")
    }
}

/// FNV-1a, 64 bits: a fast checksum that catches truncation and bit rot.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// Writes a checkpoint of `model` and `optimizer` with `meta` to `path`, atomically.
pub fn write<M: Module + ?Sized>(
    path: &Path,
    meta: &CheckpointMeta,
    model: &M,
    optimizer: &OptimizerState,
) -> Result<(), TrainError> {
    let mut slots = BTreeMap::new();
    let mut slot_counts = vec![];
    for (name, tensors) in &optimizer.slots {
        slot_counts.push((name.clone(), tensors.len()));
        for (i, t) in tensors.iter().enumerate() {
            slots.insert(format!("{name}#{i}"), t.clone());
        }
    }
    let meta = Meta {
        checkpoint: meta.clone(),
        optimizer_step: optimizer.step,
        learning_rate: optimizer.learning_rate,
        slot_counts,
    };
    let meta_bytes =
        bincode::serde::encode_to_vec(&meta, bincode::config::standard()).expect("checkpoint metadata is plain data");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    for section in [meta_bytes, to_bytes(&model.state_dict()), to_bytes(&slots)] {
        bytes.extend_from_slice(&(section.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&section);
    }
    let checksum = fnv1a(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());

    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(TrainError::io(dir))?;
    }
    let tmp = temporary_name(path);
    let mut file = std::fs::File::create(&tmp).map_err(TrainError::io(&tmp))?;
    file.write_all(&bytes).map_err(TrainError::io(&tmp))?;
    file.sync_all().map_err(TrainError::io(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(TrainError::io(path))
}

fn temporary_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Reads and validates a checkpoint file.
pub fn read(path: &Path) -> Result<Loaded, TrainError> {
    let bytes = std::fs::read(path).map_err(TrainError::io(path))?;
    parse(&bytes, path)
}

/// Validates and decodes checkpoint `bytes`; `path` names the file in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Loaded, TrainError> {
    let fail = |reason: String| TrainError::Checkpoint { path: path.to_path_buf(), reason };
    if bytes.len() < 8 + 4 + 8 {
        return Err(fail(format!("the file is {} bytes long, too short for a checkpoint header", bytes.len())));
    }
    if &bytes[..8] != MAGIC {
        return Err(fail(format!(
            "field `magic`: expected {:?}, found {:?} (not a nabla checkpoint)",
            MAGIC,
            &bytes[..8]
        )));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(fail(format!(
            "field `version`: this build reads version {VERSION}, the file is version {version}"
        )));
    }
    let (body, tail) = bytes.split_at(bytes.len() - 8);
    let stored = u64::from_le_bytes(tail.try_into().expect("8 bytes"));
    if fnv1a(body) != stored {
        return Err(fail("field `checksum`: the contents do not match the checksum (truncated or corrupted)".into()));
    }
    let mut rest = &body[12..];
    let mut section = |field: &str| -> Result<&[u8], TrainError> {
        if rest.len() < 8 {
            return Err(fail(format!("field `{field}`: the length is missing")));
        }
        let len = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
        let available = (rest.len() - 8) as u64;
        if len > available {
            return Err(fail(format!("field `{field}`: declares {len} bytes but only {available} remain")));
        }
        let (data, after) = rest[8..].split_at(len as usize);
        rest = after;
        Ok(data)
    };
    let meta_bytes = section("metadata")?;
    let model_bytes = section("model")?;
    let slot_bytes = section("optimizer")?;
    if meta_bytes.len() > MAX_META_BYTES {
        return Err(fail(format!(
            "field `metadata`: {} bytes, more than the {MAX_META_BYTES} allowed",
            meta_bytes.len()
        )));
    }
    let (meta, _): (Meta, usize) =
        bincode::serde::decode_from_slice(meta_bytes, bincode::config::standard().with_limit::<MAX_META_BYTES>())
            .map_err(|e| fail(format!("field `metadata`: {e}")))?;
    let model = state_from_safetensors_bytes(model_bytes, path).map_err(|e| fail(format!("field `model`: {e}")))?;
    let mut slots_flat =
        state_from_safetensors_bytes(slot_bytes, path).map_err(|e| fail(format!("field `optimizer`: {e}")))?;
    let mut slots = BTreeMap::new();
    for (name, count) in &meta.slot_counts {
        let mut tensors = vec![];
        for i in 0..*count {
            let key = format!("{name}#{i}");
            let t =
                slots_flat.remove(&key).ok_or_else(|| fail(format!("field `optimizer`: slot `{key}` is missing")))?;
            tensors.push(t);
        }
        slots.insert(name.clone(), tensors);
    }
    if let Some(extra) = slots_flat.keys().next() {
        return Err(fail(format!("field `optimizer`: unexpected slot `{extra}`")));
    }
    Ok(Loaded {
        meta: meta.checkpoint,
        model,
        optimizer: OptimizerState { step: meta.optimizer_step, learning_rate: meta.learning_rate, slots },
    })
}
