//! # nabla-models
//!
//! The course's "major architectures", each a [`Module`] built from a config with
//! `XConfig::…(..).init(&mut rng)`, out of the layers of [`nabla_layers`] only:
//!
//! | model | file | input → output | parameters (default config) |
//! |---|---|---|---|
//! | [`Mlp`] | `mlp.rs` | `[n, in]` → `[n, out]` | any widths, activation, dropout |
//! | [`LeNet5`] | `lenet.rs` | `[n, 1, 32, 32]` (or 28×28, padded) → `[n, 10]` | 61,706 |
//! | [`Vgg`] | `vgg.rs` | `[n, c, h, w]` → `[n, classes]` | stages of 3×3 convolutions, then dense layers |
//! | [`ResNet`] | `resnet/` | `[n, 3, h, w]` → `[n, classes]` | ResNet-20 272,474; ResNet-18 11,689,512; ResNet-50 25,557,032 |
//! | [`CharLm`] | `char_lm.rs` | ids `[n, t]` → logits `[n·t, vocab]` | embedding 64 → LSTM 256 → vocab (W4's shape) |
//! | [`SeqClassifier`] | `seq_classifier.rs` | padded ids `[n, t]` → `[n, classes]` | embedding → (bi)LSTM/GRU → pooled → dense |
//! | [`Gpt`] | `gpt.rs` | ids `[n, t]` → logits `[n, t, vocab]` | decoder-only Transformer, tied head, `generate` with temperature and top-k |
//! | [`TransformerClassifier`] | `transformer_classifier.rs` | padded ids `[n, t]` → `[n, classes]` | encoder blocks with a padding mask, mean or CLS pooling |
//!
//! Parameters have readable, stable dotted names — the ones a checkpoint stores —
//! chosen to match what the same architecture is called elsewhere (`fc1.weight` in an MLP,
//! `features.0.weight` in a VGG, `layer2.0.downsample.0.weight` in a ResNet as in torchvision).
//! [`summary()`](nabla_layers::summary()) shows every layer of a model with its output shape
//! and cost:
//!
//! ```
//! use nabla_layers::{summary, ModuleExt};
//! use nabla_models::ResNetConfig;
//! use nabla_tensor::rng;
//! let model = ResNetConfig::resnet20(10).init(&mut rng(0));
//! assert_eq!(model.num_parameters(), 272_474);
//! let table = summary(&model, &[1, 3, 32, 32]);
//! assert_eq!(table.rows.last().unwrap().output_shape, vec![1, 10]);
//! ```
//!
//! This crate knows nothing of datasets or training loops (`nabla-data`, `nabla-train`): a
//! model is trained like any other module (see the `cifar_resnet`, `char_lstm`, `mini_gpt` and
//! `sentiment` examples). Text models take token ids; the character vocabulary that maps text
//! to ids is `nabla_data::Vocab`.
#![warn(missing_docs)]

pub mod char_lm;
pub mod gpt;
pub mod lenet;
pub mod mlp;
pub mod recurrent;
pub mod resnet;
pub mod seq_classifier;
pub mod transformer_classifier;
pub mod vgg;

pub use char_lm::{sample_logits, CharLm, CharLmConfig};
pub use gpt::{flatten_logits, next_token_loss, Gpt, GptConfig, LmHead};
pub use lenet::{LeNet5, LeNet5Config, LeNetInput, Pooling};
pub use mlp::{Activation, Mlp, MlpConfig};
pub use recurrent::{CellKind, RecurrentLayer, RecurrentState};
pub use resnet::{
    BasicBlock, BasicBlockConfig, BlockKind, Bottleneck, BottleneckConfig, ResNet, ResNetConfig, Stage, Stem,
};
pub use seq_classifier::{SeqClassifier, SeqClassifierConfig, SeqPooling};
pub use transformer_classifier::{
    PositionEncoding, TransformerClassifier, TransformerClassifierConfig, TransformerPooling,
};
pub use vgg::{Vgg, VggConfig, VggStage};

use nabla_autograd::Var;
use nabla_layers::{Module, Trace};

/// Runs the child `module` called `name` on `x`. While a summary is being traced its rows are
/// recorded under `name`; otherwise this is `module.forward(x)`. Models with a hand-written
/// forward pass (residual blocks, a ResNet) call their children through this, so that
/// `forward` and `forward_traced` are one piece of code.
pub(crate) fn call(name: &str, module: &dyn Module, x: &Var, trace: Option<&mut Trace>) -> Var {
    match trace {
        Some(trace) => {
            trace.enter(name);
            let y = module.forward_traced(x, trace);
            trace.exit();
            y
        }
        None => module.forward(x),
    }
}
