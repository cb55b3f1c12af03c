//! The adding problem of Hochreiter & Schmidhuber (1997), the classic test of
//! long-range memory: each sequence is `seq_len` pairs (value, marker) with
//! values uniform in [0, 1) and exactly two markers set, one in each half.
//! The target is the sum of the two marked values. Predicting the mean (1.0)
//! scores the variance of that sum, 2/12 ≈ 0.167; doing better requires
//! carrying a value across up to `seq_len` steps.
//!
//! An Elman RNN, an LSTM and a GRU (same hidden size, same optimiser, same
//! data) are trained for the same number of steps. The simple RNN's gradient
//! through `seq_len` tanh steps vanishes, so it stays near the baseline; the
//! gated cells' additive state update keeps it alive, and they solve the task.
//!
//! `cargo run --release -p nnkit --example adding_problem -- [--seq-len 100] [--steps N] [--hidden H] [--batch-size B] [--lr X] [--clip X] [--threads N] [--seed N]`

mod common;

use std::time::Instant;

use nnkit::layers::{Forward, Linear, LinearConfig, Module};
use nnkit::optim::{Adam, AdamConfig, GradClip};
use nnkit::prelude::*;
use nnkit::rnn::{Gru, GruConfig, Lstm, LstmConfig, RecurrentInit, Rnn, RnnConfig};

/// The variance of the sum of two independent U(0, 1) values: the test MSE
/// of always predicting the mean.
const BASELINE_MSE: f64 = 2.0 / 12.0;

/// `n` sequences as a time-major input `[seq_len, n, 2]` and targets `[n, 1]`.
fn adding_batch(seq_len: usize, n: usize, rng: &mut Rng) -> (Tensor<f32>, Tensor<f32>) {
    let mut x = vec![0.0f32; seq_len * n * 2];
    let mut y = Vec::with_capacity(n);
    let half = seq_len / 2;
    for b in 0..n {
        // One marker in each half, as in the original task, so the first
        // marked value must be remembered for at least half the sequence.
        let first = rng.below(half);
        let second = half + rng.below(seq_len - half);
        let mut sum = 0.0;
        for t in 0..seq_len {
            let v = rng.uniform_f64() as f32;
            let at = (t * n + b) * 2;
            x[at] = v;
            if t == first || t == second {
                x[at + 1] = 1.0;
                sum += v;
            }
        }
        y.push(sum);
    }
    (
        Tensor::from_vec(x, &[seq_len, n, 2]),
        Tensor::from_vec(y, &[n, 1]),
    )
}

/// The recurrent part of a model: one of the three layer kinds (as a
/// module, the layer it holds).
#[derive(Module)]
enum Recurrent {
    Rnn(Rnn<f32>),
    Lstm(Lstm<f32>),
    Gru(Gru<f32>),
}

/// A recurrent layer reading the sequence, then a linear read-out of its
/// last hidden state.
#[derive(Module)]
struct Model {
    recurrent: Recurrent,
    head: Linear<f32>,
}

impl Model {
    fn new(name: &'static str, hidden: usize, rng: &mut Rng) -> Model {
        let recurrent = match name {
            "rnn" => Recurrent::Rnn(RnnConfig::new(2, hidden).init(rng).expect("rnn")),
            // Forget-gate bias 1 (Jozefowicz et al. 2015): the cell keeps its
            // content by default, the usual start for long dependencies.
            "lstm" => Recurrent::Lstm(
                LstmConfig::new(2, hidden)
                    .with_init(RecurrentInit {
                        forget_bias: Some(1.0),
                        ..RecurrentInit::default()
                    })
                    .init(rng)
                    .expect("lstm"),
            ),
            "gru" => Recurrent::Gru(GruConfig::new(2, hidden).init(rng).expect("gru")),
            other => unreachable!("no model kind {other}"),
        };
        let head = LinearConfig::new(hidden, 1)
            .init(rng)
            .expect("linear read-out");
        Model { recurrent, head }
    }

    /// Predictions `[n, 1]` for a time-major input `[seq_len, n, 2]`.
    fn predict(&self, x: &Tensor<f32>) -> Var<f32> {
        let h_n = match &self.recurrent {
            Recurrent::Rnn(m) => m.forward(x, None).1,
            Recurrent::Lstm(m) => m.forward(x, None).1 .0,
            Recurrent::Gru(m) => m.forward(x, None).1,
        };
        let n = x.shape()[1];
        let last = h_n.reshape([n, h_n.shape()[2]]);
        self.head.forward(&last)
    }
}

struct Settings {
    seq_len: usize,
    steps: usize,
    hidden: usize,
    batch_size: usize,
    lr: f64,
    clip: f64,
    eval_every: usize,
    seed: u64,
}

/// Test MSE of `model` on `(x, y)` without building a graph.
fn test_mse(model: &Model, x: &Tensor<f32>, y: &Tensor<f32>) -> f64 {
    no_grad(|| {
        let pred = model.predict(x);
        pred.mse_loss(y).value().item() as f64
    })
}

/// Trains one model on fresh batches and returns its test-MSE curve
/// (`(step, mse)` every `eval_every` steps and at the end).
fn train(name: &'static str, s: &Settings, test: &(Tensor<f32>, Tensor<f32>)) -> Vec<(usize, f64)> {
    // Same initialisation stream and the same training data for all three
    // kinds: the only difference between the runs is the cell.
    let mut init_rng = Rng::seed_from(s.seed);
    let model = Model::new(name, s.hidden, &mut init_rng);
    let mut data_rng = Rng::seed_from(s.seed ^ 0x5eed_da7a);
    let mut opt: Adam<f32> = AdamConfig::new(s.lr)
        .init(model.named_parameters())
        .expect("Adam")
        .with_grad_clipping(GradClip::Norm {
            max_norm: s.clip,
            norm_type: 2.0,
        })
        .expect("gradient clipping");
    let started = Instant::now();
    let mut curve = vec![(0, test_mse(&model, &test.0, &test.1))];
    let mut running = 0.0;
    for step in 1..=s.steps {
        let (x, y) = adding_batch(s.seq_len, s.batch_size, &mut data_rng);
        let loss = model.predict(&x).mse_loss(y);
        let l = loss.value().item() as f64;
        if !l.is_finite() {
            eprintln!("{name}: loss became {l} at step {step}; stopping this model");
            break;
        }
        running = if step == 1 {
            l
        } else {
            0.95 * running + 0.05 * l
        };
        opt.step(&loss.backward());
        if step % s.eval_every == 0 || step == s.steps {
            let mse = test_mse(&model, &test.0, &test.1);
            curve.push((step, mse));
            eprintln!(
                "{name:>4} step {step:>5}/{}: train loss (smoothed) {running:.4}, test MSE {mse:.4}, {:.0} s",
                s.steps,
                started.elapsed().as_secs_f64()
            );
        }
    }
    curve
}

fn main() {
    let args = common::Args::parse(
        "adding_problem",
        &[
            "seq-len",
            "steps",
            "hidden",
            "batch-size",
            "lr",
            "clip",
            "eval-every",
            "threads",
        ],
    );
    if args.text("threads").is_some() {
        nnkit::tensor::set_num_threads(args.get("threads", 1));
    }
    let s = Settings {
        seq_len: args.get("seq-len", 100),
        steps: args.get("steps", 2000),
        hidden: args.get("hidden", 64),
        batch_size: args.get("batch-size", 64),
        lr: args.get("lr", 1e-2),
        clip: args.get("clip", 1.0),
        eval_every: args.get("eval-every", 200),
        seed: args.seed(),
    };
    if s.seq_len < 2 || s.steps == 0 || s.hidden == 0 || s.batch_size == 0 || s.eval_every == 0 {
        eprintln!("adding_problem: --seq-len must be at least 2 and --steps, --hidden, --batch-size, --eval-every positive");
        std::process::exit(2);
    }
    eprintln!(
        "adding problem: seq_len {}, hidden {}, batch {}, {} steps, Adam lr {}, clip {}, {} threads; baseline MSE {BASELINE_MSE:.4}",
        s.seq_len,
        s.hidden,
        s.batch_size,
        s.steps,
        s.lr,
        s.clip,
        nnkit::tensor::num_threads()
    );
    let test = adding_batch(s.seq_len, 1000, &mut Rng::seed_from(s.seed ^ 0x7e57));
    let started = Instant::now();
    let mut finals = Vec::new();
    for name in ["rnn", "lstm", "gru"] {
        let curve = train(name, &s, &test);
        let points: Vec<String> = curve
            .iter()
            .rev()
            .take(4)
            .rev()
            .map(|(step, mse)| format!("{step}: {mse:.4}"))
            .collect();
        eprintln!(
            "{name} curve, last points (step: test MSE): {}",
            points.join(", ")
        );
        finals.push(curve.last().expect("at least the initial point").1);
    }
    let verdict = |mse: f64, gated: bool| match (gated, mse) {
        (true, m) if m < 0.01 => "solved (< 0.01)",
        (true, _) => "NOT solved (>= 0.01)",
        (false, m) if m > 0.5 * BASELINE_MSE => "near the baseline",
        (false, _) => "below the baseline",
    };
    println!(
        "final test MSE (baseline {BASELINE_MSE:.3}): rnn {:.4} ({}), lstm {:.4} ({}), gru {:.4} ({}); {:.0} s",
        finals[0],
        verdict(finals[0], false),
        finals[1],
        verdict(finals[1], true),
        finals[2],
        verdict(finals[2], true),
        started.elapsed().as_secs_f64()
    );
    println!(
        "{}",
        serde_json::json!({
            "seq_len": s.seq_len,
            "rnn_test_mse": finals[0],
            "lstm_test_mse": finals[1],
            "gru_test_mse": finals[2],
            "steps": s.steps,
            "seconds": started.elapsed().as_secs_f64(),
        })
    );
}
