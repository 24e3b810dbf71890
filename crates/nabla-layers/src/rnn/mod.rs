//! Recurrent layers: SimpleRNN, LSTM and GRU cells, the sequence layers built from them, and
//! the [`Bidirectional`] wrapper.
//!
//! A recurrent layer reads a sequence one step at a time and carries a **state** from each step
//! to the next. A *cell* is one step, `(xₜ, hₜ₋₁) ↦ hₜ`; a *sequence layer* applies the same cell
//! (the same weights) at every step:
//!
//! ```text
//!          x₀        x₁        x₂               (inputs, one [batch, in] slice per step)
//!          │         │         │
//!  h₋₁ ──▶ cell ──▶ cell ──▶ cell ──▶ h₂        (the state flows left to right)
//!          │         │         │
//!          h₀        h₁        h₂               (outputs: all of them, or only the last)
//! ```
//!
//! Gradients flow back along the same chain (*backpropagation through time*): the unrolled
//! loop is an ordinary computation on the tape, so [`Var::backward`] differentiates it with no
//! special code. A long chain of multiplications by `W_hh` makes gradients shrink or blow up;
//! the gates of the LSTM and the GRU give the state an additive path that keeps them alive.
//!
//! | cell | state | update | gates `G` |
//! |---|---|---|---|
//! | [`SimpleRnnCell`] (Elman) | `h` | `h' = tanh(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh)` | 1 |
//! | [`LstmCell`] (Hochreiter & Schmidhuber, 1997) | `h`, `c` | `c' = f⊙c + i⊙g`, `h' = o⊙tanh(c')` | 4: `i, f, g, o` |
//! | [`GruCell`] (Cho et al., 2014) | `h` | `h' = (1 − z)⊙n + z⊙h` | 3: `r, z, n` |
//!
//! Weights use PyTorch's layout and names, so its checkpoints map one to one: the `G` gate
//! blocks are stacked in `weight_ih [G·H, in]`, `weight_hh [G·H, H]`, `bias_ih [G·H]`,
//! `bias_hh [G·H]` (layer `k` of a sequence layer: `weight_ih_l{k}`, …). Every parameter
//! starts from PyTorch's `U(−1/√H, 1/√H)`.
//!
//! | sequence layer | shape |
//! |---|---|
//! | input | `[batch, time, in]` (batch first, as Keras) |
//! | output, `return_sequences = true` (default) | `[batch, time, H]`: the top layer's `h` at every step |
//! | output, `return_sequences = false` | `[batch, H]`: the top layer's last `h` |
//! | state ([`RnnState`], [`LstmState`]) | one `[batch, H]` tensor per layer (`h`, and `c` for the LSTM) |
//!
//! With `num_layers > 1` the layers are **stacked**: layer `k > 0` reads the outputs of layer
//! `k − 1` at every step (optionally through dropout). [`Module::forward`] starts from the zero
//! state; [`Recurrent::forward_with_state`] takes an initial state and returns the final one,
//! so a long sequence can be fed in pieces (*truncated* backpropagation through time: carry
//! [`LstmState::detach`]ed states from one batch to the next).
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{LstmConfig, Module, Recurrent};
//! use nabla_tensor::{rng, DType, Tensor};
//! let lstm = LstmConfig::new(8, 16).with_num_layers(2).init(&mut rng(0));
//! let x = Var::constant(Tensor::zeros(&[4, 10, 8], DType::F32)); // [batch, time, in]
//! assert_eq!(lstm.forward(&x).shape(), vec![4, 10, 16]);
//! let (y, state) = lstm.forward_with_state(&x, None);
//! let (_, _) = lstm.forward_with_state(&x, Some(&state.detach())); // the next piece
//! assert_eq!((y.shape(), state.h.len(), state.c[1].shape()), (&[4, 10, 16][..], 2, &[4, 16][..]));
//! ```
//!
//! **How the loop is made fast.** The input's share of every gate, `x·W_ihᵀ + b`, does not
//! depend on the state, so it is computed for all steps at once — one `[time·batch, in] ×
//! [in, G·H]` product instead of `time` small ones — and only `h·W_hhᵀ` stays inside the loop.
//! The steps' slices of that product are taken by halving ([`split_steps`] explains why), the
//! gates are split with one `chunk`, and the outputs are stacked once at the end. The LSTM goes
//! further: its whole loop is one fused op, `Var::lstm_sequence`, with no tape node per step
//! (each thread runs the recurrence for its own block of batch rows), and its output is the
//! `[time·batch, H]` block of every step's `h`, which [`Recurrent::forward_with_state`] turns
//! into `[batch, time, H]` without splitting it into steps.

pub mod bidirectional;
pub mod gru;
pub mod lstm;
pub mod simple_rnn;

pub use bidirectional::{Bidirectional, BidirectionalConfig, BidirectionalState};
pub use gru::{Gru, GruCell, GruCellConfig, GruConfig};
pub use lstm::{Lstm, LstmCell, LstmCellConfig, LstmConfig};
pub use simple_rnn::{SimpleRnn, SimpleRnnCell, SimpleRnnCellConfig, SimpleRnnConfig};

use nabla_autograd::Var;
use nabla_tensor::{DType, Rng, Tensor};

use crate::dropout::Dropout;
use crate::init::Initializer;
use crate::module::Module;

/// A sequence layer: what [`Bidirectional`] needs to run one, and how a state is passed in and
/// out. Implemented by [`SimpleRnn`], [`Lstm`], [`Gru`] and [`Bidirectional`] itself.
pub trait Recurrent: Module {
    /// What is carried from one step to the next, and from one call to the next.
    type State: Clone;

    /// Features of the output at each step: `H` (`2H` for a bidirectional layer).
    fn output_size(&self) -> usize;

    /// Whether [`Module::forward`] returns every step (`[batch, time, H]`) or the last (`[batch, H]`).
    fn return_sequences(&self) -> bool;

    /// Runs over `input` (`[batch, time, in]`) from `initial` (zeros when `None`): the top
    /// layer's output at every step (`time` tensors `[batch, H]`, in time order) and the final
    /// state.
    fn forward_steps(&self, input: &Var, initial: Option<&Self::State>) -> (Vec<Var>, Self::State);

    /// Runs over `input` (`[batch, time, in]`) from `initial` (zeros when `None`): the output
    /// (`[batch, time, H]`, or `[batch, H]` when not returning sequences) and the final state.
    #[track_caller]
    fn forward_with_state(&self, input: &Var, initial: Option<&Self::State>) -> (Var, Self::State) {
        let (steps, state) = self.forward_steps(input, initial);
        (gather_outputs(steps, self.return_sequences()), state)
    }
}

/// A config that builds a [`Recurrent`] layer, so that [`BidirectionalConfig`] can build two.
pub trait RecurrentConfig {
    /// The layer built.
    type Layer: Recurrent;

    /// Builds the layer, drawing its weights from `rng` (what the config's own `init` does).
    fn init_layer(&self, rng: &mut Rng) -> Self::Layer;
}

/// The state of a [`SimpleRnn`] or a [`Gru`]: the hidden vector of each layer.
#[derive(Clone, Debug)]
pub struct RnnState {
    /// `h[k]` is layer `k`'s `[batch, H]` (the last one is the top layer's, its output).
    pub h: Vec<Var>,
}

impl RnnState {
    /// All zeros: `num_layers` tensors `[batch, hidden_size]`.
    pub fn zeros(num_layers: usize, batch: usize, hidden_size: usize, dtype: DType) -> Self {
        RnnState { h: zero_states(num_layers, batch, hidden_size, dtype) }
    }

    /// The same values cut from the tape: gradients of a later piece of the sequence stop here.
    pub fn detach(&self) -> Self {
        RnnState { h: self.h.iter().map(Var::detach).collect() }
    }

    /// The number of layers.
    pub fn num_layers(&self) -> usize {
        self.h.len()
    }
}

/// The state of an [`Lstm`]: the hidden vector `h` and the cell `c` of each layer.
#[derive(Clone, Debug)]
pub struct LstmState {
    /// `h[k]` is layer `k`'s hidden vector `[batch, H]` (the top layer's is its output).
    pub h: Vec<Var>,
    /// `c[k]` is layer `k`'s cell `[batch, H]` (the memory that gates add to and erase).
    pub c: Vec<Var>,
}

impl LstmState {
    /// All zeros: `num_layers` tensors `[batch, hidden_size]` for `h` and for `c`.
    pub fn zeros(num_layers: usize, batch: usize, hidden_size: usize, dtype: DType) -> Self {
        let h = zero_states(num_layers, batch, hidden_size, dtype);
        LstmState { c: h.clone(), h }
    }

    /// The same values cut from the tape: gradients of a later piece of the sequence stop here.
    pub fn detach(&self) -> Self {
        LstmState { h: self.h.iter().map(Var::detach).collect(), c: self.c.iter().map(Var::detach).collect() }
    }

    /// The number of layers.
    pub fn num_layers(&self) -> usize {
        self.h.len()
    }
}

fn zero_states(num_layers: usize, batch: usize, hidden_size: usize, dtype: DType) -> Vec<Var> {
    (0..num_layers).map(|_| Var::constant(Tensor::zeros(&[batch, hidden_size], dtype))).collect()
}

/// PyTorch's initializer for every recurrent weight and bias: `U(−1/√H, 1/√H)`.
pub(crate) fn default_init(hidden_size: usize) -> Initializer {
    let bound = 1.0 / (hidden_size as f64).sqrt();
    Initializer::Uniform { low: -bound, high: bound }
}

/// `(batch, time)` of an input that must be `[batch, time, input_size]` with `time ≥ 1`.
#[track_caller]
pub(crate) fn check_input(layer: &str, input: &Var, input_size: usize) -> (usize, usize) {
    let shape = input.shape();
    assert!(
        shape.len() == 3 && shape[2] == input_size,
        "{layer}: expected input [batch, time, {input_size}] but received {shape:?}"
    );
    assert!(shape[1] > 0, "{layer}: the sequence {shape:?} has no time steps");
    (shape[0], shape[1])
}

/// Checks one step's operands: `x` must be `[batch, input_size]` and each of `states` `[batch, hidden]`.
#[track_caller]
pub(crate) fn check_step(cell: &str, x: &Var, input_size: usize, states: &[&Var], hidden: usize) {
    let shape = x.shape();
    assert!(
        shape.len() == 2 && shape[1] == input_size,
        "{cell}: expected input [batch, {input_size}] but received {shape:?}"
    );
    for s in states {
        assert!(
            s.shape() == [shape[0], hidden],
            "{cell}: expected a state of shape [{}, {hidden}] ([batch, hidden]) for input {shape:?} but received {:?}",
            shape[0],
            s.shape()
        );
    }
}

/// A zero state `[batch, hidden]` for one step on `input`, which must be `[batch, input_size]`.
#[track_caller]
pub(crate) fn zero_step_state(cell: &str, input: &Var, input_size: usize, hidden: usize) -> Var {
    let shape = input.shape();
    assert!(
        shape.len() == 2 && shape[1] == input_size,
        "{cell}: expected input [batch, {input_size}] but received {shape:?}"
    );
    Var::constant(Tensor::zeros(&[shape[0], hidden], input.dtype()))
}

/// Checks that each of `states` (named `name`) is `[batch, hidden_size]`, one per layer.
#[track_caller]
pub(crate) fn check_states(layer: &str, name: &str, states: &[Var], num_layers: usize, batch: usize, hidden: usize) {
    assert!(
        states.len() == num_layers,
        "{layer}: the initial state has {} `{name}` tensors but the layer has {num_layers} layers",
        states.len()
    );
    for (k, s) in states.iter().enumerate() {
        assert!(
            s.shape() == [batch, hidden],
            "{layer}: expected initial `{name}[{k}]` of shape [{batch}, {hidden}] ([batch, hidden]) but received {:?}",
            s.shape()
        );
    }
}

/// The input `[batch, time, in]` laid out time-major as rows `[time·batch, in]`: rows
/// `t·batch .. (t+1)·batch` are step `t`. One copy, so that every step is a contiguous block.
pub(crate) fn time_major_rows(input: &Var) -> Var {
    let shape = input.shape();
    input.permute(&[1, 0, 2]).reshape(&[shape[0] * shape[1], shape[2]])
}

/// What the next stacked layer reads: this layer's outputs as time-major rows
/// `[time·batch, H]`, through the inter-layer dropout if there is one.
pub(crate) fn next_layer_rows(outputs: &[Var], dropout: Option<&Dropout>) -> Var {
    let rows = Var::concat(outputs, 0);
    match dropout {
        Some(d) => d.forward(&rows),
        None => rows,
    }
}

/// Splits time-major rows `[time·batch, n]` into the `time` steps `[batch, n]`, as views.
///
/// Slicing every step straight out of the whole would make the backward pass quadratic in
/// `time`: the gradient of a slice is a zero tensor of the *whole* input's shape with the
/// slice's gradient written in, and those `time` whole-sized gradients are then added up.
/// Halving instead — halves, then quarters, …, then single steps — makes each level's
/// gradients together only as large as the whole, so the cost is `O(time · log time)`.
pub fn split_steps(rows: &Var, batch: usize, time: usize) -> Vec<Var> {
    fn halve(part: &Var, batch: usize, time: usize, steps: &mut Vec<Var>) {
        if time == 1 {
            steps.push(part.clone());
            return;
        }
        let first = time / 2;
        halve(&part.narrow(0, 0, first * batch), batch, first, steps);
        halve(&part.narrow(0, first * batch, (time - first) * batch), batch, time - first, steps);
    }
    assert_eq!(rows.shape()[0], batch * time, "split_steps: {:?} is not {time} steps of {batch} rows", rows.shape());
    let mut steps = Vec::with_capacity(time);
    halve(rows, batch, time, &mut steps);
    steps
}

/// All outputs stacked as `[batch, time, H]`, or the last `[batch, H]`.
pub(crate) fn gather_outputs(mut steps: Vec<Var>, return_sequences: bool) -> Var {
    if return_sequences {
        Var::stack(&steps, 1)
    } else {
        steps.pop().expect("a sequence has at least one step")
    }
}

/// Multiply-adds × 2 of a stack of layers over `input_shape = [batch, time, in]`, for
/// [`summary`](crate::summary()): each layer does `[batch, in_k] × [in_k, G·H]` and
/// `[batch, H] × [H, G·H]` per step (the elementwise gate arithmetic is not counted).
pub(crate) fn stack_flops(input_shape: &[usize], gates: usize, hidden: usize, num_layers: usize) -> u64 {
    let [batch, time, input] = [0, 1, 2].map(|d| input_shape.get(d).copied().unwrap_or(0) as u64);
    let (g, h) = (gates as u64, hidden as u64);
    (0..num_layers as u64).map(|k| 2 * batch * time * g * h * (if k == 0 { input } else { h } + h)).sum()
}
