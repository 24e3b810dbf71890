//! `summary()`: a Keras-style table of a model — each layer's name, type, output shape,
//! parameter counts and forward FLOPs — from one forward pass on zeros of the input shape.
//!
//! ```text
//! Layer (type)          Output shape        Param #   FLOPs
//! ──────────────────────────────────────────────────────────
//! 0 (Linear)            [1, 128]            100,480   200,704
//! 1 (ReLU)              [1, 128]                  0         0
//! 2 (Linear)            [1, 10]               1,290     2,560
//! ──────────────────────────────────────────────────────────
//! Total params: 101,770 (trainable 101,770, non-trainable 0)
//! Forward FLOPs for input [1, 784]: 203,264
//! ```

use std::fmt;

use nabla_autograd::{no_grad, Var};
use nabla_tensor::{DType, Tensor};

use crate::module::{Module, ModuleExt, TensorKind};

/// One line of a summary.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    /// Dotted path of the layer in the model (`block1.conv`).
    pub name: String,
    /// The layer's type (`Conv2d`).
    pub kind: String,
    /// Output shape, batch axis included.
    pub output_shape: Vec<usize>,
    /// Learned parameters owned by this layer (and its children, for containers shown as one row).
    pub trainable: usize,
    /// Buffers (running statistics).
    pub non_trainable: usize,
    /// Forward FLOPs for the summarised batch.
    pub flops: u64,
}

/// Collects summary rows during [`Module::forward_traced`].
#[derive(Default)]
pub struct Trace {
    path: Vec<String>,
    rows: Vec<SummaryRow>,
}

impl Trace {
    /// Enters child `name`: rows recorded until [`Trace::exit`] are named `…name.…`.
    pub fn enter(&mut self, name: &str) {
        self.path.push(name.to_string());
    }

    /// Leaves the child entered last.
    pub fn exit(&mut self) {
        self.path.pop();
    }

    /// Records one row for `module`, which mapped `input_shape` to `output_shape`.
    pub fn record<M: Module + ?Sized>(&mut self, module: &M, input_shape: &[usize], output_shape: &[usize]) {
        let (mut trainable, mut non_trainable) = (0, 0);
        for (_, var, kind) in module.named_tensors() {
            match kind {
                TensorKind::Parameter => trainable += var.value().len(),
                TensorKind::Buffer => non_trainable += var.value().len(),
                TensorKind::State => {}
            }
        }
        self.rows.push(SummaryRow {
            name: self.path.join("."),
            kind: module.kind().to_string(),
            output_shape: output_shape.to_vec(),
            trainable,
            non_trainable,
            flops: module.flops(input_shape, output_shape),
        });
    }
}

/// A model's summary; `Display` prints the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// One row per layer, in forward order.
    pub rows: Vec<SummaryRow>,
    /// The input shape summarised.
    pub input_shape: Vec<usize>,
    /// Learned parameters of the whole model.
    pub trainable: usize,
    /// Buffers of the whole model.
    pub non_trainable: usize,
}

impl Summary {
    /// All learned and tracked scalars.
    pub fn total_parameters(&self) -> usize {
        self.trainable + self.non_trainable
    }

    /// Forward FLOPs of the whole model for the summarised input.
    pub fn total_flops(&self) -> u64 {
        self.rows.iter().map(|r| r.flops).sum()
    }
}

/// Runs `model` once on zeros of `input_shape` (batch axis included, e.g. `[1, 784]`) without
/// recording gradients and tabulates each layer. Buffers and state are restored afterwards, so a
/// summary never changes the model.
pub fn summary<M: Module + ?Sized>(model: &M, input_shape: &[usize]) -> Summary {
    let dtype = model.parameters().first().map_or(DType::F32, Var::dtype);
    let saved: Vec<(Var, Tensor)> = model
        .named_tensors()
        .into_iter()
        .filter(|(_, _, kind)| *kind != TensorKind::Parameter)
        .map(|(_, v, _)| (v.clone(), v.value()))
        .collect();
    let mut trace = Trace::default();
    no_grad(|| model.forward_traced(&Var::constant(Tensor::zeros(input_shape, dtype)), &mut trace));
    for (var, value) in saved {
        var.set_value(value);
    }
    let (mut trainable, mut non_trainable) = (0, 0);
    for (_, var, kind) in model.named_tensors() {
        match kind {
            TensorKind::Parameter => trainable += var.value().len(),
            TensorKind::Buffer => non_trainable += var.value().len(),
            TensorKind::State => {}
        }
    }
    Summary { rows: trace.rows, input_shape: input_shape.to_vec(), trainable, non_trainable }
}

/// `1234567` → `"1,234,567"`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label =
            |r: &SummaryRow| if r.name.is_empty() { r.kind.clone() } else { format!("{} ({})", r.name, r.kind) };
        let width = self.rows.iter().map(|r| label(r).chars().count()).max().unwrap_or(0).max(12) + 2;
        let line = "─".repeat(width + 20 + 14 + 16);
        writeln!(f, "{:<width$}{:<20}{:>14}{:>16}", "Layer (type)", "Output shape", "Param #", "FLOPs")?;
        writeln!(f, "{line}")?;
        for r in &self.rows {
            let params = (r.trainable + r.non_trainable) as u64;
            let shape = format!("{:?}", r.output_shape);
            writeln!(f, "{:<width$}{:<20}{:>14}{:>16}", label(r), shape, grouped(params), grouped(r.flops))?;
        }
        writeln!(f, "{line}")?;
        writeln!(
            f,
            "Total params: {} (trainable {}, non-trainable {})",
            grouped(self.total_parameters() as u64),
            grouped(self.trainable as u64),
            grouped(self.non_trainable as u64)
        )?;
        write!(f, "Forward FLOPs for input {:?}: {}", self.input_shape, grouped(self.total_flops()))
    }
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn groups_digits() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1234567), "1,234,567");
    }
}
