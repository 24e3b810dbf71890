//! The training loop end to end on small synthetic data: it learns, reports, stops on NaN,
//! stops early, writes history, plot and checkpoints, and a resumed run is bit-for-bit the
//! uninterrupted one.

use nabla_data::{synthetic, DataLoader, TensorDataset};
use nabla_layers::loss::CrossEntropyLoss;
use nabla_layers::{BatchNorm1dConfig, DropoutConfig, LinearConfig, ModuleExt, ReLU, Sequential};
use nabla_tensor::rng;
use nabla_train::metrics::Accuracy;
use nabla_train::optim::{AdamConfig, SgdConfig};
use nabla_train::schedule::CosineAnnealing;
use nabla_train::{CsvLogger, EarlyStopping, LrScheduler, ModelCheckpoint, TrainError, Trainer, Verbosity};

fn moons(n: usize, seed: u64) -> TensorDataset {
    synthetic::moons(n, 0.1, seed)
}

/// An MLP with BatchNorm and Dropout, so resuming must restore buffers and dropout state too.
fn model(seed: u64) -> Sequential {
    let mut r = rng(seed);
    Sequential::new()
        .add(LinearConfig::new(2, 32).init(&mut r))
        .add(BatchNorm1dConfig::new(32).init(&mut r))
        .add(ReLU)
        .add(DropoutConfig::new(0.1).with_seed(7).init(&mut r))
        .add(LinearConfig::new(32, 2).init(&mut r))
}

fn trainer(seed: u64, dir: &std::path::Path) -> Trainer<Sequential> {
    let m = model(seed);
    let optimizer = AdamConfig::new(0.01).init(m.named_parameters());
    Trainer::new(m, optimizer, CrossEntropyLoss::default())
        .metric(Accuracy::new())
        .callback(LrScheduler::new(CosineAnnealing::new(200, 1e-4)))
        .callback(CsvLogger::new(dir.join("history.csv")))
        .verbosity(Verbosity::Quiet)
}

fn loaders() -> (DataLoader, DataLoader) {
    let train = DataLoader::new(moons(400, 1), 32).shuffle(true).seed(3);
    let val = DataLoader::new(moons(200, 2), 100);
    (train, val)
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("nabla-train-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn fit_learns_and_reports() {
    let dir = temp_dir("learns");
    let (train, val) = loaders();
    let mut t = trainer(0, &dir);
    let history = t.fit(&train, Some(&val), 20).unwrap().clone();
    assert_eq!(history.epochs.len(), 20);
    let acc = history.validation_series("accuracy");
    assert!(*acc.last().unwrap() > 0.93 && acc.last() > acc.first(), "validation accuracy {acc:?}");
    let loss = history.train_series("loss");
    assert!(loss.last().unwrap() < &loss[0], "training loss fell: {loss:?}");
    let csv = std::fs::read_to_string(dir.join("history.csv")).unwrap();
    assert!(csv.starts_with("epoch,accuracy,loss,val_accuracy,val_loss,learning_rate,seconds\n"), "{csv}");
    assert_eq!(csv.lines().count(), 21);
    nabla_train::plot_history(&history, dir.join("history.svg")).unwrap();
    let svg = std::fs::read_to_string(dir.join("history.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("accuracy") && svg.contains("validation"));
    let evaluated = t.evaluate(&val).unwrap();
    assert_eq!(evaluated["accuracy"], *acc.last().unwrap());
    assert_eq!(t.predict(&val).shape(), &[200, 2]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn resuming_from_a_checkpoint_reproduces_the_uninterrupted_run() {
    let dir = temp_dir("resume");
    let (train, val) = loaders();

    let mut straight = trainer(0, &dir);
    straight.fit(&train, Some(&val), 4).unwrap();

    let mut first_half = trainer(0, &dir);
    first_half.fit(&train, Some(&val), 2).unwrap();
    first_half.save_checkpoint(dir.join("half.ckpt")).unwrap();
    drop(first_half);

    // A new process would build the same architecture from any seed, then load.
    let mut resumed = trainer(99, &dir);
    resumed.load_checkpoint(dir.join("half.ckpt")).unwrap();
    assert_eq!(resumed.epoch(), 2);
    resumed.fit(&train, Some(&val), 4).unwrap();

    for ((name, a), (_, b)) in straight.model().state_dict().iter().zip(resumed.model().state_dict().iter()) {
        let (a, b) = (a.to_vec_f64(), b.to_vec_f64());
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "`{name}` differs after resuming");
    }
    assert_eq!(straight.optimizer().state(), resumed.optimizer().state());
    let strip = |t: &Trainer<Sequential>| {
        t.history().epochs.iter().map(|e| (e.train.clone(), e.validation.clone(), e.learning_rate)).collect::<Vec<_>>()
    };
    assert_eq!(strip(&straight), strip(&resumed));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn model_checkpoint_and_early_stopping() {
    let dir = temp_dir("callbacks");
    let (train, val) = loaders();
    let m = model(0);
    let optimizer = SgdConfig::new(0.0).init(m.named_parameters()); // learns nothing: no improvement
    let mut t = Trainer::new(m, optimizer, CrossEntropyLoss::default())
        .callback(EarlyStopping::new("val_loss", 2))
        .callback(ModelCheckpoint::new(dir.join("best.ckpt")).best_only("val_loss"))
        .verbosity(Verbosity::Quiet);
    t.fit(&train, Some(&val), 50).unwrap();
    assert!(t.history().epochs.len() <= 4, "stopped after {} epochs", t.history().epochs.len());
    assert!(dir.join("best.ckpt").exists());
    assert!(!dir.join("best.ckpt.tmp").exists(), "no temporary file is left behind");

    let missing =
        Trainer::new(model(0), SgdConfig::new(0.1).init(model(0).named_parameters()), CrossEntropyLoss::default())
            .callback(EarlyStopping::new("val_accuracy", 2))
            .verbosity(Verbosity::Quiet)
            .fit(&train, None, 1)
            .map(|_| ())
            .unwrap_err();
    assert!(matches!(missing, TrainError::MissingFigure { .. }), "{missing}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_non_finite_loss_stops_training_with_the_step() {
    let (train, _) = loaders();
    let m = model(0);
    let optimizer = SgdConfig::new(1e30).init(m.named_parameters());
    let mut t = Trainer::new(m, optimizer, CrossEntropyLoss::default()).verbosity(Verbosity::Quiet);
    let err = t.fit(&train, None, 5).map(|_| ()).unwrap_err();
    match &err {
        TrainError::NonFinite { step, value, .. } => {
            assert!(*step > 0 && !value.is_finite());
            assert!(err.to_string().contains(&format!("step {step}")), "{err}");
        }
        other => panic!("expected NonFinite, got {other}"),
    }
}

#[test]
fn a_checkpoint_for_another_model_is_refused_and_changes_nothing() {
    let dir = temp_dir("mismatch");
    let (train, _) = loaders();
    let mut t = trainer(0, &dir);
    t.fit(&train, None, 1).unwrap();
    t.save_checkpoint(dir.join("a.ckpt")).unwrap();

    let mut r = rng(0);
    let other = Sequential::new().add(LinearConfig::new(2, 3).init(&mut r));
    let optimizer = AdamConfig::new(0.01).init(other.named_parameters());
    let mut wrong = Trainer::new(other, optimizer, CrossEntropyLoss::default())
        .callback(LrScheduler::new(CosineAnnealing::new(200, 1e-4)))
        .callback(CsvLogger::new(dir.join("h.csv")));
    let before = wrong.model().state_dict();
    let err = wrong.load_checkpoint(dir.join("a.ckpt")).unwrap_err().to_string();
    assert!(err.contains("a.ckpt") && err.contains("model"), "{err}");
    assert_eq!(wrong.model().state_dict().len(), before.len());
    assert_eq!(wrong.epoch(), 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn classes_and_one_hot_targets_train_alike() {
    let data = moons(64, 5);
    let (inputs, targets) = data.clone().into_parts();
    let one_hot = nabla_tensor::Tensor::one_hot(targets.as_classes().unwrap(), 2, nabla_tensor::DType::F32);
    let soft = TensorDataset::regression(inputs, one_hot);
    let run = |d: TensorDataset| {
        let m = model(0);
        let optimizer = SgdConfig::new(0.1).init(m.named_parameters());
        let mut t = Trainer::new(m, optimizer, CrossEntropyLoss::default()).verbosity(Verbosity::Quiet);
        t.fit(&DataLoader::new(d, 16), None, 2).unwrap().train_series("loss")
    };
    let (a, b) = (run(data), run(soft));
    assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6), "{a:?} vs {b:?}");
}
