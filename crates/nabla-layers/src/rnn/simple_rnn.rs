//! The simple (Elman) recurrent layer: `hₜ = tanh(xₜ·W_ihᵀ + b_ih + hₜ₋₁·W_hhᵀ + b_hh)`.
//!
//! | tensor | shape |
//! |---|---|
//! | input `x` | `[batch, time, in]` (a cell: one step `[batch, in]`) |
//! | `weight_ih` `W_ih` | `[H, in]` |
//! | `weight_hh` `W_hh` | `[H, H]` |
//! | `bias_ih`, `bias_hh` | `[H]` each (PyTorch keeps both; only their sum matters) |
//! | state `h` | `[batch, H]` per layer ([`RnnState`]) |
//! | output | `[batch, time, H]`, or `[batch, H]` when not returning sequences |
//!
//! Parameters per layer: `H·in + H·H + 2H` (layer `k > 0` has `in = H`), as PyTorch's `nn.RNN`.
//!
//! Each new state mixes the input with the previous state and squashes the result into
//! `(−1, 1)`. Backpropagating through `time` steps multiplies the gradient by
//! `W_hhᵀ·diag(1 − hₜ²)` once per step, so over long sequences it vanishes (or explodes) —
//! the problem the [`LstmCell`](super::LstmCell) and [`GruCell`](super::GruCell) solve.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{Module, SimpleRnnConfig};
//! use nabla_tensor::{rng, DType, Tensor};
//! let rnn = SimpleRnnConfig::new(3, 5).with_return_sequences(false).init(&mut rng(0));
//! let x = Var::constant(Tensor::zeros(&[2, 7, 3], DType::F32));
//! assert_eq!(rnn.forward(&x).shape(), vec![2, 5]); // the last state only
//! ```

use nabla_autograd::Var;
use nabla_tensor::{DType, Rng};

use super::{
    check_input, check_states, check_step, default_init, next_layer_rows, split_steps, stack_flops, time_major_rows,
    zero_step_state, Recurrent, RecurrentConfig, RnnState,
};
use crate::dropout::{Dropout, DropoutConfig};
use crate::init::Initializer;
use crate::module::{Module, Visitor};

/// How to build a [`SimpleRnnCell`].
#[derive(Clone, Debug, PartialEq)]
pub struct SimpleRnnCellConfig {
    /// Input features.
    pub input_size: usize,
    /// Features of the state `h`.
    pub hidden_size: usize,
    /// How every weight and bias starts; `None` is PyTorch's `U(−1/√H, 1/√H)`.
    pub init: Option<Initializer>,
    /// Element type of the parameters.
    pub dtype: DType,
}

impl SimpleRnnCellConfig {
    /// `input_size → hidden_size`, PyTorch's initialization, `f32`.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        SimpleRnnCellConfig { input_size, hidden_size, init: None, dtype: DType::F32 }
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
    pub fn init(&self, rng: &mut Rng) -> SimpleRnnCell {
        let (h, init) = (self.hidden_size, self.init.unwrap_or_else(|| default_init(self.hidden_size)));
        let mut param = |shape: &[usize]| Var::new(init.init(shape, self.dtype, rng));
        SimpleRnnCell {
            weight_ih: param(&[h, self.input_size]),
            weight_hh: param(&[h, h]),
            bias_ih: param(&[h]),
            bias_hh: param(&[h]),
        }
    }
}

/// One step of a simple RNN; see the [module docs](self).
///
/// As a [`Module`], `forward(x)` is one step from the zero state: `[batch, in] → [batch, H]`.
pub struct SimpleRnnCell {
    /// `[H, in]`.
    pub weight_ih: Var,
    /// `[H, H]`.
    pub weight_hh: Var,
    /// `[H]`.
    pub bias_ih: Var,
    /// `[H]`.
    pub bias_hh: Var,
}

impl SimpleRnnCell {
    /// Input features.
    pub fn input_size(&self) -> usize {
        self.weight_ih.shape()[1]
    }

    /// Features of the state.
    pub fn hidden_size(&self) -> usize {
        self.weight_hh.shape()[1]
    }

    /// One step: `h' = tanh(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh)`, `[batch, in], [batch, H] → [batch, H]`.
    #[track_caller]
    pub fn step(&self, x: &Var, h: &Var) -> Var {
        check_step("SimpleRnnCell", x, self.input_size(), &[h], self.hidden_size());
        let input_part = x.matmul(&self.weight_ih.t()).add(&self.bias_ih);
        input_part.add(&h.matmul(&self.weight_hh.t())).add(&self.bias_hh).tanh()
    }
}

impl Module for SimpleRnnCell {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let h = zero_step_state("SimpleRnnCell", input, self.input_size(), self.hidden_size());
        self.step(input, &h)
    }

    fn kind(&self) -> &'static str {
        "SimpleRnnCell"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.parameter("weight_ih", &self.weight_ih);
        visitor.parameter("weight_hh", &self.weight_hh);
        visitor.parameter("bias_ih", &self.bias_ih);
        visitor.parameter("bias_hh", &self.bias_hh);
    }

    fn flops(&self, input_shape: &[usize], _output_shape: &[usize]) -> u64 {
        let batch = input_shape.first().copied().unwrap_or(0);
        stack_flops(&[batch, 1, self.input_size()], 1, self.hidden_size(), 1)
    }
}

/// How to build a [`SimpleRnn`] sequence layer.
#[derive(Clone, Debug, PartialEq)]
pub struct SimpleRnnConfig {
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

impl SimpleRnnConfig {
    /// One layer `input_size → hidden_size` returning sequences, no dropout, PyTorch's
    /// initialization, `f32`.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        SimpleRnnConfig {
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
        assert!(num_layers > 0, "SimpleRnn: num_layers must be at least 1");
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
        assert!((0.0..=1.0).contains(&p), "SimpleRnn: the dropout probability {p} must be in [0, 1]");
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
    pub fn init(&self, rng: &mut Rng) -> SimpleRnn {
        let cells = (0..self.num_layers)
            .map(|k| {
                let input_size = if k == 0 { self.input_size } else { self.hidden_size };
                let cell = SimpleRnnCellConfig {
                    input_size,
                    hidden_size: self.hidden_size,
                    init: self.init,
                    dtype: self.dtype,
                };
                cell.init(rng)
            })
            .collect();
        let dropout = (self.dropout > 0.0 && self.num_layers > 1).then(|| DropoutConfig::new(self.dropout).init(rng));
        SimpleRnn { cells, return_sequences: self.return_sequences, dropout }
    }
}

impl RecurrentConfig for SimpleRnnConfig {
    type Layer = SimpleRnn;

    fn init_layer(&self, rng: &mut Rng) -> SimpleRnn {
        self.init(rng)
    }
}

/// A simple RNN over sequences, possibly stacked; see the [module docs](self).
pub struct SimpleRnn {
    /// One cell per layer; their parameters are named `weight_ih_l{k}`, `weight_hh_l{k}`, ….
    pub cells: Vec<SimpleRnnCell>,
    return_sequences: bool,
    dropout: Option<Dropout>,
}

impl SimpleRnn {
    /// The number of stacked layers.
    pub fn num_layers(&self) -> usize {
        self.cells.len()
    }

    /// Features of the state.
    pub fn hidden_size(&self) -> usize {
        self.cells[0].hidden_size()
    }
}

impl Recurrent for SimpleRnn {
    type State = RnnState;

    fn output_size(&self) -> usize {
        self.hidden_size()
    }

    fn return_sequences(&self) -> bool {
        self.return_sequences
    }

    #[track_caller]
    fn forward_steps(&self, input: &Var, initial: Option<&RnnState>) -> (Vec<Var>, RnnState) {
        let (batch, time) = check_input("SimpleRnn", input, self.cells[0].input_size());
        let (layers, hidden) = (self.num_layers(), self.hidden_size());
        let initial = match initial {
            Some(state) => {
                check_states("SimpleRnn", "h", &state.h, layers, batch, hidden);
                state.clone()
            }
            None => RnnState::zeros(layers, batch, hidden, input.dtype()),
        };
        let mut rows = time_major_rows(input);
        let mut outputs = Vec::new();
        let mut last = Vec::with_capacity(layers);
        for (k, cell) in self.cells.iter().enumerate() {
            if k > 0 {
                rows = next_layer_rows(&outputs, self.dropout.as_ref());
            }
            // x·W_ihᵀ + b_ih + b_hh for every step at once; only h·W_hhᵀ is left for the loop.
            let projected = rows.matmul(&cell.weight_ih.t()).add(&cell.bias_ih.add(&cell.bias_hh));
            let w_hh_t = cell.weight_hh.t();
            let mut h = initial.h[k].clone();
            outputs = split_steps(&projected, batch, time)
                .iter()
                .map(|p| {
                    h = p.add(&h.matmul(&w_hh_t)).tanh();
                    h.clone()
                })
                .collect();
            last.push(h);
        }
        (outputs, RnnState { h: last })
    }
}

impl Module for SimpleRnn {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        self.forward_with_state(input, None).0
    }

    fn kind(&self) -> &'static str {
        "SimpleRnn"
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
        stack_flops(input_shape, 1, self.hidden_size(), self.num_layers())
    }
}
