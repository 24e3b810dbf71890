//! Long short-term memory (Hochreiter & Schmidhuber, 1997; the forget gate of Gers et al., 2000).
//!
//! Besides the hidden vector `h`, an LSTM carries a *cell* `c`, a memory that is changed only by
//! gates — sigmoids in `(0, 1)` that decide, element by element, how much to let through:
//!
//! ```text
//! i  = σ(x·W_iiᵀ + b_ii + h·W_hiᵀ + b_hi)     input gate: how much of g to write
//! f  = σ(x·W_ifᵀ + b_if + h·W_hfᵀ + b_hf)     forget gate: how much of c to keep
//! g  = tanh(x·W_igᵀ + b_ig + h·W_hgᵀ + b_hg)  candidate values
//! o  = σ(x·W_ioᵀ + b_io + h·W_hoᵀ + b_ho)     output gate: how much of the cell to show
//! c' = f⊙c + i⊙g
//! h' = o⊙tanh(c')
//! ```
//!
//! The cell's update is a sum, so `∂c'/∂c = f`: as long as the forget gate stays open, the
//! gradient travels back through many steps without being squashed at each one — the
//! vanishing gradient of the [`SimpleRnn`](super::SimpleRnn) is what this design avoids.
//!
//! | tensor | shape |
//! |---|---|
//! | input `x` | `[batch, time, in]` (a cell: one step `[batch, in]`) |
//! | `weight_ih` | `[4H, in]`: `W_ii, W_if, W_ig, W_io` stacked in that order (PyTorch's layout) |
//! | `weight_hh` | `[4H, H]`: `W_hi, W_hf, W_hg, W_ho` |
//! | `bias_ih`, `bias_hh` | `[4H]` each |
//! | state `h`, `c` | `[batch, H]` each, per layer ([`LstmState`]) |
//! | output | `[batch, time, H]`, or `[batch, H]` when not returning sequences |
//!
//! Parameters per layer: `4H·in + 4H·H + 8H` (layer `k > 0` has `in = H`), as PyTorch's `nn.LSTM`.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{LstmConfig, Module, ModuleExt};
//! use nabla_tensor::{rng, DType, Tensor};
//! let lstm = LstmConfig::new(10, 20).init(&mut rng(0));
//! assert_eq!(lstm.num_parameters(), 4 * 20 * 10 + 4 * 20 * 20 + 8 * 20); // 2560, as PyTorch
//! let x = Var::constant(Tensor::zeros(&[3, 5, 10], DType::F32));
//! assert_eq!(lstm.forward(&x).shape(), vec![3, 5, 20]);
//! ```

use nabla_autograd::Var;
use nabla_tensor::{DType, Rng};

use super::{
    check_input, check_states, check_step, default_init, split_steps, stack_flops, time_major_rows, zero_step_state,
    LstmState, Recurrent, RecurrentConfig,
};
use crate::dropout::{Dropout, DropoutConfig};
use crate::init::Initializer;
use crate::module::{Module, Visitor};

/// The new `(h', c')` from the four gates' pre-activations `[batch, 4H]` (order `i, f, g, o`)
/// and the old cell `c`: one fused op (`Var::lstm_cell`, which packs `[h' | c']`) instead of
/// the dozen its formulas take when composed.
fn lstm_update(gates: &Var, c: &Var) -> (Var, Var) {
    let hidden = c.shape()[1];
    let packed = gates.lstm_cell(c);
    (packed.narrow(1, 0, hidden), packed.narrow(1, hidden, hidden))
}

/// How to build an [`LstmCell`].
#[derive(Clone, Debug, PartialEq)]
pub struct LstmCellConfig {
    /// Input features.
    pub input_size: usize,
    /// Features of the state (`h` and `c`).
    pub hidden_size: usize,
    /// How every weight and bias starts; `None` is PyTorch's `U(−1/√H, 1/√H)`.
    pub init: Option<Initializer>,
    /// Element type of the parameters.
    pub dtype: DType,
}

impl LstmCellConfig {
    /// `input_size → hidden_size`, PyTorch's initialization, `f32`.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        LstmCellConfig { input_size, hidden_size, init: None, dtype: DType::F32 }
    }

    /// Sets the initializer of every weight and bias.
    pub fn with_init(mut self, init: Initializer) -> Self {
        self.init = Some(init);
        self
    }

    /// Sets the element type.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Builds the cell, drawing `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` (in that order) from `rng`.
    pub fn init(&self, rng: &mut Rng) -> LstmCell {
        let (h, init) = (self.hidden_size, self.init.unwrap_or_else(|| default_init(self.hidden_size)));
        let mut param = |shape: &[usize]| Var::new(init.init(shape, self.dtype, rng));
        LstmCell {
            weight_ih: param(&[4 * h, self.input_size]),
            weight_hh: param(&[4 * h, h]),
            bias_ih: param(&[4 * h]),
            bias_hh: param(&[4 * h]),
        }
    }
}

/// One step of an LSTM; see the [module docs](self).
///
/// As a [`Module`], `forward(x)` is one step from the zero state, returning `h'`:
/// `[batch, in] → [batch, H]`.
pub struct LstmCell {
    /// `[4H, in]`, gate blocks `i, f, g, o`.
    pub weight_ih: Var,
    /// `[4H, H]`, gate blocks `i, f, g, o`.
    pub weight_hh: Var,
    /// `[4H]`.
    pub bias_ih: Var,
    /// `[4H]`.
    pub bias_hh: Var,
}

impl LstmCell {
    /// Input features.
    pub fn input_size(&self) -> usize {
        self.weight_ih.shape()[1]
    }

    /// Features of the state.
    pub fn hidden_size(&self) -> usize {
        self.weight_hh.shape()[1]
    }

    /// One step: `(x, h, c) ↦ (h', c')`, `[batch, in], [batch, H], [batch, H] → [batch, H], [batch, H]`.
    #[track_caller]
    pub fn step(&self, x: &Var, h: &Var, c: &Var) -> (Var, Var) {
        check_step("LstmCell", x, self.input_size(), &[h, c], self.hidden_size());
        let input_part = x.matmul(&self.weight_ih.t()).add(&self.bias_ih);
        let gates = input_part.add(&h.matmul(&self.weight_hh.t())).add(&self.bias_hh);
        lstm_update(&gates, c)
    }
}

impl Module for LstmCell {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let zero = zero_step_state("LstmCell", input, self.input_size(), self.hidden_size());
        self.step(input, &zero, &zero).0
    }

    fn kind(&self) -> &'static str {
        "LstmCell"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.parameter("weight_ih", &self.weight_ih);
        visitor.parameter("weight_hh", &self.weight_hh);
        visitor.parameter("bias_ih", &self.bias_ih);
        visitor.parameter("bias_hh", &self.bias_hh);
    }

    fn flops(&self, input_shape: &[usize], _output_shape: &[usize]) -> u64 {
        let batch = input_shape.first().copied().unwrap_or(0);
        stack_flops(&[batch, 1, self.input_size()], 4, self.hidden_size(), 1)
    }
}

/// How to build an [`Lstm`] sequence layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LstmConfig {
    /// Input features.
    pub input_size: usize,
    /// Features of each layer's state (and of the output).
    pub hidden_size: usize,
    /// Stacked layers; layer `k > 0` reads the outputs of layer `k − 1`.
    pub num_layers: usize,
    /// Output every step `[batch, time, H]` (true, the default) or only the last `[batch, H]`.
    pub return_sequences: bool,
    /// Dropout probability on the outputs of every layer but the last (0, none, by default).
    pub dropout: f64,
    /// How every weight and bias starts; `None` is PyTorch's `U(−1/√H, 1/√H)`.
    pub init: Option<Initializer>,
    /// Element type of the parameters.
    pub dtype: DType,
}

impl LstmConfig {
    /// One layer `input_size → hidden_size` returning sequences, no dropout, PyTorch's
    /// initialization, `f32`.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        LstmConfig {
            input_size,
            hidden_size,
            num_layers: 1,
            return_sequences: true,
            dropout: 0.0,
            init: None,
            dtype: DType::F32,
        }
    }

    /// Sets the number of stacked layers.
    ///
    /// # Panics
    /// If `num_layers` is 0.
    #[track_caller]
    pub fn with_num_layers(mut self, num_layers: usize) -> Self {
        assert!(num_layers > 0, "Lstm: num_layers must be at least 1");
        self.num_layers = num_layers;
        self
    }

    /// Sets whether to output every step or only the last.
    pub fn with_return_sequences(mut self, return_sequences: bool) -> Self {
        self.return_sequences = return_sequences;
        self
    }

    /// Sets the dropout probability between stacked layers.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    #[track_caller]
    pub fn with_dropout(mut self, p: f64) -> Self {
        assert!((0.0..=1.0).contains(&p), "Lstm: the dropout probability {p} must be in [0, 1]");
        self.dropout = p;
        self
    }

    /// Sets the initializer of every weight and bias.
    pub fn with_init(mut self, init: Initializer) -> Self {
        self.init = Some(init);
        self
    }

    /// Sets the element type.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Builds the layer: each layer's parameters in turn from `rng`, then the dropout seed.
    pub fn init(&self, rng: &mut Rng) -> Lstm {
        let cells = (0..self.num_layers)
            .map(|k| {
                let input_size = if k == 0 { self.input_size } else { self.hidden_size };
                let cell =
                    LstmCellConfig { input_size, hidden_size: self.hidden_size, init: self.init, dtype: self.dtype };
                cell.init(rng)
            })
            .collect();
        let dropout = (self.dropout > 0.0 && self.num_layers > 1).then(|| DropoutConfig::new(self.dropout).init(rng));
        Lstm { cells, return_sequences: self.return_sequences, dropout }
    }
}

impl RecurrentConfig for LstmConfig {
    type Layer = Lstm;

    fn init_layer(&self, rng: &mut Rng) -> Lstm {
        self.init(rng)
    }
}

/// An LSTM over sequences, possibly stacked; see the [module docs](self).
pub struct Lstm {
    /// One cell per layer; their parameters are named `weight_ih_l{k}`, `weight_hh_l{k}`, ….
    pub cells: Vec<LstmCell>,
    return_sequences: bool,
    dropout: Option<Dropout>,
}

impl Lstm {
    /// The number of stacked layers.
    pub fn num_layers(&self) -> usize {
        self.cells.len()
    }

    /// Features of the state.
    pub fn hidden_size(&self) -> usize {
        self.cells[0].hidden_size()
    }
}

impl Recurrent for Lstm {
    type State = LstmState;

    fn output_size(&self) -> usize {
        self.hidden_size()
    }

    fn return_sequences(&self) -> bool {
        self.return_sequences
    }

    #[track_caller]
    fn forward_steps(&self, input: &Var, initial: Option<&LstmState>) -> (Vec<Var>, LstmState) {
        let (rows, state, batch, time) = self.run(input, initial);
        (split_steps(&rows, batch, time), state)
    }

    #[track_caller]
    fn forward_with_state(&self, input: &Var, initial: Option<&LstmState>) -> (Var, LstmState) {
        let (rows, state, batch, time) = self.run(input, initial);
        let output = if self.return_sequences {
            rows.reshape(&[time, batch, self.hidden_size()]).permute(&[1, 0, 2])
        } else {
            rows.narrow(0, (time - 1) * batch, batch)
        };
        (output, state)
    }
}

impl Lstm {
    /// The top layer's `h` at every step as time-major rows `[time·batch, H]`, the final state,
    /// and `(batch, time)`. Each layer is one product for the input's share of all its gates
    /// and one fused recurrence (`Var::lstm_sequence`) over the steps.
    #[track_caller]
    fn run(&self, input: &Var, initial: Option<&LstmState>) -> (Var, LstmState, usize, usize) {
        let (batch, time) = check_input("Lstm", input, self.cells[0].input_size());
        let (layers, hidden) = (self.num_layers(), self.hidden_size());
        let initial = match initial {
            Some(state) => {
                check_states("Lstm", "h", &state.h, layers, batch, hidden);
                check_states("Lstm", "c", &state.c, layers, batch, hidden);
                state.clone()
            }
            None => LstmState::zeros(layers, batch, hidden, input.dtype()),
        };
        let mut rows = time_major_rows(input);
        let mut last = LstmState { h: Vec::with_capacity(layers), c: Vec::with_capacity(layers) };
        for (k, cell) in self.cells.iter().enumerate() {
            if k > 0 {
                if let Some(dropout) = &self.dropout {
                    rows = dropout.forward(&rows);
                }
            }
            // x·W_ihᵀ + b_ih + b_hh for every step at once: [time·batch, in] × [in, 4H], by the
            // fused `linear` (the bias is added as the product is written, not in a second pass
            // over the [time·batch, 4H] result).
            let projected = rows.linear(&cell.weight_ih, Some(&cell.bias_ih.add(&cell.bias_hh)));
            // [hₜ | cₜ] for every step, [time·batch, 2H].
            let packed = projected.lstm_sequence(&cell.weight_hh, &initial.h[k], &initial.c[k]);
            let final_step = packed.narrow(0, (time - 1) * batch, batch);
            last.h.push(final_step.narrow(1, 0, hidden));
            last.c.push(final_step.narrow(1, hidden, hidden));
            rows = packed.narrow(1, 0, hidden);
        }
        (rows, last, batch, time)
    }
}

impl Module for Lstm {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        self.forward_with_state(input, None).0
    }

    fn kind(&self) -> &'static str {
        "Lstm"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        for (k, cell) in self.cells.iter().enumerate() {
            visitor.parameter(&format!("weight_ih_l{k}"), &cell.weight_ih);
            visitor.parameter(&format!("weight_hh_l{k}"), &cell.weight_hh);
            visitor.parameter(&format!("bias_ih_l{k}"), &cell.bias_ih);
            visitor.parameter(&format!("bias_hh_l{k}"), &cell.bias_hh);
        }
        if let Some(dropout) = &self.dropout {
            visitor.child("dropout", dropout);
        }
    }

    fn set_training(&mut self, training: bool) {
        if let Some(dropout) = &mut self.dropout {
            dropout.set_training(training);
        }
    }

    fn flops(&self, input_shape: &[usize], _output_shape: &[usize]) -> u64 {
        stack_flops(input_shape, 4, self.hidden_size(), self.num_layers())
    }
}
