//! The basic residual block of ResNet-18/34 and the CIFAR ResNets: two 3×3 convolutions and a
//! shortcut.
//!
//! ```text
//!  x ─┬─ conv1 3×3 (stride s) ─ bn1 ─ ReLU ─ conv2 3×3 ─ bn2 ─┐
//!     │                                                        + ─ ReLU ─▶ y
//!     └──────── identity, or downsample: conv 1×1 (stride s) ─ bn ─┘
//! ```
//!
//! | tensor | shape |
//! |---|---|
//! | input `x` | `[n, in_channels, h, w]` |
//! | output `y` | `[n, width, ⌈h/s⌉, ⌈w/s⌉]` |
//!
//! The block learns a *residual* `F(x)` that is added to its input: `y = ReLU(F(x) + x)`. When
//! the stride is not 1 or the channels change, `x` cannot be added as it is, and a *projection
//! shortcut* — a strided 1×1 convolution and a batch norm, the child `downsample` — maps it to
//! the output's shape ("option B" of the paper). Convolutions have no bias, as each is followed
//! by a batch norm. Parameters: `9·in·width + 9·width² + 4·width` (`+ in·width + 2·width` with a
//! projection), named `conv1.weight`, `bn1.weight`, …, `downsample.0.weight`,
//! `downsample.1.weight` as in torchvision.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{Module, ModuleExt};
//! use nabla_models::BasicBlockConfig;
//! use nabla_tensor::{rng, DType, Tensor};
//! let block = BasicBlockConfig::new(16, 32).with_stride(2).init(&mut rng(0));
//! let y = block.forward(&Var::constant(Tensor::zeros(&[2, 16, 32, 32], DType::F32)));
//! assert_eq!(y.shape(), vec![2, 32, 16, 16]);
//! assert!(block.downsample.is_some());
//! assert_eq!(block.num_parameters(), 9 * 16 * 32 + 9 * 32 * 32 + 4 * 32 + 16 * 32 + 2 * 32);
//! ```

use nabla_autograd::Var;
use nabla_layers::{BatchNorm2d, Conv2d, Module, Sequential, Trace, Visitor};
use nabla_tensor::Rng;

use super::{batch_norm, conv, projection, zero_scale};
use crate::call;

/// How to build a [`BasicBlock`]; see the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasicBlockConfig {
    /// Channels of the input.
    pub in_channels: usize,
    /// Channels of both convolutions and of the output.
    pub width: usize,
    /// Stride of the first convolution and of the projection (1 or 2).
    pub stride: usize,
    /// Start `bn2`'s scale `γ` at zero, so the block starts as (a ReLU of) its shortcut.
    pub zero_init_residual: bool,
}

impl BasicBlockConfig {
    /// `in_channels → width` with stride 1.
    pub fn new(in_channels: usize, width: usize) -> Self {
        BasicBlockConfig { in_channels, width, stride: 1, zero_init_residual: false }
    }

    /// Sets the stride.
    pub fn with_stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// Sets whether `bn2`'s scale starts at zero.
    pub fn with_zero_init_residual(mut self, zero: bool) -> Self {
        self.zero_init_residual = zero;
        self
    }

    /// Output channels: `width` (the expansion of a basic block is 1).
    pub fn out_channels(&self) -> usize {
        self.width
    }

    /// Builds the block, drawing its weights from `rng` (He-normal convolutions).
    ///
    /// # Panics
    /// If a size or the stride is zero.
    #[track_caller]
    pub fn init(&self, rng: &mut Rng) -> BasicBlock {
        let (c_in, width, stride) = (self.in_channels, self.width, self.stride);
        assert!(
            c_in > 0 && width > 0 && stride > 0,
            "BasicBlockConfig: in_channels ({c_in}), width ({width}) and stride ({stride}) must be positive"
        );
        let block = BasicBlock {
            conv1: conv(c_in, width, 3, stride, rng),
            bn1: batch_norm(width, rng),
            conv2: conv(width, width, 3, 1, rng),
            bn2: batch_norm(width, rng),
            downsample: (stride != 1 || c_in != width).then(|| projection(c_in, width, stride, rng)),
        };
        if self.zero_init_residual {
            zero_scale(&block.bn2);
        }
        block
    }
}

/// The basic residual block; see the [module docs](self).
pub struct BasicBlock {
    /// 3×3, `in → width`, with the block's stride.
    pub conv1: Conv2d,
    /// Batch norm after `conv1`.
    pub bn1: BatchNorm2d,
    /// 3×3, `width → width`.
    pub conv2: Conv2d,
    /// Batch norm after `conv2`.
    pub bn2: BatchNorm2d,
    /// The projection shortcut (`0`: 1×1 convolution, `1`: batch norm), when the shape changes.
    pub downsample: Option<Sequential>,
}

impl BasicBlock {
    #[track_caller]
    fn run(&self, x: &Var, mut trace: Option<&mut Trace>) -> Var {
        let shape = x.shape();
        let c_in = self.conv1.in_channels();
        assert!(
            shape.len() == 4 && shape[1] == c_in,
            "BasicBlock: expected input [n, {c_in}, h, w] but received {shape:?}"
        );
        let out = call("conv1", &self.conv1, x, trace.as_deref_mut());
        let out = call("bn1", &self.bn1, &out, trace.as_deref_mut()).relu();
        let out = call("conv2", &self.conv2, &out, trace.as_deref_mut());
        let out = call("bn2", &self.bn2, &out, trace.as_deref_mut());
        let shortcut = match &self.downsample {
            Some(projection) => call("downsample", projection, x, trace),
            None => x.clone(),
        };
        out.add(&shortcut).relu()
    }
}

impl Module for BasicBlock {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        self.run(input, None)
    }

    fn kind(&self) -> &'static str {
        "BasicBlock"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.child("conv1", &self.conv1);
        visitor.child("bn1", &self.bn1);
        visitor.child("conv2", &self.conv2);
        visitor.child("bn2", &self.bn2);
        if let Some(projection) = &self.downsample {
            visitor.child("downsample", projection);
        }
    }

    fn set_training(&mut self, training: bool) {
        self.bn1.set_training(training);
        self.bn2.set_training(training);
        if let Some(projection) = &mut self.downsample {
            projection.set_training(training);
        }
    }

    fn forward_traced(&self, input: &Var, trace: &mut Trace) -> Var {
        self.run(input, Some(trace))
    }
}
