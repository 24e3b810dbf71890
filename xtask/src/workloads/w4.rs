//! W4: the LSTM character language model of `WORKLOADS.md`, one training step with Adam.
//!
//! ```text
//! ids [b, t] ─embedding (65 → 64)─▶ [b, t, 64] ─LSTM, 1 layer, hidden 256─▶ [b, t, 256]
//!            ─reshape─▶ [b·t, 256] ─dense─▶ logits [b·t, 65]
//! ```
//!
//! The network is nabla-models' [`CharLmConfig::new`]`(65)`, whose defaults are W4's shape:
//! embedding 64 (`N(0, 1)`, PyTorch's default), one LSTM layer of 256 in PyTorch's layout
//! (input and recurrent matrices and two bias vectors, as `torch.nn.LSTM` has), no dropout, a
//! dense head with bias — 350,593 parameters, checked against [`char_lm_parameters`]. Row
//! `b·t + i` of the logits predicts the token after position `i` of sequence `b`.
//!
//! **W4**: one training step on 32 sequences of 64 token ids (next-token cross-entropy over
//! all 2,048 positions, backward through time, Adam with learning rate 10⁻³), variant
//! `adam`, in tokens/s (32 × 64 per step). The steps, the synthetic token batches (uniform
//! ids; 4 batches, each with its real next tokens and with a second, random label set on
//! alternate rounds) and the checks are in [`super::training`]; `--verbose` times the
//! embedding, the LSTM and the head alone.

use nabla_autograd::Var;
use nabla_layers::Module;
use nabla_models::{CharLm, CharLmConfig};
use nabla_tensor::Rng;

use super::training::{measure_training, module_forward, Case, Input, Part};
use super::w1::adam;
use super::{Measurement, Runner, Settings, Workload};
use crate::system::NABLA_VERSION;

/// The W4 entry of the registry.
pub const W4: Workload = Workload {
    id: "W4",
    summary: "LSTM LM vocab 65, embedding 64, LSTM 256, dense 65, Adam training step, seq 64 x batch 32 (tokens/s)",
    notes: "token ids uniform over 65, seed 0, 4 batches in rotation, each with its next tokens and a 2nd random \
            label set on alternate rounds (floor ~0.68); Adam lr 1e-3",
    reference: None,
    runners: &[Runner { framework: "nabla", version: || NABLA_VERSION.to_string(), run: run_train }],
};

/// Training batch size (sequences).
const TRAIN_BATCH: usize = 32;
/// Tokens per sequence.
const SEQUENCE: usize = 64;
/// Vocabulary size.
const VOCAB: usize = 65;
/// Embedding length.
const EMBEDDING: usize = 64;
/// LSTM units.
const HIDDEN: usize = 256;

/// The network, as nabla-models builds it.
pub fn char_lm(rng: &mut Rng) -> CharLm {
    CharLmConfig::new(VOCAB).init(rng)
}

/// Learned parameters of an embedding `vocab → embedding`, one LSTM layer of `hidden` units
/// (four gates, each with an input matrix, a recurrent matrix and two bias vectors) and a dense
/// head `hidden → vocab` with bias.
pub const fn char_lm_parameters(vocab: usize, embedding: usize, hidden: usize) -> usize {
    vocab * embedding + 4 * hidden * (embedding + hidden + 2) + hidden * vocab + vocab
}

/// The embedding, the LSTM and the head (on the reshaped steps), for the `--verbose` table.
fn parts(model: &CharLm) -> Vec<Part<'_>> {
    let head = &model.head;
    vec![
        Part::of("embedding", &model.embedding),
        Part::of("rnn", &model.rnn),
        Part {
            name: "head".to_string(),
            kind: head.kind(),
            forward: Box::new(move |h: &Var| {
                let shape = h.shape();
                head.forward(&h.reshape(&[shape[0] * shape[1], shape[2]]))
            }),
        },
    ]
}

/// The character LM as a benchmark case.
pub const CHAR_LM: Case<CharLm> = Case {
    workload: "W4",
    model: char_lm,
    forward: module_forward,
    parts,
    parameters: char_lm_parameters(VOCAB, EMBEDDING, HIDDEN),
    input: Input::Tokens,
    sample: &[SEQUENCE],
    classes: VOCAB,
};

fn run_train(settings: &Settings, sink: &mut dyn FnMut(Measurement)) -> Result<(), String> {
    sink(measure_training(settings, &CHAR_LM, "adam", TRAIN_BATCH, adam)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::training::check_training;

    #[test]
    fn the_char_lm_is_the_workloads_network_and_trains() {
        assert_eq!(char_lm_parameters(VOCAB, EMBEDDING, HIDDEN), 350_593);
        check_training(&CHAR_LM, 2, adam).unwrap();
    }
}
