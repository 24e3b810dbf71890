//! The bottleneck residual block of ResNet-50/101/152: 1×1 → 3×3 → 1×1 convolutions, the
//! middle one working on 4× fewer channels than the block's output.
//!
//! ```text
//!  x ─┬─ conv1 1×1 ─ bn1 ─ ReLU ─ conv2 3×3 (stride s) ─ bn2 ─ ReLU ─ conv3 1×1 ─ bn3 ─┐
//!     │                                                                                + ─ ReLU ─▶ y
//!     └──────────────── identity, or downsample: conv 1×1 (stride s) ─ bn ─────────────┘
//! ```
//!
//! | tensor | shape |
//! |---|---|
//! | input `x` | `[n, in_channels, h, w]` |
//! | inside | `[n, width, …]` |
//! | output `y` | `[n, 4·width, ⌈h/s⌉, ⌈w/s⌉]` (the expansion is 4) |
//!
//! The first 1×1 convolution squeezes the channels to `width`, the 3×3 convolution works at
//! that narrow width (where a 3×3 kernel is 9× dearer than a 1×1), and the last 1×1
//! convolution expands back to `4·width`. At 256 channels this costs about as much as a basic
//! block at 64, with three nonlinearities instead of two.
//!
//! The stride sits on the 3×3 convolution, as in torchvision ("ResNet v1.5"); the paper put it
//! on the first 1×1, which skips three of every four pixels before looking at them. The
//! parameter count is the same. A projection shortcut (`downsample`: strided 1×1 convolution
//! and batch norm) is used when the stride is not 1 or the channels change — which includes
//! the first block of the first stage, `64 → 256`. Names: `conv1`, `bn1`, …, `conv3`, `bn3`,
//! `downsample.0`, `downsample.1`.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{Module, ModuleExt};
//! use nabla_models::BottleneckConfig;
//! use nabla_tensor::{rng, DType, Tensor};
//! let block = BottleneckConfig::new(256, 128).with_stride(2).init(&mut rng(0));
//! let y = block.forward(&Var::constant(Tensor::zeros(&[1, 256, 8, 8], DType::F32)));
//! assert_eq!(y.shape(), vec![1, 512, 4, 4]);
//! let (c, w) = (256, 128);
//! assert_eq!(block.num_parameters(), c * w + 9 * w * w + w * 4 * w + 2 * (w + w + 4 * w) + c * 4 * w + 2 * 4 * w);
//! ```

use nabla_autograd::Var;
use nabla_layers::{BatchNorm2d, Conv2d, Module, Sequential, Trace, Visitor};
use nabla_tensor::Rng;

use super::{batch_norm, conv, projection, zero_scale};
use crate::call;

/// Output channels per unit of a bottleneck block's width.
pub const EXPANSION: usize = 4;

/// How to build a [`Bottleneck`] block; see the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BottleneckConfig {
    /// Channels of the input.
    pub in_channels: usize,
    /// Channels of the narrow 3×3 convolution; the output has `4·width`.
    pub width: usize,
    /// Stride of the 3×3 convolution and of the projection (1 or 2).
    pub stride: usize,
    /// Start `bn3`'s scale `γ` at zero, so the block starts as (a ReLU of) its shortcut.
    pub zero_init_residual: bool,
}

impl BottleneckConfig {
    /// `in_channels → width → 4·width` with stride 1.
    pub fn new(in_channels: usize, width: usize) -> Self {
        BottleneckConfig { in_channels, width, stride: 1, zero_init_residual: false }
    }

    /// Sets the stride.
    pub fn with_stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// Sets whether `bn3`'s scale starts at zero.
    pub fn with_zero_init_residual(mut self, zero: bool) -> Self {
        self.zero_init_residual = zero;
        self
    }

    /// Output channels: `4·width`.
    pub fn out_channels(&self) -> usize {
        EXPANSION * self.width
    }

    /// Builds the block, drawing its weights from `rng` (He-normal convolutions).
    ///
    /// # Panics
    /// If a size or the stride is zero.
    #[track_caller]
    pub fn init(&self, rng: &mut Rng) -> Bottleneck {
        let (c_in, width, stride, c_out) = (self.in_channels, self.width, self.stride, self.out_channels());
        assert!(
            c_in > 0 && width > 0 && stride > 0,
            "BottleneckConfig: in_channels ({c_in}), width ({width}) and stride ({stride}) must be positive"
        );
        let block = Bottleneck {
            conv1: conv(c_in, width, 1, 1, rng),
            bn1: batch_norm(width, rng),
            conv2: conv(width, width, 3, stride, rng),
            bn2: batch_norm(width, rng),
            conv3: conv(width, c_out, 1, 1, rng),
            bn3: batch_norm(c_out, rng),
            downsample: (stride != 1 || c_in != c_out).then(|| projection(c_in, c_out, stride, rng)),
        };
        if self.zero_init_residual {
            zero_scale(&block.bn3);
        }
        block
    }
}

/// The bottleneck residual block; see the [module docs](self).
pub struct Bottleneck {
    /// 1×1, `in → width`.
    pub conv1: Conv2d,
    /// Batch norm after `conv1`.
    pub bn1: BatchNorm2d,
    /// 3×3, `width → width`, with the block's stride.
    pub conv2: Conv2d,
    /// Batch norm after `conv2`.
    pub bn2: BatchNorm2d,
    /// 1×1, `width → 4·width`.
    pub conv3: Conv2d,
    /// Batch norm after `conv3`.
    pub bn3: BatchNorm2d,
    /// The projection shortcut (`0`: 1×1 convolution, `1`: batch norm), when the shape changes.
    pub downsample: Option<Sequential>,
}

impl Bottleneck {
    #[track_caller]
    fn run(&self, x: &Var, mut trace: Option<&mut Trace>) -> Var {
        let shape = x.shape();
        let c_in = self.conv1.in_channels();
        assert!(
            shape.len() == 4 && shape[1] == c_in,
            "Bottleneck: expected input [n, {c_in}, h, w] but received {shape:?}"
        );
        let out = call("conv1", &self.conv1, x, trace.as_deref_mut());
        let out = call("bn1", &self.bn1, &out, trace.as_deref_mut()).relu();
        let out = call("conv2", &self.conv2, &out, trace.as_deref_mut());
        let out = call("bn2", &self.bn2, &out, trace.as_deref_mut()).relu();
        let out = call("conv3", &self.conv3, &out, trace.as_deref_mut());
        let out = call("bn3", &self.bn3, &out, trace.as_deref_mut());
        let shortcut = match &self.downsample {
            Some(projection) => call("downsample", projection, x, trace),
            None => x.clone(),
        };
        out.add(&shortcut).relu()
    }
}

impl Module for Bottleneck {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        self.run(input, None)
    }

    fn kind(&self) -> &'static str {
        "Bottleneck"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.child("conv1", &self.conv1);
        visitor.child("bn1", &self.bn1);
        visitor.child("conv2", &self.conv2);
        visitor.child("bn2", &self.bn2);
        visitor.child("conv3", &self.conv3);
        visitor.child("bn3", &self.bn3);
        if let Some(projection) = &self.downsample {
            visitor.child("downsample", projection);
        }
    }

    fn set_training(&mut self, training: bool) {
        self.bn1.set_training(training);
        self.bn2.set_training(training);
        self.bn3.set_training(training);
        if let Some(projection) = &mut self.downsample {
            projection.set_training(training);
        }
    }

    fn forward_traced(&self, input: &Var, trace: &mut Trace) -> Var {
        self.run(input, Some(trace))
    }
}
