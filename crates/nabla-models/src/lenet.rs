//! LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998): the convolutional network that read
//! cheques, in its textbook form.
//!
//! ```text
//! [n, 1, 32, 32] ─c1: conv 5×5, 6─▶  [n, 6, 28, 28] ─tanh─ s2: pool 2─▶ [n, 6, 14, 14]
//!                ─c3: conv 5×5, 16─▶ [n, 16, 10, 10] ─tanh─ s4: pool 2─▶ [n, 16, 5, 5]
//!                ─c5: conv 5×5, 120─▶ [n, 120, 1, 1] ─tanh─ flatten─▶ [n, 120]
//!                ─f6: dense 84─▶ [n, 84] ─tanh─ output: dense 10─▶ [n, 10] logits
//! ```
//!
//! The layers keep the paper's names: `c` convolution, `s` subsampling (pooling), `f` full
//! connection, numbered by position. C5 is a convolution whose 5×5 window covers the whole
//! 5×5 map, so it is a dense layer in disguise (1×1 output); writing it as a convolution keeps
//! the paper's structure.
//!
//! **Which variant.** The classic input is **1×32×32**: the paper pads its 28×28 digits to 32×32
//! so strokes reach the centre of C5's receptive fields. [`LeNet5Config::mnist`] takes the
//! 28×28 MNIST images as they are and pads C1's input by 2 pixels instead (Keras tutorials'
//! `padding="same"`), which gives the same shapes from C1 on. Both have **61,706** parameters:
//!
//! | layer | parameters |
//! |---|---|
//! | c1 | 6·(1·5·5) + 6 = 156 |
//! | c3 | 16·(6·5·5) + 16 = 2,416 |
//! | c5 | 120·(16·5·5) + 120 = 48,120 |
//! | f6 | 84·120 + 84 = 10,164 |
//! | output | 10·84 + 10 = 850 |
//!
//! This is the textbook simplification of the 1998 network: C3 connects every S2 map (the
//! paper wires each of its 16 maps to a chosen subset of 3–6 maps, 1,516 weights), pooling is a
//! plain average (the paper's has a learned scale and bias per map, then a sigmoid), the
//! activation is `tanh` (the paper's is `1.7159·tanh(2x/3)`) and the output is a dense layer
//! giving logits (the paper's compares F6 with fixed prototype codes by Euclidean distance).
//! [`with_activation`](LeNet5Config::with_activation) and [`with_pooling`](LeNet5Config::with_pooling)
//! give the modern ReLU/max-pool version; [`with_batch_norm`](LeNet5Config::with_batch_norm)
//! inserts batch normalisation after C1, C3, C5 and F6 (lesson 5; those layers then drop their
//! biases, which the normalisation would cancel, so the count becomes 61,932).
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{Module, ModuleExt};
//! use nabla_models::LeNet5Config;
//! use nabla_tensor::{rng, DType, Tensor};
//! let lenet = LeNet5Config::new().init(&mut rng(0));
//! assert_eq!(lenet.num_parameters(), 61_706);
//! assert_eq!(lenet.forward(&Var::constant(Tensor::zeros(&[8, 1, 32, 32], DType::F32))).shape(), vec![8, 10]);
//! let mnist = LeNet5Config::mnist().init(&mut rng(0));
//! assert_eq!(mnist.forward(&Var::constant(Tensor::zeros(&[8, 1, 28, 28], DType::F32))).shape(), vec![8, 10]);
//! ```

use nabla_autograd::Var;
use nabla_layers::{
    AvgPool2d, BatchNorm1dConfig, BatchNorm2dConfig, Conv2dConfig, Flatten, Initializer, LinearConfig, MaxPool2d,
    Module, Padding, Sequential, Trace, Visitor,
};
use nabla_tensor::Rng;

use crate::mlp::Activation;

/// The input LeNet-5 is built for; see the [module docs](self).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LeNetInput {
    /// `[n, c, 32, 32]`, as in the paper (digits padded to 32×32 beforehand).
    #[default]
    Pixels32,
    /// `[n, c, 28, 28]` (MNIST as stored); C1 pads its input by 2 pixels on each side.
    Pixels28,
}

impl LeNetInput {
    /// The image side, 32 or 28.
    pub fn size(self) -> usize {
        match self {
            LeNetInput::Pixels32 => 32,
            LeNetInput::Pixels28 => 28,
        }
    }
}

/// How the subsampling layers S2 and S4 summarise each 2×2 window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pooling {
    /// The mean (the paper's subsampling, without its learned scale).
    #[default]
    Average,
    /// The maximum (what later networks use).
    Max,
}

impl Pooling {
    /// A non-overlapping `k × k` pooling layer of this kind.
    pub fn layer(self, k: usize) -> Box<dyn Module> {
        match self {
            Pooling::Average => Box::new(AvgPool2d::new([k, k])),
            Pooling::Max => Box::new(MaxPool2d::new([k, k])),
        }
    }
}

/// How to build a [`LeNet5`]; see the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct LeNet5Config {
    /// The input size (and so C1's padding).
    pub input: LeNetInput,
    /// Channels of the input images (1 for digits).
    pub in_channels: usize,
    /// Classes of the output layer (10 for digits).
    pub num_classes: usize,
    /// The nonlinearity after C1, C3, C5 and F6 (tanh by default).
    pub activation: Activation,
    /// The subsampling of S2 and S4 (average by default).
    pub pooling: Pooling,
    /// Batch normalisation before each activation (off by default).
    pub batch_norm: bool,
}

impl Default for LeNet5Config {
    fn default() -> Self {
        LeNet5Config::new()
    }
}

impl LeNet5Config {
    /// The classic network: 1×32×32 input, 10 classes, tanh, average pooling.
    pub fn new() -> Self {
        LeNet5Config {
            input: LeNetInput::Pixels32,
            in_channels: 1,
            num_classes: 10,
            activation: Activation::Tanh,
            pooling: Pooling::Average,
            batch_norm: false,
        }
    }

    /// The same network on 1×28×28 MNIST images, C1 padding its input by 2.
    pub fn mnist() -> Self {
        LeNet5Config::new().with_input(LeNetInput::Pixels28)
    }

    /// Sets the input size.
    pub fn with_input(mut self, input: LeNetInput) -> Self {
        self.input = input;
        self
    }

    /// Sets the number of input channels.
    pub fn with_in_channels(mut self, in_channels: usize) -> Self {
        self.in_channels = in_channels;
        self
    }

    /// Sets the number of classes.
    pub fn with_num_classes(mut self, num_classes: usize) -> Self {
        self.num_classes = num_classes;
        self
    }

    /// Sets the activation.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets the pooling.
    pub fn with_pooling(mut self, pooling: Pooling) -> Self {
        self.pooling = pooling;
        self
    }

    /// Sets whether batch normalisation follows C1, C3, C5 and F6.
    pub fn with_batch_norm(mut self, batch_norm: bool) -> Self {
        self.batch_norm = batch_norm;
        self
    }

    /// Builds the network, drawing its weights from `rng`.
    ///
    /// # Panics
    /// If `in_channels` or `num_classes` is zero.
    #[track_caller]
    pub fn init(&self, rng: &mut Rng) -> LeNet5 {
        assert!(
            self.in_channels > 0 && self.num_classes > 0,
            "LeNet5Config: in_channels ({}) and num_classes ({}) must be positive",
            self.in_channels,
            self.num_classes
        );
        let init = self.activation.initializer();
        let bias = !self.batch_norm;
        let conv = |c_in: usize, c_out: usize, rng: &mut Rng| {
            Conv2dConfig::new(c_in, c_out, [5, 5]).with_weight_init(init).with_bias(bias).init(rng)
        };
        let c1_padding = match self.input {
            LeNetInput::Pixels32 => Padding::Valid,
            LeNetInput::Pixels28 => Padding::Explicit([2, 2]),
        };
        let c1 = Conv2dConfig::new(self.in_channels, 6, [5, 5])
            .with_padding(c1_padding)
            .with_weight_init(init)
            .with_bias(bias)
            .init(rng);

        let mut net = Sequential::new().add_named("c1", c1);
        net = self.normalise_and_activate(net, "c1", 6, true, rng).add_named("s2", self.pooling.layer(2));
        net = net.add_named("c3", conv(6, 16, rng));
        net = self.normalise_and_activate(net, "c3", 16, true, rng).add_named("s4", self.pooling.layer(2));
        net = net.add_named("c5", conv(16, 120, rng));
        net = self.normalise_and_activate(net, "c5", 120, true, rng).add_named("flatten", Flatten);
        net = net.add_named("f6", LinearConfig::new(120, 84).with_weight_init(init).with_bias(bias).init(rng));
        net = self.normalise_and_activate(net, "f6", 84, false, rng);
        let output = LinearConfig::new(84, self.num_classes).with_weight_init(Initializer::GlorotUniform).init(rng);
        LeNet5 { net: net.add_named("output", output), config: self.clone() }
    }

    /// Appends `{layer}_bn` (if batch normalisation is on) and `{layer}_act`.
    fn normalise_and_activate(
        &self,
        mut net: Sequential,
        layer: &str,
        channels: usize,
        images: bool,
        rng: &mut Rng,
    ) -> Sequential {
        if self.batch_norm {
            let name = format!("{layer}_bn");
            net = if images {
                net.add_named(&name, BatchNorm2dConfig::new(channels).init(rng))
            } else {
                net.add_named(&name, BatchNorm1dConfig::new(channels).init(rng))
            };
        }
        net.add_named(&format!("{layer}_act"), self.activation.layer())
    }
}

/// LeNet-5; see the [module docs](self).
pub struct LeNet5 {
    net: Sequential,
    config: LeNet5Config,
}

impl LeNet5 {
    /// The configuration the network was built from.
    pub fn config(&self) -> &LeNet5Config {
        &self.config
    }

    /// The layers in order, with their names (`c1`, `c1_act`, `s2`, …).
    pub fn layers(&self) -> impl Iterator<Item = (&str, &dyn Module)> {
        self.net.layers()
    }
}

impl Module for LeNet5 {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let shape = input.shape();
        let (c, side) = (self.config.in_channels, self.config.input.size());
        assert!(
            shape.len() == 4 && shape[1..] == [c, side, side],
            "LeNet5: expected input [n, {c}, {side}, {side}] but received {shape:?} \
             (LeNet5Config::new() takes 32×32 images, LeNet5Config::mnist() 28×28)"
        );
        self.net.forward(input)
    }

    fn kind(&self) -> &'static str {
        "LeNet5"
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
