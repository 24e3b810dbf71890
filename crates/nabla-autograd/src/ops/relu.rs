//! Rectified linear unit: `y = max(x, 0)`; `∂y/∂x = [x > 0]` (0 at 0), so `x̄ = ȳ ⊙ [x > 0]`.
//!
//! A plain `backward()` forms that product in one pass (`Tensor::relu_backward`, with no mask
//! tensor in between). When the backward pass is recorded, it is written as the product with
//! the mask as a constant, which differentiates in `ȳ` to the same masking (and in `x` to 0,
//! almost everywhere).

use crate::Var;

impl Var {
    /// `max(self, 0)` elementwise.
    pub fn relu(&self) -> Var {
        let value = self.read().relu();
        Var::from_fused_op(
            "relu",
            value,
            &[self],
            |g, x, _| vec![Some(g.mul(&Var::fixed(x[0].read().gt_scalar(0.0))))],
            |g, x, _| vec![Some(g.relu_backward(&x[0].read()))],
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[-1.0, 0.0, 2.0], &[3]);
        let y = x.relu();
        let expected: &[f64] = &[0.0, 0.0, 2.0];
        for (a, b) in y.value().to_vec_f64().iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let expected_grad: &[f64] = &[0.0, 0.0, 1.0];
        let g = y.sum().backward();
        for (a, b) in g.get(&x).unwrap().to_vec_f64().iter().zip(expected_grad) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn the_recorded_backward_is_differentiable_in_the_incoming_gradient() {
        // L = Σ w ⊙ relu(x): ∂L/∂x = w ⊙ [x > 0], and ∂(Σ ∂L/∂x)/∂w = [x > 0].
        let (x, w) = (v(&[-1.0, 2.0, 3.0], &[3]), v(&[3.0, 4.0, 5.0], &[3]));
        let dx = crate::grad(&x.relu().mul(&w).sum(), &[&x], true)[0].clone().unwrap();
        assert_eq!(dx.value().to_vec_f64(), vec![0.0, 4.0, 5.0]);
        let dw = crate::grad(&dx.sum(), &[&w], false)[0].clone().unwrap();
        assert_eq!(dw.value().to_vec_f64(), vec![0.0, 1.0, 1.0]);
    }
}
