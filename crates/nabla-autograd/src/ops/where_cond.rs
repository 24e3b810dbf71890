//! Choosing elementwise between two `Var`s by a fixed condition: `y = cond ? a : b`.
//!
//! `∂y/∂a = [cond]`, `∂y/∂b = [¬cond]`, so `ā = ȳ ⊙ [cond]` and `b̄ = ȳ ⊙ [¬cond]`, each summed
//! over broadcast axes. The condition is data (a mask), not differentiated.

use nabla_tensor::{ShapeError, Tensor};

use crate::Var;

impl Var {
    /// `a` where `cond` is nonzero, else `b`, all three broadcasting together.
    pub fn try_where_cond(cond: &Tensor, a: &Var, b: &Var) -> Result<Var, ShapeError> {
        let value = Tensor::try_where_cond(cond, &a.value(), &b.value())?;
        let mask = Var::fixed(cond.ne(&Tensor::scalar(0.0, cond.dtype())).to_dtype(a.dtype()));
        Ok(Var::from_op("where", value, &[a, b], move |g, x, _| {
            let ga = g.mul(&mask);
            let gb = g.sub(&ga);
            vec![Some(ga.sum_to(x[0].shape())), Some(gb.sum_to(x[1].shape()))]
        }))
    }

    /// [`try_where_cond`](Self::try_where_cond), panicking at the caller's line.
    #[track_caller]
    pub fn where_cond(cond: &Tensor, a: &Var, b: &Var) -> Var {
        crate::or_panic(Var::try_where_cond(cond, a, b))
    }

    /// `value` where `mask` is nonzero, else `self` (e.g. `-∞` at masked attention scores).
    #[track_caller]
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Var {
        Var::where_cond(mask, &Var::scalar(value, self.dtype()), self)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{t, v};
    use crate::Var;

    #[test]
    fn golden() {
        let (a, b) = (v(&[1.0, 2.0, 3.0], &[3]), v(&[10.0], &[1]));
        let cond = t(&[1.0, 0.0, 1.0], &[3]);
        let y = Var::where_cond(&cond, &a, &b);
        assert_eq!(y.value().to_vec_f64(), vec![1.0, 10.0, 3.0]);
        let g = y.sum().backward();
        assert_eq!(g.get(&a).unwrap().to_vec_f64(), vec![1.0, 0.0, 1.0]);
        assert_eq!(g.get(&b).unwrap().to_vec_f64(), vec![1.0]);
        assert_eq!(a.masked_fill(&cond, -1.0).value().to_vec_f64(), vec![-1.0, 2.0, -1.0]);
    }
}
