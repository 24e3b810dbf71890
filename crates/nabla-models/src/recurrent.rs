//! An LSTM or a GRU, chosen by a value in a config: the recurrent core of [`CharLm`] and
//! [`SeqClassifier`].
//!
//! Both cells read a sequence `[batch, time, in]` one step at a time and carry a state forward
//! (see [`nabla_layers::rnn`] for the equations). They differ in what they carry — the LSTM a
//! hidden vector `h` and a cell `c`, the GRU only `h` — and in cost: a GRU has three gate
//! blocks to the LSTM's four, so it is about 25% smaller and faster at the same width.
//!
//! | value | layer | state | parameters per layer (`in` inputs, `H` units) |
//! |---|---|---|---|
//! | [`CellKind::Lstm`] | [`Lstm`] | [`LstmState`] (`h`, `c`) | `4H·in + 4H·H + 8H` |
//! | [`CellKind::Gru`] | [`Gru`] | [`RnnState`] (`h`) | `3H·in + 3H·H + 6H` |
//!
//! [`RecurrentLayer`] holds either and forwards to it; its parameters keep the wrapped layer's
//! (PyTorch's) names, `weight_ih_l0`, `weight_hh_l0`, …, so a model's checkpoint does not say
//! which enum variant built it — only its shapes do.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{Module, ModuleExt};
//! use nabla_models::{CellKind, RecurrentLayer};
//! use nabla_tensor::{rng, DType, Tensor};
//! let gru = RecurrentLayer::new(CellKind::Gru, 8, 16, 2, 0.0, DType::F32, &mut rng(0));
//! let x = Var::constant(Tensor::zeros(&[4, 10, 8], DType::F32)); // [batch, time, in]
//! let (steps, state) = gru.forward_steps(&x, None);
//! assert_eq!((steps.len(), steps[0].shape(), state.num_layers()), (10, &[4, 16][..], 2));
//! assert_eq!(gru.forward(&x).shape(), vec![4, 10, 16]);
//! assert_eq!(gru.num_parameters(), (3 * 16 * 8 + 3 * 16 * 16 + 6 * 16) + (2 * 3 * 16 * 16 + 6 * 16));
//! ```
//!
//! [`CharLm`]: crate::CharLm
//! [`SeqClassifier`]: crate::SeqClassifier

use nabla_autograd::Var;
use nabla_layers::{Gru, GruConfig, Lstm, LstmConfig, LstmState, Module, Recurrent, RnnState, Visitor};
use nabla_tensor::{DType, Rng};

/// Which recurrent cell a model uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CellKind {
    /// Long short-term memory: state `h` and cell `c`, four gate blocks.
    #[default]
    Lstm,
    /// Gated recurrent unit: state `h`, three gate blocks.
    Gru,
}

impl CellKind {
    /// The name of the cell, `"LSTM"` or `"GRU"`.
    pub fn name(self) -> &'static str {
        match self {
            CellKind::Lstm => "LSTM",
            CellKind::Gru => "GRU",
        }
    }
}

/// The state a [`RecurrentLayer`] carries between steps (and between calls).
#[derive(Clone, Debug)]
pub enum RecurrentState {
    /// An LSTM's `h` and `c`, one `[batch, H]` each per layer.
    Lstm(LstmState),
    /// A GRU's `h`, one `[batch, H]` per layer.
    Gru(RnnState),
}

impl RecurrentState {
    /// The same values cut from the tape (truncated backpropagation through time).
    pub fn detach(&self) -> Self {
        match self {
            RecurrentState::Lstm(s) => RecurrentState::Lstm(s.detach()),
            RecurrentState::Gru(s) => RecurrentState::Gru(s.detach()),
        }
    }

    /// The number of stacked layers.
    pub fn num_layers(&self) -> usize {
        match self {
            RecurrentState::Lstm(s) => s.num_layers(),
            RecurrentState::Gru(s) => s.num_layers(),
        }
    }

    /// The top layer's hidden vector `[batch, H]`: the output of the last step.
    pub fn top_hidden(&self) -> &Var {
        let h = match self {
            RecurrentState::Lstm(s) => &s.h,
            RecurrentState::Gru(s) => &s.h,
        };
        h.last().expect("a recurrent state has at least one layer")
    }
}

/// A stacked [`Lstm`] or [`Gru`] returning every step; see the [module docs](self).
pub enum RecurrentLayer {
    /// An LSTM.
    Lstm(Lstm),
    /// A GRU.
    Gru(Gru),
}

impl RecurrentLayer {
    /// `num_layers` stacked layers of `cell`, `input_size → hidden_size`, returning every step,
    /// with dropout `dropout` between stacked layers, PyTorch's initialization, drawn from `rng`.
    ///
    /// # Panics
    /// If `num_layers` is 0 or `dropout` is not in `[0, 1]`.
    #[track_caller]
    pub fn new(
        cell: CellKind,
        input_size: usize,
        hidden_size: usize,
        num_layers: usize,
        dropout: f64,
        dtype: DType,
        rng: &mut Rng,
    ) -> Self {
        match cell {
            CellKind::Lstm => RecurrentLayer::Lstm(
                LstmConfig::new(input_size, hidden_size)
                    .with_num_layers(num_layers)
                    .with_dropout(dropout)
                    .with_dtype(dtype)
                    .init(rng),
            ),
            CellKind::Gru => RecurrentLayer::Gru(
                GruConfig::new(input_size, hidden_size)
                    .with_num_layers(num_layers)
                    .with_dropout(dropout)
                    .with_dtype(dtype)
                    .init(rng),
            ),
        }
    }

    /// Which cell this is.
    pub fn cell(&self) -> CellKind {
        match self {
            RecurrentLayer::Lstm(_) => CellKind::Lstm,
            RecurrentLayer::Gru(_) => CellKind::Gru,
        }
    }

    /// Features of the state and of each step's output, `H`.
    pub fn hidden_size(&self) -> usize {
        match self {
            RecurrentLayer::Lstm(l) => l.hidden_size(),
            RecurrentLayer::Gru(l) => l.hidden_size(),
        }
    }

    /// The number of stacked layers.
    pub fn num_layers(&self) -> usize {
        match self {
            RecurrentLayer::Lstm(l) => l.num_layers(),
            RecurrentLayer::Gru(l) => l.num_layers(),
        }
    }

    /// Runs over `input` (`[batch, time, in]`) from `initial` (zeros when `None`): the top
    /// layer's output at every step (`time` tensors `[batch, H]`, in time order) and the final
    /// state.
    ///
    /// # Panics
    /// If `initial` is the other cell's state, or its shapes do not fit.
    #[track_caller]
    pub fn forward_steps(&self, input: &Var, initial: Option<&RecurrentState>) -> (Vec<Var>, RecurrentState) {
        self.dispatch(initial, |l, s| l.forward_steps(input, s), |l, s| l.forward_steps(input, s))
    }

    /// Runs over `input` (`[batch, time, in]`) from `initial` (zeros when `None`): the top
    /// layer's output at every step as one tensor `[batch, time, H]` and the final state. The
    /// same numbers as stacking [`forward_steps`](Self::forward_steps), without cutting the
    /// sequence into steps and gluing it back (an LSTM computes its steps as one block).
    ///
    /// # Panics
    /// If `initial` is the other cell's state, or its shapes do not fit.
    #[track_caller]
    pub fn forward_sequence(&self, input: &Var, initial: Option<&RecurrentState>) -> (Var, RecurrentState) {
        self.dispatch(initial, |l, s| every_step(l, input, s), |l, s| every_step(l, input, s))
    }

    /// Runs `lstm` or `gru` on this layer with the matching initial state.
    #[track_caller]
    fn dispatch<T>(
        &self,
        initial: Option<&RecurrentState>,
        lstm: impl FnOnce(&Lstm, Option<&LstmState>) -> (T, LstmState),
        gru: impl FnOnce(&Gru, Option<&RnnState>) -> (T, RnnState),
    ) -> (T, RecurrentState) {
        match (self, initial) {
            (RecurrentLayer::Lstm(l), None) => {
                let (out, s) = lstm(l, None);
                (out, RecurrentState::Lstm(s))
            }
            (RecurrentLayer::Lstm(l), Some(RecurrentState::Lstm(s))) => {
                let (out, s) = lstm(l, Some(s));
                (out, RecurrentState::Lstm(s))
            }
            (RecurrentLayer::Gru(l), None) => {
                let (out, s) = gru(l, None);
                (out, RecurrentState::Gru(s))
            }
            (RecurrentLayer::Gru(l), Some(RecurrentState::Gru(s))) => {
                let (out, s) = gru(l, Some(s));
                (out, RecurrentState::Gru(s))
            }
            (layer, Some(_)) => panic!(
                "RecurrentLayer: the initial state belongs to the other cell (this layer is an {})",
                layer.cell().name()
            ),
        }
    }

    fn inner(&self) -> &dyn Module {
        match self {
            RecurrentLayer::Lstm(l) => l,
            RecurrentLayer::Gru(l) => l,
        }
    }
}

impl Module for RecurrentLayer {
    /// Every step's output, `[batch, time, in] → [batch, time, H]`.
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        self.forward_sequence(input, None).0
    }

    fn kind(&self) -> &'static str {
        self.inner().kind()
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        self.inner().visit(visitor);
    }

    fn set_training(&mut self, training: bool) {
        match self {
            RecurrentLayer::Lstm(l) => l.set_training(training),
            RecurrentLayer::Gru(l) => l.set_training(training),
        }
    }

    fn flops(&self, input_shape: &[usize], output_shape: &[usize]) -> u64 {
        self.inner().flops(input_shape, output_shape)
    }
}

/// Every step's output `[batch, time, H]` of `layer`, whatever its `return_sequences`.
#[track_caller]
fn every_step<R: Recurrent>(layer: &R, input: &Var, initial: Option<&R::State>) -> (Var, R::State) {
    if layer.return_sequences() {
        layer.forward_with_state(input, initial)
    } else {
        let (steps, state) = layer.forward_steps(input, initial);
        (Var::stack(&steps, 1), state)
    }
}
