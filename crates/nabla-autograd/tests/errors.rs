//! Shape mistakes are reported at the caller's line, naming the op, both shapes and the failing
//! dimension; the `try_` twins return the same words as a typed `ShapeError`.

use std::panic;
use std::sync::{Arc, Mutex};

use nabla_autograd::Var;
use nabla_tensor::{DType, Tensor};

fn var(shape: &[usize]) -> Var {
    Var::new(Tensor::zeros(shape, DType::F32))
}

/// The panic hook is global; tests that swap it take turns.
static HOOK: Mutex<()> = Mutex::new(());

/// Runs `f`, which must panic, and returns the panic message and the file it points at.
fn panic_site(f: impl FnOnce() + panic::UnwindSafe) -> (String, String) {
    let _turn = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    let site = Arc::new(Mutex::new(String::new()));
    let recorded = site.clone();
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        *recorded.lock().unwrap() = info.location().map(|l| l.file().to_string()).unwrap_or_default();
    }));
    let result = panic::catch_unwind(f);
    panic::set_hook(previous);
    let payload = result.expect_err("the op should have panicked");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    let file = site.lock().unwrap().clone();
    (message, file)
}

#[test]
fn broadcast_mismatch_points_at_the_user_line() {
    let (message, file) = panic_site(|| {
        var(&[4, 3]).add(&var(&[4]));
    });
    assert!(file.ends_with("tests/errors.rs"), "the panic points at {file}, not at the caller");
    for expected in ["add", "[4, 3]", "[4]", "dimension 1", "3 vs 4"] {
        assert!(message.contains(expected), "message {message:?} lacks {expected:?}");
    }
}

#[test]
fn matmul_mismatch_names_inner_dimensions() {
    let (message, file) = panic_site(|| {
        var(&[2, 3]).matmul(&var(&[4, 5]));
    });
    assert!(file.ends_with("tests/errors.rs"), "{file}");
    assert!(message.contains("matmul") && message.contains("[2, 3]") && message.contains("[4, 5]"), "{message}");
}

#[test]
fn operators_also_point_at_the_user_line() {
    let (message, file) = panic_site(|| {
        let _ = &var(&[2]) * &var(&[3]);
    });
    assert!(file.ends_with("tests/errors.rs"), "{file}");
    assert!(message.contains("mul"), "{message}");
}

#[test]
fn try_twins_return_typed_errors() {
    let err = var(&[4, 3]).try_add(&var(&[4])).unwrap_err();
    assert_eq!(err.op, "add");
    assert_eq!(err.shapes, vec![vec![4, 3], vec![4]]);
    assert_eq!(err.dim, Some(1));
    let err = var(&[2, 3]).try_matmul(&var(&[4, 5])).unwrap_err();
    assert_eq!(err.op, "matmul");
    assert!(var(&[2, 3]).try_reshape(&[7]).is_err());
    assert!(var(&[1, 1, 5, 5]).try_conv2d(&var(&[1, 2, 3, 3]), Default::default()).is_err());
}
