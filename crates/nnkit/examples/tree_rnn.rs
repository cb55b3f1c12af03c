//! Recursive (tree) networks against a sequence LSTM (course section 5.3):
//! the truth value of nested logic formulas such as `((T xor F) and (F or T))`.
//!
//! Each formula is a binary tree. The recursive network reads it as such:
//! the tokens are its leaves, each operator node `(l op r)` is binarised as
//! `((l op) r)`, and one composition layer `h = tanh(W·[h_left; h_right] + b)`
//! runs bottom-up, batched by height across the whole mini-batch (`Forest`).
//! The LSTM reads the same formula as a flat token sequence with its
//! parentheses, and has to recover the nesting itself. Both classify from one
//! vector (the root, or the last hidden state) with the same linear head, are
//! trained with Adam for the same number of steps on fresh random formulas,
//! and are scored on the same 1000 held-out formulas.
//!
//! `cargo run --release -p nnkit --example tree_rnn -- [--steps 400] [--dim 32] [--depth 4] [--seed N]`

mod common;

use std::time::Instant;

use nnkit::layers::{Embedding, EmbeddingConfig, Forward, Linear, LinearConfig, Module};
use nnkit::optim::AdamConfig;
use nnkit::prelude::*;
use nnkit::rnn::{Forest, Lstm, LstmConfig, Tree, TreeRnn, TreeRnnConfig};

/// Token ids: the two values, the three operators, the parentheses.
const FALSE: usize = 0;
const TRUE: usize = 1;
const AND: usize = 2;
const OR: usize = 3;
const XOR: usize = 4;
const OPEN: usize = 5;
const CLOSE: usize = 6;
const TOKENS: usize = 7;

/// A logic formula.
enum Formula {
    Value(bool),
    Op(usize, Box<Formula>, Box<Formula>),
}

impl Formula {
    /// A random formula of height at most `depth`; deeper branches are
    /// likelier near the root, so most formulas nest several levels.
    fn random(depth: usize, rng: &mut Rng) -> Formula {
        if depth == 0 || rng.uniform_f64() < 0.15 {
            return Formula::Value(rng.below(2) == 1);
        }
        let op = AND + rng.below(3);
        Formula::Op(
            op,
            Box::new(Formula::random(depth - 1, rng)),
            Box::new(Formula::random(depth - 1, rng)),
        )
    }

    fn eval(&self) -> bool {
        match self {
            Formula::Value(v) => *v,
            Formula::Op(op, l, r) => {
                let (a, b) = (l.eval(), r.eval());
                match *op {
                    AND => a && b,
                    OR => a || b,
                    XOR => a != b,
                    other => unreachable!("token {other} is not an operator"),
                }
            }
        }
    }

    /// The binarised tree and its leaf tokens, left to right.
    fn tree(&self, leaves: &mut Vec<usize>) -> Tree {
        match self {
            Formula::Value(v) => {
                leaves.push(if *v { TRUE } else { FALSE });
                Tree::leaf()
            }
            Formula::Op(op, l, r) => {
                let left = l.tree(leaves);
                leaves.push(*op);
                let with_op = Tree::join(&left, &Tree::leaf());
                Tree::join(&with_op, &r.tree(leaves))
            }
        }
    }

    /// The infix token sequence with parentheses.
    fn tokens(&self, out: &mut Vec<usize>) {
        match self {
            Formula::Value(v) => out.push(if *v { TRUE } else { FALSE }),
            Formula::Op(op, l, r) => {
                out.push(OPEN);
                l.tokens(out);
                out.push(*op);
                r.tokens(out);
                out.push(CLOSE);
            }
        }
    }
}

/// A batch of formulas, in the form each model reads.
struct Batch {
    forest: Forest,
    leaf_tokens: Vec<usize>,
    /// `[max_len · n]` time-major, padded with `FALSE` after the end.
    sequence: Vec<usize>,
    lengths: Vec<usize>,
    labels: Vec<usize>,
}

fn batch(n: usize, depth: usize, rng: &mut Rng) -> Batch {
    let formulas: Vec<Formula> = (0..n).map(|_| Formula::random(depth, rng)).collect();
    let mut leaf_tokens = Vec::new();
    let trees: Vec<Tree> = formulas.iter().map(|f| f.tree(&mut leaf_tokens)).collect();
    let seqs: Vec<Vec<usize>> = formulas
        .iter()
        .map(|f| {
            let mut s = Vec::new();
            f.tokens(&mut s);
            s
        })
        .collect();
    let max_len = seqs.iter().map(Vec::len).max().unwrap_or(1);
    let mut sequence = vec![FALSE; max_len * n];
    for (b, s) in seqs.iter().enumerate() {
        for (t, &tok) in s.iter().enumerate() {
            sequence[t * n + b] = tok;
        }
    }
    Batch {
        forest: Forest::new(&trees).expect("at least one formula"),
        leaf_tokens,
        sequence,
        lengths: seqs.iter().map(Vec::len).collect(),
        labels: formulas.iter().map(|f| usize::from(f.eval())).collect(),
    }
}

/// A model that classifies a batch of formulas.
trait Classifier: Module<f32> {
    fn logits(&self, b: &Batch) -> Var<f32>;
}

#[derive(Module)]
struct TreeModel {
    embed: Embedding<f32>,
    rnn: TreeRnn<f32>,
    head: Linear<f32>,
}

impl Classifier for TreeModel {
    fn logits(&self, b: &Batch) -> Var<f32> {
        let leaves = self.embed.lookup(&b.leaf_tokens, &[b.leaf_tokens.len()]);
        self.head
            .forward(&self.rnn.forward(&b.forest, &leaves).roots)
    }
}

#[derive(Module)]
struct SequenceModel {
    embed: Embedding<f32>,
    lstm: Lstm<f32>,
    head: Linear<f32>,
}

impl Classifier for SequenceModel {
    fn logits(&self, b: &Batch) -> Var<f32> {
        let n = b.labels.len();
        let x = self.embed.lookup(&b.sequence, &[b.sequence.len() / n, n]);
        let (_, (h_n, _)) = self
            .lstm
            .try_forward(&x, None, Some(&b.lengths))
            .expect("shapes agree");
        self.head.forward(h_n.squeeze(0))
    }
}

fn train(model: &dyn Classifier, steps: usize, depth: usize, rng: &mut Rng) {
    let mut opt = AdamConfig::new(3e-3)
        .init(model.named_parameters())
        .expect("a valid configuration");
    for _ in 0..steps {
        let b = batch(64, depth, rng);
        let loss = model.logits(&b).cross_entropy(&b.labels);
        opt.step(&loss.backward());
    }
}

fn evaluate(model: &dyn Classifier, test: &Batch) -> f64 {
    let logits = no_grad(|| model.logits(test)).value().clone();
    accuracy(&logits, &test.labels)
}

fn main() {
    let args = common::Args::parse("tree_rnn", &["steps", "dim", "depth"]);
    let (steps, dim, depth) = (
        args.get("steps", 400),
        args.get("dim", 32),
        args.get("depth", 4),
    );
    let mut rng = Rng::seed_from(args.seed());
    let started = Instant::now();
    let test = batch(1000, depth, &mut rng);
    let majority = {
        let ones = test.labels.iter().sum::<usize>() as f64 / test.labels.len() as f64;
        ones.max(1.0 - ones)
    };

    let tree = TreeModel {
        embed: EmbeddingConfig::new(TOKENS, dim)
            .init(&mut rng)
            .expect("sizes > 0"),
        rnn: TreeRnnConfig::new(dim).init(&mut rng).expect("dim > 0"),
        head: LinearConfig::new(dim, 2).init(&mut rng).expect("sizes > 0"),
    };
    train(&tree, steps, depth, &mut rng);
    let tree_accuracy = evaluate(&tree, &test);
    eprintln!(
        "tree RNN: held-out accuracy {tree_accuracy:.3} ({:.0} s)",
        started.elapsed().as_secs_f64()
    );

    let lstm_started = Instant::now();
    let lstm = SequenceModel {
        embed: EmbeddingConfig::new(TOKENS, dim)
            .init(&mut rng)
            .expect("sizes > 0"),
        lstm: LstmConfig::new(dim, dim).init(&mut rng).expect("sizes > 0"),
        head: LinearConfig::new(dim, 2).init(&mut rng).expect("sizes > 0"),
    };
    train(&lstm, steps, depth, &mut rng);
    let lstm_accuracy = evaluate(&lstm, &test);
    eprintln!(
        "sequence LSTM: held-out accuracy {lstm_accuracy:.3} ({:.0} s); majority class {majority:.3}",
        lstm_started.elapsed().as_secs_f64()
    );
    println!(
        "{}",
        serde_json::json!({
            "tree_accuracy": tree_accuracy,
            "lstm_accuracy": lstm_accuracy,
            "majority_class": majority,
            "test_formulas": test.labels.len(),
            "steps": steps,
            "seconds": started.elapsed().as_secs_f64(),
        })
    );
}
