//! Derived seeds: one independent random stream per (seed, purpose, epoch, batch).
//!
//! A data loader needs randomness in two places: the order of the samples in each epoch and
//! the random transforms (crops, flips) of each batch. If both came from one generator that
//! advances as training goes, resuming a run at epoch 7, batch 120 would need to replay
//! everything before it — and a worker thread that runs ahead would change the numbers.
//!
//! Instead every random decision gets its own generator, seeded from the *coordinates* of the
//! decision: `derive_seed(seed, &[purpose, epoch, batch])`. The same coordinates always give
//! the same numbers, whatever ran before and on whichever thread.
//!
//! The mixing function is SplitMix64's finaliser (Steele, Lea, Flood 2014): each part is added
//! to the running state and scrambled, so nearby inputs (epoch 3 vs 4) give unrelated seeds.
//!
//! [`permutation`] is the Fisher–Yates shuffle that orders an epoch and splits a dataset.
//!
//! ```
//! use nabla_data::seed::derive_seed;
//! assert_eq!(derive_seed(42, &[1, 3]), derive_seed(42, &[1, 3]));
//! assert_ne!(derive_seed(42, &[1, 3]), derive_seed(42, &[1, 4]));
//! ```

use nabla_tensor::{rng, Rng};
use rand::Rng as _;

/// The purpose tag of the generator that orders an epoch's samples.
pub const SHUFFLE: u64 = 0x5348_5546; // "SHUF"
/// The purpose tag of the generator a batch's transforms draw from.
pub const TRANSFORM: u64 = 0x5452_4e53; // "TRNS"
/// The purpose tag of train/validation splits.
pub const SPLIT: u64 = 0x5350_4c54; // "SPLT"

/// SplitMix64's output function: a bijection on `u64` that scrambles every bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed derived from `seed` and the coordinates `parts` (see the [module docs](self)).
pub fn derive_seed(seed: u64, parts: &[u64]) -> u64 {
    const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut state = mix(seed.wrapping_add(GOLDEN));
    for &part in parts {
        state = mix(state.wrapping_add(GOLDEN).wrapping_add(mix(part)));
    }
    state
}

/// A generator seeded with [`derive_seed`]`(seed, parts)`.
pub fn derived_rng(seed: u64, parts: &[u64]) -> Rng {
    rng(derive_seed(seed, parts))
}

/// A uniformly random permutation of `0..n` (the Fisher–Yates shuffle).
///
/// Walk `i` from the last position down to 1 and swap element `i` with a uniformly chosen
/// element `j ≤ i`; each of the `n!` orders comes out with probability `1/n!`.
pub fn permutation(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_permutations_and_seeded() {
        let p = permutation(100, &mut rng(3));
        let mut sorted = p.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(p, permutation(100, &mut rng(3)));
        assert_ne!(p, permutation(100, &mut rng(4)));
        assert!(permutation(0, &mut rng(0)).is_empty());
    }

    #[test]
    fn order_of_parts_matters_and_values_spread() {
        assert_ne!(derive_seed(0, &[1, 2]), derive_seed(0, &[2, 1]));
        assert_ne!(derive_seed(0, &[]), derive_seed(1, &[]));
        assert_ne!(derive_seed(0, &[0]), derive_seed(0, &[]));
        // Consecutive epochs give seeds differing in about half their bits.
        let a = derive_seed(7, &[SHUFFLE, 10]);
        let b = derive_seed(7, &[SHUFFLE, 11]);
        let differing = (a ^ b).count_ones();
        assert!((16..=48).contains(&differing), "{differing} bits differ");
    }
}
