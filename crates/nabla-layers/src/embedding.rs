//! Embedding: a lookup table from token ids to learned vectors, `y[…] = W[id[…]]`.
//!
//! | tensor | shape |
//! |---|---|
//! | input: token ids (whole numbers stored as floats) | `[...]`, any shape, e.g. `[batch, time]` |
//! | `weight` `W` | `[vocab, dim]` |
//! | output `y` | `[..., dim]` |
//!
//! The lookup is `W.index_select(0, ids)`: row `id` of `W` for every id. It is the same as
//! multiplying a one-hot row by `W`, without building the one-hot matrix. Its gradient adds
//! the output gradient of every occurrence of an id into row `id` (`index_add`); the ids
//! themselves get no gradient.
//!
//! `W` starts from `N(0, 1)` as in PyTorch. Keras starts from `U(−0.05, 0.05)`:
//! `.with_weight_init(Initializer::Uniform { low: -0.05, high: 0.05 })`.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{EmbeddingConfig, Module};
//! use nabla_tensor::{rng, Tensor};
//! let embed = EmbeddingConfig::new(100, 16).init(&mut rng(0));
//! let ids = Var::constant(Tensor::from_vec(vec![3.0f32, 14.0, 15.0, 92.0, 65.0, 35.0], &[2, 3]));
//! assert_eq!(embed.forward(&ids).shape(), vec![2, 3, 16]);
//! assert_eq!(embed.lookup(&[3, 14, 15], &[3]).shape(), vec![3, 16]);
//! ```

use nabla_autograd::Var;
use nabla_tensor::{DType, Rng};

use crate::init::Initializer;
use crate::module::{Module, Visitor};

/// How to build an [`Embedding`].
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingConfig {
    /// Vocabulary size: ids run over `0..num_embeddings`.
    pub num_embeddings: usize,
    /// Length of each vector.
    pub embedding_dim: usize,
    /// How the table starts (`Normal { std: 1.0 }`, PyTorch's choice, by default).
    pub weight_init: Initializer,
    /// Element type of the table.
    pub dtype: DType,
}

impl EmbeddingConfig {
    /// A table of `num_embeddings` vectors of length `embedding_dim`, `N(0, 1)`, `f32`.
    pub fn new(num_embeddings: usize, embedding_dim: usize) -> Self {
        EmbeddingConfig {
            num_embeddings,
            embedding_dim,
            weight_init: Initializer::Normal { std: 1.0 },
            dtype: DType::F32,
        }
    }

    /// Sets the initializer of the table.
    pub fn with_weight_init(mut self, init: Initializer) -> Self {
        self.weight_init = init;
        self
    }

    /// Sets the element type.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Builds the layer, drawing the table from `rng`.
    pub fn init(&self, rng: &mut Rng) -> Embedding {
        let shape = [self.num_embeddings, self.embedding_dim];
        Embedding { weight: Var::new(self.weight_init.init(&shape, self.dtype, rng)) }
    }
}

/// A learned lookup table; see the [module docs](self).
pub struct Embedding {
    /// `[vocab, dim]`.
    pub weight: Var,
}

/// `flat` as a multi-index into `shape` (row-major).
fn position(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        index[d] = flat % shape[d];
        flat /= shape[d];
    }
    index
}

impl Embedding {
    /// The vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.weight.shape()[0]
    }

    /// The length of each vector.
    pub fn embedding_dim(&self) -> usize {
        self.weight.shape()[1]
    }

    /// The vectors of `ids`, laid out as `shape` (whose element count must be `ids.len()`):
    /// the result is `[...shape, dim]`.
    ///
    /// # Panics
    /// If an id is not below the vocabulary size, or `shape` does not hold `ids.len()` ids.
    #[track_caller]
    pub fn lookup(&self, ids: &[usize], shape: &[usize]) -> Var {
        let vocab = self.vocab_size();
        assert_eq!(
            shape.iter().product::<usize>(),
            ids.len(),
            "Embedding::lookup: shape {shape:?} does not hold the {} ids given",
            ids.len()
        );
        if let Some((flat, id)) = ids.iter().enumerate().find(|(_, &id)| id >= vocab) {
            panic!(
                "Embedding: id {id} at position {:?} is not below the vocabulary size {vocab}",
                position(flat, shape)
            );
        }
        let mut out_shape = shape.to_vec();
        out_shape.push(self.embedding_dim());
        self.weight.index_select(0, ids).reshape(&out_shape)
    }
}

impl Module for Embedding {
    /// Looks up the ids held (as floats) in `input`.
    ///
    /// # Panics
    /// If an id is negative, not a whole number, or not below the vocabulary size; the
    /// message names the id and its position.
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let shape = input.shape();
        let vocab = self.vocab_size();
        let values = input.value().to_vec_f64();
        let mut ids = Vec::with_capacity(values.len());
        for (flat, &v) in values.iter().enumerate() {
            if !(v >= 0.0 && v.fract() == 0.0 && v < vocab as f64) {
                panic!(
                    "Embedding: id {v} at position {:?} is not a whole number in 0..{vocab} (the vocabulary size is {vocab})",
                    position(flat, shape)
                );
            }
            ids.push(v as usize);
        }
        self.lookup(&ids, shape)
    }

    fn kind(&self) -> &'static str {
        "Embedding"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.parameter("weight", &self.weight);
    }
}
