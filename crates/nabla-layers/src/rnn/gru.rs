//! Gated recurrent unit (Cho et al., 2014), in PyTorch's formulation.
//!
//! A GRU keeps a single state `h` and two gates — a *reset* gate `r` that decides how much of
//! the old state the candidate `n` may read, and an *update* gate `z` that blends the old state
//! with the candidate:
//!
//! ```text
//! r  = σ(x·W_irᵀ + b_ir + h·W_hrᵀ + b_hr)          reset gate
//! z  = σ(x·W_izᵀ + b_iz + h·W_hzᵀ + b_hz)          update gate
//! n  = tanh(x·W_inᵀ + b_in + r⊙(h·W_hnᵀ + b_hn))   candidate state
//! h' = (1 − z)⊙n + z⊙h
//! ```
//!
//! Like the LSTM's cell, `h'` is a blend rather than a squashed sum, so `∂h'/∂h` contains the
//! term `z`: where the update gate is near 1 the state — and its gradient — passes through
//! unchanged. The reset gate multiplies `h·W_hnᵀ + b_hn` *after* the product (PyTorch's and
//! cuDNN's variant), which is why `b_hn` cannot be merged into `b_in`.
//!
//! | tensor | shape |
//! |---|---|
//! | input `x` | `[batch, time, in]` (a cell: one step `[batch, in]`) |
//! | `weight_ih` | `[3H, in]`: `W_ir, W_iz, W_in` stacked in that order (PyTorch's layout) |
//! | `weight_hh` | `[3H, H]`: `W_hr, W_hz, W_hn` |
//! | `bias_ih`, `bias_hh` | `[3H]` each |
//! | state `h` | `[batch, H]` per layer ([`RnnState`]) |
//! | output | `[batch, time, H]`, or `[batch, H]` when not returning sequences |
//!
//! Parameters per layer: `3H·in + 3H·H + 6H` (layer `k > 0` has `in = H`), as PyTorch's `nn.GRU`.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{GruConfig, Module, ModuleExt};
//! use nabla_tensor::{rng, DType, Tensor};
//! let gru = GruConfig::new(10, 20).with_num_layers(2).init(&mut rng(0));
//! assert_eq!(gru.num_parameters(), (3 * 20 * 10 + 3 * 20 * 20 + 6 * 20) + (3 * 20 * 20 * 2 + 6 * 20));
//! let x = Var::constant(Tensor::zeros(&[3, 5, 10], DType::F32));
//! assert_eq!(gru.forward(&x).shape(), vec![3, 5, 20]);
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

/// The new `h'` from the input's share `x·W_ihᵀ + b_ih` and the state's share `h·W_hhᵀ + b_hh`
/// of the gates (both `[batch, 3H]`, blocks `r, z, n`) and the old state `h`.
fn gru_update(from_input: &Var, from_state: &Var, h: &Var) -> Var {
    let [x_r, x_z, x_n]: [Var; 3] = from_input.chunk(3, 1).try_into().expect("three gate blocks");
    let [h_r, h_z, h_n]: [Var; 3] = from_state.chunk(3, 1).try_into().expect("three gate blocks");
    let r = x_r.add(&h_r).sigmoid();
    let z = x_z.add(&h_z).sigmoid();
    let n = x_n.add(&r.mul(&h_n)).tanh();
    // (1 − z)⊙n + z⊙h, written as n + z⊙(h − n): the same value with fewer ops.
    n.add(&z.mul(&h.sub(&n)))
}

/// How to build a [`GruCell`].
#[derive(Clone, Debug, PartialEq)]
pub struct GruCellConfig {
    /// Input features.
    pub input_size: usize,
    /// Features of the state `h`.
    pub hidden_size: usize,
    /// How every weight and bias starts; `None` is PyTorch's `U(−1/√H, 1/√H)`.
    pub init: Option<Initializer>,
    /// Element type of the parameters.
    pub dtype: DType,
}

impl GruCellConfig {
    /// `input_size → hidden_size`, PyTorch's initialization, `f32`.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        GruCellConfig { input_size, hidden_size, init: None, dtype: DType::F32 }
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
    pub fn init(&self, rng: &mut Rng) -> GruCell {
        let (h, init) = (self.hidden_size, self.init.unwrap_or_else(|| default_init(self.hidden_size)));
        let mut param = |shape: &[usize]| Var::new(init.init(shape, self.dtype, rng));
        GruCell {
            weight_ih: param(&[3 * h, self.input_size]),
            weight_hh: param(&[3 * h, h]),
            bias_ih: param(&[3 * h]),
            bias_hh: param(&[3 * h]),
        }
    }
}

/// One step of a GRU; see the [module docs](self).
///
/// As a [`Module`], `forward(x)` is one step from the zero state: `[batch, in] → [batch, H]`.
pub struct GruCell {
    /// `[3H, in]`, gate blocks `r, z, n`.
    pub weight_ih: Var,
    /// `[3H, H]`, gate blocks `r, z, n`.
    pub weight_hh: Var,
    /// `[3H]`.
    pub bias_ih: Var,
    /// `[3H]`.
    pub bias_hh: Var,
}

impl GruCell {
    /// Input features.
    pub fn input_size(&self) -> usize {
        self.weight_ih.shape()[1]
    }

    /// Features of the state.
    pub fn hidden_size(&self) -> usize {
        self.weight_hh.shape()[1]
    }

    /// One step: `(x, h) ↦ h'`, `[batch, in], [batch, H] → [batch, H]`.
    #[track_caller]
    pub fn step(&self, x: &Var, h: &Var) -> Var {
        check_step("GruCell", x, self.input_size(), &[h], self.hidden_size());
        let from_input = x.matmul(&self.weight_ih.t()).add(&self.bias_ih);
        let from_state = h.matmul(&self.weight_hh.t()).add(&self.bias_hh);
        gru_update(&from_input, &from_state, h)
    }
}

impl Module for GruCell {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let zero = zero_step_state("GruCell", input, self.input_size(), self.hidden_size());
        self.step(input, &zero)
    }

    fn kind(&self) -> &'static str {
        "GruCell"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.parameter("weight_ih", &self.weight_ih);
        visitor.parameter("weight_hh", &self.weight_hh);
        visitor.parameter("bias_ih", &self.bias_ih);
        visitor.parameter("bias_hh", &self.bias_hh);
    }

    fn flops(&self, input_shape: &[usize], _output_shape: &[usize]) -> u64 {
        let batch = input_shape.first().copied().unwrap_or(0);
        stack_flops(&[batch, 1, self.input_size()], 3, self.hidden_size(), 1)
    }
}

/// How to build a [`Gru`] sequence layer.
#[derive(Clone, Debug, PartialEq)]
pub struct GruConfig {
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

impl GruConfig {
    /// One layer `input_size → hidden_size` returning sequences, no dropout, PyTorch's
    /// initialization, `f32`.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        GruConfig {
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
        assert!(num_layers > 0, "Gru: num_layers must be at least 1");
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
        assert!((0.0..=1.0).contains(&p), "Gru: the dropout probability {p} must be in [0, 1]");
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
    pub fn init(&self, rng: &mut Rng) -> Gru {
        let cells = (0..self.num_layers)
            .map(|k| {
                let input_size = if k == 0 { self.input_size } else { self.hidden_size };
                let cell =
                    GruCellConfig { input_size, hidden_size: self.hidden_size, init: self.init, dtype: self.dtype };
                cell.init(rng)
            })
            .collect();
        let dropout = (self.dropout > 0.0 && self.num_layers > 1).then(|| DropoutConfig::new(self.dropout).init(rng));
        Gru { cells, return_sequences: self.return_sequences, dropout }
    }
}

impl RecurrentConfig for GruConfig {
    type Layer = Gru;

    fn init_layer(&self, rng: &mut Rng) -> Gru {
        self.init(rng)
    }
}

/// A GRU over sequences, possibly stacked; see the [module docs](self).
pub struct Gru {
    /// One cell per layer; their parameters are named `weight_ih_l{k}`, `weight_hh_l{k}`, ….
    pub cells: Vec<GruCell>,
    return_sequences: bool,
    dropout: Option<Dropout>,
}

impl Gru {
    /// The number of stacked layers.
    pub fn num_layers(&self) -> usize {
        self.cells.len()
    }

    /// Features of the state.
    pub fn hidden_size(&self) -> usize {
        self.cells[0].hidden_size()
    }
}

impl Recurrent for Gru {
    type State = RnnState;

    fn output_size(&self) -> usize {
        self.hidden_size()
    }

    fn return_sequences(&self) -> bool {
        self.return_sequences
    }

    #[track_caller]
    fn forward_steps(&self, input: &Var, initial: Option<&RnnState>) -> (Vec<Var>, RnnState) {
        let (batch, time) = check_input("Gru", input, self.cells[0].input_size());
        let (layers, hidden) = (self.num_layers(), self.hidden_size());
        let initial = match initial {
            Some(state) => {
                check_states("Gru", "h", &state.h, layers, batch, hidden);
                state.clone()
            }
            None => RnnState::zeros(layers, batch, hidden, input.dtype()),
        };
        let mut rows = time_major_rows(input);
        let mut outputs = Vec::new();
        let mut last = RnnState { h: Vec::with_capacity(layers) };
        for (k, cell) in self.cells.iter().enumerate() {
            if k > 0 {
                rows = next_layer_rows(&outputs, self.dropout.as_ref());
            }
            // x·W_ihᵀ + b_ih for every step at once: [time·batch, in] × [in, 3H]. (b_hh stays
            // in the loop: r multiplies h·W_hnᵀ + b_hn.)
            let projected = rows.matmul(&cell.weight_ih.t()).add(&cell.bias_ih);
            let w_hh_t = cell.weight_hh.t();
            let mut h = initial.h[k].clone();
            outputs = split_steps(&projected, batch, time)
                .iter()
                .map(|p| {
                    h = gru_update(p, &h.matmul(&w_hh_t).add(&cell.bias_hh), &h);
                    h.clone()
                })
                .collect();
            last.h.push(h);
        }
        (outputs, last)
    }
}

impl Module for Gru {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        self.forward_with_state(input, None).0
    }

    fn kind(&self) -> &'static str {
        "Gru"
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
        stack_flops(input_shape, 3, self.hidden_size(), self.num_layers())
    }
}
