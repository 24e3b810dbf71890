//! Joining tensors along an axis and cutting one apart: `concat`, `stack`, `split`, `chunk`.
//!
//! `concat` glues tensors end to end along an existing axis, so every other extent must agree.
//! `stack` gives each tensor a new axis of extent 1 at position `axis` and then concatenates,
//! so all shapes must be equal. `split` and `chunk` undo `concat`; they return views that share
//! the buffer (no copy).
//!
//! | call | inputs | outputs |
//! |---|---|---|
//! | `Tensor::concat(&[a, b], 1)` | `[2, 3]`, `[2, 5]` | `[2, 8]` |
//! | `Tensor::stack(&[a, b, c], 0)` | three `[2, 3]` | `[3, 2, 3]` |
//! | `Tensor::stack(&[a, b, c], 2)` | three `[2, 3]` | `[2, 3, 3]` |
//! | `x.split(1, &[3, 5])` | `[2, 8]` | `[2, 3]`, `[2, 5]` |
//! | `x.chunk(3, 0)` | `[10, 4]` | `[4, 4]`, `[4, 4]`, `[2, 4]` |
//!
//! The two directions are each other's adjoint: the gradient of `concat` is `split` of the
//! output gradient at the input extents, and the gradient of `split` is `concat` of the piece
//! gradients.
//!
//! ```
//! use nabla_tensor::{DType, Tensor};
//! let a = Tensor::zeros(&[2, 3], DType::F32);
//! let b = Tensor::ones(&[2, 5], DType::F32);
//! let ab = Tensor::concat(&[a, b], 1);
//! assert_eq!(ab.shape(), &[2, 8]);
//! let parts = ab.split(1, &[3, 5]);
//! assert_eq!(parts[0].to_vec_f32(), vec![0.0; 6]);
//! assert_eq!(parts[1].to_vec_f32(), vec![1.0; 10]);
//! ```

use ndarray::{ArrayViewD, Axis};

use crate::dtype::{DType, Element};
use crate::error::{or_panic, ShapeError};
use crate::tensor::Tensor;

/// The shapes of `tensors`, in order, for error messages.
fn shapes_of(tensors: &[Tensor]) -> Vec<&[usize]> {
    tensors.iter().map(|t| t.shape()).collect()
}

/// Views of every tensor as `E`; panics naming the first tensor that holds another dtype.
#[track_caller]
fn views_as<'a, E: Element>(op: &str, tensors: &'a [Tensor]) -> Vec<ArrayViewD<'a, E>> {
    let mut views = Vec::with_capacity(tensors.len());
    for (i, t) in tensors.iter().enumerate() {
        match t.as_array::<E>() {
            Some(a) => views.push(a.view()),
            None => panic!(
                "{op}: dtype mismatch: tensor {i} is {} but tensor 0 is {} (convert it with .to_dtype())",
                t.dtype(),
                E::DTYPE
            ),
        }
    }
    views
}

/// The first tensor of a list, or an error saying the list is empty.
fn first_of<'a>(op: &'static str, tensors: &'a [Tensor], axis: usize) -> Result<&'a Tensor, ShapeError> {
    tensors
        .first()
        .ok_or_else(|| ShapeError::new(op, &[], Some(axis), "needs at least one tensor, got an empty list &[]"))
}

impl Tensor {
    /// Joins `tensors` end to end along the existing axis `axis` (a copy).
    ///
    /// All tensors must have the same rank, and the same extent on every axis except `axis`;
    /// the output's extent along `axis` is the sum of theirs: `[2, 3]` and `[2, 5]` joined
    /// along axis 1 give `[2, 8]`.
    ///
    /// The error names the index of the first offending tensor and the axis that clashes.
    ///
    /// # Panics
    /// If the tensors do not all have the dtype of the first one.
    #[track_caller]
    pub fn try_concat(tensors: &[Tensor], axis: usize) -> Result<Tensor, ShapeError> {
        let first = first_of("concat", tensors, axis)?;
        let shape0 = first.shape();
        let rank = shape0.len();
        if axis >= rank {
            return Err(ShapeError::new(
                "concat",
                &shapes_of(tensors),
                Some(axis),
                format!("axis {axis} is out of range for tensor 0 of shape {shape0:?} (rank {rank})"),
            ));
        }
        for (i, t) in tensors.iter().enumerate().skip(1) {
            let shape = t.shape();
            if shape.len() != rank {
                return Err(ShapeError::new(
                    "concat",
                    &shapes_of(tensors),
                    None,
                    format!(
                        "tensor {i} has shape {shape:?} (rank {}) but tensor 0 has shape {shape0:?} (rank {rank})",
                        shape.len()
                    ),
                ));
            }
            if let Some(d) = (0..rank).find(|&d| d != axis && shape[d] != shape0[d]) {
                return Err(ShapeError::new(
                    "concat",
                    &shapes_of(tensors),
                    Some(d),
                    format!(
                        "tensor {i} has shape {shape:?} but tensor 0 has shape {shape0:?}: dimension {d} is {} vs {} \
                         (only the concatenation axis {axis} may differ)",
                        shape[d], shape0[d]
                    ),
                ));
            }
        }
        fn join<E: Element>(tensors: &[Tensor], axis: usize) -> Tensor {
            let views = views_as::<E>("concat", tensors);
            Tensor::from_array(ndarray::concatenate(Axis(axis), &views).expect("shapes checked above"))
        }
        Ok(match first.dtype() {
            DType::F32 => join::<f32>(tensors, axis),
            DType::F64 => join::<f64>(tensors, axis),
        })
    }

    /// [`try_concat`](Self::try_concat), panicking at the caller's line.
    #[track_caller]
    pub fn concat(tensors: &[Tensor], axis: usize) -> Tensor {
        or_panic(Tensor::try_concat(tensors, axis))
    }

    /// Joins tensors of one shape along a new axis inserted at position `axis` (a copy).
    ///
    /// `k` tensors of shape `[d0, d1]` stack to `[k, d0, d1]` at axis 0, `[d0, k, d1]` at axis 1
    /// and `[d0, d1, k]` at axis 2; `axis` may be at most the rank. Slice `i` along the new axis
    /// is tensor `i`.
    ///
    /// The error names the index of the first tensor whose shape differs from tensor 0's.
    ///
    /// # Panics
    /// If the tensors do not all have the dtype of the first one.
    #[track_caller]
    pub fn try_stack(tensors: &[Tensor], axis: usize) -> Result<Tensor, ShapeError> {
        let first = first_of("stack", tensors, axis)?;
        let shape0 = first.shape();
        if axis > shape0.len() {
            return Err(ShapeError::new(
                "stack",
                &shapes_of(tensors),
                Some(axis),
                format!(
                    "axis {axis} is out of range for stacking tensors of shape {shape0:?} (the new axis goes at 0..={})",
                    shape0.len()
                ),
            ));
        }
        if let Some((i, t)) = tensors.iter().enumerate().find(|(_, t)| t.shape() != shape0) {
            return Err(ShapeError::new(
                "stack",
                &shapes_of(tensors),
                None,
                format!(
                    "tensor {i} has shape {:?} but tensor 0 has shape {shape0:?} (stack along axis {axis} needs equal shapes)",
                    t.shape()
                ),
            ));
        }
        fn join<E: Element>(tensors: &[Tensor], axis: usize) -> Tensor {
            let views = views_as::<E>("stack", tensors);
            Tensor::from_array(ndarray::stack(Axis(axis), &views).expect("shapes checked above"))
        }
        Ok(match first.dtype() {
            DType::F32 => join::<f32>(tensors, axis),
            DType::F64 => join::<f64>(tensors, axis),
        })
    }

    /// [`try_stack`](Self::try_stack), panicking at the caller's line.
    #[track_caller]
    pub fn stack(tensors: &[Tensor], axis: usize) -> Tensor {
        or_panic(Tensor::try_stack(tensors, axis))
    }

    /// Cuts the tensor along `axis` into consecutive pieces of extents `sizes` (views, no copy).
    ///
    /// `sizes` must add up to the extent of `axis`; a size of 0 gives an empty piece.
    /// `Tensor::concat(&x.split(axis, sizes), axis)` is `x` again.
    pub fn try_split(&self, axis: usize, sizes: &[usize]) -> Result<Vec<Tensor>, ShapeError> {
        let shape = self.shape();
        crate::reduce::check_axes("split", shape, &[axis])?;
        let total: usize = sizes.iter().sum();
        if total != shape[axis] {
            return Err(ShapeError::new(
                "split",
                &[shape],
                Some(axis),
                format!(
                    "sizes {sizes:?} add up to {total} but axis {axis} of shape {shape:?} has extent {}",
                    shape[axis]
                ),
            ));
        }
        let mut start = 0;
        let mut pieces = Vec::with_capacity(sizes.len());
        for &size in sizes {
            pieces.push(self.try_slice(axis, start, start + size, 1)?);
            start += size;
        }
        Ok(pieces)
    }

    /// [`try_split`](Self::try_split), panicking at the caller's line.
    #[track_caller]
    pub fn split(&self, axis: usize, sizes: &[usize]) -> Vec<Tensor> {
        or_panic(self.try_split(axis, sizes))
    }

    /// Cuts the tensor along `axis` into at most `n` pieces of equal extent (views, no copy),
    /// with PyTorch's rule: each piece has extent `⌈extent / n⌉` and the last one takes what
    /// is left, so there may be fewer than `n` pieces.
    ///
    /// | extent | `n` | piece extents |
    /// |---|---|---|
    /// | 10 | 3 | 4, 4, 2 |
    /// | 6 | 4 | 2, 2, 2 |
    /// | 0 | 3 | 0, 0, 0 |
    pub fn try_chunk(&self, n: usize, axis: usize) -> Result<Vec<Tensor>, ShapeError> {
        let shape = self.shape();
        crate::reduce::check_axes("chunk", shape, &[axis])?;
        if n == 0 {
            return Err(ShapeError::new(
                "chunk",
                &[shape],
                Some(axis),
                "cannot cut into 0 chunks (n must be at least 1)",
            ));
        }
        let extent = shape[axis];
        if extent == 0 {
            return self.try_split(axis, &vec![0; n]);
        }
        let size = extent.div_ceil(n);
        let mut sizes = vec![size; extent / size];
        if !extent.is_multiple_of(size) {
            sizes.push(extent % size);
        }
        self.try_split(axis, &sizes)
    }

    /// [`try_chunk`](Self::try_chunk), panicking at the caller's line.
    #[track_caller]
    pub fn chunk(&self, n: usize, axis: usize) -> Vec<Tensor> {
        or_panic(self.try_chunk(n, axis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn random(shape: &[usize], seed: u64) -> Tensor {
        crate::init::uniform(shape, -1.0, 1.0, DType::F64, &mut crate::rng(seed))
    }

    fn extents(pieces: &[Tensor], axis: usize) -> Vec<usize> {
        pieces.iter().map(|p| p.shape()[axis]).collect()
    }

    #[test]
    fn concat_golden_values() {
        let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
        let b = Tensor::from_vec(vec![5.0f32, 6.0], &[2, 1]);
        let ab = Tensor::concat(&[a.clone(), b], 1);
        assert_eq!(ab.shape(), &[2, 3]);
        assert_eq!(ab.to_vec_f32(), vec![1.0, 2.0, 5.0, 3.0, 4.0, 6.0]);
        let c = Tensor::from_vec(vec![7.0f32, 8.0], &[1, 2]);
        let ac = Tensor::concat(&[a, c], 0);
        assert_eq!(ac.shape(), &[3, 2]);
        assert_eq!(ac.to_vec_f32(), vec![1.0, 2.0, 3.0, 4.0, 7.0, 8.0]);
    }

    #[test]
    fn concat_of_strided_views_and_empty_pieces() {
        let x = Tensor::arange(0.0, 6.0, 1.0, DType::F64).reshape(&[2, 3]);
        let empty = Tensor::zeros(&[0, 2], DType::F64);
        let joined = Tensor::concat(&[x.t(), empty, x.t()], 0);
        assert_eq!(joined.shape(), &[6, 2]);
        assert_eq!(joined.to_vec_f64(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0, 0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    }

    #[test]
    fn stack_inserts_a_new_axis() {
        let a = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]);
        let b = Tensor::from_vec(vec![4.0f64, 5.0, 6.0], &[3]);
        let rows = Tensor::stack(&[a.clone(), b.clone()], 0);
        assert_eq!(rows.shape(), &[2, 3]);
        assert_eq!(rows.to_vec_f64(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let columns = Tensor::stack(&[a, b], 1);
        assert_eq!(columns.shape(), &[3, 2]);
        assert_eq!(columns.to_vec_f64(), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let m = Tensor::zeros(&[2, 3], DType::F32);
        let three = [m.clone(), m.clone(), m];
        assert_eq!(Tensor::stack(&three, 0).shape(), &[3, 2, 3]);
        assert_eq!(Tensor::stack(&three, 1).shape(), &[2, 3, 3]);
        assert_eq!(Tensor::stack(&three, 2).shape(), &[2, 3, 3]);
        let scalars = [Tensor::scalar(1.0, DType::F32), Tensor::scalar(2.0, DType::F32)];
        assert_eq!(Tensor::stack(&scalars, 0).to_vec_f32(), vec![1.0, 2.0]);
    }

    #[test]
    fn split_returns_views() {
        let x = Tensor::arange(0.0, 16.0, 1.0, DType::F32).reshape(&[2, 8]);
        let parts = x.split(1, &[3, 0, 5]);
        assert_eq!(extents(&parts, 1), vec![3, 0, 5]);
        assert_eq!(parts[0].to_vec_f32(), vec![0.0, 1.0, 2.0, 8.0, 9.0, 10.0]);
        assert_eq!(parts[2].shape(), &[2, 5]);
        assert!(parts[0].shares_buffer_with(&x));
    }

    #[test]
    fn chunk_follows_pytorch() {
        let x = Tensor::zeros(&[10, 4], DType::F32);
        assert_eq!(extents(&x.chunk(3, 0), 0), vec![4, 4, 2]);
        assert_eq!(extents(&x.chunk(1, 0), 0), vec![10]);
        assert_eq!(extents(&x.chunk(10, 0), 0), vec![1; 10]);
        assert_eq!(extents(&x.chunk(20, 0), 0), vec![1; 10]);
        assert_eq!(extents(&x.chunk(3, 1), 1), vec![2, 2]);
        assert_eq!(extents(&Tensor::zeros(&[6], DType::F32).chunk(4, 0), 0), vec![2, 2, 2]);
        assert_eq!(extents(&Tensor::zeros(&[0, 2], DType::F32).chunk(3, 0), 0), vec![0, 0, 0]);
        let values = Tensor::arange(0.0, 5.0, 1.0, DType::F64).chunk(2, 0);
        assert_eq!(values[1].to_vec_f64(), vec![3.0, 4.0]);
    }

    #[test]
    fn concat_errors_name_tensor_and_axis() {
        let a = Tensor::zeros(&[2, 3], DType::F32);
        let b = Tensor::zeros(&[2, 5], DType::F32);
        let c = Tensor::zeros(&[4, 3], DType::F32);
        let err = Tensor::try_concat(&[a.clone(), a.clone(), c], 1).unwrap_err();
        assert_eq!((err.op, err.dim), ("concat", Some(0)));
        let text = err.to_string();
        assert!(text.contains("tensor 2") && text.contains("[4, 3]") && text.contains("axis 1"), "{text}");

        let err = Tensor::try_concat(&[a.clone(), Tensor::zeros(&[6], DType::F32)], 0).unwrap_err();
        assert!(err.to_string().contains("tensor 1 has shape [6] (rank 1)"), "{err}");
        let err = Tensor::try_concat(&[a.clone(), b.clone()], 2).unwrap_err();
        assert!(err.to_string().contains("axis 2 is out of range"), "{err}");
        assert!(Tensor::try_concat(&[], 0).unwrap_err().to_string().contains("empty list"));
        assert!(Tensor::try_concat(&[Tensor::scalar(1.0, DType::F32)], 0).is_err());

        let err = Tensor::try_stack(&[a.clone(), a.clone(), b], 0).unwrap_err();
        assert!(err.to_string().contains("tensor 2 has shape [2, 5]"), "{err}");
        assert!(Tensor::try_stack(std::slice::from_ref(&a), 3).is_err());
        assert!(Tensor::try_stack(&[], 0).is_err());
    }

    #[test]
    fn split_and_chunk_errors() {
        let x = Tensor::zeros(&[2, 8], DType::F32);
        let err = x.try_split(1, &[3, 4]).unwrap_err();
        assert_eq!(err.dim, Some(1));
        assert!(err.to_string().contains("add up to 7") && err.to_string().contains("extent 8"), "{err}");
        assert!(x.try_split(2, &[1]).is_err());
        assert!(x.try_chunk(0, 0).is_err());
        assert!(x.try_chunk(2, 5).is_err());
    }

    #[test]
    #[should_panic(expected = "tensor 1 is f64 but tensor 0 is f32")]
    fn concat_of_mixed_dtypes_panics() {
        let _ = Tensor::concat(&[Tensor::zeros(&[2], DType::F32), Tensor::zeros(&[2], DType::F64)], 0);
    }

    /// A shape of rank 1 to 3, an axis of it and cut points along that axis.
    fn shape_axis_cuts() -> impl Strategy<Value = (Vec<usize>, usize, Vec<bool>)> {
        prop::collection::vec(1usize..5, 1..4).prop_flat_map(|shape| {
            let rank = shape.len();
            (Just(shape), 0..rank, prop::collection::vec(any::<bool>(), 8))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn split_then_concat_is_the_identity((shape, axis, cuts) in shape_axis_cuts(), seed in any::<u64>()) {
            let x = random(&shape, seed);
            // Cut after position j when cuts[j] is set; a repeated cut gives an empty piece.
            let mut sizes = vec![0];
            for j in 0..shape[axis] {
                *sizes.last_mut().expect("never empty") += 1;
                if cuts[j] {
                    sizes.push(0);
                }
                if cuts[j + 4] {
                    sizes.push(0);
                }
            }
            let pieces = x.split(axis, &sizes);
            prop_assert_eq!(extents(&pieces, axis), sizes);
            let back = Tensor::concat(&pieces, axis);
            prop_assert_eq!(back.shape(), x.shape());
            prop_assert_eq!(back.to_vec_f64(), x.to_vec_f64());
            let chunks = x.chunk(1 + seed as usize % 4, axis);
            prop_assert_eq!(Tensor::concat(&chunks, axis).to_vec_f64(), x.to_vec_f64());
        }

        #[test]
        fn stack_then_index_gives_back_the_inputs(
            shape in prop::collection::vec(1usize..4, 0..3),
            count in 1usize..4,
            axis_pick in any::<prop::sample::Index>(),
            seed in any::<u64>(),
        ) {
            let inputs: Vec<Tensor> = (0..count as u64).map(|k| random(&shape, seed ^ k)).collect();
            let axis = axis_pick.index(shape.len() + 1);
            let stacked = Tensor::stack(&inputs, axis);
            prop_assert_eq!(stacked.shape()[axis], count);
            for (i, input) in inputs.iter().enumerate() {
                let back = stacked.narrow(axis, i, 1).squeeze(axis);
                prop_assert_eq!(back.shape(), input.shape());
                prop_assert_eq!(back.to_vec_f64(), input.to_vec_f64());
            }
        }
    }
}
