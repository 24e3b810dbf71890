//! [`Var`]: a tensor that remembers how it was computed.
//!
//! Every op on `Var`s computes its value at once (eager, like PyTorch) and, when gradients are
//! wanted, records one *node*: the op's name, its inputs, and a closure that turns the gradient
//! of the output into gradients of the inputs. Each node is numbered after its inputs (see
//! [`VarId`]), so the numbers form a *tape*: walking it backwards from the loss visits every op
//! after all the ops that used its result — exactly the order reverse-mode differentiation needs
//! (see [`crate::backward`]).
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_tensor::Tensor;
//! let x = Var::constant(Tensor::from_vec(vec![1.0f64, 2.0], &[1, 2]));
//! let w = Var::new(Tensor::from_vec(vec![0.5f64, -1.0, 2.0, 1.0], &[2, 2]));
//! let b = Var::new(Tensor::from_vec(vec![0.1f64, 0.2], &[2]));
//! let y = x.matmul(&w).add(&b).relu();
//! let grads = y.sum().backward();
//! // y = relu([4.6, 1.2]) so dy/dw = xᵀ·[1, 1]
//! assert_eq!(grads.get(&w).unwrap().to_vec_f64(), vec![1.0, 1.0, 2.0, 2.0]);
//! assert_eq!(grads.get(&b).unwrap().to_vec_f64(), vec![1.0, 1.0]);
//! ```

use std::cell::Cell;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use nabla_tensor::ndarray::{Dimension, IxDyn};
use nabla_tensor::{DType, Tensor};

use crate::mode::is_grad_enabled;

/// The position of a node on the tape: a node's id is larger than its inputs' ids.
///
/// An id is a pair `(tick, thread)`, compared tick first. Each thread counts its own ticks, and
/// a new node's tick is one more than the larger of its thread's last tick and its inputs'
/// ticks (a Lamport clock). So a node comes after its inputs even when they were made on other
/// threads, and no two nodes share an id, without a counter shared by all threads: one atomic
/// increment per node on a shared counter cost about 2 % of the tiny MLP's training step (W6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(u128);

impl fmt::Debug for VarId {
    /// `tick.thread`, as in `Var`'s own `Debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VarId({}.{})", self.tick(), self.thread())
    }
}

/// The next thread number: each thread takes one the first time it makes a node.
static NEXT_THREAD: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's number (`u64::MAX` until it has one) and its last tick.
    static CLOCK: Cell<(u64, u64)> = const { Cell::new((u64::MAX, 0)) };
}

impl VarId {
    /// A new id, after every id whose tick is at most `after`.
    fn next(after: u64) -> Self {
        CLOCK.with(|clock| {
            let (mut thread, last) = clock.get();
            if thread == u64::MAX {
                thread = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
            }
            let tick = last.max(after) + 1;
            clock.set((thread, tick));
            VarId(u128::from(tick) << 64 | u128::from(thread))
        })
    }

    /// The tick: how far along its thread's tape the node is.
    pub fn tick(self) -> u64 {
        (self.0 >> 64) as u64
    }

    /// The number of the thread that made the node.
    pub fn thread(self) -> u64 {
        self.0 as u64
    }
}

/// The backward rule of an op: given the gradient of its output (`grad`), its inputs and its
/// output, return one gradient per input (`None` where an input needs none). Written with
/// `Var` ops, so that gradients of gradients can be taken.
pub type BackwardFn = dyn Fn(&Var, &[Var], &Var) -> Vec<Option<Var>> + Send + Sync;

/// A fused op's backward rule for a plain (unrecorded) backward pass: the same gradients as its
/// [`BackwardFn`], computed on tensors with its fused kernels. Given alongside the `Var` rule
/// ([`Var::from_fused_op`]), it spares the backward pass a `Var` around every gradient it
/// passes on (see [`crate::backward`]).
pub type PlainBackwardFn = dyn Fn(&Tensor, &[Var], &Var) -> Vec<Option<Tensor>> + Send + Sync;

pub(crate) struct Recorded {
    pub(crate) name: &'static str,
    pub(crate) inputs: Vec<Var>,
    pub(crate) backward: Box<BackwardFn>,
    /// The fused kernels' rule, for a plain backward pass; `None` for ops that have only the
    /// `Var` rule.
    pub(crate) plain_backward: Option<Box<PlainBackwardFn>>,
}

pub(crate) struct Node {
    pub(crate) id: VarId,
    value: Slot,
    /// How many times the value has been replaced or changed in place (see [`Var::version`]).
    version: AtomicU64,
    pub(crate) requires_grad: bool,
    pub(crate) op: Option<Recorded>,
}

impl Drop for Node {
    /// Frees a chain of nodes with a loop instead of recursion, so that dropping the output of
    /// a very long computation (an RNN unrolled over thousands of steps) cannot overflow the stack.
    fn drop(&mut self) {
        let Some(op) = self.op.as_mut() else { return };
        let mut orphans = std::mem::take(&mut op.inputs);
        while let Some(mut var) = orphans.pop() {
            // The last handle to its node: take the node's inputs before `var` drops it, so
            // that its own `drop` finds none. (In place: moving the node out of the `Arc`
            // would copy all of it.)
            if let Some(node) = Arc::get_mut(&mut var.0) {
                if let Some(op) = node.op.as_mut() {
                    orphans.append(&mut op.inputs);
                }
            }
        }
    }
}

/// Where a node keeps its value.
///
/// Most values never change once computed: an op's output, a gradient, a mask. Those are kept
/// as they are and read without a lock. Only a leaf made by [`Var::new`] or [`Var::constant`]
/// can be replaced ([`Var::set_value`], an optimizer's [`Var::update_value`]) while other
/// handles read it, so only those sit behind a read–write lock. Taking and releasing that lock
/// are two atomic read-modify-write instructions, about 20 cycles each; on the tiny MLP of the
/// benchmarks (W6) reading every value through the lock cost 7 % of a training step.
enum Slot {
    /// Never replaced: read directly.
    Fixed(Tensor),
    /// May be replaced: read under the lock. The value's shape is kept beside it: it never
    /// changes (`set_value` and `update_value` check), and every op and every backward step
    /// reads it, so reading it takes no lock. (`IxDyn` stores up to four axes inline: no
    /// allocation.)
    Settable { value: RwLock<Tensor>, shape: IxDyn },
}

/// A borrowed value: directly, or under its read lock (see [`Slot`]).
pub(crate) enum ValueRef<'a> {
    Fixed(&'a Tensor),
    Locked(RwLockReadGuard<'a, Tensor>),
}

impl Deref for ValueRef<'_> {
    type Target = Tensor;
    fn deref(&self) -> &Tensor {
        match self {
            ValueRef::Fixed(value) => value,
            ValueRef::Locked(guard) => guard,
        }
    }
}

/// A tensor on the tape; see the [module docs](self).
///
/// Cloning a `Var` is cheap and gives a handle to the same node (as a Python reference would).
#[derive(Clone)]
pub struct Var(pub(crate) Arc<Node>);

impl Var {
    fn node(value: Slot, requires_grad: bool, op: Option<Recorded>) -> Var {
        let after = op.as_ref().map_or(0, |op| op.inputs.iter().map(|v| v.id().tick()).max().unwrap_or(0));
        let id = VarId::next(after);
        Var(Arc::new(Node { id, value, version: AtomicU64::new(0), requires_grad, op }))
    }

    fn leaf(value: Tensor, requires_grad: bool) -> Var {
        let shape = IxDyn(value.shape());
        Var::node(Slot::Settable { value: RwLock::new(value), shape }, requires_grad, None)
    }

    /// A constant whose value can never be replaced, so that it is read without a lock: what
    /// every op returns in no-grad mode, and how ops and backward rules make their constants
    /// (a gradient, a mask). [`Var::constant`] makes one that can be [set](Var::set_value).
    ///
    /// ```
    /// use nabla_autograd::Var;
    /// use nabla_tensor::Tensor;
    /// let y = Var::fixed(Tensor::from_vec(vec![1.0f32, 2.0], &[2]));
    /// assert!(y.is_leaf() && !y.requires_grad());
    /// ```
    pub fn fixed(value: Tensor) -> Var {
        Var::node(Slot::Fixed(value), false, None)
    }

    /// A leaf that gradients flow to: a parameter or an input you differentiate with respect to.
    pub fn new(value: Tensor) -> Var {
        Var::leaf(value, true)
    }

    /// A leaf that needs no gradient: data, targets, fixed masks.
    pub fn constant(value: Tensor) -> Var {
        Var::leaf(value, false)
    }

    /// A rank-0 constant.
    pub fn scalar(value: f64, dtype: DType) -> Var {
        Var::constant(Tensor::scalar(value, dtype))
    }

    /// Records the result of op `name` on `inputs`.
    ///
    /// This is how every op is built: compute `value` from the inputs' values, then pass the
    /// rule that maps the output's gradient to the inputs' gradients. When no input requires a
    /// gradient, or in [no-grad mode](crate::no_grad), nothing is recorded and the result is a
    /// constant. Either way the result's value is fixed: only a leaf made by [`Var::new`] or
    /// [`Var::constant`] can be [set](Var::set_value).
    pub fn from_op(
        name: &'static str,
        value: Tensor,
        inputs: &[&Var],
        backward: impl Fn(&Var, &[Var], &Var) -> Vec<Option<Var>> + Send + Sync + 'static,
    ) -> Var {
        Var::record(name, value, inputs, Box::new(backward), None)
    }

    /// [`Var::from_op`] for a fused op, which has two backward rules: `backward` written with
    /// `Var` ops, used when the backward pass is itself recorded (so that the gradient can be
    /// differentiated again), and `plain_backward`, the same gradients from the op's fused
    /// tensor kernels, used by a plain `backward()`. A test of the op holds the two together.
    pub fn from_fused_op(
        name: &'static str,
        value: Tensor,
        inputs: &[&Var],
        backward: impl Fn(&Var, &[Var], &Var) -> Vec<Option<Var>> + Send + Sync + 'static,
        plain_backward: impl Fn(&Tensor, &[Var], &Var) -> Vec<Option<Tensor>> + Send + Sync + 'static,
    ) -> Var {
        Var::record(name, value, inputs, Box::new(backward), Some(Box::new(plain_backward)))
    }

    /// The body of [`Var::from_op`] and [`Var::from_fused_op`].
    fn record(
        name: &'static str,
        value: Tensor,
        inputs: &[&Var],
        backward: Box<BackwardFn>,
        plain_backward: Option<Box<PlainBackwardFn>>,
    ) -> Var {
        if !is_grad_enabled() || !inputs.iter().any(|v| v.requires_grad()) {
            return Var::fixed(value);
        }
        let op = Recorded { name, inputs: inputs.iter().map(|&v| v.clone()).collect(), backward, plain_backward };
        Var::node(Slot::Fixed(value), true, Some(op))
    }

    /// The value, borrowed (under its read lock if it has one, see [`Slot`]): how an op reads
    /// its input without cloning a handle to it. Hold the guard only while the kernel runs, and
    /// never two of the same `Var` at once (a second read could wait forever behind a writer
    /// queued in between): ops with several inputs use [`Var::read_pair`] or [`Var::read_all`].
    pub(crate) fn read(&self) -> ValueRef<'_> {
        match &self.0.value {
            Slot::Fixed(value) => ValueRef::Fixed(value),
            Slot::Settable { value, .. } => {
                ValueRef::Locked(value.read().expect("a Var's value lock is never poisoned"))
            }
        }
    }

    /// The value's lock, for writing: only leaves made by [`Var::new`] or [`Var::constant`]
    /// have one.
    #[track_caller]
    fn settable(&self, what: &str) -> &RwLock<Tensor> {
        match &self.0.value {
            Slot::Settable { value, .. } => value,
            Slot::Fixed(_) => panic!(
                "{what}: only a Var made by Var::new or Var::constant can be set; this one holds a fixed value \
                 (an op's result computed without recording, or a gradient or mask made by nabla); make a \
                 settable copy with Var::constant(v.value())"
            ),
        }
    }

    /// `f` applied to the values of `a` and `b`, both borrowed (once, when `a` and `b` are the
    /// same `Var`, as in `x ⊙ x`).
    pub(crate) fn read_pair<R>(a: &Var, b: &Var, f: impl FnOnce(&Tensor, &Tensor) -> R) -> R {
        Var::read_all([a, b], |[x, y]| f(x, y))
    }

    /// `f` applied to the values of `vars`, each borrowed once: a `Var` listed twice (`x` as its
    /// own weight in `x.linear(&x, None)`) is read once and lent to both places. The locks are
    /// taken in tape order whatever the order listed, so two threads reading the same leaves
    /// cannot each hold one and wait for the other behind a queued writer.
    pub(crate) fn read_all<R, const N: usize>(vars: [&Var; N], f: impl FnOnce([&Tensor; N]) -> R) -> R {
        // Where each `Var` is first listed.
        let first: [usize; N] =
            std::array::from_fn(|i| (0..i).find(|&j| Arc::ptr_eq(&vars[i].0, &vars[j].0)).unwrap_or(i));
        let mut order: [usize; N] = std::array::from_fn(|i| i);
        order.sort_by_key(|&i| vars[i].id());
        let mut guards: [Option<ValueRef<'_>>; N] = std::array::from_fn(|_| None);
        for i in order.into_iter().filter(|&i| first[i] == i) {
            guards[i] = Some(vars[i].read());
        }
        f(std::array::from_fn(|i| &**guards[first[i]].as_ref().expect("read where first listed")))
    }

    /// The current value (a cheap handle to the same buffer).
    pub fn value(&self) -> Tensor {
        self.read().clone()
    }

    /// Replaces the value of a leaf, e.g. a parameter after an optimizer step. Every handle to
    /// this `Var` sees the new value; the outputs of ops computed earlier keep the values they
    /// were computed from, but a backward pass run after this reads the new value where a rule
    /// needs its input (as PyTorch would refuse to, with its version check): set parameters
    /// after `backward()`, as optimizers do.
    ///
    /// The dtype may change (that is how a model is converted to `f64` for a gradient check).
    ///
    /// # Panics
    /// If this `Var` was not made by [`Var::new`] or [`Var::constant`] (the result of an op,
    /// even one computed in no-grad mode, is fixed), or the new value has another shape.
    #[track_caller]
    pub fn set_value(&self, value: Tensor) {
        assert!(self.is_leaf(), "set_value: only a leaf can be set, but this Var is the output of {}", self.op_name());
        let mut slot = self.settable("set_value").write().expect("a Var's value lock is never poisoned");
        assert!(
            slot.shape() == value.shape(),
            "set_value: the new value has shape {:?} but the Var holds {:?}",
            value.shape(),
            slot.shape()
        );
        *slot = value;
        self.0.version.fetch_add(1, Ordering::Release);
    }

    /// Changes the value of a leaf in place: `update` gets the stored tensor itself. This is how
    /// optimizers step without allocating a new parameter every step. The outputs of ops
    /// computed earlier keep their values, because a tensor shared with them is copied before
    /// it is written (see [`Tensor::as_slice_mut`]); as with [`Var::set_value`], a backward
    /// pass run afterwards reads the new value.
    ///
    /// # Panics
    /// If this `Var` was not made by [`Var::new`] or [`Var::constant`], or `update` changes the
    /// shape.
    #[track_caller]
    pub fn update_value(&self, update: impl FnOnce(&mut Tensor)) {
        assert!(
            self.is_leaf(),
            "update_value: only a leaf can be set, but this Var is the output of {}",
            self.op_name()
        );
        let mut slot = self.settable("update_value").write().expect("a Var's value lock is never poisoned");
        update(&mut slot);
        self.0.version.fetch_add(1, Ordering::Release);
        assert!(
            slot.shape() == self.shape(),
            "update_value: the update changed the shape from {:?} to {:?}",
            self.shape(),
            slot.shape()
        );
    }

    /// How many times this Var's value has been replaced ([`set_value`](Self::set_value)) or
    /// changed in place ([`update_value`](Self::update_value), every optimizer step): 0 for a
    /// new Var. Something derived from a value and kept (nabla-layers' `Linear` keeps its weight
    /// transposed for inference) is still valid while the pair ([`id`](Self::id), `version`)
    /// is the one it was made from; PyTorch keeps the same counter as `tensor._version`.
    ///
    /// ```
    /// use nabla_autograd::Var;
    /// use nabla_tensor::Tensor;
    /// let w = Var::new(Tensor::from_vec(vec![1.0f32, 2.0], &[2]));
    /// assert_eq!(w.version(), 0);
    /// w.update_value(|t| t.as_slice_mut::<f32>()[0] = 3.0);
    /// assert_eq!(w.version(), 1);
    /// ```
    pub fn version(&self) -> u64 {
        self.0.version.load(Ordering::Acquire)
    }

    /// The shape of the value, borrowed (read without a lock: a leaf that can be
    /// [set](Var::set_value) keeps a copy of its shape beside the value).
    pub fn shape(&self) -> &[usize] {
        match &self.0.value {
            Slot::Fixed(value) => value.shape(),
            Slot::Settable { shape, .. } => shape.slice(),
        }
    }

    /// The number of axes of the value.
    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    /// The dtype of the value.
    pub fn dtype(&self) -> DType {
        self.read().dtype()
    }

    /// The position of this node on the tape.
    pub fn id(&self) -> VarId {
        self.0.id
    }

    /// Whether gradients flow to (or through) this `Var`.
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad
    }

    /// True for a `Var` made by [`Var::new`] or [`Var::constant`], false for an op's output.
    pub fn is_leaf(&self) -> bool {
        self.0.op.is_none()
    }

    /// The name of the op that made this `Var`, or `"leaf"`.
    pub fn op_name(&self) -> &'static str {
        self.0.op.as_ref().map_or("leaf", |op| op.name)
    }

    /// The inputs of the op that made this `Var` (empty for a leaf).
    pub fn inputs(&self) -> &[Var] {
        self.0.op.as_ref().map_or(&[], |op| &op.inputs)
    }

    /// The same value cut off from the tape: gradients do not flow through it.
    pub fn detach(&self) -> Var {
        Var::constant(self.value())
    }

    /// The single value of a one-element `Var`, as `f64`.
    #[track_caller]
    pub fn item(&self) -> f64 {
        self.read().to_scalar()
    }
}

impl From<Tensor> for Var {
    /// A constant (no gradient); use [`Var::new`] for a leaf that needs one.
    fn from(value: Tensor) -> Self {
        Var::constant(value)
    }
}

impl fmt::Debug for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (tick, thread) = (self.0.id.tick(), self.0.id.thread());
        write!(f, "Var#{tick}.{thread}({}, requires_grad={}) {:?}", self.op_name(), self.requires_grad(), self.value())
    }
}
