//! W6: what nabla costs per operation, on a network so small that the arithmetic is almost
//! free.
//!
//! ```text
//! [32, 2] ─Linear─▶ 16 ─ReLU─▶ ─Linear─▶ 16 ─ReLU─▶ ─Linear─▶ [32, 1] ─MSE─▶ loss
//! ```
//!
//! One training step (forward, mean squared error, backward, SGD with learning rate 0.01 and
//! no momentum) on a batch of 32, in samples/s. The whole step is about 60 kFLOP, a few
//! microseconds of arithmetic; what the figure measures is everything around it: recording
//! the tape, allocating tensors, checking shapes, dispatching on the dtype, walking the tape
//! back, the optimizer's bookkeeping. Two runners compute the same step from the same weights
//! on the same batches:
//!
//! - `nabla`: the network as a user builds it ([`Sequential`] of [`LinearConfig`] layers and
//!   [`ReLU`]), [`MseLoss`], `loss.backward()` and nabla-train's SGD, through the same
//!   [`train_step`] the other training workloads time;
//! - `ndarray-by-hand`: [`HandMlp`], the forward pass, the backward pass and the update written
//!   out by hand on `ndarray::Array2<f32>` with `.dot()`, as a student writes them after a
//!   course on backpropagation: no tape, activations kept in local variables, the ReLU mask
//!   and the update applied in place.
//!
//! The ratio nabla / ndarray-by-hand is the share of the hand-written speed that nabla keeps;
//! the bar is 0.5 (nabla at most twice as slow as code with no framework at all).
//!
//! W0 to W5 are the workloads of `WORKLOADS.md`; W6 is nabla's own, numbered after them, and
//! no peer file has figures for it.
//!
//! Data: [`ROTATION`] batches of inputs `N(0, 1)` with targets `sin(2x₀) + x₀x₁/2 + 0.1·ε`,
//! `ε ~ N(0, 1)`, drawn from seed 0 after the weights. The 337 parameters can fit much of the
//! noise on 128 points, but slowly: over a few seconds of steps the loss goes from about 0.9
//! to a few thousandths, far from where gradients would become denormal. The weights are nabla's default initialisation (Glorot uniform,
//! zero biases), and the hand-written runner copies them from nabla's model.
//!
//! Before timing, both runners run [`check`]: from the same weights on one batch, the
//! hand-written loss, gradients and updated weights must equal nabla's within 10⁻⁴, and a few
//! steps of each must lower the loss. So a fast baseline that computes something else cannot
//! be reported.

use std::hint::black_box;

use nabla_autograd::Var;
use nabla_layers::{LinearConfig, Loss, Module, ModuleExt, MseLoss, ReLU, Sequential, Target};
use nabla_tensor::{init, DType, Rng, Tensor};
use nabla_train::optim::{Optimizer, SgdConfig};
use ndarray::{Array1, Array2, Axis, Ix1, Ix2};

use super::training::{build, module_forward, sequential_parts, train_step, training_breakdown, Batch, Case, Input};
use super::training::{ROTATION, SEED};
use super::{Measurement, Reference, Runner, Settings, Workload};
use crate::measure::measure;
use crate::system::{locked_version, NABLA_VERSION};

/// The W6 entry of the registry.
pub const W6: Workload = Workload {
    id: "W6",
    summary: "per-op overhead: MLP 2-16-16-1 ReLU, MSE, SGD training step, batch 32 (samples/s)",
    notes: "nabla's own workload (not in WORKLOADS.md, no peer figures): nabla's public API against the same step \
            written by hand on ndarray, same initial weights; inputs N(0,1), targets sin(2x0) + x0*x1/2 + 0.1 noise, \
            seed 0, 4 batches in rotation; SGD lr 0.01, no momentum; the bar is nabla/ndarray-by-hand >= 0.5",
    // nabla at most twice as slow as the step written by hand.
    reference: Some(Reference { framework: "ndarray-by-hand", bar: 0.5 }),
    runners: &[
        Runner { framework: "nabla", version: || NABLA_VERSION.to_string(), run: run_nabla },
        Runner { framework: "ndarray-by-hand", version: || locked_version("ndarray"), run: run_by_hand },
    ],
};

/// Samples per batch.
const BATCH: usize = 32;
/// SGD's learning rate.
const LEARNING_RATE: f32 = 0.01;
/// Standard deviation of the noise on the targets.
const NOISE: f32 = 0.1;
/// Steps each runner takes on one batch in [`check`].
const CHECK_STEPS: usize = 20;
/// How far the hand-written step may be from nabla's: relative to the larger magnitude, and
/// absolute below 1.
const TOLERANCE: f32 = 1e-4;

/// The network: 2 → 16 → 16 → 1, ReLU between, a linear output.
pub fn mlp(rng: &mut Rng) -> Sequential {
    Sequential::new()
        .add(LinearConfig::new(2, 16).init(rng))
        .add(ReLU)
        .add(LinearConfig::new(16, 16).init(rng))
        .add(ReLU)
        .add(LinearConfig::new(16, 1).init(rng))
}

/// The MLP as a benchmark case (its "classes" are the one regression output).
pub const MLP: Case<Sequential> = Case {
    workload: "W6",
    model: mlp,
    forward: module_forward,
    parts: sequential_parts,
    parameters: 2 * 16 + 16 + 16 * 16 + 16 + 16 + 1,
    input: Input::Normal,
    sample: &[2],
    classes: 1,
};

/// `count` batches of inputs `[32, 2]` and targets `[32, 1]`.
pub fn batches(count: usize, rng: &mut Rng) -> Vec<(Tensor, Tensor)> {
    (0..count)
        .map(|_| {
            let x = init::normal(&[BATCH, 2], 0.0, 1.0, DType::F32, rng);
            let noise = init::normal(&[BATCH, 1], 0.0, 1.0, DType::F32, rng).to_vec_f32();
            let targets: Vec<f32> = x
                .to_vec_f32()
                .chunks(2)
                .zip(noise)
                .map(|(p, e)| (2.0 * p[0]).sin() + p[0] * p[1] / 2.0 + NOISE * e)
                .collect();
            (x, Tensor::from_vec(targets, &[BATCH, 1]))
        })
        .collect()
}

/// What both runners start from: nabla's model from seed 0, then the batches drawn after it.
fn setup(count: usize) -> Result<(Sequential, Vec<(Tensor, Tensor)>), String> {
    let mut rng = nabla_tensor::rng(SEED);
    let model = build(&MLP, &mut rng)?;
    Ok((model, batches(count, &mut rng)))
}

/// A batch as nabla's training step reads it.
fn nabla_batch((x, t): &(Tensor, Tensor)) -> Batch {
    Batch { inputs: Var::constant(x.clone()), target: Target::Values(t.clone()) }
}

/// SGD without momentum over the model's parameters.
fn sgd(model: &Sequential) -> impl Optimizer {
    SgdConfig::new(f64::from(LEARNING_RATE)).init(model.named_parameters())
}

/// A 2-D f32 tensor as an owned `Array2` (a copy).
fn matrix(t: &Tensor) -> Array2<f32> {
    t.view::<f32>().into_dimensionality::<Ix2>().expect("a 2-D tensor").to_owned()
}

/// A 1-D f32 tensor as an owned `Array1` (a copy).
fn vector(t: &Tensor) -> Array1<f32> {
    t.view::<f32>().into_dimensionality::<Ix1>().expect("a 1-D tensor").to_owned()
}

/// The MLP's six tensors as plain ndarray arrays: its weights, or the gradients of the loss
/// with respect to them (same shapes). Weights are `[in, out]`, so that a layer is
/// `x.dot(&w) + &b` (nabla keeps PyTorch's `[out, in]`).
#[derive(Clone, Debug)]
pub struct HandMlp {
    /// `[2, 16]`
    pub w1: Array2<f32>,
    /// `[16]`
    pub b1: Array1<f32>,
    /// `[16, 16]`
    pub w2: Array2<f32>,
    /// `[16]`
    pub b2: Array1<f32>,
    /// `[16, 1]`
    pub w3: Array2<f32>,
    /// `[1]`
    pub b3: Array1<f32>,
}

impl HandMlp {
    /// The weights of nabla's model, copied and transposed to `[in, out]`.
    pub fn from_model(model: &Sequential) -> Self {
        let p: Vec<Tensor> = model.parameters().iter().map(Var::value).collect();
        assert_eq!(p.len(), 6, "three linear layers with a weight and a bias each");
        let w = |i: usize| matrix(&p[i]).t().as_standard_layout().into_owned();
        HandMlp { w1: w(0), b1: vector(&p[1]), w2: w(2), b2: vector(&p[3]), w3: w(4), b3: vector(&p[5]) }
    }

    /// The loss `mean((y − t)²)` of the batch `x` with targets `t`, and its gradients.
    pub fn gradients(&self, x: &Array2<f32>, t: &Array2<f32>) -> (f32, HandMlp) {
        // Forward, keeping the pre-activations z for the ReLU masks of the backward pass.
        let z1 = x.dot(&self.w1) + &self.b1;
        let h1 = z1.mapv(|v| v.max(0.0));
        let z2 = h1.dot(&self.w2) + &self.b2;
        let h2 = z2.mapv(|v| v.max(0.0));
        let y = h2.dot(&self.w3) + &self.b3;

        let diff = y - t;
        let n = diff.len() as f32;
        let loss = diff.iter().map(|d| d * d).sum::<f32>() / n;

        // Backward: ∂loss/∂y = 2(y − t)/n, then each layer in reverse. For a layer
        // z = h·W + b: ∂W = hᵀ·∂z, ∂b = the column sums of ∂z, ∂h = ∂z·Wᵀ; through a ReLU,
        // ∂z = ∂h where z > 0 and 0 elsewhere.
        let dy = diff * (2.0 / n);
        let w3 = h2.t().dot(&dy);
        let b3 = dy.sum_axis(Axis(0));
        let mut dz2 = dy.dot(&self.w3.t());
        dz2.zip_mut_with(&z2, |g, &z| {
            if z <= 0.0 {
                *g = 0.0;
            }
        });
        let w2 = h1.t().dot(&dz2);
        let b2 = dz2.sum_axis(Axis(0));
        let mut dz1 = dz2.dot(&self.w2.t());
        dz1.zip_mut_with(&z1, |g, &z| {
            if z <= 0.0 {
                *g = 0.0;
            }
        });
        let w1 = x.t().dot(&dz1);
        let b1 = dz1.sum_axis(Axis(0));
        (loss, HandMlp { w1, b1, w2, b2, w3, b3 })
    }

    /// One SGD step without momentum, in place: `p ← p − lr·g`.
    pub fn sgd_step(&mut self, grads: &HandMlp, lr: f32) {
        self.w1.scaled_add(-lr, &grads.w1);
        self.b1.scaled_add(-lr, &grads.b1);
        self.w2.scaled_add(-lr, &grads.w2);
        self.b2.scaled_add(-lr, &grads.b2);
        self.w3.scaled_add(-lr, &grads.w3);
        self.b3.scaled_add(-lr, &grads.b3);
    }

    /// One training step: gradients, then the update. Returns the loss before the update.
    pub fn train_step(&mut self, x: &Array2<f32>, t: &Array2<f32>, lr: f32) -> f32 {
        let (loss, grads) = self.gradients(x, t);
        self.sgd_step(&grads, lr);
        loss
    }

    /// The six tensors in nabla's order and layout (`0.weight`, `0.bias`, `2.weight`, ...;
    /// weights `[out, in]`), flattened row-major.
    fn in_nabla_layout(&self) -> [Vec<f32>; 6] {
        let weight = |w: &Array2<f32>| w.t().iter().copied().collect();
        let bias = |b: &Array1<f32>| b.to_vec();
        [weight(&self.w1), bias(&self.b1), weight(&self.w2), bias(&self.b2), weight(&self.w3), bias(&self.b3)]
    }
}

/// The largest difference between `ours` and `hand`, or an error naming `what` and the first
/// element further apart than [`TOLERANCE`] allows.
fn compare(what: &str, ours: &[f32], hand: &[f32]) -> Result<f32, String> {
    if ours.len() != hand.len() {
        return Err(format!("{what}: nabla has {} values, the hand-written step {}", ours.len(), hand.len()));
    }
    let mut largest = 0.0f32;
    for (i, (a, b)) in ours.iter().zip(hand).enumerate() {
        let diff = (a - b).abs();
        if diff.is_nan() || diff > TOLERANCE * a.abs().max(b.abs()).max(1.0) {
            return Err(format!("{what}[{i}]: nabla {a}, hand-written {b}"));
        }
        largest = largest.max(diff);
    }
    Ok(largest)
}

/// Checks that the hand-written step is nabla's step, and that both learn. On one batch,
/// from the same weights: the losses, the gradients of every parameter, and the weights after
/// one SGD step must agree within [`TOLERANCE`]; then [`CHECK_STEPS`] steps of each must lower
/// the loss. Returns a line for the log: the largest difference and both losses.
pub fn check() -> Result<String, String> {
    let (model, data) = setup(1)?;
    let batch = nabla_batch(&data[0]);
    let (x, t) = (matrix(&data[0].0), matrix(&data[0].1));
    let mut hand = HandMlp::from_model(&model);
    let parameters = model.named_parameters();

    let loss = MseLoss.loss(&model.forward(&batch.inputs), &batch.target);
    let grads = loss.backward();
    let (hand_loss, hand_grads) = hand.gradients(&x, &t);
    let mut largest = compare("loss", &[loss.item() as f32], &[hand_loss])?;
    for ((name, p), g) in parameters.iter().zip(hand_grads.in_nabla_layout()) {
        let ours = grads.get(p).ok_or_else(|| format!("W6: nabla computed no gradient for `{name}`"))?;
        largest = largest.max(compare(&format!("W6: the gradient of `{name}`"), &ours.to_vec_f32(), &g)?);
    }

    let mut optimizer = sgd(&model);
    optimizer.step(&grads);
    hand.sgd_step(&hand_grads, LEARNING_RATE);
    for ((name, p), w) in parameters.iter().zip(hand.in_nabla_layout()) {
        let what = format!("W6: `{name}` after one SGD step");
        largest = largest.max(compare(&what, &p.value().to_vec_f32(), &w)?);
    }

    let loss_fn = MseLoss;
    let mut ours = Vec::with_capacity(CHECK_STEPS);
    let mut theirs = Vec::with_capacity(CHECK_STEPS);
    for _ in 0..CHECK_STEPS {
        ours.push(train_step(&MLP, &model, &loss_fn, &mut optimizer, &batch) as f32);
        theirs.push(hand.train_step(&x, &t, LEARNING_RATE));
    }
    for (who, losses) in [("nabla", &ours), ("the hand-written step", &theirs)] {
        let (first, last) = (losses[0], losses[CHECK_STEPS - 1]);
        if !last.is_finite() || last >= first {
            return Err(format!(
                "W6: {CHECK_STEPS} SGD steps of {who} on one batch did not lower the loss: {losses:?}"
            ));
        }
    }
    Ok(format!(
        "check: hand-written step = nabla's within {largest:.1e}; {CHECK_STEPS} steps on one batch: \
         loss {:.4} -> {:.4} (nabla), {:.4} -> {:.4} (by hand)",
        ours[0],
        ours[CHECK_STEPS - 1],
        theirs[0],
        theirs[CHECK_STEPS - 1],
    ))
}

/// Times `step` (which returns the loss) over the batches in rotation, and fails if the loss
/// stops being finite.
fn time_steps(settings: &Settings, framework: &str, mut step: impl FnMut(usize) -> f32) -> Result<Measurement, String> {
    let mut steps = 0usize;
    let (mut first, mut last) = (f32::NAN, f32::NAN);
    let timing = measure(settings.seconds, || {
        let loss = black_box(step(steps % ROTATION));
        if steps == 0 {
            first = loss;
        }
        last = loss;
        steps += 1;
    });
    if !last.is_finite() {
        return Err(format!("W6 {framework}: the loss became {last}"));
    }
    eprintln!(
        "  W6   {framework}: {steps} steps (warm-up and timed) over {ROTATION} batches, loss {first:.4} -> {last:.4}"
    );
    Ok(Measurement::per_second("sgd", "samples_per_s", BATCH as f64, timing))
}

fn run_nabla(settings: &Settings, sink: &mut dyn FnMut(Measurement)) -> Result<(), String> {
    eprintln!("  W6   {}", check()?);
    let (model, data) = setup(ROTATION)?;
    let data: Vec<Batch> = data.iter().map(nabla_batch).collect();
    let mut optimizer = sgd(&model);
    let loss_fn = MseLoss;
    let measurement =
        time_steps(settings, "nabla", |i| train_step(&MLP, &model, &loss_fn, &mut optimizer, &data[i]) as f32)?;
    if settings.verbose {
        eprint!("{}", training_breakdown(settings, &MLP, &model, &loss_fn, &mut optimizer, &data));
    }
    sink(measurement);
    Ok(())
}

fn run_by_hand(settings: &Settings, sink: &mut dyn FnMut(Measurement)) -> Result<(), String> {
    eprintln!("  W6   {}", check()?);
    let (model, data) = setup(ROTATION)?;
    let mut hand = HandMlp::from_model(&model);
    drop(model);
    let data: Vec<(Array2<f32>, Array2<f32>)> = data.iter().map(|(x, t)| (matrix(x), matrix(t))).collect();
    sink(time_steps(settings, "ndarray-by-hand", |i| hand.train_step(&data[i].0, &data[i].1, LEARNING_RATE))?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_gradients_match_autograd_and_steps_lower_the_loss() {
        let line = check().unwrap();
        assert!(line.starts_with("check: hand-written step = nabla's"), "{line}");
    }

    #[test]
    fn hand_written_steps_lower_the_loss_on_the_rotation() {
        let (model, data) = setup(ROTATION).unwrap();
        let mut hand = HandMlp::from_model(&model);
        let data: Vec<(Array2<f32>, Array2<f32>)> = data.iter().map(|(x, t)| (matrix(x), matrix(t))).collect();
        let epoch = |hand: &mut HandMlp| -> f32 {
            data.iter().map(|(x, t)| hand.train_step(x, t, LEARNING_RATE)).sum::<f32>() / ROTATION as f32
        };
        let first = epoch(&mut hand);
        let mut last = first;
        for _ in 0..50 {
            last = epoch(&mut hand);
        }
        assert!(last < 0.8 * first, "mean loss {first} -> {last}");
    }

    #[test]
    fn the_check_catches_a_wrong_gradient() {
        let (model, data) = setup(1).unwrap();
        let hand = HandMlp::from_model(&model);
        let (_, mut grads) = hand.gradients(&matrix(&data[0].0), &matrix(&data[0].1));
        let right = grads.in_nabla_layout()[2].clone();
        grads.w2[[3, 5]] += 0.01;
        let err = compare("2.weight", &right, &grads.in_nabla_layout()[2]).unwrap_err();
        // `w2[[3, 5]]` is `[out 5, in 3]` in nabla's layout: index 5·16 + 3.
        assert!(err.starts_with("2.weight[83]"), "{err}");
        assert_eq!(MLP.parameters, mlp(&mut nabla_tensor::rng(0)).num_parameters());
    }
}
