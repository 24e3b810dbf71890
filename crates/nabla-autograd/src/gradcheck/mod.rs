//! Gradient checking: do the backward rules agree with finite differences?
//!
//! For a function `f` of tensors, the backward pass gives the analytical Jacobian `J`. The
//! *central difference* `(f(x + εeᵢ) − f(x − εeᵢ)) / 2ε` estimates column `i` of `J` with an
//! error of order `ε²`. In `f64` with `ε = 10⁻⁶` the two agree to about nine digits, so a
//! backward rule that is wrong by even a small factor is caught.
//!
//! Two modes, chosen by [`Mode`]:
//!
//! * **full Jacobian** — every entry of `J`, by one backward pass per output element and two
//!   forward passes per input element. Exact and thorough; for small tensors.
//! * **random directions** — the output is projected on a fixed random vector `r` and the
//!   input perturbed along `k` random directions `u`: `rᵀJu` (one backward pass) against
//!   `(rᵀf(x + εu) − rᵀf(x − εu)) / 2ε`. A wrong `J` passes only if the error happens to be
//!   orthogonal to every `r uᵀ`, which has probability zero. For large tensors.
//!
//! A pair of numbers agrees when `|analytical − numerical| ≤ atol + rtol·|numerical|`.
//! [`Tolerance::default`] uses PyTorch's `gradcheck` defaults for `f64`: `ε = 10⁻⁶`,
//! `atol = 10⁻⁵`, `rtol = 10⁻³`.
//!
//! ```
//! use nabla_autograd::gradcheck::{check_gradients, Tolerance};
//! use nabla_tensor::Tensor;
//! let x = Tensor::from_vec(vec![0.3f64, -1.2, 2.0], &[3]);
//! check_gradients(|v| v[0].tanh().mul(&v[0]), &[x], Tolerance::default()).unwrap();
//! ```
//!
//! With the `proptest` feature (on by default), [`strategies`] generates random shapes and
//! values for property-based checks: every differentiable op of nabla is checked that way.

use std::fmt;

use nabla_tensor::{init, DType, Tensor};

use crate::{grad, no_grad, Var};

#[cfg(feature = "proptest")]
pub mod strategies;

/// How close analytical and numerical derivatives must be; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Step of the central difference.
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance (relative to the numerical value).
    pub rtol: f64,
}

impl Default for Tolerance {
    /// PyTorch's `gradcheck` defaults for `f64`: `eps = 1e-6`, `atol = 1e-5`, `rtol = 1e-3`.
    fn default() -> Self {
        Tolerance { eps: 1e-6, atol: 1e-5, rtol: 1e-3 }
    }
}

/// Which Jacobian entries are compared; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every entry of the Jacobian.
    Full,
    /// `rᵀJu` for this many random directions `u` per input.
    RandomDirections(usize),
    /// `Full` when the Jacobian has at most 4096 entries per input, else 8 random directions.
    Auto,
}

/// A disagreement found by the checker.
#[derive(Clone, Debug, PartialEq)]
pub struct GradcheckError {
    /// Which input (position in the slice passed to the checker).
    pub input: usize,
    /// What was compared: a Jacobian entry or a random direction.
    pub entry: String,
    /// The derivative from the backward pass.
    pub analytical: f64,
    /// The central-difference estimate.
    pub numerical: f64,
}

impl fmt::Display for GradcheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gradient check failed for input {} at {}: backward gives {:.10e}, finite differences give {:.10e} \
             (difference {:.3e})",
            self.input,
            self.entry,
            self.analytical,
            self.numerical,
            (self.analytical - self.numerical).abs()
        )
    }
}

impl std::error::Error for GradcheckError {}

fn agree(analytical: f64, numerical: f64, tol: Tolerance) -> bool {
    (analytical - numerical).abs() <= tol.atol + tol.rtol * numerical.abs()
}

/// Evaluates `f` at `inputs`, as `f64` values. Recording stays on, because `f` may itself take
/// gradients (as the function checked by [`check_second_order`] does).
fn evaluate(f: &dyn Fn(&[Var]) -> Var, inputs: &[Tensor]) -> Vec<f64> {
    let vars: Vec<Var> = inputs.iter().map(|t| Var::new(t.clone())).collect();
    f(&vars).value().to_vec_f64()
}

fn with_element(t: &Tensor, index: usize, delta: f64) -> Tensor {
    let mut values = t.to_vec_f64();
    values[index] += delta;
    Tensor::from_f64s(&values, t.shape(), DType::F64)
}

fn with_direction(t: &Tensor, direction: &[f64], scale: f64) -> Tensor {
    let values: Vec<f64> = t.to_vec_f64().iter().zip(direction).map(|(x, u)| x + scale * u).collect();
    Tensor::from_f64s(&values, t.shape(), DType::F64)
}

fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        index[d] = flat % shape[d];
        flat /= shape[d];
    }
    index
}

/// Checks the backward pass of `f` at `inputs` against central finite differences, choosing
/// the mode automatically ([`Mode::Auto`]).
///
/// `inputs` are converted to `f64`. `f` may return a `Var` of any shape. Returns the first
/// disagreement found.
pub fn check_gradients(f: impl Fn(&[Var]) -> Var, inputs: &[Tensor], tol: Tolerance) -> Result<(), GradcheckError> {
    check_gradients_with(f, inputs, tol, Mode::Auto)
}

/// [`check_gradients`] in a chosen [`Mode`].
pub fn check_gradients_with(
    f: impl Fn(&[Var]) -> Var,
    inputs: &[Tensor],
    tol: Tolerance,
    mode: Mode,
) -> Result<(), GradcheckError> {
    let inputs: Vec<Tensor> = inputs.iter().map(|t| t.to_dtype(DType::F64)).collect();
    let vars: Vec<Var> = inputs.iter().map(|t| Var::new(t.clone())).collect();
    let output = f(&vars);
    let out_shape = output.shape();
    let out_len: usize = out_shape.iter().product();
    let mut rng = init::rng(0x6772_6164);

    for (i, x) in inputs.iter().enumerate() {
        let mode = match mode {
            Mode::Auto if x.len() * out_len <= 4096 => Mode::Full,
            Mode::Auto => Mode::RandomDirections(8),
            other => other,
        };
        match mode {
            Mode::Full => {
                // Analytical Jacobian, one row per output element (one-hot seeds).
                let n = x.len();
                let mut jacobian = Vec::with_capacity(out_len * n);
                for o in 0..out_len {
                    let mut seed = vec![0.0; out_len];
                    seed[o] = 1.0;
                    let grads = output.backward_with(&Tensor::from_f64s(&seed, out_shape, DType::F64));
                    jacobian.extend(grads.get(&vars[i]).map(|g| g.to_vec_f64()).unwrap_or_else(|| vec![0.0; n]));
                }
                for e in 0..n {
                    let mut plus = inputs.clone();
                    plus[i] = with_element(x, e, tol.eps);
                    let mut minus = inputs.clone();
                    minus[i] = with_element(x, e, -tol.eps);
                    let (fp, fm) = (evaluate(&f, &plus), evaluate(&f, &minus));
                    for o in 0..out_len {
                        let numerical = (fp[o] - fm[o]) / (2.0 * tol.eps);
                        let analytical = jacobian[o * n + e];
                        if !agree(analytical, numerical, tol) {
                            return Err(GradcheckError {
                                input: i,
                                entry: format!(
                                    "d output{:?} / d input{:?}",
                                    unravel(o, out_shape),
                                    unravel(e, x.shape())
                                ),
                                analytical,
                                numerical,
                            });
                        }
                    }
                }
            }
            Mode::RandomDirections(k) => {
                let r = init::uniform(out_shape, -1.0, 1.0, DType::F64, &mut rng);
                let grads = output.backward_with(&r);
                let g = grads.get(&vars[i]).map(|g| g.to_vec_f64()).unwrap_or_else(|| vec![0.0; x.len()]);
                let r = r.to_vec_f64();
                let project = |values: Vec<f64>| values.iter().zip(&r).map(|(a, b)| a * b).sum::<f64>();
                for d in 0..k {
                    let u = init::uniform(x.shape(), -1.0, 1.0, DType::F64, &mut rng).to_vec_f64();
                    let analytical: f64 = g.iter().zip(&u).map(|(a, b)| a * b).sum();
                    let mut plus = inputs.clone();
                    plus[i] = with_direction(x, &u, tol.eps);
                    let mut minus = inputs.clone();
                    minus[i] = with_direction(x, &u, -tol.eps);
                    let numerical = (project(evaluate(&f, &plus)) - project(evaluate(&f, &minus))) / (2.0 * tol.eps);
                    if !agree(analytical, numerical, tol) {
                        return Err(GradcheckError {
                            input: i,
                            entry: format!("random direction {d} (rᵀ·J·u)"),
                            analytical,
                            numerical,
                        });
                    }
                }
            }
            Mode::Auto => unreachable!("resolved above"),
        }
    }
    Ok(())
}

/// Checks the gradients of `f` with respect to `leaves` — `Var`s that `f` reads, such as a
/// layer's parameters and its input — against central finite differences.
///
/// Unlike [`check_gradients`], `f` takes no arguments: the leaves are perturbed in place with
/// [`Var::set_value`] and restored afterwards. This is how a whole layer or model is checked.
/// With [`Mode::Auto`], each leaf of at most 64 elements gets the full check (every element
/// perturbed), and larger leaves 8 random directions.
/// The leaves must hold `f64` values and `f` must be deterministic (e.g. dropout off).
pub fn check_leaf_gradients(
    f: impl Fn() -> Var,
    leaves: &[Var],
    tol: Tolerance,
    mode: Mode,
) -> Result<(), GradcheckError> {
    for (i, leaf) in leaves.iter().enumerate() {
        assert!(
            leaf.is_leaf() && leaf.requires_grad() && leaf.dtype() == DType::F64,
            "check_leaf_gradients: leaf {i} must be an f64 Var::new leaf"
        );
    }
    let output = f();
    let out_shape = output.shape();
    let mut rng = init::rng(0x6c65_6166);
    let r = init::uniform(out_shape, -1.0, 1.0, DType::F64, &mut rng);
    let grads = output.backward_with(&r);
    let r = r.to_vec_f64();
    let projected = || f().value().to_vec_f64().iter().zip(&r).map(|(a, b)| a * b).sum::<f64>();
    for (i, leaf) in leaves.iter().enumerate() {
        let original = leaf.value();
        let n = original.len();
        let g = grads.get(leaf).map(|g| g.to_vec_f64()).unwrap_or_else(|| vec![0.0; n]);
        let mode = match mode {
            Mode::Auto if n <= 64 => Mode::Full,
            Mode::Auto => Mode::RandomDirections(8),
            other => other,
        };
        let directions: Vec<(String, Vec<f64>)> = match mode {
            Mode::Full => (0..n)
                .map(|e| {
                    let mut u = vec![0.0; n];
                    u[e] = 1.0;
                    (format!("element {:?}", unravel(e, original.shape())), u)
                })
                .collect(),
            Mode::RandomDirections(k) => (0..k)
                .map(|d| {
                    let u = init::uniform(original.shape(), -1.0, 1.0, DType::F64, &mut rng).to_vec_f64();
                    (format!("random direction {d}"), u)
                })
                .collect(),
            Mode::Auto => unreachable!("resolved above"),
        };
        for (entry, u) in directions {
            let analytical: f64 = g.iter().zip(&u).map(|(a, b)| a * b).sum();
            leaf.set_value(with_direction(&original, &u, tol.eps));
            let plus = projected();
            leaf.set_value(with_direction(&original, &u, -tol.eps));
            let minus = projected();
            leaf.set_value(original.clone());
            let numerical = (plus - minus) / (2.0 * tol.eps);
            if !agree(analytical, numerical, tol) {
                return Err(GradcheckError { input: i, entry: format!("{entry} (rᵀ·J·u)"), analytical, numerical });
            }
        }
    }
    Ok(())
}

/// Checks second derivatives: the gradient of `f` (taken with `create_graph`) is itself
/// gradient-checked. Fails if any backward rule on the way is not correctly differentiable.
///
/// The checked function is `x ↦ Σᵢ sᵢ · ∇ₓᵢ(rᵀ f(x))` for fixed random `r` and `sᵢ`, whose
/// Jacobian is the Hessian of `rᵀf` projected on the `sᵢ`.
pub fn check_second_order(f: impl Fn(&[Var]) -> Var, inputs: &[Tensor], tol: Tolerance) -> Result<(), GradcheckError> {
    let inputs: Vec<Tensor> = inputs.iter().map(|t| t.to_dtype(DType::F64)).collect();
    let out_shape = no_grad(|| {
        let vars: Vec<Var> = inputs.iter().map(|t| Var::constant(t.clone())).collect();
        f(&vars).shape().to_vec()
    });
    let mut rng = init::rng(0x6865_7373);
    let r = Var::constant(init::uniform(&out_shape, -1.0, 1.0, DType::F64, &mut rng));
    let s: Vec<Var> =
        inputs.iter().map(|t| Var::constant(init::uniform(t.shape(), -1.0, 1.0, DType::F64, &mut rng))).collect();
    let first_derivatives = |vars: &[Var]| {
        let projected = f(vars).mul(&r).sum();
        let refs: Vec<&Var> = vars.iter().collect();
        grad(&projected, &refs, true)
            .into_iter()
            .zip(&s)
            .filter_map(|(g, s)| g.map(|g| g.mul(s).sum()))
            .reduce(|a, b| a.add(&b))
            .unwrap_or_else(|| Var::scalar(0.0, DType::F64))
    };
    check_gradients(first_derivatives, &inputs, tol)
}
