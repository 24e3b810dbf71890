//! What the model workloads (W1, W1i, W2, W2i, W3, W4, W5) share: synthetic batches, a
//! training step and an inference step written as a user writes them on nabla's public API,
//! the checks that run before anything is timed, and the `--verbose` breakdown of where a
//! step's time goes. W6 uses the training step and the breakdown with its own data, loss and
//! checks.
//!
//! A **training step** is what `nabla_train::Trainer` does per batch:
//!
//! ```text
//! logits = model.forward(x)             nabla-layers Modules, recording the tape
//!                                       (a GPT's [b, t, V] flattened to [b·t, V])
//! loss   = CrossEntropyLoss(logits, y)  mean softmax cross-entropy over the rows
//! grads  = loss.backward()              walk the tape back
//! optimizer.step(&grads)                nabla-train SGD / Adam, in place on the parameters
//! ```
//!
//! and an **inference step** is `no_grad(|| model.forward(x))`.
//!
//! Inputs are `N(0, 1)` f32 with class labels drawn uniformly, from a fixed seed, and the
//! steps cycle through [`ROTATION`] different input batches. `WORKLOADS.md` warns that
//! training on one repeated batch drives the loss to zero and values into the denormal range,
//! which slows f32 arithmetic. A few batches in rotation are not enough: the MLP fits 4
//! batches of 128 random points (fewer points than input dimensions) within a hundred steps,
//! loss 0.001. So the training steps see each input batch with two independently drawn label
//! sets on alternate rounds ([`relabelled_batches`]): no network can fit both, the mean loss
//! cannot go below `ln 2 ×` (the share of samples whose two labels differ, about 0.9), and
//! the network keeps telling its inputs apart. (Labels that move on through all classes
//! instead keep the loss at `ln 10` but let Adam kill every ReLU unit: the model then predicts
//! the uniform distribution, every gradient is zero and Adam's first moments decay into
//! subnormals.) The cost of a step does not depend on the labels.
//!
//! Language models ([`Input::Tokens`]: W4, W5) read token ids drawn uniformly from the
//! vocabulary instead, `t` per sample, and predict one label per position. The first label set
//! of each batch is the real next-token task (each sequence is drawn one token longer and the
//! labels are the inputs shifted by one); the second is drawn independently, as above. A
//! recurrent or causal model identifies which of the 4·batch sequences it is reading after a
//! token or two, and could otherwise memorise all their continuations; with two label sets it
//! cannot do better than the same `ln 2 ×` floor. Their figure is tokens/s (batch × t per step).
//!
//! The runner prints the
//! bound, the loss at the start and the end of the timed steps, and counts the subnormal
//! values the model holds after them ([`subnormal_census`]); `--flush-denormals` measures
//! what they cost.
//!
//! Before timing, [`check_training`] takes a few steps of a fresh copy of the model on one
//! fixed batch and fails the run unless the loss is finite, every parameter gets a gradient
//! and the loss goes down; [`check_inference`] fails it unless the output has the expected
//! shape, is finite, carries no tape and equals the training-mode forward pass.

use std::hint::black_box;
use std::time::{Duration, Instant};

use nabla_autograd::{grad, no_grad, Var};
use nabla_layers::{CrossEntropyLoss, Loss, Module, ModuleExt, Sequential, Target};
use nabla_tensor::{init, DType, Rng, Tensor};
use nabla_train::optim::Optimizer;

use super::{Measurement, Settings};
use crate::measure::{measure, median};
use crate::system::minor_page_faults;

/// How many different batches the timed steps cycle through.
pub const ROTATION: usize = 4;
/// Seed of the weights and the synthetic data (WORKLOADS.md: "from a fixed seed").
pub const SEED: u64 = 0;
/// Training steps [`check_training`] takes on its fixed batch.
const CHECK_STEPS: usize = 5;
/// Share of `--seconds` the `--verbose` breakdown spends on whole steps split into phases.
const BREAKDOWN_SHARE: f64 = 0.3;
/// Repetitions per layer in the `--verbose` per-layer table.
const LAYER_REPEATS: usize = 5;

/// Builds a variant's optimizer over the model's named parameters.
pub type MakeOptimizer = fn(Vec<(String, Var)>) -> Box<dyn Optimizer>;

/// One model workload: how to build the network, run it, and what it is fed.
pub struct Case<M: 'static> {
    /// The workload id, for messages.
    pub workload: &'static str,
    /// Builds the network from a seeded generator (the same weights every run).
    pub model: fn(&mut Rng) -> M,
    /// The logits `[rows, classes]` for a batch of inputs, as the user's training loop
    /// computes them (usually [`module_forward`]).
    pub forward: fn(&M, &Var) -> Var,
    /// The network cut into pieces that run one after the other, for the `--verbose`
    /// per-layer table (the pieces' composition is the network, up to a free reshape).
    pub parts: for<'a> fn(&'a M) -> Vec<Part<'a>>,
    /// Parameters the network must have (a check that it is the network `WORKLOADS.md` defines).
    pub parameters: usize,
    /// What the network reads.
    pub input: Input,
    /// Shape of one sample, e.g. `[784]`, `[1, 28, 28]`, or `[t]` for token ids.
    pub sample: &'static [usize],
    /// Number of classes (the width of the logits; the vocabulary for token inputs).
    pub classes: usize,
}

/// What a model workload reads, and so what it is measured in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// `N(0, 1)` values of the sample's shape, one class label per sample; samples/s.
    Normal,
    /// Token ids `[t]` (whole numbers stored as `f32`) uniform over the classes, one label per
    /// position (the next token); tokens/s.
    Tokens,
}

impl Input {
    /// Rows of logits (and labels) in a batch of `size` samples of shape `sample`.
    pub fn rows(self, size: usize, sample: &[usize]) -> usize {
        match self {
            Input::Normal => size,
            Input::Tokens => size * sample[0],
        }
    }

    /// The record's metric and the units of work in a batch of `size` samples.
    pub fn figure(self, size: usize, sample: &[usize]) -> (&'static str, f64) {
        match self {
            Input::Normal => ("samples_per_s", size as f64),
            Input::Tokens => ("tokens_per_s", self.rows(size, sample) as f64),
        }
    }
}

/// One piece of a network as the `--verbose` per-layer table runs it: a name, a kind and
/// what it computes from the previous piece's output.
pub struct Part<'a> {
    /// The piece's name in the model (`layer1.0`, `blocks.1`, `head`, ...).
    pub name: String,
    /// What kind of layer it is (`Conv2d`, `LSTM`, ...).
    pub kind: &'static str,
    /// The piece's forward pass.
    pub forward: Box<dyn Fn(&Var) -> Var + 'a>,
}

impl<'a> Part<'a> {
    /// The module `module` called `name`, run as it is.
    pub fn of(name: impl Into<String>, module: &'a dyn Module) -> Self {
        Part { name: name.into(), kind: module.kind(), forward: Box::new(move |x| module.forward(x)) }
    }
}

/// `model.forward(x)`: the [`Case::forward`] of a network whose output is already the logits.
pub fn module_forward<M: Module>(model: &M, x: &Var) -> Var {
    model.forward(x)
}

/// The layers of a [`Sequential`], as [`Case::parts`].
pub fn sequential_parts(model: &Sequential) -> Vec<Part<'_>> {
    model.layers().map(|(name, layer)| Part::of(name, layer)).collect()
}

/// One batch: inputs as a constant `Var` (as a data loader hands them over) and class labels.
pub struct Batch {
    /// `[batch, ...sample]`: `N(0, 1)` values or token ids.
    pub inputs: Var,
    /// One label per row of logits: per sample, or per position for token inputs.
    pub target: Target,
}

/// `count` synthetic batches of `size` samples of shape `sample` read as `input`, labelled with
/// `classes` classes (for token inputs: the next token of each position).
pub fn batches(count: usize, size: usize, input: Input, sample: &[usize], classes: usize, rng: &mut Rng) -> Vec<Batch> {
    let mut shape = vec![size];
    shape.extend_from_slice(sample);
    (0..count)
        .map(|_| match input {
            Input::Normal => {
                let inputs = Var::constant(init::normal(&shape, 0.0, 1.0, DType::F32, rng));
                Batch { inputs, target: Target::Classes(labels(size, classes, rng)) }
            }
            Input::Tokens => {
                // One token more than the model reads: position i's label is token i + 1.
                let t = sample[0];
                let ids = labels(size * (t + 1), classes, rng);
                let (mut x, mut y) = (Vec::with_capacity(size * t), Vec::with_capacity(size * t));
                for row in ids.chunks(t + 1) {
                    x.extend(row[..t].iter().map(|&id| id as f32));
                    y.extend_from_slice(&row[1..]);
                }
                Batch { inputs: Var::constant(Tensor::from_vec(x, &shape)), target: Target::Classes(y) }
            }
        })
        .collect()
}

/// `size` class indices drawn uniformly from `0..classes`.
fn labels(size: usize, classes: usize, rng: &mut Rng) -> Vec<usize> {
    let draws = init::uniform(&[size], 0.0, classes as f64, DType::F64, rng).to_vec_f64();
    draws.into_iter().map(|u| (u.floor() as usize).min(classes - 1)).collect()
}

/// [`ROTATION`] input batches, each listed twice with independently drawn labels: entry `k`
/// and entry `k + ROTATION` share their inputs (one buffer) but not their labels. Also returns
/// the lowest mean loss any model can reach when cycling through them, `ln 2 ×` the share of
/// samples whose two labels differ (predicting ½ for each of the two labels is optimal there).
pub fn relabelled_batches(
    size: usize,
    input: Input,
    sample: &[usize],
    classes: usize,
    rng: &mut Rng,
) -> (Vec<Batch>, f64) {
    let rows = input.rows(size, sample);
    let first = batches(ROTATION, size, input, sample, classes, rng);
    let second: Vec<Batch> = first
        .iter()
        .map(|b| Batch { inputs: b.inputs.clone(), target: Target::Classes(labels(rows, classes, rng)) })
        .collect();
    let differ: usize = first
        .iter()
        .zip(&second)
        .map(|(a, b)| match (&a.target, &b.target) {
            (Target::Classes(x), Target::Classes(y)) => x.iter().zip(y).filter(|(p, q)| p != q).count(),
            _ => unreachable!("both hold class labels"),
        })
        .sum();
    let bound = std::f64::consts::LN_2 * differ as f64 / (ROTATION * rows) as f64;
    (first.into_iter().chain(second).collect(), bound)
}

/// One training step: forward, loss, backward, optimizer update. Returns the loss.
pub fn train_step<M>(case: &Case<M>, model: &M, loss: &dyn Loss, optimizer: &mut dyn Optimizer, batch: &Batch) -> f64 {
    let logits = (case.forward)(model, &batch.inputs);
    let loss = loss.loss(&logits, &batch.target);
    let grads = loss.backward();
    optimizer.step(&grads);
    loss.item()
}

/// One inference step: the logits, without a tape.
pub fn infer_step<M>(case: &Case<M>, model: &M, batch: &Batch) -> Tensor {
    no_grad(|| (case.forward)(model, &batch.inputs)).value()
}

/// The synthetic batches of `case`.
fn case_batches<M>(case: &Case<M>, count: usize, size: usize, rng: &mut Rng) -> Vec<Batch> {
    batches(count, size, case.input, case.sample, case.classes, rng)
}

/// The model of `case`, after checking its parameter count.
pub fn build<M: Module>(case: &Case<M>, rng: &mut Rng) -> Result<M, String> {
    let model = (case.model)(rng);
    let parameters = model.num_parameters();
    if parameters != case.parameters {
        return Err(format!(
            "{}: the model has {parameters} parameters, but the workload's network has {}",
            case.workload, case.parameters
        ));
    }
    Ok(model)
}

/// Takes [`CHECK_STEPS`] training steps of a fresh model on one fixed batch of `size` samples
/// and returns the losses, or says what went wrong: a non-finite loss, a parameter without
/// a gradient, or a loss that did not go down.
pub fn check_training<M: Module>(case: &Case<M>, size: usize, optimizer: MakeOptimizer) -> Result<Vec<f64>, String> {
    let what = case.workload;
    let mut rng = nabla_tensor::rng(SEED);
    let model = build(case, &mut rng)?;
    let batch = case_batches(case, 1, size, &mut rng).remove(0);
    let parameters = model.named_parameters();
    let loss_fn = CrossEntropyLoss::default();

    let logits = (case.forward)(&model, &batch.inputs);
    let expected = vec![case.input.rows(size, case.sample), case.classes];
    if logits.shape() != expected {
        return Err(format!("{what}: the logits have shape {:?}, expected {expected:?}", logits.shape()));
    }
    let grads = loss_fn.loss(&logits, &batch.target).backward();
    for (name, p) in &parameters {
        match grads.get(p) {
            None => return Err(format!("{what}: parameter `{name}` received no gradient")),
            Some(g) if g.shape() != p.shape() || !g.all_finite() => {
                return Err(format!("{what}: the gradient of `{name}` has shape {:?} or is not finite", g.shape()));
            }
            Some(_) => {}
        }
    }

    let mut optimizer = optimizer(parameters);
    let mut losses = Vec::with_capacity(CHECK_STEPS);
    for step in 0..CHECK_STEPS {
        let loss = train_step(case, &model, &loss_fn, optimizer.as_mut(), &batch);
        if !loss.is_finite() {
            return Err(format!("{what}: the loss is {loss} at check step {step}"));
        }
        losses.push(loss);
    }
    if losses[CHECK_STEPS - 1] >= losses[0] {
        return Err(format!(
            "{what}: {CHECK_STEPS} {} steps on one batch did not lower the loss: {losses:?}",
            optimizer.name()
        ));
    }
    Ok(losses)
}

/// Checks the inference step on a fresh model: output `[size, classes]`, finite, recorded on
/// no tape, and equal to the training-mode forward pass (the networks have no dropout or
/// normalisation, so the two modes compute the same thing).
pub fn check_inference<M: Module>(case: &Case<M>, size: usize) -> Result<(), String> {
    let what = case.workload;
    let mut rng = nabla_tensor::rng(SEED);
    let model = build(case, &mut rng)?;
    let batch = case_batches(case, 1, size, &mut rng).remove(0);
    let y = no_grad(|| (case.forward)(&model, &batch.inputs));
    let expected = vec![case.input.rows(size, case.sample), case.classes];
    if y.shape() != expected {
        return Err(format!("{what}: the output has shape {:?}, expected {expected:?}", y.shape()));
    }
    if y.requires_grad() {
        return Err(format!("{what}: the no-grad forward pass recorded a tape"));
    }
    let (ours, taped) = (y.value().to_vec_f32(), (case.forward)(&model, &batch.inputs).value().to_vec_f32());
    if !ours.iter().all(|v| v.is_finite()) {
        return Err(format!("{what}: the output is not finite"));
    }
    let scale = taped.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    if let Some((i, (a, b))) = ours.iter().zip(&taped).enumerate().find(|(_, (a, b))| (*a - *b).abs() > 1e-5 * scale) {
        return Err(format!("{what}: inference and training-mode forward differ at {i}: {a} vs {b}"));
    }
    Ok(())
}

/// Checks, then times the training step of `case` with `optimizer` on batches of `size`,
/// returning the samples/s (or tokens/s) figure named `variant`.
pub fn measure_training<M: Module>(
    settings: &Settings,
    case: &Case<M>,
    variant: &str,
    size: usize,
    optimizer: MakeOptimizer,
) -> Result<Measurement, String> {
    let losses = check_training(case, size, optimizer)?;
    let mut rng = nabla_tensor::rng(SEED);
    let model = build(case, &mut rng)?;
    let (data, bound) = relabelled_batches(size, case.input, case.sample, case.classes, &mut rng);
    let mut optimizer = optimizer(model.named_parameters());
    let loss_fn = CrossEntropyLoss::default();

    // The loss of each entry of the cycle on its first visit and on its latest one.
    let cycle = data.len();
    let mut first = vec![f64::NAN; cycle];
    let mut latest = vec![f64::NAN; cycle];
    let mut steps = 0usize;
    let mut broken = None;
    let faults = minor_page_faults();
    let timing = measure(settings.seconds, || {
        let loss = train_step(case, &model, &loss_fn, optimizer.as_mut(), &data[steps % cycle]);
        if steps < cycle {
            first[steps] = loss;
        }
        latest[steps % cycle] = loss;
        if !loss.is_finite() && broken.is_none() {
            broken = Some((steps, loss));
        }
        steps += 1;
    });
    let faults = faults_per_step(faults, steps);
    if let Some((step, loss)) = broken {
        return Err(format!("{} {variant}: the loss became {loss} at step {step}", case.workload));
    }
    // Entries not visited yet (a very short run) are NaN and left out.
    let (start_loss, end_loss) = (mean(&first), mean(&latest));
    let census = subnormal_census(case, &model, &loss_fn, optimizer.as_ref(), &data[steps % cycle]);
    eprintln!(
        "  {:<4} {variant}: check: loss {:.3} -> {:.3} in {CHECK_STEPS} steps on one batch; then {steps} steps \
         (warm-up and timed) over {ROTATION} batches x 2 label sets, mean loss {start_loss:.3} (first {cycle}) -> {end_loss:.3} (last {cycle}), \
         floor {bound:.3}; subnormal values after: {census}",
        case.workload,
        losses[0],
        losses[CHECK_STEPS - 1],
    );
    if settings.verbose {
        eprintln!("{faults}");
        eprint!("{}", training_breakdown(settings, case, &model, &loss_fn, optimizer.as_mut(), &data));
    }
    let (metric, work) = case.input.figure(size, case.sample);
    Ok(Measurement::per_second(variant, metric, work, timing))
}

/// Checks, then times the inference step of `case` on batches of `size`.
pub fn measure_inference<M: Module>(settings: &Settings, case: &Case<M>, size: usize) -> Result<Measurement, String> {
    check_inference(case, size)?;
    let mut rng = nabla_tensor::rng(SEED);
    let model = build(case, &mut rng)?;
    let data = case_batches(case, ROTATION, size, &mut rng);
    let mut steps = 0usize;
    let faults = minor_page_faults();
    let timing = measure(settings.seconds, || {
        black_box(infer_step(case, &model, &data[steps % ROTATION]));
        steps += 1;
    });
    if settings.verbose {
        eprintln!("{}", faults_per_step(faults, steps));
        eprint!("{}", layer_table(&(case.parts)(&model), &data, false));
    }
    let (metric, work) = case.input.figure(size, case.sample);
    Ok(Measurement::per_second("infer", metric, work, timing))
}

/// How many values are subnormal (nonzero and below `f32::MIN_POSITIVE` in magnitude) in each
/// group of what a training step reads and writes at the ends of the network: the
/// parameters, the optimizer's state, and for one step on `batch` the parameters' gradients,
/// the logits and the logits' gradient (`(softmax − one-hot)/batch`, where vanishing
/// probabilities would show). Nothing is updated.
pub fn subnormal_census<M: Module>(
    case: &Case<M>,
    model: &M,
    loss_fn: &dyn Loss,
    optimizer: &dyn Optimizer,
    batch: &Batch,
) -> Census {
    let parameters = model.parameters();
    let logits = (case.forward)(model, &batch.inputs);
    let loss = loss_fn.loss(&logits, &batch.target);
    let mut wrt: Vec<&Var> = vec![&logits];
    wrt.extend(&parameters);
    let mut grads = grad(&loss, &wrt, false).into_iter().map(|g| g.map(|g| g.value()));
    let logits_grad: Vec<Tensor> = grads.next().flatten().into_iter().collect();
    let groups = [
        ("weights", parameters.iter().map(Var::value).collect()),
        ("optimizer state", optimizer.state().slots.into_values().flatten().collect()),
        ("gradients", grads.flatten().collect()),
        ("logits", vec![logits.value()]),
        ("logits' gradient", logits_grad),
    ];
    Census(
        groups
            .into_iter()
            .map(|(name, tensors): (&'static str, Vec<Tensor>)| {
                let values: Vec<Vec<f32>> = tensors.iter().map(Tensor::to_vec_f32).collect();
                let subnormal = values.iter().flatten().filter(|v| v.is_subnormal()).count();
                (name, subnormal, values.iter().map(Vec::len).sum())
            })
            .collect(),
    )
}

/// [`subnormal_census`]'s answer: per group, its name, the subnormal values and all values.
#[derive(Debug, PartialEq)]
pub struct Census(pub Vec<(&'static str, usize, usize)>);

impl std::fmt::Display for Census {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(name, sub, all)| format!("{name} {sub} of {all}")).collect();
        f.write_str(&parts.join(", "))
    }
}

/// `--verbose`: the minor page faults per step since `before` (a count taken before `steps`
/// steps), i.e. how much freshly mapped memory a step touches.
fn faults_per_step(before: Option<u64>, steps: usize) -> String {
    match (before, minor_page_faults()) {
        (Some(before), Some(after)) if steps > 0 => {
            let per_step = (after - before) as f64 / steps as f64;
            format!(
                "       minor page faults: {per_step:.0} per step ({:.1}–{:.0} MB of freshly mapped pages, \
                 as 4 KiB or 2 MiB pages), warm-up included",
                per_step * 4096.0 / 1e6,
                per_step * 2097152.0 / 1e6
            )
        }
        _ => "       minor page faults: not available".to_string(),
    }
}

/// The mean of the values that are not NaN.
fn mean(values: &[f64]) -> f64 {
    let seen: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    seen.iter().sum::<f64>() / seen.len() as f64
}

/// A step or layer time: in milliseconds, or in microseconds below 0.1 ms (W6's whole step
/// takes a few tens of them).
fn ms(d: Duration) -> String {
    if d < Duration::from_micros(100) {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    }
}

/// `--verbose`: the median time of each phase of a training step, then the per-layer table.
pub fn training_breakdown<M>(
    settings: &Settings,
    case: &Case<M>,
    model: &M,
    loss_fn: &dyn Loss,
    optimizer: &mut dyn Optimizer,
    data: &[Batch],
) -> String {
    let budget = Duration::from_secs_f64(settings.seconds * BREAKDOWN_SHARE);
    let mut phases: [Vec<Duration>; 4] = Default::default();
    let start = Instant::now();
    let mut step = 0;
    while step < 5 || start.elapsed() < budget {
        let batch = &data[step % data.len()];
        let t0 = Instant::now();
        let logits = (case.forward)(model, &batch.inputs);
        let t1 = Instant::now();
        let loss = loss_fn.loss(&logits, &batch.target);
        let t2 = Instant::now();
        let grads = loss.backward();
        let t3 = Instant::now();
        optimizer.step(&grads);
        let t4 = Instant::now();
        black_box(loss.item());
        for (times, (a, b)) in phases.iter_mut().zip([(t0, t1), (t1, t2), (t2, t3), (t3, t4)]) {
            times.push(b - a);
        }
        step += 1;
    }
    let medians: Vec<Duration> = phases.iter_mut().map(|t| median(t)).collect();
    let total: f64 = medians.iter().map(Duration::as_secs_f64).sum();
    let names = ["forward", "loss", "backward", "optimizer step"];
    let parts: Vec<String> = names
        .iter()
        .zip(&medians)
        .map(|(name, d)| format!("{name} {} ({:.0}%)", ms(*d), 100.0 * d.as_secs_f64() / total))
        .collect();
    let table = layer_table(&(case.parts)(model), data, true);
    format!("       step phases, median of {step} steps: {}\n{table}", parts.join(", "))
}

/// `--verbose`: each piece of a model run alone on the activations it sees in the model,
/// median of [`LAYER_REPEATS`] runs: forward (with a tape when `training`, else under
/// `no_grad`), and when `training` also the backward pass from a gradient of ones (input
/// gradient and parameter gradients, as inside the whole step; the first layer's input is
/// data and gets no gradient).
fn layer_table(model: &[Part<'_>], data: &[Batch], training: bool) -> String {
    let mut out = format!(
        "       per layer, median of {LAYER_REPEATS} runs{}:\n",
        if training { " (forward with tape; backward from a gradient of ones)" } else { " (no_grad)" }
    );
    let name_width = model.iter().map(|p| p.name.len()).max().unwrap_or(0);
    let kind_width = model.iter().map(|p| p.kind.len()).max().unwrap_or(0);
    let (mut total_forward, mut total_backward) = (Duration::ZERO, Duration::ZERO);
    let mut input = data[0].inputs.value();
    for (i, part) in model.iter().enumerate() {
        let x = if i == 0 || !training { Var::constant(input.clone()) } else { Var::new(input.clone()) };
        let mut forward = Vec::new();
        let mut backward = Vec::new();
        let mut output = None;
        for _ in 0..LAYER_REPEATS {
            let t0 = Instant::now();
            let y = if training { (part.forward)(&x) } else { no_grad(|| (part.forward)(&x)) };
            forward.push(t0.elapsed());
            if training && y.requires_grad() {
                let seed = Tensor::ones(y.shape(), DType::F32);
                let t1 = Instant::now();
                black_box(y.backward_with(&seed));
                backward.push(t1.elapsed());
            }
            output = Some(y.value());
        }
        let shape = output.as_ref().map(|t| t.shape().to_vec()).unwrap_or_default();
        let forward = median(&mut forward);
        total_forward += forward;
        let back = if backward.is_empty() {
            "-".to_string()
        } else {
            let back = median(&mut backward);
            total_backward += back;
            ms(back)
        };
        out.push_str(&format!(
            "         {:>name_width$} {:<kind_width$} -> {:<18} forward {:>10}   backward {:>10}\n",
            part.name,
            part.kind,
            format!("{shape:?}"),
            ms(forward),
            back,
        ));
        input = output.expect("at least one repeat");
    }
    out.push_str(&format!(
        "         {:>name_width$} {:<kind_width$}    {:<18} forward {:>10}   backward {:>10}\n",
        "sum",
        "",
        "",
        ms(total_forward),
        if training { ms(total_backward) } else { "-".to_string() },
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla_layers::{LinearConfig, ReLU};
    use nabla_train::optim::SgdConfig;

    fn tiny(rng: &mut Rng) -> Sequential {
        Sequential::new().add(LinearConfig::new(6, 8).init(rng)).add(ReLU).add(LinearConfig::new(8, 3).init(rng))
    }

    const TINY: Case<Sequential> = Case {
        workload: "tiny",
        model: tiny,
        forward: module_forward,
        parts: sequential_parts,
        parameters: 6 * 8 + 8 + 8 * 3 + 3,
        input: Input::Normal,
        sample: &[6],
        classes: 3,
    };

    #[test]
    fn batches_are_seeded_and_labels_in_range() {
        let a = batches(2, 5, Input::Normal, &[6], 3, &mut nabla_tensor::rng(1));
        let b = batches(2, 5, Input::Normal, &[6], 3, &mut nabla_tensor::rng(1));
        assert_eq!(a[1].inputs.shape(), [5, 6]);
        assert_eq!(a[1].inputs.value().to_vec_f32(), b[1].inputs.value().to_vec_f32());
        assert_ne!(a[0].inputs.value().to_vec_f32(), a[1].inputs.value().to_vec_f32());
        match &a[0].target {
            Target::Classes(labels) => assert!(labels.len() == 5 && labels.iter().all(|&c| c < 3)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn token_batches_are_ids_labelled_with_the_next_token() {
        let data = batches(1, 3, Input::Tokens, &[7], 5, &mut nabla_tensor::rng(1));
        assert_eq!(data[0].inputs.shape(), [3, 7]);
        let ids = data[0].inputs.value().to_vec_f32();
        assert!(ids.iter().all(|&id| id.fract() == 0.0 && (0.0..5.0).contains(&id)));
        let Target::Classes(labels) = &data[0].target else { panic!("class labels") };
        assert_eq!(labels.len(), 3 * 7);
        for (row, next) in ids.chunks(7).zip(labels.chunks(7)) {
            // Position i's label is what position i + 1 reads.
            for i in 0..6 {
                assert_eq!(row[i + 1] as usize, next[i]);
            }
        }
        assert_eq!(Input::Tokens.figure(3, &[7]), ("tokens_per_s", 21.0));
        assert_eq!(Input::Normal.figure(3, &[7]), ("samples_per_s", 3.0));
        let (cycle, bound) = relabelled_batches(4, Input::Tokens, &[16], 65, &mut nabla_tensor::rng(2));
        assert_eq!(cycle.len(), 2 * ROTATION);
        // Two labels out of 65 differ with probability 64/65: bound ≈ 0.68.
        assert!((0.6..0.7).contains(&bound), "{bound}");
    }

    #[test]
    fn relabelled_batches_share_inputs_but_not_labels() {
        let (data, bound) = relabelled_batches(50, Input::Normal, &[6], 3, &mut nabla_tensor::rng(2));
        assert_eq!(data.len(), 2 * ROTATION);
        for k in 0..ROTATION {
            let (a, b) = (&data[k], &data[k + ROTATION]);
            assert_eq!(a.inputs.id(), b.inputs.id());
            assert_ne!(format!("{:?}", a.target), format!("{:?}", b.target));
        }
        // Two labels out of 3 differ with probability 2/3: bound ≈ 0.46.
        assert!((0.3..0.6).contains(&bound), "{bound}");
    }

    #[test]
    fn checks_pass_on_a_working_model_and_catch_broken_ones() {
        let sgd = |p| Box::new(SgdConfig::new(0.1).init(p)) as Box<dyn Optimizer>;
        let losses = check_training(&TINY, 16, sgd).unwrap();
        assert!(losses[CHECK_STEPS - 1] < losses[0]);
        check_inference(&TINY, 4).unwrap();

        let model = tiny(&mut nabla_tensor::rng(0));
        let adam = nabla_train::optim::AdamConfig::new(1e-3).init(model.named_parameters());
        let batch = batches(1, 4, Input::Normal, &[6], 3, &mut nabla_tensor::rng(1)).remove(0);
        let census = subnormal_census(&TINY, &model, &CrossEntropyLoss::default(), &adam, &batch);
        let n = TINY.parameters;
        let expected =
            [("weights", n), ("optimizer state", 2 * n), ("gradients", n), ("logits", 12), ("logits' gradient", 12)];
        assert_eq!(census, Census(expected.iter().map(|&(name, all)| (name, 0, all)).collect()));
        assert!(census.to_string().starts_with("weights 0 of 83, optimizer state 0 of 166"), "{census}");

        let frozen = |p| Box::new(SgdConfig::new(0.0).init(p)) as Box<dyn Optimizer>;
        let err = check_training(&TINY, 16, frozen).unwrap_err();
        assert!(err.contains("did not lower the loss"), "{err}");

        let wrong = Case { parameters: 1, ..TINY };
        assert!(check_inference(&wrong, 4).unwrap_err().contains("parameters"));
    }
}
