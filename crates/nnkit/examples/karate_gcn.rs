//! Graph neural networks (course section 5.3) on two tasks.
//!
//! **Node classification, semi-supervised.** Zachary's karate club (34
//! members, 78 friendships, recorded 1970–72) split in two after a dispute
//! between the instructor (member 0) and the administrator (member 33). Only
//! those two members are labelled; a two-layer GCN (Kipf & Welling) with
//! one-hot node features learns from them and the graph alone which side
//! each of the 32 other members joined (the graph and the sides:
//! `nnkit::graph::datasets::karate_club`).
//!
//! **Graph classification.** Small random graphs of three shapes (rings,
//! paths, stars: 5–12 nodes, with one random extra edge for rings and paths
//! so that size and degree alone do not give the class away) are told apart
//! by two GraphSAGE layers and a mean-pool readout, with each node's degree
//! as its only feature; accuracy on held-out graphs.
//!
//! `cargo run --release -p nnkit --example karate_gcn -- [--epochs 200] [--hidden 16] [--lr 0.01] [--seed N]`

mod common;

use std::time::Instant;

use nnkit::graph::datasets::karate_club;
use nnkit::graph::{
    global_mean_pool, Csr, Edges, GcnConv, GcnConvConfig, SageConv, SageConvConfig,
};
use nnkit::layers::{Forward, Linear, LinearConfig, Module};
use nnkit::optim::AdamConfig;
use nnkit::prelude::*;

/// The two labelled members: the instructor and the administrator.
const LABELLED: [usize; 2] = [0, 33];

#[derive(Module)]
struct Gcn {
    layer1: GcnConv<f64>,
    layer2: GcnConv<f64>,
}

impl Gcn {
    fn forward(&self, a_hat: &Csr<f64>, x: &Tensor<f64>) -> Var<f64> {
        self.layer2
            .forward(a_hat, self.layer1.forward(a_hat, x).relu())
    }
}

/// Trains on the two labelled members; returns the accuracy on the others
/// and the final training loss.
fn karate(epochs: usize, hidden: usize, lr: f64, rng: &mut Rng) -> (f64, f64) {
    let (edges, club) = karate_club();
    let a_hat = edges.gcn_normalized::<f64>(true);
    let model = Gcn {
        layer1: GcnConvConfig::new(34, hidden).init(rng).expect("sizes > 0"),
        layer2: GcnConvConfig::new(hidden, 2).init(rng).expect("sizes > 0"),
    };
    let mut opt = AdamConfig::new(lr)
        .with_weight_decay(5e-4)
        .init(model.named_parameters())
        .expect("a valid configuration");
    let x = Tensor::eye(34); // one-hot node features
    let targets: Vec<usize> = LABELLED.iter().map(|&i| club[i]).collect();
    let mut loss_value = f64::NAN;
    for _ in 0..epochs {
        let logits = model.forward(&a_hat, &x).index_select(0, &LABELLED);
        let loss = logits.cross_entropy(&targets);
        loss_value = loss.value().item();
        opt.step(&loss.backward());
    }
    let logits = no_grad(|| model.forward(&a_hat, &x)).value().clone();
    let others: Vec<usize> = (0..34).filter(|i| !LABELLED.contains(i)).collect();
    let predicted = logits.index_select(0, &others);
    let truth: Vec<usize> = others.iter().map(|&i| club[i]).collect();
    (accuracy(&predicted, &truth), loss_value)
}

/// A graph of `shape` 0 (ring), 1 (path) or 2 (star) on `n` nodes; rings
/// and paths get one random chord, so no single count identifies the shape.
fn random_graph(shape: usize, n: usize, rng: &mut Rng) -> Edges {
    let mut pairs: Vec<(usize, usize)> = match shape {
        0 => (0..n).map(|i| (i, (i + 1) % n)).collect(),
        1 => (0..n - 1).map(|i| (i, i + 1)).collect(),
        _ => (1..n).map(|i| (0, i)).collect(),
    };
    if shape < 2 {
        let a = rng.below(n);
        let b = (a + 2 + rng.below(n - 3)) % n;
        pairs.push((a, b));
    }
    Edges::undirected(n, &pairs).expect("ids below n")
}

struct GraphBatchInputs {
    mean: Csr<f64>,
    pool: Csr<f64>,
    features: Tensor<f64>,
    labels: Vec<usize>,
}

fn graph_batch(count: usize, rng: &mut Rng) -> GraphBatchInputs {
    let (mut graphs, mut labels) = (Vec::new(), Vec::new());
    for _ in 0..count {
        let shape = rng.below(3);
        graphs.push(random_graph(shape, 5 + rng.below(8), rng));
        labels.push(shape);
    }
    let (union, batch) = Edges::batch(&graphs);
    // One feature per node: its degree, scaled.
    let degrees: Vec<f64> = union.in_degrees().iter().map(|&d| d as f64 / 4.0).collect();
    let n = degrees.len();
    GraphBatchInputs {
        mean: union.mean_aggregation(),
        pool: batch.mean_pool_matrix(),
        features: Tensor::from_vec(degrees, &[n, 1]),
        labels,
    }
}

#[derive(Module)]
struct Sage {
    layer1: SageConv<f64>,
    layer2: SageConv<f64>,
    head: Linear<f64>,
}

impl Sage {
    fn forward(&self, b: &GraphBatchInputs) -> Var<f64> {
        let h = self.layer1.forward(&b.mean, &b.features).relu();
        let h = self.layer2.forward(&b.mean, &h).relu();
        let pooled = global_mean_pool(&b.pool, &h).expect("the pool matrix matches the nodes");
        self.head.forward(&pooled)
    }
}

/// Trains on batches of fresh random graphs; returns held-out accuracy.
fn graph_classification(steps: usize, hidden: usize, rng: &mut Rng) -> f64 {
    let model = Sage {
        layer1: SageConvConfig::new(1, hidden).init(rng).expect("sizes > 0"),
        layer2: SageConvConfig::new(hidden, hidden)
            .init(rng)
            .expect("sizes > 0"),
        head: LinearConfig::new(hidden, 3).init(rng).expect("sizes > 0"),
    };
    let mut opt = AdamConfig::new(0.01)
        .init(model.named_parameters())
        .expect("a valid configuration");
    for _ in 0..steps {
        let b = graph_batch(32, rng);
        let loss = model.forward(&b).cross_entropy(&b.labels);
        opt.step(&loss.backward());
    }
    let test = graph_batch(300, rng);
    let logits = no_grad(|| model.forward(&test)).value().clone();
    accuracy(&logits, &test.labels)
}

fn main() {
    let args = common::Args::parse("karate_gcn", &["epochs", "hidden", "lr", "graph-steps"]);
    let (epochs, hidden, lr) = (
        args.get("epochs", 200),
        args.get("hidden", 16),
        args.get("lr", 0.01),
    );
    let graph_steps = args.get("graph-steps", 300);
    let mut rng = Rng::seed_from(args.seed());
    let started = Instant::now();
    let (test_accuracy, train_loss) = karate(epochs, hidden, lr, &mut rng);
    eprintln!(
        "karate club: {} of 32 unlabelled members on the right side (train loss {train_loss:.4})",
        (test_accuracy * 32.0).round()
    );
    let graph_accuracy = graph_classification(graph_steps, hidden, &mut rng);
    eprintln!("ring / path / star: held-out graph accuracy {graph_accuracy:.3}");
    println!(
        "{}",
        serde_json::json!({
            "test_accuracy": test_accuracy,
            "labelled_nodes": LABELLED.len(),
            "graph_accuracy": graph_accuracy,
            "seconds": started.elapsed().as_secs_f64(),
        })
    );
}
