//! SimpleRnn, Lstm, Gru and Bidirectional: conformance on random shapes (gradients with respect
//! to the input and every parameter included), one-unit cells against hand-computed values, the
//! sequence layers against their cells stepped by hand, state hand-off, PyTorch's parameter
//! counts and names, and a small learning task.

use nabla_autograd::functional::losses::binary_cross_entropy_with_logits;
use nabla_autograd::gradcheck::strategies as st;
use nabla_autograd::Var;
use nabla_layers::conformance::Conformance;
use nabla_layers::rnn::split_steps;
use nabla_layers::*;
use nabla_tensor::{init, rng, DType, Rng, Tensor};
use proptest::prelude::*;

fn t64(values: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_f64s(values, shape, DType::F64)
}

fn v64(values: &[f64], shape: &[usize]) -> Var {
    Var::constant(t64(values, shape))
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

fn assert_close(a: &Var, b: &Var, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    let (a, b) = (a.value().to_vec_f64(), b.value().to_vec_f64());
    assert!(close(&a, &b, 1e-12), "{what}: {a:?} vs {b:?}");
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// PyTorch's parameter count for `num_layers` stacked layers with `gates` gate blocks:
/// `G·H·in + G·H·H + 2·G·H` for the first layer, `in = H` for the others.
fn pytorch_count(gates: usize, input: usize, hidden: usize, num_layers: usize) -> usize {
    (0..num_layers).map(|k| gates * hidden * (if k == 0 { input } else { hidden } + hidden) + 2 * gates * hidden).sum()
}

fn input(batch: usize, time: usize, features: usize, seed: u64) -> Var {
    Var::constant(init::uniform(&[batch, time, features], -1.0, 1.0, DType::F64, &mut rng(seed)))
}

proptest! {
    #![proptest_config(st::config(16))]

    #[test]
    fn simple_rnn(batch in 1usize..3, time in 1usize..5, features in 1usize..4, hidden in 1usize..5,
                  layers in 1usize..3, sequences in any::<bool>(), seed in any::<u64>()) {
        let out = if sequences { vec![batch, time, hidden] } else { vec![batch, hidden] };
        Conformance::new("SimpleRnn", &[batch, time, features])
            .output_shape(&out)
            .parameters(pytorch_count(1, features, hidden, layers))
            .seed(seed)
            .check(|r| SimpleRnnConfig::new(features, hidden).with_num_layers(layers).with_return_sequences(sequences).init(r));
    }

    #[test]
    fn lstm(batch in 1usize..3, time in 1usize..5, features in 1usize..4, hidden in 1usize..5,
            layers in 1usize..3, sequences in any::<bool>(), seed in any::<u64>()) {
        let out = if sequences { vec![batch, time, hidden] } else { vec![batch, hidden] };
        Conformance::new("Lstm", &[batch, time, features])
            .output_shape(&out)
            .parameters(pytorch_count(4, features, hidden, layers))
            .seed(seed)
            .check(|r| LstmConfig::new(features, hidden).with_num_layers(layers).with_return_sequences(sequences).init(r));
    }

    #[test]
    fn gru(batch in 1usize..3, time in 1usize..5, features in 1usize..4, hidden in 1usize..5,
           layers in 1usize..3, sequences in any::<bool>(), seed in any::<u64>()) {
        let out = if sequences { vec![batch, time, hidden] } else { vec![batch, hidden] };
        Conformance::new("Gru", &[batch, time, features])
            .output_shape(&out)
            .parameters(pytorch_count(3, features, hidden, layers))
            .seed(seed)
            .check(|r| GruConfig::new(features, hidden).with_num_layers(layers).with_return_sequences(sequences).init(r));
    }

    #[test]
    fn bidirectional_lstm(batch in 1usize..3, time in 1usize..5, features in 1usize..4, hidden in 1usize..4,
                          layers in 1usize..3, sequences in any::<bool>(), seed in any::<u64>()) {
        let out = if sequences { vec![batch, time, 2 * hidden] } else { vec![batch, 2 * hidden] };
        Conformance::new("Bidirectional(Lstm)", &[batch, time, features])
            .output_shape(&out)
            .parameters(2 * pytorch_count(4, features, hidden, layers))
            .seed(seed)
            .check(|r| {
                let lstm = LstmConfig::new(features, hidden).with_num_layers(layers).with_return_sequences(sequences);
                BidirectionalConfig::new(lstm).init(r)
            });
    }

    #[test]
    fn cells(batch in 1usize..4, features in 1usize..4, hidden in 1usize..5, seed in any::<u64>()) {
        let check = |name: &str, gates: usize| Conformance::new(name, &[batch, features])
            .output_shape(&[batch, hidden])
            .parameters(pytorch_count(gates, features, hidden, 1))
            .seed(seed);
        check("SimpleRnnCell", 1).check(|r| SimpleRnnCellConfig::new(features, hidden).init(r));
        check("LstmCell", 4).check(|r| LstmCellConfig::new(features, hidden).init(r));
        check("GruCell", 3).check(|r| GruCellConfig::new(features, hidden).init(r));
    }

    /// With dropout between layers, evaluation mode is deterministic and conforms too.
    #[test]
    fn stacked_with_dropout_in_eval_mode(batch in 1usize..3, time in 1usize..4, features in 1usize..3, hidden in 1usize..4) {
        Conformance::new("Gru", &[batch, time, features])
            .output_shape(&[batch, time, hidden])
            .parameters(pytorch_count(3, features, hidden, 2))
            .in_eval_mode()
            .check(|r| GruConfig::new(features, hidden).with_num_layers(2).with_dropout(0.5).init(r));
    }

    /// Running a sequence in two pieces, carrying the state over, is running it whole.
    #[test]
    fn state_hand_off(batch in 1usize..3, first in 1usize..4, second in 1usize..4, features in 1usize..4,
                      hidden in 1usize..4, seed in any::<u64>()) {
        let x = input(batch, first + second, features, seed);
        let (a, b) = (x.narrow(1, 0, first), x.narrow(1, first, second));
        let joined = |y1: &Var, y2: &Var| Var::concat(&[y1.clone(), y2.clone()], 1);

        let rnn = SimpleRnnConfig::new(features, hidden).with_num_layers(2).with_dtype(DType::F64).init(&mut rng(seed));
        let (whole, end) = rnn.forward_with_state(&x, None);
        let (y1, mid) = rnn.forward_with_state(&a, None);
        let (y2, end2) = rnn.forward_with_state(&b, Some(&mid));
        assert_close(&joined(&y1, &y2), &whole, "SimpleRnn outputs");
        for k in 0..2 { assert_close(&end2.h[k], &end.h[k], "SimpleRnn final h"); }

        let lstm = LstmConfig::new(features, hidden).with_num_layers(2).with_dtype(DType::F64).init(&mut rng(seed));
        let (whole, end) = lstm.forward_with_state(&x, None);
        let (y1, mid) = lstm.forward_with_state(&a, None);
        let (y2, end2) = lstm.forward_with_state(&b, Some(&mid));
        assert_close(&joined(&y1, &y2), &whole, "Lstm outputs");
        for k in 0..2 {
            assert_close(&end2.h[k], &end.h[k], "Lstm final h");
            assert_close(&end2.c[k], &end.c[k], "Lstm final c");
        }

        let gru = GruConfig::new(features, hidden).with_num_layers(2).with_dtype(DType::F64).init(&mut rng(seed));
        let (whole, end) = gru.forward_with_state(&x, None);
        let (y1, mid) = gru.forward_with_state(&a, None);
        let (y2, end2) = gru.forward_with_state(&b, Some(&mid.detach()));
        assert_close(&joined(&y1, &y2), &whole, "Gru outputs");
        for k in 0..2 { assert_close(&end2.h[k], &end.h[k], "Gru final h"); }
    }

    /// The fast sequence layers (one input product for all steps, steps split by halving)
    /// compute exactly what their cells do when stepped one by one, layer by layer.
    #[test]
    fn sequence_layers_equal_their_cells_stepped_by_hand(batch in 1usize..3, time in 1usize..7,
            features in 1usize..4, hidden in 1usize..4, seed in any::<u64>()) {
        let x = input(batch, time, features, seed);
        let step = |t: usize, rows: &[Var]| if rows.is_empty() { x.narrow(1, t, 1).squeeze(1) } else { rows[t].clone() };

        let rnn = SimpleRnnConfig::new(features, hidden).with_num_layers(2).with_dtype(DType::F64).init(&mut rng(seed));
        let (y, state) = rnn.forward_steps(&x, None);
        let mut below: Vec<Var> = vec![];
        for cell in &rnn.cells {
            let mut h = Var::constant(Tensor::zeros(&[batch, hidden], DType::F64));
            below = (0..time).map(|t| { h = cell.step(&step(t, &below), &h); h.clone() }).collect();
        }
        for t in 0..time { assert_close(&y[t], &below[t], "SimpleRnn step"); }
        assert_close(&state.h[1], &below[time - 1], "SimpleRnn last state");

        let lstm = LstmConfig::new(features, hidden).with_num_layers(2).with_dtype(DType::F64).init(&mut rng(seed));
        let (y, state) = lstm.forward_steps(&x, None);
        let mut below: Vec<Var> = vec![];
        let mut cells = vec![];
        for cell in &lstm.cells {
            let zero = Var::constant(Tensor::zeros(&[batch, hidden], DType::F64));
            let (mut h, mut c) = (zero.clone(), zero);
            below = (0..time).map(|t| { (h, c) = cell.step(&step(t, &below), &h, &c); h.clone() }).collect();
            cells.push(c);
        }
        for t in 0..time { assert_close(&y[t], &below[t], "Lstm step"); }
        assert_close(&state.c[0], &cells[0], "Lstm last cell of layer 0");
        assert_close(&state.c[1], &cells[1], "Lstm last cell of layer 1");

        let gru = GruConfig::new(features, hidden).with_num_layers(2).with_dtype(DType::F64).init(&mut rng(seed));
        let (y, _) = gru.forward_steps(&x, None);
        let mut below: Vec<Var> = vec![];
        for cell in &gru.cells {
            let mut h = Var::constant(Tensor::zeros(&[batch, hidden], DType::F64));
            below = (0..time).map(|t| { h = cell.step(&step(t, &below), &h); h.clone() }).collect();
        }
        for t in 0..time { assert_close(&y[t], &below[t], "Gru step"); }
    }

    /// The bidirectional output at step t is the forward layer's output at t next to the
    /// backward layer's output after reading the reversed sequence down to t.
    #[test]
    fn bidirectional_joins_both_directions(batch in 1usize..3, time in 1usize..6, features in 1usize..4,
                                           hidden in 1usize..4, seed in any::<u64>()) {
        let x = input(batch, time, features, seed);
        let config = GruConfig::new(features, hidden).with_dtype(DType::F64);
        let bi = BidirectionalConfig::new(config.clone()).init(&mut rng(seed));
        let y = bi.forward(&x);
        prop_assert_eq!(y.shape(), vec![batch, time, 2 * hidden]);
        let forward = bi.forward_layer.forward(&x);
        let reversed: Vec<usize> = (0..time).rev().collect();
        let backward = bi.backward_layer.forward(&x.index_select(1, &reversed));
        for t in 0..time {
            let yt = y.narrow(1, t, 1);
            assert_close(&yt.narrow(2, 0, hidden), &forward.narrow(1, t, 1), "forward half");
            assert_close(&yt.narrow(2, hidden, hidden), &backward.narrow(1, time - 1 - t, 1), "backward half");
        }

        // Last outputs only: each direction after reading the whole sequence.
        let last = Bidirectional::new(
            config.clone().with_return_sequences(false).init(&mut rng(1)),
            config.with_return_sequences(false).init(&mut rng(2)),
        );
        let (y, state) = last.forward_with_state(&x, None);
        prop_assert_eq!(y.shape(), vec![batch, 2 * hidden]);
        assert_close(&y.narrow(1, 0, hidden), &state.forward.h[0], "forward last");
        assert_close(&y.narrow(1, hidden, hidden), &state.backward.h[0], "backward last");
        let backward_alone = last.backward_layer.forward(&x.index_select(1, &reversed));
        assert_close(&y.narrow(1, hidden, hidden), &backward_alone, "backward last, alone");

        // The forward half never looks ahead: changing the last step leaves earlier steps alone.
        if time > 1 {
            let mut values = x.value().to_vec_f64();
            for b in 0..batch { for f in 0..features { values[(b * time + time - 1) * features + f] += 1.0; } }
            let changed = bi.forward(&v64(&values, &[batch, time, features]));
            let y = bi.forward(&x);
            assert_close(&changed.narrow(1, 0, time - 1).narrow(2, 0, hidden), &y.narrow(1, 0, time - 1).narrow(2, 0, hidden), "causal half");
        }
    }
}

/// A 1-unit cell whose parameters are set to the given values (gate blocks in PyTorch's order).
fn set(params: &[(&Var, &[f64])]) {
    for (p, values) in params {
        p.set_value(t64(values, p.shape()));
    }
}

#[test]
fn simple_rnn_cell_golden() {
    let cell = SimpleRnnCellConfig::new(1, 1).with_dtype(DType::F64).init(&mut rng(0));
    set(&[(&cell.weight_ih, &[0.5]), (&cell.weight_hh, &[-0.3]), (&cell.bias_ih, &[0.1]), (&cell.bias_hh, &[0.2])]);
    // x = 2, h = 0.4:  0.5·2 + 0.1 − 0.3·0.4 + 0.2 = 1.18.
    let h = cell.step(&v64(&[2.0], &[1, 1]), &v64(&[0.4], &[1, 1]));
    assert!(close(&h.value().to_vec_f64(), &[1.18f64.tanh()], 1e-15));

    // Over the sequence 2, −1, 0.5 from h = 0: the layer chains the steps.
    let layer = SimpleRnnConfig::new(1, 1).with_dtype(DType::F64).init(&mut rng(0));
    let c = &layer.cells[0];
    set(&[(&c.weight_ih, &[0.5]), (&c.weight_hh, &[-0.3]), (&c.bias_ih, &[0.1]), (&c.bias_hh, &[0.2])]);
    let h1 = (0.5f64 * 2.0 + 0.3).tanh(); // w_ih·x + b_ih + b_hh (h = 0)
    let h2 = (-0.5 + 0.3 - 0.3 * h1).tanh();
    let h3 = (0.5 * 0.5 + 0.3 - 0.3 * h2).tanh();
    let y = layer.forward(&v64(&[2.0, -1.0, 0.5], &[1, 3, 1]));
    assert!(close(&y.value().to_vec_f64(), &[h1, h2, h3], 1e-15), "{:?}", y.value().to_vec_f64());
}

#[test]
fn lstm_cell_golden() {
    let cell = LstmCellConfig::new(1, 1).with_dtype(DType::F64).init(&mut rng(0));
    set(&[
        (&cell.weight_ih, &[0.1, 0.2, 0.3, 0.4]), // i, f, g, o
        (&cell.weight_hh, &[0.5, -0.6, 0.7, -0.8]),
        (&cell.bias_ih, &[0.01, 0.02, 0.03, 0.04]),
        (&cell.bias_hh, &[0.05, 0.06, 0.07, 0.08]),
    ]);
    // x = 1.5, h = 0.2, c = −0.3. Pre-activations w_ih·x + b_ih + w_hh·h + b_hh:
    let i = sigmoid(0.15 + 0.01 + 0.10 + 0.05); // 0.31
    let f = sigmoid(0.30 + 0.02 - 0.12 + 0.06); // 0.26
    let g = (0.45f64 + 0.03 + 0.14 + 0.07).tanh(); // 0.69
    let o = sigmoid(0.60 + 0.04 - 0.16 + 0.08); // 0.56
    let c = f * -0.3 + i * g;
    let h = o * c.tanh();
    let (h1, c1) = cell.step(&v64(&[1.5], &[1, 1]), &v64(&[0.2], &[1, 1]), &v64(&[-0.3], &[1, 1]));
    assert!(close(&c1.value().to_vec_f64(), &[c], 1e-15), "c' = {:?}, expected {c}", c1.value().to_vec_f64());
    assert!(close(&h1.value().to_vec_f64(), &[h], 1e-15), "h' = {:?}, expected {h}", h1.value().to_vec_f64());
    // The figures: c' ≈ 0.17558, h' ≈ 0.11061.
    assert!((c - 0.17558).abs() < 1e-5 && (h - 0.11061).abs() < 1e-5, "{c} {h}");
}

#[test]
fn gru_cell_golden() {
    let cell = GruCellConfig::new(1, 1).with_dtype(DType::F64).init(&mut rng(0));
    set(&[
        (&cell.weight_ih, &[0.1, 0.2, 0.3]), // r, z, n
        (&cell.weight_hh, &[0.4, -0.5, 0.6]),
        (&cell.bias_ih, &[0.01, 0.02, 0.03]),
        (&cell.bias_hh, &[0.04, 0.05, 0.06]),
    ]);
    // x = 2, h = 0.5.
    let r = sigmoid(0.2 + 0.01 + 0.2 + 0.04); // 0.45
    let z = sigmoid(0.4 + 0.02 - 0.25 + 0.05); // 0.22
    let n = (0.6 + 0.03 + r * (0.3 + 0.06)).tanh(); // r gates h·w_hn + b_hn, after the product
    let h = (1.0 - z) * n + z * 0.5;
    let h1 = cell.step(&v64(&[2.0], &[1, 1]), &v64(&[0.5], &[1, 1]));
    assert!(close(&h1.value().to_vec_f64(), &[h], 1e-15), "h' = {:?}, expected {h}", h1.value().to_vec_f64());
    assert!((h - 0.58503).abs() < 1e-5, "{h}"); // h' ≈ 0.58503
}

#[test]
fn parameter_counts_and_names_match_pytorch() {
    let mut r = rng(0);
    // nn.RNN(10, 20), nn.LSTM(10, 20), nn.GRU(10, 20), then with num_layers=2.
    assert_eq!(SimpleRnnConfig::new(10, 20).init(&mut r).num_parameters(), 640);
    assert_eq!(LstmConfig::new(10, 20).init(&mut r).num_parameters(), 2560);
    assert_eq!(GruConfig::new(10, 20).init(&mut r).num_parameters(), 1920);
    assert_eq!(SimpleRnnConfig::new(10, 20).with_num_layers(2).init(&mut r).num_parameters(), 1480);
    assert_eq!(LstmConfig::new(10, 20).with_num_layers(2).init(&mut r).num_parameters(), 5920);
    assert_eq!(GruConfig::new(10, 20).with_num_layers(2).init(&mut r).num_parameters(), 4440);
    // nn.LSTM(10, 20, bidirectional=True); nn.LSTMCell(10, 20).
    assert_eq!(BidirectionalConfig::new(LstmConfig::new(10, 20)).init(&mut r).num_parameters(), 5120);
    assert_eq!(LstmCellConfig::new(10, 20).init(&mut r).num_parameters(), 2560);

    let lstm = LstmConfig::new(3, 4).with_num_layers(2).init(&mut r);
    let shapes: Vec<(String, Vec<usize>)> =
        lstm.named_parameters().into_iter().map(|(n, v)| (n, v.shape().to_vec())).collect();
    let expected = [
        ("weight_ih_l0", vec![16, 3]),
        ("weight_hh_l0", vec![16, 4]),
        ("bias_ih_l0", vec![16]),
        ("bias_hh_l0", vec![16]),
        ("weight_ih_l1", vec![16, 4]),
        ("weight_hh_l1", vec![16, 4]),
        ("bias_ih_l1", vec![16]),
        ("bias_hh_l1", vec![16]),
    ];
    assert_eq!(shapes, expected.map(|(n, s)| (n.to_string(), s)));
    let bi = BidirectionalConfig::new(GruConfig::new(3, 4)).init(&mut r);
    let names: Vec<String> = bi.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[0], "forward.weight_ih_l0");
    assert_eq!(names[4], "backward.weight_ih_l0");
}

#[test]
fn parameters_start_from_pytorch_uniform() {
    for hidden in [1usize, 4, 25] {
        let bound = 1.0 / (hidden as f64).sqrt();
        let lstm = LstmConfig::new(7, hidden).with_num_layers(2).init(&mut rng(hidden as u64));
        for (name, p) in lstm.named_parameters() {
            let values = p.value().to_vec_f64();
            assert!(values.iter().all(|v| v.abs() <= bound), "{name} leaves ±{bound}");
            let spread =
                values.iter().cloned().fold(f64::MIN, f64::max) - values.iter().cloned().fold(f64::MAX, f64::min);
            assert!(values.len() < 8 || spread > bound, "{name} is not spread over ±{bound}");
        }
    }
    // The initializer can be chosen.
    let gru = GruConfig::new(2, 3).with_init(Initializer::Constant(0.25)).init(&mut rng(0));
    assert!(gru.parameters().iter().all(|p| p.value().to_vec_f64().iter().all(|&v| v == 0.25)));
}

#[test]
fn split_steps_takes_time_major_blocks_in_order() {
    let (batch, time) = (2, 7);
    let rows = Var::new(Tensor::arange(0.0, (batch * time * 3) as f64, 1.0, DType::F64).reshape(&[batch * time, 3]));
    let steps = split_steps(&rows, batch, time);
    assert_eq!(steps.len(), time);
    for (t, s) in steps.iter().enumerate() {
        let first = (t * batch * 3) as f64;
        assert_eq!(s.value().to_vec_f64(), (0..6).map(|i| first + i as f64).collect::<Vec<_>>());
    }
    // Every row receives its gradient exactly once.
    let weights: Vec<Var> = (0..time).map(|t| Var::scalar((t + 1) as f64, DType::F64)).collect();
    let loss = steps.iter().zip(&weights).map(|(s, w)| s.mul(w).sum()).reduce(|a, b| a.add(&b)).unwrap();
    let g = loss.backward().get(&rows).unwrap().to_vec_f64();
    assert!(g.iter().enumerate().all(|(i, &v)| v == (i / (batch * 3) + 1) as f64), "{g:?}");
}

#[test]
fn dropout_between_layers() {
    let x = input(4, 5, 3, 9).value().to_dtype(DType::F32);
    let x = Var::constant(x);
    let plain = LstmConfig::new(3, 6).with_num_layers(2).init(&mut rng(5));
    let mut dropped = LstmConfig::new(3, 6).with_num_layers(2).with_dropout(0.5).init(&mut rng(5));
    // The weights are drawn before the dropout seed, so they are the same.
    assert_eq!(plain.num_parameters(), dropped.num_parameters());
    let (a, b) = (plain.forward(&x).value().to_vec_f32(), dropped.forward(&x).value().to_vec_f32());
    assert_ne!(a, b, "dropout in training changes the outputs");
    assert!(dropped.named_tensors().iter().any(|(n, _, k)| n == "dropout.calls" && *k == TensorKind::State));
    dropped.eval();
    assert_eq!(a, dropped.forward(&x).value().to_vec_f32(), "evaluation mode is the plain network");
    // One layer has nothing to drop between.
    let single = SimpleRnnConfig::new(3, 6).with_dropout(0.5).init(&mut rng(5));
    assert_eq!(single.named_tensors().len(), 4);
}

#[test]
fn summary_lists_parameters_and_flops() {
    let model = Sequential::new()
        .add(LstmConfig::new(8, 16).with_return_sequences(false).init(&mut rng(0)))
        .add(LinearConfig::new(16, 2).init(&mut rng(1)));
    let s = summary(&model, &[1, 10, 8]);
    assert_eq!(s.rows[0].output_shape, vec![1, 16]);
    assert_eq!(s.trainable, pytorch_count(4, 8, 16, 1) + 16 * 2 + 2);
    assert_eq!(s.rows[0].flops, 2 * 10 * 4 * 16 * (8 + 16));
}

/// An LSTM learns whether a sequence's sum is positive — information spread over every step —
/// with plain gradient descent.
#[test]
fn lstm_learns_the_sign_of_a_sum() {
    let (n, time) = (128, 6);
    let data = |r: &mut Rng| {
        let x = init::uniform(&[n, time, 1], -1.0, 1.0, DType::F32, r);
        let sums = x.sum_axes(&[1, 2], false).to_vec_f64();
        let y: Vec<f64> = sums.iter().map(|&s| if s > 0.0 { 1.0 } else { 0.0 }).collect();
        (Var::constant(x), Var::constant(Tensor::from_f64s(&y, &[n, 1], DType::F32)))
    };
    let mut r = rng(0);
    let (x, y) = data(&mut r);
    let (x_test, y_test) = data(&mut r);
    let model = Sequential::new()
        .add(LstmConfig::new(1, 8).with_return_sequences(false).init(&mut r))
        .add(LinearConfig::new(8, 1).init(&mut r));
    let accuracy = |x: &Var, y: &Var| {
        let logits = model.forward(x).value().to_vec_f64();
        let labels = y.value().to_vec_f64();
        logits.iter().zip(&labels).filter(|(z, t)| (**z > 0.0) == (**t > 0.5)).count() as f64 / labels.len() as f64
    };
    let first = binary_cross_entropy_with_logits(&model.forward(&x), &y).item();
    let params = model.parameters();
    for _ in 0..300 {
        let grads = binary_cross_entropy_with_logits(&model.forward(&x), &y).backward();
        for p in &params {
            p.set_value(p.value().sub(&grads.get(p).unwrap().mul_scalar(1.0)));
        }
    }
    let last = binary_cross_entropy_with_logits(&model.forward(&x), &y).item();
    let (train, test) = (accuracy(&x, &y), accuracy(&x_test, &y_test));
    assert!(last < 0.5 * first && train >= 0.95 && test >= 0.9, "loss {first} → {last}, accuracy {train} / {test}");
}

#[test]
#[should_panic(expected = "Lstm: expected input [batch, time, 3] but received [2, 5, 4]")]
fn wrong_features_are_named() {
    LstmConfig::new(3, 4).init(&mut rng(0)).forward(&Var::constant(Tensor::zeros(&[2, 5, 4], DType::F32)));
}

#[test]
#[should_panic(expected = "Gru: expected input [batch, time, 3] but received [5, 3]")]
fn a_matrix_is_not_a_sequence() {
    GruConfig::new(3, 4).init(&mut rng(0)).forward(&Var::constant(Tensor::zeros(&[5, 3], DType::F32)));
}

#[test]
#[should_panic(expected = "Lstm: expected initial `c[1]` of shape [2, 4] ([batch, hidden]) but received [2, 5]")]
fn wrong_state_shapes_are_named() {
    let lstm = LstmConfig::new(3, 4).with_num_layers(2).init(&mut rng(0));
    let mut state = LstmState::zeros(2, 2, 4, DType::F32);
    state.c[1] = Var::constant(Tensor::zeros(&[2, 5], DType::F32));
    lstm.forward_with_state(&Var::constant(Tensor::zeros(&[2, 5, 3], DType::F32)), Some(&state));
}

#[test]
#[should_panic(expected = "SimpleRnn: the initial state has 1 `h` tensors but the layer has 2 layers")]
fn wrong_state_layers_are_named() {
    let rnn = SimpleRnnConfig::new(3, 4).with_num_layers(2).init(&mut rng(0));
    let state = RnnState::zeros(1, 2, 4, DType::F32);
    rnn.forward_with_state(&Var::constant(Tensor::zeros(&[2, 5, 3], DType::F32)), Some(&state));
}

#[test]
#[should_panic(
    expected = "LstmCell: expected a state of shape [2, 4] ([batch, hidden]) for input [2, 3] but received [1, 4]"
)]
fn cell_states_are_checked() {
    let cell = LstmCellConfig::new(3, 4).init(&mut rng(0));
    let zeros = |shape: &[usize]| Var::constant(Tensor::zeros(shape, DType::F32));
    cell.step(&zeros(&[2, 3]), &zeros(&[2, 4]), &zeros(&[1, 4]));
}
