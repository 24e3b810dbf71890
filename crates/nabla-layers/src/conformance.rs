//! The conformance check every layer's tests run — and that you can run on your own layers.
//!
//! [`Conformance::check`] builds the layer from a seeded generator and verifies, in order:
//!
//! 1. **output shape** for the given input shape;
//! 2. **parameter count** (learned scalars);
//! 3. **gradients** with respect to the input and to every parameter, in `f64`, against
//!    central finite differences (`nabla_autograd::gradcheck::check_leaf_gradients`);
//! 4. **save/load round trip**: weights written as safetensors and loaded into a layer built
//!    from another seed give identical tensors and identical outputs;
//! 5. **it can learn**: a few steps of gradient descent on a squared error towards a random
//!    target lower the loss (for layers with parameters).
//!
//! Each failure panics with the layer's name and what differed. Tests call it inside
//! `proptest!` with random shapes, so every property is checked on many configurations.
//!
//! ```
//! use nabla_layers::{conformance::Conformance, LinearConfig};
//! Conformance::new("Linear", &[4, 3]).output_shape(&[4, 2]).parameters(3 * 2 + 2)
//!     .check(|rng| LinearConfig::new(3, 2).init(rng));
//! ```

use nabla_autograd::gradcheck::{check_leaf_gradients, Mode, Tolerance};
use nabla_autograd::Var;
use nabla_tensor::{init, rng, DType, Rng, Tensor};

use crate::module::{Module, ModuleExt};
use crate::safetensors_io::{state_from_safetensors_bytes, to_safetensors_bytes};

/// What to check a layer against; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct Conformance {
    name: String,
    input_shape: Vec<usize>,
    output_shape: Option<Vec<usize>>,
    parameters: Option<usize>,
    input: Option<Tensor>,
    input_gradient: bool,
    training: bool,
    seed: u64,
}

impl Conformance {
    /// Checks of the layer called `name` on inputs of `input_shape`, drawn from `U(−1, 1)`.
    pub fn new(name: &str, input_shape: &[usize]) -> Self {
        Conformance {
            name: name.to_string(),
            input_shape: input_shape.to_vec(),
            output_shape: None,
            parameters: None,
            input: None,
            input_gradient: true,
            training: true,
            seed: 0,
        }
    }

    /// The output shape the layer must produce.
    pub fn output_shape(mut self, shape: &[usize]) -> Self {
        self.output_shape = Some(shape.to_vec());
        self
    }

    /// The number of learned scalars the layer must have.
    pub fn parameters(mut self, count: usize) -> Self {
        self.parameters = Some(count);
        self
    }

    /// Uses this input (of `input_shape`) instead of random values: token ids for an
    /// embedding, values away from a kink.
    pub fn input(mut self, input: Tensor) -> Self {
        assert_eq!(input.shape(), self.input_shape.as_slice(), "Conformance::input: the shape must be the input shape");
        self.input = Some(input);
        self
    }

    /// Skips the gradient with respect to the input (for inputs that are indices).
    pub fn without_input_gradient(mut self) -> Self {
        self.input_gradient = false;
        self
    }

    /// Runs every check in evaluation mode instead of training mode.
    pub fn in_eval_mode(mut self) -> Self {
        self.training = false;
        self
    }

    /// Seeds the random input and the layers built (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    fn input_value(&self, dtype: DType) -> Tensor {
        match &self.input {
            Some(t) => t.to_dtype(dtype),
            None => init::uniform(&self.input_shape, -1.0, 1.0, dtype, &mut rng(self.seed ^ 0x696e)),
        }
    }

    fn build<M: Module>(&self, build: &impl Fn(&mut Rng) -> M, seed: u64) -> M {
        let mut layer = build(&mut rng(seed));
        layer.set_training(self.training);
        layer
    }

    /// Runs all checks on the layer `build` makes; panics on the first failure.
    #[track_caller]
    pub fn check<M: Module>(&self, build: impl Fn(&mut Rng) -> M) {
        let name = &self.name;

        // 1–2. Shape and parameter count, in f32 as users run it.
        let layer = self.build(&build, self.seed);
        let output = layer.forward(&Var::constant(self.input_value(DType::F32)));
        if let Some(expected) = &self.output_shape {
            assert_eq!(&output.shape(), expected, "{name}: output shape for input {:?}", self.input_shape);
        }
        assert!(output.value().all_finite(), "{name}: the output has non-finite values");
        if let Some(expected) = self.parameters {
            assert_eq!(layer.num_parameters(), expected, "{name}: number of learned parameters");
        }

        // 3. Gradients in f64 with respect to the input and every parameter.
        let layer = self.build(&build, self.seed);
        layer.to_dtype(DType::F64);
        let x = if self.input_gradient {
            Var::new(self.input_value(DType::F64))
        } else {
            Var::constant(self.input_value(DType::F64))
        };
        let mut leaves = if self.input_gradient { vec![x.clone()] } else { vec![] };
        leaves.extend(layer.parameters());
        if !leaves.is_empty() {
            let verdict = check_leaf_gradients(|| layer.forward(&x), &leaves, Tolerance::default(), Mode::Auto);
            if let Err(e) = verdict {
                let names: Vec<String> = (if self.input_gradient { vec!["input".to_string()] } else { vec![] })
                    .into_iter()
                    .chain(layer.named_parameters().into_iter().map(|(n, _)| n))
                    .collect();
                panic!("{name}: wrong gradient for `{}`: {e}", names[e.input]);
            }
        }

        // 4. Save/load round trip through safetensors bytes.
        let original = self.build(&build, self.seed);
        let mut copy = self.build(&build, self.seed.wrapping_add(1));
        let bytes = to_safetensors_bytes(&original);
        let state = state_from_safetensors_bytes(&bytes, std::path::Path::new("<memory>"))
            .unwrap_or_else(|e| panic!("{name}: the saved weights do not parse: {e}"));
        copy.load_state_dict(&state).unwrap_or_else(|e| panic!("{name}: the saved weights do not load: {e}"));
        for ((n, a), (_, b)) in original.state_dict().iter().zip(copy.state_dict().iter()) {
            assert_eq!(a.to_vec_f64(), b.to_vec_f64(), "{name}: `{n}` changed in the save/load round trip");
        }
        let mut original = original;
        original.set_training(false);
        copy.set_training(false);
        let probe = Var::constant(self.input_value(DType::F32));
        assert_eq!(
            original.forward(&probe).value().to_vec_f32(),
            copy.forward(&probe).value().to_vec_f32(),
            "{name}: a loaded copy computes something else"
        );

        // 5. A few descent steps on a squared error lower it.
        let layer = self.build(&build, self.seed);
        let params = layer.parameters();
        if params.is_empty() {
            return;
        }
        layer.to_dtype(DType::F64);
        let x = Var::constant(self.input_value(DType::F64));
        let target = {
            let shape = layer.forward(&x).shape().to_vec();
            Var::constant(init::uniform(&shape, -1.0, 1.0, DType::F64, &mut rng(self.seed ^ 0x7467)))
        };
        let loss = || layer.forward(&x).sub(&target).square().mean();
        let first = loss().item();
        for _ in 0..10 {
            let grads = loss().backward();
            for p in &params {
                if let Some(g) = grads.get(p) {
                    p.set_value(p.value().sub(&g.mul_scalar(0.05)));
                }
            }
        }
        let last = loss().item();
        assert!(last < first, "{name}: ten gradient-descent steps did not lower the loss ({first} → {last})");
    }
}
