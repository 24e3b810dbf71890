//! Train/validation splits and [`Subset`], a view of some samples of another dataset.
//!
//! A validation set is a part of the training data the model never trains on, used to choose
//! hyper-parameters and to stop early; the test set is touched once, at the end. The split must
//! be random (the files are often sorted by class) but reproducible, so it takes a seed:
//!
//! ```text
//! samples 0..N ──permutation(seed)──▶ [ first ⌊N·f⌉: validation | rest: train ]
//!                                      each part sorted back into file order
//! ```
//!
//! ```
//! use nabla_data::{split_indices, train_val_split, Dataset, synthetic};
//! let (train, val) = split_indices(10, 0.2, 7);
//! assert_eq!((train.len(), val.len()), (8, 2));
//!
//! let (train, val) = train_val_split(synthetic::moons(100, 0.1, 0), 0.25, 7);
//! assert_eq!((train.len(), val.len()), (75, 25));
//! ```

use std::sync::Arc;

use crate::dataset::{Batch, Dataset};
use crate::seed::{derived_rng, permutation, SPLIT};

/// Seeded random split of `0..n` into (train, validation) index lists, with
/// `round(n · val_fraction)` indices in validation; both lists are sorted.
///
/// # Panics
/// If `val_fraction` is not in `[0, 1]`.
#[track_caller]
pub fn split_indices(n: usize, val_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    assert!(
        (0.0..=1.0).contains(&val_fraction),
        "split_indices: val_fraction {val_fraction} must be between 0 and 1 (e.g. 0.1 for 10% validation)"
    );
    let n_val = ((n as f64) * val_fraction).round() as usize;
    let order = permutation(n, &mut derived_rng(seed, &[SPLIT]));
    let mut val = order[..n_val].to_vec();
    let mut train = order[n_val..].to_vec();
    val.sort_unstable();
    train.sort_unstable();
    (train, val)
}

/// The samples of a dataset at some indices, without copying them.
///
/// `subset.get_batch(&[i, j])` is `dataset.get_batch(&[indices[i], indices[j]])`.
#[derive(Debug)]
pub struct Subset<D> {
    dataset: Arc<D>,
    indices: Arc<[usize]>,
}

impl<D> Clone for Subset<D> {
    fn clone(&self) -> Self {
        Subset { dataset: Arc::clone(&self.dataset), indices: Arc::clone(&self.indices) }
    }
}

impl<D: Dataset> Subset<D> {
    /// The samples of `dataset` at `indices` (in that order; repeats allowed).
    ///
    /// # Panics
    /// If an index is not below `dataset.len()`.
    #[track_caller]
    pub fn new(dataset: Arc<D>, indices: Vec<usize>) -> Self {
        let n = dataset.len();
        if let Some((position, &i)) = indices.iter().enumerate().find(|(_, &i)| i >= n) {
            panic!("Subset::new: index {i} (position {position}) is out of range for a dataset of {n} samples");
        }
        Subset { dataset, indices: indices.into() }
    }

    /// The indices into the underlying dataset.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The underlying dataset.
    pub fn dataset(&self) -> &Arc<D> {
        &self.dataset
    }
}

impl<D: Dataset> Dataset for Subset<D> {
    fn len(&self) -> usize {
        self.indices.len()
    }

    #[track_caller]
    fn get_batch(&self, indices: &[usize]) -> Batch {
        let mapped: Vec<usize> = indices
            .iter()
            .map(|&i| match self.indices.get(i) {
                Some(&j) => j,
                None => panic!("Subset::get_batch: index {i} is out of range for a subset of {} samples", self.len()),
            })
            .collect();
        self.dataset.get_batch(&mapped)
    }
}

/// Splits any dataset into (train, validation) [`Subset`]s sharing it; see [`split_indices`].
#[track_caller]
pub fn train_val_split<D: Dataset>(dataset: D, val_fraction: f64, seed: u64) -> (Subset<D>, Subset<D>) {
    let (train, val) = split_indices(dataset.len(), val_fraction, seed);
    let shared = Arc::new(dataset);
    (Subset::new(Arc::clone(&shared), train), Subset::new(shared, val))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TensorDataset;
    use nabla_tensor::Tensor;

    #[test]
    fn splits_are_disjoint_complete_seeded_and_sorted() {
        let (train, val) = split_indices(1000, 0.1, 5);
        assert_eq!((train.len(), val.len()), (900, 100));
        assert!(train.windows(2).all(|w| w[0] < w[1]) && val.windows(2).all(|w| w[0] < w[1]));
        let mut all = [train.clone(), val.clone()].concat();
        all.sort();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_eq!(split_indices(1000, 0.1, 5), (train, val.clone()));
        assert_ne!(split_indices(1000, 0.1, 6).1, val);
        assert_eq!(split_indices(3, 0.0, 0).1.len(), 0);
        assert_eq!(split_indices(3, 1.0, 0).0.len(), 0);
    }

    #[test]
    fn subsets_map_indices() {
        let x = Tensor::from_vec((0..5).map(|v| v as f32).collect(), &[5, 1]);
        let d = Arc::new(TensorDataset::classification(x, vec![0, 1, 2, 3, 4]));
        let s = Subset::new(d, vec![4, 2]);
        assert_eq!(s.len(), 2);
        assert_eq!(s.get_batch(&[1, 0]).labels(), &[2, 4]);
        assert_eq!(s.clone().indices(), &[4, 2]);
    }

    #[test]
    #[should_panic(expected = "val_fraction 1.5 must be between 0 and 1")]
    fn a_bad_fraction_panics_clearly() {
        let _ = split_indices(10, 1.5, 0);
    }
}
