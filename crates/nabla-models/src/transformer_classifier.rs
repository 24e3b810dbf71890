//! A Transformer encoder that classifies whole sequences (sentiment, topic): every position
//! attends to every other (no causal mask), the stack's outputs are pooled into one vector,
//! and a linear layer scores the classes.
//!
//! ```text
//! ids [b, t] ─token_embedding─▶ [b, t, d] ─(prepend [CLS])─+ positions─(dropout)─▶
//!     ─blocks.0─▶ … ─blocks.{N−1}─▶ ─ln_f─▶ [b, t, d] ─pool─▶ [b, d] ─head─▶ logits [b, classes]
//!
//! block (pre-LN, bidirectional):   x = x + Attn(LN₁(x), padding mask)    x = x + MLP(LN₂(x))
//! ```
//!
//! **Padding.** Sentences of different lengths share a batch by filling the short ones up on
//! the right with a padding id (0 by default, as [`SeqClassifier`](crate::SeqClassifier)).
//! Padded positions must not change the answer, so they are hidden twice: no position attends
//! to them (a [`padding_mask`] on the keys), and the pooling leaves them out. The lengths come
//! either from the ids ([`Module::forward`]: one past the last id that is not the padding id)
//! or explicitly ([`forward_with_lengths`](TransformerClassifier::forward_with_lengths)).
//! Columns after the longest sequence of the batch are padding everywhere and are not computed
//! at all.
//!
//! **Pooling** ([`TransformerPooling`]): the mean of the valid positions' vectors
//! (`Σᵢ validᵢ·hᵢ / Σᵢ validᵢ`), or — as BERT does — the output at an extra learned `[CLS]`
//! vector put in front of every sequence, which can attend to the whole sentence.
//!
//! **Positions** ([`PositionEncoding`]): a learned table (`N(0, 0.02²)`, as BERT), or the
//! fixed sinusoidal one, in which case the token vectors start from `N(0, 1/d)` and are
//! multiplied by `√d`, as in the Transformer paper, so both have a comparable scale.
//!
//! | tensor | shape |
//! |---|---|
//! | input: token ids (whole numbers stored as floats) | `[batch, t]`, `t ≤ max_len` (`t + 1` with `[CLS]`) |
//! | lengths | `batch` numbers in `0..=t` |
//! | output: logits | `[batch, num_classes]` |
//!
//! Parameters (learned positions, mean pooling): `V·d + max_len·d + N·(12d² + 13d) + 2d +
//! (d + 1)·classes`; `[CLS]` adds `d`, sinusoidal positions remove `max_len·d`.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{Module, ModuleExt};
//! use nabla_models::{TransformerPooling, TransformerClassifierConfig};
//! use nabla_tensor::{rng, Tensor};
//! // vocab 100, up to 16 tokens, d_model 32, 4 heads, 2 blocks, 2 classes; id 0 is padding
//! let config = TransformerClassifierConfig::new(100, 16, 32, 4, 2, 2);
//! let model = config.init(&mut rng(0));
//! let ids = Var::constant(Tensor::from_vec(vec![5.0f32, 9.0, 2.0, 0.0, 7.0, 3.0, 0.0, 0.0], &[2, 4]));
//! assert_eq!(model.forward(&ids).shape(), vec![2, 2]);
//! // The same as giving the lengths explicitly.
//! assert_eq!(model.lengths(&ids), vec![3, 2]);
//! let by_lengths = model.forward_with_lengths(&ids, &[3, 2]);
//! assert_eq!(model.forward(&ids).value().to_vec_f32(), by_lengths.value().to_vec_f32());
//! let cls = config.with_pooling(TransformerPooling::Cls).init(&mut rng(0));
//! assert_eq!(cls.named_parameters()[0].0, "cls_token");
//! ```

use nabla_autograd::Var;
use nabla_layers::attention::padding_mask;
use nabla_layers::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig,
    LearnedPositionalEmbeddingConfig, Linear, LinearConfig, Module, SinusoidalPositionalEncoding, Trace,
    TransformerEncoderBlock, TransformerEncoderBlockConfig, Visitor,
};
use nabla_tensor::{DType, Rng, Tensor};

use crate::call;

/// How a [`TransformerClassifier`] turns the vectors of a sequence into one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TransformerPooling {
    /// The mean over the valid (not padded) positions.
    #[default]
    Mean,
    /// The output at a learned `[CLS]` vector prepended to every sequence (BERT).
    Cls,
}

/// Which signature of its index each position gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PositionEncoding {
    /// A learned `[max_len, d]` table (`position_embedding.weight`).
    #[default]
    Learned,
    /// The fixed sin/cos table of the Transformer paper (no parameters).
    Sinusoidal,
}

/// How to build a [`TransformerClassifier`]; see the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct TransformerClassifierConfig {
    /// Vocabulary size `V`.
    pub vocab_size: usize,
    /// The longest input sequence (the `[CLS]` vector, if any, is extra).
    pub max_len: usize,
    /// Features of each position `d`; a multiple of `num_heads`.
    pub d_model: usize,
    /// Attention heads per block.
    pub num_heads: usize,
    /// Number of encoder blocks `N`.
    pub num_layers: usize,
    /// Number of classes (outputs).
    pub num_classes: usize,
    /// Hidden width of each block's MLP (`4·d_model` by default).
    pub mlp_width: usize,
    /// Dropout probability after the embeddings, on every residual branch and before the
    /// head (0 by default).
    pub dropout: f64,
    /// Dropout probability on the attention weights (0 by default).
    pub attention_dropout: f64,
    /// Mean of the valid positions (default) or a `[CLS]` vector.
    pub pooling: TransformerPooling,
    /// Learned (default) or sinusoidal positions.
    pub positions: PositionEncoding,
    /// The id that fills sequences up on the right (0 by default); [`Module::forward`] reads
    /// the lengths from it.
    pub pad_id: usize,
    /// Standard deviation of the initial weights (0.02, as BERT).
    pub init_std: f64,
    /// The LayerNorms' `ε` (`1e-5`).
    pub layer_norm_eps: f64,
    /// Element type of the parameters.
    pub dtype: DType,
}

impl TransformerClassifierConfig {
    /// A classifier of sequences of up to `max_len` ids below `vocab_size` into `num_classes`
    /// classes, with `num_layers` encoder blocks of `num_heads` heads over `d_model` features;
    /// MLP width `4·d_model`, no dropout, mean pooling, learned positions, padding id 0, `f32`.
    pub fn new(
        vocab_size: usize,
        max_len: usize,
        d_model: usize,
        num_heads: usize,
        num_layers: usize,
        num_classes: usize,
    ) -> Self {
        TransformerClassifierConfig {
            vocab_size,
            max_len,
            d_model,
            num_heads,
            num_layers,
            num_classes,
            mlp_width: 4 * d_model,
            dropout: 0.0,
            attention_dropout: 0.0,
            pooling: TransformerPooling::Mean,
            positions: PositionEncoding::Learned,
            pad_id: 0,
            init_std: 0.02,
            layer_norm_eps: 1e-5,
            dtype: DType::F32,
        }
    }

    /// Sets the hidden width of the MLPs.
    pub fn with_mlp_width(mut self, width: usize) -> Self {
        self.mlp_width = width;
        self
    }

    /// Sets the dropout probability after the embeddings, on the residual branches and
    /// before the head.
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }

    /// Sets the dropout probability on the attention weights.
    pub fn with_attention_dropout(mut self, p: f64) -> Self {
        self.attention_dropout = p;
        self
    }

    /// Sets the pooling.
    pub fn with_pooling(mut self, pooling: TransformerPooling) -> Self {
        self.pooling = pooling;
        self
    }

    /// Sets the position encoding.
    pub fn with_positions(mut self, positions: PositionEncoding) -> Self {
        self.positions = positions;
        self
    }

    /// Sets the padding id.
    pub fn with_pad_id(mut self, pad_id: usize) -> Self {
        self.pad_id = pad_id;
        self
    }

    /// Sets the standard deviation of the initial weights.
    pub fn with_init_std(mut self, std: f64) -> Self {
        self.init_std = std;
        self
    }

    /// Sets the element type.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Builds the model, drawing its weights (and dropout seeds) from `rng` in the order
    /// `cls_token`, `token_embedding`, `position_embedding`, `dropout`, `blocks.0`, …, `ln_f`,
    /// `head`.
    ///
    /// # Panics
    /// If a size is zero, `d_model` is not a multiple of `num_heads`, the padding id is not
    /// below `vocab_size`, `init_std` is negative, or a dropout probability is not in `[0, 1]`.
    #[track_caller]
    pub fn init(&self, rng: &mut Rng) -> TransformerClassifier {
        let c = self;
        for (name, value) in [
            ("vocab_size", c.vocab_size),
            ("max_len", c.max_len),
            ("num_layers", c.num_layers),
            ("num_classes", c.num_classes),
        ] {
            assert!(value > 0, "TransformerClassifierConfig: {name} must be positive");
        }
        assert!(
            c.pad_id < c.vocab_size,
            "TransformerClassifierConfig: the padding id {} must be below the vocabulary size {}",
            c.pad_id,
            c.vocab_size
        );
        assert!(
            c.d_model > 0 && c.num_heads > 0 && c.d_model.is_multiple_of(c.num_heads),
            "TransformerClassifierConfig: d_model {} must be a positive multiple of num_heads {}",
            c.d_model,
            c.num_heads
        );
        assert!(
            c.init_std.is_finite() && c.init_std >= 0.0,
            "TransformerClassifierConfig: init_std {} must be finite and ≥ 0",
            c.init_std
        );
        assert!(
            (0.0..=1.0).contains(&c.dropout),
            "TransformerClassifierConfig: the dropout probability {} must be in [0, 1]",
            c.dropout
        );
        let normal = Initializer::Normal { std: c.init_std };
        let cls_token =
            (c.pooling == TransformerPooling::Cls).then(|| Var::new(normal.init(&[1, 1, c.d_model], c.dtype, rng)));
        let slots = c.max_len + usize::from(cls_token.is_some());
        // Sinusoidal positions have unit amplitude: token vectors of N(0, 1/d) times √d match it.
        let token_init = match c.positions {
            PositionEncoding::Learned => normal,
            PositionEncoding::Sinusoidal => Initializer::Normal { std: 1.0 / (c.d_model as f64).sqrt() },
        };
        let token_embedding =
            EmbeddingConfig::new(c.vocab_size, c.d_model).with_weight_init(token_init).with_dtype(c.dtype).init(rng);
        let positions: Box<dyn Module> = match c.positions {
            PositionEncoding::Learned => Box::new(
                LearnedPositionalEmbeddingConfig::new(slots, c.d_model)
                    .with_weight_init(normal)
                    .with_dtype(c.dtype)
                    .init(rng),
            ),
            PositionEncoding::Sinusoidal => Box::new(SinusoidalPositionalEncoding::new(slots, c.d_model)),
        };
        let dropout = DropoutConfig::new(c.dropout).init(rng);
        let block = TransformerEncoderBlockConfig::new(c.d_model, c.num_heads)
            .with_mlp_width(c.mlp_width)
            .with_dropout(c.dropout)
            .with_attention_dropout(c.attention_dropout)
            .with_layer_norm_eps(c.layer_norm_eps)
            .with_weight_init(normal)
            .with_dtype(c.dtype);
        let blocks = (0..c.num_layers).map(|_| block.init(rng)).collect();
        let ln_f = LayerNormConfig::new(&[c.d_model]).with_eps(c.layer_norm_eps).with_dtype(c.dtype).init(rng);
        let head = LinearConfig::new(c.d_model, c.num_classes).with_weight_init(normal).with_dtype(c.dtype).init(rng);
        TransformerClassifier {
            cls_token,
            token_embedding,
            positions,
            dropout,
            blocks,
            ln_f,
            head,
            config: self.clone(),
        }
    }
}

/// A Transformer encoder classifier; see the [module docs](self).
///
/// Children (and so parameter names): `cls_token` (with [`TransformerPooling::Cls`]),
/// `token_embedding`, `position_embedding` (learned positions), `dropout`, `blocks.0` …
/// `blocks.{N−1}`, `ln_f`, `head`.
pub struct TransformerClassifier {
    /// The learned `[CLS]` vector, `[1, 1, d]`, with [`TransformerPooling::Cls`].
    pub cls_token: Option<Var>,
    /// Token ids to vectors, `[V, d]`.
    pub token_embedding: Embedding,
    /// Adds each position's signature (a learned table or the sinusoidal one).
    pub positions: Box<dyn Module>,
    /// Dropout on the embeddings and before the head.
    pub dropout: Dropout,
    /// The encoder blocks, first to last.
    pub blocks: Vec<TransformerEncoderBlock>,
    /// The final LayerNorm.
    pub ln_f: LayerNorm,
    /// Pooled vector to class logits.
    pub head: Linear,
    config: TransformerClassifierConfig,
}

impl TransformerClassifier {
    /// The configuration the model was built from.
    pub fn config(&self) -> &TransformerClassifierConfig {
        &self.config
    }

    /// The length of each row of `ids` (`[batch, t]`): one past its last id that is not the
    /// padding id (0 for a row of padding only).
    ///
    /// # Panics
    /// If `ids` is not `[batch, t]`.
    #[track_caller]
    pub fn lengths(&self, ids: &Var) -> Vec<usize> {
        let shape = ids.shape();
        assert!(shape.len() == 2, "TransformerClassifier: expected token ids [batch, t] but received {shape:?}");
        let pad = self.config.pad_id as f64;
        let values = ids.value().to_vec_f64();
        values
            .chunks(shape[1].max(1))
            .take(shape[0])
            .map(|row| row.iter().rposition(|&v| v != pad).map_or(0, |p| p + 1))
            .collect()
    }

    /// The logits `[batch, classes]` for ids `[batch, t]` whose row `b` holds `lengths[b]`
    /// real tokens followed by padding (whatever its ids).
    ///
    /// # Panics
    /// If `ids` is not `[batch, t]` with `t ≤ max_len`, `lengths` does not have `batch`
    /// entries in `0..=t`, or an id is not a whole number below `V`.
    #[track_caller]
    pub fn forward_with_lengths(&self, ids: &Var, lengths: &[usize]) -> Var {
        self.check_input(ids.shape(), lengths);
        self.run(ids, lengths, None)
    }

    #[track_caller]
    fn check_input(&self, shape: &[usize], lengths: &[usize]) {
        assert!(shape.len() == 2, "TransformerClassifier: expected token ids [batch, t] but received {shape:?}");
        let (batch, t) = (shape[0], shape[1]);
        assert!(
            t <= self.config.max_len,
            "TransformerClassifier: the input {shape:?} has t = {t} positions but max_len is {}",
            self.config.max_len
        );
        assert!(
            lengths.len() == batch,
            "TransformerClassifier: {} lengths given for a batch of {batch} sequences",
            lengths.len()
        );
        if let Some((b, &len)) = lengths.iter().enumerate().find(|(_, &len)| len > t) {
            panic!("TransformerClassifier: length {len} of sequence {b} is longer than the {t} columns of the batch");
        }
    }

    fn run(&self, ids: &Var, lengths: &[usize], mut trace: Option<&mut Trace>) -> Var {
        let (batch, width, d) = (ids.shape()[0], ids.shape()[1], self.config.d_model);
        // Columns after the longest sequence are padding everywhere: skip them.
        let t = lengths.iter().copied().max().unwrap_or(0).clamp(1, width.max(1));
        let ids = if t < width { ids.narrow(1, 0, t) } else { ids.clone() };
        let mut x = call("token_embedding", &self.token_embedding, &ids, trace.as_deref_mut());
        if self.config.positions == PositionEncoding::Sinusoidal {
            x = x.mul_scalar((d as f64).sqrt());
        }
        // With [CLS] in front, every sequence is one longer (and [CLS] is never padding).
        let (lengths, t) = match &self.cls_token {
            Some(cls) => {
                x = Var::concat(&[cls.broadcast_to(&[batch, 1, d]), x], 1);
                (lengths.iter().map(|&len| len.min(t) + 1).collect::<Vec<_>>(), t + 1)
            }
            None => (lengths.iter().map(|&len| len.min(t)).collect(), t),
        };
        let x = call("position_embedding", self.positions.as_ref(), &x, trace.as_deref_mut());
        let mut x = call("dropout", &self.dropout, &x, trace.as_deref_mut());
        let padded = lengths.iter().any(|&len| len < t);
        let mask = padded.then(|| padding_mask(&lengths, t));
        for (i, block) in self.blocks.iter().enumerate() {
            let y = block.forward_masked(&x, mask.as_ref());
            if let Some(trace) = trace.as_deref_mut() {
                trace.enter(&format!("blocks.{i}"));
                trace.record(block, x.shape(), y.shape());
                trace.exit();
            }
            x = y;
        }
        let x = call("ln_f", &self.ln_f, &x, trace.as_deref_mut());
        let pooled = if self.cls_token.is_some() {
            x.narrow(1, 0, 1).reshape(&[batch, d])
        } else if !padded {
            x.mean_axes(&[1], false)
        } else {
            // Weight 1/length at the valid positions, exactly 0 at the padded ones (a sequence
            // of length 0 pools to zeros).
            let mut weights = vec![0.0; batch * t];
            for (row, &len) in weights.chunks_mut(t).zip(&lengths) {
                row[..len].fill(1.0 / len as f64);
            }
            let weights = Tensor::from_f64s(&weights, &[batch, t, 1], x.dtype());
            x.mul(&Var::constant(weights)).sum_axes(&[1], false)
        };
        let pooled = self.dropout.forward(&pooled);
        call("head", &self.head, &pooled, trace)
    }
}

impl Module for TransformerClassifier {
    /// Logits `[batch, classes]` for right-padded ids `[batch, t]`, the lengths read from
    /// the padding id ([`TransformerClassifier::lengths`]).
    ///
    /// # Panics
    /// As [`TransformerClassifier::forward_with_lengths`].
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let lengths = self.lengths(input);
        self.check_input(input.shape(), &lengths);
        self.run(input, &lengths, None)
    }

    fn kind(&self) -> &'static str {
        "TransformerClassifier"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        if let Some(cls) = &self.cls_token {
            visitor.parameter("cls_token", cls);
        }
        visitor.child("token_embedding", &self.token_embedding);
        visitor.child("position_embedding", self.positions.as_ref());
        visitor.child("dropout", &self.dropout);
        for (i, block) in self.blocks.iter().enumerate() {
            visitor.child(&format!("blocks.{i}"), block);
        }
        visitor.child("ln_f", &self.ln_f);
        visitor.child("head", &self.head);
    }

    fn set_training(&mut self, training: bool) {
        self.dropout.set_training(training);
        for block in &mut self.blocks {
            block.set_training(training);
        }
    }

    fn forward_traced(&self, input: &Var, trace: &mut Trace) -> Var {
        let lengths = self.lengths(input);
        self.check_input(input.shape(), &lengths);
        self.run(input, &lengths, Some(trace))
    }
}
