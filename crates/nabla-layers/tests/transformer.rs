//! Transformer blocks: conformance of the encoder and decoder blocks (with and without masks,
//! with cross-attention) on random sizes, the causal property of decoder blocks and of a stack
//! of them, the pre-LN residual structure, dropout, names, FLOPs, parameter counts against
//! PyTorch's and GPT-2's, and errors.

use nabla_autograd::gradcheck::strategies as st;
use nabla_autograd::Var;
use nabla_layers::attention::padding_mask;
use nabla_layers::conformance::Conformance;
use nabla_layers::*;
use nabla_tensor::{init, rng, DType, Tensor};
use proptest::prelude::*;

fn random(shape: &[usize], seed: u64) -> Tensor {
    init::uniform(shape, -1.0, 1.0, DType::F64, &mut rng(seed))
}

/// An encoder block with a fixed padding mask: how masks enter the conformance check.
struct MaskedEncoder {
    block: TransformerEncoderBlock,
    mask: Tensor,
}

impl Module for MaskedEncoder {
    fn forward(&self, input: &Var) -> Var {
        self.block.forward_masked(input, Some(&self.mask))
    }
    fn kind(&self) -> &'static str {
        "MaskedEncoder"
    }
    fn visit(&self, visitor: &mut Visitor<'_>) {
        self.block.visit(visitor);
    }
    fn set_training(&mut self, training: bool) {
        self.block.set_training(training);
    }
}

/// A decoder block with cross-attention: the input `[batch, t + tm, d]` is cut into the
/// decoder's sequence and the memory, so the gradient check covers both.
struct DecoderWithMemory {
    block: TransformerDecoderBlock,
    t: usize,
    memory_mask: Option<Tensor>,
}

impl Module for DecoderWithMemory {
    fn forward(&self, input: &Var) -> Var {
        let total = input.shape()[1];
        let (x, memory) = (input.narrow(1, 0, self.t), input.narrow(1, self.t, total - self.t));
        self.block.forward_with_memory(&x, &memory, None, self.memory_mask.as_ref())
    }
    fn kind(&self) -> &'static str {
        "DecoderWithMemory"
    }
    fn visit(&self, visitor: &mut Visitor<'_>) {
        self.block.visit(visitor);
    }
    fn set_training(&mut self, training: bool) {
        self.block.set_training(training);
    }
}

#[derive(Clone, Debug)]
struct BlockCase {
    batch: usize,
    t: usize,
    heads: usize,
    head_dim: usize,
    width: usize,
    bias: bool,
}

impl BlockCase {
    fn d(&self) -> usize {
        self.heads * self.head_dim
    }
    fn shape(&self) -> [usize; 3] {
        [self.batch, self.t, self.d()]
    }
    fn attention_parameters(&self) -> usize {
        let d = self.d();
        4 * d * d + if self.bias { 4 * d } else { 0 }
    }
    /// `nn.TransformerEncoderLayer(d, h, width)`'s count (with or without biases).
    fn encoder_parameters(&self) -> usize {
        let (d, w) = (self.d(), self.width);
        let mlp = 2 * d * w + if self.bias { w + d } else { 0 };
        self.attention_parameters() + mlp + 2 * 2 * d
    }
    fn encoder(&self) -> TransformerEncoderBlockConfig {
        TransformerEncoderBlockConfig::new(self.d(), self.heads).with_mlp_width(self.width).with_bias(self.bias)
    }
    fn decoder(&self) -> TransformerDecoderBlockConfig {
        TransformerDecoderBlockConfig::new(self.d(), self.heads).with_mlp_width(self.width).with_bias(self.bias)
    }
}

/// Blocks of `d_model ≥ 3`: over one or two features LayerNorm's output is constant or ±1
/// (a step function of the input), which leaves nothing smooth to check or learn.
fn block_case() -> impl Strategy<Value = BlockCase> {
    (1usize..3, 1usize..5, 1usize..3, 3usize..5, 1usize..9, any::<bool>())
        .prop_map(|(batch, t, heads, head_dim, width, bias)| BlockCase { batch, t, heads, head_dim, width, bias })
}

/// `x` with every position from `j` on replaced by other values.
fn change_future(x: &Tensor, j: usize, seed: u64) -> Tensor {
    let s = x.shape();
    Tensor::concat(&[x.narrow(1, 0, j), random(&[s[0], s[1] - j, s[2]], seed)], 1)
}

proptest! {
    #![proptest_config(st::config(12))]

    #[test]
    fn encoder_block(case in block_case(), seed in any::<u64>()) {
        Conformance::new("TransformerEncoderBlock", &case.shape())
            .output_shape(&case.shape())
            .parameters(case.encoder_parameters())
            .seed(seed)
            .check(|r| case.encoder().init(r));
    }

    #[test]
    fn encoder_block_with_padding_mask(
        case in block_case(), first in 1usize..5, second in 0usize..5, seed in any::<u64>(),
    ) {
        let lengths: Vec<usize> = [first, second][..case.batch].iter().map(|&l| l.min(case.t)).collect();
        let mask = padding_mask(&lengths, case.t);
        Conformance::new("TransformerEncoderBlock with a mask", &case.shape())
            .output_shape(&case.shape())
            .parameters(case.encoder_parameters())
            .seed(seed)
            .check(|r| MaskedEncoder { block: case.encoder().init(r), mask: mask.clone() });
    }

    /// Dropout (residual and attention) is off in evaluation mode.
    #[test]
    fn encoder_block_in_eval_mode(case in block_case(), p in 0.1..0.9f64, seed in any::<u64>()) {
        Conformance::new("TransformerEncoderBlock (eval)", &case.shape())
            .output_shape(&case.shape())
            .parameters(case.encoder_parameters())
            .in_eval_mode()
            .seed(seed)
            .check(|r| case.encoder().with_dropout(p).with_attention_dropout(p).init(r));
    }

    #[test]
    fn decoder_block(case in block_case(), seed in any::<u64>()) {
        Conformance::new("TransformerDecoderBlock", &case.shape())
            .output_shape(&case.shape())
            .parameters(case.encoder_parameters())
            .seed(seed)
            .check(|r| case.decoder().init(r));
    }

    #[test]
    fn decoder_block_with_cross_attention(
        case in block_case(), tm in 1usize..4, padded in any::<bool>(), seed in any::<u64>(),
    ) {
        let d = case.d();
        let memory_mask = padded.then(|| padding_mask(&vec![tm.div_ceil(2); case.batch], tm));
        let cross = case.attention_parameters() + 2 * d;
        Conformance::new("TransformerDecoderBlock (cross)", &[case.batch, case.t + tm, d])
            .output_shape(&case.shape())
            .parameters(case.encoder_parameters() + cross)
            .seed(seed)
            .check(|r| DecoderWithMemory {
                block: case.decoder().with_cross_attention(true).init(r),
                t: case.t,
                memory_mask: memory_mask.clone(),
            });
    }

    /// Changing positions j.. never changes the outputs before j: for one decoder block, for a
    /// stack of two, and for a block with cross-attention (whose memory is fixed).
    #[test]
    fn decoder_blocks_never_read_the_future(case in block_case(), cut in 0usize..4, seed in any::<u64>()) {
        let case = BlockCase { t: case.t + 1, ..case };
        let j = 1 + cut % (case.t - 1);
        let mut r = rng(seed);
        let config = case.decoder().with_dtype(DType::F64);
        let stack = Sequential::new().add(config.init(&mut r)).add(config.init(&mut r));
        let cross = config.clone().with_cross_attention(true).init(&mut r);
        let memory = Var::constant(random(&[case.batch, 3, case.d()], seed ^ 5));
        let x = random(&case.shape(), seed);
        let changed = change_future(&x, j, !seed);
        let runs: [&dyn Fn(&Tensor) -> Tensor; 3] = [
            &|x| stack.layers().next().unwrap().1.forward(&Var::constant(x.clone())).value(),
            &|x| stack.forward(&Var::constant(x.clone())).value(),
            &|x| cross.forward_with_memory(&Var::constant(x.clone()), &memory, None, None).value(),
        ];
        for run in runs {
            let (before, after) = (run(&x), run(&changed));
            prop_assert_eq!(before.narrow(1, 0, j).to_vec_f64(), after.narrow(1, 0, j).to_vec_f64());
            prop_assert_ne!(before.narrow(1, j, 1).to_vec_f64(), after.narrow(1, j, 1).to_vec_f64());
        }
        // An encoder block reads the whole sequence: its first output does see the change.
        let encoder = case.encoder().with_dtype(DType::F64).init(&mut r);
        let first = |x: &Tensor| encoder.forward(&Var::constant(x.clone())).value().narrow(1, 0, 1).to_vec_f64();
        prop_assert_ne!(first(&x), first(&changed));
    }
}

/// With the attention's and the MLP's last projections zeroed, both residual branches add 0
/// and the block is the identity: the input reaches the output unnormalised (pre-LN).
#[test]
fn pre_layer_norm_blocks_keep_an_identity_path() {
    let mut r = rng(0);
    let encoder = TransformerEncoderBlockConfig::new(8, 2).with_dtype(DType::F64).init(&mut r);
    let decoder = TransformerDecoderBlockConfig::new(8, 2).with_dtype(DType::F64).init(&mut r);
    let zero = |v: &Var| v.set_value(v.value().mul_scalar(0.0));
    for (attn, mlp) in [(&encoder.attn, &encoder.mlp), (&decoder.attn, &decoder.mlp)] {
        zero(&attn.out.weight);
        for (name, p) in mlp.named_parameters() {
            if name.starts_with("fc2") {
                zero(&p);
            }
        }
    }
    let x = random(&[2, 5, 8], 1).mul_scalar(10.0);
    assert_eq!(encoder.forward(&Var::constant(x.clone())).value().to_vec_f64(), x.to_vec_f64());
    assert_eq!(decoder.forward(&Var::constant(x.clone())).value().to_vec_f64(), x.to_vec_f64());

    // With only the MLP branch zeroed, the output is x + MHA(LN₁(x)) exactly.
    let block = TransformerEncoderBlockConfig::new(8, 2).with_dtype(DType::F64).init(&mut r);
    for (name, p) in block.mlp.named_parameters() {
        if name.starts_with("fc2") {
            zero(&p);
        }
    }
    let xv = Var::constant(x.clone());
    let expected = xv.add(&block.attn.forward(&block.ln1.forward(&xv))).value();
    assert_eq!(block.forward(&xv).value().to_vec_f64(), expected.to_vec_f64());
}

#[test]
fn residual_dropout_is_seeded_and_off_in_evaluation() {
    let build =
        || TransformerDecoderBlockConfig::new(8, 2).with_dropout(0.3).with_attention_dropout(0.2).init(&mut rng(3));
    let (mut a, b) = (build(), build());
    let x = Var::constant(random(&[2, 4, 8], 2).to_dtype(DType::F32));
    let first = a.forward(&x).value().to_vec_f32();
    assert_eq!(first, b.forward(&x).value().to_vec_f32(), "same seeds, same masks");
    assert_ne!(first, a.forward(&x).value().to_vec_f32(), "a new mask every call");
    assert_eq!((a.dropout.calls(), a.attn.dropout.calls()), (4, 2));
    a.eval();
    let eval = a.forward(&x).value().to_vec_f32();
    assert_eq!(eval, a.forward(&x).value().to_vec_f32());
    assert_eq!(a.dropout.calls(), 4, "no masks drawn in evaluation");
}

#[test]
fn parameter_names_read_like_a_gpt() {
    let mut r = rng(0);
    let model = Sequential::new()
        .add_named("blocks", Sequential::new().add(TransformerDecoderBlockConfig::new(8, 2).init(&mut r)));
    let names: Vec<String> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
    #[rustfmt::skip]
    let expected = [
        "blocks.0.ln1.weight", "blocks.0.ln1.bias",
        "blocks.0.attn.query.weight", "blocks.0.attn.query.bias",
        "blocks.0.attn.key.weight", "blocks.0.attn.key.bias",
        "blocks.0.attn.value.weight", "blocks.0.attn.value.bias",
        "blocks.0.attn.out.weight", "blocks.0.attn.out.bias",
        "blocks.0.ln2.weight", "blocks.0.ln2.bias",
        "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc1.bias",
        "blocks.0.mlp.fc2.weight", "blocks.0.mlp.fc2.bias",
    ];
    assert_eq!(names, expected);
    let cross = TransformerDecoderBlockConfig::new(8, 2).with_cross_attention(true).init(&mut r);
    let names: Vec<String> = cross.named_tensors().into_iter().map(|(n, _, _)| n).collect();
    assert!(names.contains(&"ln_cross.weight".to_string()) && names.contains(&"cross_attn.out.bias".to_string()));
    assert!(names.contains(&"dropout.calls".to_string()) && names.contains(&"cross_attn.dropout.calls".to_string()));
    assert!(cross.has_cross_attention() && cross.attn.is_causal() && !cross.cross_attn.as_ref().unwrap().is_causal());
}

#[test]
fn parameter_counts_match_pytorch_and_gpt2() {
    let mut r = rng(0);
    // torch.nn.TransformerEncoderLayer(512, 8) (dim_feedforward 2048): 3,152,384.
    let encoder = TransformerEncoderBlockConfig::new(512, 8).with_mlp_width(2048).init(&mut r);
    assert_eq!(encoder.num_parameters(), 3_152_384);
    // torch.nn.TransformerDecoderLayer(512, 8): one more attention and LayerNorm, 4,204,032.
    let decoder =
        TransformerDecoderBlockConfig::new(512, 8).with_mlp_width(2048).with_cross_attention(true).init(&mut r);
    assert_eq!(decoder.num_parameters(), 4_204_032);
    // One GPT-2 (124M) block: d = 768, 12 heads, MLP 3072 — 12 of them hold 85,054,464.
    let gpt2 = TransformerDecoderBlockConfig::new(768, 12).init(&mut r);
    assert_eq!(gpt2.num_parameters(), 7_087_872);
}

#[test]
fn flops_count_attention_and_mlp() {
    let block = TransformerEncoderBlockConfig::new(8, 2).with_mlp_width(16).init(&mut rng(0));
    let (b, t, d, w) = (2u64, 5u64, 8u64, 16u64);
    let expected = 8 * b * t * d * d + 4 * b * t * t * d + 4 * b * t * d * w;
    assert_eq!(block.flops(&[2, 5, 8], &[2, 5, 8]), expected);
    let s = summary(&Sequential::new().add(block), &[2, 5, 8]);
    assert_eq!((s.rows[0].kind.as_str(), s.rows[0].flops), ("TransformerEncoderBlock", expected));
}

#[test]
#[should_panic(expected = "TransformerDecoderBlock: this block has cross-attention; call forward_with_memory")]
fn a_cross_attention_block_needs_its_memory() {
    let block = TransformerDecoderBlockConfig::new(4, 2).with_cross_attention(true).init(&mut rng(0));
    block.forward(&Var::constant(Tensor::zeros(&[1, 3, 4], DType::F32)));
}

#[test]
#[should_panic(expected = "TransformerDecoderBlock: this block has no cross-attention to attend to a memory")]
fn a_gpt_block_has_no_memory() {
    let block = TransformerDecoderBlockConfig::new(4, 2).init(&mut rng(0));
    let x = Var::constant(Tensor::zeros(&[1, 3, 4], DType::F32));
    block.forward_with_memory(&x, &x, None, None);
}

#[test]
#[should_panic(expected = "TransformerEncoderBlockConfig: d_model 6 must be a positive multiple of num_heads 4")]
fn block_heads_must_divide_the_width() {
    TransformerEncoderBlockConfig::new(6, 4).init(&mut rng(0));
}

#[test]
#[should_panic(expected = "TransformerDecoderBlockConfig: the dropout probability 1.5 must be in [0, 1]")]
fn block_dropout_must_be_a_probability() {
    TransformerDecoderBlockConfig::new(4, 2).with_dropout(1.5).init(&mut rng(0));
}
