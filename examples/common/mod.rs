//! What the examples share. The ones that read data use [`report_errors`]; the image classifiers
//! (`mnist_mlp`, `mnist_cnn`, `fashion_mnist`, `cifar_resnet`) also share the flags and the training run
//! (summary, loaders, `fit` with callbacks, test accuracy, history, plot, checkpoint).
//! [`run`] trains with Adam on normalised images; [`run_with`] adds what only some examples
//! need ([`Extras`]: data augmentation, SGD, a warm-up).

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use nabla::data::{Compose, DataLoader, ImageSet, Normalize};
use nabla::layers::{save_safetensors, summary};
use nabla::prelude::*;
use nabla::train::schedule::{CosineAnnealing, LinearWarmup};
use nabla::train::{plot_history, CsvLogger, LrScheduler, ModelCheckpoint};

/// The flags of the image examples (also reused by `sunspots_rnn` and `sentiment`); unset ones
/// take the example's defaults.
#[derive(Parser, Debug)]
pub struct Args {
    /// Number of passes over the training set.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Samples per optimizer step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Initial learning rate of the optimizer (Adam unless the example says otherwise); it
    /// decays along a cosine to 1% of it.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed of the weights, the data order and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where the history, plot, weights and checkpoint go.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Resume from a checkpoint written by an earlier run (e.g. `<out>/checkpoint.nabla`).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Print only the final figures (no summary, progress bar or per-epoch lines).
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `body`, printing an error in words (not `Debug`) and exiting with status 1 if it fails.
pub fn report_errors(body: impl FnOnce() -> Result<(), Box<dyn Error>>) {
    if let Err(e) = body() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The settings of a run after defaults are applied.
pub struct Settings {
    pub name: &'static str,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    /// Training images held out for validation (0: none).
    pub validation: usize,
}

/// Optional parts of a run; `Extras::default()` is what [`run`] does.
#[derive(Default)]
pub struct Extras {
    /// Random augmentation of the training batches (crops, flips), applied before normalising.
    pub augment: Option<Compose>,
    /// Train with SGD of this momentum, Nesterov setting and weight decay instead of Adam (its
    /// learning rate is replaced by the run's).
    pub sgd: Option<SgdConfig>,
    /// Epochs over which the learning rate rises linearly from 0 before the cosine decay.
    pub warmup_epochs: usize,
}

/// Trains `model` on `train` (the last `settings.validation` images held out for validation),
/// reports test accuracy on `test`, and writes history, plot, weights and checkpoint.
/// Returns the test accuracy.
#[allow(dead_code)] // each example compiles its own copy of this module and may use only `run_with`
pub fn run<M: Module>(
    model: M,
    train: ImageSet,
    test: ImageSet,
    normalize: Normalize,
    settings: Settings,
    args: &Args,
) -> Result<f64, Box<dyn Error>> {
    run_with(model, train, test, normalize, settings, Extras::default(), args)
}

/// [`run`] with [`Extras`].
pub fn run_with<M: Module>(
    model: M,
    train: ImageSet,
    test: ImageSet,
    normalize: Normalize,
    settings: Settings,
    extras: Extras,
    args: &Args,
) -> Result<f64, Box<dyn Error>> {
    let epochs = args.epochs.unwrap_or(settings.epochs);
    let batch_size = args.batch_size.unwrap_or(settings.batch_size);
    let lr = args.lr.unwrap_or(settings.lr);
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("target/runs").join(settings.name));
    std::fs::create_dir_all(&out)?;

    let input_shape: Vec<usize> = std::iter::once(1).chain(train.image_shape().iter().copied()).collect();
    if !args.quiet {
        println!("{}\n", summary(&model, &input_shape));
    }

    let held_out = settings.validation as f64 / train.len() as f64;
    let (train, validation) = train.into_dataset().split(held_out, args.seed);
    let train_loader = DataLoader::new(train, batch_size).shuffle(true).seed(args.seed);
    let train_loader = match extras.augment {
        Some(augment) => train_loader.transform(augment.with(normalize.clone())),
        None => train_loader.transform(normalize.clone()),
    };
    let validation_loader =
        (settings.validation > 0).then(|| DataLoader::new(validation, 1000).transform(normalize.clone()));
    let test_loader = DataLoader::new(test.into_dataset(), 1000).transform(normalize);
    let intro = format!(
        "{}: {} training, {} validation, {} test images; {epochs} epochs of {} steps (batch {batch_size}), seed {}",
        settings.name,
        train_loader.samples_per_epoch(),
        validation_loader.as_ref().map_or(0, DataLoader::samples_per_epoch),
        test_loader.samples_per_epoch(),
        train_loader.len(),
        args.seed
    );
    if !args.quiet {
        println!("{intro}");
    }

    let total_steps = (epochs * train_loader.len()) as u64;
    let warmup_steps = (extras.warmup_epochs * train_loader.len()) as u64;
    let schedule = LinearWarmup::new(warmup_steps, CosineAnnealing::new(total_steps, lr * 0.01));
    let checkpoint = out.join("checkpoint.nabla");
    let parameters = model.named_parameters();
    let trainer = match extras.sgd {
        Some(sgd) => {
            Trainer::new(model, SgdConfig { learning_rate: lr, ..sgd }.init(parameters), CrossEntropyLoss::default())
        }
        None => Trainer::new(model, AdamConfig::new(lr).init(parameters), CrossEntropyLoss::default()),
    };
    let mut trainer = trainer
        .metric(Accuracy::new())
        .callback(LrScheduler::new(schedule))
        .callback(CsvLogger::new(out.join("history.csv")))
        .callback(ModelCheckpoint::new(&checkpoint))
        .verbosity(if args.quiet { Verbosity::Quiet } else { Verbosity::Progress });
    if let Some(resume) = &args.resume {
        trainer.load_checkpoint(resume)?;
        println!("resumed from {} at epoch {}", resume.display(), trainer.epoch() + 1);
    }

    let started = Instant::now();
    trainer.fit(&train_loader, validation_loader.as_ref(), epochs)?;
    let training_seconds = started.elapsed().as_secs_f64();
    let test_figures = trainer.evaluate(&test_loader)?;
    let accuracy = test_figures["accuracy"];

    let history = trainer.history();
    history.save_json(out.join("history.json"))?;
    plot_history(history, out.join("history.svg"))?;
    save_safetensors(trainer.model(), out.join("model.safetensors"))?;
    println!(
        "\ntest accuracy {:.2}% (loss {:.4}) after {} epochs, {:.1} s of training; \
         {} parameters, seed {}",
        accuracy * 100.0,
        test_figures["loss"],
        history.epochs.len(),
        training_seconds,
        trainer.model().num_parameters(),
        args.seed
    );
    println!(
        "wrote {0}/history.csv, {0}/history.json, {0}/history.svg, {0}/model.safetensors, {0}/checkpoint.nabla",
        out.display()
    );
    Ok(accuracy)
}
