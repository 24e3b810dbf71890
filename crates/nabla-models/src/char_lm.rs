//! A character-level language model: an LSTM (or GRU) that reads text one character at a time
//! and predicts the next one (Karpathy's char-rnn, 2015).
//!
//! ```text
//! ids [B, T] ─embedding─▶ [B, T, E] ─LSTM/GRU × layers─▶ [B, T, H] ─reshape─▶ [B·T, H]
//!            ─(dropout)─▶ ─head (Linear H → V)─▶ logits [B·T, V]
//! ```
//!
//! Row `b·T + t` of the logits scores every character of the vocabulary as the one that
//! follows characters `0..=t` of sequence `b`: the state after step `t` has read exactly those.
//! That row-major `[B·T, V]` layout is the one [`CrossEntropyLoss`] takes, with the targets of
//! `nabla_data`'s `CharWindows` (`B·T` ids, the input shifted by one) as classes, so the loss
//! is the mean of `−ln p(next character)` in **nats per character**. A model that knows nothing
//! scores `ln V` (4.4 nats for 80 characters); larger char-rnn models reach about 1.4–1.5 on
//! Shakespeare.
//!
//! | tensor | shape |
//! |---|---|
//! | input: character ids (whole numbers stored as floats) | `[B, T]` |
//! | `embedding.weight` | `[V, E]` |
//! | `rnn.weight_ih_l{k}`, `rnn.weight_hh_l{k}`, … | PyTorch's layout (see [`nabla_layers::rnn`]) |
//! | `head.weight`, `head.bias` | `[V, H]`, `[V]` |
//! | output: logits | `[B·T, V]` |
//!
//! **Generating text.** [`CharLm::generate`] feeds a prompt, then repeatedly draws the next
//! character from the model's distribution and feeds it back, carrying the recurrent state
//! from step to step so each new character costs one step, not a pass over everything so far.
//! How the next id is drawn ([`sample_logits`]):
//!
//! * **temperature** `τ` divides the logits before the softmax, `p ∝ exp(zᵢ/τ)`: `τ < 1`
//!   sharpens the distribution (safer, more repetitive text), `τ > 1` flattens it, and `τ → 0`
//!   always picks the most likely character (greedy decoding; `τ = 0` is exactly that);
//! * **top-k** keeps only the `k` most likely characters and renormalises, so one unlucky draw
//!   from the long tail cannot derail the text.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{Module, ModuleExt};
//! use nabla_models::{CellKind, CharLmConfig};
//! use nabla_tensor::{rng, Tensor};
//! let model = CharLmConfig::new(65).init(&mut rng(0)); // embedding 64, one LSTM layer of 256
//! assert_eq!(model.num_parameters(), 65 * 64 + (4 * 256 * 64 + 4 * 256 * 256 + 8 * 256) + (256 + 1) * 65);
//! let ids = Var::constant(Tensor::from_vec(vec![0.0f32; 2 * 5], &[2, 5])); // [B, T]
//! assert_eq!(model.forward(&ids).shape(), vec![2 * 5, 65]); // [B·T, V]
//! let text = model.generate(&[7, 3], 20, 0.8, Some(10), &mut rng(1));
//! assert_eq!(text.len(), 20);
//! let gru = CharLmConfig::new(65).with_cell(CellKind::Gru).with_num_layers(2).init(&mut rng(0));
//! assert_eq!(gru.named_parameters()[3].0, "rnn.bias_ih_l0");
//! ```
//!
//! [`CrossEntropyLoss`]: nabla_layers::CrossEntropyLoss

use nabla_autograd::{no_grad, Var};
use nabla_layers::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig, Module, Trace, Visitor,
};
use nabla_tensor::{init, DType, Rng, Tensor};

use crate::call;
use crate::recurrent::{CellKind, RecurrentLayer, RecurrentState};

/// How to build a [`CharLm`]; see the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct CharLmConfig {
    /// Characters in the vocabulary, `V`.
    pub vocab_size: usize,
    /// Length of each character's learned vector, `E` (64 by default).
    pub embedding_dim: usize,
    /// How the embedding table starts (`N(0, 1)`, PyTorch's default, by default).
    pub embedding_init: Initializer,
    /// Units of each recurrent layer, `H` (256 by default).
    pub hidden_size: usize,
    /// Stacked recurrent layers (1 by default).
    pub num_layers: usize,
    /// LSTM (default) or GRU.
    pub cell: CellKind,
    /// Dropout probability between stacked layers and before the head (0, none, by default).
    pub dropout: f64,
    /// Element type of the parameters.
    pub dtype: DType,
}

impl CharLmConfig {
    /// A model over `vocab_size` characters: embedding 64, one LSTM layer of 256, no dropout,
    /// `f32` — the shape of benchmark workload W4.
    pub fn new(vocab_size: usize) -> Self {
        CharLmConfig {
            vocab_size,
            embedding_dim: 64,
            embedding_init: Initializer::Normal { std: 1.0 },
            hidden_size: 256,
            num_layers: 1,
            cell: CellKind::Lstm,
            dropout: 0.0,
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

    /// Sets the number of stacked recurrent layers.
    pub fn with_num_layers(mut self, num_layers: usize) -> Self {
        self.num_layers = num_layers;
        self
    }

    /// Chooses the recurrent cell.
    pub fn with_cell(mut self, cell: CellKind) -> Self {
        self.cell = cell;
        self
    }

    /// Sets the dropout probability (between stacked layers and before the head).
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    #[track_caller]
    pub fn with_dropout(mut self, p: f64) -> Self {
        assert!((0.0..=1.0).contains(&p), "CharLmConfig: the dropout probability {p} must be in [0, 1]");
        self.dropout = p;
        self
    }

    /// Sets the element type.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Builds the model, drawing the embedding, the recurrent layers, the dropout seed and the
    /// head (in that order) from `rng`.
    ///
    /// # Panics
    /// If a size or the number of layers is 0.
    #[track_caller]
    pub fn init(&self, rng: &mut Rng) -> CharLm {
        assert!(
            self.vocab_size > 0 && self.embedding_dim > 0 && self.hidden_size > 0 && self.num_layers > 0,
            "CharLmConfig: vocab_size ({}), embedding_dim ({}), hidden_size ({}) and num_layers ({}) must be ≥ 1",
            self.vocab_size,
            self.embedding_dim,
            self.hidden_size,
            self.num_layers
        );
        let embedding = EmbeddingConfig::new(self.vocab_size, self.embedding_dim)
            .with_weight_init(self.embedding_init)
            .with_dtype(self.dtype)
            .init(rng);
        let rnn = RecurrentLayer::new(
            self.cell,
            self.embedding_dim,
            self.hidden_size,
            self.num_layers,
            self.dropout,
            self.dtype,
            rng,
        );
        let dropout = (self.dropout > 0.0).then(|| DropoutConfig::new(self.dropout).init(rng));
        let head = LinearConfig::new(self.hidden_size, self.vocab_size).with_dtype(self.dtype).init(rng);
        CharLm { embedding, rnn, dropout, head }
    }
}

/// A character-level LSTM/GRU language model; see the [module docs](self).
///
/// Parameters are named `embedding.weight`, `rnn.weight_ih_l0`, …, `head.weight`, `head.bias`.
pub struct CharLm {
    /// Character id → vector, `[V, E]`.
    pub embedding: Embedding,
    /// The stacked recurrent layers, returning every step.
    pub rnn: RecurrentLayer,
    /// Dropout on the recurrent outputs before the head, if the config asked for it.
    pub dropout: Option<Dropout>,
    /// Recurrent output → one logit per character, `H → V`.
    pub head: Linear,
}

impl CharLm {
    /// The number of characters `V`.
    pub fn vocab_size(&self) -> usize {
        self.embedding.vocab_size()
    }

    /// Logits `[B·T, V]` for `ids` (`[B, T]`), starting from `initial` (zeros when `None`),
    /// and the state after the last step: feed it to the next call to continue the text
    /// (detach it first when training on the next piece, truncated backpropagation through time).
    ///
    /// # Panics
    /// If `ids` is not `[B, T]` with `T ≥ 1`, an id is not below `V`, or `initial` does not fit.
    #[track_caller]
    pub fn forward_with_state(&self, ids: &Var, initial: Option<&RecurrentState>) -> (Var, RecurrentState) {
        self.run(ids, initial, None)
    }

    fn run(&self, ids: &Var, initial: Option<&RecurrentState>, mut trace: Option<&mut Trace>) -> (Var, RecurrentState) {
        let shape = ids.shape();
        assert!(shape.len() == 2, "CharLm: expected character ids [batch, time] but received {shape:?}");
        let (batch, time) = (shape[0], shape[1]);
        let x = call("embedding", &self.embedding, ids, trace.as_deref_mut());
        let (h, state) = self.rnn.forward_sequence(&x, initial);
        if let Some(t) = trace.as_deref_mut() {
            t.enter("rnn");
            t.record(&self.rnn, x.shape(), h.shape());
            t.exit();
        }
        let mut h = h.reshape(&[batch * time, self.rnn.hidden_size()]);
        if let Some(dropout) = &self.dropout {
            h = call("dropout", dropout, &h, trace.as_deref_mut());
        }
        (call("head", &self.head, &h, trace), state)
    }

    /// Continues `prompt` (character ids) with `n` sampled ids, returned without the prompt.
    ///
    /// The prompt is read in one pass; then each new id is drawn with [`sample_logits`]
    /// (`temperature`, `top_k`) from the model's distribution after everything so far, and fed
    /// back for one step. No tape is recorded. The same `rng` state gives the same text.
    /// Sampling uses the model's current mode: call `eval()` first if it was built with dropout.
    ///
    /// # Panics
    /// If `prompt` is empty, an id is not below `V`, `temperature` is negative or `top_k` is
    /// `Some(0)`.
    #[track_caller]
    pub fn generate(
        &self,
        prompt: &[usize],
        n: usize,
        temperature: f64,
        top_k: Option<usize>,
        rng: &mut Rng,
    ) -> Vec<usize> {
        assert!(!prompt.is_empty(), "CharLm::generate: the prompt must hold at least one character id");
        let as_ids =
            |ids: &[usize]| Var::constant(Tensor::from_vec(ids.iter().map(|&i| i as f32).collect(), &[1, ids.len()]));
        no_grad(|| {
            let (logits, mut state) = self.forward_with_state(&as_ids(prompt), None);
            let mut last = logits.narrow(0, prompt.len() - 1, 1).value().to_vec_f64();
            let mut out = Vec::with_capacity(n);
            while out.len() < n {
                let next = sample_logits(&last, temperature, top_k, rng);
                out.push(next);
                if out.len() < n {
                    let (logits, s) = self.forward_with_state(&as_ids(&[next]), Some(&state));
                    state = s;
                    last = logits.value().to_vec_f64();
                }
            }
            out
        })
    }
}

impl Module for CharLm {
    /// Logits `[B·T, V]` for character ids `[B, T]`, from the zero state.
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        self.run(input, None, None).0
    }

    fn kind(&self) -> &'static str {
        "CharLm"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.child("embedding", &self.embedding);
        visitor.child("rnn", &self.rnn);
        if let Some(dropout) = &self.dropout {
            visitor.child("dropout", dropout);
        }
        visitor.child("head", &self.head);
    }

    fn set_training(&mut self, training: bool) {
        self.rnn.set_training(training);
        if let Some(dropout) = &mut self.dropout {
            dropout.set_training(training);
        }
    }

    fn forward_traced(&self, input: &Var, trace: &mut Trace) -> Var {
        self.run(input, None, Some(trace)).0
    }
}

/// Draws an index from `softmax(logits / temperature)`, restricted to the `top_k` largest
/// logits when `top_k` is `Some(k)`; see the [module docs](self).
///
/// `temperature = 0` (or `top_k = Some(1)`) returns the index of the largest logit, the first
/// one on ties, without drawing. Otherwise one uniform number is drawn from `rng` and walked
/// along the cumulative weights `exp((zᵢ − z_max)/τ)` of the candidates (largest logit first):
/// subtracting the maximum keeps every weight in `(0, 1]`, so no exponential overflows, and as
/// `τ → 0` every weight but the maximum's underflows to 0 — the argmax again.
///
/// ```
/// use nabla_models::sample_logits;
/// use nabla_tensor::rng;
/// let logits = [0.5, 3.0, -1.0, 2.9];
/// assert_eq!(sample_logits(&logits, 0.0, None, &mut rng(0)), 1); // greedy
/// let mut r = rng(0);
/// for _ in 0..100 {
///     let i = sample_logits(&logits, 1.0, Some(2), &mut r);
///     assert!(i == 1 || i == 3); // only the two largest logits can come out
/// }
/// ```
///
/// # Panics
/// If `logits` is empty or holds a NaN, `temperature` is negative or NaN, or `top_k` is `Some(0)`.
#[track_caller]
pub fn sample_logits(logits: &[f64], temperature: f64, top_k: Option<usize>, rng: &mut Rng) -> usize {
    assert!(!logits.is_empty(), "sample_logits: there are no logits to sample from");
    assert!(temperature >= 0.0, "sample_logits: the temperature {temperature} must be ≥ 0 (0 picks the argmax)");
    assert!(top_k != Some(0), "sample_logits: top_k must be at least 1 (None keeps every candidate)");
    if let Some(i) = logits.iter().position(|z| z.is_nan()) {
        panic!("sample_logits: logit {i} is NaN");
    }
    // Candidates from the largest logit down; ties keep the lower index first.
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    order.truncate(top_k.unwrap_or(logits.len()));
    let best = order[0];
    if temperature == 0.0 || order.len() == 1 {
        return best;
    }
    let weights: Vec<f64> = order.iter().map(|&i| ((logits[i] - logits[best]) / temperature).exp()).collect();
    let total: f64 = weights.iter().sum();
    let u = init::uniform(&[1], 0.0, 1.0, DType::F64, rng).to_vec_f64()[0] * total;
    let mut cumulative = 0.0;
    let mut chosen = best;
    for (&i, &w) in order.iter().zip(&weights) {
        if w > 0.0 {
            chosen = i;
        }
        cumulative += w;
        if u < cumulative {
            return i;
        }
    }
    chosen // only reached if rounding put u at the very top: the last candidate with weight
}
