//! # nabla-data
//!
//! Data for the nabla course: real data sets read from their original file formats, a
//! seeded, prefetching [`DataLoader`], and the usual transforms.
//!
//! ```
//! use nabla_data::{mnist, DataLoader, Normalize, Split};
//! let test = mnist::load(Split::Test)?;                   // [10000, 1, 28, 28] in [0, 1]
//! let loader = DataLoader::new(test.into_dataset(), 256)
//!     .shuffle(true)
//!     .seed(0)
//!     .transform(Normalize::mnist());
//! let first = loader.epoch(0).next().unwrap();
//! assert_eq!(first.inputs.shape(), &[256, 1, 28, 28]);
//! assert_eq!(first.labels().len(), 256);
//! # Ok::<(), nabla_data::DataError>(())
//! ```
//!
//! | module | concept |
//! |---|---|
//! | [`dataset`] | the [`Dataset`] trait, [`Batch`], [`Targets`], [`TensorDataset`] |
//! | [`split`] | seeded train/validation splits, [`Subset`] |
//! | [`loader`] | [`DataLoader`]: batching, seeded shuffling, drop-last, prefetch thread, resume |
//! | [`transform`] | [`Normalize`], [`OneHot`], [`RandomCrop`], [`RandomHorizontalFlip`], [`Compose`] |
//! | [`seed`] | derived seeds: one random stream per (seed, epoch, batch) |
//! | [`image`] | [`ImageSet`], [`Split`] |
//! | [`idx`], [`mnist`] | the IDX format; MNIST and Fashion-MNIST |
//! | [`cifar`] | CIFAR-10 binary batches |
//! | [`csv`], [`tables`] | CSV tables; iris, wine, breast cancer, digits, sunspots |
//! | [`text`] | character vocabularies, text corpora, next-character windows |
//! | [`sentiment`] | UCI Sentiment Labelled Sentences: word tokenizer, [`WordVocab`], padded id rows |
//! | [`series`] | time series windows for forecasting |
//! | [`synthetic`] | XOR, two spirals, two moons, sine regression |
//! | [`locate`] | where data is found: explicit path, `NABLA_DATA`, the repository's `data/` |
//! | [`reader`] | reading raw or gzip files without trusting their headers |
//! | [`error`] | [`DataError`] |
//!
//! **Errors, not panics, for bad files.** Every loader returns `Result<_, DataError>`: a
//! missing file names every folder tried and where to get the data; a truncated or corrupt
//! file, a wrong magic number, a header that declares more data than the file holds, a label
//! out of range — each names the file, the field and what was expected. No buffer is ever
//! sized by a header before the data has been seen to exist (property tests feed every parser
//! random bytes, truncations and lying headers).
//!
//! **Determinism.** Shuffling, splits, random transforms and synthetic sets all derive their
//! randomness from explicit seeds, so a run is reproducible and can be resumed mid-epoch.
//!
//! This crate knows nothing of autograd or layers; it produces plain
//! [`Tensor`](nabla_tensor::Tensor)s.
#![warn(missing_docs)]

pub mod cifar;
pub mod csv;
pub mod dataset;
pub mod error;
pub mod idx;
pub mod image;
pub mod loader;
pub mod locate;
pub mod mnist;
pub mod reader;
pub mod seed;
pub mod sentiment;
pub mod series;
pub mod split;
pub mod synthetic;
pub mod tables;
pub mod text;
pub mod transform;

pub use dataset::{Batch, Dataset, Targets, TensorDataset};
pub use error::DataError;
pub use image::{ImageSet, Split};
pub use loader::{DataLoader, Epoch};
pub use sentiment::{SentimentData, WordVocab};
pub use split::{split_indices, train_val_split, Subset};
pub use text::{CharWindows, TextCorpus, Vocab};
pub use transform::{Compose, Normalize, OneHot, RandomCrop, RandomHorizontalFlip, Transform};
