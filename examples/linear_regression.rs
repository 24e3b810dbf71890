//! # Lesson 3 — Backpropagation: fitting a line by gradient descent
//!
//! We draw 500 points `y = a·x + b + noise` with `a = 2.5`, `b = −1` and Gaussian noise of
//! standard deviation 0.05, then recover `a` and `b` by minimising the mean squared error
//!
//! ```text
//! L(â, b̂) = 1/n Σᵢ (â·xᵢ + b̂ − yᵢ)²
//! ```
//!
//! with plain gradient descent: `θ ← θ − η·∂L/∂θ`. The gradients come from the tape: we write
//! only the forward formula and call `backward()`.
//!
//! Run: `cargo run --release --example linear_regression`
//! (prints the loss falling and ends with â ≈ 2.500, b̂ ≈ −1.000; seeded, so every run is the same).

use nabla::prelude::*;

fn main() {
    let (a_true, b_true, n) = (2.5, -1.0, 500);
    let mut r = rng(42);
    let x = init::uniform(&[n], -1.0, 1.0, DType::F64, &mut r);
    let noise = init::normal(&[n], 0.0, 0.05, DType::F64, &mut r);
    let y = x.mul_scalar(a_true).add_scalar(b_true).add(&noise);
    let (x, y) = (Var::constant(x), Var::constant(y));

    // The two parameters, started at zero.
    let a = Var::new(Tensor::scalar(0.0, DType::F64));
    let b = Var::new(Tensor::scalar(0.0, DType::F64));
    let learning_rate = 0.5;

    println!("{:>5}  {:>12}  {:>8}  {:>8}", "step", "loss", "a", "b");
    for step in 0..=300 {
        let prediction = x.mul(&a).add(&b);
        let loss = prediction.sub(&y).square().mean();
        let grads = loss.backward();
        if step % 30 == 0 {
            println!("{step:>5}  {:>12.6}  {:>8.4}  {:>8.4}", loss.item(), a.item(), b.item());
        }
        // θ ← θ − η·∂L/∂θ (no tape needed for the update itself).
        for p in [&a, &b] {
            let g = grads.get(p).expect("the loss depends on every parameter");
            p.set_value(p.value().sub(&g.mul_scalar(learning_rate)));
        }
    }
    println!("\nrecovered a = {:.4} (true {a_true}), b = {:.4} (true {b_true})", a.item(), b.item());
    let (err_a, err_b) = ((a.item() - a_true).abs(), (b.item() - b_true).abs());
    println!("errors: |Δa| = {err_a:.4}, |Δb| = {err_b:.4}");
    assert!(err_a < 1e-2 && err_b < 1e-2, "gradient descent should recover a and b within 1e-2");
}
