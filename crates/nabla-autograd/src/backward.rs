//! Reverse-mode differentiation: walking the tape backwards.
//!
//! For a scalar loss `L` computed through ops `v₁, v₂, …, vₙ = L`, the chain rule gives each
//! input's gradient as the sum, over the ops that used it, of that op's *vector–Jacobian
//! product*: `x̄ = Σ_{y uses x} (∂y/∂x)ᵀ ȳ`, starting from `L̄ = 1`.
//!
//! nabla numbers every node after its inputs ([`VarId`]). So taking nodes from the largest
//! number down guarantees that when a node is reached, every op that used it has already sent
//! its share of the gradient. [`Var::backward`] keeps the nodes that have received gradient in
//! a list ordered by tape position, takes out the latest, applies its backward rule and sends
//! the results to its inputs, adding where several arrive.
//!
//! Backward rules are written with `Var` ops. [`grad`] with `create_graph = true` records them,
//! so the gradient is itself differentiable (second derivatives, Hessian–vector products,
//! gradient penalties). A plain `backward()` carries the gradients as tensors and runs the rules
//! in no-grad mode (nothing is recorded); a fused op also gives a rule on tensors
//! ([`Var::from_fused_op`]), which the plain pass calls instead, with no `Var` made around the
//! gradients at all.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use nabla_tensor::Tensor;

use crate::mode::with_grad_enabled;
use crate::var::{Recorded, Var, VarId};

/// The gradients of a loss with respect to the leaves it was computed from.
///
/// Returned by [`Var::backward`]; look a gradient up by the `Var` it belongs to. Gradients from
/// several backward passes add up with [`Gradients::accumulate`] (gradient accumulation over
/// micro-batches).
#[derive(Clone, Default)]
pub struct Gradients {
    grads: IdMap<Tensor>,
}

/// A hash map keyed by [`VarId`].
type IdMap<V> = HashMap<VarId, V, BuildHasherDefault<IdHasher>>;

/// Hashes a [`VarId`] by itself. Ids are distinct counts chosen by nabla, not by an
/// adversary, so the general-purpose SipHash (which resists crafted keys, at a cost on every
/// lookup) buys nothing here. Multiplying by a large odd constant keeps consecutive ids in
/// distinct buckets and spreads them over the high bits that the table also reads.
#[derive(Clone, Copy, Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(byte));
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    /// A [`VarId`]: its tick, with its thread number spread over all the bits (ids of one
    /// tick made on different threads must not share a bucket).
    fn write_u128(&mut self, id: u128) {
        let (tick, thread) = ((id >> 64) as u64, id as u64);
        self.write_u64(tick ^ thread.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl Gradients {
    /// No gradients.
    pub fn new() -> Self {
        Self::default()
    }

    /// The gradient for `var`, if the loss depends on it.
    pub fn get(&self, var: &Var) -> Option<&Tensor> {
        self.grads.get(&var.id())
    }

    /// Sets the gradient for `var` (replacing any).
    pub fn insert(&mut self, var: &Var, grad: Tensor) {
        self.grads.insert(var.id(), grad);
    }

    /// Takes the gradient for `var` out.
    pub fn remove(&mut self, var: &Var) -> Option<Tensor> {
        self.grads.remove(&var.id())
    }

    /// Adds every gradient of `other` to this one's.
    #[track_caller]
    pub fn accumulate(&mut self, other: Gradients) {
        for (id, grad) in other.grads {
            accumulate(&mut self.grads, id, grad);
        }
    }

    /// How many leaves have a gradient.
    pub fn len(&self) -> usize {
        self.grads.len()
    }

    /// True when no leaf has a gradient.
    pub fn is_empty(&self) -> bool {
        self.grads.is_empty()
    }

    /// Every `(leaf id, gradient)` pair, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (VarId, &Tensor)> {
        self.grads.iter().map(|(&id, g)| (id, g))
    }
}

/// How many gradients [`propagate`] makes room for in its map of kept gradients before it
/// starts.
const KEPT_CAPACITY: usize = 16;

/// The form [`propagate`] carries gradients in: `Var`s when the backward pass is recorded
/// (`grad(.., create_graph = true)`: each gradient is an op on the tape, to be differentiated
/// again), tensors when it is not (a plain `backward()`), so that no `Var` is made around each
/// gradient passed on.
trait Grad: Sized + Clone {
    /// Whether `Var` rules record their ops while gradients of this form pass through them.
    const RECORDED: bool;
    fn shape(&self) -> &[usize];
    #[track_caller]
    fn plus(&self, other: &Self) -> Self;
    /// The gradients of `op`'s inputs, given `self`, the gradient of its output `node`.
    fn through(&self, op: &Recorded, node: &Var) -> Vec<Option<Self>>;
}

impl Grad for Var {
    const RECORDED: bool = true;
    fn shape(&self) -> &[usize] {
        Var::shape(self)
    }
    fn plus(&self, other: &Var) -> Var {
        self.add(other)
    }
    fn through(&self, op: &Recorded, node: &Var) -> Vec<Option<Var>> {
        (op.backward)(self, &op.inputs, node)
    }
}

impl Grad for Tensor {
    const RECORDED: bool = false;
    fn shape(&self) -> &[usize] {
        Tensor::shape(self)
    }
    fn plus(&self, other: &Tensor) -> Tensor {
        self.add(other)
    }
    /// The op's plain rule if it has one, else its `Var` rule (run unrecorded) on the gradient
    /// wrapped in a constant.
    fn through(&self, op: &Recorded, node: &Var) -> Vec<Option<Tensor>> {
        if let Some(plain) = &op.plain_backward {
            return plain(self, &op.inputs, node);
        }
        let grads = (op.backward)(&Var::fixed(self.clone()), &op.inputs, node);
        grads.into_iter().map(|g| g.map(|g| g.value())).collect()
    }
}

/// Propagates `seed` (the gradient of `root`) back through the tape, with the backward pass
/// recorded when `G` is `Var` (see [`Grad`]). Returns the gradient of every node for which
/// `keep` says yes.
fn propagate<G: Grad>(root: &Var, seed: G, keep: &dyn Fn(&Var) -> bool) -> IdMap<G> {
    assert!(
        root.requires_grad(),
        "backward: this Var does not depend on any Var::new leaf (or was computed in no-grad mode), \
         so there is nothing to differentiate"
    );
    with_grad_enabled(G::RECORDED, || {
        // Room for a small network's gradients from the start: growing the map step by step
        // cost the tiny MLP workload (W6) three reallocations and rehashes per backward pass.
        let mut kept = IdMap::with_capacity_and_hasher(KEPT_CAPACITY, Default::default());
        // The op outputs that have received gradient and wait for their backward rule, each
        // with the sum of what it received, sorted by tape position: the last one is the
        // latest node, so every op that used it has already sent its share. Leaves have no
        // rule to apply, so their gradients go straight to `kept` (if wanted) instead; what
        // remains is small (a chain of ops keeps one or two entries waiting), so a sorted
        // `Vec` searched by bisection is all the structure it needs.
        let mut pending: Vec<(VarId, Var, G)> = Vec::with_capacity(4);
        pending.push((root.id(), root.clone(), seed));
        while let Some((id, node, grad)) = pending.pop() {
            if keep(&node) {
                kept.insert(id, grad.clone());
            }
            let Some(op) = node.0.op.as_ref() else { continue };
            let input_grads = grad.through(op, &node);
            assert_eq!(
                input_grads.len(),
                op.inputs.len(),
                "backward of {}: returned {} gradients for {} inputs",
                op.name,
                input_grads.len(),
                op.inputs.len()
            );
            for (input, input_grad) in op.inputs.iter().zip(input_grads) {
                let Some(input_grad) = input_grad else { continue };
                if !input.requires_grad() {
                    continue;
                }
                assert_eq!(
                    input_grad.shape(),
                    input.shape(),
                    "backward of {}: gradient shape differs from its input's",
                    op.name
                );
                if input.is_leaf() {
                    if keep(input) {
                        accumulate(&mut kept, input.id(), input_grad);
                    }
                    continue;
                }
                match pending.binary_search_by_key(&input.id(), |(id, _, _)| *id) {
                    Ok(i) => {
                        let sum = pending[i].2.plus(&input_grad);
                        pending[i].2 = sum;
                    }
                    Err(i) => pending.insert(i, (input.id(), input.clone(), input_grad)),
                }
            }
        }
        kept
    })
}

/// Adds `grad` to the gradient kept for `id` (or keeps it, if it is the first).
#[track_caller]
fn accumulate<G: Grad>(kept: &mut IdMap<G>, id: VarId, grad: G) {
    match kept.entry(id) {
        Entry::Occupied(mut slot) => {
            let sum = slot.get().plus(&grad);
            slot.insert(sum);
        }
        Entry::Vacant(slot) => {
            slot.insert(grad);
        }
    }
}

impl Var {
    /// Gradients of this scalar with respect to every leaf made by [`Var::new`] it depends on.
    ///
    /// # Panics
    /// If this `Var` has more than one element (use [`Var::backward_with`]) or depends on no leaf.
    #[track_caller]
    pub fn backward(&self) -> Gradients {
        let value = self.value();
        assert_eq!(
            value.len(),
            1,
            "backward: the output has shape {:?}; backward() needs a single value (reduce it with .sum() \
             or .mean(), or pass the output gradient to backward_with)",
            value.shape()
        );
        self.backward_with(&value.ones_like())
    }

    /// Gradients of `Σ seed · self` (a vector–Jacobian product), for non-scalar outputs.
    #[track_caller]
    pub fn backward_with(&self, seed: &Tensor) -> Gradients {
        assert_eq!(seed.shape(), self.shape(), "backward_with: the seed gradient's shape must equal the output's");
        let grads = propagate(self, seed.clone(), &|v: &Var| v.is_leaf());
        Gradients { grads }
    }
}

/// Gradients of `output` (a scalar) with respect to `inputs`, which may be any `Var`s on its
/// tape, not only leaves. `None` where `output` does not depend on an input.
///
/// With `create_graph`, the backward pass is itself recorded, so the returned gradients can be
/// differentiated again:
///
/// ```
/// use nabla_autograd::{grad, Var};
/// use nabla_tensor::Tensor;
/// let x = Var::new(Tensor::from_vec(vec![3.0f64], &[1]));
/// let y = x.powf(3.0).sum();                       // y = x³
/// let dy = grad(&y, &[&x], true)[0].clone().unwrap(); // 3x² = 27
/// let d2y = grad(&dy.sum(), &[&x], false)[0].clone().unwrap(); // 6x = 18
/// assert_eq!(dy.item(), 27.0);
/// assert_eq!(d2y.item(), 18.0);
/// ```
#[track_caller]
pub fn grad(output: &Var, inputs: &[&Var], create_graph: bool) -> Vec<Option<Var>> {
    let value = output.value();
    assert_eq!(value.len(), 1, "grad: the output has shape {:?}; it must be a single value", value.shape());
    let wanted: Vec<VarId> = inputs.iter().map(|v| v.id()).collect();
    let keep = |v: &Var| wanted.contains(&v.id());
    if create_graph {
        let mut kept = propagate(output, Var::fixed(value.ones_like()), &keep);
        inputs.iter().map(|v| kept.remove(&v.id())).collect()
    } else {
        let mut kept = propagate(output, value.ones_like(), &keep);
        inputs.iter().map(|v| kept.remove(&v.id()).map(Var::fixed)).collect()
    }
}
