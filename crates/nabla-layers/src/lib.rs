//! # nabla-layers
//!
//! Neural-network layers on [`nabla_autograd`]: the [`Module`] trait, layers built from configs
//! (`LinearConfig::new(784, 128).init(&mut rng)`), losses, [`summary()`], safetensors
//! save/load, and the [`conformance`] check every layer passes.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{summary, LinearConfig, Module, ReLU, Sequential};
//! use nabla_tensor::{rng, DType, Tensor};
//! let mut r = rng(0);
//! let model = Sequential::new()
//!     .add(LinearConfig::new(784, 128).init(&mut r))
//!     .add(ReLU)
//!     .add(LinearConfig::new(128, 10).init(&mut r));
//! let logits = model.forward(&Var::constant(Tensor::zeros(&[32, 784], DType::F32)));
//! assert_eq!(logits.shape(), vec![32, 10]);
//! println!("{}", summary(&model, &[1, 784]));
//! ```
//!
//! This crate knows nothing of datasets or training loops (`nabla-data`, `nabla-train`).
#![warn(missing_docs)]

pub mod activation;
pub mod conformance;
pub mod init;
pub mod linear;
pub mod module;
pub mod safetensors_io;
pub mod sequential;
pub mod summary;

pub use activation::{LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, ELU, GELU};
pub use init::Initializer;
pub use linear::{Linear, LinearConfig};
pub use module::{Module, ModuleExt, StateError, TensorKind, Visitor};
pub use safetensors_io::{load_safetensors, save_safetensors, WeightsError};
pub use sequential::Sequential;
pub use summary::{summary, Summary, SummaryRow, Trace};
