//! A decoder-only (GPT-style) character model on Tiny Shakespeare: token
//! embeddings plus learned positions, pre-norm Transformer layers under a
//! causal mask, and a linear read-out to the next character.
//!
//! `cargo run --release -p nnkit --example char_transformer -- [--data FILE] [--minutes M] [--seed N]`
//!
//! Trains for `--minutes` of wall time (AdamW, warm-up then constant rate),
//! then reports the validation loss in nats per character on the last 10 %
//! of the text and prints a sampled continuation. The last line on stdout is
//! one JSON object with `val_nats_per_char` and `seconds`.

mod common;

use std::time::Instant;

use nnkit::attention::{
    LearnedPositionEmbedding, LearnedPositionEmbeddingConfig, Mask, TransformerEncoder,
    TransformerEncoderConfig, TransformerEncoderLayerConfig,
};
use nnkit::optim::{clip_grad_norm, AdamWConfig};
use nnkit::prelude::*;
use nnkit::train::Progress;
use serde_json::json;

/// Characters of context the model sees.
const CONTEXT: usize = 64;
/// Windows per training step.
const BATCH: usize = 32;

/// The model: a decoder-only Transformer is an encoder stack under a causal mask.
#[derive(Module)]
struct CharModel {
    #[module(name = "embed.weight")]
    embed: Parameter<f32>,
    positions: LearnedPositionEmbedding<f32>,
    blocks: TransformerEncoder<f32>,
    #[module(name = "head.weight")]
    head_w: Parameter<f32>,
    #[module(name = "head.bias")]
    head_b: Parameter<f32>,
}

impl CharModel {
    fn new(
        vocab: usize,
        d: usize,
        heads: usize,
        layers: usize,
        rng: &mut Rng,
    ) -> Result<Self, TensorError> {
        let layer = TransformerEncoderLayerConfig::new(d, heads)
            .with_dim_feedforward(4 * d)
            .with_dropout(0.0)
            .with_norm_first(true);
        let bound = 1.0 / (d as f64).sqrt();
        Ok(CharModel {
            embed: Parameter::new(Tensor::rand_normal(&[vocab, d], 0.0, 0.02, rng)),
            positions: LearnedPositionEmbeddingConfig::new(CONTEXT, d).init(rng)?,
            // Pre-norm layers need the final LayerNorm.
            blocks: TransformerEncoderConfig::new(layer, layers)
                .with_final_norm(true)
                .init(rng)?,
            head_w: Parameter::new(Tensor::rand_uniform(&[vocab, d], -bound, bound, rng)),
            head_b: Parameter::new(Tensor::zeros(&[vocab])),
        })
    }

    /// Next-character logits `[n·L, vocab]` for `n` windows of `L` tokens.
    fn logits(&self, tokens: &[usize], n: usize) -> Var<f32> {
        let l = tokens.len() / n;
        let d = self.embed.shape()[1];
        let x = self.embed.var().index_select(0, tokens).reshape([n, l, d]);
        let x = self.positions.try_forward(&x, 0).expect("positions");
        let h = self
            .blocks
            .try_forward(&x, Some(&Mask::causal(l)), None)
            .expect("blocks");
        h.reshape([n * l, d])
            .matmul_t(&self.head_w.var(), false, true)
            .add(&self.head_b.var())
    }
}

/// Inputs and next-character targets for windows starting at `starts`.
fn windows(text: &[usize], starts: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let mut x = Vec::with_capacity(starts.len() * CONTEXT);
    let mut y = Vec::with_capacity(starts.len() * CONTEXT);
    for &s in starts {
        x.extend(&text[s..s + CONTEXT]);
        y.extend(&text[s + 1..s + CONTEXT + 1]);
    }
    (x, y)
}

/// Mean cross-entropy (nats per character) over non-overlapping windows of `text`.
fn evaluate(model: &CharModel, text: &[usize], max_windows: usize) -> f64 {
    no_grad(|| {
        let starts: Vec<usize> = (0..text.len().saturating_sub(CONTEXT + 1))
            .step_by(CONTEXT)
            .take(max_windows)
            .collect();
        let (mut sum, mut count) = (0.0, 0usize);
        let summed = CrossEntropyLoss::new().with_reduction(Reduction::Sum);
        for chunk in starts.chunks(BATCH) {
            let (x, y) = windows(text, chunk);
            let loss = summed.forward(&model.logits(&x, chunk.len()), &y);
            sum += f64::from(loss.value().item());
            count += y.len();
        }
        sum / count as f64
    })
}

/// Samples `n` characters after `prompt` at temperature 0.8.
fn sample(model: &CharModel, prompt: &[usize], n: usize, rng: &mut Rng) -> Vec<usize> {
    no_grad(|| {
        let mut seq = prompt.to_vec();
        for _ in 0..n {
            let ctx = &seq[seq.len().saturating_sub(CONTEXT)..];
            let logits = model.logits(ctx, 1).value().clone();
            let vocab = logits.shape()[1];
            let last = &logits.to_vec()[(ctx.len() - 1) * vocab..];
            let max = last.iter().cloned().fold(f32::MIN, f32::max);
            let w: Vec<f64> = last
                .iter()
                .map(|&z| f64::from((z - max) / 0.8).exp())
                .collect();
            let mut u = rng.uniform_f64() * w.iter().sum::<f64>();
            let mut pick = vocab - 1;
            for (i, &wi) in w.iter().enumerate() {
                if u < wi {
                    pick = i;
                    break;
                }
                u -= wi;
            }
            seq.push(pick);
        }
        seq[prompt.len()..].to_vec()
    })
}

fn main() {
    let args = common::Args::parse("char_transformer", &["data", "minutes"]);
    let seed = args.seed();
    let minutes: f64 = args.get("minutes", 5.0);
    // `--data FILE`, else `text/tinyshakespeare.txt` in the data folder.
    let path = common::tinyshakespeare_path(&args);
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!(
            "cannot read {}: {e}; pass --data FILE, or --download (with --features download)",
            path.display()
        );
        std::process::exit(1)
    });
    let start = Instant::now();

    let mut chars: Vec<char> = raw.chars().collect();
    chars.sort_unstable();
    chars.dedup();
    let index = |c: char| chars.binary_search(&c).expect("in vocabulary");
    let text: Vec<usize> = raw.chars().map(index).collect();
    let split = text.len() * 9 / 10;
    let (train, val) = text.split_at(split);
    eprintln!(
        "{} characters, vocabulary {}, {} train / {} validation",
        text.len(),
        chars.len(),
        train.len(),
        val.len()
    );

    let mut rng = Rng::seed_from(seed);
    let model = CharModel::new(chars.len(), 128, 4, 2, &mut rng).expect("valid model sizes");
    let params = model.named_parameters();
    let base_lr = 3e-3;
    let mut opt = AdamWConfig::new(base_lr)
        .with_weight_decay(0.01)
        .init(params.clone())
        .expect("AdamW");

    let budget = minutes * 60.0;
    let mut progress = Progress::new("train", (budget.max(1.0)) as u64);
    let (mut step, mut running, mut shown) = (0usize, 0.0f64, 0u64);
    while start.elapsed().as_secs_f64() < budget {
        opt.set_lr(base_lr * ((step + 1) as f64 / 100.0).min(1.0));
        let starts: Vec<usize> = (0..BATCH)
            .map(|_| rng.below(train.len() - CONTEXT - 1))
            .collect();
        let (x, y) = windows(train, &starts);
        let loss = model.logits(&x, BATCH).cross_entropy(&y);
        let l = f64::from(loss.value().item());
        let mut grads = loss.backward();
        drop(loss);
        clip_grad_norm(&mut grads, params.iter().map(|(_, p)| p), 1.0).expect("clip");
        opt.step(&grads);
        running = if step == 0 {
            l
        } else {
            0.98 * running + 0.02 * l
        };
        step += 1;
        let elapsed = start.elapsed().as_secs_f64() as u64;
        // The bar counts seconds of the time budget.
        progress.advance(
            elapsed.saturating_sub(shown),
            &format!("step {step} loss {running:.3}"),
        );
        shown = shown.max(elapsed);
        if step % 100 == 0 {
            eprintln!("step {step:>6}  train loss {running:.3} nats/char  ({elapsed} s)");
        }
    }
    progress.finish(&format!("{step} steps, train loss {running:.3}"));

    // At most 300 windows (19,200 characters) of the validation text.
    let val_nats = evaluate(&model, val, 300);
    let prompt: Vec<usize> = "ROMEO:\n".chars().map(index).collect();
    let generated: String = sample(&model, &prompt, 300, &mut rng)
        .into_iter()
        .map(|i| chars[i])
        .collect();
    eprintln!("validation {val_nats:.4} nats/char\n--- sample ---\nROMEO:\n{generated}\n---");

    println!(
        "{}",
        json!({
            "example": "char_transformer",
            "seed": seed,
            "steps": step,
            "train_nats_per_char": running,
            "val_nats_per_char": val_nats,
            "val_bits_per_char": val_nats / std::f64::consts::LN_2,
            "seconds": start.elapsed().as_secs_f64(),
            "sample": generated,
        })
    );
}
