//! Behaviour beyond the fixtures: KV-cache decoding, hard attention
//! learning, mask semantics, position embeddings, errors.

use nn_attention::{
    hard_attention, key_value_attention, BilinearScoreConfig, DecoderLayerCache, DecoderMasks,
    HardChoice, LearnedPositionEmbeddingConfig, Mask, Module, MultiHeadAttentionConfig,
    Seq2SeqTransformerConfig, TransformerConfig, TransformerDecoderLayerConfig,
};
use nn_autograd::Var;
use nn_tensor::{Rng, Tensor};

#[test]
fn decoder_step_with_kv_cache_equals_full_causal_forward() {
    for norm_first in [false, true] {
        let mut rng = Rng::seed_from(21);
        let layer = TransformerDecoderLayerConfig::new(6, 3)
            .with_dim_feedforward(10)
            .with_dropout(0.0)
            .with_norm_first(norm_first)
            .init::<f64>(&mut rng)
            .unwrap();
        let (n, t, s) = (2, 5, 4);
        let tgt = Tensor::<f64>::rand_normal(&[n, t, 6], 0.0, 1.0, &mut rng);
        let memory = Var::constant(Tensor::rand_normal(&[n, s, 6], 0.0, 1.0, &mut rng));
        let mpad = Mask::padding(&[4, 2], s);
        let causal = Mask::causal(t);
        let masks = DecoderMasks {
            tgt_mask: Some(&causal),
            memory_key_padding_mask: Some(&mpad),
            ..Default::default()
        };
        let full = layer.forward(&tgt, &memory, masks);
        let mut cache = DecoderLayerCache::default();
        for i in 0..t {
            let new = Var::constant(tgt.narrow(1, i, 1));
            let y = layer
                .try_forward_step(&new, &memory, Some(&mpad), &mut cache)
                .unwrap();
            let want = full.value().narrow(1, i, 1);
            assert!(
                y.value().max_abs_diff(&want) < 1e-12,
                "norm_first={norm_first}, step {i}"
            );
            assert_eq!(cache.self_kv.as_ref().unwrap().len(), i + 1);
        }
    }
}

#[test]
fn greedy_decoding_with_cache_matches_recomputing_the_prefix() {
    let mut rng = Rng::seed_from(4);
    let cfg = TransformerConfig::new(8, 2)
        .with_num_encoder_layers(2)
        .with_num_decoder_layers(2)
        .with_dim_feedforward(16)
        .with_dropout(0.0);
    let model = Seq2SeqTransformerConfig::new(cfg, 7, 7)
        .with_max_len(16)
        .init::<f64>(&mut rng)
        .unwrap();
    model.eval();
    let (n, bos, steps) = (3, 0, 6);
    let src: Vec<usize> = (0..n * 5).map(|i| 1 + (i * 3) % 6).collect();
    let fast = model.greedy_decode(&src, n, bos, steps).unwrap();
    // Naive: re-run the whole decoder on the growing prefix each step.
    let mut prefix: Vec<Vec<usize>> = vec![vec![bos]; n];
    for _ in 0..steps {
        let flat: Vec<usize> = prefix.concat();
        let logits = model.try_forward(&src, &flat, n, None).unwrap();
        let (l, v) = (logits.shape()[1], logits.shape()[2]);
        let last = logits.value().narrow(1, l - 1, 1).reshape([n, v]).argmax(1);
        for (p, tok) in prefix.iter_mut().zip(last) {
            p.push(tok);
        }
    }
    let slow: Vec<usize> = prefix.iter().flat_map(|p| p[1..].to_vec()).collect();
    assert_eq!(fast, slow);
    assert!(model
        .named_parameters()
        .iter()
        .any(|(k, _)| k == "transformer.decoder.layers.1.multihead_attn.in_proj_weight"));
}

/// Each example has 4 random keys, the query is a noisy copy of one of
/// them, and the target is that key's value. Hard (argmax) attention with
/// bilinear scores trained straight-through must learn to pick the right key.
#[test]
fn hard_attention_learns_with_the_straight_through_estimator() {
    let mut rng = Rng::seed_from(7);
    let (n, s, d) = (64, 4, 6);
    let score = BilinearScoreConfig::new(d, d)
        .init::<f64>(&mut rng)
        .unwrap();
    let batch = |rng: &mut Rng| {
        let keys = Tensor::<f64>::rand_normal(&[n, s, d], 0.0, 1.0, rng);
        let values = Tensor::<f64>::rand_normal(&[n, s, 2], 0.0, 1.0, rng);
        let pick: Vec<usize> = (0..n).map(|_| rng.below(s)).collect();
        let mut q = Vec::with_capacity(n * d);
        let mut target = Vec::with_capacity(n * 2);
        for (b, &j) in pick.iter().enumerate() {
            for f in 0..d {
                q.push(keys.get(&[b, j, f]) + 0.2 * rng.normal_f64());
            }
            target.extend([values.get(&[b, j, 0]), values.get(&[b, j, 1])]);
        }
        (
            Tensor::from_vec(q, &[n, 1, d]),
            keys,
            values,
            Tensor::from_vec(target, &[n, 2]),
            pick,
        )
    };
    let accuracy = |rng: &mut Rng| {
        let (q, k, v, _, pick) = batch(rng);
        let sc = score
            .scores(&Var::constant(q), &Var::constant(k))
            .unwrap()
            .reshape([n, s]);
        let h = hard_attention(&sc, &Var::constant(v), None, HardChoice::Argmax, rng).unwrap();
        h.index.iter().zip(&pick).filter(|(a, b)| a == b).count() as f64 / n as f64
    };
    // Start from a scoring matrix that prefers the wrong keys.
    score.weight.set_value(Tensor::eye(d).mul_scalar(-0.5));
    let before = accuracy(&mut rng);
    for _ in 0..400 {
        let (q, k, v, target, _) = batch(&mut rng);
        let sc = score
            .scores(&Var::constant(q), &Var::constant(k))
            .unwrap()
            .reshape([n, s]);
        let h = hard_attention(&sc, &Var::constant(v), None, HardChoice::Sample, &mut rng).unwrap();
        let loss = h.context.sub(&Var::constant(target)).square().mean();
        let g = loss
            .backward()
            .get_id(score.weight.id())
            .expect("straight-through gradient")
            .clone();
        score.weight.update(|w| *w = w.sub(&g.mul_scalar(2.0)));
    }
    let after = accuracy(&mut rng);
    eprintln!("hard attention: argmax accuracy {before} -> {after}");
    assert!(before < 0.3 && after > 0.9, "accuracy {before} -> {after}");
}

#[test]
fn mha_weights_are_distributions_that_respect_masks() {
    let mut rng = Rng::seed_from(1);
    let mha = MultiHeadAttentionConfig::new(8, 4)
        .init::<f64>(&mut rng)
        .unwrap();
    let q = Var::constant(Tensor::rand_normal(&[2, 3, 8], 0.0, 1.0, &mut rng));
    let kv = Var::constant(Tensor::rand_normal(&[2, 5, 8], 0.0, 1.0, &mut rng));
    let pad = Mask::padding(&[5, 2], 5);
    let am = Mask::new(3, 5, (0..15).map(|i| i % 5 == 0 && i > 0).collect());
    let (y, w) = mha.forward(&q, &kv, &kv, Some(&am), Some(&pad), true);
    let w = w.unwrap();
    assert_eq!((y.shape(), w.shape()), (&[2, 3, 8][..], &[2, 3, 5][..]));
    let sums = w.value().sum_dims(&[2], false);
    assert!(sums.max_abs_diff(&Tensor::ones(&[2, 3])) < 1e-12);
    for i in 0..3 {
        for j in 0..5 {
            if pad.get(1, j) {
                assert_eq!(w.value().get(&[1, i, j]), 0.0);
            }
            if am.get(i, j) {
                assert_eq!(w.value().get(&[0, i, j]), 0.0);
            }
        }
    }
    let bad = Var::constant(Tensor::zeros(&[2, 3, 7]));
    let e = mha
        .try_forward(&bad, &kv, &kv, None, None, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("MultiHeadAttention") && e.contains("[2, 3, 7]"),
        "{e}"
    );
    let e = mha
        .try_forward(&q, &kv, &kv, Some(&Mask::causal(3)), None, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("attn_mask"), "{e}");
}

#[test]
fn key_value_attention_looks_up_by_key_and_sums_values() {
    let keys = Var::constant(Tensor::<f64>::from_vec(
        vec![1.0, 0.0, 0.0, 1.0, -1.0, 0.0],
        &[1, 3, 2],
    ));
    let values = Var::constant(Tensor::from_vec(vec![10.0, 20.0, 30.0], &[1, 3, 1]));
    let q = Var::constant(Tensor::from_vec(vec![0.0, 50.0], &[1, 1, 2]));
    let (c, w) = key_value_attention(&q, &keys, &values, None).unwrap();
    assert!((c.value().item() - 20.0).abs() < 1e-9);
    assert!((w.value().get(&[0, 0, 1]) - 1.0).abs() < 1e-9);
}

#[test]
fn learned_positions_train_only_the_rows_used() {
    let mut rng = Rng::seed_from(2);
    let pos = LearnedPositionEmbeddingConfig::new(10, 4)
        .init::<f64>(&mut rng)
        .unwrap();
    let x = Var::constant(Tensor::zeros(&[2, 3, 4]));
    let y = pos.try_forward(&x, 5).unwrap();
    assert_eq!(
        y.value().narrow(0, 0, 1).reshape([3, 4]),
        pos.weight.value().narrow(0, 5, 3)
    );
    let g = y.sum().backward();
    let g = g.get_id(pos.weight.id()).unwrap();
    assert_eq!(g.narrow(0, 5, 3), Tensor::full(&[3, 4], 2.0));
    assert_eq!(g.narrow(0, 0, 5), Tensor::zeros(&[5, 4]));
    assert!(pos.try_forward(&x, 8).is_err());
}
