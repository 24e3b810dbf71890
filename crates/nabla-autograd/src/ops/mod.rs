//! The primitive ops: each file holds one op's forward, its backward rule and the derivative
//! formula, with a golden-value test. Everything else in nabla is composed from these.

mod abs;
mod add;
mod avg_pool2d;
pub(crate) mod batch_norm;
mod concat;
mod conv2d;
mod div;
mod erf;
mod exp;
mod gather;
mod index_select;
mod linear;
mod ln;
mod matmul;
mod max;
mod max_pool2d;
mod maximum;
mod mul;
mod neg;
mod permute;
mod powf;
mod relu;
mod reshape;
mod scalar;
mod sigmoid;
mod slice;
mod sqrt;
mod sub;
pub(crate) mod sum;
mod sum_to;
mod tanh;
mod where_cond;
