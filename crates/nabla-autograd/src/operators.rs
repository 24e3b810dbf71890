//! `+ − * /` and unary `−` on `Var`s (and with `f64` constants), so formulas read as math:
//! `(&x * &w + &b).relu()`. Each operator calls the named op (`add`, `mul`, ...), so shapes
//! broadcast and mismatches panic at the caller's line in the same words.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::Var;

macro_rules! binary_operator {
    ($trait:ident, $method:ident) => {
        impl $trait<&Var> for &Var {
            type Output = Var;
            #[track_caller]
            fn $method(self, rhs: &Var) -> Var {
                Var::$method(self, rhs)
            }
        }
        impl $trait<Var> for Var {
            type Output = Var;
            #[track_caller]
            fn $method(self, rhs: Var) -> Var {
                Var::$method(&self, &rhs)
            }
        }
        impl $trait<&Var> for Var {
            type Output = Var;
            #[track_caller]
            fn $method(self, rhs: &Var) -> Var {
                Var::$method(&self, rhs)
            }
        }
        impl $trait<Var> for &Var {
            type Output = Var;
            #[track_caller]
            fn $method(self, rhs: Var) -> Var {
                Var::$method(self, &rhs)
            }
        }
    };
}

binary_operator!(Add, add);
binary_operator!(Sub, sub);
binary_operator!(Mul, mul);
binary_operator!(Div, div);

macro_rules! scalar_operator {
    ($trait:ident, $method:ident, |$x:ident, $c:ident| $body:expr) => {
        impl $trait<f64> for &Var {
            type Output = Var;
            fn $method(self, $c: f64) -> Var {
                let $x = self;
                $body
            }
        }
        impl $trait<f64> for Var {
            type Output = Var;
            fn $method(self, $c: f64) -> Var {
                let $x = &self;
                $body
            }
        }
    };
}

scalar_operator!(Add, add, |x, c| x.add_scalar(c));
scalar_operator!(Sub, sub, |x, c| x.add_scalar(-c));
scalar_operator!(Mul, mul, |x, c| x.mul_scalar(c));
scalar_operator!(Div, div, |x, c| x.mul_scalar(1.0 / c));

impl Neg for &Var {
    type Output = Var;
    fn neg(self) -> Var {
        Var::neg(self)
    }
}

impl Neg for Var {
    type Output = Var;
    fn neg(self) -> Var {
        Var::neg(&self)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn operators_match_methods() {
        let (x, y) = (v(&[1.0, 2.0], &[2]), v(&[3.0, 5.0], &[2]));
        let z = (&x * &y + &x) / 2.0 - 1.0;
        assert_eq!(z.value().to_vec_f64(), vec![1.0, 5.0]);
        assert_eq!((-&x).value().to_vec_f64(), vec![-1.0, -2.0]);
    }
}
