//! Time series cut into (window, future value) pairs, for sequence regression.
//!
//! To forecast a series `v₀, v₁, …` from its recent past, each training sample is a window
//! of `T` consecutive values and the target is the value `h` steps after the window:
//!
//! ```text
//! values:  v0 v1 v2 v3 v4 v5 v6          T = 3, h = 1
//! sample 0 [v0 v1 v2] → v3
//! sample 1    [v1 v2 v3] → v4
//! sample 2       [v2 v3 v4] → v5
//! sample 3          [v3 v4 v5] → v6
//! ```
//!
//! | tensor | shape |
//! |---|---|
//! | inputs | `[N, T, 1]` (batch, time, one feature), `N = len − T − h + 1` |
//! | targets | `[N, 1]` |
//!
//! ```
//! use nabla_data::{series, Dataset};
//! let d = series::windows(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 1);
//! assert_eq!(d.len(), 4);
//! let b = d.get_batch(&[1]);
//! assert_eq!(b.inputs.to_vec_f32(), vec![1.0, 2.0, 3.0]);
//! assert_eq!(b.target_tensor().to_vec_f32(), vec![4.0]);
//! ```
//!
//! Split a series for validation by time (the last part), never at random: a random split
//! would let the model peek at values between its training windows.

use nabla_tensor::Tensor;

use crate::dataset::TensorDataset;

/// All windows of `input_len` values with the value `horizon` steps later as target (see the
/// [module docs](self)); an empty dataset if the series is too short.
///
/// # Panics
/// If `input_len` or `horizon` is 0.
#[track_caller]
pub fn windows(values: &[f32], input_len: usize, horizon: usize) -> TensorDataset {
    assert!(
        input_len > 0 && horizon > 0,
        "series::windows: input_len ({input_len}) and horizon ({horizon}) must be ≥ 1"
    );
    let n = (values.len() + 1).saturating_sub(input_len + horizon);
    let mut inputs = Vec::with_capacity(n * input_len);
    let mut targets = Vec::with_capacity(n);
    for start in 0..n {
        inputs.extend_from_slice(&values[start..start + input_len]);
        targets.push(values[start + input_len + horizon - 1]);
    }
    TensorDataset::regression(Tensor::from_vec(inputs, &[n, input_len, 1]), Tensor::from_vec(targets, &[n, 1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dataset;

    #[test]
    fn horizon_and_short_series() {
        let d = windows(&[0.0, 1.0, 2.0, 3.0, 4.0], 2, 3);
        assert_eq!(d.len(), 1);
        assert_eq!(d.get(0).target_tensor().to_vec_f32(), vec![4.0]);
        assert_eq!(windows(&[1.0, 2.0], 2, 1).len(), 0);
        assert_eq!(windows(&[], 1, 1).len(), 0);
    }
}
