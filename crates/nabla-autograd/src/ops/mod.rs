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
mod gelu;
mod index_select;
pub(crate) mod layer_norm;
mod linear;
mod ln;
pub(crate) mod lstm_cell;
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
mod softmax;
mod sqrt;
mod sub;
pub(crate) mod sum;
mod sum_to;
mod tanh;
mod where_cond;
