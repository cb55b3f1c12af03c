//! An encoder-decoder Transformer learns to reverse sequences of digits of
//! varying length (2 to 10 digits), then decodes held-out sequences greedily
//! on its KV cache and saves a heat map of one example's cross-attention.
//!
//! `cargo run --release -p nnkit --example seq2seq_reverse -- [--seed N] [--out DIR] [--steps N]`
//!
//! Tokens: digits 0–9, then BOS and EOS. Every mini-batch holds sequences of
//! one length, so no padding (and no padding mask) is needed; the decoder
//! must still learn where each sequence ends, by emitting EOS. A decoded
//! sequence counts as correct only if every digit and the EOS are right.
//!
//! The last line on stdout is one JSON object with `exact_sequence_accuracy`.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use nnkit::attention::{Mask, Seq2SeqTransformer, Seq2SeqTransformerConfig, TransformerConfig};
use nnkit::optim::{clip_grad_norm, AdamConfig};
use nnkit::prelude::*;
use nnkit::train::{figures, Progress};
use serde_json::json;

const BOS: usize = 10;
const EOS: usize = 11;
const VOCAB: usize = 12;
const MIN_LEN: usize = 2;
const MAX_LEN: usize = 10;

/// A random digit sequence of length `len`.
fn digits(len: usize, rng: &mut Rng) -> Vec<usize> {
    (0..len).map(|_| rng.below(10)).collect()
}

/// `n` distinct held-out sequences of every length in `MIN_LEN..=MAX_LEN`
/// (fewer where fewer exist: length 2 has only 100).
fn held_out(n: usize, rng: &mut Rng) -> Vec<Vec<Vec<usize>>> {
    (MIN_LEN..=MAX_LEN)
        .map(|len| {
            // A fifth of the short lengths at most, so training still sees most of them.
            let cap = (10usize.pow(len.min(9) as u32) / 5).min(n);
            let mut seen = HashSet::new();
            while seen.len() < cap {
                seen.insert(digits(len, rng));
            }
            let mut v: Vec<_> = seen.into_iter().collect();
            v.sort();
            v
        })
        .collect()
}

/// The embedded target prefix `[N, T, E]` at positions `0..T`, as the model
/// embeds it (√E scaling plus sinusoidal positions).
fn embed_target(model: &Seq2SeqTransformer<f32>, tokens: &[usize], n: usize) -> Var<f32> {
    let e = model.tgt_embed.shape()[1];
    let x = model
        .tgt_embed
        .var()
        .index_select(0, tokens)
        .reshape([n, tokens.len() / n, e])
        .mul_scalar((e as f32).sqrt());
    model.positions.try_forward(&x, 0).expect("positions")
}

/// The head-averaged cross-attention weights `[T, S]` of the last decoder
/// layer for one example, recomputed teacher-forced on the decoded prefix.
fn cross_attention(
    model: &Seq2SeqTransformer<f32>,
    src: &[usize],
    tgt_in: &[usize],
) -> Tensor<f32> {
    no_grad(|| {
        let memory = model.encode(src, 1, None).expect("encode");
        let dec = &model.transformer.decoder;
        let causal = Mask::causal(tgt_in.len());
        let masks = nnkit::attention::DecoderMasks {
            tgt_mask: Some(&causal),
            ..Default::default()
        };
        let mut x = embed_target(model, tgt_in, 1);
        let (last, earlier) = dec.layers.split_last().expect("at least one layer");
        for l in earlier {
            x = l.forward(&x, &memory, masks);
        }
        // Post-norm layer: x1 = norm1(x + self_attn(x)), then cross-attention
        // queries come from x1.
        let (sa, _) = last
            .self_attn
            .forward(&x, &x, &x, Some(&causal), None, false);
        let x1 = last.norm1.forward(x.add(&sa));
        let (_, w) = last
            .multihead_attn
            .forward(&x1, &memory, &memory, None, None, true);
        let w = w.expect("weights requested").value().clone();
        let (t, s) = (w.shape()[1], w.shape()[2]);
        w.reshape([t, s])
    })
}

fn main() {
    let args = common::Args::parse("seq2seq_reverse", &["out", "steps"]);
    let seed = args.seed();
    let out = PathBuf::from(args.text("out").unwrap_or("target/seq2seq_reverse"));
    let steps: usize = args.get("steps", 3000);
    std::fs::create_dir_all(&out).expect("create --out directory");
    let start = Instant::now();

    let mut rng = Rng::seed_from(seed);
    let test = held_out(100, &mut rng);
    let test_set: HashSet<Vec<usize>> = test.iter().flatten().cloned().collect();

    // Small enough to train in a couple of minutes on one core, large enough
    // that attention, not memorisation, does the work.
    let config = TransformerConfig::new(64, 4)
        .with_num_encoder_layers(2)
        .with_num_decoder_layers(2)
        .with_dim_feedforward(128)
        .with_dropout(0.0);
    let model = Seq2SeqTransformerConfig::new(config, VOCAB, VOCAB)
        .with_max_len(MAX_LEN + 2)
        .init::<f32>(&mut rng)
        .expect("valid model sizes");
    // The model scales embeddings by √E; drawn from N(0, 1) they would then
    // drown the ±1 sinusoidal positions, and reversal is all about position.
    // Draw them from N(0, 1/E) instead, as Vaswani et al. do.
    let shrink = 1.0 / (config.options.d_model as f32).sqrt();
    for table in [&model.src_embed, &model.tgt_embed] {
        table.update(|v| *v = v.mul_scalar(shrink));
    }
    let params = model.named_parameters();
    let base_lr = 1e-3;
    let mut opt = AdamConfig::new(base_lr)
        .with_betas(0.9, 0.98)
        .init(params.clone())
        .expect("Adam");
    let warmup = 100;
    let batch = 64;

    let mut progress = Progress::new("train", steps as u64);
    let mut running = 0.0f64;
    for step in 0..steps {
        // Linear warm-up, then cosine decay to a tenth.
        let lr = if step < warmup {
            base_lr * (step + 1) as f64 / warmup as f64
        } else {
            let t = (step - warmup) as f64 / (steps - warmup).max(1) as f64;
            base_lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
        };
        opt.set_lr(lr);
        let len = MIN_LEN + rng.below(MAX_LEN - MIN_LEN + 1);
        let (mut src, mut tgt_in, mut tgt_out) = (Vec::new(), Vec::new(), Vec::new());
        let mut rows = 0;
        while rows < batch {
            let s = digits(len, &mut rng);
            if test_set.contains(&s) {
                continue; // held out: never trained on
            }
            let rev: Vec<usize> = s.iter().rev().copied().collect();
            tgt_in.push(BOS);
            tgt_in.extend(&rev);
            tgt_out.extend(&rev);
            tgt_out.push(EOS);
            src.extend(s);
            rows += 1;
        }
        model.set_training(true);
        let logits = model
            .try_forward(&src, &tgt_in, batch, None)
            .expect("forward");
        let loss = logits
            .reshape([batch * (len + 1), VOCAB])
            .cross_entropy(&tgt_out);
        let mut grads = loss.backward();
        clip_grad_norm(&mut grads, params.iter().map(|(_, p)| p), 1.0).expect("clip");
        opt.step(&grads);
        let l = f64::from(loss.value().to_vec()[0]);
        running = if step == 0 {
            l
        } else {
            0.95 * running + 0.05 * l
        };
        progress.advance(1, &format!("loss {running:.4} lr {lr:.1e}"));
        if (step + 1) % 250 == 0 {
            eprintln!("step {:>5}  loss {running:.4}", step + 1);
        }
    }
    progress.finish(&format!("loss {running:.4}"));

    // Greedy decoding on the KV cache, one batch per length.
    model.set_training(false);
    let (mut correct, mut total) = (0usize, 0usize);
    let mut per_length = serde_json::Map::new();
    for seqs in &test {
        let len = seqs[0].len();
        let src: Vec<usize> = seqs.concat();
        let decoded = model
            .greedy_decode(&src, seqs.len(), BOS, len + 1)
            .expect("decode");
        let ok = seqs
            .iter()
            .zip(decoded.chunks(len + 1))
            .filter(|(s, d)| d[..len].iter().eq(s.iter().rev()) && d[len] == EOS)
            .count();
        per_length.insert(len.to_string(), json!(ok as f64 / seqs.len() as f64));
        correct += ok;
        total += seqs.len();
    }
    let accuracy = correct as f64 / total as f64;
    eprintln!("held-out exact-sequence accuracy {accuracy:.4} ({correct}/{total})");

    // One example's cross-attention: decoding position i (which emits digit
    // len-1-i) should look at source position len-1-i: the anti-diagonal.
    let example = test.last().expect("lengths")[0].clone();
    let len = example.len();
    let decoded = model
        .greedy_decode(&example, 1, BOS, len + 1)
        .expect("decode");
    let mut tgt_in = vec![BOS];
    tgt_in.extend(&decoded[..len]);
    let weights = cross_attention(&model, &example, &tgt_in);
    let heatmap = out.join("cross_attention.png");
    figures::save_heatmap(&heatmap, &weights, 24).expect("save heat map");
    let anti: f32 = (0..len)
        .map(|i| weights.get(&[i, len - 1 - i]))
        .sum::<f32>()
        / len as f32;
    eprintln!(
        "source {example:?} → decoded {:?}; mean anti-diagonal weight {anti:.3}; heat map {}",
        &decoded[..len],
        heatmap.display()
    );

    println!(
        "{}",
        json!({
            "example": "seq2seq_reverse",
            "seed": seed,
            "steps": steps,
            "test_sequences": total,
            "exact_sequence_accuracy": accuracy,
            "accuracy_by_length": per_length,
            "anti_diagonal_weight": f64::from(anti),
            "heatmap": heatmap.display().to_string(),
            "seconds": start.elapsed().as_secs_f64(),
        })
    );
}
