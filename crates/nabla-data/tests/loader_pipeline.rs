//! The whole input pipeline on real images: MNIST test images → DataLoader with shuffling,
//! augmentation and normalisation, checked for determinism, resumption and prefetching.

use nabla_data::{mnist, Compose, DataLoader, Normalize, OneHot, RandomCrop, RandomHorizontalFlip, Split};
use nabla_data::{Batch, Dataset};

fn fingerprint(batch: &Batch) -> (Vec<u32>, Vec<u32>) {
    let inputs = batch.inputs.to_vec_f32().iter().map(|v| v.to_bits()).collect();
    let targets = batch.target_tensor().to_vec_f32().iter().map(|v| v.to_bits()).collect();
    (inputs, targets)
}

fn loader(prefetch: usize) -> DataLoader {
    let images = mnist::load(Split::Test).unwrap().take(1000);
    let augment = Compose::new()
        .with(RandomCrop::new(28, 2))
        .with(RandomHorizontalFlip::new(0.5))
        .with(Normalize::mnist())
        .with(OneHot::new(10));
    DataLoader::new(images.into_dataset(), 64).shuffle(true).seed(2024).transform(augment).prefetch(prefetch)
}

#[test]
fn augmented_batches_are_reproducible_resumable_and_independent_of_prefetching() {
    let with_worker = loader(2);
    let inline = loader(0);
    assert_eq!(with_worker.len(), 16); // ⌈1000 / 64⌉

    let epoch1: Vec<_> = with_worker.epoch(1).map(|b| fingerprint(&b)).collect();
    let epoch1_inline: Vec<_> = inline.epoch(1).map(|b| fingerprint(&b)).collect();
    assert_eq!(epoch1, epoch1_inline, "prefetching changed the batches");
    assert_eq!(epoch1, loader(2).epoch(1).map(|b| fingerprint(&b)).collect::<Vec<_>>(), "same seed, other batches");

    // A run resumed at epoch 1, batch 5 sees exactly the remaining batches.
    let resumed: Vec<_> = with_worker.epoch_from(1, 5).map(|b| fingerprint(&b)).collect();
    assert_eq!(resumed, epoch1[5..].to_vec());

    // Another epoch: another order and other augmentations.
    let epoch2_first = fingerprint(&with_worker.epoch(2).next().unwrap());
    assert_ne!(epoch2_first, epoch1[0]);

    // Shapes and value ranges after the pipeline.
    let batch = with_worker.epoch(0).next().unwrap();
    assert_eq!(batch.inputs.shape(), &[64, 1, 28, 28]);
    assert_eq!(batch.target_tensor().shape(), &[64, 10]);
    let low = (0.0 - 0.1307) / 0.3081;
    assert!((batch.inputs.min_all() - low).abs() < 1e-5, "padding and background map to {low}");
    let last = with_worker.epoch(0).last().unwrap();
    assert_eq!(last.len(), 1000 - 15 * 64);
    assert_eq!(with_worker.clone().drop_last(true).epoch(0).last().unwrap().len(), 64);
}

#[test]
fn without_shuffling_batches_follow_the_file_order() {
    let test = mnist::load(Split::Test).unwrap();
    let labels = test.labels()[..12].to_vec();
    let loader = DataLoader::new(test.into_flat_dataset(), 4);
    let first = loader.epoch(0).next().unwrap();
    assert_eq!(first.inputs.shape(), &[4, 784]);
    assert_eq!(first.labels(), &labels[..4]);
    assert_eq!(loader.dataset().len(), 10000);
    assert_eq!(loader.batch(0, 2).labels(), &labels[8..12]);
}

/// A dataset and a transform written outside the crate, as a student would.
struct Squares;

impl Dataset for Squares {
    fn len(&self) -> usize {
        10
    }
    fn get_batch(&self, indices: &[usize]) -> Batch {
        let x: Vec<f32> = indices.iter().map(|&i| i as f32).collect();
        let y: Vec<f32> = x.iter().map(|v| v * v).collect();
        let n = indices.len();
        Batch {
            inputs: nabla_tensor::Tensor::from_vec(x, &[n, 1]),
            targets: nabla_data::Targets::Tensor(nabla_tensor::Tensor::from_vec(y, &[n, 1])),
        }
    }
}

struct AddOne;

impl nabla_data::Transform for AddOne {
    fn apply(&self, batch: Batch, _rng: &mut nabla_tensor::Rng) -> Batch {
        Batch { inputs: batch.inputs.add_scalar(1.0), targets: batch.targets }
    }
}

#[test]
fn user_defined_datasets_and_transforms_plug_in() {
    let loader = DataLoader::new(Squares, 4).transform(AddOne);
    let batches: Vec<Batch> = loader.epoch(0).collect();
    assert_eq!(batches.len(), 3);
    assert_eq!(batches[2].inputs.to_vec_f32(), vec![9.0, 10.0]);
    assert_eq!(batches[2].target_tensor().to_vec_f32(), vec![64.0, 81.0]);
    let (train, val) = nabla_data::train_val_split(Squares, 0.2, 1);
    assert_eq!((train.len(), val.len()), (8, 2));
}
