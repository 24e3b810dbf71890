//! Conformance of Linear, the activation layers and Sequential on random shapes, plus the
//! summary table and safetensors files.

use nabla_autograd::gradcheck::strategies as st;
use nabla_autograd::Var;
use nabla_layers::conformance::Conformance;
use nabla_layers::*;
use nabla_tensor::{rng, DType, Tensor};
use proptest::prelude::*;

proptest! {
    #![proptest_config(st::config(16))]

    #[test]
    fn linear(batch in 1usize..5, fan_in in 1usize..6, fan_out in 1usize..6, bias in any::<bool>(), seed in any::<u64>()) {
        Conformance::new("Linear", &[batch, fan_in])
            .output_shape(&[batch, fan_out])
            .parameters(fan_in * fan_out + if bias { fan_out } else { 0 })
            .seed(seed)
            .check(|r| LinearConfig::new(fan_in, fan_out).with_bias(bias).init(r));
    }

    #[test]
    fn linear_on_sequences(batch in 1usize..3, time in 1usize..4, fan_in in 1usize..4, fan_out in 1usize..4) {
        Conformance::new("Linear", &[batch, time, fan_in])
            .output_shape(&[batch, time, fan_out])
            .check(|r| LinearConfig::new(fan_in, fan_out).init(r));
    }

    #[test]
    fn activations(shape in st::shape_with_rank(1, 3, 4), seed in any::<u64>()) {
        // Inputs away from 0, where ReLU-like layers have a kink.
        let input = st_values(&shape, seed);
        let check = |name: &str| Conformance::new(name, &shape).output_shape(&shape).parameters(0).input(input.clone());
        check("ReLU").check(|_| ReLU);
        check("LeakyReLU").check(|_| LeakyReLU { slope: 0.3 });
        check("ELU").check(|_| ELU { alpha: 1.0 });
        check("GELU").check(|_| GELU);
        check("Sigmoid").check(|_| Sigmoid);
        check("Tanh").check(|_| Tanh);
        let axis = shape.len() - 1;
        check("Softmax").check(move |_| Softmax { axis });
    }

    #[test]
    fn sequential(batch in 1usize..4, a in 1usize..5, b in 1usize..5, c in 1usize..5) {
        Conformance::new("Sequential", &[batch, a])
            .output_shape(&[batch, c])
            .parameters(a * b + b + b * c + c)
            .check(|r| Sequential::new().add(LinearConfig::new(a, b).init(r)).add(Tanh).add(LinearConfig::new(b, c).init(r)));
    }
}

/// Values in ±[0.05, 1] (away from 0) for the activation checks.
fn st_values(shape: &[usize], seed: u64) -> Tensor {
    let magnitudes = nabla_tensor::init::uniform(shape, 0.05, 1.0, DType::F64, &mut rng(seed));
    let signs = nabla_tensor::init::uniform(shape, -1.0, 1.0, DType::F64, &mut rng(!seed)).sign();
    magnitudes.mul(&signs)
}

fn mlp() -> Sequential {
    let mut r = rng(0);
    Sequential::new()
        .add(LinearConfig::new(784, 128).init(&mut r))
        .add(ReLU)
        .add(LinearConfig::new(128, 10).init(&mut r))
}

#[test]
fn parameters_have_hierarchical_names() {
    let names: Vec<String> = mlp().named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
    let nested = Sequential::new().add_named("encoder", mlp());
    assert_eq!(nested.named_parameters()[0].0, "encoder.0.weight");
}

#[test]
fn summary_counts_parameters_and_flops() {
    let s = summary(&mlp(), &[1, 784]);
    assert_eq!(s.rows.len(), 3);
    assert_eq!(s.rows[0].output_shape, vec![1, 128]);
    assert_eq!(s.trainable, 101_770);
    assert_eq!(s.total_flops(), 2 * (784 * 128 + 128 * 10));
    let text = s.to_string();
    assert!(text.contains("0 (Linear)") && text.contains("101,770"), "{text}");
}

#[test]
fn weights_round_trip_through_a_file_and_errors_name_the_file() {
    let dir = std::env::temp_dir().join(format!("nabla-layers-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mlp.safetensors");
    let model = mlp();
    save_safetensors(&model, &path).unwrap();
    let other = {
        let mut r = rng(1);
        Sequential::new()
            .add(LinearConfig::new(784, 128).init(&mut r))
            .add(ReLU)
            .add(LinearConfig::new(128, 10).init(&mut r))
    };
    load_safetensors(&other, &path).unwrap();
    let x = Var::constant(nabla_tensor::init::uniform(&[2, 784], 0.0, 1.0, DType::F32, &mut rng(5)));
    assert_eq!(model.forward(&x).value().to_vec_f32(), other.forward(&x).value().to_vec_f32());

    // A model of another shape: the error names the tensor and both shapes.
    let wrong = Sequential::new().add(LinearConfig::new(784, 64).init(&mut rng(0)));
    let err = load_safetensors(&wrong, &path).unwrap_err().to_string();
    assert!(err.contains("mlp.safetensors") && err.contains("0.weight") && err.contains("[64, 784]"), "{err}");

    // Garbage and truncated files are errors, not panics.
    let bytes = std::fs::read(&path).unwrap();
    for cut in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(dir.join("cut.safetensors"), &bytes[..cut]).unwrap();
        let err = load_safetensors(&model, dir.join("cut.safetensors")).unwrap_err().to_string();
        assert!(err.contains("cut.safetensors"), "{err}");
    }
    let missing = load_safetensors(&model, dir.join("absent.safetensors")).unwrap_err().to_string();
    assert!(missing.contains("absent.safetensors"), "{missing}");
    std::fs::remove_dir_all(&dir).unwrap();
}

proptest! {
    #![proptest_config(st::config(64))]

    /// Random bytes never make the weights reader panic.
    #[test]
    fn random_bytes_are_rejected(bytes in prop::collection::vec(any::<u8>(), 0..256), header_len in 0u64..200) {
        let mut data = header_len.to_le_bytes().to_vec();
        data.extend(bytes);
        let _ = nabla_layers::safetensors_io::state_from_safetensors_bytes(&data, std::path::Path::new("fuzz"));
    }
}
