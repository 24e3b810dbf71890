//! VGG-style networks (Simonyan & Zisserman, 2014): stages of 3×3 convolutions, each stage
//! ending in a 2×2 max pooling that halves the resolution, then dense layers.
//!
//! ```text
//! [n, c, h, w] ─features─────────────────────────────────────────────────────────────▶
//!     stage 1: (conv 3×3 → [BN] → ReLU) × convs₁, max pool 2  ▶ [n, ch₁, h/2, w/2]
//!     stage 2: (conv 3×3 → [BN] → ReLU) × convs₂, max pool 2  ▶ [n, ch₂, h/4, w/4]
//!     …
//! ─flatten─▶ [n, ch_k·(h/2ᵏ)·(w/2ᵏ)] ─classifier: (dense → ReLU → dropout) × hidden, dense─▶ [n, classes]
//! ```
//!
//! Two 3×3 convolutions see a 5×5 window and three see 7×7, with fewer weights and more
//! nonlinearities than one large kernel: VGG's lesson is that depth built from one small,
//! uniform block works. Every convolution pads by 1 (`Padding::Same`), so only the pooling
//! changes the resolution; a common pattern doubles the channels whenever it halves the side.
//!
//! | tensor | shape |
//! |---|---|
//! | input | `[n, in_channels, h, w]` with `[h, w]` the config's `image_size` |
//! | output | `[n, num_classes]` logits |
//!
//! Names follow torchvision's VGG: the convolutional part is the sequence `features` (`0`,
//! `1`, … in order: convolution, batch norm if on, ReLU, …, pooling) and the dense part the
//! sequence `classifier`, so parameters are `features.0.weight`, `classifier.0.weight`, ….
//! With batch normalisation the convolutions have no bias (the normalisation would cancel it).
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{Module, ModuleExt};
//! use nabla_models::VggConfig;
//! use nabla_tensor::{rng, DType, Tensor};
//! let vgg = VggConfig::new(3, [32, 32], 10).stage(2, 16).stage(2, 32).with_hidden(&[64]).init(&mut rng(0));
//! let y = vgg.forward(&Var::constant(Tensor::zeros(&[4, 3, 32, 32], DType::F32)));
//! assert_eq!(y.shape(), vec![4, 10]);
//! assert_eq!(vgg.named_parameters()[0].0, "features.0.weight");
//! ```

use nabla_autograd::Var;
use nabla_layers::{
    BatchNorm2dConfig, Conv2dConfig, DropoutConfig, Flatten, Initializer, LinearConfig, MaxPool2d, Module, Padding,
    ReLU, Sequential, Trace, Visitor,
};
use nabla_tensor::Rng;

use crate::call;

/// One stage of a [`Vgg`]: `convs` convolutions with `channels` output channels, then pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VggStage {
    /// Number of 3×3 convolutions.
    pub convs: usize,
    /// Output channels of each of them.
    pub channels: usize,
}

/// How to build a [`Vgg`]; see the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct VggConfig {
    /// Channels of the input images.
    pub in_channels: usize,
    /// `[h, w]` of the input images (fixes the classifier's input width).
    pub image_size: [usize; 2],
    /// The convolutional stages, first to last.
    pub stages: Vec<VggStage>,
    /// Whether batch normalisation follows each convolution (on by default).
    pub batch_norm: bool,
    /// Widths of the hidden dense layers (none by default).
    pub hidden: Vec<usize>,
    /// Dropout probability after each hidden dense layer (0.5 by default, as in VGG).
    pub dropout: f64,
    /// Classes of the output layer.
    pub num_classes: usize,
}

impl VggConfig {
    /// A network for `in_channels × image_size` images and `num_classes` classes, with no
    /// stages yet ([`stage`](Self::stage) adds them), batch normalisation on, no hidden dense
    /// layers, dropout 0.5 (used once hidden layers are added).
    pub fn new(in_channels: usize, image_size: [usize; 2], num_classes: usize) -> Self {
        VggConfig {
            in_channels,
            image_size,
            stages: Vec::new(),
            batch_norm: true,
            hidden: Vec::new(),
            dropout: 0.5,
            num_classes,
        }
    }

    /// A small VGG for 32×32 images such as CIFAR-10: stages of two convolutions at 32, 64
    /// and 128 channels (32 → 16 → 8 → 4 pixels), then one hidden layer of 256 units.
    pub fn small(in_channels: usize, num_classes: usize) -> Self {
        VggConfig::new(in_channels, [32, 32], num_classes).stage(2, 32).stage(2, 64).stage(2, 128).with_hidden(&[256])
    }

    /// Appends a stage of `convs` 3×3 convolutions with `channels` outputs, then a 2×2 max pool.
    pub fn stage(mut self, convs: usize, channels: usize) -> Self {
        self.stages.push(VggStage { convs, channels });
        self
    }

    /// Sets whether batch normalisation follows each convolution.
    pub fn with_batch_norm(mut self, batch_norm: bool) -> Self {
        self.batch_norm = batch_norm;
        self
    }

    /// Sets the widths of the hidden dense layers.
    pub fn with_hidden(mut self, hidden: &[usize]) -> Self {
        self.hidden = hidden.to_vec();
        self
    }

    /// Sets the dropout probability after each hidden dense layer.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    #[track_caller]
    pub fn with_dropout(mut self, p: f64) -> Self {
        assert!((0.0..=1.0).contains(&p), "VggConfig: the dropout probability {p} must be in [0, 1]");
        self.dropout = p;
        self
    }

    /// `[channels, h, w]` of the features after the last stage.
    pub fn feature_shape(&self) -> [usize; 3] {
        let halvings = self.stages.len() as u32;
        let channels = self.stages.last().map_or(self.in_channels, |s| s.channels);
        [channels, self.image_size[0] >> halvings, self.image_size[1] >> halvings]
    }

    /// Builds the network, drawing its weights from `rng`.
    ///
    /// # Panics
    /// If there is no stage, a stage has no convolution or no channels, or the image is too
    /// small for the number of poolings.
    #[track_caller]
    pub fn init(&self, rng: &mut Rng) -> Vgg {
        assert!(!self.stages.is_empty(), "VggConfig: add at least one stage with `.stage(convs, channels)`");
        assert!(
            self.stages.iter().all(|s| s.convs > 0 && s.channels > 0),
            "VggConfig: every stage needs at least one convolution and one channel, got {:?}",
            self.stages
        );
        let [channels, h, w] = self.feature_shape();
        assert!(
            h > 0 && w > 0,
            "VggConfig: {} stages halve a {:?} image {} times, which leaves nothing; use fewer stages or larger images",
            self.stages.len(),
            self.image_size,
            self.stages.len()
        );

        let mut features = Sequential::new();
        let mut c_in = self.in_channels;
        for stage in &self.stages {
            for _ in 0..stage.convs {
                let conv = Conv2dConfig::new(c_in, stage.channels, [3, 3])
                    .with_padding(Padding::Same)
                    .with_bias(!self.batch_norm)
                    .with_weight_init(Initializer::HeUniform)
                    .init(rng);
                features = features.add(conv);
                if self.batch_norm {
                    features = features.add(BatchNorm2dConfig::new(stage.channels).init(rng));
                }
                features = features.add(ReLU);
                c_in = stage.channels;
            }
            features = features.add(MaxPool2d::new([2, 2]));
        }

        let mut classifier = Sequential::new();
        let mut width = channels * h * w;
        for &hidden in &self.hidden {
            classifier =
                classifier.add(LinearConfig::new(width, hidden).with_weight_init(Initializer::HeUniform).init(rng));
            classifier = classifier.add(ReLU);
            if self.dropout > 0.0 {
                classifier = classifier.add(DropoutConfig::new(self.dropout).init(rng));
            }
            width = hidden;
        }
        classifier = classifier.add(LinearConfig::new(width, self.num_classes).init(rng));
        Vgg { features, classifier, config: self.clone() }
    }
}

/// A VGG-style network; see the [module docs](self).
pub struct Vgg {
    /// The convolutional stages: `[n, c, h, w]` → `[n, ch_k, h/2ᵏ, w/2ᵏ]`.
    pub features: Sequential,
    /// The dense layers on the flattened features.
    pub classifier: Sequential,
    config: VggConfig,
}

impl Vgg {
    /// The configuration the network was built from.
    pub fn config(&self) -> &VggConfig {
        &self.config
    }

    #[track_caller]
    fn run(&self, input: &Var, mut trace: Option<&mut Trace>) -> Var {
        let shape = input.shape();
        let (c, [h, w]) = (self.config.in_channels, self.config.image_size);
        assert!(
            shape.len() == 4 && shape[1..] == [c, h, w],
            "Vgg: expected input [n, {c}, {h}, {w}] (the config's image_size) but received {shape:?}"
        );
        let x = call("features", &self.features, input, trace.as_deref_mut());
        let x = call("flatten", &Flatten, &x, trace.as_deref_mut());
        call("classifier", &self.classifier, &x, trace)
    }
}

impl Module for Vgg {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        self.run(input, None)
    }

    fn kind(&self) -> &'static str {
        "Vgg"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.child("features", &self.features);
        visitor.child("classifier", &self.classifier);
    }

    fn set_training(&mut self, training: bool) {
        self.features.set_training(training);
        self.classifier.set_training(training);
    }

    fn forward_traced(&self, input: &Var, trace: &mut Trace) -> Var {
        self.run(input, Some(trace))
    }
}
