//! Weight initialisers a layer config can name.
//!
//! | initializer | distribution | suits |
//! |---|---|---|
//! | `GlorotUniform` (Keras' default) | `U(±√(6/(fan_in + fan_out)))` | tanh, sigmoid, linear |
//! | `GlorotNormal` | `N(0, 2/(fan_in + fan_out))` | tanh, sigmoid |
//! | `HeUniform` | `U(±√(6/fan_in))` | ReLU |
//! | `HeNormal` | `N(0, 2/fan_in)` | ReLU |
//! | `Normal { std }` | `N(0, std²)` | embeddings, GPT-style (0.02) |
//! | `Zeros`, `Ones`, `Constant(c)` | fixed | biases, norm scales |

use nabla_tensor::{init, DType, Rng, Tensor};

/// How to fill a new weight; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Initializer {
    /// Glorot/Xavier uniform.
    GlorotUniform,
    /// Glorot/Xavier normal.
    GlorotNormal,
    /// He/Kaiming uniform.
    HeUniform,
    /// He/Kaiming normal.
    HeNormal,
    /// `N(0, std²)`.
    Normal {
        /// Standard deviation.
        std: f64,
    },
    /// `U(low, high)`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// Every element `c`.
    Constant(f64),
}

impl Initializer {
    /// A tensor of `shape` drawn from this initializer (fan-in/out read from the shape as
    /// `nabla_tensor::init::fans` describes).
    pub fn init(self, shape: &[usize], dtype: DType, rng: &mut Rng) -> Tensor {
        match self {
            Initializer::GlorotUniform => init::glorot_uniform(shape, dtype, rng),
            Initializer::GlorotNormal => init::glorot_normal(shape, dtype, rng),
            Initializer::HeUniform => init::he_uniform(shape, dtype, rng),
            Initializer::HeNormal => init::he_normal(shape, dtype, rng),
            Initializer::Normal { std } => init::normal(shape, 0.0, std, dtype, rng),
            Initializer::Uniform { low, high } => init::uniform(shape, low, high, dtype, rng),
            Initializer::Zeros => Tensor::zeros(shape, dtype),
            Initializer::Ones => Tensor::ones(shape, dtype),
            Initializer::Constant(c) => Tensor::full(shape, c, dtype),
        }
    }
}
