//! CharLm and SeqClassifier: the conformance check (gradients in f64 with respect to every
//! parameter, save/load, learning) on random sizes, LSTM and GRU; padding never changes a
//! classifier's answer and the backward direction reads each sentence from its last real
//! token; a language model fed in pieces equals the model fed whole; generation is seeded,
//! greedy at temperature 0, and never leaves the top-k; sampling follows the softmax.

use nabla_autograd::gradcheck::strategies as st;
use nabla_autograd::{no_grad, Var};
use nabla_layers::conformance::Conformance;
use nabla_layers::{summary, CrossEntropyLoss, Loss, Module, ModuleExt, Target};
use nabla_models::{sample_logits, CellKind, CharLmConfig, SeqClassifierConfig, SeqPooling};
use nabla_tensor::{init, rng, DType, Tensor};
use proptest::prelude::*;

/// PyTorch's parameter count of `num_layers` stacked layers with `gates` gate blocks.
fn rnn_count(gates: usize, input: usize, hidden: usize, num_layers: usize) -> usize {
    (0..num_layers).map(|k| gates * hidden * (if k == 0 { input } else { hidden } + hidden) + 2 * gates * hidden).sum()
}

fn gates(cell: CellKind) -> usize {
    match cell {
        CellKind::Lstm => 4,
        CellKind::Gru => 3,
    }
}

fn ids(values: &[usize], shape: &[usize]) -> Var {
    Var::constant(Tensor::from_vec(values.iter().map(|&v| v as f32).collect(), shape))
}

/// Random ids in `1..vocab` (never the padding id 0), `n` of them.
fn random_ids(n: usize, vocab: usize, seed: u64) -> Vec<usize> {
    init::uniform(&[n.max(1)], 1.0, vocab as f64, DType::F64, &mut rng(seed))
        .to_vec_f64()
        .into_iter()
        .take(n)
        .map(|v| (v.floor() as usize).min(vocab - 1))
        .collect()
}

/// The text of a caught panic.
fn panic_message(err: Box<dyn std::any::Any + Send>) -> String {
    match err.downcast::<String>() {
        Ok(s) => *s,
        Err(err) => err.downcast_ref::<&str>().map_or_else(|| "<not text>".to_string(), |s| s.to_string()),
    }
}

fn cell() -> impl Strategy<Value = CellKind> {
    prop::sample::select(vec![CellKind::Lstm, CellKind::Gru])
}

proptest! {
    #![proptest_config(st::config(12))]

    #[test]
    fn char_lm_conforms(batch in 1usize..3, time in 1usize..4, vocab in 2usize..6, embed in 1usize..4,
                        hidden in 1usize..4, layers in 1usize..3, cell in cell(), seed in any::<u64>()) {
        let values: Vec<f64> = random_ids(batch * time, vocab + 1, seed).iter().map(|&i| (i - 1) as f64).collect();
        let parameters = vocab * embed + rnn_count(gates(cell), embed, hidden, layers) + (hidden + 1) * vocab;
        Conformance::new("CharLm", &[batch, time])
            .input(Tensor::from_f64s(&values, &[batch, time], DType::F64))
            .without_input_gradient()
            .output_shape(&[batch * time, vocab])
            .parameters(parameters)
            .seed(seed)
            .check(|r| {
                CharLmConfig::new(vocab)
                    .with_embedding_dim(embed)
                    .with_hidden_size(hidden)
                    .with_num_layers(layers)
                    .with_cell(cell)
                    .init(r)
            });
    }

    #[test]
    fn seq_classifier_conforms(batch in 1usize..4, width in 1usize..5, vocab in 2usize..6, embed in 1usize..4,
                               hidden in 1usize..4, layers in 1usize..3, classes in 1usize..4, cell in cell(),
                               bidirectional in any::<bool>(), mean in any::<bool>(), seed in any::<u64>()) {
        // Row b holds lengths[b] ids in 1..vocab, then padding (0); some rows may be empty.
        let lengths: Vec<usize> = random_ids(batch, width + 2, seed ^ 1).iter().map(|&l| l - 1).collect();
        let tokens = random_ids(batch * width, vocab, seed);
        let values: Vec<f64> = (0..batch * width)
            .map(|i| if i % width < lengths[i / width] { tokens[i] as f64 } else { 0.0 })
            .collect();
        let features = hidden * if bidirectional { 2 } else { 1 };
        let directions = if bidirectional { 2 } else { 1 };
        let rnn = directions * rnn_count(gates(cell), embed, hidden, layers);
        let parameters = vocab * embed + rnn + (features + 1) * classes;
        let pooling = if mean { SeqPooling::Mean } else { SeqPooling::Last };
        Conformance::new("SeqClassifier", &[batch, width])
            .input(Tensor::from_f64s(&values, &[batch, width], DType::F64))
            .without_input_gradient()
            .output_shape(&[batch, classes])
            .parameters(parameters)
            .seed(seed)
            .check(|r| {
                SeqClassifierConfig::new(vocab, classes)
                    .with_embedding_dim(embed)
                    .with_hidden_size(hidden)
                    .with_num_layers(layers)
                    .with_cell(cell)
                    .with_bidirectional(bidirectional)
                    .with_pooling(pooling)
                    .init(r)
            });
    }

    /// A sentence gets the same logits alone and unpadded, padded to any width, and in a batch
    /// with sentences of other lengths.
    #[test]
    fn padding_never_changes_the_answer(len in 1usize..6, extra in 0usize..4, cell in cell(),
                                        bidirectional in any::<bool>(), mean in any::<bool>(), seed in any::<u64>()) {
        let pooling = if mean { SeqPooling::Mean } else { SeqPooling::Last };
        let model = SeqClassifierConfig::new(9, 3)
            .with_embedding_dim(3)
            .with_hidden_size(4)
            .with_cell(cell)
            .with_bidirectional(bidirectional)
            .with_pooling(pooling)
            .with_dtype(DType::F64)
            .init(&mut rng(seed));
        let sentence = random_ids(len, 9, seed);
        let alone = model.forward(&ids(&sentence, &[1, len])).value().to_vec_f64();

        let width = len + extra + 1;
        let other = random_ids(width, 9, seed ^ 7); // a full-width neighbour
        let mut rows = other.clone();
        rows.extend(sentence.iter().copied().chain(std::iter::repeat_n(0, width - len)));
        rows.extend([4, 0].iter().copied().chain(std::iter::repeat_n(0, width - 2))); // length 1
        let batch = model.forward(&ids(&rows, &[3, width])).value().to_vec_f64();
        for (a, b) in alone.iter().zip(&batch[3..6]) {
            prop_assert!((a - b).abs() < 1e-12, "alone {alone:?} vs padded in a batch {:?}", &batch[3..6]);
        }
        let explicit = model.forward_with_lengths(&ids(&rows, &[3, width]), &[width, len, 1]).value().to_vec_f64();
        prop_assert_eq!(explicit, batch);
    }
}

#[test]
fn the_backward_direction_reads_each_sentence_from_its_last_real_token() {
    let model = SeqClassifierConfig::new(9, 2)
        .with_embedding_dim(3)
        .with_hidden_size(4)
        .with_bidirectional(true)
        .with_dtype(DType::F64)
        .init(&mut rng(3));
    let sentence = [5, 2, 7];
    // Beside a full-length neighbour, so the padding is inside the steps that are run.
    let padded = ids(&[5, 2, 7, 0, 0, 1, 2, 3, 4, 5], &[2, 5]);
    let features = model.features(&padded, &[3, 5]).value().to_vec_f64()[..8].to_vec();
    // By hand: the forward stack's last output, and the backward stack run on 7, 2, 5.
    let embed = |ids: &[usize]| model.embedding.lookup(ids, &[1, ids.len()]);
    let forward = model.rnn.forward_steps(&embed(&sentence), None).0;
    let backward = model.rnn_reverse.as_ref().unwrap().forward_steps(&embed(&[7, 2, 5]), None).0;
    let expected: Vec<f64> =
        [forward[2].value().to_vec_f64(), backward[2].value().to_vec_f64()].into_iter().flatten().collect();
    assert_eq!(features.len(), 8);
    for (a, b) in features.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-12, "{features:?} vs {expected:?}");
    }
    // Mean pooling averages the three real steps of each direction.
    let mean = SeqClassifierConfig::new(9, 2)
        .with_embedding_dim(3)
        .with_hidden_size(4)
        .with_pooling(SeqPooling::Mean)
        .with_dtype(DType::F64)
        .init(&mut rng(3));
    let steps = mean.rnn.forward_steps(&mean.embedding.lookup(&sentence, &[1, 3]), None).0;
    let by_hand: Vec<f64> =
        (0..4).map(|j| steps.iter().map(|s| s.value().to_vec_f64()[j]).sum::<f64>() / 3.0).collect();
    let pooled = mean.features(&padded, &[3, 5]).value().to_vec_f64()[..4].to_vec();
    for (a, b) in pooled.iter().zip(&by_hand) {
        assert!((a - b).abs() < 1e-12, "{pooled:?} vs {by_hand:?}");
    }
}

#[test]
fn lengths_come_from_the_padding_and_bad_input_is_named() {
    let model = SeqClassifierConfig::new(10, 2).init(&mut rng(0));
    assert_eq!(model.lengths(&ids(&[3, 4, 0, 0, 0, 0, 0, 0, 9, 0, 0, 1], &[3, 4])), vec![2, 0, 4]);
    assert_eq!(model.forward(&ids(&[0, 0, 0, 0], &[2, 2])).shape(), vec![2, 2]); // empty rows pool to zeros
    let call = std::panic::AssertUnwindSafe(|| model.forward_with_lengths(&ids(&[1, 2], &[1, 2]), &[3]));
    let err = std::panic::catch_unwind(call).unwrap_err();
    assert_eq!(panic_message(err), "SeqClassifier: length 3 of sequence 0 is longer than the 2 columns of the batch");
    let table = summary(&model, &[1, 12]);
    let rows: Vec<&str> = table.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(rows, ["embedding", "rnn", "head"]);
}

#[test]
fn char_lm_fed_in_pieces_equals_fed_whole() {
    for cell in [CellKind::Lstm, CellKind::Gru] {
        let model = CharLmConfig::new(7)
            .with_embedding_dim(3)
            .with_hidden_size(5)
            .with_num_layers(2)
            .with_cell(cell)
            .with_dtype(DType::F64)
            .init(&mut rng(1));
        let text = [1, 4, 0, 6, 2, 2, 5, 3];
        let whole = model.forward(&ids(&text, &[1, 8])).value().to_vec_f64();
        let (first, state) = model.forward_with_state(&ids(&text[..3], &[1, 3]), None);
        let (second, _) = model.forward_with_state(&ids(&text[3..], &[1, 5]), Some(&state.detach()));
        let pieces: Vec<f64> = first.value().to_vec_f64().into_iter().chain(second.value().to_vec_f64()).collect();
        for (a, b) in whole.iter().zip(&pieces) {
            assert!((a - b).abs() < 1e-12, "{cell:?}");
        }
        // Row b·T + t belongs to sequence b, step t.
        let batch = model.forward(&ids(&[text[..4].to_vec(), text[4..].to_vec()].concat(), &[2, 4]));
        let second_row0 = model.forward(&ids(&text[4..], &[1, 4])).value().to_vec_f64();
        assert_eq!(batch.shape(), vec![8, 7]);
        for (a, b) in batch.value().to_vec_f64()[4 * 7..].iter().zip(&second_row0) {
            assert!((a - b).abs() < 1e-12);
        }
    }
    let model = CharLmConfig::new(7).with_hidden_size(8).with_dropout(0.2).init(&mut rng(0));
    let names: Vec<String> = model.named_tensors().into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(
        names,
        [
            "embedding.weight",
            "rnn.weight_ih_l0",
            "rnn.weight_hh_l0",
            "rnn.bias_ih_l0",
            "rnn.bias_hh_l0",
            "dropout.calls",
            "head.weight",
            "head.bias"
        ]
    );
    let table = summary(&model, &[2, 5]);
    let rows: Vec<(&str, Vec<usize>)> = table.rows.iter().map(|r| (r.name.as_str(), r.output_shape.clone())).collect();
    assert_eq!(
        rows,
        [("embedding", vec![2, 5, 64]), ("rnn", vec![2, 5, 8]), ("dropout", vec![10, 8]), ("head", vec![10, 7])]
    );
}

/// The logits the model gives after each prefix of `prompt ++ generated`, recomputed in one
/// pass: row `i` is the distribution the `i`-th generated id was drawn from.
fn logits_of_generated(model: &nabla_models::CharLm, prompt: &[usize], generated: &[usize]) -> Vec<Vec<f64>> {
    let all: Vec<usize> = prompt.iter().chain(generated).copied().collect();
    let logits = no_grad(|| model.forward(&ids(&all, &[1, all.len()])).value().to_vec_f64());
    let v = model.vocab_size();
    (0..generated.len()).map(|i| logits[(prompt.len() - 1 + i) * v..(prompt.len() + i) * v].to_vec()).collect()
}

fn argmax(values: &[f64]) -> usize {
    (0..values.len()).fold(0, |best, i| if values[i] > values[best] { i } else { best })
}

#[test]
fn generation_is_seeded_greedy_at_zero_temperature_and_stays_in_the_top_k() {
    let model =
        CharLmConfig::new(12).with_embedding_dim(6).with_hidden_size(10).with_dtype(DType::F64).init(&mut rng(2));
    let prompt = [3, 1, 4];
    let a = model.generate(&prompt, 40, 1.0, None, &mut rng(9));
    assert_eq!(a, model.generate(&prompt, 40, 1.0, None, &mut rng(9)));
    assert_ne!(a, model.generate(&prompt, 40, 1.0, None, &mut rng(10)));
    assert!(a.iter().all(|&id| id < 12));
    assert!(model.generate(&prompt, 0, 1.0, None, &mut rng(0)).is_empty());

    // Temperature 0, and temperatures tending to 0, pick the argmax at every step.
    let greedy = model.generate(&prompt, 30, 0.0, None, &mut rng(0));
    for (i, logits) in logits_of_generated(&model, &prompt, &greedy).iter().enumerate() {
        assert_eq!(greedy[i], argmax(logits), "step {i}");
    }
    assert_eq!(model.generate(&prompt, 30, 1e-9, None, &mut rng(5)), greedy);
    assert_eq!(model.generate(&prompt, 30, 1.0, Some(1), &mut rng(5)), greedy);

    // With top-k = 3 every id drawn is among the 3 largest logits of its step.
    let drawn = model.generate(&prompt, 200, 2.0, Some(3), &mut rng(4));
    for (i, logits) in logits_of_generated(&model, &prompt, &drawn).iter().enumerate() {
        let larger = logits.iter().filter(|&&z| z > logits[drawn[i]]).count();
        assert!(larger < 3, "step {i}: id {} has {larger} larger logits", drawn[i]);
    }
    let distinct = {
        let mut d = drawn.clone();
        d.sort();
        d.dedup();
        d.len()
    };
    assert!(distinct > 3, "a hot temperature over 200 steps should use several ids");
}

#[test]
fn sampling_follows_the_softmax_of_the_candidates() {
    let logits = [1.0, 0.0, 2.0, -1.0, 1.5];
    let count = |temperature: f64, top_k: Option<usize>| {
        let mut r = rng(11);
        let mut counts = [0usize; 5];
        for _ in 0..20_000 {
            counts[sample_logits(&logits, temperature, top_k, &mut r)] += 1;
        }
        counts.map(|c| c as f64 / 20_000.0)
    };
    let expected = |temperature: f64, keep: &[usize]| {
        let z: f64 = keep.iter().map(|&i| (logits[i] / temperature).exp()).sum();
        (0..5).map(|i| if keep.contains(&i) { (logits[i] / temperature).exp() / z } else { 0.0 }).collect::<Vec<_>>()
    };
    for (temperature, top_k, keep) in
        [(1.0, None, vec![0, 1, 2, 3, 4]), (0.5, None, vec![0, 1, 2, 3, 4]), (3.0, Some(2), vec![2, 4])]
    {
        let (seen, want) = (count(temperature, top_k), expected(temperature, &keep));
        for i in 0..5 {
            assert!((seen[i] - want[i]).abs() < 0.015, "τ = {temperature}, k = {top_k:?}: {seen:?} vs {want:?}");
        }
    }
    assert_eq!(sample_logits(&[0.3, 2.0, 2.0], 0.0, None, &mut rng(0)), 1); // ties: the first
    assert_eq!(sample_logits(&[f64::NEG_INFINITY, 0.0], 1.0, None, &mut rng(0)), 1);
    let err = std::panic::catch_unwind(|| sample_logits(&[1.0], 1.0, Some(0), &mut rng(0))).unwrap_err();
    assert!(panic_message(err).contains("top_k must be at least 1"));
}

/// A tiny LSTM learns a periodic text by plain gradient descent and then continues it greedily.
#[test]
fn char_lm_learns_a_periodic_text() {
    let model = CharLmConfig::new(4).with_embedding_dim(4).with_hidden_size(16).init(&mut rng(0));
    let text: Vec<usize> = (0..33).map(|i| [0, 1, 2, 3, 2, 1][i % 6]).collect(); // a b c d c b a b …
    let inputs = ids(&text[..32], &[4, 8]);
    let targets = Target::Classes(text[1..].to_vec());
    let params = model.parameters();
    let loss = || CrossEntropyLoss::default().loss(&model.forward(&inputs), &targets);
    let first = loss().item();
    for _ in 0..300 {
        let grads = loss().backward();
        for p in &params {
            if let Some(g) = grads.get(p) {
                p.set_value(p.value().sub(&g.mul_scalar(1.0)));
            }
        }
    }
    let last = loss().item();
    assert!(last < 0.05 && last < first / 20.0, "loss {first} → {last}");
    // "d c" can only continue "b a b c d c b a"; "b" alone is ambiguous (a or c).
    assert_eq!(model.generate(&[3, 2], 8, 0.0, None, &mut rng(0)), [1, 0, 1, 2, 3, 2, 1, 0]);
}
