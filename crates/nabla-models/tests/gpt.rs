//! The GPT: conformance (gradients in f64, save/load, learning), the causal mask (a later
//! token never changes an earlier output, bit for bit), tied and untied heads, initialisation,
//! generation (deterministic, top-k only, greedy), and errors.

use nabla_autograd::gradcheck::strategies as st;
use nabla_autograd::Var;
use nabla_layers::conformance::Conformance;
use nabla_layers::{summary, CrossEntropyLoss, Loss, Module, ModuleExt, Target};
use nabla_models::{flatten_logits, next_token_loss, Gpt, GptConfig};
use nabla_tensor::{init, rng, DType, Tensor};
use proptest::prelude::*;

/// `[batch, t]` ids as the float tensor a model takes.
fn ids_tensor(ids: &[usize], batch: usize) -> Tensor {
    Tensor::from_vec(ids.iter().map(|&i| i as f32).collect(), &[batch, ids.len() / batch])
}

fn logits(model: &Gpt, ids: &[usize], batch: usize) -> Vec<f32> {
    model.forward(&Var::constant(ids_tensor(ids, batch))).value().to_vec_f32()
}

/// Parameters of a GPT with biases: embedding, positions, blocks, final LayerNorm (+ head).
fn expected_parameters(v: usize, context: usize, d: usize, layers: usize, tied: bool) -> usize {
    let block = (4 * d * d + 4 * d) + (2 * d * 4 * d + 4 * d + d) + 4 * d;
    v * d + context * d + layers * block + 2 * d + if tied { 0 } else { v * d }
}

fn names(model: &dyn Module) -> Vec<String> {
    model.named_parameters().into_iter().map(|(n, _)| n).collect()
}

proptest! {
    #![proptest_config(st::config(6))]

    #[test]
    fn gpt_conforms(
        batch in 1usize..3,
        vocab in 2usize..7,
        context in 2usize..5,
        heads in 1usize..3,
        head_dim in 1usize..3,
        layers in 1usize..3,
        tied in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let d = heads * head_dim;
        let t = context; // the longest input the model takes
        let ids: Vec<usize> = (0..batch * t).map(|i| (i * 5 + seed as usize % 7) % vocab).collect();
        let check = Conformance::new("Gpt", &[batch, t])
            .input(ids_tensor(&ids, batch))
            .without_input_gradient()
            .output_shape(&[batch, t, vocab])
            .parameters(expected_parameters(vocab, context, d, layers, tied))
            .seed(seed);
        check.check(|r| GptConfig::new(vocab, context, d, heads, layers).with_tied(tied).init(r));
    }

    /// The causal mask: changing token `j` leaves the logits of positions `0..j` bit-identical
    /// (and changes those at `j`), in every sequence of the batch; other sequences do not move.
    #[test]
    fn a_later_token_never_changes_an_earlier_output(
        t in 2usize..12,
        changed in 0usize..12,
        layers in 1usize..4,
        tied in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let (vocab, context, d) = (13, 12, 16);
        let j = changed % t;
        let model = GptConfig::new(vocab, context, d, 4, layers).with_tied(tied).init(&mut rng(seed));
        let ids: Vec<usize> = (0..2 * t).map(|i| (i * 7 + seed as usize) % vocab).collect();
        let mut other = ids.clone();
        other[j] = (other[j] + 1 + seed as usize % (vocab - 1)) % vocab; // a different id
        let (before, after) = (logits(&model, &ids, 2), logits(&model, &other, 2));
        let row = vocab; // one position's logits
        prop_assert_eq!(&before[..j * row], &after[..j * row], "positions before {} changed", j);
        prop_assert_ne!(&before[j * row..(j + 1) * row], &after[j * row..(j + 1) * row]);
        prop_assert_eq!(&before[t * row..], &after[t * row..], "the second sequence changed");
    }
}

#[test]
fn dropout_and_untied_head_without_biases_conform_in_evaluation_mode() {
    let ids = ids_tensor(&[0, 3, 1, 2, 2, 4], 2);
    let d = 8;
    let block = 4 * d * d + 2 * d * 4 * d + 4 * d;
    Conformance::new("Gpt", &[2, 3])
        .input(ids)
        .without_input_gradient()
        .output_shape(&[2, 3, 5])
        .parameters(5 * d + 4 * d + 2 * block + 2 * d + 5 * d)
        .in_eval_mode()
        .check(|r| {
            GptConfig::new(5, 4, d, 2, 2)
                .with_tied(false)
                .with_bias(false)
                .with_dropout(0.2)
                .with_attention_dropout(0.1)
                .init(r)
        });
}

#[test]
fn a_tied_head_shares_the_embedding_matrix_and_counts_it_once() {
    let config = GptConfig::new(65, 128, 128, 4, 2);
    let tied = config.init(&mut rng(0));
    let untied = config.clone().with_tied(false).init(&mut rng(0));
    assert!(tied.is_tied() && !untied.is_tied());
    assert_eq!(tied.num_parameters(), expected_parameters(65, 128, 128, 2, true));
    assert_eq!(untied.num_parameters() - tied.num_parameters(), 65 * 128);
    // W5's shape: 65 tokens, d 128, 2 blocks, context 128.
    assert_eq!(tied.num_parameters(), 421_504);

    let tied_names = names(&tied);
    let untied_names = names(&untied);
    assert_eq!(tied_names[..3], ["token_embedding.weight", "position_embedding.weight", "blocks.0.ln1.weight"]);
    assert!(tied_names.contains(&"blocks.1.attn.query.weight".to_string()));
    assert!(tied_names.contains(&"blocks.0.mlp.fc2.bias".to_string()));
    assert_eq!(tied_names[tied_names.len() - 2..], ["ln_f.weight", "ln_f.bias"]);
    assert_eq!(untied_names.last().unwrap(), "lm_head.weight");
    assert_eq!(untied_names.len(), tied_names.len() + 1);
    let mut unique = tied_names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), tied_names.len(), "a parameter is visited twice");

    // The head reads the embedding's own Var: changing the embedding changes the head.
    assert_eq!(tied.lm_head.weight().id(), tied.token_embedding.weight.id());
    let x = Var::constant(ids_tensor(&[1, 2, 3], 1));
    let before = tied.forward(&x).value().to_vec_f32();
    let w = &tied.token_embedding.weight;
    w.set_value(w.value().mul_scalar(2.0));
    assert_ne!(tied.forward(&x).value().to_vec_f32(), before);

    // The gradient of the shared matrix sums both uses: embedding rows and head rows.
    let small = GptConfig::new(6, 4, 8, 2, 1).with_dtype(DType::F64).init(&mut rng(3));
    let grads = next_token_loss(&small.forward(&Var::constant(ids_tensor(&[0, 1, 0, 1], 1))), &[1, 0, 1, 0]).backward();
    let g = grads.get(&small.token_embedding.weight).unwrap().to_vec_f64();
    // Ids 2..6 are never read, yet their rows get a gradient from the head (softmax mass).
    assert!(g[2 * 8..3 * 8].iter().any(|&v| v != 0.0));
}

#[test]
fn residual_projections_start_scaled_by_one_over_root_2n() {
    let layers = 3;
    let scaled = GptConfig::new(20, 8, 16, 2, layers).init(&mut rng(5));
    let plain = GptConfig::new(20, 8, 16, 2, layers).with_scaled_residual_init(false).init(&mut rng(5));
    let factor = 1.0 / (2.0 * layers as f64).sqrt();
    let (a, b) = (scaled.named_parameters(), plain.named_parameters());
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        let (x, y) = (x.value().to_vec_f64(), y.value().to_vec_f64());
        let residual = name.ends_with("attn.out.weight") || name.ends_with("mlp.fc2.weight");
        for (p, q) in x.iter().zip(&y) {
            let expected = if residual { q * factor } else { *q };
            assert!((p - expected).abs() <= 1e-6 * q.abs().max(1e-6), "{name}: {p} vs {expected}");
        }
    }
    // N(0, 0.02²) everywhere else: the embedding's spread is near 0.02.
    let e = plain.token_embedding.weight.value().to_vec_f64();
    let std = (e.iter().map(|v| v * v).sum::<f64>() / e.len() as f64).sqrt();
    assert!((0.017..0.023).contains(&std), "embedding std {std}");
}

#[test]
fn flattened_logits_feed_cross_entropy() {
    let model = GptConfig::new(7, 5, 8, 2, 1).init(&mut rng(1));
    let ids = ids_tensor(&[1, 2, 3, 4, 5, 6, 0, 1], 2);
    let targets = vec![2, 3, 4, 5, 6, 0, 1, 2];
    let logits = model.forward(&Var::constant(ids));
    let flat = flatten_logits(&logits);
    assert_eq!(flat.shape(), vec![8, 7]);
    // Row b·t + i holds position i of sequence b.
    assert_eq!(flat.value().to_vec_f32()[5 * 7..6 * 7], logits.value().to_vec_f32()[5 * 7..6 * 7]);
    let by_layer = CrossEntropyLoss::default().loss(&flat, &Target::Classes(targets.clone())).item();
    assert_eq!(next_token_loss(&logits, &targets).item(), by_layer);
    // At initialisation every token is about equally likely: the loss is near ln V.
    assert!((by_layer - 7f64.ln()).abs() < 0.1, "initial loss {by_layer}");
}

#[test]
fn generation_is_seeded_and_greedy_at_temperature_zero() {
    let model = GptConfig::new(12, 6, 16, 4, 2).with_init_std(0.5).init(&mut rng(2));
    let prompt = [3, 1, 4];
    let a = model.generate(&prompt, 30, 1.5, None, &mut rng(7));
    assert_eq!(a.len(), 30);
    assert!(a.iter().all(|&id| id < 12));
    assert_eq!(model.generate(&prompt, 30, 1.5, None, &mut rng(7)), a, "the same seed gives the same text");
    assert_ne!(model.generate(&prompt, 30, 1.5, None, &mut rng(8)), a, "another seed gives other text");

    // Greedy: the argmax of the last position, context cropped to the last 6 tokens.
    let greedy = model.generate(&prompt, 10, 0.0, None, &mut rng(0));
    let mut ids = prompt.to_vec();
    for _ in 0..10 {
        let window = &ids[ids.len().saturating_sub(6)..];
        let l = logits(&model, window, 1);
        let last = &l[(window.len() - 1) * 12..];
        let best = (0..12).fold(0, |b, i| if last[i] > last[b] { i } else { b });
        ids.push(best);
    }
    assert_eq!(greedy, ids[3..]);
    assert_eq!(model.generate(&prompt, 10, 1.0, Some(1), &mut rng(9)), greedy, "top-1 is greedy");
    assert!(model.generate(&prompt, 0, 1.0, None, &mut rng(0)).is_empty());
}

#[test]
fn only_the_top_k_tokens_are_ever_sampled() {
    let (vocab, context, k) = (10, 5, 3);
    let model = GptConfig::new(vocab, context, 8, 2, 1).with_init_std(0.5).init(&mut rng(4));
    let prompt = [0, 9];
    let generated = model.generate(&prompt, 60, 3.0, Some(k), &mut rng(11));
    let mut ids = prompt.to_vec();
    let mut distinct = std::collections::BTreeSet::new();
    for &next in &generated {
        let window = &ids[ids.len().saturating_sub(context)..];
        let l = logits(&model, window, 1);
        let mut last: Vec<(f32, usize)> = l[(window.len() - 1) * vocab..].iter().copied().zip(0..).collect();
        last.sort_by(|a, b| b.0.total_cmp(&a.0));
        let allowed: Vec<usize> = last[..k].iter().map(|&(_, i)| i).collect();
        assert!(allowed.contains(&next), "sampled {next}, outside the top {k} {allowed:?}");
        distinct.insert(next);
        ids.push(next);
    }
    assert!(distinct.len() > 1, "a high temperature should not always pick the same token");
}

#[test]
fn tokens_older_than_the_context_do_not_matter() {
    let model = GptConfig::new(9, 4, 8, 2, 2).with_init_std(0.3).init(&mut rng(6));
    // The prompts differ only before their last 4 tokens: the same draws follow.
    let a = model.generate(&[1, 2, 3, 4, 5, 6], 12, 1.0, None, &mut rng(0));
    let b = model.generate(&[8, 7, 3, 4, 5, 6], 12, 1.0, None, &mut rng(0));
    assert_eq!(a, b);
    // Within the context, tokens do matter.
    let last = |ids: &[usize]| model.logits_of(ids).value().to_vec_f32()[(ids.len() - 1) * 9..].to_vec();
    assert_ne!(last(&[3, 4, 5, 6]), last(&[7, 4, 5, 6]));
}

#[test]
fn a_small_gpt_learns_a_periodic_text() {
    // 0 1 2 3 0 1 2 3 …: the next token is always the current one plus 1 (mod 4). A few
    // Adam steps suffice, and greedy generation then continues the pattern.
    let model = GptConfig::new(4, 8, 16, 2, 1).init(&mut rng(0));
    let inputs: Vec<usize> = (0..4).flat_map(|s| (0..8).map(move |i| (s + i) % 4)).collect();
    let targets: Vec<usize> = inputs.iter().map(|&i| (i + 1) % 4).collect();
    let x = Var::constant(ids_tensor(&inputs, 4));
    let params = model.parameters();
    let first = next_token_loss(&model.forward(&x), &targets).item();
    // Adam, written out: m and v are running means of g and g².
    let zeros = || params.iter().map(|p| p.value().zeros_like()).collect::<Vec<_>>();
    let (mut m, mut v) = (zeros(), zeros());
    for step in 1..=60 {
        let grads = next_token_loss(&model.forward(&x), &targets).backward();
        for (i, p) in params.iter().enumerate() {
            let Some(g) = grads.get(p) else { continue };
            m[i] = m[i].mul_scalar(0.9).add(&g.mul_scalar(0.1));
            v[i] = v[i].mul_scalar(0.999).add(&g.square().mul_scalar(0.001));
            let m_hat = m[i].mul_scalar(1.0 / (1.0 - 0.9f64.powi(step)));
            let v_hat = v[i].mul_scalar(1.0 / (1.0 - 0.999f64.powi(step)));
            p.set_value(p.value().sub(&m_hat.div(&v_hat.sqrt().add_scalar(1e-8)).mul_scalar(0.01)));
        }
    }
    let last = next_token_loss(&model.forward(&x), &targets).item();
    assert!(last < 0.1 * first, "loss {first} → {last}");
    assert_eq!(model.generate(&[2, 3], 6, 0.0, None, &mut rng(0)), [0, 1, 2, 3, 0, 1]);
}

#[test]
fn the_summary_lists_every_block() {
    let model = GptConfig::new(30, 16, 32, 4, 3).init(&mut rng(0));
    let table = summary(&model, &[2, 16]);
    let rows: Vec<&str> = table.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        rows,
        ["token_embedding", "position_embedding", "dropout", "blocks.0", "blocks.1", "blocks.2", "ln_f", "lm_head"]
    );
    assert_eq!(table.rows.last().unwrap().output_shape, vec![2, 16, 30]);
    assert_eq!(table.rows.iter().map(|r| r.trainable).sum::<usize>(), model.num_parameters());
}

#[test]
#[should_panic(expected = "Gpt: the input [1, 9] has t = 9 positions but the context is 8")]
fn a_sequence_longer_than_the_context_is_refused() {
    let model = GptConfig::new(5, 8, 8, 2, 1).init(&mut rng(0));
    model.forward(&Var::constant(Tensor::zeros(&[1, 9], DType::F32)));
}

#[test]
#[should_panic(expected = "Embedding: id 5 at position [0, 1] is not a whole number in 0..5")]
fn an_id_outside_the_vocabulary_is_refused() {
    let model = GptConfig::new(5, 8, 8, 2, 1).init(&mut rng(0));
    model.forward(&Var::constant(ids_tensor(&[1, 5], 1)));
}

#[test]
#[should_panic(expected = "Gpt::generate: temperature -1 must be finite and ≥ 0")]
fn a_negative_temperature_is_refused() {
    let model = GptConfig::new(5, 8, 8, 2, 1).init(&mut rng(0));
    model.generate(&[1], 3, -1.0, None, &mut rng(0));
}

#[test]
fn random_ids_in_f64_models_work_too() {
    let model = GptConfig::new(6, 4, 8, 2, 1).with_dtype(DType::F64).init(&mut rng(0));
    let ids = init::uniform(&[3, 4], 0.0, 6.0, DType::F64, &mut rng(1)).to_vec_f64();
    let ids: Vec<usize> = ids.iter().map(|v| v.floor() as usize).collect();
    let y = model.forward(&Var::constant(ids_tensor(&ids, 3).to_dtype(DType::F64)));
    assert_eq!(y.dtype(), DType::F64);
    assert_eq!(model.generate(&ids[..4], 3, 0.7, Some(2), &mut rng(0)).len(), 3);
}

#[test]
#[should_panic(expected = "GptConfig: d_model 10 must be a positive multiple of num_heads 4")]
fn heads_must_divide_the_width() {
    GptConfig::new(5, 8, 10, 4, 1).init(&mut rng(0));
}
