//! Element types a [`Tensor`] can hold.
//!
//! nabla computes in `f32` (fast, what training uses) and `f64` (what gradient checks use,
//! because finite differences need the extra digits). A tensor carries its dtype at run time,
//! as in PyTorch, so models and layers are plain types with no element-type parameter; kernels
//! are written once, generically over [`Element`], and dispatched on the dtype.

use std::fmt::{Debug, Display};
use std::iter::Sum;

use ndarray::{ArcArray, IxDyn, LinalgScalar, ScalarOperand};
use num_traits::{Float, FromPrimitive};

use crate::tensor::{Data, Tensor};

/// The run-time element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit IEEE float: the default for training and inference.
    F32,
    /// 64-bit IEEE float: used by gradient checks.
    F64,
}

impl DType {
    /// Size of one element in bytes.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 => 8,
        }
    }
}

impl Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
        })
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A scalar type a tensor can hold: `f32` or `f64` (sealed).
///
/// Kernels are generic over `Element`; [`Tensor`] dispatches to them on its [`DType`].
pub trait Element:
    Float
    + FromPrimitive
    + ScalarOperand
    + LinalgScalar
    + Send
    + Sync
    + Debug
    + Display
    + Default
    + Sum
    + sealed::Sealed
    + 'static
{
    /// The run-time tag of this type.
    const DTYPE: DType;
    /// Wraps a shared array of this element type into a tensor (no copy).
    fn wrap(array: ArcArray<Self, IxDyn>) -> Tensor;
    /// Borrows the array inside `tensor` if it holds this element type.
    fn unwrap(tensor: &Tensor) -> Option<&ArcArray<Self, IxDyn>>;
    /// Borrows the array inside `tensor` mutably if it holds this element type.
    fn unwrap_mut(tensor: &mut Tensor) -> Option<&mut ArcArray<Self, IxDyn>>;
    /// Converts from `f64` (rounding for `f32`).
    fn of(value: f64) -> Self;
    /// Converts to `f64` (exactly).
    fn to_f64_exact(self) -> f64;
    /// The error function `erf(x) = 2/√π ∫₀ˣ e^(−t²) dt`.
    fn erf(self) -> Self;
    /// The logistic sigmoid `σ(x) = 1 / (1 + e⁻ˣ)` as the fused kernels evaluate it: for `f32`
    /// [`vector_math::sigmoid_f32`](crate::vector_math::sigmoid_f32), which vectorises.
    fn sigmoid(self) -> Self;
    /// `tanh` as the fused kernels evaluate it: for `f64` the standard library's, for `f32`
    /// [`vector_math::tanh_f32`](crate::vector_math::tanh_f32), which vectorises.
    fn tanh_vectorised(self) -> Self;
    /// `eˣ` as the fused kernels evaluate it: for `f32`
    /// [`vector_math::exp_f32`](crate::vector_math::exp_f32) (vectorises; 0 below −87, `e⁸⁷`
    /// above 87, so only for arguments that cannot overflow, such as `x − max`).
    fn exp_vectorised(self) -> Self;
    /// `erf` as the kernels evaluate it: for `f32`
    /// [`vector_math::erf_f32`](crate::vector_math::erf_f32), which vectorises.
    fn erf_vectorised(self) -> Self;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    fn wrap(array: ArcArray<Self, IxDyn>) -> Tensor {
        Tensor::from_data(Data::F32(array))
    }
    fn unwrap(tensor: &Tensor) -> Option<&ArcArray<Self, IxDyn>> {
        match &tensor.data {
            Data::F32(a) => Some(a),
            Data::F64(_) => None,
        }
    }
    fn unwrap_mut(tensor: &mut Tensor) -> Option<&mut ArcArray<Self, IxDyn>> {
        match &mut tensor.data {
            Data::F32(a) => Some(a),
            Data::F64(_) => None,
        }
    }
    fn of(value: f64) -> Self {
        value as f32
    }
    fn to_f64_exact(self) -> f64 {
        self as f64
    }
    fn erf(self) -> Self {
        libm::erff(self)
    }
    #[inline(always)]
    fn sigmoid(self) -> Self {
        crate::vector_math::sigmoid_f32(self)
    }
    #[inline(always)]
    fn tanh_vectorised(self) -> Self {
        crate::vector_math::tanh_f32(self)
    }
    #[inline(always)]
    fn exp_vectorised(self) -> Self {
        crate::vector_math::exp_f32(self)
    }
    #[inline(always)]
    fn erf_vectorised(self) -> Self {
        crate::vector_math::erf_f32(self)
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;
    fn wrap(array: ArcArray<Self, IxDyn>) -> Tensor {
        Tensor::from_data(Data::F64(array))
    }
    fn unwrap(tensor: &Tensor) -> Option<&ArcArray<Self, IxDyn>> {
        match &tensor.data {
            Data::F64(a) => Some(a),
            Data::F32(_) => None,
        }
    }
    fn unwrap_mut(tensor: &mut Tensor) -> Option<&mut ArcArray<Self, IxDyn>> {
        match &mut tensor.data {
            Data::F64(a) => Some(a),
            Data::F32(_) => None,
        }
    }
    fn of(value: f64) -> Self {
        value
    }
    fn to_f64_exact(self) -> f64 {
        self
    }
    fn erf(self) -> Self {
        libm::erf(self)
    }
    #[inline(always)]
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + (-self).exp())
    }
    #[inline(always)]
    fn tanh_vectorised(self) -> Self {
        self.tanh()
    }
    #[inline(always)]
    fn exp_vectorised(self) -> Self {
        self.exp()
    }
    #[inline(always)]
    fn erf_vectorised(self) -> Self {
        libm::erf(self)
    }
}
