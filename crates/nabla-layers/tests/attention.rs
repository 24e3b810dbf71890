//! Attention: scaled dot-product attention against a hand-computed example, masks (causal,
//! padding, fully masked rows), weights that sum to 1, attention dropout; MultiHeadAttention
//! through the conformance check on random sizes with and without masks, its causal property,
//! its heads as independent attentions, its parameter count against PyTorch's; and the
//! positional encodings (golden sinusoidal table, learned table, errors).

use nabla_autograd::gradcheck::strategies as st;
use nabla_autograd::Var;
use nabla_layers::attention::{
    attention_weights, causal_mask, padding_mask, padding_mask_from, scaled_dot_product_attention,
};
use nabla_layers::conformance::Conformance;
use nabla_layers::*;
use nabla_tensor::{init, rng, DType, Rng, Tensor};
use proptest::prelude::*;

fn t64(values: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_f64s(values, shape, DType::F64)
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

fn random(shape: &[usize], seed: u64) -> Tensor {
    init::uniform(shape, -1.0, 1.0, DType::F64, &mut rng(seed))
}

/// Self-attention with a fixed extra mask: how masks enter the conformance check.
struct MaskedSelfAttention {
    attn: MultiHeadAttention,
    mask: Tensor,
}

impl Module for MaskedSelfAttention {
    fn forward(&self, input: &Var) -> Var {
        self.attn.forward_masked(input, Some(&self.mask))
    }
    fn kind(&self) -> &'static str {
        "MaskedSelfAttention"
    }
    fn visit(&self, visitor: &mut Visitor<'_>) {
        self.attn.visit(visitor);
    }
    fn set_training(&mut self, training: bool) {
        self.attn.set_training(training);
    }
}

/// Cross-attention: the input `[batch, tq + tk, d]` is cut into queries and keys (= values),
/// so that the gradient check covers both paths.
struct CrossAttention {
    attn: MultiHeadAttention,
    tq: usize,
    mask: Option<Tensor>,
}

impl Module for CrossAttention {
    fn forward(&self, input: &Var) -> Var {
        let t = input.shape()[1];
        let (q, kv) = (input.narrow(1, 0, self.tq), input.narrow(1, self.tq, t - self.tq));
        self.attn.forward_qkv(&q, &kv, &kv, self.mask.as_ref())
    }
    fn kind(&self) -> &'static str {
        "CrossAttention"
    }
    fn visit(&self, visitor: &mut Visitor<'_>) {
        self.attn.visit(visitor);
    }
    fn set_training(&mut self, training: bool) {
        self.attn.set_training(training);
    }
}

/// A random 0/1 mask of `shape` that hides about a third of the entries.
fn random_mask(shape: &[usize], seed: u64) -> Tensor {
    init::uniform(shape, 0.0, 1.0, DType::F32, &mut rng(seed)).lt_scalar(1.0 / 3.0)
}

/// A random `[batch, 1, t, t]` mask that never hides a query's own position.
fn random_self_mask(batch: usize, t: usize, seed: u64) -> Tensor {
    let eye: Vec<f32> = (0..t * t).map(|n| if n / t == n % t { 0.0 } else { 1.0 }).collect();
    random_mask(&[batch, 1, t, t], seed).mul(&Tensor::from_vec(eye, &[t, t]))
}

#[derive(Clone, Debug)]
struct AttnCase {
    batch: usize,
    t: usize,
    heads: usize,
    head_dim: usize,
    bias: bool,
    causal: bool,
}

impl AttnCase {
    fn d(&self) -> usize {
        self.heads * self.head_dim
    }
    fn config(&self) -> MultiHeadAttentionConfig {
        MultiHeadAttentionConfig::new(self.d(), self.heads).with_bias(self.bias).with_causal(self.causal)
    }
    fn parameters(&self) -> usize {
        let d = self.d();
        4 * d * d + if self.bias { 4 * d } else { 0 }
    }
}

fn attn_case() -> impl Strategy<Value = AttnCase> {
    (1usize..3, 1usize..5, 1usize..4, 1usize..4, any::<bool>(), any::<bool>())
        .prop_map(|(batch, t, heads, head_dim, bias, causal)| AttnCase { batch, t, heads, head_dim, bias, causal })
}

proptest! {
    #![proptest_config(st::config(16))]

    #[test]
    fn multi_head_self_attention(case in attn_case(), seed in any::<u64>()) {
        let shape = [case.batch, case.t, case.d()];
        Conformance::new("MultiHeadAttention", &shape)
            .output_shape(&shape)
            .parameters(case.parameters())
            .seed(seed)
            .check(|r| case.config().init(r));
    }

    /// Padding masks (the second sequence may be empty, its rows then fully masked) and
    /// arbitrary masks.
    #[test]
    fn multi_head_self_attention_with_masks(
        case in attn_case(), first in 1usize..5, second in 0usize..5, seed in any::<u64>(),
    ) {
        let shape = [case.batch, case.t, case.d()];
        let lengths: Vec<usize> = [first, second][..case.batch].iter().map(|&l| l.min(case.t)).collect();
        let masks = [padding_mask(&lengths, case.t), random_self_mask(case.batch, case.t, seed)];
        for mask in masks {
            Conformance::new("MultiHeadAttention with a mask", &shape)
                .output_shape(&shape)
                .parameters(case.parameters())
                .seed(seed)
                .check(|r| MaskedSelfAttention { attn: case.config().init(r), mask: mask.clone() });
        }
    }

    #[test]
    fn multi_head_cross_attention(case in attn_case(), tk in 1usize..4, padded in any::<bool>(), seed in any::<u64>()) {
        let case = AttnCase { causal: false, ..case };
        let mask = padded.then(|| padding_mask(&vec![tk.div_ceil(2); case.batch], tk));
        Conformance::new("MultiHeadAttention (cross)", &[case.batch, case.t + tk, case.d()])
            .output_shape(&[case.batch, case.t, case.d()])
            .parameters(case.parameters())
            .seed(seed)
            .check(|r| CrossAttention { attn: case.config().init(r), tq: case.t, mask: mask.clone() });
    }

    /// Attention dropout is off in evaluation mode: the check runs there with p > 0.
    #[test]
    fn multi_head_attention_in_eval_mode(case in attn_case(), p in 0.1..0.9f64, seed in any::<u64>()) {
        let shape = [case.batch, case.t, case.d()];
        Conformance::new("MultiHeadAttention (eval)", &shape)
            .output_shape(&shape)
            .parameters(case.parameters())
            .in_eval_mode()
            .seed(seed)
            .check(|r| case.config().with_dropout(p).init(r));
    }

    /// Changing the input at position j and after never changes the outputs before j.
    #[test]
    fn causal_attention_never_reads_the_future(case in attn_case(), cut in 0usize..4, seed in any::<u64>()) {
        let case = AttnCase { causal: true, t: case.t + 1, ..case };
        let j = 1 + cut % (case.t - 1); // 1..t
        let attn = case.config().with_dtype(DType::F64).init(&mut rng(seed));
        let shape = [case.batch, case.t, case.d()];
        let x = random(&shape, seed);
        let future = random(&[case.batch, case.t - j, case.d()], !seed);
        let changed = Tensor::concat(&[x.narrow(1, 0, j), future], 1);
        let before = attn.forward(&Var::constant(x)).value();
        let after = attn.forward(&Var::constant(changed)).value();
        prop_assert_eq!(before.narrow(1, 0, j).to_vec_f64(), after.narrow(1, 0, j).to_vec_f64());
        // The test can fail: the last position does see the change.
        prop_assert_ne!(before.narrow(1, case.t - 1, 1).to_vec_f64(), after.narrow(1, case.t - 1, 1).to_vec_f64());
    }

    /// Padded keys get exactly zero weight, every other row sums to 1, and what padded
    /// positions hold does not change the outputs of the real ones.
    #[test]
    fn padded_keys_get_no_attention(
        case in attn_case(), first in 1usize..5, second in 1usize..5, seed in any::<u64>(),
    ) {
        let case = AttnCase { causal: false, ..case };
        let lengths: Vec<usize> = [first, second][..case.batch].iter().map(|&l| l.min(case.t)).collect();
        let mask = padding_mask(&lengths, case.t);
        let attn = case.config().with_dtype(DType::F64).init(&mut rng(seed));
        let shape = [case.batch, case.t, case.d()];
        let x = random(&shape, seed);
        let xv = Var::constant(x.clone());
        let (y, weights) = attn.forward_qkv_with_weights(&xv, &xv, &xv, Some(&mask));
        prop_assert_eq!(weights.shape(), vec![case.batch, case.heads, case.t, case.t]);
        let w = weights.value();
        for (b, &len) in lengths.iter().enumerate() {
            for h in 0..case.heads {
                for i in 0..case.t {
                    let row: Vec<f64> = (0..case.t).map(|j| w.get(&[b, h, i, j])).collect();
                    prop_assert!(row[len..].iter().all(|&v| v == 0.0), "padded keys weighted: {row:?}");
                    let total: f64 = row.iter().sum();
                    prop_assert!((total - 1.0).abs() < 1e-12, "row sums to {total}");
                }
            }
        }
        // Scramble the padding positions: the real positions' outputs stay.
        let noise = random(&shape, !seed);
        let keep = padding_mask(&lengths, case.t).reshape(&[case.batch, case.t, 1]).to_dtype(DType::F64);
        let scrambled = Tensor::where_cond(&keep, &noise, &x);
        let y2 = attn.forward_masked(&Var::constant(scrambled), Some(&mask));
        for (b, &len) in lengths.iter().enumerate() {
            let real = |y: &Tensor| y.narrow(0, b, 1).narrow(1, 0, len).to_vec_f64();
            prop_assert!(close(&real(&y.value()), &real(&y2.value()), 1e-12));
        }
    }

    /// Weights are a probability distribution over the visible keys; a query with no
    /// visible key gets zero weights and a zero output, never NaN, and finite gradients.
    #[test]
    fn attention_weights_are_distributions(
        lead in st::shape_with_rank(0, 2, 3), tq in 1usize..5, tk in 1usize..5, d in 1usize..5, seed in any::<u64>(),
    ) {
        let shape = |t: usize, d: usize| [lead.clone(), vec![t, d]].concat();
        let q = Var::new(random(&shape(tq, d), seed).mul_scalar(3.0));
        let k = Var::new(random(&shape(tk, d), !seed).mul_scalar(3.0));
        let v = Var::new(random(&shape(tk, 2), seed ^ 1));
        let mask = random_mask(&[tq, tk], seed);
        let w = attention_weights(&q, &k, Some(&mask)).value();
        let rows = w.to_vec_f64();
        let hidden = mask.to_vec_f64();
        for (r, row) in rows.chunks(tk).enumerate() {
            let i = r % tq;
            let visible = hidden[i * tk..(i + 1) * tk].iter().filter(|&&m| m == 0.0).count();
            for (j, &a) in row.iter().enumerate() {
                prop_assert!(a.is_finite() && a >= 0.0);
                if hidden[i * tk + j] != 0.0 {
                    prop_assert_eq!(a, 0.0);
                }
            }
            let total: f64 = row.iter().sum();
            let expected = if visible == 0 { 0.0 } else { 1.0 };
            prop_assert!((total - expected).abs() < 1e-12, "row {r} sums to {total}");
        }
        let out = scaled_dot_product_attention(&q, &k, &v, Some(&mask), None);
        prop_assert!(out.value().all_finite());
        let grads = out.sum().backward();
        for leaf in [&q, &k, &v] {
            prop_assert!(grads.get(leaf).is_none_or(|g| g.all_finite()));
        }
    }
}

// ---- golden values ----

#[test]
fn scaled_dot_product_attention_by_hand() {
    // q = k = I₂, v = [[1, 2], [3, 4]]: scores (1/√2)·I, so query 0 weighs the keys
    // σ(1/√2) = 0.66976… and 0.33023…, query 1 the other way round.
    let eye = Var::constant(t64(&[1.0, 0.0, 0.0, 1.0], &[1, 1, 2, 2]));
    let v = Var::constant(t64(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]));
    let (w0, w1) = (0.6697615493266569, 0.3302384506733431);
    let weights = attention_weights(&eye, &eye, None).value().to_vec_f64();
    assert!(close(&weights, &[w0, w1, w1, w0], 1e-15), "{weights:?}");
    let out = scaled_dot_product_attention(&eye, &eye, &v, None, None).value().to_vec_f64();
    let expected = [1.6604769013466862, 2.6604769013466862, 2.3395230986533138, 3.3395230986533138];
    assert!(close(&out, &expected, 1e-14), "{out:?}");

    // Causal: query 0 reads key 0 only; query 1 is unchanged.
    let out = scaled_dot_product_attention(&eye, &eye, &v, Some(&causal_mask(2)), None).value().to_vec_f64();
    assert!(close(&out, &[1.0, 2.0, expected[2], expected[3]], 1e-14), "{out:?}");

    // A boolean mask may be any nonzero value and any broadcastable shape.
    let hide_key_0 = t64(&[5.0, 0.0], &[2]);
    let out = scaled_dot_product_attention(&eye, &eye, &v, Some(&hide_key_0), None).value().to_vec_f64();
    assert_eq!(out, [3.0, 4.0, 3.0, 4.0]);

    // Everything hidden: zeros, not NaN.
    let out = scaled_dot_product_attention(&eye, &eye, &v, Some(&Tensor::ones(&[1], DType::F32)), None);
    assert_eq!(out.value().to_vec_f64(), [0.0; 4]);
}

#[test]
fn masks_are_built_as_documented() {
    assert_eq!(causal_mask(1).to_vec_f32(), [0.0]);
    assert_eq!(causal_mask(0).shape(), [0, 0]);
    let mask = padding_mask(&[2, 0, 3], 3);
    assert_eq!(mask.shape(), [3, 1, 1, 3]);
    assert_eq!(mask.to_vec_f32(), [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
    let from = padding_mask_from(&t64(&[0.0, 0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0], &[3, 3]));
    assert_eq!(from.to_vec_f32(), mask.to_vec_f32());
    // Combining: hidden if either hides.
    let both = causal_mask(3).maximum(&padding_mask(&[2], 3));
    assert_eq!(both.to_vec_f32(), [0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
}

#[test]
fn attention_dropout_drops_weights_in_training_only() {
    let mut r = rng(4);
    let q = Var::constant(init::normal(&[2, 3, 4, 5], 0.0, 1.0, DType::F64, &mut r));
    let k = Var::constant(init::normal(&[2, 3, 6, 5], 0.0, 1.0, DType::F64, &mut r));
    let v = Var::constant(init::normal(&[2, 3, 6, 2], 0.0, 1.0, DType::F64, &mut r));
    let mut dropout = DropoutConfig::new(0.5).with_seed(9).init(&mut r);
    let weights = attention_weights(&q, &k, None).value();
    let dropped = scaled_dot_product_attention(&q, &k, &v, None, Some(&dropout)).value();
    // Call 0's mask, as Dropout::mask states it, multiplies the weights.
    let expected = weights.mul(&dropout.mask(&[2, 3, 4, 6], 0)).matmul(&v.value());
    assert!(close(&dropped.to_vec_f64(), &expected.to_vec_f64(), 1e-14));
    dropout.eval();
    let plain = scaled_dot_product_attention(&q, &k, &v, None, None).value();
    let eval = scaled_dot_product_attention(&q, &k, &v, None, Some(&dropout)).value();
    assert_eq!(plain.to_vec_f64(), eval.to_vec_f64());
}

/// With identity projections, multi-head attention is plain attention run on each block of
/// `d / h` features separately, the results side by side.
#[test]
fn heads_attend_independently_on_their_own_features() {
    let (batch, t, heads, hd) = (2, 5, 3, 2);
    let d = heads * hd;
    let attn = MultiHeadAttentionConfig::new(d, heads).with_dtype(DType::F64).init(&mut rng(0));
    let eye = Tensor::from_f64s(
        &(0..d * d).map(|n| f64::from(u8::from(n / d == n % d))).collect::<Vec<_>>(),
        &[d, d],
        DType::F64,
    );
    for linear in [&attn.query, &attn.key, &attn.value, &attn.out] {
        linear.weight.set_value(eye.clone());
    }
    let x = random(&[batch, t, d], 1);
    let mask = padding_mask(&[5, 3], t);
    let y = attn.forward_masked(&Var::constant(x.clone()), Some(&mask)).value();
    for h in 0..heads {
        let xh = Var::constant(x.narrow(2, h * hd, hd).unsqueeze(1)); // [batch, 1, t, hd]
        let expected = scaled_dot_product_attention(&xh, &xh, &xh, Some(&mask), None).value();
        let got = y.narrow(2, h * hd, hd).unsqueeze(1);
        assert!(close(&got.to_vec_f64(), &expected.to_vec_f64(), 1e-14), "head {h}");
    }
}

#[test]
fn parameters_match_pytorch_multihead_attention() {
    // torch.nn.MultiheadAttention(512, 8): in_proj 3·512² + 3·512, out_proj 512² + 512.
    let attn = MultiHeadAttentionConfig::new(512, 8).init(&mut rng(0));
    assert_eq!(attn.num_parameters(), 1_050_624);
    assert_eq!(attn.num_parameters(), 4 * 512 * 512 + 4 * 512);
    let no_bias = MultiHeadAttentionConfig::new(64, 4).with_bias(false).init(&mut rng(0));
    assert_eq!(no_bias.num_parameters(), 4 * 64 * 64);
    let attn = MultiHeadAttentionConfig::new(8, 2).with_dropout(0.1).init(&mut rng(0));
    let names: Vec<String> = attn.named_tensors().into_iter().map(|(n, _, _)| n).collect();
    let expected = [
        "query.weight",
        "query.bias",
        "key.weight",
        "key.bias",
        "value.weight",
        "value.bias",
        "out.weight",
        "out.bias",
        "dropout.calls",
    ];
    assert_eq!(names, expected);
    assert_eq!((attn.d_model(), attn.num_heads(), attn.head_dim(), attn.is_causal()), (8, 2, 4, false));
    assert_eq!(attn.flops(&[2, 5, 8], &[2, 5, 8]), 8 * 2 * 5 * 64 + 4 * 2 * 25 * 8);
}

#[test]
fn attention_dropout_masks_are_seeded_and_resumable() {
    let build = |seed| MultiHeadAttentionConfig::new(4, 2).with_dropout(0.5).with_dropout_seed(seed).init(&mut rng(0));
    let (a, b, c) = (build(1), build(1), build(2));
    let x = Var::constant(random(&[2, 6, 4], 3).to_dtype(DType::F32));
    let first = a.forward(&x).value().to_vec_f32();
    assert_eq!(first, b.forward(&x).value().to_vec_f32());
    assert_ne!(first, c.forward(&x).value().to_vec_f32());
    assert_ne!(first, a.forward(&x).value().to_vec_f32(), "each call draws a new mask");
    assert_eq!(a.dropout.calls(), 2);
}

// ---- positional encodings ----

#[test]
fn sinusoidal_table_matches_the_transformer_paper() {
    let pe = SinusoidalPositionalEncoding::new(4, 4);
    assert_eq!((pe.max_len(), pe.d_model()), (4, 4));
    // PE[pos] = [sin(pos), cos(pos), sin(pos/100), cos(pos/100)] for d = 4 (ω₁ = 10000^(−2/4)).
    #[rustfmt::skip]
    let expected = [
        0.0, 1.0, 0.0, 1.0,
        0.8414709848078965, 0.5403023058681398, 0.009999833334166664, 0.9999500004166653,
        0.9092974268256817, -0.4161468365471424, 0.01999866669333308, 0.9998000066665778,
        0.1411200080598672, -0.9899924966004454, 0.02999550020249566, 0.9995500337489875,
    ];
    assert!(close(&pe.table().to_vec_f64(), &expected, 1e-15), "{:?}", pe.table().to_vec_f64());

    // Odd d_model ends with a lone sine; PE[5, 4] = sin(5·10000^(−4/5)), PE[5, 3] = cos(5·10000^(−2/5)).
    let odd = SinusoidalPositionalEncoding::new(6, 5);
    let (a, b) = (odd.table().get(&[5, 4]), odd.table().get(&[5, 3]));
    assert!(
        (a - (5.0 * 10000f64.powf(-0.8)).sin()).abs() < 1e-15 && (b - (5.0 * 10000f64.powf(-0.4)).cos()).abs() < 1e-15
    );

    // Added to every sample at its position, in the input's dtype.
    let x = Var::constant(Tensor::ones(&[2, 3, 4], DType::F32));
    let y = pe.forward(&x);
    assert_eq!(y.dtype(), DType::F32);
    let first_sample = &y.value().to_vec_f64()[..12];
    let shifted: Vec<f64> = expected[..12].iter().map(|v| v + 1.0).collect();
    assert!(close(first_sample, &shifted, 1e-6));
    assert_eq!(pe.num_parameters(), 0);
}

#[test]
fn learned_positions_add_one_row_per_position() {
    let layer = LearnedPositionalEmbeddingConfig::new(5, 2).with_dtype(DType::F64).init(&mut rng(0));
    assert_eq!((layer.max_len(), layer.d_model(), layer.num_parameters()), (5, 2, 10));
    layer.weight.set_value(t64(&[0.0, 1.0, 10.0, 11.0, 20.0, 21.0, 30.0, 31.0, 40.0, 41.0], &[5, 2]));
    let x = Var::constant(t64(&[0.5; 12], &[2, 3, 2]));
    let y = layer.forward(&x).value().to_vec_f64();
    assert_eq!(y, [0.5, 1.5, 10.5, 11.5, 20.5, 21.5, 0.5, 1.5, 10.5, 11.5, 20.5, 21.5]);
    // Rows past t get no gradient; rows before get one per sample.
    let g = layer.forward(&x).sum().backward();
    assert_eq!(g.get(&layer.weight).unwrap().to_vec_f64(), [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0]);
}

proptest! {
    #![proptest_config(st::config(12))]

    #[test]
    fn positional_encodings(
        batch in 1usize..3, t in 1usize..6, extra in 0usize..3, d in 1usize..6, seed in any::<u64>(),
    ) {
        let shape = [batch, t, d];
        Conformance::new("SinusoidalPositionalEncoding", &shape)
            .output_shape(&shape)
            .parameters(0)
            .seed(seed)
            .check(|_| SinusoidalPositionalEncoding::new(t + extra, d));
        Conformance::new("LearnedPositionalEmbedding", &shape)
            .output_shape(&shape)
            .parameters((t + extra) * d)
            .seed(seed)
            .check(|r: &mut Rng| LearnedPositionalEmbeddingConfig::new(t + extra, d).init(r));
    }
}

// ---- errors ----

#[test]
#[should_panic(
    expected = "SinusoidalPositionalEncoding: the input [1, 9, 4] has t = 9 positions but the table only holds max_len = 8"
)]
fn sinusoidal_rejects_sequences_longer_than_the_table() {
    SinusoidalPositionalEncoding::new(8, 4).forward(&Var::constant(Tensor::zeros(&[1, 9, 4], DType::F32)));
}

#[test]
#[should_panic(
    expected = "LearnedPositionalEmbedding: the input [2, 6, 3] has t = 6 positions but the table only holds max_len = 5"
)]
fn learned_positions_reject_sequences_longer_than_the_table() {
    let layer = LearnedPositionalEmbeddingConfig::new(5, 3).init(&mut rng(0));
    layer.forward(&Var::constant(Tensor::zeros(&[2, 6, 3], DType::F32)));
}

#[test]
#[should_panic(expected = "LearnedPositionalEmbedding: expected input [..., t, 3] but received [2, 4]")]
fn learned_positions_reject_the_wrong_width() {
    let layer = LearnedPositionalEmbeddingConfig::new(5, 3).init(&mut rng(0));
    layer.forward(&Var::constant(Tensor::zeros(&[2, 4], DType::F32)));
}

#[test]
#[should_panic(expected = "MultiHeadAttentionConfig: d_model 10 must be a positive multiple of num_heads 4")]
fn heads_must_divide_the_model_width() {
    MultiHeadAttentionConfig::new(10, 4).init(&mut rng(0));
}

#[test]
#[should_panic(expected = "MultiHeadAttention: expected query [batch, tq, 8] and key = value [batch, tk, 8] \
                           but received query [2, 3, 6]")]
fn multi_head_attention_rejects_the_wrong_width() {
    MultiHeadAttentionConfig::new(8, 2)
        .init(&mut rng(0))
        .forward(&Var::constant(Tensor::zeros(&[2, 3, 6], DType::F32)));
}

#[test]
#[should_panic(expected = "attention: the mask [3, 3] does not broadcast to the scores [..., tq, tk] = [1, 2, 4, 4]")]
fn a_mask_of_the_wrong_size_is_named() {
    let attn = MultiHeadAttentionConfig::new(4, 2).init(&mut rng(0));
    attn.forward_masked(&Var::constant(Tensor::zeros(&[1, 4, 4], DType::F32)), Some(&causal_mask(3)));
}

#[test]
#[should_panic(
    expected = "attention: expected k [..., tk, d] and v [..., tk, dv] with the same tk but received k [1, 3, 2] and v [1, 4, 2]"
)]
fn keys_and_values_must_pair_up() {
    let z = |s: &[usize]| Var::constant(Tensor::zeros(s, DType::F32));
    scaled_dot_product_attention(&z(&[1, 2, 2]), &z(&[1, 3, 2]), &z(&[1, 4, 2]), None, None);
}

#[test]
#[should_panic(expected = "padding_mask: sequence 1 has length 5, more than the padded length t = 4")]
fn padding_mask_rejects_long_sequences() {
    padding_mask(&[4, 5], 4);
}
