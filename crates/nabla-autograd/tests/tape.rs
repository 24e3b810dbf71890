//! The tape's behaviour: no-grad mode records nothing, detach cuts the graph, gradients
//! accumulate, shared sub-expressions add their gradients, parameters update in place, and the
//! same inputs give bit-identical gradients run after run.

use nabla_autograd::{grad, no_grad, Gradients, NoGradGuard, Var};
use nabla_tensor::{init, rng, DType, Tensor};

fn leaf(values: &[f64], shape: &[usize]) -> Var {
    Var::new(Tensor::from_f64s(values, shape, DType::F64))
}

#[test]
fn no_grad_records_nothing() {
    let w = leaf(&[1.0, 2.0], &[2]);
    let y = no_grad(|| w.exp().mul(&w).sum());
    assert!(!y.requires_grad() && y.is_leaf(), "an op in no-grad mode returns a plain constant");
    {
        let _guard = NoGradGuard::new();
        assert!(!w.mul_scalar(2.0).requires_grad());
    }
    assert!(w.mul_scalar(2.0).requires_grad(), "recording resumes when the guard is dropped");
    assert_eq!(w.mul_scalar(2.0).op_name(), "mul_scalar");
}

#[test]
fn constants_need_no_tape() {
    let c = Var::constant(Tensor::ones(&[3], DType::F64));
    let y = c.exp().add(&c);
    assert!(!y.requires_grad() && y.is_leaf());
}

#[test]
fn detach_stops_the_gradient() {
    let x = leaf(&[3.0], &[1]);
    // y = x · stop(x): dy/dx = stop(x) = 3, not 2x = 6.
    let y = x.mul(&x.detach()).sum();
    assert_eq!(y.backward().get(&x).unwrap().to_vec_f64(), vec![3.0]);
}

#[test]
fn shared_subexpressions_add_their_gradients() {
    let x = leaf(&[2.0], &[1]);
    let s = x.square(); // used twice
    let y = s.add(&s.mul(&x)).sum(); // x² + x³
    assert_eq!(y.backward().get(&x).unwrap().to_vec_f64(), vec![2.0 * 2.0 + 3.0 * 4.0]);
}

#[test]
fn gradients_accumulate_over_micro_batches() {
    let w = leaf(&[1.0, -1.0], &[2]);
    let mut total = Gradients::new();
    for batch in [[1.0, 2.0], [3.0, 4.0]] {
        let x = Var::constant(Tensor::from_f64s(&batch, &[2], DType::F64));
        total.accumulate(w.mul(&x).sum().backward());
    }
    assert_eq!(total.get(&w).unwrap().to_vec_f64(), vec![4.0, 6.0]);
    assert_eq!(total.len(), 1);
}

#[test]
fn set_value_updates_every_handle() {
    let w = leaf(&[1.0], &[1]);
    let handle = w.clone();
    w.set_value(Tensor::from_f64s(&[5.0], &[1], DType::F64));
    assert_eq!(handle.item(), 5.0);
}

#[test]
#[should_panic(expected = "only a leaf can be set")]
fn only_leaves_can_be_set() {
    let w = leaf(&[1.0], &[1]);
    w.exp().set_value(Tensor::zeros(&[1], DType::F64));
}

#[test]
#[should_panic(expected = "only a Var made by Var::new or Var::constant can be set")]
fn the_result_of_an_unrecorded_op_is_fixed() {
    let y = no_grad(|| leaf(&[1.0], &[1]).exp());
    assert!(y.is_leaf());
    y.set_value(Tensor::zeros(&[1], DType::F64));
}

#[test]
fn a_constant_can_be_set_and_copied_into_a_settable_one() {
    let c = Var::constant(Tensor::ones(&[1], DType::F64));
    c.set_value(Tensor::zeros(&[1], DType::F64));
    let fixed = c.exp();
    let settable = Var::constant(fixed.value());
    settable.update_value(|t| *t = t.mul_scalar(3.0));
    assert_eq!((c.item(), fixed.item(), settable.item()), (0.0, 1.0, 3.0));
}

#[test]
fn a_tape_spanning_threads_is_walked_in_order() {
    // The first part is made on a thread that has already made many nodes (a high tick), the
    // rest on a fresh thread: each node must still be numbered after its inputs, and ids of
    // the two threads must not collide.
    let (x, h) = std::thread::spawn(|| {
        let x = leaf(&[0.5, -1.0], &[2]);
        let mut h = x.clone();
        for _ in 0..1000 {
            h = h.mul_scalar(1.0);
        }
        (x, h.mul_scalar(2.0))
    })
    .join()
    .unwrap();
    let x_id = x.id();
    let (y, ids) = std::thread::spawn(move || {
        let w = leaf(&[3.0, 4.0], &[2]);
        let y = h.mul(&w).square().sum();
        let ids = [x_id, h.id(), w.id(), y.id()];
        (y.backward(), ids)
    })
    .join()
    .unwrap();
    let [_, h_id, w_id, y_id] = ids;
    assert!(x_id < h_id && h_id < y_id && w_id < y_id, "{ids:?}");
    assert_ne!(x_id.thread(), w_id.thread());
    // y = Σ (2x ⊙ w)², so ∂y/∂x = 2·(2x ⊙ w)·2w = 8 x w².
    let gx = y.get(&x).unwrap().to_vec_f64();
    assert_eq!(gx, vec![8.0 * 0.5 * 9.0, -8.0 * 16.0]);
}

#[test]
fn grad_reaches_intermediate_vars() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let h = x.mul_scalar(3.0);
    let y = h.square().sum();
    let gh = grad(&y, &[&h], false)[0].clone().unwrap();
    assert_eq!(gh.value().to_vec_f64(), vec![6.0, 12.0]);
    let unrelated = leaf(&[0.0], &[1]);
    assert!(grad(&y, &[&unrelated], false)[0].is_none());
}

#[test]
fn deep_chains_do_not_overflow_the_stack() {
    let x = leaf(&[0.5], &[1]);
    let mut y = x.clone();
    for _ in 0..20_000 {
        y = y.mul_scalar(1.0);
    }
    assert_eq!(y.sum().backward().get(&x).unwrap().to_vec_f64(), vec![1.0]);
}

#[test]
fn same_inputs_give_identical_gradients() {
    // Large enough that elementwise kernels and gemm both run on several threads.
    let run = || {
        let mut r = rng(3);
        let x = Var::constant(init::normal(&[256, 512], 0.0, 1.0, DType::F32, &mut r));
        let w = Var::new(init::he_normal(&[512, 256], DType::F32, &mut r));
        let loss = x.matmul(&w).gelu().softmax(1).ln().mean();
        (loss.item(), loss.backward().get(&w).unwrap().to_vec_f32())
    };
    let (first_loss, first_grad) = run();
    for _ in 0..3 {
        let (loss, grad) = run();
        assert_eq!(loss.to_bits(), first_loss.to_bits());
        assert!(grad.iter().zip(&first_grad).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
