//! Positional encodings: attention is blind to order (permuting the keys permutes nothing in
//! the output), so each position's vector gets a signature of its index added to it.
//!
//! **Sinusoidal** (Vaswani et al., 2017): a fixed table, no parameters. Feature pair `(2i, 2i + 1)`
//! is a sine and a cosine of the position at the angular frequency `ωᵢ = 10000^(−2i/d)`:
//!
//! ```text
//! PE[pos, 2i]     = sin(pos · ωᵢ)
//! PE[pos, 2i + 1] = cos(pos · ωᵢ)          ωᵢ = 1 / 10000^(2i/d),  i = 0, 1, …, ⌈d/2⌉ − 1
//! ```
//!
//! The wavelengths run geometrically from `2π` to `10000·2π`, and for a fixed offset `k`,
//! `PE[pos + k]` is a rotation of `PE[pos]` (pair by pair), which lets attention read relative
//! positions. An odd `d` ends with a lone sine column.
//!
//! **Learned** (GPT, BERT): a `[max_len, d_model]` parameter, row `pos` added at position `pos`.
//!
//! | tensor | shape |
//! |---|---|
//! | input `x`, output `x + PE[..t]` | `[..., t, d_model]`, usually `[batch, t, d_model]`, `t ≤ max_len` |
//! | table (`SinusoidalPositionalEncoding::table`) or `weight` | `[max_len, d_model]` |
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{LearnedPositionalEmbeddingConfig, Module, SinusoidalPositionalEncoding};
//! use nabla_tensor::{rng, DType, Tensor};
//! let x = Var::constant(Tensor::zeros(&[2, 10, 16], DType::F32));
//! let sinusoidal = SinusoidalPositionalEncoding::new(512, 16);
//! assert_eq!(sinusoidal.forward(&x).shape(), vec![2, 10, 16]);
//! let learned = LearnedPositionalEmbeddingConfig::new(512, 16).init(&mut rng(0));
//! assert_eq!(learned.forward(&x).shape(), vec![2, 10, 16]);
//! ```

use nabla_autograd::Var;
use nabla_tensor::{DType, Rng, Tensor};

use crate::init::Initializer;
use crate::module::{Module, Visitor};

/// Checks that `shape` is `[..., t, d_model]` with `t ≤ max_len`; returns `t`.
#[track_caller]
fn positions(layer: &str, shape: &[usize], max_len: usize, d_model: usize) -> usize {
    assert!(
        shape.len() >= 2 && shape[shape.len() - 1] == d_model,
        "{layer}: expected input [..., t, {d_model}] but received {shape:?}"
    );
    let t = shape[shape.len() - 2];
    assert!(
        t <= max_len,
        "{layer}: the input {shape:?} has t = {t} positions but the table only holds max_len = {max_len}"
    );
    t
}

/// The Transformer paper's sin/cos table, added to the input; see the [module docs](self).
///
/// Parameter-free: the struct is its own config, and the table (computed in `f64`, converted to
/// the input's dtype) is not saved, since it is a function of `max_len` and `d_model`.
#[derive(Clone, Debug)]
pub struct SinusoidalPositionalEncoding {
    max_len: usize,
    d_model: usize,
    table: Tensor,
}

impl SinusoidalPositionalEncoding {
    /// The table for positions `0..max_len` of `d_model` features.
    pub fn new(max_len: usize, d_model: usize) -> Self {
        let mut values = Vec::with_capacity(max_len * d_model);
        for pos in 0..max_len {
            for j in 0..d_model {
                let frequency = 10000f64.powf(-((j - j % 2) as f64) / d_model as f64);
                let angle = pos as f64 * frequency;
                values.push(if j % 2 == 0 { angle.sin() } else { angle.cos() });
            }
        }
        SinusoidalPositionalEncoding { max_len, d_model, table: Tensor::from_vec(values, &[max_len, d_model]) }
    }

    /// The longest sequence the table covers.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The features per position.
    pub fn d_model(&self) -> usize {
        self.d_model
    }

    /// The table `PE`, `[max_len, d_model]`, in `f64`.
    pub fn table(&self) -> &Tensor {
        &self.table
    }
}

impl Module for SinusoidalPositionalEncoding {
    /// `x + PE[..t]` for `x` of `[..., t, d_model]`.
    ///
    /// # Panics
    /// If the last axis is not `d_model` or `t > max_len`.
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let t = positions("SinusoidalPositionalEncoding", input.shape(), self.max_len, self.d_model);
        input.add(&Var::constant(self.table.narrow(0, 0, t).to_dtype(input.dtype())))
    }

    fn kind(&self) -> &'static str {
        "SinusoidalPositionalEncoding"
    }

    fn visit(&self, _visitor: &mut Visitor<'_>) {}
}

/// How to build a [`LearnedPositionalEmbedding`].
#[derive(Clone, Debug, PartialEq)]
pub struct LearnedPositionalEmbeddingConfig {
    /// The longest sequence: rows of the table.
    pub max_len: usize,
    /// Features per position.
    pub d_model: usize,
    /// How the table starts (`Normal { std: 0.02 }`, GPT-2's choice, by default).
    pub weight_init: Initializer,
    /// Element type of the table.
    pub dtype: DType,
}

impl LearnedPositionalEmbeddingConfig {
    /// A `[max_len, d_model]` table, `N(0, 0.02²)`, `f32`.
    pub fn new(max_len: usize, d_model: usize) -> Self {
        LearnedPositionalEmbeddingConfig {
            max_len,
            d_model,
            weight_init: Initializer::Normal { std: 0.02 },
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
    pub fn init(&self, rng: &mut Rng) -> LearnedPositionalEmbedding {
        let weight = Var::new(self.weight_init.init(&[self.max_len, self.d_model], self.dtype, rng));
        LearnedPositionalEmbedding { weight }
    }
}

/// A learned table of position vectors, added to the input; see the [module docs](self).
pub struct LearnedPositionalEmbedding {
    /// `[max_len, d_model]`: row `pos` is added at position `pos`.
    pub weight: Var,
}

impl LearnedPositionalEmbedding {
    /// The longest sequence the table covers.
    pub fn max_len(&self) -> usize {
        self.weight.shape()[0]
    }

    /// The features per position.
    pub fn d_model(&self) -> usize {
        self.weight.shape()[1]
    }
}

impl Module for LearnedPositionalEmbedding {
    /// `x + W[..t]` for `x` of `[..., t, d_model]`; rows `t..max_len` get no gradient.
    ///
    /// # Panics
    /// If the last axis is not `d_model` or `t > max_len`.
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let t = positions("LearnedPositionalEmbedding", input.shape(), self.max_len(), self.d_model());
        input.add(&self.weight.narrow(0, 0, t))
    }

    fn kind(&self) -> &'static str {
        "LearnedPositionalEmbedding"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.parameter("weight", &self.weight);
    }
}
