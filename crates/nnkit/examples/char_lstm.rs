//! A character-level language model: Embedding → 2-layer LSTM → Linear over
//! the characters of Tiny Shakespeare, trained with truncated
//! back-propagation through time and gradient clipping, then sampled with a
//! temperature.
//!
//! The text is split 90/10 (training first, validation last). Each split is
//! cut into `batch` parallel streams; training walks them in chunks of
//! `bptt` characters, carrying the LSTM state from chunk to chunk without its
//! graph (`nnkit::rnn::truncated_bptt`), so a step costs `bptt` time steps no
//! matter how far the state has travelled. Validation loss is reported in
//! nats per character (the mean cross-entropy with natural logarithms).
//! Training stops at the `--minutes` budget or when the validation loss has
//! not improved for 3 epochs (early stopping); the best epoch's weights are
//! kept.
//!
//! `cargo run --release -p nnkit --example char_lstm -- [--data FILE] [--minutes 15] [--hidden 256] [--embed 64] [--batch-size 32] [--bptt 64] [--lr 2e-3] [--clip 1] [--temperature 0.8] [--threads N] [--seed N]`

mod common;

use std::time::Instant;

use nnkit::layers::{Embedding, EmbeddingConfig, Forward, Linear, LinearConfig, Module};
use nnkit::optim::{AdamConfig, GradClip};
use nnkit::prelude::*;
use nnkit::rnn::{truncated_bptt, Lstm, LstmConfig, RecurrentInit};

/// The vocabulary: the sorted distinct characters of the whole text.
struct Vocab {
    chars: Vec<char>,
}

impl Vocab {
    fn new(text: &str) -> Vocab {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Vocab { chars }
    }
    fn encode(&self, text: &str) -> Vec<usize> {
        text.chars()
            .map(|c| {
                self.chars
                    .binary_search(&c)
                    .expect("character in the vocabulary")
            })
            .collect()
    }
    fn len(&self) -> usize {
        self.chars.len()
    }
}

/// `ids` cut into `batch` equal contiguous streams, laid out time-major as
/// `[steps, batch, 2]` pairs (input id, next id), as f32 so the tensor can be
/// chunked along time by `truncated_bptt` (ids are far below 2^24, exact).
fn streams(ids: &[usize], batch: usize) -> Tensor<f32> {
    let steps = (ids.len() - 1) / batch;
    let mut v = Vec::with_capacity(steps * batch * 2);
    for t in 0..steps {
        for b in 0..batch {
            let at = b * steps + t;
            v.push(ids[at] as f32);
            v.push(ids[at + 1] as f32);
        }
    }
    Tensor::from_vec(v, &[steps, batch, 2])
}

/// Inputs and targets of a `[len, batch, 2]` chunk.
fn split_pairs(chunk: &Tensor<f32>) -> (Vec<usize>, Vec<usize>) {
    let s = chunk.as_slice();
    let inputs = s.iter().step_by(2).map(|&x| x as usize).collect();
    let targets = s.iter().skip(1).step_by(2).map(|&x| x as usize).collect();
    (inputs, targets)
}

type State = Option<(Var<f32>, Var<f32>)>;

/// Embedding, two-layer LSTM, linear read-out; `Module` derived, so its
/// parameters are named `embed.weight`, `lstm.weight_ih_l0`, `head.bias`, ….
#[derive(Module)]
struct CharModel {
    embed: Embedding<f32>,
    lstm: Lstm<f32>,
    head: Linear<f32>,
}

impl CharModel {
    fn new(vocab: usize, embed: usize, hidden: usize, rng: &mut Rng) -> CharModel {
        CharModel {
            embed: EmbeddingConfig::new(vocab, embed)
                .init(rng)
                .expect("embedding"),
            lstm: LstmConfig::new(embed, hidden)
                .with_num_layers(2)
                .with_init(RecurrentInit {
                    forget_bias: Some(1.0),
                    ..RecurrentInit::default()
                })
                .init(rng)
                .expect("lstm"),
            head: LinearConfig::new(hidden, vocab).init(rng).expect("head"),
        }
    }

    /// Logits `[len·batch, vocab]` for time-major ids `[len, batch]`, and the
    /// state after the last step.
    fn forward(&self, ids: &[usize], len: usize, batch: usize, state: &State) -> (Var<f32>, State) {
        let x = self.embed.lookup(ids, &[len, batch]);
        let (y, (h, c)) = self.lstm.forward(&x, state.as_ref().map(|(h, c)| (h, c)));
        let hidden = y.shape()[2];
        let logits = self.head.forward(y.reshape([len * batch, hidden]));
        (logits, Some((h, c)))
    }
}

/// Mean cross-entropy (nats per character) over the whole of `data`.
fn evaluate(model: &CharModel, data: &Tensor<f32>, bptt: usize) -> f64 {
    no_grad(|| {
        let batch = data.shape()[1];
        let (mut total, mut count) = (0.0, 0usize);
        let summed = CrossEntropyLoss::new().with_reduction(Reduction::Sum);
        truncated_bptt(data, 0, bptt, None, |chunk, state: State| {
            let len = chunk.shape()[0];
            let (inputs, targets) = split_pairs(&chunk);
            let (logits, next) = model.forward(&inputs, len, batch, &state);
            let loss = summed.forward(&logits, &targets);
            total += loss.value().item() as f64;
            count += targets.len();
            (next, ())
        })
        .expect("positive chunk length");
        total / count as f64
    })
}

/// `n` characters sampled one at a time after `prompt`, from the softmax of
/// the logits divided by `temperature`.
fn sample(
    model: &CharModel,
    vocab: &Vocab,
    prompt: &str,
    n: usize,
    temperature: f64,
    rng: &mut Rng,
) -> String {
    no_grad(|| {
        let mut state: State = None;
        let mut logits = None;
        for id in vocab.encode(prompt) {
            let (l, s) = model.forward(&[id], 1, 1, &state);
            logits = Some(l);
            state = s;
        }
        let mut out = String::from(prompt);
        for _ in 0..n {
            let l = logits.take().expect("a prompt of at least one character");
            let l: Vec<f64> = l
                .value()
                .as_slice()
                .iter()
                .map(|&x| x as f64 / temperature)
                .collect();
            let max = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = l.iter().map(|x| (x - max).exp()).collect();
            let mut u = rng.uniform_f64() * weights.iter().sum::<f64>();
            let mut id = weights.len() - 1;
            for (i, w) in weights.iter().enumerate() {
                if u < *w {
                    id = i;
                    break;
                }
                u -= w;
            }
            out.push(vocab.chars[id]);
            let (l, s) = model.forward(&[id], 1, 1, &state);
            logits = Some(l);
            state = s;
        }
        out
    })
}

fn main() {
    let args = common::Args::parse(
        "char_lstm",
        &[
            "data",
            "minutes",
            "hidden",
            "embed",
            "batch-size",
            "bptt",
            "lr",
            "clip",
            "temperature",
            "threads",
        ],
    );
    if args.text("threads").is_some() {
        nnkit::tensor::set_num_threads(args.get("threads", 1));
    }
    let minutes: f64 = args.get("minutes", 15.0);
    let hidden: usize = args.get("hidden", 256);
    let embed: usize = args.get("embed", 64);
    let batch: usize = args.get("batch-size", 32);
    let bptt: usize = args.get("bptt", 64);
    let lr: f64 = args.get("lr", 2e-3);
    let clip: f64 = args.get("clip", 1.0);
    let temperature: f64 = args.get("temperature", 0.8);
    if hidden == 0 || embed == 0 || batch == 0 || bptt == 0 || temperature <= 0.0 || minutes < 0.0 {
        eprintln!("char_lstm: --hidden, --embed, --batch-size, --bptt and --temperature must be positive, --minutes non-negative");
        std::process::exit(2);
    }
    let path = common::tinyshakespeare_path(&args);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("char_lstm: cannot read {}: {e}", path.display());
        eprintln!("Add --download (with --features download) to fetch Tiny Shakespeare (about 1.1 MB),");
        eprintln!("or save https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt");
        eprintln!("as text/tinyshakespeare.txt in the data folder ($NN_DATA_DIR, else data/) or pass --data FILE.");
        std::process::exit(1)
    });
    let vocab = Vocab::new(&text);
    let ids = vocab.encode(&text);
    let cut = ids.len() * 9 / 10;
    if cut < 2 * batch + 2 || ids.len() - cut < 2 * batch + 2 {
        eprintln!(
            "char_lstm: {} has {} characters, too few for batch {batch}",
            path.display(),
            ids.len()
        );
        std::process::exit(1);
    }
    let train = streams(&ids[..cut], batch);
    let valid = streams(&ids[cut..], batch);
    let seed = args.seed();
    let mut rng = Rng::seed_from(seed);
    let model = CharModel::new(vocab.len(), embed, hidden, &mut rng);
    let params = model.named_parameters();
    let n_params: usize = params.iter().map(|(_, p)| p.value().numel()).sum();
    let mut opt = AdamConfig::new(lr)
        .init(params)
        .expect("Adam")
        .with_grad_clipping(GradClip::Norm {
            max_norm: clip,
            norm_type: 2.0,
        })
        .expect("gradient clipping");
    eprintln!(
        "{}: {} characters, vocabulary {}, {} train / {} validation; model embed {embed}, 2×LSTM {hidden}, {n_params} parameters; batch {batch}, bptt {bptt}, Adam lr {lr}, clip {clip}; {minutes} min on {} threads",
        path.display(),
        ids.len(),
        vocab.len(),
        cut,
        ids.len() - cut,
        nnkit::tensor::num_threads()
    );

    let started = Instant::now();
    let budget = minutes * 60.0;
    let chunks_per_epoch = train.shape()[0].div_ceil(bptt);
    let (mut step, mut epoch, mut running) = (0usize, 0usize, f64::NAN);
    let mut last_report = 0.0;
    // Early stopping on the validation loss, checked after every epoch: with
    // the fused recurrence an epoch takes seconds, and this 877 k-parameter
    // model overfits the 1 M training characters within a few epochs, so the
    // weights reported are those of the best epoch, not the last.
    let params = model.named_parameters();
    let snapshot = || params.iter().map(|(_, p)| p.value()).collect::<Vec<_>>();
    let (mut best_val, mut best_weights, mut best_epoch) = (f64::INFINITY, snapshot(), 0usize);
    const PATIENCE: usize = 3;
    'training: loop {
        epoch += 1;
        let mut out_of_time = false;
        truncated_bptt(&train, 0, bptt, None, |chunk, state: State| {
            if out_of_time || started.elapsed().as_secs_f64() >= budget {
                out_of_time = true;
                return (None, ());
            }
            let len = chunk.shape()[0];
            let (inputs, targets) = split_pairs(&chunk);
            let (logits, next) = model.forward(&inputs, len, batch, &state);
            let loss = logits.cross_entropy(&targets);
            let l = loss.value().item() as f64;
            opt.step(&loss.backward());
            step += 1;
            running = if running.is_nan() { l } else { 0.98 * running + 0.02 * l };
            let now = started.elapsed().as_secs_f64();
            if now - last_report >= 30.0 {
                last_report = now;
                eprintln!(
                    "epoch {epoch} chunk {}/{chunks_per_epoch}, step {step}: train loss {running:.3} nats/char, {now:.0} s",
                    (step - 1) % chunks_per_epoch + 1
                );
            }
            (next, ())
        })
        .expect("positive chunk length");
        if out_of_time || budget == 0.0 {
            break 'training;
        }
        let val = evaluate(&model, &valid, bptt);
        eprintln!("epoch {epoch} done: validation {val:.4} nats/char (best {best_val:.4})");
        if val < best_val {
            (best_val, best_weights, best_epoch) = (val, snapshot(), epoch);
        } else if epoch - best_epoch >= PATIENCE {
            eprintln!("early stopping: no improvement for {PATIENCE} epochs");
            break 'training;
        }
    }
    let train_seconds = started.elapsed().as_secs_f64();
    eprintln!("training stopped after {step} steps ({epoch} epochs begun), {train_seconds:.0} s; evaluating");
    let mut val = evaluate(&model, &valid, bptt);
    if best_val < val {
        for ((_, p), w) in params.iter().zip(best_weights) {
            p.set_value(w);
        }
        val = best_val;
        eprintln!("restored the weights of epoch {best_epoch}");
    }
    let text_sample = sample(&model, &vocab, "ROMEO:", 400, temperature, &mut rng);
    let seconds = started.elapsed().as_secs_f64();
    println!("validation: {val:.4} nats/char ({:.4} bits/char) after {step} steps, {train_seconds:.0} s of training", val / std::f64::consts::LN_2);
    println!("sample (temperature {temperature}):\n{text_sample}\n");
    println!(
        "{}",
        serde_json::json!({
            "val_nats_per_char": val,
            "seconds": seconds,
            "train_seconds": train_seconds,
            "steps": step,
            "best_epoch": best_epoch,
            "threads": nnkit::tensor::num_threads(),
        })
    );
}
