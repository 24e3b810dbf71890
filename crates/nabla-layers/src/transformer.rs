//! Transformer blocks, pre-LayerNorm (as GPT-2 and most models since): each sub-layer reads a
//! normalised copy of the residual stream and adds its result back to it.
//!
//! ```text
//! encoder block                        decoder block
//! x = x + Drop(MHA(LN₁(x), mask))      x = x + Drop(MHA_causal(LN₁(x), mask))
//! x = x + Drop(MLP(LN₂(x)))            x = x + Drop(MHA(LN_cross(x), memory, memory_mask))  (if cross-attention)
//!                                      x = x + Drop(MLP(LN₂(x)))
//!
//! MLP(x) = GELU(x·W₁ᵀ + b₁)·W₂ᵀ + b₂   W₁: [width, d], W₂: [d, width], width = 4·d by default
//! ```
//!
//! | tensor | shape |
//! |---|---|
//! | input `x`, output | `[batch, t, d_model]` |
//! | `memory` (decoder with cross-attention) | `[batch, tm, d_model]`, e.g. an encoder's output |
//! | self-attention mask | broadcastable to `[batch, heads, t, t]`, nonzero = hidden ([`attention`](crate::attention)) |
//! | memory mask | broadcastable to `[batch, heads, t, tm]` |
//!
//! Pre-LN keeps an unnormalised identity path from the input to the output of a whole stack,
//! so gradients reach early blocks undiminished, and deep stacks train stably with little or no
//! learning-rate warm-up, which the original post-LN layout (`x = LN(x + MHA(x))`) needs
//! (Xiong et al., 2020). A model ends its stack with one more LayerNorm.
//!
//! Children are named `ln1`, `attn`, (`ln_cross`, `cross_attn`,) `ln2`, `mlp` (`fc1`, `gelu`,
//! `fc2`) and `dropout`, so in a model's `blocks` list a parameter reads
//! `blocks.0.attn.query.weight` or `blocks.3.mlp.fc2.bias`. One [`Dropout`] serves both
//! residual branches; every call draws a new mask.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{Module, ModuleExt, TransformerDecoderBlockConfig};
//! use nabla_tensor::{rng, DType, Tensor};
//! let block = TransformerDecoderBlockConfig::new(32, 4).init(&mut rng(0)); // a GPT block
//! let x = Var::constant(Tensor::zeros(&[2, 7, 32], DType::F32));
//! assert_eq!(block.forward(&x).shape(), vec![2, 7, 32]);
//! assert_eq!(block.named_parameters()[2].0, "attn.query.weight");
//! ```

use nabla_autograd::Var;
use nabla_tensor::{DType, Rng, Tensor};

use crate::activation::GELU;
use crate::attention::{MultiHeadAttention, MultiHeadAttentionConfig};
use crate::dropout::{Dropout, DropoutConfig};
use crate::init::Initializer;
use crate::layer_norm::{LayerNorm, LayerNormConfig};
use crate::linear::LinearConfig;
use crate::module::{Module, Visitor};
use crate::sequential::Sequential;

/// The settings both block configs share, copied out of either for building.
#[derive(Clone, Copy)]
struct BlockSpec {
    d_model: usize,
    num_heads: usize,
    mlp_width: usize,
    dropout: f64,
    attention_dropout: f64,
    bias: bool,
    layer_norm_eps: f64,
    weight_init: Initializer,
    dtype: DType,
}

impl BlockSpec {
    #[track_caller]
    fn check(&self, config: &str) {
        let (d, h) = (self.d_model, self.num_heads);
        assert!(d > 0 && h > 0 && d % h == 0, "{config}: d_model {d} must be a positive multiple of num_heads {h}");
        assert!(self.mlp_width > 0, "{config}: mlp_width must be positive");
        for (name, p) in [("dropout", self.dropout), ("attention_dropout", self.attention_dropout)] {
            assert!((0.0..=1.0).contains(&p), "{config}: the {name} probability {p} must be in [0, 1]");
        }
    }

    fn layer_norm(&self, rng: &mut Rng) -> LayerNorm {
        LayerNormConfig::new(&[self.d_model]).with_eps(self.layer_norm_eps).with_dtype(self.dtype).init(rng)
    }

    fn attention(&self, causal: bool, rng: &mut Rng) -> MultiHeadAttention {
        MultiHeadAttentionConfig::new(self.d_model, self.num_heads)
            .with_dropout(self.attention_dropout)
            .with_bias(self.bias)
            .with_causal(causal)
            .with_weight_init(self.weight_init)
            .with_dtype(self.dtype)
            .init(rng)
    }

    /// `fc1` (`d → width`) → `gelu` → `fc2` (`width → d`).
    fn mlp(&self, rng: &mut Rng) -> Sequential {
        let linear = |i, o| LinearConfig {
            bias: self.bias,
            weight_init: self.weight_init,
            dtype: self.dtype,
            ..LinearConfig::new(i, o)
        };
        Sequential::new()
            .add_named("fc1", linear(self.d_model, self.mlp_width).init(rng))
            .add_named("gelu", GELU)
            .add_named("fc2", linear(self.mlp_width, self.d_model).init(rng))
    }

    fn dropout(&self, rng: &mut Rng) -> Dropout {
        DropoutConfig::new(self.dropout).init(rng)
    }
}

/// The fields and setters both block configs share (written once here, documented on each).
macro_rules! block_config {
    ($(#[$doc:meta])* $config:ident { $($(#[$extra_doc:meta])* $extra:ident: $extra_ty:ty),* }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $config {
            /// Features of each position; a multiple of `num_heads`.
            pub d_model: usize,
            /// Attention heads.
            pub num_heads: usize,
            /// Hidden width of the MLP (`4·d_model` by default).
            pub mlp_width: usize,
            /// Dropout probability on each residual branch (0 by default).
            pub dropout: f64,
            /// Dropout probability on the attention weights (0 by default).
            pub attention_dropout: f64,
            /// Whether the attention projections and MLP layers have biases (true).
            pub bias: bool,
            /// The LayerNorms' `ε` (`1e-5`).
            pub layer_norm_eps: f64,
            /// How the weights of the projections and MLP start (Glorot uniform by default).
            pub weight_init: Initializer,
            /// Element type of the parameters.
            pub dtype: DType,
            $($(#[$extra_doc])* pub $extra: $extra_ty,)*
        }

        impl $config {
            /// Sets the hidden width of the MLP.
            pub fn with_mlp_width(mut self, width: usize) -> Self {
                self.mlp_width = width;
                self
            }

            /// Sets the dropout probability on the residual branches.
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

            /// Sets the LayerNorms' `ε`.
            pub fn with_layer_norm_eps(mut self, eps: f64) -> Self {
                self.layer_norm_eps = eps;
                self
            }

            /// Sets the initializer of the projection and MLP weights.
            pub fn with_weight_init(mut self, init: Initializer) -> Self {
                self.weight_init = init;
                self
            }

            /// Sets the element type.
            pub fn with_dtype(mut self, dtype: DType) -> Self {
                self.dtype = dtype;
                self
            }

            fn spec(&self) -> BlockSpec {
                BlockSpec {
                    d_model: self.d_model,
                    num_heads: self.num_heads,
                    mlp_width: self.mlp_width,
                    dropout: self.dropout,
                    attention_dropout: self.attention_dropout,
                    bias: self.bias,
                    layer_norm_eps: self.layer_norm_eps,
                    weight_init: self.weight_init,
                    dtype: self.dtype,
                }
            }
        }
    };
}

block_config! {
    /// How to build a [`TransformerEncoderBlock`].
    TransformerEncoderBlockConfig {}
}

impl TransformerEncoderBlockConfig {
    /// A block of `num_heads` heads over `d_model` features, MLP width `4·d_model`, no dropout,
    /// biases, `ε = 1e-5`, Glorot-uniform weights, `f32`.
    pub fn new(d_model: usize, num_heads: usize) -> Self {
        TransformerEncoderBlockConfig {
            d_model,
            num_heads,
            mlp_width: 4 * d_model,
            dropout: 0.0,
            attention_dropout: 0.0,
            bias: true,
            layer_norm_eps: 1e-5,
            weight_init: Initializer::GlorotUniform,
            dtype: DType::F32,
        }
    }

    /// Builds the block, drawing its weights and dropout seeds from `rng` (children in the
    /// order `ln1`, `attn`, `ln2`, `mlp`, `dropout`).
    ///
    /// # Panics
    /// If `d_model` is not a positive multiple of `num_heads`, the MLP width is zero, or a
    /// dropout probability is not in `[0, 1]`.
    #[track_caller]
    pub fn init(&self, rng: &mut Rng) -> TransformerEncoderBlock {
        let spec = self.spec();
        spec.check("TransformerEncoderBlockConfig");
        TransformerEncoderBlock {
            ln1: spec.layer_norm(rng),
            attn: spec.attention(false, rng),
            ln2: spec.layer_norm(rng),
            mlp: spec.mlp(rng),
            dropout: spec.dropout(rng),
            mlp_width: spec.mlp_width,
        }
    }
}

/// A pre-LN Transformer encoder block (bidirectional self-attention, then an MLP); see the
/// [module docs](self).
///
/// With biases it has `4·d² + 4·d` (attention) `+ 2·d·w + w + d` (MLP) `+ 4·d` (two
/// LayerNorms) parameters, as PyTorch's `nn.TransformerEncoderLayer(d, h, w, norm_first=True)`.
pub struct TransformerEncoderBlock {
    /// LayerNorm before the attention.
    pub ln1: LayerNorm,
    /// Self-attention.
    pub attn: MultiHeadAttention,
    /// LayerNorm before the MLP.
    pub ln2: LayerNorm,
    /// `fc1` → `gelu` → `fc2`.
    pub mlp: Sequential,
    /// Dropout on both residual branches.
    pub dropout: Dropout,
    mlp_width: usize,
}

impl TransformerEncoderBlock {
    /// The block on `x` (`[batch, t, d_model]`), attention hiding the keys where `mask` is
    /// nonzero (e.g. [`padding_mask`](crate::attention::padding_mask)).
    #[track_caller]
    pub fn forward_masked(&self, x: &Var, mask: Option<&Tensor>) -> Var {
        let x = x.add(&self.dropout.forward(&self.attn.forward_masked(&self.ln1.forward(x), mask)));
        x.add(&self.dropout.forward(&self.mlp.forward(&self.ln2.forward(&x))))
    }
}

/// FLOPs of self-attention plus MLP on `[batch, t, d]`: the MLP's two products cost
/// `2 · 2·batch·t·d·width`; the LayerNorms and additions are negligible.
fn block_flops(attn: &MultiHeadAttention, mlp_width: usize, input_shape: &[usize]) -> u64 {
    let elements: usize = input_shape.iter().product();
    attn.flops(input_shape, input_shape) + 4 * (elements * mlp_width) as u64
}

impl Module for TransformerEncoderBlock {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        self.forward_masked(input, None)
    }

    fn kind(&self) -> &'static str {
        "TransformerEncoderBlock"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.child("ln1", &self.ln1);
        visitor.child("attn", &self.attn);
        visitor.child("ln2", &self.ln2);
        visitor.child("mlp", &self.mlp);
        visitor.child("dropout", &self.dropout);
    }

    fn set_training(&mut self, training: bool) {
        self.attn.set_training(training);
        self.mlp.set_training(training);
        self.dropout.set_training(training);
    }

    fn flops(&self, input_shape: &[usize], _output_shape: &[usize]) -> u64 {
        block_flops(&self.attn, self.mlp_width, input_shape)
    }
}

block_config! {
    /// How to build a [`TransformerDecoderBlock`].
    TransformerDecoderBlockConfig {
        /// Whether the block attends to an encoder's output (`false`: a GPT block).
        cross_attention: bool
    }
}

impl TransformerDecoderBlockConfig {
    /// A GPT-style block (causal self-attention and MLP, no cross-attention) of `num_heads`
    /// heads over `d_model` features, MLP width `4·d_model`, no dropout, biases, `ε = 1e-5`,
    /// Glorot-uniform weights, `f32`.
    pub fn new(d_model: usize, num_heads: usize) -> Self {
        let encoder = TransformerEncoderBlockConfig::new(d_model, num_heads);
        TransformerDecoderBlockConfig {
            d_model,
            num_heads,
            mlp_width: encoder.mlp_width,
            dropout: encoder.dropout,
            attention_dropout: encoder.attention_dropout,
            bias: encoder.bias,
            layer_norm_eps: encoder.layer_norm_eps,
            weight_init: encoder.weight_init,
            dtype: encoder.dtype,
            cross_attention: false,
        }
    }

    /// Adds (or removes) the cross-attention to an encoder memory.
    pub fn with_cross_attention(mut self, cross_attention: bool) -> Self {
        self.cross_attention = cross_attention;
        self
    }

    /// Builds the block, drawing its weights and dropout seeds from `rng` (children in the
    /// order `ln1`, `attn`, `ln_cross`, `cross_attn`, `ln2`, `mlp`, `dropout`).
    ///
    /// # Panics
    /// As [`TransformerEncoderBlockConfig::init`].
    #[track_caller]
    pub fn init(&self, rng: &mut Rng) -> TransformerDecoderBlock {
        let spec = self.spec();
        spec.check("TransformerDecoderBlockConfig");
        let ln1 = spec.layer_norm(rng);
        let attn = spec.attention(true, rng);
        let (ln_cross, cross_attn) = if self.cross_attention {
            let ln = spec.layer_norm(rng);
            (Some(ln), Some(spec.attention(false, rng)))
        } else {
            (None, None)
        };
        TransformerDecoderBlock {
            ln1,
            attn,
            ln_cross,
            cross_attn,
            ln2: spec.layer_norm(rng),
            mlp: spec.mlp(rng),
            dropout: spec.dropout(rng),
            mlp_width: spec.mlp_width,
        }
    }
}

/// A pre-LN Transformer decoder block: causal self-attention, optional cross-attention to an
/// encoder memory, then an MLP; see the [module docs](self).
///
/// Without cross-attention it is a GPT-2 block: with `d = 768`, 12 heads and biases it has
/// 7,087,872 parameters. With cross-attention it has `4·d² + 4·d + 2·d` more, as PyTorch's
/// `nn.TransformerDecoderLayer(d, h, w, norm_first=True)`.
///
/// [`Module::forward`] is the GPT block (`x` attends to its own past); a block with
/// cross-attention needs its memory and is run with
/// [`forward_with_memory`](Self::forward_with_memory).
pub struct TransformerDecoderBlock {
    /// LayerNorm before the self-attention.
    pub ln1: LayerNorm,
    /// Causal self-attention.
    pub attn: MultiHeadAttention,
    /// LayerNorm before the cross-attention, if any.
    pub ln_cross: Option<LayerNorm>,
    /// Attention from the decoder's positions (queries) to the memory (keys, values), if any.
    pub cross_attn: Option<MultiHeadAttention>,
    /// LayerNorm before the MLP.
    pub ln2: LayerNorm,
    /// `fc1` → `gelu` → `fc2`.
    pub mlp: Sequential,
    /// Dropout on every residual branch.
    pub dropout: Dropout,
    mlp_width: usize,
}

impl TransformerDecoderBlock {
    /// Whether the block attends to an encoder memory.
    pub fn has_cross_attention(&self) -> bool {
        self.cross_attn.is_some()
    }

    /// `x + Drop(MHA_causal(LN₁(x), mask))`.
    fn self_attention(&self, x: &Var, mask: Option<&Tensor>) -> Var {
        x.add(&self.dropout.forward(&self.attn.forward_masked(&self.ln1.forward(x), mask)))
    }

    /// `x + Drop(MLP(LN₂(x)))`.
    fn feed_forward(&self, x: &Var) -> Var {
        x.add(&self.dropout.forward(&self.mlp.forward(&self.ln2.forward(x))))
    }

    /// The GPT block on `x` (`[batch, t, d_model]`): causal self-attention that also hides the
    /// keys where `mask` is nonzero (e.g. padding), then the MLP.
    ///
    /// # Panics
    /// If the block has cross-attention (use [`forward_with_memory`](Self::forward_with_memory)).
    #[track_caller]
    pub fn forward_masked(&self, x: &Var, mask: Option<&Tensor>) -> Var {
        assert!(
            self.cross_attn.is_none(),
            "TransformerDecoderBlock: this block has cross-attention; call forward_with_memory(x, memory, …)"
        );
        self.feed_forward(&self.self_attention(x, mask))
    }

    /// The full decoder block: causal self-attention over `x` (`[batch, t, d_model]`, extra
    /// hidden keys where `self_mask` is nonzero), cross-attention from `x` to `memory`
    /// (`[batch, tm, d_model]`, hidden where `memory_mask` is nonzero), then the MLP.
    ///
    /// # Panics
    /// If the block has no cross-attention, or the shapes do not fit.
    #[track_caller]
    pub fn forward_with_memory(
        &self,
        x: &Var,
        memory: &Var,
        self_mask: Option<&Tensor>,
        memory_mask: Option<&Tensor>,
    ) -> Var {
        let (Some(ln_cross), Some(cross_attn)) = (&self.ln_cross, &self.cross_attn) else {
            panic!(
                "TransformerDecoderBlock: this block has no cross-attention to attend to a memory; \
                 build it with TransformerDecoderBlockConfig::with_cross_attention(true)"
            );
        };
        let x = self.self_attention(x, self_mask);
        let read = cross_attn.forward_qkv(&ln_cross.forward(&x), memory, memory, memory_mask);
        let x = x.add(&self.dropout.forward(&read));
        self.feed_forward(&x)
    }
}

impl Module for TransformerDecoderBlock {
    /// The GPT block, as [`forward_masked`](Self::forward_masked) without a mask.
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        self.forward_masked(input, None)
    }

    fn kind(&self) -> &'static str {
        "TransformerDecoderBlock"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.child("ln1", &self.ln1);
        visitor.child("attn", &self.attn);
        if let (Some(ln), Some(attn)) = (&self.ln_cross, &self.cross_attn) {
            visitor.child("ln_cross", ln);
            visitor.child("cross_attn", attn);
        }
        visitor.child("ln2", &self.ln2);
        visitor.child("mlp", &self.mlp);
        visitor.child("dropout", &self.dropout);
    }

    fn set_training(&mut self, training: bool) {
        self.attn.set_training(training);
        if let Some(attn) = &mut self.cross_attn {
            attn.set_training(training);
        }
        self.mlp.set_training(training);
        self.dropout.set_training(training);
    }

    /// The self-attention and MLP (a memory's size is not known from the input shape).
    fn flops(&self, input_shape: &[usize], _output_shape: &[usize]) -> u64 {
        block_flops(&self.attn, self.mlp_width, input_shape)
    }
}
