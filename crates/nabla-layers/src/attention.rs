//! Attention (Vaswani et al., 2017, "Attention Is All You Need"): every query position reads a
//! weighted average of the value vectors, weighted by how well its query matches each key.
//!
//! ```text
//! Attention(Q, K, V) = softmax(Q·Kᵀ / √d  masked) · V
//!
//! sᵢⱼ = qᵢ·kⱼ / √d                       how well query i matches key j
//! sᵢⱼ = −∞ where mask[i, j] ≠ 0           masked keys cannot be read
//! aᵢⱼ = e^sᵢⱼ / Σₗ e^sᵢₗ                   attention weights: aᵢⱼ ≥ 0, Σⱼ aᵢⱼ = 1
//! oᵢ  = Σⱼ aᵢⱼ vⱼ                         output: a convex combination of the values
//! ```
//!
//! Dividing by `√d` keeps the scores' variance near 1 when `q` and `k` have unit-variance entries
//! (a dot product of `d` such terms has variance `d`), so the softmax does not saturate.
//!
//! | tensor | shape |
//! |---|---|
//! | queries `q` | `[batch, heads, tq, d]` (any leading axes that broadcast) |
//! | keys `k` | `[batch, heads, tk, d]` |
//! | values `v` | `[batch, heads, tk, dv]` |
//! | mask (optional) | broadcastable to `[batch, heads, tq, tk]` |
//! | weights `a` | `[batch, heads, tq, tk]` |
//! | output `o` | `[batch, heads, tq, dv]` |
//!
//! **Masks are 0/1 tensors where 1 (any nonzero) means "may not attend"**, as PyTorch's
//! `nn.MultiheadAttention` boolean masks: the score becomes `−∞` (via
//! [`Var::masked_fill`]) and its weight exactly 0. [`causal_mask`] hides the future,
//! [`padding_mask`] and [`padding_mask_from`] hide the padding at the end of shorter sequences;
//! masks combine with `Tensor::maximum` (a key is hidden if either mask hides it). A query whose
//! whole row is masked has nothing to read: its weights and its output are 0 (not the NaN that
//! `softmax` of a row of `−∞` would give).
//!
//! Without an extra mask and without dropout on the weights, [`MultiHeadAttention`] runs the
//! fused op `Var::attention` (causal or not), which computes the same numbers one head at a
//! time with the head's scores in cache; with a mask or dropout, or when the weights are asked
//! for, it composes the functions of this module.
//!
//! [`MultiHeadAttention`] runs `h` such attentions side by side on learned projections of
//! `d_model / h` features each, then mixes the heads with an output projection:
//!
//! ```text
//! headᵢ = Attention(X_q·W_qᵢ, X_k·W_kᵢ, X_v·W_vᵢ)        MHA = concat(head₁, …, head_h)·W_o
//! ```
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::attention::{causal_mask, scaled_dot_product_attention};
//! use nabla_tensor::{rng, init, DType};
//! let mut r = rng(0);
//! let q = Var::constant(init::normal(&[2, 4, 5, 8], 0.0, 1.0, DType::F32, &mut r)); // [batch, heads, t, d]
//! let k = Var::constant(init::normal(&[2, 4, 5, 8], 0.0, 1.0, DType::F32, &mut r));
//! let v = Var::constant(init::normal(&[2, 4, 5, 8], 0.0, 1.0, DType::F32, &mut r));
//! let o = scaled_dot_product_attention(&q, &k, &v, Some(&causal_mask(5)), None);
//! assert_eq!(o.shape(), vec![2, 4, 5, 8]);
//! ```

use nabla_autograd::Var;
use nabla_tensor::{broadcast_shapes, DType, Rng, Tensor};

use crate::dropout::{Dropout, DropoutConfig};
use crate::init::Initializer;
use crate::linear::{Linear, LinearConfig};
use crate::module::{Module, Visitor};

/// The causal ("look-ahead") mask of a sequence of `t` positions: `[t, t]`, 1 where the key
/// comes after the query (`j > i`), so position `i` only sees positions `0..=i`.
///
/// ```
/// use nabla_layers::attention::causal_mask;
/// assert_eq!(causal_mask(3).to_vec_f32(), [0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
/// ```
pub fn causal_mask(t: usize) -> Tensor {
    let values: Vec<f32> = (0..t * t).map(|n| if n % t > n / t { 1.0 } else { 0.0 }).collect();
    Tensor::from_vec(values, &[t, t])
}

/// The padding mask of a batch of sequences padded to `t` positions: `[batch, 1, 1, t]`, 1 at
/// the positions `lengths[b]..t` of sequence `b`, so no query attends to padding keys.
///
/// # Panics
/// If a length exceeds `t`.
///
/// ```
/// use nabla_layers::attention::padding_mask;
/// let mask = padding_mask(&[3, 1], 3);
/// assert_eq!(mask.shape(), [2, 1, 1, 3]);
/// assert_eq!(mask.to_vec_f32(), [0.0, 0.0, 0.0, 0.0, 1.0, 1.0]);
/// ```
#[track_caller]
pub fn padding_mask(lengths: &[usize], t: usize) -> Tensor {
    if let Some((b, &len)) = lengths.iter().enumerate().find(|(_, &len)| len > t) {
        panic!("padding_mask: sequence {b} has length {len}, more than the padded length t = {t}");
    }
    let values: Vec<f32> =
        lengths.iter().flat_map(|&len| (0..t).map(move |j| if j >= len { 1.0 } else { 0.0 })).collect();
    Tensor::from_vec(values, &[lengths.len(), 1, 1, t])
}

/// The padding mask from a `[batch, t]` tensor that is nonzero at padding positions (e.g.
/// `ids.eq_scalar(pad_id)`): `[batch, 1, 1, t]`, 0/1, `f32`.
///
/// # Panics
/// If `is_pad` is not of rank 2.
///
/// ```
/// use nabla_layers::attention::padding_mask_from;
/// use nabla_tensor::{DType, Tensor};
/// let is_pad = Tensor::from_f64s(&[0.0, 0.0, 1.0], &[1, 3], DType::F64);
/// assert_eq!(padding_mask_from(&is_pad).to_vec_f32(), [0.0, 0.0, 1.0]);
/// ```
#[track_caller]
pub fn padding_mask_from(is_pad: &Tensor) -> Tensor {
    let shape = is_pad.shape();
    assert!(shape.len() == 2, "padding_mask_from: expected a [batch, t] tensor but received {shape:?}");
    let values: Vec<f32> = is_pad.to_vec_f64().iter().map(|&v| if v != 0.0 { 1.0 } else { 0.0 }).collect();
    Tensor::from_vec(values, &[shape[0], 1, 1, shape[1]])
}

/// The attention weights `softmax(q·kᵀ/√d, masked)`: `[..., tq, tk]`, each row summing to 1
/// (or all 0 for a query whose every key is masked). See the [module docs](self).
///
/// # Panics
/// If `q` and `k` differ in their last axis `d`, their leading axes do not broadcast, or the
/// mask does not broadcast to `[..., tq, tk]`.
#[track_caller]
pub fn attention_weights(q: &Var, k: &Var, mask: Option<&Tensor>) -> Var {
    let (qs, ks) = (q.shape(), k.shape());
    assert!(
        qs.len() >= 2 && ks.len() >= 2 && qs.last() == ks.last(),
        "attention: expected q [..., tq, d] and k [..., tk, d] with the same d but received q {qs:?} and k {ks:?}"
    );
    let d = qs[qs.len() - 1];
    // The 1/√d scale is applied to q ([.., tq, d]) rather than to the scores ([.., tq, tk]):
    // the same product, on the smaller tensor.
    let scores = q.mul_scalar(1.0 / (d as f64).sqrt()).matmul(&k.t());
    let Some(mask) = mask else {
        return scores.softmax(scores.ndim() - 1);
    };
    let shape = scores.shape();
    if !broadcast_shapes("attention", mask.shape(), shape).is_ok_and(|s| s == shape) {
        panic!("attention: the mask {:?} does not broadcast to the scores [..., tq, tk] = {shape:?}", mask.shape());
    }
    // 0/1 in f32, at least one axis, so that "every key of the row is masked" is a reduction.
    let hidden = mask.ne(&Tensor::scalar(0.0, mask.dtype())).to_dtype(DType::F32);
    let hidden = if hidden.ndim() == 0 { hidden.unsqueeze(0) } else { hidden };
    let blocked_row = hidden.min_axes(&[hidden.ndim() - 1], true);
    let scores = scores.masked_fill(&hidden, f64::NEG_INFINITY);
    if blocked_row.max_all() == 0.0 {
        return scores.softmax(shape.len() - 1);
    }
    // Rows with nothing to see: softmax a row of zeros instead of −∞ (no NaN), then zero it.
    scores.masked_fill(&blocked_row, 0.0).softmax(shape.len() - 1).masked_fill(&blocked_row, 0.0)
}

/// Scaled dot-product attention, `softmax(q·kᵀ/√d + mask)·v`, with optional dropout on the
/// attention weights (active only while `dropout` is in training mode). See the
/// [module docs](self) for the shapes and the mask convention (nonzero = hidden).
///
/// # Panics
/// As [`attention_weights`], or if `k` and `v` differ in their number of keys `tk`.
#[track_caller]
pub fn scaled_dot_product_attention(
    q: &Var,
    k: &Var,
    v: &Var,
    mask: Option<&Tensor>,
    dropout: Option<&Dropout>,
) -> Var {
    let (ks, vs) = (k.shape(), v.shape());
    assert!(
        ks.len() >= 2 && vs.len() >= 2 && ks[ks.len() - 2] == vs[vs.len() - 2],
        "attention: expected k [..., tk, d] and v [..., tk, dv] with the same tk but received k {ks:?} and v {vs:?}"
    );
    let weights = attention_weights(q, k, mask);
    let weights = match dropout {
        Some(dropout) => dropout.forward(&weights),
        None => weights,
    };
    weights.matmul(v)
}

/// How to build a [`MultiHeadAttention`] layer.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiHeadAttentionConfig {
    /// Features of each position, in and out; must be a multiple of `num_heads`.
    pub d_model: usize,
    /// Heads `h`, each attending over `d_model / h` features.
    pub num_heads: usize,
    /// Dropout probability on the attention weights (0 by default).
    pub dropout: f64,
    /// Seed of the dropout masks; `None` draws it from the generator passed to `init`.
    pub dropout_seed: Option<u64>,
    /// Whether the four projections have biases (true, as in PyTorch).
    pub bias: bool,
    /// Whether every call hides future keys ([`causal_mask`]), as a GPT's attention does.
    pub causal: bool,
    /// How the projection weights start (Glorot uniform, as in Keras, by default).
    pub weight_init: Initializer,
    /// Element type of the parameters.
    pub dtype: DType,
}

impl MultiHeadAttentionConfig {
    /// `num_heads` heads over `d_model` features: no dropout, biases, not causal, Glorot-uniform
    /// weights, zero biases, `f32`.
    pub fn new(d_model: usize, num_heads: usize) -> Self {
        MultiHeadAttentionConfig {
            d_model,
            num_heads,
            dropout: 0.0,
            dropout_seed: None,
            bias: true,
            causal: false,
            weight_init: Initializer::GlorotUniform,
            dtype: DType::F32,
        }
    }

    /// Sets the dropout probability on the attention weights.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    #[track_caller]
    pub fn with_dropout(mut self, p: f64) -> Self {
        assert!((0.0..=1.0).contains(&p), "MultiHeadAttentionConfig: the dropout probability {p} must be in [0, 1]");
        self.dropout = p;
        self
    }

    /// Fixes the seed of the dropout masks.
    pub fn with_dropout_seed(mut self, seed: u64) -> Self {
        self.dropout_seed = Some(seed);
        self
    }

    /// Sets whether the projections have biases.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Sets whether future keys are hidden.
    pub fn with_causal(mut self, causal: bool) -> Self {
        self.causal = causal;
        self
    }

    /// Sets the initializer of the projection weights.
    pub fn with_weight_init(mut self, init: Initializer) -> Self {
        self.weight_init = init;
        self
    }

    /// Sets the element type.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Builds the layer, drawing its weights (query, key, value, out, in that order) and the
    /// dropout seed from `rng`.
    ///
    /// # Panics
    /// If `d_model` or `num_heads` is zero, or `d_model` is not a multiple of `num_heads`.
    #[track_caller]
    pub fn init(&self, rng: &mut Rng) -> MultiHeadAttention {
        let (d, h) = (self.d_model, self.num_heads);
        assert!(
            d > 0 && h > 0 && d % h == 0,
            "MultiHeadAttentionConfig: d_model {d} must be a positive multiple of num_heads {h}"
        );
        let linear = LinearConfig {
            bias: self.bias,
            weight_init: self.weight_init,
            dtype: self.dtype,
            ..LinearConfig::new(d, d)
        };
        let query = linear.init(rng);
        let key = linear.init(rng);
        let value = linear.init(rng);
        let out = linear.init(rng);
        let mut dropout = DropoutConfig::new(self.dropout);
        dropout.seed = self.dropout_seed;
        let dropout = dropout.init(rng);
        MultiHeadAttention { query, key, value, out, dropout, num_heads: h, causal: self.causal }
    }
}

/// Multi-head attention; see the [module docs](self).
///
/// | tensor | shape |
/// |---|---|
/// | `query` input | `[batch, tq, d_model]` |
/// | `key`, `value` inputs | `[batch, tk, d_model]` |
/// | mask | broadcastable to `[batch, heads, tq, tk]`, nonzero = hidden |
/// | `query`, `key`, `value`, `out` children | `Linear(d_model → d_model)` |
/// | output | `[batch, tq, d_model]` |
///
/// With biases it has `4·d² + 4·d` parameters, as PyTorch's `nn.MultiheadAttention`.
/// [`Module::forward`] is self-attention (`query = key = value = x`), causal if configured.
///
/// ```
/// use nabla_autograd::Var;
/// use nabla_layers::{Module, ModuleExt, MultiHeadAttentionConfig};
/// use nabla_tensor::{rng, DType, Tensor};
/// let attn = MultiHeadAttentionConfig::new(16, 4).with_causal(true).init(&mut rng(0));
/// let x = Var::constant(Tensor::ones(&[2, 5, 16], DType::F32));
/// assert_eq!(attn.forward(&x).shape(), vec![2, 5, 16]);
/// assert_eq!(attn.num_parameters(), 4 * 16 * 16 + 4 * 16);
/// assert_eq!(attn.named_parameters()[0].0, "query.weight");
/// ```
pub struct MultiHeadAttention {
    /// `W_q` (and its bias): `x ↦ queries`.
    pub query: Linear,
    /// `W_k`: `x ↦ keys`.
    pub key: Linear,
    /// `W_v`: `x ↦ values`.
    pub value: Linear,
    /// `W_o`: mixes the concatenated heads.
    pub out: Linear,
    /// Dropout on the attention weights.
    pub dropout: Dropout,
    num_heads: usize,
    causal: bool,
}

impl MultiHeadAttention {
    /// The features per position, `d_model`.
    pub fn d_model(&self) -> usize {
        self.query.weight.shape()[0]
    }

    /// The number of heads.
    pub fn num_heads(&self) -> usize {
        self.num_heads
    }

    /// The features per head, `d_model / num_heads`.
    pub fn head_dim(&self) -> usize {
        self.d_model() / self.num_heads
    }

    /// Whether every call hides future keys.
    pub fn is_causal(&self) -> bool {
        self.causal
    }

    /// `[batch, t, d_model]` → `[batch, heads, t, head_dim]`.
    fn split_heads(&self, x: &Var) -> Var {
        let s = x.shape();
        x.reshape(&[s[0], s[1], self.num_heads, self.head_dim()]).permute(&[0, 2, 1, 3])
    }

    /// Attention of `query` (`[batch, tq, d_model]`) over `key` and `value` (`[batch, tk,
    /// d_model]`), hiding the keys where `mask` is nonzero (and the future ones if causal).
    ///
    /// # Panics
    /// If the shapes do not fit (the message names them), or the layer is causal and `tq ≠ tk`.
    #[track_caller]
    pub fn forward_qkv(&self, query: &Var, key: &Var, value: &Var, mask: Option<&Tensor>) -> Var {
        let dropout_active = self.dropout.is_training() && self.dropout.p() > 0.0;
        if mask.is_some() || dropout_active {
            return self.forward_qkv_with_weights(query, key, value, mask).0;
        }
        // No extra mask and no dropout on the weights: the fused op (`Var::attention`), which
        // never builds the [batch, heads, tq, tk] weights as a tensor of the tape.
        let (batch, tq, _) = self.check_qkv(query, key, value);
        let q = self.split_heads(&self.query.forward(query));
        let k = self.split_heads(&self.key.forward(key));
        let v = self.split_heads(&self.value.forward(value));
        let heads = q.attention(&k, &v, 1.0 / (self.head_dim() as f64).sqrt(), self.causal);
        let merged = heads.permute(&[0, 2, 1, 3]).reshape(&[batch, tq, self.d_model()]);
        self.out.forward(&merged)
    }

    /// `(batch, tq, tk)` of query, key and value that fit this layer.
    #[track_caller]
    fn check_qkv(&self, query: &Var, key: &Var, value: &Var) -> (usize, usize, usize) {
        let d = self.d_model();
        let (qs, ks, vs) = (query.shape(), key.shape(), value.shape());
        let fits = qs.len() == 3 && ks.len() == 3 && qs[2] == d && ks == vs && ks[0] == qs[0] && ks[2] == d;
        assert!(
            fits,
            "MultiHeadAttention: expected query [batch, tq, {d}] and key = value [batch, tk, {d}] \
             but received query {qs:?}, key {ks:?}, value {vs:?}"
        );
        let (tq, tk) = (qs[1], ks[1]);
        assert!(
            !self.causal || tq == tk,
            "MultiHeadAttention: a causal layer needs as many queries as keys, got tq = {tq}, tk = {tk}"
        );
        (qs[0], tq, tk)
    }

    /// [`forward_qkv`](Self::forward_qkv), also returning the attention weights
    /// `[batch, heads, tq, tk]` (before dropout) for inspection. Always the composed form, so
    /// that the weights are a differentiable tensor.
    #[track_caller]
    pub fn forward_qkv_with_weights(&self, query: &Var, key: &Var, value: &Var, mask: Option<&Tensor>) -> (Var, Var) {
        let (batch, tq, _) = self.check_qkv(query, key, value);
        let mask = if self.causal {
            let causal = causal_mask(tq);
            Some(match mask {
                Some(m) => m.ne(&Tensor::scalar(0.0, m.dtype())).to_dtype(DType::F32).maximum(&causal),
                None => causal,
            })
        } else {
            mask.cloned()
        };
        let q = self.split_heads(&self.query.forward(query));
        let k = self.split_heads(&self.key.forward(key));
        let v = self.split_heads(&self.value.forward(value));
        let weights = attention_weights(&q, &k, mask.as_ref());
        let heads = self.dropout.forward(&weights).matmul(&v); // [batch, heads, tq, head_dim]
        let merged = heads.permute(&[0, 2, 1, 3]).reshape(&[batch, tq, self.d_model()]);
        (self.out.forward(&merged), weights)
    }

    /// Self-attention of `x` (`[batch, t, d_model]`) with an extra mask (e.g. [`padding_mask`]),
    /// combined with the causal mask if the layer is causal.
    #[track_caller]
    pub fn forward_masked(&self, x: &Var, mask: Option<&Tensor>) -> Var {
        self.forward_qkv(x, x, x, mask)
    }
}

impl Module for MultiHeadAttention {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        self.forward_masked(input, None)
    }

    fn kind(&self) -> &'static str {
        "MultiHeadAttention"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.child("query", &self.query);
        visitor.child("key", &self.key);
        visitor.child("value", &self.value);
        visitor.child("out", &self.out);
        visitor.child("dropout", &self.dropout);
    }

    fn set_training(&mut self, training: bool) {
        self.dropout.set_training(training);
    }

    /// Self-attention on `[batch, t, d]`: the four projections, `4 · 2·batch·t·d²`, plus the
    /// scores `q·kᵀ` and the weighted sum of values, `2 · 2·batch·t²·d`.
    fn flops(&self, input_shape: &[usize], _output_shape: &[usize]) -> u64 {
        let [batch, t, d] = match input_shape {
            &[b, t, d] => [b as u64, t as u64, d as u64],
            _ => return 0,
        };
        8 * batch * t * d * d + 4 * batch * t * t * d
    }
}
