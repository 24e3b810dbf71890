//! Dropout (Srivastava et al., 2014), inverted: in training each element is kept with
//! probability `1 − p` and scaled by `1/(1 − p)`, so the expected output equals the input and
//! evaluation needs no rescaling — it is the identity.
//!
//! ```text
//! training:    y = x ⊙ m / (1 − p),   mᵢ ~ Bernoulli(1 − p), drawn afresh on every call
//! evaluation:  y = x
//! ```
//!
//! | tensor | shape |
//! |---|---|
//! | input `x`, output `y` | any, the same |
//! | `calls` (buffer) | `[]`, an `f64` count of training-mode calls so far |
//!
//! The gradient is the same mask: `∂y/∂x = m/(1 − p)`.
//!
//! **Reproducible and resumable.** The mask of call number `k` is drawn from a ChaCha8
//! generator seeded with the layer's `seed` and set to stream `k` — a pure function of
//! `(seed, k, shape)`, see [`Dropout::mask`]. The counter `k` is the buffer `calls`, so it is
//! saved in checkpoints with the weights: a model rebuilt from the same seeds, loaded from a
//! checkpoint, draws exactly the masks the uninterrupted run would have drawn. The seed itself
//! is not saved; it comes from the config ([`DropoutConfig::with_seed`]) or from the generator
//! the model is built with, so building the model the same way gives it back.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{DropoutConfig, Module, ModuleExt};
//! use nabla_tensor::{rng, DType, Tensor};
//! let mut dropout = DropoutConfig::new(0.5).with_seed(7).init(&mut rng(0));
//! let x = Var::constant(Tensor::ones(&[4, 8], DType::F32));
//! let y = dropout.forward(&x).value().to_vec_f32();
//! assert!(y.iter().all(|&v| v == 0.0 || v == 2.0)); // dropped, or kept and scaled by 1/(1 − p)
//! assert_eq!(dropout.calls(), 1);
//! dropout.eval();
//! assert_eq!(dropout.forward(&x).value().to_vec_f32(), vec![1.0; 32]);
//! ```

use std::sync::Mutex;

use nabla_autograd::Var;
use nabla_tensor::{init, rng, DType, Rng, Tensor};
use rand_chacha::rand_core::RngCore;

use crate::module::{Module, Visitor};

/// How to build a [`Dropout`] layer.
///
/// There is no `dtype`: the layer has no weights, its masks take the input's dtype, and its
/// call counter is always `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct DropoutConfig {
    /// Probability of dropping an element, in `[0, 1]`.
    pub p: f64,
    /// The mask stream's seed; `None` draws it from the generator passed to `init`.
    pub seed: Option<u64>,
}

impl DropoutConfig {
    /// Drops with probability `p`; the seed is drawn from the generator given to `init`.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    #[track_caller]
    pub fn new(p: f64) -> Self {
        assert!((0.0..=1.0).contains(&p), "Dropout: the drop probability p = {p} must be in [0, 1]");
        DropoutConfig { p, seed: None }
    }

    /// Fixes the seed of the mask stream (independent of the generator given to `init`).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Builds the layer, in training mode, taking the seed from the config or else from `rng`.
    pub fn init(&self, rng: &mut Rng) -> Dropout {
        let seed = self.seed.unwrap_or_else(|| rng.next_u64());
        Dropout {
            p: self.p,
            seed,
            calls: Var::constant(Tensor::scalar(0.0, DType::F64)),
            training: true,
            counter_lock: Mutex::new(()),
        }
    }
}

/// Inverted dropout; see the [module docs](self).
pub struct Dropout {
    p: f64,
    seed: u64,
    /// Training-mode calls so far, as a rank-0 `f64` buffer (exact up to 2⁵³ calls).
    calls: Var,
    training: bool,
    /// Makes reading and advancing `calls` one step when several threads share the layer.
    counter_lock: Mutex<()>,
}

impl Dropout {
    /// The drop probability `p`.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// The seed of the mask stream.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The number of training-mode calls so far: the next call uses stream `calls()`.
    pub fn calls(&self) -> u64 {
        self.calls.value().to_scalar() as u64
    }

    /// Whether the layer drops elements (training) or is the identity (evaluation).
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// The scaled mask `m/(1 − p)` that call number `call` multiplies an input of `shape` by,
    /// in `f64`: entries are `0` or `1/(1 − p)` (all `0` when `p = 1`).
    pub fn mask(&self, shape: &[usize], call: u64) -> Tensor {
        let keep = 1.0 - self.p;
        let scale = if keep > 0.0 { 1.0 / keep } else { 0.0 };
        let mut stream = rng(self.seed);
        stream.set_stream(call);
        init::uniform(shape, 0.0, 1.0, DType::F64, &mut stream).lt_scalar(keep).mul_scalar(scale)
    }

    /// Reads the call counter and advances it, as one step.
    fn next_call(&self) -> u64 {
        let _guard = self.counter_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let call = self.calls();
        // Always written back as f64, even if the model was converted to f32 meanwhile.
        self.calls.set_value(Tensor::scalar((call + 1) as f64, DType::F64));
        call
    }
}

impl Module for Dropout {
    fn forward(&self, input: &Var) -> Var {
        if !self.training || self.p == 0.0 {
            return input.clone();
        }
        let mask = self.mask(input.shape(), self.next_call());
        input.mul(&Var::constant(mask.to_dtype(input.dtype())))
    }

    fn kind(&self) -> &'static str {
        "Dropout"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.state("calls", &self.calls);
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}
