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
pub mod attention;
pub mod batch_norm;
pub mod concat;
pub mod conformance;
pub mod conv2d;
pub mod conv_transpose2d;
pub mod dropout;
pub mod embedding;
pub mod init;
pub mod layer_norm;
pub mod linear;
pub mod loss;
pub mod module;
pub mod pool;
pub mod positional;
pub mod reshape;
pub mod residual;
pub mod rnn;
pub mod safetensors_io;
pub mod sequential;
pub mod summary;
pub mod transformer;
pub mod upsample;

pub use activation::{LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, ELU, GELU};
pub use attention::{MultiHeadAttention, MultiHeadAttentionConfig};
pub use batch_norm::{BatchNorm1d, BatchNorm1dConfig, BatchNorm2d, BatchNorm2dConfig};
pub use concat::Concat;
pub use conv2d::{Conv2d, Conv2dConfig, Padding};
pub use conv_transpose2d::{ConvTranspose2d, ConvTranspose2dConfig};
pub use dropout::{Dropout, DropoutConfig};
pub use embedding::{Embedding, EmbeddingConfig};
pub use init::Initializer;
pub use layer_norm::{LayerNorm, LayerNormConfig};
pub use linear::{Linear, LinearConfig};
pub use loss::{BceWithLogitsLoss, CrossEntropyLoss, HuberLoss, Loss, MaeLoss, MseLoss, NllLoss, Target};
pub use module::{Module, ModuleExt, StateError, TensorKind, Visitor};
pub use pool::{AvgPool2d, GlobalAvgPool2d, MaxPool2d};
pub use positional::{LearnedPositionalEmbedding, LearnedPositionalEmbeddingConfig, SinusoidalPositionalEncoding};
pub use reshape::{Flatten, Reshape};
pub use residual::Residual;
pub use rnn::{
    Bidirectional, BidirectionalConfig, BidirectionalState, Gru, GruCell, GruCellConfig, GruConfig, Lstm, LstmCell,
    LstmCellConfig, LstmConfig, LstmState, Recurrent, RecurrentConfig, RnnState, SimpleRnn, SimpleRnnCell,
    SimpleRnnCellConfig, SimpleRnnConfig,
};
pub use safetensors_io::{load_safetensors, save_safetensors, WeightsError};
pub use sequential::Sequential;
pub use summary::{summary, Summary, SummaryRow, Trace};
pub use transformer::{
    TransformerDecoderBlock, TransformerDecoderBlockConfig, TransformerEncoderBlock, TransformerEncoderBlockConfig,
};
pub use upsample::{Upsample2d, UpsampleMode};
