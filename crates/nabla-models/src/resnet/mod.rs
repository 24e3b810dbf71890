//! Residual networks (He, Zhang, Ren & Sun, *Deep Residual Learning for Image Recognition*,
//! 2015): a stem, stages of residual blocks, global average pooling and one dense layer.
//!
//! ```text
//! [n, 3, H, W] ─stem─▶ layer1 ─▶ layer2 ─▶ … ─▶ layerK ─avgpool─▶ [n, C] ─fc─▶ [n, classes]
//!                      (stride 1)  (stride 2: half the side, the blocks twice as wide)
//! ```
//!
//! Each stage is a sequence of blocks — [`BasicBlock`] (two 3×3 convolutions) or [`Bottleneck`]
//! (1×1, 3×3, 1×1) — whose output is `ReLU(F(x) + x)`: a block only has to learn a correction
//! `F` to its input, and the gradient reaches early layers through the sums unchanged, which is
//! what makes 50, 100 or 1000 layers trainable where a plain stack of that depth trains worse
//! than a shallower one. Every stage after the first halves the side with a stride-2 first
//! block, whose shortcut is then a projection (a strided 1×1 convolution and a batch norm).
//!
//! Two families, the two [`Stem`]s:
//!
//! | family | stem | stages (blocks × width) | input | head |
//! |---|---|---|---|---|
//! | CIFAR (paper §4.2): ResNet-20/32/56, depth `6n + 2` | 3×3 conv 16, BN, ReLU | `n×16, n×32, n×64`, basic | `[n, 3, 32, 32]` | 10 |
//! | ImageNet: ResNet-18 | 7×7/2 conv 64, BN, ReLU, 3×3/2 max pool | `2×64, 2×128, 2×256, 2×512`, basic | `[n, 3, 224, 224]` | 1000 |
//! | ImageNet: ResNet-34 | same | `3×64, 4×128, 6×256, 3×512`, basic | same | 1000 |
//! | ImageNet: ResNet-50 | same | `3×64, 4×128, 6×256, 3×512`, bottleneck (output 4× width) | same | 1000 |
//!
//! (ResNet-101 and -152 are `[3, 4, 23, 3]` and `[3, 8, 36, 3]` bottleneck stages:
//! `ResNetConfig::new(BlockKind::Bottleneck, Stem::ImageNet, &[(3, 64), (4, 128), (23, 256), (3, 512)], 1000)`.)
//!
//! **Parameter counts** (learned scalars; batch-norm running statistics are buffers, not
//! counted), checked by this crate's tests:
//!
//! | model | parameters | note |
//! |---|---|---|
//! | ResNet-20 | 272,474 | the paper's "0.27 M" |
//! | ResNet-32 | 466,906 | "0.46 M" |
//! | ResNet-56 | 855,770 | "0.85 M" |
//! | ResNet-18 | 11,689,512 | torchvision's figure |
//! | ResNet-34 | 21,797,672 | torchvision's figure |
//! | ResNet-50 | 25,557,032 | torchvision's figure |
//!
//! The CIFAR networks here use projection shortcuts where the shape changes ("option B"), as
//! the benchmark workload W3 specifies; the paper's CIFAR experiments use option A (the
//! shortcut subsamples and pads the new channels with zeros, no parameters), which gives
//! 269,722 for ResNet-20. The two projections add `16·32 + 2·32 + 32·64 + 2·64 = 2,752`.
//!
//! Convolutions have no bias (each is followed by a batch norm) and start He-normal
//! (`N(0, 2/fan_in)`); batch norms start at `γ = 1, β = 0`, or `γ = 0` for the last one of each
//! block with [`ResNetConfig::with_zero_init_residual`] (Goyal et al., 2017), so that every
//! block starts as its shortcut. Names follow torchvision: `conv1.weight`, `bn1.running_mean`,
//! `layer1.0.conv1.weight`, `layer2.0.downsample.0.weight`, `fc.weight`.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{Module, ModuleExt};
//! use nabla_models::ResNetConfig;
//! use nabla_tensor::{rng, DType, Tensor};
//! let mut model = ResNetConfig::resnet20(10).init(&mut rng(0));
//! model.eval();
//! let logits = model.forward(&Var::constant(Tensor::zeros(&[2, 3, 32, 32], DType::F32)));
//! assert_eq!(logits.shape(), vec![2, 10]);
//! assert_eq!(model.named_parameters()[3].0, "layer1.0.conv1.weight"); // after conv1, bn1.weight, bn1.bias
//! ```

pub mod basic_block;
pub mod bottleneck;

pub use basic_block::{BasicBlock, BasicBlockConfig};
pub use bottleneck::{Bottleneck, BottleneckConfig, EXPANSION};

use nabla_autograd::Var;
use nabla_layers::{
    BatchNorm2d, BatchNorm2dConfig, Conv2d, Conv2dConfig, GlobalAvgPool2d, Initializer, Linear, LinearConfig,
    MaxPool2d, Module, Padding, ReLU, Sequential, Trace, Visitor,
};
use nabla_tensor::{Rng, Tensor};

use crate::call;

/// A `k × k` convolution `c_in → c_out` with padding `k/2` (PyTorch's), no bias, He-normal.
fn conv(c_in: usize, c_out: usize, k: usize, stride: usize, rng: &mut Rng) -> Conv2d {
    Conv2dConfig::new(c_in, c_out, [k, k])
        .with_stride([stride, stride])
        .with_padding(Padding::Explicit([k / 2, k / 2]))
        .with_bias(false)
        .with_weight_init(Initializer::HeNormal)
        .init(rng)
}

fn batch_norm(channels: usize, rng: &mut Rng) -> BatchNorm2d {
    BatchNorm2dConfig::new(channels).init(rng)
}

/// The projection shortcut: `0` a strided 1×1 convolution, `1` a batch norm.
fn projection(c_in: usize, c_out: usize, stride: usize, rng: &mut Rng) -> Sequential {
    Sequential::new().add(conv(c_in, c_out, 1, stride, rng)).add(batch_norm(c_out, rng))
}

/// Sets a batch norm's scale `γ` to zero.
fn zero_scale(bn: &BatchNorm2d) {
    if let Some(gamma) = &bn.weight {
        gamma.set_value(Tensor::zeros(gamma.shape(), gamma.dtype()));
    }
}

/// Which residual block a [`ResNet`] is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// [`BasicBlock`]: two 3×3 convolutions, output channels = width.
    Basic,
    /// [`Bottleneck`]: 1×1, 3×3, 1×1, output channels = 4·width.
    Bottleneck,
}

impl BlockKind {
    /// Output channels per unit of width: 1 or 4.
    pub fn expansion(self) -> usize {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => EXPANSION,
        }
    }

    /// A block of this kind, `in_channels → width·expansion`.
    pub fn build(
        self,
        in_channels: usize,
        width: usize,
        stride: usize,
        zero_init: bool,
        rng: &mut Rng,
    ) -> Box<dyn Module> {
        match self {
            BlockKind::Basic => Box::new(
                BasicBlockConfig::new(in_channels, width)
                    .with_stride(stride)
                    .with_zero_init_residual(zero_init)
                    .init(rng),
            ),
            BlockKind::Bottleneck => Box::new(
                BottleneckConfig::new(in_channels, width)
                    .with_stride(stride)
                    .with_zero_init_residual(zero_init)
                    .init(rng),
            ),
        }
    }
}

/// The layers before the first stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stem {
    /// 3×3 convolution (stride 1), BN, ReLU: keeps 32×32 CIFAR images at full resolution.
    Cifar,
    /// 7×7 convolution (stride 2, padding 3), BN, ReLU, 3×3 max pool (stride 2, padding 1):
    /// a 224×224 image becomes 56×56 before the first stage.
    ImageNet,
}

/// One stage of a [`ResNet`]: `blocks` blocks of width `width`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage {
    /// Number of blocks.
    pub blocks: usize,
    /// The blocks' width (output channels are `width · expansion`).
    pub width: usize,
}

/// How to build a [`ResNet`]; see the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct ResNetConfig {
    /// The block type.
    pub block: BlockKind,
    /// The stem.
    pub stem: Stem,
    /// Channels of the input images (3).
    pub in_channels: usize,
    /// Output channels of the stem's convolution (by default the first stage's width).
    pub stem_channels: usize,
    /// The stages; the first has stride 1, every later one stride 2.
    pub stages: Vec<Stage>,
    /// Classes of the dense head.
    pub num_classes: usize,
    /// Whether the last batch norm of every block starts with `γ = 0`.
    pub zero_init_residual: bool,
}

impl ResNetConfig {
    /// A ResNet of `block`s with `stages` given as `(blocks, width)` pairs, for 3-channel
    /// images and `num_classes` classes; the stem has as many channels as the first stage.
    ///
    /// # Panics
    /// If `stages` is empty.
    #[track_caller]
    pub fn new(block: BlockKind, stem: Stem, stages: &[(usize, usize)], num_classes: usize) -> Self {
        assert!(!stages.is_empty(), "ResNetConfig: a ResNet needs at least one stage");
        ResNetConfig {
            block,
            stem,
            in_channels: 3,
            stem_channels: stages[0].1,
            stages: stages.iter().map(|&(blocks, width)| Stage { blocks, width }).collect(),
            num_classes,
            zero_init_residual: false,
        }
    }

    /// The CIFAR ResNet of `depth = 6n + 2` layers (20, 32, 44, 56, 110, …): three stages of
    /// `n` basic blocks at 16, 32 and 64 channels.
    ///
    /// # Panics
    /// If `depth` is not `6n + 2` for some `n ≥ 1`.
    #[track_caller]
    pub fn cifar(depth: usize, num_classes: usize) -> Self {
        assert!(
            depth >= 8 && (depth - 2).is_multiple_of(6),
            "ResNetConfig::cifar: the depth must be 6n + 2 (20, 32, 44, 56, 110, …), got {depth}"
        );
        let n = (depth - 2) / 6;
        ResNetConfig::new(BlockKind::Basic, Stem::Cifar, &[(n, 16), (n, 32), (n, 64)], num_classes)
    }

    /// ResNet-20 for 32×32 images (272,474 parameters with 10 classes).
    pub fn resnet20(num_classes: usize) -> Self {
        ResNetConfig::cifar(20, num_classes)
    }

    /// ResNet-32 for 32×32 images.
    pub fn resnet32(num_classes: usize) -> Self {
        ResNetConfig::cifar(32, num_classes)
    }

    /// ResNet-56 for 32×32 images.
    pub fn resnet56(num_classes: usize) -> Self {
        ResNetConfig::cifar(56, num_classes)
    }

    /// ResNet-18 (11,689,512 parameters with 1000 classes).
    pub fn resnet18(num_classes: usize) -> Self {
        ResNetConfig::new(BlockKind::Basic, Stem::ImageNet, &[(2, 64), (2, 128), (2, 256), (2, 512)], num_classes)
    }

    /// ResNet-34 (21,797,672 parameters with 1000 classes).
    pub fn resnet34(num_classes: usize) -> Self {
        ResNetConfig::new(BlockKind::Basic, Stem::ImageNet, &[(3, 64), (4, 128), (6, 256), (3, 512)], num_classes)
    }

    /// ResNet-50 (25,557,032 parameters with 1000 classes).
    pub fn resnet50(num_classes: usize) -> Self {
        ResNetConfig::new(BlockKind::Bottleneck, Stem::ImageNet, &[(3, 64), (4, 128), (6, 256), (3, 512)], num_classes)
    }

    /// Sets the number of input channels.
    pub fn with_in_channels(mut self, in_channels: usize) -> Self {
        self.in_channels = in_channels;
        self
    }

    /// Sets the stem's output channels.
    pub fn with_stem_channels(mut self, stem_channels: usize) -> Self {
        self.stem_channels = stem_channels;
        self
    }

    /// Sets whether the last batch norm of every block starts with `γ = 0`.
    pub fn with_zero_init_residual(mut self, zero: bool) -> Self {
        self.zero_init_residual = zero;
        self
    }

    /// Channels of the pooled features the head reads: last width × expansion.
    pub fn out_features(&self) -> usize {
        self.stages.last().map_or(self.stem_channels, |s| s.width * self.block.expansion())
    }

    /// Builds the network, drawing its weights from `rng`.
    ///
    /// # Panics
    /// If there is no stage, or a size is zero.
    #[track_caller]
    pub fn init(&self, rng: &mut Rng) -> ResNet {
        assert!(!self.stages.is_empty(), "ResNetConfig: a ResNet needs at least one stage");
        assert!(
            self.in_channels > 0
                && self.stem_channels > 0
                && self.num_classes > 0
                && self.stages.iter().all(|s| s.blocks > 0 && s.width > 0),
            "ResNetConfig: every size must be positive: in_channels {}, stem_channels {}, num_classes {}, stages {:?}",
            self.in_channels,
            self.stem_channels,
            self.num_classes,
            self.stages
        );
        let (kernel, stride) = match self.stem {
            Stem::Cifar => (3, 1),
            Stem::ImageNet => (7, 2),
        };
        let conv1 = conv(self.in_channels, self.stem_channels, kernel, stride, rng);
        let bn1 = batch_norm(self.stem_channels, rng);
        let maxpool = (self.stem == Stem::ImageNet)
            .then(|| MaxPool2d::new([3, 3]).with_stride([2, 2]).with_padding(Padding::Explicit([1, 1])));

        let mut channels = self.stem_channels;
        let mut stages = Vec::with_capacity(self.stages.len());
        for (i, stage) in self.stages.iter().enumerate() {
            let mut layer = Sequential::new();
            for b in 0..stage.blocks {
                let stride = if i > 0 && b == 0 { 2 } else { 1 };
                layer = layer.add_boxed(self.block.build(channels, stage.width, stride, self.zero_init_residual, rng));
                channels = stage.width * self.block.expansion();
            }
            stages.push(layer);
        }
        let fc = LinearConfig::new(channels, self.num_classes).init(rng);
        ResNet { conv1, bn1, maxpool, stages, fc, config: self.clone() }
    }
}

/// A residual network; see the [module docs](self).
pub struct ResNet {
    /// The stem's convolution.
    pub conv1: Conv2d,
    /// The stem's batch norm.
    pub bn1: BatchNorm2d,
    maxpool: Option<MaxPool2d>,
    stages: Vec<Sequential>,
    /// The dense head, `[n, out_features] → [n, classes]`: replace it to fine-tune the network
    /// on other classes (`model.fc = LinearConfig::new(64, 5).init(&mut rng)`).
    pub fc: Linear,
    config: ResNetConfig,
}

impl ResNet {
    /// The configuration the network was built from.
    pub fn config(&self) -> &ResNetConfig {
        &self.config
    }

    /// The stages `layer1`, `layer2`, …, each a sequence of blocks named `0`, `1`, ….
    pub fn stages(&self) -> &[Sequential] {
        &self.stages
    }

    /// The pooled features the head reads, `[n, out_features]`: everything but `fc`. For
    /// transfer learning, or to look at what the network has learned to see.
    #[track_caller]
    pub fn features(&self, input: &Var) -> Var {
        self.run(input, None, false)
    }

    #[track_caller]
    fn run(&self, input: &Var, mut trace: Option<&mut Trace>, head: bool) -> Var {
        let shape = input.shape();
        let c = self.config.in_channels;
        assert!(shape.len() == 4 && shape[1] == c, "ResNet: expected input [n, {c}, h, w] but received {shape:?}");
        let x = call("conv1", &self.conv1, input, trace.as_deref_mut());
        let x = call("bn1", &self.bn1, &x, trace.as_deref_mut());
        let mut x = call("relu", &ReLU, &x, trace.as_deref_mut());
        if let Some(pool) = &self.maxpool {
            x = call("maxpool", pool, &x, trace.as_deref_mut());
        }
        for (i, stage) in self.stages.iter().enumerate() {
            x = call(&format!("layer{}", i + 1), stage, &x, trace.as_deref_mut());
        }
        let x = call("avgpool", &GlobalAvgPool2d, &x, trace.as_deref_mut());
        if head {
            call("fc", &self.fc, &x, trace)
        } else {
            x
        }
    }
}

impl Module for ResNet {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        self.run(input, None, true)
    }

    fn kind(&self) -> &'static str {
        "ResNet"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.child("conv1", &self.conv1);
        visitor.child("bn1", &self.bn1);
        for (i, stage) in self.stages.iter().enumerate() {
            visitor.child(&format!("layer{}", i + 1), stage);
        }
        visitor.child("fc", &self.fc);
    }

    fn set_training(&mut self, training: bool) {
        self.bn1.set_training(training);
        for stage in &mut self.stages {
            stage.set_training(training);
        }
        self.fc.set_training(training);
    }

    fn forward_traced(&self, input: &Var, trace: &mut Trace) -> Var {
        self.run(input, Some(trace), true)
    }
}
