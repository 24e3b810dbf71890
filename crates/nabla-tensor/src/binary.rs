//! Elementwise functions of two tensors, with NumPy broadcasting.
//!
//! Broadcasting lines the two shapes up from the right; each pair of extents must be equal, or
//! one of them 1 (that axis is repeated), and a missing leading axis counts as 1:
//!
//! | `a` | `b` | `a + b` |
//! |---|---|---|
//! | `[4, 3]` | `[3]` | `[4, 3]` |
//! | `[2, 1, 5]` | `[4, 1]` | `[2, 4, 5]` |
//! | `[4, 3]` | `[4]` | error: dimension 1 is 3 vs 4 |
//!
//! Comparisons return a tensor of the same dtype holding 1 where the relation holds, else 0.

use std::mem::MaybeUninit;

use ndarray::{ArcArray, IxDyn, Zip};
use rayon::prelude::*;

use crate::dtype::Element;
use crate::error::{or_panic, ShapeError};
use crate::parallel::{map, zip_map, Cost, CHUNK, PARALLEL_THRESHOLD_CHEAP};
use crate::scalar;
use crate::tensor::row_major_array;
use crate::tensor::{dispatch2, Tensor};

/// The shape two operands broadcast to, or an error naming the first dimension that clashes.
///
/// ```
/// use nabla_tensor::broadcast_shapes;
/// assert_eq!(broadcast_shapes("add", &[2, 1, 5], &[4, 1]).unwrap(), vec![2, 4, 5]);
/// assert!(broadcast_shapes("add", &[4, 3], &[4]).is_err());
/// ```
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>, ShapeError> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            (x, y) => {
                return Err(ShapeError::new(
                    op,
                    &[a, b],
                    Some(i),
                    format!(
                        "cannot broadcast {a:?} with {b:?}: dimension {i} (counted in the broadcast shape) \
                         is {x} vs {y} (each must be equal or 1)"
                    ),
                ))
            }
        };
    }
    Ok(out)
}

/// `f(a[i], b[i])` over the broadcast shape of `a` and `b`.
pub(crate) fn broadcast_zip<E: Element, F>(
    op: &'static str,
    a: &ArcArray<E, IxDyn>,
    b: &ArcArray<E, IxDyn>,
    f: F,
) -> Result<ArcArray<E, IxDyn>, ShapeError>
where
    F: Fn(E, E) -> E + Sync + Send,
{
    if a.shape() == b.shape() {
        return Ok(zip_map(a.view(), b.view(), f));
    }
    // One operand holds a single value that is repeated everywhere (`x ⊙ s` for a rank-0 `s`,
    // say): a map over the other one, with no broadcast views to step through. A single value
    // of no more axes than the other operand always broadcasts to the other's shape, so the
    // broadcast shape need not be worked out.
    if let (Some(&y), true) = (b.first(), b.len() == 1 && b.ndim() <= a.ndim()) {
        return Ok(map(a.view(), Cost::Cheap, |x| f(x, y)));
    }
    if let (Some(&x), true) = (a.first(), a.len() == 1 && a.ndim() <= b.ndim()) {
        return Ok(map(b.view(), Cost::Cheap, |y| f(x, y)));
    }
    let shape = broadcast_shapes(op, a.shape(), b.shape())?;
    // One operand is row-major and already has the result's shape, the other repeats along
    // leading and trailing axes only (a bias): runs over slices, no broadcast views.
    if let (Some(xs), Some(ys)) = (a.as_slice(), b.as_slice()) {
        if let (true, Some(block)) = (shape == a.shape(), block_broadcast(b.shape(), &shape)) {
            return Ok(row_major_array(block_broadcast_map(xs, ys, block, f), &shape));
        }
        if let (true, Some(block)) = (shape == b.shape(), block_broadcast(a.shape(), &shape)) {
            let flipped = block_broadcast_map(ys, xs, block, |y, x| f(x, y));
            return Ok(row_major_array(flipped, &shape));
        }
    }
    let av = a.broadcast(IxDyn(&shape)).expect("shape checked by broadcast_shapes");
    let bv = b.broadcast(IxDyn(&shape)).expect("shape checked by broadcast_shapes");
    Ok(if av.len() >= PARALLEL_THRESHOLD_CHEAP {
        Zip::from(&av).and(&bv).par_map_collect(|&x, &y| f(x, y))
    } else {
        Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y))
    }
    .into_shared())
}

/// How `small` repeats when it broadcasts to `shape` along leading and trailing axes only,
/// as a bias does (`[c, 1, 1]` against `[n, c, h, w]`, `[k]` against `[m, k]`): the pair
/// `(mid, inner)` such that element `i` of the row-major result reads
/// `small[(i / inner) % mid]`. `None` for any other pattern (`[n, 1, w]` against `[n, c, w]`).
fn block_broadcast(small: &[usize], shape: &[usize]) -> Option<(usize, usize)> {
    let lead = shape.len().checked_sub(small.len())?;
    let extent = |d: usize| if d < lead { 1 } else { small[d - lead] };
    let first = (0..shape.len()).find(|&d| extent(d) != 1)?;
    let end = (0..shape.len()).rfind(|&d| extent(d) != 1).expect("first exists") + 1;
    if (first..end).any(|d| extent(d) != shape[d]) {
        return None;
    }
    Some((shape[first..end].iter().product(), shape[end..].iter().product()))
}

/// `f(big[i], small[(i / inner) % mid])` for every element of the row-major `big`: the
/// broadcast of [`block_broadcast`] walked as runs, in parallel when large. Within a run of
/// `inner` elements the small operand is one value; with `inner = 1` the run is a slice of it.
fn block_broadcast_map<E: Element, F>(big: &[E], small: &[E], (mid, inner): (usize, usize), f: F) -> Vec<E>
where
    F: Fn(E, E) -> E + Sync + Send,
{
    debug_assert_eq!(small.len(), mid);
    // Elements `start..start + o.len()` of the result into `o`.
    let fill = |start: usize, o: &mut [MaybeUninit<E>]| {
        let mut done = 0;
        while done < o.len() {
            let i = start + done;
            let m = (i / inner) % mid;
            let (x, o) = (&big[i..], &mut o[done..]);
            let len = if inner == 1 {
                let (ys, len) = (&small[m..], (mid - m).min(o.len()));
                for k in 0..len {
                    o[k] = MaybeUninit::new(f(x[k], ys[k]));
                }
                len
            } else {
                let (y, len) = (small[m], (inner - i % inner).min(o.len()));
                for k in 0..len {
                    o[k] = MaybeUninit::new(f(x[k], y));
                }
                len
            };
            done += len;
        }
    };
    let mut out: Vec<E> = Vec::with_capacity(big.len());
    let spare = &mut out.spare_capacity_mut()[..big.len()];
    if big.len() >= PARALLEL_THRESHOLD_CHEAP {
        spare.par_chunks_mut(CHUNK).enumerate().for_each(|(c, o)| fill(c * CHUNK, o));
    } else {
        fill(0, spare);
    }
    // SAFETY: `fill` wrote every one of the `big.len()` elements.
    unsafe { out.set_len(big.len()) };
    out
}

macro_rules! binary {
    ($(#[$doc:meta])* $try_name:ident, $name:ident, $op:literal, $f:expr) => {
        $(#[$doc])*
        ///
        /// The `try_` form returns a [`ShapeError`] when the shapes do not broadcast.
        pub fn $try_name(&self, other: &Tensor) -> Result<Tensor, ShapeError> {
            dispatch2!($op, self, other, a, b => broadcast_zip($op, a, b, $f).map(Tensor::from_shared))
        }

        $(#[$doc])*
        ///
        /// # Panics
        /// When the shapes do not broadcast, or the dtypes differ.
        #[track_caller]
        pub fn $name(&self, other: &Tensor) -> Tensor {
            or_panic(self.$try_name(other))
        }
    };
}

impl Tensor {
    binary!(
        /// `a + b`, broadcasting.
        try_add, add, "add", |x, y| x + y);
    binary!(
        /// `a − b`, broadcasting.
        try_sub, sub, "sub", |x, y| x - y);
    binary!(
        /// `a · b` elementwise (Hadamard product), broadcasting.
        try_mul, mul, "mul", |x, y| x * y);
    binary!(
        /// `a / b` elementwise, broadcasting.
        try_div, div, "div", |x, y| x / y);
    binary!(
        /// `a^b` elementwise, broadcasting.
        try_pow, pow, "pow", num_traits::Float::powf);
    binary!(
        /// The larger of `a` and `b` elementwise, broadcasting (NaN propagates).
        try_maximum, maximum, "maximum", scalar::maximum);
    binary!(
        /// The smaller of `a` and `b` elementwise, broadcasting (NaN propagates).
        try_minimum, minimum, "minimum", scalar::minimum);
    binary!(
        /// ReLU's backward kernel: `g·[x > 0]` for the gradient `g` (`self`) of ReLU's output
        /// and its input `x` (`other`), in one pass — the numbers of `g.mul(&x.gt_scalar(0.0))`
        /// without the mask in between. An adjoint kernel, like `conv2d_backward_input`.
        try_relu_backward, relu_backward, "relu_backward", scalar::relu_backward);
    binary!(
        /// 1 where `a == b`, else 0.
        try_eq, eq, "eq", |x, y| scalar::indicator(x == y));
    binary!(
        /// 1 where `a != b`, else 0.
        try_ne, ne, "ne", |x, y| scalar::indicator(x != y));
    binary!(
        /// 1 where `a < b`, else 0.
        try_lt, lt, "lt", |x, y| scalar::indicator(x < y));
    binary!(
        /// 1 where `a <= b`, else 0.
        try_le, le, "le", |x, y| scalar::indicator(x <= y));
    binary!(
        /// 1 where `a > b`, else 0.
        try_gt, gt, "gt", |x, y| scalar::indicator(x > y));
    binary!(
        /// 1 where `a >= b`, else 0.
        try_ge, ge, "ge", |x, y| scalar::indicator(x >= y));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_value_broadcasts_to_the_larger_rank() {
        let v = |values: &[f32], shape: &[usize]| Tensor::from_vec(values.to_vec(), shape);
        let row = v(&[1.0, 2.0, 3.0], &[3]);
        // More axes on the single value's side: the result takes them (NumPy: [1, 3]).
        let sum = row.add(&v(&[10.0], &[1, 1]));
        assert_eq!((sum.shape(), sum.to_vec_f32()), (&[1, 3][..], vec![11.0, 12.0, 13.0]));
        let sum = v(&[10.0], &[1, 1]).sub(&row);
        assert_eq!((sum.shape(), sum.to_vec_f32()), (&[1, 3][..], vec![9.0, 8.0, 7.0]));
        // Two single values: the larger rank wins; an empty tensor stays empty.
        assert_eq!(v(&[2.0], &[1]).mul(&v(&[3.0], &[1, 1])).shape(), &[1, 1]);
        assert_eq!(v(&[], &[0, 3]).add(&v(&[1.0], &[1])).shape(), &[0, 3]);
        assert_eq!(row.mul(&v(&[2.0], &[])).to_vec_f32(), vec![2.0, 4.0, 6.0]);
    }

    #[test]
    fn broadcasting_follows_numpy() {
        let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let b = Tensor::from_vec(vec![10.0f32, 20.0, 30.0], &[3]);
        assert_eq!(a.add(&b).to_vec_f32(), vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
        let c = Tensor::from_vec(vec![1.0f32, 2.0], &[2, 1]);
        assert_eq!(a.mul(&c).to_vec_f32(), vec![1.0, 2.0, 3.0, 8.0, 10.0, 12.0]);
        assert_eq!(broadcast_shapes("t", &[2, 1, 5], &[4, 1]).unwrap(), vec![2, 4, 5]);
        assert_eq!(broadcast_shapes("t", &[], &[3]).unwrap(), vec![3]);
    }

    #[test]
    fn a_single_value_broadcasts_like_any_other_operand() {
        let a = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).t();
        let s = Tensor::scalar(10.0, crate::DType::F64);
        let one = Tensor::from_vec(vec![10.0f64], &[1, 1]);
        assert_eq!(a.sub(&s).to_vec_f64(), vec![-9.0, -6.0, -8.0, -5.0, -7.0, -4.0]);
        assert_eq!(s.sub(&a).to_vec_f64(), vec![9.0, 6.0, 8.0, 5.0, 7.0, 4.0]);
        assert_eq!(a.div(&one).shape(), &[3, 2]);
        // A single value that also adds axes is not a plain map: the general path handles it.
        let wide = Tensor::from_vec(vec![2.0f64], &[1, 1, 1]);
        assert_eq!(a.mul(&wide).shape(), &[1, 3, 2]);
        assert_eq!(a.mul(&wide).to_vec_f64(), vec![2.0, 8.0, 4.0, 10.0, 6.0, 12.0]);
    }

    /// `a − b` (f32 operands) by the definition: every result index mapped back into both
    /// operands.
    fn naive_sub(a: &Tensor, b: &Tensor) -> Vec<f64> {
        let shape = broadcast_shapes("t", a.shape(), b.shape()).unwrap();
        let (av, bv) = (a.to_vec_f64(), b.to_vec_f64());
        let flat = |operand: &[usize], index: &[usize]| {
            let lead = index.len() - operand.len();
            operand.iter().enumerate().fold(0, |at, (d, &n)| at * n + if n == 1 { 0 } else { index[lead + d] })
        };
        (0..shape.iter().product::<usize>())
            .map(|mut i| {
                let mut index = vec![0; shape.len()];
                for d in (0..shape.len()).rev() {
                    (index[d], i) = (i % shape[d], i / shape[d]);
                }
                f64::from(av[flat(a.shape(), &index)] as f32 - bv[flat(b.shape(), &index)] as f32)
            })
            .collect()
    }

    #[test]
    fn bias_like_broadcasts_match_the_definition_on_both_sides() {
        let cases: &[(&[usize], &[usize])] = &[
            (&[3, 4, 5, 6], &[4, 1, 1]),    // a convolution's bias
            (&[7, 9], &[9]),                // a dense layer's bias
            (&[2, 3, 4], &[3, 4]),          // trailing block
            (&[2, 3, 4, 5], &[1, 3, 4, 1]), // middle block of two axes
            (&[5, 4], &[5, 1]),             // leading axis only
            (&[2, 3, 4], &[2, 1, 4]),       // not one block: the general path
            (&[300, 40, 50], &[40, 1]),     // large enough to split across threads
        ];
        for (seed, &(big, small)) in cases.iter().enumerate() {
            let mut rng = crate::rng(seed as u64);
            let x = crate::init::normal(big, 0.0, 1.0, crate::DType::F32, &mut rng);
            let b = crate::init::normal(small, 0.0, 1.0, crate::DType::F32, &mut rng);
            for (l, r) in [(&x, &b), (&b, &x)] {
                let got = l.sub(r);
                assert_eq!(got.shape(), broadcast_shapes("t", l.shape(), r.shape()).unwrap().as_slice());
                assert_eq!(got.to_vec_f64(), naive_sub(l, r), "{:?} - {:?}", l.shape(), r.shape());
            }
        }
    }

    #[test]
    fn mismatch_names_op_shapes_and_dimension() {
        let a = Tensor::zeros(&[4, 3], crate::DType::F32);
        let b = Tensor::zeros(&[4], crate::DType::F32);
        let err = a.try_add(&b).unwrap_err();
        assert_eq!(err.op, "add");
        assert_eq!(err.dim, Some(1));
        let text = err.to_string();
        assert!(text.contains("[4, 3]") && text.contains("[4]") && text.contains("dimension 1"), "{text}");
    }

    #[test]
    #[should_panic(expected = "dtype mismatch")]
    fn mixed_dtypes_panic() {
        let a = Tensor::zeros(&[2], crate::DType::F32);
        let b = Tensor::zeros(&[2], crate::DType::F64);
        let _ = a.add(&b);
    }

    #[test]
    fn comparisons_give_indicators() {
        let a = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]);
        let b = Tensor::from_vec(vec![2.0f64], &[1]);
        assert_eq!(a.gt(&b).to_vec_f64(), vec![0.0, 0.0, 1.0]);
        assert_eq!(a.le(&b).to_vec_f64(), vec![1.0, 1.0, 0.0]);
        assert_eq!(a.maximum(&b).to_vec_f64(), vec![2.0, 2.0, 3.0]);
    }

    #[test]
    fn relu_backward_is_the_product_with_the_mask() {
        let g = Tensor::from_vec(vec![-1.0f32, f32::NAN, 3.0, -4.0, 5.0], &[5]);
        let x = Tensor::from_vec(vec![-1.0f32, -2.0, 0.0, 2.0, f32::NAN], &[5]);
        let (fused, masked) = (g.relu_backward(&x).to_vec_f32(), g.mul(&x.gt_scalar(0.0)).to_vec_f32());
        assert_eq!(format!("{fused:?}"), format!("{masked:?}"));
        assert_eq!(format!("{fused:?}"), "[-0.0, NaN, 0.0, -4.0, 0.0]");
    }
}
