//! The Transformer encoder classifier: conformance (gradients in f64, save/load, learning)
//! with padding, mean and `[CLS]` pooling, learned and sinusoidal positions; padded positions
//! never change the output (bit for bit); lengths, names, errors.

use nabla_autograd::gradcheck::strategies as st;
use nabla_autograd::Var;
use nabla_layers::conformance::Conformance;
use nabla_layers::{summary, Module, ModuleExt};
use nabla_models::{PositionEncoding, TransformerClassifier, TransformerClassifierConfig, TransformerPooling};
use nabla_tensor::{rng, DType, Tensor};
use proptest::prelude::*;

fn ids_tensor(ids: &[usize], batch: usize) -> Tensor {
    Tensor::from_vec(ids.iter().map(|&i| i as f32).collect(), &[batch, ids.len() / batch])
}

fn expected_parameters(config: &TransformerClassifierConfig) -> usize {
    let (v, d, c) = (config.vocab_size, config.d_model, config.num_classes);
    let block = (4 * d * d + 4 * d) + (2 * d * config.mlp_width + config.mlp_width + d) + 4 * d;
    let slots = config.max_len + usize::from(config.pooling == TransformerPooling::Cls);
    let positions = if config.positions == PositionEncoding::Learned { slots * d } else { 0 };
    let cls = if config.pooling == TransformerPooling::Cls { d } else { 0 };
    v * d + positions + cls + config.num_layers * block + 2 * d + (d + 1) * c
}

fn names(model: &dyn Module) -> Vec<String> {
    model.named_parameters().into_iter().map(|(n, _)| n).collect()
}

/// Ids of `lengths[b]` real tokens (in `1..vocab`) then padding (0), `t` columns.
fn padded(lengths: &[usize], t: usize, vocab: usize, salt: usize) -> Vec<usize> {
    let mut ids = vec![0; lengths.len() * t];
    for (b, &len) in lengths.iter().enumerate() {
        for j in 0..len {
            ids[b * t + j] = 1 + (b * 7 + j * 3 + salt) % (vocab - 1);
        }
    }
    ids
}

proptest! {
    #![proptest_config(st::config(6))]

    #[test]
    fn the_classifier_conforms(
        lengths in prop::collection::vec(0usize..4, 1..3),
        heads in 1usize..3,
        head_dim in 1usize..3,
        layers in 1usize..3,
        classes in 1usize..4,
        cls in any::<bool>(),
        sinusoidal in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let (vocab, t, d) = (6, 3, heads * head_dim);
        // At least one full row, so that the padding columns are not all trimmed away.
        let mut lengths = lengths;
        lengths[0] = t;
        let config = TransformerClassifierConfig::new(vocab, 4, d, heads, layers, classes)
            .with_pooling(if cls { TransformerPooling::Cls } else { TransformerPooling::Mean })
            .with_positions(if sinusoidal { PositionEncoding::Sinusoidal } else { PositionEncoding::Learned });
        let ids = padded(&lengths, t, vocab, seed as usize % 5);
        let check = Conformance::new("TransformerClassifier", &[lengths.len(), t])
            .input(ids_tensor(&ids, lengths.len()))
            .without_input_gradient()
            .output_shape(&[lengths.len(), classes])
            .parameters(expected_parameters(&config))
            .seed(seed);
        check.check(|r| config.init(r));
    }

    /// Whatever ids stand in the padded positions, the logits are the same, bit for bit.
    #[test]
    fn padded_positions_are_ignored(
        lengths in prop::collection::vec(0usize..7, 1..4),
        cls in any::<bool>(),
        layers in 1usize..3,
        seed in any::<u64>(),
    ) {
        let (vocab, t) = (11, 6);
        let pooling = if cls { TransformerPooling::Cls } else { TransformerPooling::Mean };
        let model = TransformerClassifierConfig::new(vocab, 8, 16, 4, layers, 3)
            .with_pooling(pooling)
            .init(&mut rng(seed));
        let ids = padded(&lengths, t, vocab, 0);
        let mut noisy = ids.clone();
        for (b, &len) in lengths.iter().enumerate() {
            for j in len..t {
                noisy[b * t + j] = (b + j * 5 + seed as usize) % vocab;
            }
        }
        let run = |ids: &[usize]| {
            model.forward_with_lengths(&Var::constant(ids_tensor(ids, lengths.len())), &lengths).value().to_vec_f32()
        };
        let clean = run(&ids);
        prop_assert!(clean.iter().all(|v| v.is_finite()));
        prop_assert_eq!(&clean, &run(&noisy));
        // Module::forward reads the same lengths from the padding id 0.
        let from_ids = model.forward(&Var::constant(ids_tensor(&ids, lengths.len()))).value().to_vec_f32();
        prop_assert_eq!(&clean, &from_ids);
    }
}

#[test]
fn a_real_token_changes_the_output() {
    let model = TransformerClassifierConfig::new(10, 6, 8, 2, 1, 2).init(&mut rng(1));
    let run = |ids: &[usize]| model.forward(&Var::constant(ids_tensor(ids, 1))).value().to_vec_f32();
    assert_ne!(run(&[3, 4, 5, 0]), run(&[3, 4, 6, 0]));
    // Lengths 3 and 4 pool over different positions.
    assert_ne!(run(&[3, 4, 5, 0]), run(&[3, 4, 5, 7]));
}

#[test]
fn lengths_come_from_the_padding_id() {
    let model = TransformerClassifierConfig::new(10, 6, 8, 2, 1, 2).with_pad_id(9).init(&mut rng(0));
    let ids = Var::constant(ids_tensor(&[1, 9, 2, 9, 9, 9, 9, 9, 0, 0, 0, 0], 3));
    assert_eq!(model.lengths(&ids), vec![3, 0, 4]);
    assert_eq!(
        model.forward(&ids).value().to_vec_f32(),
        model.forward_with_lengths(&ids, &[3, 0, 4]).value().to_vec_f32()
    );
}

#[test]
fn parameters_are_named_and_counted() {
    let config = TransformerClassifierConfig::new(1000, 64, 32, 4, 2, 2);
    let mean = config.init(&mut rng(0));
    assert_eq!(mean.num_parameters(), expected_parameters(&config));
    let n = names(&mean);
    assert_eq!(n[..3], ["token_embedding.weight", "position_embedding.weight", "blocks.0.ln1.weight"]);
    assert!(n.contains(&"blocks.1.attn.query.weight".to_string()));
    assert_eq!(n[n.len() - 4..], ["ln_f.weight", "ln_f.bias", "head.weight", "head.bias"]);

    let cls_config = config.clone().with_pooling(TransformerPooling::Cls);
    let cls = cls_config.init(&mut rng(0));
    assert_eq!(names(&cls)[0], "cls_token");
    assert_eq!(cls.num_parameters(), expected_parameters(&cls_config));
    assert_eq!(cls.num_parameters() - mean.num_parameters(), 32 + 32); // [CLS] and its position

    let sinusoidal_config = config.with_positions(PositionEncoding::Sinusoidal);
    let sinusoidal = sinusoidal_config.init(&mut rng(0));
    assert!(!names(&sinusoidal).iter().any(|n| n.starts_with("position_embedding")));
    assert_eq!(sinusoidal.num_parameters(), expected_parameters(&sinusoidal_config));
}

#[test]
fn the_summary_shows_blocks_and_head() {
    let model: TransformerClassifier = TransformerClassifierConfig::new(50, 10, 16, 2, 2, 3).init(&mut rng(0));
    let table = summary(&model, &[2, 10]);
    let rows: Vec<&str> = table.rows.iter().map(|r| r.name.as_str()).collect();
    assert!(rows.contains(&"blocks.1") && rows.contains(&"head"), "{rows:?}");
    assert_eq!(table.rows.last().unwrap().output_shape, vec![2, 3]);
}

#[test]
fn an_empty_sequence_gives_finite_logits() {
    for pooling in [TransformerPooling::Mean, TransformerPooling::Cls] {
        let model = TransformerClassifierConfig::new(10, 6, 8, 2, 2, 2).with_pooling(pooling).init(&mut rng(0));
        let y = model.forward(&Var::constant(Tensor::zeros(&[2, 4], DType::F32)));
        assert!(y.value().all_finite(), "{pooling:?}");
    }
}

#[test]
#[should_panic(expected = "TransformerClassifier: length 5 of sequence 1 is longer than the 4 columns of the batch")]
fn a_length_beyond_the_columns_is_refused() {
    let model = TransformerClassifierConfig::new(10, 6, 8, 2, 1, 2).init(&mut rng(0));
    model.forward_with_lengths(&Var::constant(Tensor::ones(&[2, 4], DType::F32)), &[4, 5]);
}

#[test]
#[should_panic(expected = "TransformerClassifier: the input [1, 7] has t = 7 positions but max_len is 6")]
fn a_sequence_beyond_max_len_is_refused() {
    let model = TransformerClassifierConfig::new(10, 6, 8, 2, 1, 2).init(&mut rng(0));
    model.forward(&Var::constant(Tensor::ones(&[1, 7], DType::F32)));
}

#[test]
#[should_panic(expected = "TransformerClassifierConfig: the padding id 10 must be below the vocabulary size 10")]
fn the_padding_id_must_be_a_token() {
    TransformerClassifierConfig::new(10, 6, 8, 2, 1, 2).with_pad_id(10).init(&mut rng(0));
}
