//! # Lesson 2 — Expressiveness: XOR needs a hidden layer
//!
//! XOR is the classic function no straight line can separate:
//!
//! | x₁ | x₂ | x₁ XOR x₂ |
//! |---|---|---|
//! | 0 | 0 | 0 |
//! | 0 | 1 | 1 |
//! | 1 | 0 | 1 |
//! | 1 | 1 | 0 |
//!
//! A single linear layer `σ(x·W + b)` can classify at most 3 of the 4 points correctly. One
//! hidden layer, `σ(tanh(x·W₁ + b₁)·W₂ + b₂)`, bends the space so all 4 are right.
//! Both are trained with the same loss (binary cross-entropy) and plain gradient descent.
//!
//! Run: `cargo run --release --example xor` — prints the final accuracy of each model
//! (linear: 75% at best; with the hidden layer: 100%).

use nabla::prelude::*;

/// The four XOR points and their labels.
fn xor_data() -> (Var, Var) {
    let x = Tensor::from_vec(vec![0.0f64, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0], &[4, 2]);
    let y = Tensor::from_vec(vec![0.0f64, 1.0, 1.0, 0.0], &[4, 1]);
    (Var::constant(x), Var::constant(y))
}

/// Binary cross-entropy of predicted probabilities `p` against labels `y`:
/// `−mean(y·ln p + (1 − y)·ln(1 − p))`.
fn binary_cross_entropy(p: &Var, y: &Var) -> Var {
    let eps = 1e-12;
    let one_minus_y = y.neg().add_scalar(1.0);
    let one_minus_p = p.neg().add_scalar(1.0);
    y.mul(&p.add_scalar(eps).ln()).add(&one_minus_y.mul(&one_minus_p.add_scalar(eps).ln())).mean().neg()
}

/// Trains `params` by gradient descent on `forward`, returns the final accuracy in percent.
fn train(name: &str, params: &[Var], forward: impl Fn(&Var) -> Var) -> f64 {
    let (x, y) = xor_data();
    let learning_rate = 0.5;
    for step in 0..=3000 {
        let loss = binary_cross_entropy(&forward(&x), &y);
        let grads = loss.backward();
        if step % 1000 == 0 {
            println!("  [{name}] step {step:>4}: loss {:.4}", loss.item());
        }
        for p in params {
            let g = grads.get(p).expect("every parameter reaches the loss");
            p.set_value(p.value().sub(&g.mul_scalar(learning_rate)));
        }
    }
    let predictions = no_grad(|| forward(&x)).value().gt_scalar(0.5);
    let correct = predictions.eq(&y.value()).sum_all().to_scalar();
    100.0 * correct / 4.0
}

fn main() {
    let mut r = rng(7);

    println!("single linear layer: p = σ(x·W + b)");
    let w = Var::new(init::glorot_uniform(&[2, 1], DType::F64, &mut r));
    let b = Var::new(Tensor::zeros(&[1], DType::F64));
    let linear = train("linear", &[w.clone(), b.clone()], |x| x.matmul(&w).add(&b).sigmoid());

    println!("one hidden layer of 4 tanh units: p = σ(tanh(x·W₁ + b₁)·W₂ + b₂)");
    let w1 = Var::new(init::glorot_uniform(&[2, 4], DType::F64, &mut r));
    let b1 = Var::new(Tensor::zeros(&[4], DType::F64));
    let w2 = Var::new(init::glorot_uniform(&[4, 1], DType::F64, &mut r));
    let b2 = Var::new(Tensor::zeros(&[1], DType::F64));
    let params = [w1.clone(), b1.clone(), w2.clone(), b2.clone()];
    let hidden = train("hidden", &params, |x| x.matmul(&w1).add(&b1).tanh().matmul(&w2).add(&b2).sigmoid());

    println!("\nfinal accuracy — linear: {linear:.0}%   with hidden layer: {hidden:.0}%");
    assert!(linear <= 75.0, "no linear classifier can get XOR fully right");
    assert_eq!(hidden, 100.0, "one hidden layer should learn XOR");
}
