//! [`DataLoader`]: batches of a dataset, in a seeded order, prepared ahead on a worker thread.
//!
//! Training visits the whole dataset once per *epoch*, in mini-batches. The loader decides
//! which samples form each batch, applies the transforms, and — so that the model never waits —
//! prepares the next batches on a background thread while the current one trains.
//!
//! ```text
//! epoch e:  order = permutation(N, rng(seed, SHUFFLE, e))        (or 0..N without shuffle)
//!           batch b = dataset.get_batch(order[b·B .. (b+1)·B])
//!                     → transform(batch, rng(seed, TRANSFORM, e, b))
//!
//!   worker thread:  make batch b, b+1, … ──▶ [bounded channel, `prefetch` slots] ──▶ training loop
//! ```
//!
//! **Determinism.** Every random choice is made from a generator seeded by its coordinates
//! (seed, epoch, batch), never by the order threads happen to run in. Hence:
//! * the same seed gives the same batches, run after run, with or without prefetching;
//! * each epoch has its own order;
//! * a run resumed at epoch `e`, batch `b` ([`DataLoader::epoch_from`]) sees exactly the
//!   batches the uninterrupted run would have seen.
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `batch_size` | (required) | samples per batch |
//! | [`shuffle`](DataLoader::shuffle) | `false` | a new random order each epoch |
//! | [`seed`](DataLoader::seed) | `0` | seeds the order and the random transforms |
//! | [`drop_last`](DataLoader::drop_last) | `false` | skip the last batch if it is smaller |
//! | [`prefetch`](DataLoader::prefetch) | `2` | batches prepared ahead; `0` = no worker thread |
//! | [`transform`](DataLoader::transform) | none | applied to every batch |
//!
//! ```
//! use nabla_data::{synthetic, DataLoader};
//! let loader = DataLoader::new(synthetic::moons(1000, 0.1, 0), 128).shuffle(true).seed(42);
//! assert_eq!(loader.len(), 8); // ⌈1000 / 128⌉
//! for epoch in 0..2 {
//!     for batch in loader.epoch(epoch) {
//!         assert!(batch.len() <= 128);
//!         // forward, loss(batch.labels()), backward, step ...
//!     }
//! }
//! ```

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::dataset::{Batch, Dataset};
use crate::seed::{derived_rng, permutation, SHUFFLE, TRANSFORM};
use crate::transform::Transform;

/// Batches of a dataset in a seeded order, with optional transforms and prefetching.
///
/// Cloning is cheap: the dataset and the transform are shared.
#[derive(Clone)]
pub struct DataLoader {
    dataset: Arc<dyn Dataset>,
    batch_size: usize,
    shuffle: bool,
    seed: u64,
    drop_last: bool,
    prefetch: usize,
    transform: Option<Arc<dyn Transform>>,
}

impl std::fmt::Debug for DataLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataLoader")
            .field("samples", &self.dataset.len())
            .field("batch_size", &self.batch_size)
            .field("shuffle", &self.shuffle)
            .field("seed", &self.seed)
            .field("drop_last", &self.drop_last)
            .field("prefetch", &self.prefetch)
            .field("transform", &self.transform.is_some())
            .finish()
    }
}

impl DataLoader {
    /// A loader over `dataset` in batches of `batch_size` (in order, no transform, prefetch 2).
    ///
    /// # Panics
    /// If `batch_size` is 0.
    #[track_caller]
    pub fn new(dataset: impl Dataset + 'static, batch_size: usize) -> Self {
        Self::from_arc(Arc::new(dataset), batch_size)
    }

    /// A loader over a dataset that is already shared.
    ///
    /// # Panics
    /// If `batch_size` is 0.
    #[track_caller]
    pub fn from_arc(dataset: Arc<dyn Dataset>, batch_size: usize) -> Self {
        assert!(batch_size > 0, "DataLoader: batch_size must be at least 1");
        DataLoader { dataset, batch_size, shuffle: false, seed: 0, drop_last: false, prefetch: 2, transform: None }
    }

    /// Visit the samples in a new random order each epoch (for training).
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// The seed of the shuffling and of the random transforms.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Skip the last, smaller batch of each epoch (when the batch size does not divide `N`).
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Prepare up to `batches` batches ahead on a worker thread; `0` makes every batch on the
    /// calling thread when it is asked for.
    pub fn prefetch(mut self, batches: usize) -> Self {
        self.prefetch = batches;
        self
    }

    /// Apply `transform` to every batch (replacing any earlier one; use
    /// [`Compose`](crate::Compose) for several).
    pub fn transform(mut self, transform: impl Transform + 'static) -> Self {
        self.transform = Some(Arc::new(transform));
        self
    }

    /// The number of batches per epoch: `⌈N / B⌉`, or `⌊N / B⌋` with `drop_last`.
    pub fn len(&self) -> usize {
        let n = self.dataset.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// True when an epoch has no batches.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The number of samples an epoch visits (`N`, less the dropped remainder with `drop_last`).
    pub fn samples_per_epoch(&self) -> usize {
        if self.drop_last {
            self.len() * self.batch_size
        } else {
            self.dataset.len()
        }
    }

    /// The dataset.
    pub fn dataset(&self) -> &Arc<dyn Dataset> {
        &self.dataset
    }

    /// The order in which epoch `epoch` visits the samples: a permutation of `0..N` that
    /// depends only on (seed, epoch), or `0..N` without shuffling.
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let n = self.dataset.len();
        if self.shuffle {
            permutation(n, &mut derived_rng(self.seed, &[SHUFFLE, epoch as u64]))
        } else {
            (0..n).collect()
        }
    }

    /// Batch `index` of epoch `epoch`, made on the calling thread (random access; iterating
    /// with [`epoch`](Self::epoch) computes the order once instead of per batch).
    ///
    /// # Panics
    /// If `index` is not below [`len`](Self::len).
    #[track_caller]
    pub fn batch(&self, epoch: usize, index: usize) -> Batch {
        assert!(index < self.len(), "DataLoader::batch: batch {index} is out of range for {} batches", self.len());
        self.make_batch(&self.order(epoch), epoch, index)
    }

    fn make_batch(&self, order: &[usize], epoch: usize, index: usize) -> Batch {
        let start = index * self.batch_size;
        let end = (start + self.batch_size).min(order.len());
        let batch = self.dataset.get_batch(&order[start..end]);
        match &self.transform {
            Some(t) => t.apply(batch, &mut derived_rng(self.seed, &[TRANSFORM, epoch as u64, index as u64])),
            None => batch,
        }
    }

    /// The batches of epoch `epoch`, in order.
    pub fn epoch(&self, epoch: usize) -> Epoch {
        self.epoch_from(epoch, 0)
    }

    /// The batches of epoch `epoch` from batch `start` on: what a training run resumed at
    /// (epoch, start) must see. `start ≥ len()` gives no batches.
    pub fn epoch_from(&self, epoch: usize, start: usize) -> Epoch {
        let end = self.len();
        let start = start.min(end);
        let order: Arc<[usize]> = self.order(epoch).into();
        let source = if self.prefetch == 0 || start == end {
            Source::Inline { loader: self.clone(), order }
        } else {
            let (sender, receiver) = sync_channel(self.prefetch);
            let loader = self.clone();
            let worker = std::thread::Builder::new()
                .name(format!("nabla-data prefetch epoch {epoch}"))
                .spawn(move || {
                    for index in start..end {
                        let batch = loader.make_batch(&order, epoch, index);
                        if sender.send(batch).is_err() {
                            return; // the Epoch was dropped: stop early
                        }
                    }
                })
                .expect("failed to spawn the prefetch thread");
            Source::Worker { receiver: Some(receiver), worker: Some(worker) }
        };
        Epoch { source, epoch, next: start, end }
    }
}

enum Source {
    Inline { loader: DataLoader, order: Arc<[usize]> },
    Worker { receiver: Option<Receiver<Batch>>, worker: Option<JoinHandle<()>> },
}

/// The batches of one epoch (an iterator); see [`DataLoader::epoch`].
///
/// Dropping it early stops the worker thread.
pub struct Epoch {
    source: Source,
    epoch: usize,
    next: usize,
    end: usize,
}

impl Epoch {
    /// The epoch number.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// The index of the batch the next call to `next()` returns.
    pub fn position(&self) -> usize {
        self.next
    }
}

impl Iterator for Epoch {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.next >= self.end {
            return None;
        }
        let batch = match &mut self.source {
            Source::Inline { loader, order } => loader.make_batch(order, self.epoch, self.next),
            Source::Worker { receiver, worker } => {
                match receiver.as_ref().and_then(|r| r.recv().ok()) {
                    Some(batch) => batch,
                    None => {
                        // The worker stopped before sending every batch: it panicked (in the
                        // dataset or a transform). Re-raise its panic here, on the caller's thread.
                        if let Some(handle) = worker.take() {
                            if let Err(payload) = handle.join() {
                                std::panic::resume_unwind(payload);
                            }
                        }
                        panic!("DataLoader: the prefetch thread stopped before batch {}", self.next);
                    }
                }
            }
        };
        self.next += 1;
        Some(batch)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.end - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Epoch {}

impl Drop for Epoch {
    fn drop(&mut self) {
        if let Source::Worker { receiver, worker } = &mut self.source {
            drop(receiver.take()); // a blocked `send` now fails, and the worker returns
            if let Some(handle) = worker.take() {
                let _ = handle.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Targets, TensorDataset};
    use nabla_tensor::Tensor;

    fn numbered(n: usize) -> TensorDataset {
        TensorDataset::classification(Tensor::from_vec((0..n).map(|v| v as f32).collect(), &[n, 1]), (0..n).collect())
    }

    fn labels(epoch: Epoch) -> Vec<Vec<usize>> {
        epoch.map(|b| b.labels().to_vec()).collect()
    }

    #[test]
    fn batch_counts_with_and_without_drop_last() {
        let l = DataLoader::new(numbered(10), 4);
        assert_eq!(l.len(), 3);
        assert_eq!(labels(l.epoch(0)), vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
        let l = l.drop_last(true);
        assert_eq!((l.len(), l.samples_per_epoch()), (2, 8));
        assert_eq!(labels(l.epoch(0)), vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]]);
        let empty = DataLoader::new(numbered(3), 4).drop_last(true);
        assert!(empty.is_empty() && empty.epoch(0).next().is_none());
    }

    #[test]
    fn shuffling_is_seeded_per_epoch_and_covers_every_sample() {
        let l = DataLoader::new(numbered(50), 8).shuffle(true).seed(9);
        let e0 = labels(l.epoch(0));
        assert_eq!(e0, labels(l.clone().epoch(0)));
        assert_ne!(e0, labels(l.epoch(1)));
        assert_ne!(e0, labels(l.clone().seed(10).epoch(0)));
        let mut all: Vec<usize> = e0.concat();
        all.sort();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn resuming_mid_epoch_gives_the_remaining_batches() {
        let l = DataLoader::new(numbered(37), 5).shuffle(true).seed(1);
        let full = labels(l.epoch(3));
        let it = l.epoch_from(3, 4);
        assert_eq!((it.position(), it.len()), (4, 4));
        assert_eq!(labels(it), full[4..].to_vec());
        assert_eq!(l.batch(3, 6).labels(), &full[6][..]);
        assert_eq!(l.epoch_from(3, 100).count(), 0);
    }

    #[test]
    fn prefetching_changes_nothing_but_the_thread() {
        let noisy = |b: Batch, rng: &mut nabla_tensor::Rng| {
            let noise = nabla_tensor::init::uniform(b.inputs.shape(), 0.0, 1.0, b.inputs.dtype(), rng);
            Batch { inputs: b.inputs.add(&noise), targets: b.targets }
        };
        let base = DataLoader::new(numbered(23), 4).shuffle(true).seed(5).transform(noisy);
        for prefetch in [0, 1, 3] {
            let l = base.clone().prefetch(prefetch);
            let batches: Vec<(Vec<f32>, Vec<usize>)> =
                l.epoch(2).map(|b| (b.inputs.to_vec_f32(), b.labels().to_vec())).collect();
            let reference: Vec<(Vec<f32>, Vec<usize>)> =
                base.clone().prefetch(0).epoch(2).map(|b| (b.inputs.to_vec_f32(), b.labels().to_vec())).collect();
            assert_eq!(batches, reference, "prefetch {prefetch}");
        }
    }

    #[test]
    fn dropping_an_epoch_early_stops_the_worker() {
        let l = DataLoader::new(numbered(1000), 1).prefetch(1);
        let mut e = l.epoch(0);
        assert_eq!(e.next().unwrap().labels(), &[0]);
        drop(e); // must not hang
    }

    #[test]
    #[should_panic(expected = "transform failed on purpose")]
    fn a_panic_on_the_worker_reaches_the_caller() {
        let failing = |b: Batch, _: &mut nabla_tensor::Rng| {
            if b.labels()[0] >= 4 {
                panic!("transform failed on purpose");
            }
            b
        };
        let l = DataLoader::new(numbered(8), 2).transform(failing);
        for _ in l.epoch(0) {}
    }

    #[test]
    fn targets_tensor_datasets_work_too() {
        let x = Tensor::zeros(&[6, 2], nabla_tensor::DType::F32);
        let y = Tensor::from_vec((0..6).map(|v| v as f32).collect(), &[6, 1]);
        let l = DataLoader::new(TensorDataset::new(x, Targets::Tensor(y)), 4);
        let sizes: Vec<usize> = l.epoch(0).map(|b| b.target_tensor().shape()[0]).collect();
        assert_eq!(sizes, vec![4, 2]);
    }
}
