//! Embedding: conformance on random id tensors, golden lookups, gradients of repeated ids,
//! and errors naming the bad id, its position and the vocabulary size.

use nabla_autograd::gradcheck::strategies as st;
use nabla_autograd::Var;
use nabla_layers::conformance::Conformance;
use nabla_layers::*;
use nabla_tensor::{init, rng, DType, Tensor};
use proptest::prelude::*;

fn ids(values: &[f64], shape: &[usize]) -> Var {
    Var::constant(Tensor::from_f64s(values, shape, DType::F32))
}

proptest! {
    #![proptest_config(st::config(16))]

    #[test]
    fn conformance(shape in st::shape(3, 4), vocab in 1usize..8, dim in 1usize..5, seed in any::<u64>()) {
        let n: usize = shape.iter().product();
        let values: Vec<f64> = init::uniform(&[n], 0.0, vocab as f64, DType::F64, &mut rng(seed))
            .to_vec_f64()
            .iter()
            .map(|v| v.floor().min(vocab as f64 - 1.0))
            .collect();
        let mut out = shape.clone();
        out.push(dim);
        Conformance::new("Embedding", &shape)
            .input(Tensor::from_f64s(&values, &shape, DType::F64))
            .without_input_gradient()
            .output_shape(&out)
            .parameters(vocab * dim)
            .seed(seed)
            .check(|r| EmbeddingConfig::new(vocab, dim).init(r));
    }
}

#[test]
fn rows_are_looked_up_and_repeated_ids_accumulate_gradients() {
    let embed = EmbeddingConfig::new(4, 2).with_dtype(DType::F64).init(&mut rng(0));
    embed.weight.set_value(Tensor::from_f64s(&[0.0, 1.0, 10.0, 11.0, 20.0, 21.0, 30.0, 31.0], &[4, 2], DType::F64));
    let y = embed.forward(&ids(&[3.0, 1.0, 1.0, 0.0], &[2, 2]));
    assert_eq!(y.shape(), vec![2, 2, 2]);
    assert_eq!(y.value().to_vec_f64(), vec![30.0, 31.0, 10.0, 11.0, 10.0, 11.0, 0.0, 1.0]);
    let grad = y.sum().backward().get(&embed.weight).unwrap().to_vec_f64();
    // Row 1 was used twice, row 2 never.
    assert_eq!(grad, vec![1.0, 1.0, 2.0, 2.0, 0.0, 0.0, 1.0, 1.0]);
    assert_eq!(embed.lookup(&[3, 1, 1, 0], &[2, 2]).value().to_vec_f64(), y.value().to_vec_f64());
    // A single id (rank 0) gives one vector.
    assert_eq!(embed.forward(&Var::scalar(2.0, DType::F32)).value().to_vec_f64(), vec![20.0, 21.0]);
}

#[test]
fn initialisation_is_standard_normal_or_as_configured() {
    let w = EmbeddingConfig::new(1000, 50).init(&mut rng(0)).weight.value().to_vec_f64();
    let mean = w.iter().sum::<f64>() / w.len() as f64;
    let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / w.len() as f64;
    assert!(mean.abs() < 0.02 && (var - 1.0).abs() < 0.03, "mean {mean}, variance {var}");
    let keras = EmbeddingConfig::new(100, 8)
        .with_weight_init(Initializer::Uniform { low: -0.05, high: 0.05 })
        .init(&mut rng(0))
        .weight
        .value();
    assert!(keras.max_all() < 0.05 && keras.min_all() >= -0.05);
}

#[test]
#[should_panic(
    expected = "Embedding: id 7 at position [1, 0] is not a whole number in 0..5 (the vocabulary size is 5)"
)]
fn an_id_past_the_vocabulary_is_named() {
    EmbeddingConfig::new(5, 2).init(&mut rng(0)).forward(&ids(&[0.0, 1.0, 7.0, 2.0], &[2, 2]));
}

#[test]
#[should_panic(expected = "Embedding: id 1.5 at position [2]")]
fn a_fractional_id_is_named() {
    EmbeddingConfig::new(5, 2).init(&mut rng(0)).forward(&ids(&[0.0, 1.0, 1.5], &[3]));
}

#[test]
#[should_panic(expected = "Embedding: id -1 at position [0]")]
fn a_negative_id_is_named() {
    EmbeddingConfig::new(5, 2).init(&mut rng(0)).forward(&ids(&[-1.0], &[1]));
}

#[test]
#[should_panic(expected = "Embedding: id 9 at position [0, 2] is not below the vocabulary size 5")]
fn lookup_names_the_bad_id() {
    EmbeddingConfig::new(5, 2).init(&mut rng(0)).lookup(&[0, 1, 9], &[1, 3]);
}

#[test]
#[should_panic(expected = "does not hold the 3 ids")]
fn lookup_checks_the_shape() {
    EmbeddingConfig::new(5, 2).init(&mut rng(0)).lookup(&[0, 1, 2], &[2, 2]);
}
