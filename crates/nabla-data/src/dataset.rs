//! The [`Dataset`] trait, the [`Batch`] it returns, and [`TensorDataset`], a dataset in memory.
//!
//! A dataset is anything with a length that can hand out a batch of samples by index — the
//! same idea as PyTorch's map-style `Dataset`, except that it returns a whole batch at once:
//! gathering 128 rows with one `index_select` is much faster than building 128 tensors and
//! stacking them.
//!
//! | type | inputs | targets |
//! |---|---|---|
//! | image classification | `[B, C, H, W]` | [`Targets::Classes`], `B` class indices |
//! | tabular classification | `[B, F]` | [`Targets::Classes`] |
//! | regression | `[B, F]` | [`Targets::Tensor`] `[B, K]` |
//! | one-hot (after [`OneHot`](crate::OneHot)) | any | [`Targets::Tensor`] `[B, classes]` |
//! | next-character prediction | `[B, T]` (ids as `f32`) | [`Targets::Classes`], `B·T` ids, row-major |
//!
//! ```
//! use nabla_data::{Dataset, TensorDataset};
//! use nabla_tensor::Tensor;
//! let x = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[6, 2]);
//! let data = TensorDataset::classification(x, vec![0, 1, 0, 1, 1, 0]);
//! let batch = data.get_batch(&[4, 1]);
//! assert_eq!(batch.inputs.shape(), &[2, 2]);
//! assert_eq!(batch.inputs.to_vec_f32(), vec![8.0, 9.0, 2.0, 3.0]);
//! assert_eq!(batch.labels(), &[1, 1]);
//! ```

use std::sync::Arc;

use nabla_tensor::Tensor;

use crate::error::DataError;

/// What a model should predict for each sample of a batch.
#[derive(Clone, Debug)]
pub enum Targets {
    /// One class index per sample (for cross-entropy); for sequence data, one per position,
    /// row-major (`B·T` indices for a `[B, T]` batch).
    Classes(Vec<usize>),
    /// A tensor whose first axis is the sample: regression values, one-hot rows, sequences.
    Tensor(Tensor),
}

impl Targets {
    /// The number of samples (class indices, or rows of the tensor).
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(classes) => classes.len(),
            Targets::Tensor(t) => t.shape().first().copied().unwrap_or(0),
        }
    }

    /// True when there are no targets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The class indices, if these are classes.
    pub fn as_classes(&self) -> Option<&[usize]> {
        match self {
            Targets::Classes(classes) => Some(classes),
            Targets::Tensor(_) => None,
        }
    }

    /// The target tensor, if this is one.
    pub fn as_tensor(&self) -> Option<&Tensor> {
        match self {
            Targets::Classes(_) => None,
            Targets::Tensor(t) => Some(t),
        }
    }

    /// The targets of the samples at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is not below [`len`](Self::len).
    #[track_caller]
    pub fn select(&self, indices: &[usize]) -> Targets {
        match self {
            Targets::Classes(classes) => Targets::Classes(
                indices
                    .iter()
                    .map(|&i| match classes.get(i) {
                        Some(&c) => c,
                        None => panic!("Targets::select: index {i} is out of range for {} targets", classes.len()),
                    })
                    .collect(),
            ),
            Targets::Tensor(t) => Targets::Tensor(t.index_select(0, indices)),
        }
    }
}

/// A batch of samples: `inputs` with the sample on axis 0, and their `targets`.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The model's input, `[B, ...]`.
    pub inputs: Tensor,
    /// What the model should predict.
    pub targets: Targets,
}

impl Batch {
    /// The number of samples (the extent of axis 0 of `inputs`).
    pub fn len(&self) -> usize {
        self.inputs.shape().first().copied().unwrap_or(0)
    }

    /// True when the batch holds no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The class indices, for `cross_entropy(&logits, batch.labels())`.
    ///
    /// # Panics
    /// If the targets are a tensor (for example after [`OneHot`](crate::OneHot)).
    #[track_caller]
    pub fn labels(&self) -> &[usize] {
        match &self.targets {
            Targets::Classes(classes) => classes,
            Targets::Tensor(t) => {
                panic!("Batch::labels: the targets are a tensor of shape {:?}, not class indices", t.shape())
            }
        }
    }

    /// The target tensor, for regression or one-hot losses.
    ///
    /// # Panics
    /// If the targets are class indices.
    #[track_caller]
    pub fn target_tensor(&self) -> &Tensor {
        match &self.targets {
            Targets::Tensor(t) => t,
            Targets::Classes(c) => panic!(
                "Batch::target_tensor: the targets are {} class indices, not a tensor (use labels(), or the OneHot transform)",
                c.len()
            ),
        }
    }

    /// The inputs read as integer ids (token ids of a text batch), row-major.
    pub fn input_ids(&self) -> Vec<usize> {
        self.inputs.to_vec_f64().into_iter().map(|v| v as usize).collect()
    }
}

/// A collection of samples that hands out batches by index.
///
/// Implementors must be `Send + Sync`: a [`DataLoader`](crate::DataLoader) calls
/// [`get_batch`](Self::get_batch) from its prefetch thread.
pub trait Dataset: Send + Sync {
    /// The number of samples.
    fn len(&self) -> usize;

    /// True when there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples at `indices` (each below [`len`](Self::len), repeats allowed), stacked
    /// into one batch in that order.
    fn get_batch(&self, indices: &[usize]) -> Batch;

    /// The single sample at `index`, as a batch of one.
    fn get(&self, index: usize) -> Batch {
        self.get_batch(&[index])
    }
}

impl<D: Dataset + ?Sized> Dataset for Arc<D> {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get_batch(&self, indices: &[usize]) -> Batch {
        (**self).get_batch(indices)
    }
}

impl<D: Dataset + ?Sized> Dataset for Box<D> {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get_batch(&self, indices: &[usize]) -> Batch {
        (**self).get_batch(indices)
    }
}

/// A dataset held in memory: an input tensor `[N, ...]` and `N` targets.
///
/// Cloning is cheap (tensors share their buffers). [`get_batch`](Dataset::get_batch) copies
/// the selected rows with one `index_select`.
#[derive(Clone, Debug)]
pub struct TensorDataset {
    inputs: Tensor,
    targets: Targets,
}

impl TensorDataset {
    /// A dataset of `inputs` (`[N, ...]`, rank ≥ 1) and `targets` (`N` of them).
    ///
    /// The error says how many samples each side holds when they differ.
    pub fn try_new(inputs: Tensor, targets: Targets) -> Result<Self, DataError> {
        let Some(&n) = inputs.shape().first() else {
            return Err(DataError::mismatch(
                "TensorDataset inputs",
                "a tensor of rank ≥ 1 with the sample on axis 0",
                "a rank-0 tensor",
            ));
        };
        if targets.len() != n {
            return Err(DataError::mismatch(
                "TensorDataset targets",
                format!("{n} targets (one per row of the inputs, shape {:?})", inputs.shape()),
                format!("{}", targets.len()),
            ));
        }
        Ok(TensorDataset { inputs, targets })
    }

    /// [`try_new`](Self::try_new), panicking at the caller's line.
    #[track_caller]
    pub fn new(inputs: Tensor, targets: Targets) -> Self {
        match Self::try_new(inputs, targets) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    /// A classification dataset: inputs and one class index per row.
    #[track_caller]
    pub fn classification(inputs: Tensor, labels: Vec<usize>) -> Self {
        Self::new(inputs, Targets::Classes(labels))
    }

    /// A regression (or any tensor-target) dataset: inputs and a target tensor with as many rows.
    #[track_caller]
    pub fn regression(inputs: Tensor, targets: Tensor) -> Self {
        Self::new(inputs, Targets::Tensor(targets))
    }

    /// All inputs, `[N, ...]`.
    pub fn inputs(&self) -> &Tensor {
        &self.inputs
    }

    /// All targets.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// The shape of one sample (the input shape without axis 0).
    pub fn sample_shape(&self) -> &[usize] {
        &self.inputs.shape()[1..]
    }

    /// The inputs and targets, taken apart.
    pub fn into_parts(self) -> (Tensor, Targets) {
        (self.inputs, self.targets)
    }

    /// A new dataset of the samples at `indices`, in that order (a copy).
    ///
    /// # Panics
    /// If an index is not below [`len`](Dataset::len).
    #[track_caller]
    pub fn subset(&self, indices: &[usize]) -> TensorDataset {
        let batch = self.get_batch(indices);
        TensorDataset { inputs: batch.inputs, targets: batch.targets }
    }

    /// A seeded random split into (train, validation), `val_fraction` of the samples going to
    /// validation; each part keeps the original order. See [`split_indices`](crate::split_indices).
    #[track_caller]
    pub fn split(&self, val_fraction: f64, seed: u64) -> (TensorDataset, TensorDataset) {
        let (train, val) = crate::split::split_indices(self.len(), val_fraction, seed);
        (self.subset(&train), self.subset(&val))
    }
}

impl Dataset for TensorDataset {
    fn len(&self) -> usize {
        self.inputs.shape()[0]
    }

    #[track_caller]
    fn get_batch(&self, indices: &[usize]) -> Batch {
        Batch { inputs: self.inputs.index_select(0, indices), targets: self.targets.select(indices) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> TensorDataset {
        let x = Tensor::from_vec((0..10).map(|v| v as f32).collect(), &[5, 2]);
        TensorDataset::classification(x, vec![0, 1, 2, 3, 4])
    }

    #[test]
    fn batches_gather_rows_and_targets_in_order() {
        let d = tiny();
        assert_eq!(d.len(), 5);
        assert_eq!(d.sample_shape(), &[2]);
        let b = d.get_batch(&[3, 3, 0]);
        assert_eq!(b.len(), 3);
        assert_eq!(b.inputs.to_vec_f32(), vec![6.0, 7.0, 6.0, 7.0, 0.0, 1.0]);
        assert_eq!(b.labels(), &[3, 3, 0]);
        assert_eq!(d.get(4).labels(), &[4]);

        let y = Tensor::from_vec(vec![0.5f32, 1.5, 2.5], &[3, 1]);
        let r = TensorDataset::regression(Tensor::zeros(&[3, 4], nabla_tensor::DType::F32), y);
        assert_eq!(r.get_batch(&[2, 0]).target_tensor().to_vec_f32(), vec![2.5, 0.5]);
    }

    #[test]
    fn mismatched_lengths_are_an_error() {
        let x = Tensor::zeros(&[4, 2], nabla_tensor::DType::F32);
        let err = TensorDataset::try_new(x, Targets::Classes(vec![0; 3])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "TensorDataset targets: expected 4 targets (one per row of the inputs, shape [4, 2]), found 3"
        );
        let err = TensorDataset::try_new(Tensor::scalar(1.0, nabla_tensor::DType::F32), Targets::Classes(vec![]));
        assert!(err.is_err());
    }

    #[test]
    fn subset_and_split_partition_the_samples() {
        let d = tiny();
        assert_eq!(d.subset(&[4, 0]).targets().as_classes().unwrap(), &[4, 0]);
        let (train, val) = d.split(0.4, 1);
        assert_eq!((train.len(), val.len()), (3, 2));
        let mut all: Vec<usize> = train.targets().as_classes().unwrap().to_vec();
        all.extend(val.targets().as_classes().unwrap());
        all.sort();
        assert_eq!(all, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    #[should_panic(expected = "not class indices")]
    fn labels_of_tensor_targets_panics_clearly() {
        let b = Batch {
            inputs: Tensor::zeros(&[1, 1], nabla_tensor::DType::F32),
            targets: Targets::Tensor(Tensor::zeros(&[1, 3], nabla_tensor::DType::F32)),
        };
        let _ = b.labels();
    }
}
