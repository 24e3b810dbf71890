//! W5: the small GPT-style decoder of `WORKLOADS.md`, one training step with AdamW.
//!
//! ```text
//! ids [b, 128] ─token embedding (65 → 128) + learned positions (128 × 128)─▶ [b, 128, 128]
//!     ─block 0─▶ ─block 1─▶ ─LayerNorm─▶ ─head (128 → 65)─▶ logits [b, 128, 65] → [b·128, 65]
//!
//! block (pre-LN):  x = x + causal self-attention, 4 heads (LN₁(x))
//!                  x = x + fc2(GELU(fc1(LN₂(x))))     fc1: 128 → 512, fc2: 512 → 128
//! ```
//!
//! The network is nabla-models' [`GptConfig::new`]`(65, 128, 128, 4, 2)` (vocabulary,
//! context, `d_model`, heads, blocks) with an **untied** head: `WORKLOADS.md` does not say,
//! and the peers' usual way of writing this model (an embedding and a separate dense output
//! layer) is untied; the head has no bias (nabla-models' untied head, as nanoGPT's). Tied or
//! not costs the same arithmetic: the untied model has 65 × 128 more parameters to update,
//! the tied one sums two gradients into the embedding. Attention projections and MLP layers
//! have biases; no dropout; GPT-2 initialisation — 429,824 parameters, checked against
//! [`gpt_parameters`].
//!
//! **W5**: one training step on 16 sequences of 128 token ids (next-token cross-entropy over
//! all 2,048 positions, backward, AdamW with learning rate 10⁻³ and weight decay 0.01,
//! PyTorch's defaults), variant `adamw`, in tokens/s (16 × 128 per step). The steps, the
//! synthetic token batches and the checks are in [`super::training`]; `--verbose` times the
//! embeddings, each block's LayerNorms, attention and MLP (without the residual sums), the
//! final LayerNorm and the head alone.

use nabla_autograd::Var;
use nabla_layers::Module;
use nabla_models::{flatten_logits, Gpt, GptConfig};
use nabla_tensor::Rng;
use nabla_train::optim::{AdamWConfig, Optimizer};

use super::training::{measure_training, Case, Input, Part};
use super::{Measurement, Runner, Settings, Workload};
use crate::system::NABLA_VERSION;

/// The W5 entry of the registry.
pub const W5: Workload = Workload {
    id: "W5",
    summary:
        "GPT decoder vocab 65, d 128, 4 heads, 2 pre-LN blocks, context 128, AdamW training step, batch 16 (tokens/s)",
    notes: "untied head (no bias); token ids uniform over 65, seed 0, 4 batches in rotation, each with its next \
            tokens and a 2nd random label set on alternate rounds (floor ~0.68); AdamW lr 1e-3 weight decay 0.01",
    reference: None,
    runners: &[Runner { framework: "nabla", version: || NABLA_VERSION.to_string(), run: run_train }],
};

/// Training batch size (sequences).
const TRAIN_BATCH: usize = 16;
/// Vocabulary size.
const VOCAB: usize = 65;
/// Context, and the length of every training sequence.
const CONTEXT: usize = 128;
/// Features per position.
const D_MODEL: usize = 128;
/// Attention heads per block.
const HEADS: usize = 4;
/// Transformer blocks.
const BLOCKS: usize = 2;

/// The network, as nabla-models builds it, with an untied head.
pub fn gpt(rng: &mut Rng) -> Gpt {
    GptConfig::new(VOCAB, CONTEXT, D_MODEL, HEADS, BLOCKS).with_tied(false).init(rng)
}

/// Learned parameters of a GPT with an untied head without bias: token and position
/// embeddings; per block two LayerNorms (`2·2d`), the query, key, value and output projections
/// with biases (`4d² + 4d`) and the MLP `d → 4d → d` with biases (`8d² + 5d`); the final
/// LayerNorm; the head (`V·d`).
pub const fn gpt_parameters(vocab: usize, context: usize, d: usize, blocks: usize) -> usize {
    vocab * d + context * d + blocks * (4 * d + (4 * d * d + 4 * d) + (8 * d * d + 5 * d)) + 2 * d + vocab * d
}

/// The logits `[b·t, V]` the loss takes: the model's `[b, t, V]`, flattened.
fn logits(model: &Gpt, ids: &Var) -> Var {
    flatten_logits(&model.forward(ids))
}

/// The embeddings, each block's pieces, the final LayerNorm and the head, for the `--verbose` table.
fn parts(model: &Gpt) -> Vec<Part<'_>> {
    let mut parts = vec![
        Part::of("token_embedding", &model.token_embedding),
        Part::of("position_embedding", &model.position_embedding),
    ];
    for (i, block) in model.blocks.iter().enumerate() {
        let pieces: [(&str, &dyn Module); 4] =
            [("ln1", &block.ln1), ("attn", &block.attn), ("ln2", &block.ln2), ("mlp", &block.mlp)];
        parts.extend(pieces.into_iter().map(|(name, layer)| Part::of(format!("blocks.{i}.{name}"), layer)));
    }
    parts.push(Part::of("ln_f", &model.ln_f));
    parts.push(Part::of("lm_head", &model.lm_head));
    parts
}

/// The GPT as a benchmark case.
pub const GPT: Case<Gpt> = Case {
    workload: "W5",
    model: gpt,
    forward: logits,
    parts,
    parameters: gpt_parameters(VOCAB, CONTEXT, D_MODEL, BLOCKS),
    input: Input::Tokens,
    sample: &[CONTEXT],
    classes: VOCAB,
};

/// AdamW with PyTorch's defaults (learning rate 10⁻³, weight decay 0.01), the `adamw` variant's optimizer.
pub fn adamw(parameters: Vec<(String, Var)>) -> Box<dyn Optimizer> {
    Box::new(AdamWConfig::new(1e-3).with_weight_decay(0.01).init(parameters))
}

fn run_train(settings: &Settings, sink: &mut dyn FnMut(Measurement)) -> Result<(), String> {
    sink(measure_training(settings, &GPT, "adamw", TRAIN_BATCH, adamw)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::training::check_training;

    #[test]
    fn the_gpt_is_the_workloads_network_and_trains() {
        assert_eq!(gpt_parameters(VOCAB, CONTEXT, D_MODEL, BLOCKS), 429_824);
        assert!(!gpt(&mut nabla_tensor::rng(0)).is_tied());
        check_training(&GPT, 2, adamw).unwrap();
    }
}
