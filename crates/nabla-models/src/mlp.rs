//! The multilayer perceptron: dense layers with a nonlinearity between them.
//!
//! ```text
//! [n, in] ─fc1─▶ [n, h₁] ─act1─(drop1)─▶ ─fc2─▶ [n, h₂] ─act2─(drop2)─▶ … ─fc{k+1}─▶ [n, out]
//! ```
//!
//! Each hidden layer computes `hᵢ = act(hᵢ₋₁·Wᵢᵀ + bᵢ)`; the last one has no activation, so
//! it returns logits (for [`CrossEntropyLoss`](nabla_layers::CrossEntropyLoss)) or
//! unconstrained values (for a regression loss). With one hidden layer and enough units an MLP
//! can approximate any continuous function on a bounded set (lesson 2); depth makes the same
//! function cheaper to represent.
//!
//! | tensor | shape |
//! |---|---|
//! | input | `[n, in]`, or `[n, d₁, …]` with `d₁·… = in` when built [`with_flatten`](MlpConfig::with_flatten) |
//! | `fcᵢ.weight`, `fcᵢ.bias` | `[hᵢ, hᵢ₋₁]`, `[hᵢ]` |
//! | output | `[n, out]` |
//!
//! Layers are named `flatten`, `fc1`, `act1`, `drop1`, `fc2`, …, so the parameters are
//! `fc1.weight`, `fc1.bias`, …; parameters number `Σᵢ (hᵢ₋₁ + 1)·hᵢ`. Weights start
//! He-uniform for ReLU-like activations and Glorot-uniform for the saturating ones
//! ([`Activation::initializer`]).
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{Module, ModuleExt};
//! use nabla_models::{Activation, MlpConfig};
//! use nabla_tensor::{rng, DType, Tensor};
//! // Lesson 1's network: 784 → 512 → 512 → 10, ReLU, dropout 0.2, on 28×28 images.
//! let mlp = MlpConfig::new(784, &[512, 512], 10).with_dropout(0.2).with_flatten(true).init(&mut rng(0));
//! let y = mlp.forward(&Var::constant(Tensor::zeros(&[32, 1, 28, 28], DType::F32)));
//! assert_eq!(y.shape(), vec![32, 10]);
//! assert_eq!(mlp.num_parameters(), 785 * 512 + 513 * 512 + 513 * 10);
//! assert_eq!(mlp.named_parameters()[0].0, "fc1.weight");
//! // Lesson 2's function approximator: 1 → 50 → 20 → 1 with tanh.
//! let f = MlpConfig::new(1, &[50, 20], 1).with_activation(Activation::Tanh).init(&mut rng(0));
//! assert_eq!(f.num_parameters(), 2 * 50 + 51 * 20 + 21);
//! ```

use nabla_autograd::Var;
use nabla_layers::{
    DropoutConfig, Flatten, Initializer, LeakyReLU, LinearConfig, Module, ReLU, Sequential, Sigmoid, Tanh, Trace,
    Visitor, ELU, GELU,
};
use nabla_tensor::Rng;

/// The nonlinearity between layers, as a value a config can hold.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Activation {
    /// `max(x, 0)`.
    #[default]
    ReLU,
    /// `x` if positive, else `slope·x`.
    LeakyReLU(f64),
    /// `x` if positive, else `α(eˣ − 1)`.
    ELU(f64),
    /// `x·Φ(x)`.
    GELU,
    /// `tanh x`.
    Tanh,
    /// `1/(1 + e⁻ˣ)`.
    Sigmoid,
}

impl Activation {
    /// The activation as a layer of [`nabla_layers`].
    pub fn layer(self) -> Box<dyn Module> {
        match self {
            Activation::ReLU => Box::new(ReLU),
            Activation::LeakyReLU(slope) => Box::new(LeakyReLU { slope }),
            Activation::ELU(alpha) => Box::new(ELU { alpha }),
            Activation::GELU => Box::new(GELU),
            Activation::Tanh => Box::new(Tanh),
            Activation::Sigmoid => Box::new(Sigmoid),
        }
    }

    /// The weight initialisation that keeps activations at a steady scale through layers
    /// followed by this activation: He for the ReLU family (half the units are off, so the
    /// variance is doubled, `2/fan_in`), Glorot for tanh and sigmoid (linear near 0,
    /// `2/(fan_in + fan_out)`).
    pub fn initializer(self) -> Initializer {
        match self {
            Activation::ReLU | Activation::LeakyReLU(_) | Activation::ELU(_) | Activation::GELU => {
                Initializer::HeUniform
            }
            Activation::Tanh | Activation::Sigmoid => Initializer::GlorotUniform,
        }
    }
}

/// How to build an [`Mlp`]; see the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct MlpConfig {
    /// Input features.
    pub in_features: usize,
    /// Widths of the hidden layers, first to last (empty: a single linear layer).
    pub hidden: Vec<usize>,
    /// Output features.
    pub out_features: usize,
    /// The nonlinearity after every hidden layer (ReLU by default).
    pub activation: Activation,
    /// Dropout probability after every hidden activation (0: no dropout layers).
    pub dropout: f64,
    /// Whether to flatten `[n, d₁, …]` inputs to `[n, d₁·…]` first (off by default).
    pub flatten: bool,
}

impl MlpConfig {
    /// `in_features → hidden[0] → … → out_features`, ReLU, no dropout, no flattening.
    pub fn new(in_features: usize, hidden: &[usize], out_features: usize) -> Self {
        MlpConfig {
            in_features,
            hidden: hidden.to_vec(),
            out_features,
            activation: Activation::ReLU,
            dropout: 0.0,
            flatten: false,
        }
    }

    /// Sets the activation of the hidden layers.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets the dropout probability after each hidden activation.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    #[track_caller]
    pub fn with_dropout(mut self, p: f64) -> Self {
        assert!((0.0..=1.0).contains(&p), "MlpConfig: the dropout probability {p} must be in [0, 1]");
        self.dropout = p;
        self
    }

    /// Sets whether inputs `[n, d₁, …]` are flattened to `[n, d₁·…]` first (for images).
    pub fn with_flatten(mut self, flatten: bool) -> Self {
        self.flatten = flatten;
        self
    }

    /// Builds the network, drawing its weights (and dropout seeds) from `rng`.
    ///
    /// # Panics
    /// If a width is zero.
    #[track_caller]
    pub fn init(&self, rng: &mut Rng) -> Mlp {
        let widths: Vec<usize> =
            std::iter::once(self.in_features).chain(self.hidden.iter().copied()).chain([self.out_features]).collect();
        assert!(widths.iter().all(|&w| w > 0), "MlpConfig: every width must be positive, got {widths:?}");
        let mut net = Sequential::new();
        if self.flatten {
            net = net.add_named("flatten", Flatten);
        }
        let layers = widths.len() - 1;
        for i in 0..layers {
            let last = i + 1 == layers;
            // The output layer feeds a loss, not an activation: Glorot suits it.
            let init = if last { Initializer::GlorotUniform } else { self.activation.initializer() };
            net = net.add_named(
                &format!("fc{}", i + 1),
                LinearConfig::new(widths[i], widths[i + 1]).with_weight_init(init).init(rng),
            );
            if !last {
                net = net.add_named(&format!("act{}", i + 1), self.activation.layer());
                if self.dropout > 0.0 {
                    net = net.add_named(&format!("drop{}", i + 1), DropoutConfig::new(self.dropout).init(rng));
                }
            }
        }
        Mlp { net, config: self.clone() }
    }
}

/// A multilayer perceptron; see the [module docs](self).
pub struct Mlp {
    net: Sequential,
    config: MlpConfig,
}

impl Mlp {
    /// The configuration the network was built from.
    pub fn config(&self) -> &MlpConfig {
        &self.config
    }

    /// The layers in order, with their names (`fc1`, `act1`, …).
    pub fn layers(&self) -> impl Iterator<Item = (&str, &dyn Module)> {
        self.net.layers()
    }
}

impl Module for Mlp {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        self.net.forward(input)
    }

    fn kind(&self) -> &'static str {
        "Mlp"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        self.net.visit(visitor);
    }

    fn set_training(&mut self, training: bool) {
        self.net.set_training(training);
    }

    fn forward_traced(&self, input: &Var, trace: &mut Trace) -> Var {
        self.net.forward_traced(input, trace)
    }
}
