//! The checkpoint reader never panics and never trusts a length it has not checked: random
//! bytes, truncations, flipped bits and lying section lengths are all errors naming the file.

use std::path::Path;

use nabla_autograd::gradcheck::strategies::config;
use nabla_layers::{LinearConfig, ModuleExt, Sequential};
use nabla_tensor::rng;
use nabla_train::checkpoint::{self, CheckpointMeta};
use nabla_train::optim::{AdamConfig, Optimizer};
use nabla_train::History;
use proptest::prelude::*;

fn valid_checkpoint() -> Vec<u8> {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(write_valid_checkpoint).clone()
}

fn write_valid_checkpoint() -> Vec<u8> {
    let mut r = rng(0);
    let model = Sequential::new().add(LinearConfig::new(3, 2).init(&mut r));
    let mut adam = AdamConfig::new(0.1).init(model.named_parameters());
    let grads = {
        let x = nabla_autograd::Var::constant(nabla_tensor::Tensor::ones(&[1, 3], nabla_tensor::DType::F32));
        nabla_layers::Module::forward(&model, &x).sum().backward()
    };
    adam.step(&grads);
    let meta = CheckpointMeta {
        epoch: 1,
        step: 1,
        optimizer: "Adam".into(),
        callbacks: vec![("EarlyStopping".into(), vec![0.5, 1.0])],
        history: History::default(),
    };
    let dir = std::env::temp_dir().join(format!("nabla-ckpt-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("valid.ckpt");
    checkpoint::write(&path, &meta, &model, &adam.state()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
    bytes
}

#[test]
fn a_valid_checkpoint_parses() {
    let loaded = checkpoint::parse(&valid_checkpoint(), Path::new("valid.ckpt")).unwrap();
    assert_eq!(loaded.meta.epoch, 1);
    assert_eq!(loaded.model.len(), 2);
    assert_eq!(loaded.optimizer.slots["0.weight"].len(), 2);
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn random_bytes_are_errors(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let err = checkpoint::parse(&bytes, Path::new("random.ckpt")).err().expect("random bytes are not a checkpoint");
        prop_assert!(err.to_string().contains("random.ckpt"));
    }

    #[test]
    fn truncations_and_flipped_bits_are_errors(cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(), bit in 0u8..8) {
        let bytes = valid_checkpoint();
        let cut = cut.index(bytes.len());
        prop_assert!(checkpoint::parse(&bytes[..cut], Path::new("cut.ckpt")).is_err());
        let mut flipped = bytes.clone();
        let i = flip.index(flipped.len());
        flipped[i] ^= 1 << bit;
        prop_assert!(checkpoint::parse(&flipped, Path::new("flipped.ckpt")).is_err());
    }

    /// Lengths that lie — huge, or past the end — with the checksum recomputed so that only
    /// the length check stands between the reader and the lie.
    #[test]
    fn lying_section_lengths_are_errors(section in 0usize..3, claimed in prop_oneof![Just(u64::MAX), Just(1u64 << 40), 0u64..100_000]) {
        let bytes = valid_checkpoint();
        let mut body = bytes[..bytes.len() - 8].to_vec();
        let mut offset = 12;
        for _ in 0..section {
            let len = u64::from_le_bytes(body[offset..offset + 8].try_into().unwrap()) as usize;
            offset += 8 + len;
        }
        let original = u64::from_le_bytes(body[offset..offset + 8].try_into().unwrap());
        prop_assume!(claimed != original);
        body[offset..offset + 8].copy_from_slice(&claimed.to_le_bytes());
        let checksum = body.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
        body.extend_from_slice(&checksum.to_le_bytes());
        let err = checkpoint::parse(&body, Path::new("lying.ckpt")).err().expect("a lying length is refused");
        prop_assert!(err.to_string().contains("lying.ckpt"));
    }
}
