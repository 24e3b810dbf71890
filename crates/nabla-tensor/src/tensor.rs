//! The [`Tensor`] type: a dynamic-rank, reference-counted n-dimensional array of `f32` or `f64`.
//!
//! A tensor is an [`ndarray::ArcArray`] with its dtype known at run time. Cloning a tensor is
//! cheap (it shares the buffer); operations return new tensors and never change their inputs.
//! Views such as [`Tensor::permute`] or [`Tensor::slice`] share the buffer too, with other strides.
//!
//! ```
//! use nabla_tensor::Tensor;
//! let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
//! assert_eq!(x.shape(), &[2, 3]);
//! let y = x.mul_scalar(2.0).sum_all();
//! assert_eq!(y.to_scalar(), 42.0);
//! ```

use std::borrow::Cow;
use std::fmt;

use ndarray::{ArcArray, ArrayBase, ArrayD, ArrayViewD, DataOwned, IxDyn};

use crate::dtype::{DType, Element};

#[derive(Clone)]
pub(crate) enum Data {
    F32(ArcArray<f32, IxDyn>),
    F64(ArcArray<f64, IxDyn>),
}

/// A dynamic-rank n-dimensional array of `f32` or `f64`; see the [module docs](self).
#[derive(Clone)]
pub struct Tensor {
    pub(crate) data: Data,
}

/// Runs a dtype-generic expression on the array inside a tensor.
///
/// `dispatch!(t, a => expr)` binds `a: &ArcArray<E, IxDyn>` for `E = f32` or `f64` and
/// evaluates `expr` (written once, compiled for both types).
macro_rules! dispatch {
    ($tensor:expr, $a:ident => $body:expr) => {
        match &$tensor.data {
            $crate::tensor::Data::F32($a) => $body,
            $crate::tensor::Data::F64($a) => $body,
        }
    };
}

/// Like [`dispatch!`] for two tensors that must share a dtype; `op` names the operation in the
/// panic message when they do not.
macro_rules! dispatch2 {
    ($op:expr, $x:expr, $y:expr, $a:ident, $b:ident => $body:expr) => {
        match (&$x.data, &$y.data) {
            ($crate::tensor::Data::F32($a), $crate::tensor::Data::F32($b)) => $body,
            ($crate::tensor::Data::F64($a), $crate::tensor::Data::F64($b)) => $body,
            _ => panic!(
                "{}: dtype mismatch: {} {:?} vs {} {:?} (convert one with .to_dtype())",
                $op,
                $x.dtype(),
                $x.shape(),
                $y.dtype(),
                $y.shape()
            ),
        }
    };
}

pub(crate) use {dispatch, dispatch2};

impl Tensor {
    pub(crate) fn from_data(data: Data) -> Self {
        Tensor { data }
    }

    /// Wraps an owned ndarray array without copying.
    pub fn from_array<E: Element>(array: ArrayD<E>) -> Self {
        E::wrap(array.into_shared())
    }

    /// Wraps a shared ndarray array without copying.
    pub fn from_shared<E: Element>(array: ArcArray<E, IxDyn>) -> Self {
        E::wrap(array)
    }

    /// A tensor of `shape` holding `values` in row-major order.
    ///
    /// # Panics
    /// If `values.len()` is not the product of `shape`.
    #[track_caller]
    pub fn from_vec<E: Element>(values: Vec<E>, shape: &[usize]) -> Self {
        let n = elements(shape);
        assert_eq!(values.len(), n, "from_vec: {} values cannot fill shape {shape:?} ({n} elements)", values.len());
        Tensor::from_shared(row_major_array(values, shape))
    }

    /// A tensor of `shape` holding `values` (given as `f64`) converted to `dtype`.
    #[track_caller]
    pub fn from_f64s(values: &[f64], shape: &[usize], dtype: DType) -> Self {
        match dtype {
            DType::F32 => Tensor::from_vec(values.iter().map(|&v| v as f32).collect(), shape),
            DType::F64 => Tensor::from_vec(values.to_vec(), shape),
        }
    }

    /// A rank-0 tensor holding one value.
    pub fn scalar(value: f64, dtype: DType) -> Self {
        Tensor::full(&[], value, dtype)
    }

    /// A tensor of `shape` filled with `value`.
    pub fn full(shape: &[usize], value: f64, dtype: DType) -> Self {
        match dtype {
            DType::F32 => Tensor::from_shared(row_major_array(vec![value as f32; elements(shape)], shape)),
            DType::F64 => Tensor::from_shared(row_major_array(vec![value; elements(shape)], shape)),
        }
    }

    /// A tensor of `shape` filled with zeros.
    pub fn zeros(shape: &[usize], dtype: DType) -> Self {
        Tensor::full(shape, 0.0, dtype)
    }

    /// A tensor of `shape` filled with ones.
    pub fn ones(shape: &[usize], dtype: DType) -> Self {
        Tensor::full(shape, 1.0, dtype)
    }

    /// Zeros with the shape and dtype of `self`.
    pub fn zeros_like(&self) -> Self {
        Tensor::zeros(self.shape(), self.dtype())
    }

    /// Ones with the shape and dtype of `self`.
    pub fn ones_like(&self) -> Self {
        Tensor::ones(self.shape(), self.dtype())
    }

    /// `[start, start + step, ...]` up to but excluding `end`, as a rank-1 tensor.
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Self {
        assert!(step != 0.0, "arange: step must not be zero");
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        let values: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
        Tensor::from_f64s(&values, &[n], dtype)
    }

    /// The run-time element type.
    pub fn dtype(&self) -> DType {
        match &self.data {
            Data::F32(_) => DType::F32,
            Data::F64(_) => DType::F64,
        }
    }

    /// The extent of each axis.
    pub fn shape(&self) -> &[usize] {
        dispatch!(self, a => a.shape())
    }

    /// The number of axes (0 for a scalar).
    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Converts to another dtype (a copy, or a cheap clone if it already is that dtype).
    pub fn to_dtype(&self, dtype: DType) -> Tensor {
        match (&self.data, dtype) {
            (Data::F32(_), DType::F32) | (Data::F64(_), DType::F64) => self.clone(),
            (Data::F32(a), DType::F64) => Tensor::from_array(a.mapv(|v| v as f64)),
            (Data::F64(a), DType::F32) => Tensor::from_array(a.mapv(|v| v as f32)),
        }
    }

    /// Borrows the array if this tensor holds `E`, else `None`.
    pub fn as_array<E: Element>(&self) -> Option<&ArcArray<E, IxDyn>> {
        E::unwrap(self)
    }

    /// A view of the data as `E`.
    ///
    /// # Panics
    /// If the tensor holds another dtype.
    #[track_caller]
    pub fn view<E: Element>(&self) -> ArrayViewD<'_, E> {
        match E::unwrap(self) {
            Some(a) => a.view(),
            None => panic!("view: tensor holds {} but {} was asked for", self.dtype(), E::DTYPE),
        }
    }

    /// The elements as one mutable row-major slice, for kernels that update a tensor in place
    /// (an optimizer step). Copies first when this tensor shares its buffer with another handle
    /// (copy-on-write, so no other tensor ever sees the change) or is a strided view.
    ///
    /// # Panics
    /// If the tensor holds another dtype.
    ///
    /// ```
    /// use nabla_tensor::Tensor;
    /// let a = Tensor::from_vec(vec![1.0f32, 2.0], &[2]);
    /// let mut b = a.clone(); // shares a's buffer
    /// b.as_slice_mut::<f32>()[0] = 5.0; // b gets its own copy first
    /// assert_eq!((a.to_vec_f32(), b.to_vec_f32()), (vec![1.0, 2.0], vec![5.0, 2.0]));
    /// ```
    #[track_caller]
    pub fn as_slice_mut<E: Element>(&mut self) -> &mut [E] {
        if !self.is_contiguous() {
            *self = self.contiguous();
        }
        let dtype = self.dtype();
        match E::unwrap_mut(self) {
            Some(a) => a.as_slice_mut().expect("made row-major above"),
            None => panic!("as_slice_mut: tensor holds {dtype} but {} was asked for", E::DTYPE),
        }
    }

    /// The data as an owned ndarray array of `E` (no copy when this tensor is the only owner
    /// and already `E`; converted otherwise).
    pub fn into_array<E: Element>(self) -> ArrayD<E> {
        let converted = self.to_dtype(E::DTYPE);
        match E::unwrap(&converted) {
            Some(a) => {
                let a = a.clone();
                drop(converted);
                a.into_owned()
            }
            None => unreachable!("converted to {}", E::DTYPE),
        }
    }

    /// All elements in row-major order, converted to `f64`.
    pub fn to_vec_f64(&self) -> Vec<f64> {
        dispatch!(self, a => a.iter().map(|v| v.to_f64_exact()).collect())
    }

    /// All elements in row-major order, converted to `f32`.
    pub fn to_vec_f32(&self) -> Vec<f32> {
        dispatch!(self, a => a.iter().map(|v| v.to_f64_exact() as f32).collect())
    }

    /// The single value of a one-element tensor, as `f64`.
    ///
    /// # Panics
    /// If the tensor does not hold exactly one element.
    #[track_caller]
    pub fn to_scalar(&self) -> f64 {
        assert_eq!(self.len(), 1, "to_scalar: tensor of shape {:?} holds {} elements, not 1", self.shape(), self.len());
        dispatch!(self, a => a.iter().next().expect("one element").to_f64_exact())
    }

    /// The element at a multi-index, as `f64`.
    #[track_caller]
    pub fn get(&self, index: &[usize]) -> f64 {
        dispatch!(self, a => match a.get(IxDyn(index)) {
            Some(v) => v.to_f64_exact(),
            None => panic!("get: index {index:?} is out of bounds for shape {:?}", self.shape()),
        })
    }

    /// True when the elements lie in memory in row-major order with no gaps.
    pub fn is_contiguous(&self) -> bool {
        dispatch!(self, a => a.is_standard_layout())
    }

    /// A row-major copy if the tensor is a strided view, else a cheap clone.
    pub fn contiguous(&self) -> Tensor {
        if self.is_contiguous() {
            self.clone()
        } else {
            dispatch!(self, a => Tensor::from_array(row_major_copy(a)))
        }
    }

    /// True when the two tensors' elements overlap in memory: one is a cheap clone or a view
    /// (slice, transpose, ...) of the other.
    pub fn shares_buffer_with(&self, other: &Tensor) -> bool {
        fn span<E>(a: &ArcArray<E, IxDyn>) -> (usize, usize) {
            let size = std::mem::size_of::<E>() as isize;
            let start = a.as_ptr() as isize;
            let (mut lo, mut hi) = (start, start);
            for (&n, &stride) in a.shape().iter().zip(a.strides()) {
                let reach = (n.max(1) as isize - 1) * stride * size;
                if reach < 0 {
                    lo += reach;
                } else {
                    hi += reach;
                }
            }
            (lo as usize, hi as usize + size as usize)
        }
        let ((a_lo, a_hi), (b_lo, b_hi)) = match (&self.data, &other.data) {
            (Data::F32(a), Data::F32(b)) => (span(a), span(b)),
            (Data::F64(a), Data::F64(b)) => (span(a), span(b)),
            _ => return false,
        };
        !self.is_empty() && !other.is_empty() && a_lo < b_hi && b_lo < a_hi
    }

    /// True when every element is finite (no NaN or infinity).
    pub fn all_finite(&self) -> bool {
        dispatch!(self, a => a.iter().all(|v| v.is_finite()))
    }

    /// Elementwise comparison within `atol + rtol·|other|`, as `numpy.allclose`.
    pub fn allclose(&self, other: &Tensor, rtol: f64, atol: f64) -> bool {
        self.shape() == other.shape()
            && self.to_vec_f64().iter().zip(other.to_vec_f64()).all(|(a, b)| (a - b).abs() <= atol + rtol * b.abs())
    }
}

impl<E: Element> From<ArrayD<E>> for Tensor {
    fn from(array: ArrayD<E>) -> Self {
        Tensor::from_array(array)
    }
}

impl<E: Element> From<ArcArray<E, IxDyn>> for Tensor {
    fn from(array: ArcArray<E, IxDyn>) -> Self {
        Tensor::from_shared(array)
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor<{}>{:?} ", self.dtype(), self.shape())?;
        dispatch!(self, a => fmt::Display::fmt(a, f))
    }
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        dispatch!(self, a => fmt::Display::fmt(a, f))
    }
}

/// The elements of `a` in row-major order: borrowed when `a` is row-major already (no copy,
/// and no reference count touched, where [`Tensor::contiguous`] clones a handle), else
/// copied out.
pub(crate) fn row_major_elements<E: Element>(a: &ArcArray<E, IxDyn>) -> Cow<'_, [E]> {
    match a.as_slice() {
        Some(elements) => Cow::Borrowed(elements),
        None => Cow::Owned(row_major_copy(a).into_raw_vec_and_offset().0),
    }
}

/// A row-major copy of a strided view. The last axis is copied one run at a time (a block copy
/// when its elements are adjacent, as after a permute that keeps the last axis) and the other
/// axes are walked like an odometer; ndarray's general iterator would step through the
/// dynamic-rank index element by element.
fn row_major_copy<E: Element>(a: &ArcArray<E, IxDyn>) -> ArrayD<E> {
    let (shape, strides) = (a.shape(), a.strides());
    let (len, rank) = (a.len(), shape.len());
    if len == 0 || rank == 0 {
        return a.as_standard_layout().into_owned();
    }
    let (run, run_stride) = (shape[rank - 1], strides[rank - 1]);
    let mut out: Vec<E> = Vec::with_capacity(len);
    let mut index = vec![0usize; rank - 1];
    let mut offset = 0isize;
    for _ in 0..len / run {
        // SAFETY: `offset` is the position of element (index, 0) of the view, and the run's
        // `run` elements at `run_stride` apart all lie inside it.
        unsafe {
            let start = a.as_ptr().offset(offset);
            if run_stride == 1 {
                out.extend_from_slice(std::slice::from_raw_parts(start, run));
            } else {
                out.extend((0..run as isize).map(|j| *start.offset(j * run_stride)));
            }
        }
        for d in (0..rank - 1).rev() {
            index[d] += 1;
            offset += strides[d];
            if index[d] < shape[d] {
                break;
            }
            offset -= strides[d] * shape[d] as isize;
            index[d] = 0;
        }
    }
    row_major_array(out, shape)
}

/// `values` as an array of `shape` in row-major order: how every kernel that fills a fresh
/// buffer hands it back, as an owned array or straight as the shared array inside a [`Tensor`]
/// (which saves moving the array into a reference count afterwards).
///
/// ndarray's own `from_shape_vec` re-derives and checks the layout it is given, a few dozen
/// nanoseconds that matter on small tensors: building a `[32, 16]` result took about 90 ns
/// through it, a fifth of that in the checks. With row-major strides the one thing to check is
/// the length, done here once.
///
/// # Panics
/// If `values.len()` is not the number of elements of `shape`, or the shape is too large to
/// address.
#[track_caller]
pub(crate) fn row_major_array<S: DataOwned>(values: Vec<S::Elem>, shape: &[usize]) -> ArrayBase<S, IxDyn> {
    let len = elements(shape);
    assert!(values.len() == len, "{} values cannot fill a row-major array of shape {shape:?}", values.len());
    // SAFETY: the shape is addressable (checked by `elements`) and, with the default row-major
    // strides ndarray derives for it, reaches exactly the `values.len()` elements given (all
    // strides are zero when an axis is empty).
    //
    // Built with a fixed rank where there is one and then made dynamic: ndarray derives the
    // strides of a fixed-rank shape with plain arithmetic, where for a dynamic one it builds
    // and fills a second dynamic-rank index (the tiny MLP's training step, W6, about 3 %
    // faster).
    unsafe {
        match *shape {
            [n] => ArrayBase::from_shape_vec_unchecked(n, values).into_dyn(),
            [rows, cols] => ArrayBase::from_shape_vec_unchecked((rows, cols), values).into_dyn(),
            [a, b, c] => ArrayBase::from_shape_vec_unchecked((a, b, c), values).into_dyn(),
            [a, b, c, d] => ArrayBase::from_shape_vec_unchecked((a, b, c, d), values).into_dyn(),
            _ => ArrayBase::from_shape_vec_unchecked(IxDyn(shape), values),
        }
    }
}

/// The number of elements of `shape`.
///
/// # Panics
/// If the shape is too large to address: ndarray's bound, the product of the non-zero axis
/// lengths fitting in an `isize`, checked before anything is allocated for it.
#[track_caller]
fn elements(shape: &[usize]) -> usize {
    let nonzero = shape.iter().filter(|&&d| d != 0).try_fold(1usize, |n, &d| n.checked_mul(d));
    match nonzero.filter(|&n| n <= isize::MAX as usize) {
        Some(_) if shape.contains(&0) => 0,
        Some(n) => n,
        None => panic!("shape {shape:?} has too many elements to address"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_major_arrays_of_every_rank_and_empty_axes() {
        let scalar: ArrayD<f32> = row_major_array(vec![2.5], &[]);
        assert_eq!((scalar.shape(), scalar.first()), (&[][..], Some(&2.5)));
        let empty: ArrayD<f32> = row_major_array(vec![], &[0, 3]);
        assert_eq!((empty.shape(), empty.len()), (&[0, 3][..], 0));
        let m: ArcArray<f64, IxDyn> = row_major_array((0..6).map(f64::from).collect(), &[2, 3]);
        assert_eq!(m[[1, 0]], 3.0);
        assert!(m.is_standard_layout());
        // An empty axis next to axes too large to address is still too large (ndarray's rule).
        let huge = std::panic::catch_unwind(|| Tensor::zeros(&[0, usize::MAX / 2, 4], DType::F32));
        assert!(huge.is_err());
    }

    #[test]
    #[should_panic(expected = "5 values cannot fill a row-major array of shape [2, 3]")]
    fn row_major_array_checks_the_length() {
        let _: ArrayD<f32> = row_major_array(vec![0.0; 5], &[2, 3]);
    }

    #[test]
    #[should_panic(expected = "too many elements to address")]
    fn a_shape_too_large_panics_before_allocating() {
        Tensor::full(&[1 << 32 | 1, 1 << 32], 1.0, DType::F32);
    }

    #[test]
    fn contiguous_copies_any_view_in_row_major_order() {
        let base = Tensor::arange(0.0, 120.0, 1.0, DType::F64).reshape(&[2, 3, 4, 5]);
        let views = [
            base.permute(&[0, 2, 1, 3]),
            base.permute(&[3, 1, 0, 2]),
            base.narrow(3, 1, 3).permute(&[1, 0, 2, 3]),
            base.narrow(1, 1, 2).narrow(3, 0, 1),
            base.reshape(&[6, 20]).t(),
        ];
        for v in views {
            let want: Vec<f64> = v.as_array::<f64>().unwrap().iter().copied().collect();
            let c = v.contiguous();
            assert!(c.is_contiguous() && c.shape() == v.shape());
            assert_eq!(c.to_vec_f64(), want, "view of shape {:?}", v.shape());
        }
    }
}
