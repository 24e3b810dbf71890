//! Bidirectional wrapper (Schuster & Paliwal, 1997): one recurrent layer reads the sequence
//! forwards, a second reads it backwards, and their outputs are joined feature by feature.
//!
//! ```text
//! h→ₜ = forward layer after reading x₀, x₁, …, xₜ          (what came before t, and t)
//! h←ₜ = backward layer after reading x_{T−1}, …, xₜ₊₁, xₜ  (what comes after t, and t)
//! yₜ  = [h→ₜ | h←ₜ]
//! ```
//!
//! The backward layer is an ordinary layer run on the sequence reversed along time
//! (`index_select` with the indices `T−1, …, 0`); its outputs come out in reversed order and
//! are put back in time order before they are joined, so `yₜ` sees the whole sequence.
//!
//! | tensor | shape |
//! |---|---|
//! | input `x` | `[batch, time, in]` |
//! | output, the wrapped layers return sequences | `[batch, time, H→ + H←]`: `yₜ` for every `t` |
//! | output, they return only the last step | `[batch, H→ + H←]`: `[h→_{T−1} \| h←₀]`, each direction after reading the whole sequence (as Keras) |
//! | state ([`BidirectionalState`]) | one state per direction |
//!
//! Both directions are usually built from one config ([`BidirectionalConfig`]), so
//! `H→ = H← = H` and the parameters are twice the wrapped layer's. Stacking bidirectional
//! layers is a [`Sequential`](crate::Sequential) of wrappers (each returning sequences): the
//! second then reads `2H` features per step, as PyTorch's `bidirectional=True, num_layers=2`.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{BidirectionalConfig, LstmConfig, Module, ModuleExt};
//! use nabla_tensor::{rng, DType, Tensor};
//! let bi = BidirectionalConfig::new(LstmConfig::new(10, 20)).init(&mut rng(0));
//! assert_eq!(bi.num_parameters(), 2 * 2560);
//! let x = Var::constant(Tensor::zeros(&[3, 5, 10], DType::F32));
//! assert_eq!(bi.forward(&x).shape(), vec![3, 5, 40]);
//! ```

use nabla_autograd::Var;
use nabla_tensor::Rng;

use super::{Recurrent, RecurrentConfig};
use crate::module::{Module, Visitor};

/// How to build a [`Bidirectional`] layer: the config of the layer both directions use.
#[derive(Clone, Debug, PartialEq)]
pub struct BidirectionalConfig<C> {
    /// The wrapped layer's config (its `return_sequences` decides the wrapper's output).
    pub layer: C,
}

impl<C: RecurrentConfig> BidirectionalConfig<C> {
    /// Both directions built from `layer`.
    pub fn new(layer: C) -> Self {
        BidirectionalConfig { layer }
    }

    /// Builds the forward layer, then the backward layer, drawing both from `rng`.
    pub fn init(&self, rng: &mut Rng) -> Bidirectional<C::Layer> {
        let forward_layer = self.layer.init_layer(rng);
        let backward_layer = self.layer.init_layer(rng);
        Bidirectional::new(forward_layer, backward_layer)
    }
}

/// The state of a [`Bidirectional`] layer: one per direction.
#[derive(Clone, Debug)]
pub struct BidirectionalState<S> {
    /// The forward layer's state (after the last step, for a final state).
    pub forward: S,
    /// The backward layer's state. It reads the sequence from the end, so an initial state
    /// enters after the last step and the final state is the one after step 0.
    pub backward: S,
}

/// A recurrent layer run in both directions; see the [module docs](self).
///
/// Parameters are named `forward.…` and `backward.…` (e.g. `backward.weight_ih_l0`).
pub struct Bidirectional<L> {
    /// Reads the sequence from the first step to the last.
    pub forward_layer: L,
    /// Reads the sequence from the last step to the first.
    pub backward_layer: L,
}

impl<L: Recurrent> Bidirectional<L> {
    /// Wraps two layers reading the same inputs.
    ///
    /// # Panics
    /// If one returns sequences and the other does not.
    #[track_caller]
    pub fn new(forward_layer: L, backward_layer: L) -> Self {
        assert_eq!(
            forward_layer.return_sequences(),
            backward_layer.return_sequences(),
            "Bidirectional: both directions must agree on return_sequences"
        );
        Bidirectional { forward_layer, backward_layer }
    }

    /// Both directions' step outputs, in time order (`backward[t]` is `h←ₜ`), and the states.
    #[track_caller]
    fn both_directions(
        &self,
        input: &Var,
        initial: Option<&BidirectionalState<L::State>>,
    ) -> (Vec<Var>, Vec<Var>, BidirectionalState<L::State>) {
        let shape = input.shape();
        assert!(shape.len() == 3, "Bidirectional: expected input [batch, time, features] but received {shape:?}");
        let (forward, forward_state) = self.forward_layer.forward_steps(input, initial.map(|s| &s.forward));
        let reversed: Vec<usize> = (0..shape[1]).rev().collect();
        let (mut backward, backward_state) =
            self.backward_layer.forward_steps(&input.index_select(1, &reversed), initial.map(|s| &s.backward));
        backward.reverse(); // back in time order: backward[t] has read x_{T−1}, …, xₜ
        (forward, backward, BidirectionalState { forward: forward_state, backward: backward_state })
    }
}

impl<L: Recurrent> Recurrent for Bidirectional<L> {
    type State = BidirectionalState<L::State>;

    fn output_size(&self) -> usize {
        self.forward_layer.output_size() + self.backward_layer.output_size()
    }

    fn return_sequences(&self) -> bool {
        self.forward_layer.return_sequences()
    }

    /// `yₜ = [h→ₜ | h←ₜ]` for every step.
    #[track_caller]
    fn forward_steps(&self, input: &Var, initial: Option<&Self::State>) -> (Vec<Var>, Self::State) {
        let (forward, backward, state) = self.both_directions(input, initial);
        let steps = forward.into_iter().zip(backward).map(|(f, b)| Var::concat(&[f, b], 1)).collect();
        (steps, state)
    }

    /// `[batch, time, 2H]` when returning sequences; otherwise `[h→_{T−1} | h←₀]`, each
    /// direction's output after reading the whole sequence.
    #[track_caller]
    fn forward_with_state(&self, input: &Var, initial: Option<&Self::State>) -> (Var, Self::State) {
        let (mut forward, backward, state) = self.both_directions(input, initial);
        let output = if self.return_sequences() {
            Var::concat(&[Var::stack(&forward, 1), Var::stack(&backward, 1)], 2)
        } else {
            let last = forward.pop().expect("a sequence has at least one step");
            Var::concat(&[last, backward[0].clone()], 1)
        };
        (output, state)
    }
}

impl<L: Recurrent> Module for Bidirectional<L> {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        self.forward_with_state(input, None).0
    }

    fn kind(&self) -> &'static str {
        "Bidirectional"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.child("forward", &self.forward_layer);
        visitor.child("backward", &self.backward_layer);
    }

    fn set_training(&mut self, training: bool) {
        self.forward_layer.set_training(training);
        self.backward_layer.set_training(training);
    }

    fn flops(&self, input_shape: &[usize], output_shape: &[usize]) -> u64 {
        self.forward_layer.flops(input_shape, output_shape) + self.backward_layer.flops(input_shape, output_shape)
    }
}
