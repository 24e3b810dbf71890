//! A sequence classifier: token ids in, one class per sequence out — sentiment of a sentence,
//! topic of a text.
//!
//! ```text
//! ids [B, L] ─embedding─▶ [B, L, E] ─LSTM/GRU (→, and ← if bidirectional)─▶ every step's h
//!            ─pool over the valid steps─▶ [B, H] (or [B, 2H]) ─(dropout)─▶ ─head─▶ logits [B, C]
//! ```
//!
//! **Padding.** Sentences have different lengths, but a batch is one rectangle `[B, L]`, so
//! short sentences are filled up on the right with a padding id (0 by default, `<pad>` in the
//! vocabulary). The padding must not change the answer, so:
//!
//! * the forward LSTM's output at step `len − 1` is read *before* any padding: pads come after
//!   it and cannot affect it (the recurrence only looks back);
//! * **pooling** looks only at valid steps: [`SeqPooling::Last`] takes the output after the last
//!   real token, [`SeqPooling::Mean`] averages the outputs of steps `0..len`;
//! * the **backward** direction of a bidirectional model must start at the last *real* token,
//!   not at the padding: each sequence is reversed within its own length
//!   (`x_{len−1}, …, x₀, pad, …`) before the backward layer reads it. Its "last" output is then
//!   the state after reading the whole sentence backwards, and its mean is over the same
//!   valid steps (a mean does not care about order, so the outputs need not be put back).
//!
//! Lengths come either from the padding ([`Module::forward`]: one past the last id that is not
//! the padding id, so padding must be on the right only) or explicitly
//! ([`SeqClassifier::forward_with_lengths`]). Only the columns up to the longest length of the
//! batch are run through the recurrence. A sequence of length 0 pools to zeros.
//!
//! | tensor | shape |
//! |---|---|
//! | input: token ids (whole numbers stored as floats), right-padded | `[B, L]` |
//! | lengths | `B` numbers in `0..=L` |
//! | pooled features ([`SeqClassifier::features`]) | `[B, H]`, `[B, 2H]` if bidirectional |
//! | output: logits | `[B, C]` |
//!
//! Parameters are named `embedding.weight`, `rnn.weight_ih_l0`, …, `rnn_reverse.…` (the
//! backward direction, when bidirectional), `head.weight`, `head.bias`. Stacked layers run
//! within each direction (as [`Bidirectional`](nabla_layers::Bidirectional) over a stacked
//! layer does); the two directions meet at the pooling.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{Module, ModuleExt};
//! use nabla_models::{SeqClassifierConfig, SeqPooling};
//! use nabla_tensor::{rng, Tensor};
//! let model = SeqClassifierConfig::new(1000, 2)
//!     .with_embedding_dim(32)
//!     .with_hidden_size(48)
//!     .with_bidirectional(true)
//!     .with_pooling(SeqPooling::Mean)
//!     .init(&mut rng(0));
//! // Two sentences, 3 and 5 tokens long, padded with id 0 to 6 columns.
//! let ids = Tensor::from_vec(vec![5.0f32, 9.0, 2.0, 0.0, 0.0, 0.0, 7.0, 7.0, 1.0, 4.0, 8.0, 0.0], &[2, 6]);
//! let ids = Var::constant(ids);
//! assert_eq!(model.lengths(&ids), vec![3, 5]);
//! assert_eq!(model.forward(&ids).shape(), vec![2, 2]);
//! assert_eq!(model.features(&ids, &[3, 5]).shape(), vec![2, 2 * 48]);
//! let lstm = 4 * 48 * 32 + 4 * 48 * 48 + 8 * 48;
//! assert_eq!(model.num_parameters(), 1000 * 32 + 2 * lstm + (2 * 48 + 1) * 2);
//! ```

use nabla_autograd::Var;
use nabla_layers::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig, Module, Trace, Visitor,
};
use nabla_tensor::{DType, Rng, Tensor};

use crate::call;
use crate::recurrent::{CellKind, RecurrentLayer};

/// How a [`SeqClassifier`] turns the outputs of every step into one vector per sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SeqPooling {
    /// The output after the last real token (for the backward direction: after reading the
    /// whole sequence from its end) — the classic "final hidden state".
    #[default]
    Last,
    /// The mean of the outputs of the real tokens: every step contributes directly, so the
    /// gradient reaches early words without crossing the whole sequence.
    Mean,
}

/// How to build a [`SeqClassifier`]; see the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct SeqClassifierConfig {
    /// Tokens in the vocabulary (the padding id included).
    pub vocab_size: usize,
    /// Classes, `C`.
    pub num_classes: usize,
    /// Length of each token's vector, `E` (64 by default).
    pub embedding_dim: usize,
    /// How the embedding table starts: Keras' `U(−0.05, 0.05)` by default. Small vectors
    /// keep the LSTM's gates away from saturation at the start; with `N(0, 1)` (PyTorch's
    /// default) a classifier trained on a few thousand sentences memorises them sooner and
    /// generalises worse.
    pub embedding_init: Initializer,
    /// Units of each recurrent layer, `H` (64 by default).
    pub hidden_size: usize,
    /// Stacked recurrent layers per direction (1 by default).
    pub num_layers: usize,
    /// LSTM (default) or GRU.
    pub cell: CellKind,
    /// Whether a second recurrent stack reads each sequence backwards (off by default).
    pub bidirectional: bool,
    /// How the steps are pooled ([`SeqPooling::Last`] by default).
    pub pooling: SeqPooling,
    /// Dropout probability between stacked layers and before the head (0 by default).
    pub dropout: f64,
    /// The id that fills sequences up to the batch's width (0 by default).
    pub pad_id: usize,
    /// Element type of the parameters.
    pub dtype: DType,
}

impl SeqClassifierConfig {
    /// A classifier of sequences over `vocab_size` tokens into `num_classes` classes:
    /// embedding 64 (from `U(−0.05, 0.05)`), one forward LSTM layer of 64, last-state pooling,
    /// no dropout, padding id 0, `f32`.
    pub fn new(vocab_size: usize, num_classes: usize) -> Self {
        SeqClassifierConfig {
            vocab_size,
            num_classes,
            embedding_dim: 64,
            embedding_init: Initializer::Uniform { low: -0.05, high: 0.05 },
            hidden_size: 64,
            num_layers: 1,
            cell: CellKind::Lstm,
            bidirectional: false,
            pooling: SeqPooling::Last,
            dropout: 0.0,
            pad_id: 0,
            dtype: DType::F32,
        }
    }

    /// Sets the embedding length `E`.
    pub fn with_embedding_dim(mut self, embedding_dim: usize) -> Self {
        self.embedding_dim = embedding_dim;
        self
    }

    /// Sets how the embedding table starts.
    pub fn with_embedding_init(mut self, init: Initializer) -> Self {
        self.embedding_init = init;
        self
    }

    /// Sets the units `H` of each recurrent layer.
    pub fn with_hidden_size(mut self, hidden_size: usize) -> Self {
        self.hidden_size = hidden_size;
        self
    }

    /// Sets the number of stacked recurrent layers per direction.
    pub fn with_num_layers(mut self, num_layers: usize) -> Self {
        self.num_layers = num_layers;
        self
    }

    /// Chooses the recurrent cell.
    pub fn with_cell(mut self, cell: CellKind) -> Self {
        self.cell = cell;
        self
    }

    /// Adds (or removes) the backward direction.
    pub fn with_bidirectional(mut self, bidirectional: bool) -> Self {
        self.bidirectional = bidirectional;
        self
    }

    /// Sets how the steps are pooled.
    pub fn with_pooling(mut self, pooling: SeqPooling) -> Self {
        self.pooling = pooling;
        self
    }

    /// Sets the dropout probability (between stacked layers and before the head).
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    #[track_caller]
    pub fn with_dropout(mut self, p: f64) -> Self {
        assert!((0.0..=1.0).contains(&p), "SeqClassifierConfig: the dropout probability {p} must be in [0, 1]");
        self.dropout = p;
        self
    }

    /// Sets the padding id.
    pub fn with_pad_id(mut self, pad_id: usize) -> Self {
        self.pad_id = pad_id;
        self
    }

    /// Sets the element type.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Builds the model, drawing the embedding, the forward stack, the backward stack (if
    /// any), the dropout seed and the head (in that order) from `rng`.
    ///
    /// # Panics
    /// If a size or the number of layers is 0, or the padding id is not below `vocab_size`.
    #[track_caller]
    pub fn init(&self, rng: &mut Rng) -> SeqClassifier {
        assert!(
            self.vocab_size > 0
                && self.num_classes > 0
                && self.embedding_dim > 0
                && self.hidden_size > 0
                && self.num_layers > 0,
            "SeqClassifierConfig: vocab_size ({}), num_classes ({}), embedding_dim ({}), hidden_size ({}) and \
             num_layers ({}) must be ≥ 1",
            self.vocab_size,
            self.num_classes,
            self.embedding_dim,
            self.hidden_size,
            self.num_layers
        );
        assert!(
            self.pad_id < self.vocab_size,
            "SeqClassifierConfig: the padding id {} must be below the vocabulary size {}",
            self.pad_id,
            self.vocab_size
        );
        let embedding = EmbeddingConfig::new(self.vocab_size, self.embedding_dim)
            .with_weight_init(self.embedding_init)
            .with_dtype(self.dtype)
            .init(rng);
        let stack = |rng: &mut Rng| {
            RecurrentLayer::new(
                self.cell,
                self.embedding_dim,
                self.hidden_size,
                self.num_layers,
                self.dropout,
                self.dtype,
                rng,
            )
        };
        let rnn = stack(rng);
        let rnn_reverse = self.bidirectional.then(|| stack(rng));
        let dropout = (self.dropout > 0.0).then(|| DropoutConfig::new(self.dropout).init(rng));
        let features = if self.bidirectional { 2 * self.hidden_size } else { self.hidden_size };
        let head = LinearConfig::new(features, self.num_classes).with_dtype(self.dtype).init(rng);
        SeqClassifier { embedding, rnn, rnn_reverse, dropout, head, pooling: self.pooling, pad_id: self.pad_id }
    }
}

/// An embedding, a (bidirectional) recurrent encoder, pooling and a linear head; see the
/// [module docs](self).
pub struct SeqClassifier {
    /// Token id → vector, `[vocab, E]`.
    pub embedding: Embedding,
    /// The forward recurrent stack.
    pub rnn: RecurrentLayer,
    /// The backward recurrent stack, reading each sequence from its last real token.
    pub rnn_reverse: Option<RecurrentLayer>,
    /// Dropout on the pooled features, if the config asked for it.
    pub dropout: Option<Dropout>,
    /// Pooled features → one logit per class.
    pub head: Linear,
    pooling: SeqPooling,
    pad_id: usize,
}

impl SeqClassifier {
    /// How the steps are pooled.
    pub fn pooling(&self) -> SeqPooling {
        self.pooling
    }

    /// The padding id.
    pub fn pad_id(&self) -> usize {
        self.pad_id
    }

    /// Features of the pooled vector: `H`, or `2H` when bidirectional.
    pub fn num_features(&self) -> usize {
        self.rnn.hidden_size() * if self.rnn_reverse.is_some() { 2 } else { 1 }
    }

    /// The length of each row of `ids` (`[B, L]`): one past its last id that is not the
    /// padding id (0 for a row of padding only).
    ///
    /// # Panics
    /// If `ids` is not `[B, L]`.
    #[track_caller]
    pub fn lengths(&self, ids: &Var) -> Vec<usize> {
        let shape = ids.shape();
        assert!(shape.len() == 2, "SeqClassifier: expected token ids [batch, length] but received {shape:?}");
        let (batch, width) = (shape[0], shape[1]);
        if width == 0 {
            return vec![0; batch];
        }
        let values = ids.value().to_vec_f64();
        let pad = self.pad_id as f64;
        values.chunks(width).map(|row| row.iter().rposition(|&v| v != pad).map_or(0, |p| p + 1)).collect()
    }

    /// Logits `[B, C]` for `ids` (`[B, L]`) whose row `b` holds `lengths[b]` real tokens
    /// followed by padding.
    ///
    /// # Panics
    /// If `ids` is not `[B, L]`, `lengths` does not have `B` entries in `0..=L`, or an id is
    /// not below the vocabulary size.
    #[track_caller]
    pub fn forward_with_lengths(&self, ids: &Var, lengths: &[usize]) -> Var {
        self.run(ids, lengths, None)
    }

    /// The pooled features `[B, H]` (`[B, 2H]` when bidirectional) the head reads — what the
    /// encoder made of each sequence.
    #[track_caller]
    pub fn features(&self, ids: &Var, lengths: &[usize]) -> Var {
        self.encode(ids, lengths, None)
    }

    #[track_caller]
    fn encode(&self, ids: &Var, lengths: &[usize], mut trace: Option<&mut Trace>) -> Var {
        let shape = ids.shape();
        assert!(shape.len() == 2, "SeqClassifier: expected token ids [batch, length] but received {shape:?}");
        let (batch, width) = (shape[0], shape[1]);
        assert!(
            lengths.len() == batch,
            "SeqClassifier: {} lengths given for a batch of {batch} sequences",
            lengths.len()
        );
        if let Some((b, &len)) = lengths.iter().enumerate().find(|(_, &len)| len > width) {
            panic!("SeqClassifier: length {len} of sequence {b} is longer than the {width} columns of the batch");
        }
        // Columns after the longest sequence are padding everywhere: skip them.
        let time = lengths.iter().copied().max().unwrap_or(0).max(1).min(width.max(1));
        let ids = if time < width { ids.narrow(1, 0, time) } else { ids.clone() };
        let x = call("embedding", &self.embedding, &ids, trace.as_deref_mut());

        let mut pooled = vec![self.run_direction("rnn", &self.rnn, &x, lengths, trace.as_deref_mut())];
        if let Some(reverse) = &self.rnn_reverse {
            let [batch, time, features] = [0, 1, 2].map(|d| x.shape()[d]);
            let order = reversal_within_lengths(batch, time, lengths);
            let reversed =
                x.reshape(&[batch * time, features]).index_select(0, &order).reshape(&[batch, time, features]);
            pooled.push(self.run_direction("rnn_reverse", reverse, &reversed, lengths, trace.as_deref_mut()));
        }
        let features = if pooled.len() == 1 { pooled.pop().expect("one direction") } else { Var::concat(&pooled, 1) };
        match &self.dropout {
            Some(dropout) => call("dropout", dropout, &features, trace),
            None => features,
        }
    }

    /// Runs one direction's stack over `x` (`[B, T, E]`) and pools its outputs: `[B, H]`.
    fn run_direction(
        &self,
        name: &str,
        layer: &RecurrentLayer,
        x: &Var,
        lengths: &[usize],
        trace: Option<&mut Trace>,
    ) -> Var {
        let (outputs, _) = layer.forward_sequence(x, None); // [B, T, H]
        if let Some(t) = trace {
            t.enter(name);
            t.record(layer, x.shape(), outputs.shape());
            t.exit();
        }
        pool(&outputs, lengths, self.pooling)
    }

    fn run(&self, ids: &Var, lengths: &[usize], mut trace: Option<&mut Trace>) -> Var {
        let features = self.encode(ids, lengths, trace.as_deref_mut());
        call("head", &self.head, &features, trace)
    }
}

/// Row order that reverses each sequence of `[batch, time]` rows within its own length:
/// row `b·T + t` takes `b·T + (len_b − 1 − t)` for `t < len_b` and stays put otherwise.
/// Applying it twice gives the identity.
fn reversal_within_lengths(batch: usize, time: usize, lengths: &[usize]) -> Vec<usize> {
    let mut order = Vec::with_capacity(batch * time);
    for (b, &len) in lengths.iter().enumerate() {
        let len = len.min(time);
        order.extend((0..time).map(|t| b * time + if t < len { len - 1 - t } else { t }));
    }
    order
}

/// Pools `outputs` (`[B, T, H]`) over the first `lengths[b]` steps of each row: `[B, H]`.
fn pool(outputs: &Var, lengths: &[usize], pooling: SeqPooling) -> Var {
    let [batch, time, hidden] = [0, 1, 2].map(|d| outputs.shape()[d]);
    let dtype = outputs.dtype();
    match pooling {
        SeqPooling::Last => {
            let rows: Vec<usize> = lengths.iter().enumerate().map(|(b, &len)| b * time + len.max(1) - 1).collect();
            let last = outputs.reshape(&[batch * time, hidden]).index_select(0, &rows);
            if lengths.contains(&0) {
                let keep: Vec<f64> = lengths.iter().map(|&len| if len > 0 { 1.0 } else { 0.0 }).collect();
                last.mul(&Var::constant(Tensor::from_f64s(&keep, &[batch, 1], dtype)))
            } else {
                last
            }
        }
        SeqPooling::Mean => {
            // weights[b, t] = 1/len_b on the valid steps, 0 on the padding.
            let mut weights = vec![0.0; batch * time];
            for (b, &len) in lengths.iter().enumerate() {
                for t in 0..len.min(time) {
                    weights[b * time + t] = 1.0 / len as f64;
                }
            }
            let weights = Var::constant(Tensor::from_f64s(&weights, &[batch, time, 1], dtype));
            outputs.mul(&weights).sum_axes(&[1], false)
        }
    }
}

impl Module for SeqClassifier {
    /// Logits `[B, C]` for right-padded token ids `[B, L]`, the lengths read off the padding
    /// ([`SeqClassifier::lengths`]).
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let lengths = self.lengths(input);
        self.run(input, &lengths, None)
    }

    fn kind(&self) -> &'static str {
        "SeqClassifier"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.child("embedding", &self.embedding);
        visitor.child("rnn", &self.rnn);
        if let Some(reverse) = &self.rnn_reverse {
            visitor.child("rnn_reverse", reverse);
        }
        if let Some(dropout) = &self.dropout {
            visitor.child("dropout", dropout);
        }
        visitor.child("head", &self.head);
    }

    fn set_training(&mut self, training: bool) {
        self.rnn.set_training(training);
        if let Some(reverse) = &mut self.rnn_reverse {
            reverse.set_training(training);
        }
        if let Some(dropout) = &mut self.dropout {
            dropout.set_training(training);
        }
    }

    fn forward_traced(&self, input: &Var, trace: &mut Trace) -> Var {
        let lengths = self.lengths(input);
        self.run(input, &lengths, Some(trace))
    }
}
