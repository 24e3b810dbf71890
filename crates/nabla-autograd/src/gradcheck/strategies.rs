//! proptest strategies for gradient checks: random shapes, broadcast-compatible shape pairs,
//! and values kept away from kinks and domain edges.
//!
//! ```
//! use nabla_autograd::gradcheck::{check_gradients, strategies, Tolerance};
//! use proptest::prelude::*;
//! proptest!(strategies::config(8), |(x in strategies::shape(3, 3).prop_flat_map(strategies::tensor))| {
//!     check_gradients(|v| v[0].exp(), &[x], Tolerance::default()).unwrap();
//! });
//! ```
//!
//! The checks run from a fixed seed ([`config`]), so they test many random cases and still give
//! the same verdict run after run.

use nabla_tensor::{DType, Tensor};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// A proptest configuration with `cases` cases, a fixed seed (no flakiness: the same cases
/// every run) and no regression files written.
pub fn config(cases: u32) -> Config {
    Config { cases, rng_seed: RngSeed::Fixed(0x006e_6162_6c61), failure_persistence: None, ..Config::default() }
}

/// Shapes of rank `0..=max_rank` with extents in `1..=max_dim`.
pub fn shape(max_rank: usize, max_dim: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1..=max_dim, 0..=max_rank)
}

/// Shapes of rank `min_rank..=max_rank` with extents in `1..=max_dim`.
pub fn shape_with_rank(min_rank: usize, max_rank: usize, max_dim: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1..=max_dim, min_rank..=max_rank)
}

/// Two shapes that broadcast together: the second drops some leading axes of the first and
/// sets some extents to 1 (in random order, so either may be the larger).
pub fn broadcast_pair(max_rank: usize, max_dim: usize) -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    shape(max_rank, max_dim).prop_flat_map(|full| {
        let rank = full.len();
        (Just(full), 0..=rank, prop::collection::vec(any::<bool>(), rank), any::<bool>()).prop_map(
            |(full, dropped, ones, swap)| {
                let other: Vec<usize> =
                    full.iter().enumerate().skip(dropped).map(|(d, &n)| if ones[d] { 1 } else { n }).collect();
                if swap {
                    (other, full)
                } else {
                    (full, other)
                }
            },
        )
    })
}

fn to_tensor(values: Vec<f64>, shape: &[usize]) -> Tensor {
    Tensor::from_f64s(&values, shape, DType::F64)
}

/// An `f64` tensor of `shape` with values in `[-2, 2]`.
pub fn tensor(shape: Vec<usize>) -> impl Strategy<Value = Tensor> {
    let n: usize = shape.iter().product();
    prop::collection::vec(-2.0..2.0f64, n).prop_map(move |v| to_tensor(v, &shape))
}

/// An `f64` tensor with values in `[low, high]`: for domains such as `ln` (`low > 0`).
pub fn tensor_in(shape: Vec<usize>, low: f64, high: f64) -> impl Strategy<Value = Tensor> {
    let n: usize = shape.iter().product();
    prop::collection::vec(low..=high, n).prop_map(move |v| to_tensor(v, &shape))
}

/// An `f64` tensor whose values are at least `margin` away from every point in `kinks`
/// (e.g. `relu` and `abs` at 0), drawn from `[-2, 2]`.
pub fn tensor_away_from(shape: Vec<usize>, kinks: Vec<f64>, margin: f64) -> impl Strategy<Value = Tensor> {
    let n: usize = shape.iter().product();
    prop::collection::vec(-2.0..2.0f64, n).prop_map(move |mut values| {
        for v in &mut values {
            for &k in &kinks {
                if (*v - k).abs() < margin {
                    *v = if *v >= k { k + margin } else { k - margin };
                }
            }
        }
        to_tensor(values, &shape)
    })
}

/// `count` values in `[-2, 2]`, pairwise at least `0.4 · 4/count` apart and none within
/// `0.1 · 4/count` of 0: for `max`, `maximum`, sorting and other ops with kinks at ties.
pub fn distinct_values(count: usize) -> impl Strategy<Value = Vec<f64>> {
    let order = Just((0..count).collect::<Vec<usize>>()).prop_shuffle();
    (order, prop::collection::vec(0.2..0.4f64, count)).prop_map(move |(order, jitter)| {
        let step = 4.0 / count.max(1) as f64;
        order.iter().zip(jitter).map(|(&k, j)| -2.0 + (k as f64 + j) * step).collect()
    })
}

/// An `f64` tensor of `shape` with pairwise-distinct values (see [`distinct_values`]).
pub fn distinct_tensor(shape: Vec<usize>) -> impl Strategy<Value = Tensor> {
    let n: usize = shape.iter().product();
    distinct_values(n).prop_map(move |v| to_tensor(v, &shape))
}
