//! The MNIST MLP of `mlp_mnist` (784-256-128-10, ReLU, Adam with a cosine
//! schedule, global batches of 128) trained data-parallel on MPI ranks.
//!
//! ```sh
//! cargo build --release -p nnkit --features distributed --example mnist_ddp
//! mpirun -np 2 target/release/examples/mnist_ddp --data DIR
//! ```
//!
//! Flags: `--data DIR` (MNIST's IDX files), `--epochs N` (10), `--lr X`
//! (1e-3), `--batch-size N` (global, 128), `--micro-batches M` (4: the rank
//! count must divide it; runs with the same M and seed end with the same
//! weights on 1, 2 or 4 ranks), `--threads N` (per rank; default: the cores
//! shared among the ranks on this host), `--seed N`.
//!
//! Every rank reads its own quarter (or half, …) of each global batch; the
//! gradients are averaged across ranks in a fixed order, and every rank
//! takes the same Adam step. Rank 0 evaluates on the test set after each
//! epoch and prints the final JSON line, whose `weights_sha256` is the same
//! for every rank count.

mod common;

use std::time::Instant;

use nnkit::data::{load_mnist, DataLoader, ImageLayout, MnistSplit};
use nnkit::distributed::{Communicator, DataParallel, DataParallelConfig, MpiCommunicator};
use nnkit::layers::{CrossEntropyLoss, Module, Relu};
use nnkit::optim::{AdamConfig, CosineAnnealingLr, LrSchedule};
use nnkit::prelude::*;
use sha2::Digest;

fn main() {
    let comm = MpiCommunicator::init().unwrap_or_else(|e| {
        eprintln!("mnist_ddp: {e}");
        std::process::exit(1)
    });
    let args = common::Args::parse(
        "mnist_ddp",
        &[
            "data",
            "epochs",
            "threads",
            "lr",
            "batch-size",
            "micro-batches",
        ],
    );
    let seed = args.seed();
    let epochs: usize = args.get("epochs", 10);
    let lr: f64 = args.get("lr", 1e-3);
    let batch_size: usize = args.get("batch-size", 128);
    let micro_batches: usize = args.get("micro-batches", 4);
    let threads = threads_per_rank(&args);
    let root = comm.is_root();
    let say = |s: String| {
        if root {
            eprintln!("{s}");
        }
    };
    // MNIST normalised with the training set's mean and standard deviation.
    let dir = common::mnist_dir(&args);
    let load = |split| {
        let mnist = load_mnist(Some(&dir), split, ImageLayout::Flat).unwrap_or_else(|e| {
            eprintln!("mnist_ddp: {e}");
            std::process::exit(1)
        });
        let x = (mnist.images - 0.1307) * (1.0 / 0.3081);
        TensorDataset::classification(x, mnist.labels).expect("one label per image")
    };
    let (train_set, test_set) = (load(MnistSplit::Train), load(MnistSplit::Test));

    let mut rng = Rng::seed_from(seed);
    let mut linear = |i, o| {
        LinearConfig::new(i, o)
            .init(&mut rng)
            .expect("linear layer")
    };
    let model = Sequential::new()
        .append(linear(784, 256))
        .append(Relu)
        .append(linear(256, 128))
        .append(Relu)
        .append(linear(128, 10));
    let mut ddp = DataParallel::new(
        &comm,
        model.named_parameters(),
        DataParallelConfig::with_micro_batches(micro_batches),
    )
    .unwrap_or_else(|e| {
        eprintln!("mnist_ddp: {e}");
        std::process::exit(1)
    });
    ddp.broadcast_parameters();
    say(format!(
        "model: 784-256-128-10, {} parameters; {} ranks × {threads} threads; global batch {batch_size} in {micro_batches} micro-batches",
        model.num_parameters(),
        comm.size()
    ));
    let mut opt = AdamConfig::new(lr)
        .init(model.named_parameters())
        .expect("Adam");
    let schedule = CosineAnnealingLr::new(epochs as u64, 0.0).expect("schedule");
    let ce = CrossEntropyLoss::default();
    let train = DataLoader::new(&train_set, batch_size)
        .expect("batch size")
        .shuffle(seed);

    let (mut compute, mut communicate) = (0.0, 0.0);
    let start = Instant::now();
    let mut accuracy = 0.0;
    for epoch in 0..epochs {
        opt.set_lr(schedule.lr_at(lr, epoch as u64));
        let epoch_start = Instant::now();
        let mut loss_sum = 0.0;
        let mut steps = 0;
        for batch in train.epoch_shard(epoch as u64, ddp.shard()) {
            let batch = batch.expect("MNIST batch");
            let step = ddp
                .gradients(&batch, |b| {
                    Ok::<_, String>(ce.forward(&model.forward(&b.features), b.classes()))
                })
                .unwrap_or_else(|e| comm.abort(&e.to_string(), 1));
            opt.step(&step.gradients);
            loss_sum += step.loss;
            steps += 1;
            compute += step.compute_seconds;
            communicate += step.communicate_seconds;
        }
        let epoch_seconds = epoch_start.elapsed().as_secs_f64();
        if root {
            model.eval();
            let logits = no_grad(|| model.forward(test_set.features()));
            accuracy = nnkit::prelude::accuracy(&logits.value(), test_set.classes().unwrap());
            model.train();
            eprintln!(
                "epoch {:>2}: train loss {:.4}, test accuracy {:.2} % ({epoch_seconds:.1} s)",
                epoch + 1,
                loss_sum / steps.max(1) as f64,
                100.0 * accuracy
            );
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    // Replicas must agree bit for bit; a difference is a bug, not noise.
    let mut hasher = sha2::Sha256::new();
    for (_, p) in model.named_parameters() {
        p.value()
            .as_slice()
            .iter()
            .for_each(|x| hasher.update(x.to_le_bytes()));
    }
    let hash: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut hashes = vec![0u8; 64 * comm.size()];
    comm.all_gather(hash.as_bytes(), &mut hashes);
    if hashes.chunks(64).any(|h| h != hash.as_bytes()) {
        comm.abort("the ranks' weights differ", 2);
    }
    if root {
        say(format!(
            "test accuracy {:.2} % after {epochs} epochs ({:.1} s; all-reduce {:.0} % of the step time)",
            100.0 * accuracy,
            seconds,
            100.0 * communicate / (compute + communicate).max(1e-12)
        ));
        if accuracy < 0.98 {
            eprintln!("below the 98.0 % target");
        }
        println!(
            "{}",
            serde_json::json!({
                "example": "mnist_ddp",
                "seed": seed,
                "ranks": comm.size(),
                "threads_per_rank": threads,
                "micro_batches": micro_batches,
                "test_accuracy": accuracy,
                "epochs": epochs,
                "seconds_per_epoch": seconds / epochs.max(1) as f64,
                "allreduce_share": communicate / (compute + communicate).max(1e-12),
                "weights_sha256": hash,
            })
        );
    }
}

/// `--threads N`, or the host's cores shared among the ranks on it (Open
/// MPI's `OMPI_COMM_WORLD_LOCAL_SIZE`), so ranks do not oversubscribe the cores.
fn threads_per_rank(args: &common::Args) -> usize {
    if args.text("threads").is_none() {
        let local_ranks = std::env::var("OMPI_COMM_WORLD_LOCAL_SIZE")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        nnkit::tensor::set_num_threads((cores / local_ranks).max(1));
    }
    if let Some(n) = args.text("threads") {
        let n = n.parse().unwrap_or_else(|_| {
            eprintln!("mnist_ddp: `--threads {n}` is not a number");
            std::process::exit(2)
        });
        nnkit::tensor::set_num_threads(n);
    }
    nnkit::tensor::num_threads()
}
