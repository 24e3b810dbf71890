//! A decoder-only Transformer language model in the style of GPT-2 (Radford et al., 2019):
//! it reads a sequence of token ids and predicts, at every position, the next token.
//!
//! ```text
//! ids [b, t] ─token_embedding─▶ [b, t, d] ─+ position_embedding─(dropout)─▶
//!     ─blocks.0─▶ … ─blocks.{N−1}─▶ ─ln_f─▶ [b, t, d] ─lm_head─▶ logits [b, t, V]
//!
//! block (pre-LN, causal):   x = x + Attn_causal(LN₁(x))      x = x + MLP(LN₂(x))
//! ```
//!
//! Position `i` only attends to positions `0..=i` ([`causal_mask`](nabla_layers::attention::causal_mask)),
//! so one forward pass over a window of `t` characters trains `t` predictions at once, each
//! from its own past only: `logits[:, i]` scores `P(token i + 1 | tokens 0..=i)`. Changing a
//! later token never changes an earlier prediction (a test checks this bit for bit).
//!
//! | tensor | shape |
//! |---|---|
//! | input: token ids (whole numbers stored as floats) | `[batch, t]`, `t ≤ context` |
//! | `token_embedding.weight` `E` | `[V, d]` |
//! | `position_embedding.weight` | `[context, d]` |
//! | output: logits | `[batch, t, V]`; [`flatten_logits`] gives `[batch·t, V]` for the loss |
//!
//! **Tied head.** With [`GptConfig::tied`] (the default, as GPT-2) the output layer reuses the
//! embedding matrix: `logits = h·Eᵀ`, so a token's input vector is also the direction that
//! predicts it. It saves `V·d` parameters; the matrix is one parameter, visited once (under
//! `token_embedding.weight`), and its gradient sums what both uses send back. Untied, the head
//! is its own `lm_head.weight` (`[V, d]`, no bias).
//!
//! **Initialisation** (GPT-2): every weight matrix and both embeddings from `N(0, 0.02²)`,
//! biases zero, LayerNorms the identity. With [`GptConfig::scaled_residual_init`] the two
//! matrices that write into the residual stream in each block (`attn.out` and `mlp.fc2`) are
//! scaled by `1/√(2N)`: the stream is a sum of `2N` such contributions, and the scaling keeps
//! its variance at the start independent of the depth.
//!
//! Parameters (with biases): `V·d` (embedding) `+ context·d` (positions) `+ N·(12d² + 13d)`
//! (blocks) `+ 2d` (`ln_f`), plus `V·d` if the head is untied.
//!
//! **Generation** ([`Gpt::generate`]) runs the model on the last `context` tokens, turns the
//! last position's logits into a distribution (divided by a temperature, optionally cut to the
//! `k` most likely tokens) and draws the next token from it, again and again.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{Module, ModuleExt};
//! use nabla_models::{flatten_logits, GptConfig};
//! use nabla_tensor::{rng, DType, Tensor};
//! let config = GptConfig::new(65, 32, 64, 4, 2); // vocab, context, d_model, heads, blocks
//! let gpt = config.init(&mut rng(0));
//! let ids = Var::constant(Tensor::zeros(&[3, 10], DType::F32));
//! let logits = gpt.forward(&ids);
//! assert_eq!(logits.shape(), vec![3, 10, 65]);
//! assert_eq!(flatten_logits(&logits).shape(), vec![30, 65]);
//! assert_eq!(gpt.named_parameters()[2].0, "blocks.0.ln1.weight");
//! let untied = config.clone().with_tied(false).init(&mut rng(0));
//! assert_eq!(untied.num_parameters() - gpt.num_parameters(), 65 * 64);
//! let text = gpt.generate(&[1, 2, 3], 5, 1.0, Some(10), &mut rng(1)); // 5 new ids
//! assert_eq!(text.len(), 5);
//! ```

use nabla_autograd::functional::losses;
use nabla_autograd::{no_grad, Var};
use nabla_layers::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig,
    LearnedPositionalEmbedding, LearnedPositionalEmbeddingConfig, Linear, LinearConfig, Module, ModuleExt, Trace,
    TransformerDecoderBlock, TransformerDecoderBlockConfig, Visitor,
};
use nabla_tensor::{DType, Rng, Tensor};

use crate::call;
use crate::char_lm::sample_logits;

/// How to build a [`Gpt`]; see the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct GptConfig {
    /// Vocabulary size `V`: ids run over `0..vocab_size`.
    pub vocab_size: usize,
    /// The longest sequence the model reads (rows of the position table).
    pub context: usize,
    /// Features of each position `d`; a multiple of `num_heads`.
    pub d_model: usize,
    /// Attention heads per block.
    pub num_heads: usize,
    /// Number of Transformer blocks `N`.
    pub num_layers: usize,
    /// Hidden width of each block's MLP (`4·d_model` by default).
    pub mlp_width: usize,
    /// Dropout probability after the embeddings and on every residual branch (0 by default).
    pub dropout: f64,
    /// Dropout probability on the attention weights (0 by default).
    pub attention_dropout: f64,
    /// Whether the attention projections and MLP layers have biases (true).
    pub bias: bool,
    /// Whether the output layer reuses the token embedding matrix (true, as GPT-2).
    pub tied: bool,
    /// Standard deviation of the initial weights and embeddings (0.02).
    pub init_std: f64,
    /// Whether `attn.out` and `mlp.fc2` start scaled by `1/√(2N)` (true, as GPT-2).
    pub scaled_residual_init: bool,
    /// The LayerNorms' `ε` (`1e-5`).
    pub layer_norm_eps: f64,
    /// Element type of the parameters.
    pub dtype: DType,
}

impl GptConfig {
    /// A GPT over `vocab_size` tokens reading up to `context` of them, with `num_layers`
    /// blocks of `num_heads` heads over `d_model` features; MLP width `4·d_model`, no dropout,
    /// biases, tied head, GPT-2 initialisation, `f32`.
    pub fn new(vocab_size: usize, context: usize, d_model: usize, num_heads: usize, num_layers: usize) -> Self {
        GptConfig {
            vocab_size,
            context,
            d_model,
            num_heads,
            num_layers,
            mlp_width: 4 * d_model,
            dropout: 0.0,
            attention_dropout: 0.0,
            bias: true,
            tied: true,
            init_std: 0.02,
            scaled_residual_init: true,
            layer_norm_eps: 1e-5,
            dtype: DType::F32,
        }
    }

    /// Sets the hidden width of the MLPs.
    pub fn with_mlp_width(mut self, width: usize) -> Self {
        self.mlp_width = width;
        self
    }

    /// Sets the dropout probability after the embeddings and on the residual branches.
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }

    /// Sets the dropout probability on the attention weights.
    pub fn with_attention_dropout(mut self, p: f64) -> Self {
        self.attention_dropout = p;
        self
    }

    /// Sets whether the projections and MLP layers have biases.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Sets whether the output layer reuses the token embedding matrix.
    pub fn with_tied(mut self, tied: bool) -> Self {
        self.tied = tied;
        self
    }

    /// Sets the standard deviation of the initial weights.
    pub fn with_init_std(mut self, std: f64) -> Self {
        self.init_std = std;
        self
    }

    /// Sets whether the residual output projections start scaled by `1/√(2N)`.
    pub fn with_scaled_residual_init(mut self, scaled: bool) -> Self {
        self.scaled_residual_init = scaled;
        self
    }

    /// Sets the LayerNorms' `ε`.
    pub fn with_layer_norm_eps(mut self, eps: f64) -> Self {
        self.layer_norm_eps = eps;
        self
    }

    /// Sets the element type.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Builds the model, drawing its weights (and dropout seeds) from `rng` in the order
    /// `token_embedding`, `position_embedding`, `dropout`, `blocks.0`, …, `ln_f`, `lm_head`.
    ///
    /// # Panics
    /// If a size is zero, `d_model` is not a multiple of `num_heads`, `init_std` is negative,
    /// or a dropout probability is not in `[0, 1]`.
    #[track_caller]
    pub fn init(&self, rng: &mut Rng) -> Gpt {
        let c = self;
        for (name, value) in [("vocab_size", c.vocab_size), ("context", c.context), ("num_layers", c.num_layers)] {
            assert!(value > 0, "GptConfig: {name} must be positive");
        }
        assert!(
            c.d_model > 0 && c.num_heads > 0 && c.d_model.is_multiple_of(c.num_heads),
            "GptConfig: d_model {} must be a positive multiple of num_heads {}",
            c.d_model,
            c.num_heads
        );
        assert!(
            c.init_std.is_finite() && c.init_std >= 0.0,
            "GptConfig: init_std {} must be finite and ≥ 0",
            c.init_std
        );
        let normal = Initializer::Normal { std: c.init_std };
        let token_embedding =
            EmbeddingConfig::new(c.vocab_size, c.d_model).with_weight_init(normal).with_dtype(c.dtype).init(rng);
        let position_embedding = LearnedPositionalEmbeddingConfig::new(c.context, c.d_model)
            .with_weight_init(normal)
            .with_dtype(c.dtype)
            .init(rng);
        assert!((0.0..=1.0).contains(&c.dropout), "GptConfig: the dropout probability {} must be in [0, 1]", c.dropout);
        let dropout = DropoutConfig::new(c.dropout).init(rng);
        let block = TransformerDecoderBlockConfig::new(c.d_model, c.num_heads)
            .with_mlp_width(c.mlp_width)
            .with_dropout(c.dropout)
            .with_attention_dropout(c.attention_dropout)
            .with_bias(c.bias)
            .with_layer_norm_eps(c.layer_norm_eps)
            .with_weight_init(normal)
            .with_dtype(c.dtype);
        let residual_scale = 1.0 / (2.0 * c.num_layers as f64).sqrt();
        let blocks: Vec<TransformerDecoderBlock> = (0..c.num_layers)
            .map(|_| {
                let block = block.init(rng);
                if c.scaled_residual_init {
                    for weight in [&block.attn.out.weight, &residual_weight(&block)] {
                        weight.set_value(weight.value().mul_scalar(residual_scale));
                    }
                }
                block
            })
            .collect();
        let ln_f = LayerNormConfig::new(&[c.d_model]).with_eps(c.layer_norm_eps).with_dtype(c.dtype).init(rng);
        let lm_head = if c.tied {
            LmHead::Tied(token_embedding.weight.clone())
        } else {
            LmHead::Untied(
                LinearConfig::new(c.d_model, c.vocab_size)
                    .with_bias(false)
                    .with_weight_init(normal)
                    .with_dtype(c.dtype)
                    .init(rng),
            )
        };
        Gpt { token_embedding, position_embedding, dropout, blocks, ln_f, lm_head, config: self.clone() }
    }
}

/// The MLP's second matrix (`mlp.fc2.weight`) of a block.
fn residual_weight(block: &TransformerDecoderBlock) -> Var {
    block
        .mlp
        .named_parameters()
        .into_iter()
        .find(|(name, _)| name == "fc2.weight")
        .map(|(_, var)| var)
        .expect("a Transformer block's MLP has an `fc2` layer")
}

/// The output layer of a [`Gpt`]: hidden states `[..., d]` to logits `[..., V]`.
pub enum LmHead {
    /// `logits = h·Eᵀ` with the token embedding's matrix `E` (`[V, d]`), the same `Var`. It
    /// reports no parameter of its own, so the shared matrix is counted and saved once.
    Tied(Var),
    /// A [`Linear`] layer `d → V` without bias: `lm_head.weight`.
    Untied(Linear),
}

impl LmHead {
    /// The matrix `[V, d]` whose rows score the tokens (the embedding's when tied).
    pub fn weight(&self) -> &Var {
        match self {
            LmHead::Tied(weight) => weight,
            LmHead::Untied(linear) => &linear.weight,
        }
    }
}

impl Module for LmHead {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        match self {
            LmHead::Tied(weight) => input.matmul(&weight.t()),
            LmHead::Untied(linear) => linear.forward(input),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            LmHead::Tied(_) => "TiedLmHead",
            LmHead::Untied(_) => "Linear",
        }
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        if let LmHead::Untied(linear) = self {
            linear.visit(visitor);
        }
    }

    fn flops(&self, _input_shape: &[usize], output_shape: &[usize]) -> u64 {
        let d = self.weight().shape()[1] as u64;
        2 * d * output_shape.iter().product::<usize>() as u64
    }
}

/// A decoder-only Transformer language model; see the [module docs](self).
///
/// Children (and so parameter names): `token_embedding`, `position_embedding`, `dropout`,
/// `blocks.0` … `blocks.{N−1}` (each `ln1`, `attn`, `ln2`, `mlp`, …), `ln_f`, `lm_head`.
pub struct Gpt {
    /// Token ids to vectors, `[V, d]`.
    pub token_embedding: Embedding,
    /// One learned vector per position, `[context, d]`.
    pub position_embedding: LearnedPositionalEmbedding,
    /// Dropout on the embeddings' sum.
    pub dropout: Dropout,
    /// The causal Transformer blocks, first to last.
    pub blocks: Vec<TransformerDecoderBlock>,
    /// The final LayerNorm (a pre-LN stack ends with one).
    pub ln_f: LayerNorm,
    /// Hidden states to logits, tied to `token_embedding` or not.
    pub lm_head: LmHead,
    config: GptConfig,
}

impl Gpt {
    /// The configuration the model was built from.
    pub fn config(&self) -> &GptConfig {
        &self.config
    }

    /// The vocabulary size `V`.
    pub fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }

    /// The longest sequence the model reads.
    pub fn context(&self) -> usize {
        self.config.context
    }

    /// Whether the output layer reuses the token embedding matrix.
    pub fn is_tied(&self) -> bool {
        matches!(self.lm_head, LmHead::Tied(_))
    }

    #[track_caller]
    fn check_input(&self, shape: &[usize]) {
        assert!(shape.len() == 2, "Gpt: expected token ids [batch, t] but received {shape:?}");
        assert!(
            shape[1] <= self.config.context,
            "Gpt: the input {shape:?} has t = {} positions but the context is {}; keep the last {} tokens \
             (as generate does)",
            shape[1],
            self.config.context,
            self.config.context
        );
    }

    fn run(&self, ids: &Var, mut trace: Option<&mut Trace>) -> Var {
        let x = call("token_embedding", &self.token_embedding, ids, trace.as_deref_mut());
        let x = call("position_embedding", &self.position_embedding, &x, trace.as_deref_mut());
        let mut x = call("dropout", &self.dropout, &x, trace.as_deref_mut());
        for (i, block) in self.blocks.iter().enumerate() {
            x = call(&format!("blocks.{i}"), block, &x, trace.as_deref_mut());
        }
        let x = call("ln_f", &self.ln_f, &x, trace.as_deref_mut());
        call("lm_head", &self.lm_head, &x, trace)
    }

    /// The logits `[1, t, V]` for one sequence of ids (`t ≤ context`).
    ///
    /// # Panics
    /// If `ids` is empty, longer than the context, or holds an id `≥ V`.
    #[track_caller]
    pub fn logits_of(&self, ids: &[usize]) -> Var {
        assert!(!ids.is_empty(), "Gpt::logits_of: expected at least one token id");
        let values: Vec<f32> = ids.iter().map(|&id| id as f32).collect();
        let input = Var::constant(Tensor::from_vec(values, &[1, ids.len()]).to_dtype(self.config.dtype));
        self.forward(&input)
    }

    /// Continues `prompt` with `new_tokens` sampled ids, returned without the prompt (as
    /// [`CharLm::generate`](crate::CharLm::generate)). Each step runs the model on the last `context` tokens and draws the next one
    /// from its last position's logits with [`sample_logits`]: `temperature` 0 (or
    /// `top_k = Some(1)`) is greedy, always the most likely token; otherwise the logits are
    /// divided by `temperature` (below 1 sharpens, above 1 flattens) and, with `top_k =
    /// Some(k)`, only the `k` most likely tokens can be drawn. The same `rng` state gives the
    /// same text.
    ///
    /// Runs without a tape. Dropout is whatever mode the model is in: call
    /// [`eval`](ModuleExt::eval) first if it has dropout.
    ///
    /// # Panics
    /// If `prompt` is empty or holds an id `≥ V`, `temperature` is negative or not finite, or
    /// `top_k` is `Some(0)`.
    #[track_caller]
    pub fn generate(
        &self,
        prompt: &[usize],
        new_tokens: usize,
        temperature: f64,
        top_k: Option<usize>,
        rng: &mut Rng,
    ) -> Vec<usize> {
        assert!(!prompt.is_empty(), "Gpt::generate: the prompt must hold at least one token");
        check_sampling("Gpt::generate", temperature, top_k);
        let mut ids = prompt.to_vec();
        no_grad(|| {
            while ids.len() < prompt.len() + new_tokens {
                let window = &ids[ids.len().saturating_sub(self.config.context)..];
                let logits = self.logits_of(window).value();
                let last = logits.narrow(1, window.len() - 1, 1).to_vec_f64();
                ids.push(sample_logits(&last, temperature, top_k, rng));
            }
        });
        ids.split_off(prompt.len())
    }
}

impl Module for Gpt {
    /// Logits `[batch, t, V]` for token ids `[batch, t]` (`t ≤ context`).
    ///
    /// # Panics
    /// If the input is not `[batch, t]`, `t` exceeds the context, or an id is not a whole
    /// number below `V`.
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        self.check_input(input.shape());
        self.run(input, None)
    }

    fn kind(&self) -> &'static str {
        "Gpt"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.child("token_embedding", &self.token_embedding);
        visitor.child("position_embedding", &self.position_embedding);
        visitor.child("dropout", &self.dropout);
        for (i, block) in self.blocks.iter().enumerate() {
            visitor.child(&format!("blocks.{i}"), block);
        }
        visitor.child("ln_f", &self.ln_f);
        visitor.child("lm_head", &self.lm_head);
    }

    fn set_training(&mut self, training: bool) {
        self.dropout.set_training(training);
        for block in &mut self.blocks {
            block.set_training(training);
        }
    }

    fn forward_traced(&self, input: &Var, trace: &mut Trace) -> Var {
        self.check_input(input.shape());
        self.run(input, Some(trace))
    }
}

/// Logits `[batch, t, V]` as `[batch·t, V]`, row `b·t + i` for position `i` of sequence `b`:
/// the layout of the targets of `nabla_data::text::CharWindows`, and what `cross_entropy`
/// takes.
///
/// # Panics
/// If `logits` is not of rank 3.
#[track_caller]
pub fn flatten_logits(logits: &Var) -> Var {
    let shape = logits.shape();
    assert!(shape.len() == 3, "flatten_logits: expected logits [batch, t, vocab] but received {shape:?}");
    logits.reshape(&[shape[0] * shape[1], shape[2]])
}

/// The mean next-token cross-entropy (nats per token) of logits `[batch, t, V]` against
/// `targets`, `batch·t` ids in row-major order: `mean(−log softmax(logits)[target])`.
///
/// # Panics
/// If `logits` is not of rank 3, or `targets` does not hold `batch·t` ids below `V`.
#[track_caller]
pub fn next_token_loss(logits: &Var, targets: &[usize]) -> Var {
    losses::cross_entropy(&flatten_logits(logits), targets)
}

#[track_caller]
fn check_sampling(op: &str, temperature: f64, top_k: Option<usize>) {
    assert!(
        temperature.is_finite() && temperature >= 0.0,
        "{op}: temperature {temperature} must be finite and ≥ 0 (0 = greedy)"
    );
    assert!(top_k != Some(0), "{op}: top_k must be at least 1 (or None for no cut)");
}
