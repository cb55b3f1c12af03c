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
//! The loop is `mlp_mnist`'s `Trainer::classification`, given the group
//! with `with_distributed`: every rank reads its own quarter (or half, …)
//! of each global batch, the gradients are averaged across ranks in a fixed
//! order, and every rank takes the same Adam step. Every rank evaluates on
//! the test set after each epoch; rank 0 shows the progress and prints the
//! final JSON line, whose `weights_sha256` is the same for every rank count.

mod common;

use nnkit::distributed::{Communicator, DataParallel, DataParallelConfig, MpiCommunicator};
use nnkit::optim::CosineAnnealingLr;
use nnkit::prelude::*;
use nnkit::train::Trainer;
use sha2::{Digest, Sha256};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let comm = MpiCommunicator::init()?; // once, first thing
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
    // --threads N per rank, or the host's cores shared among the ranks on
    // it (Open MPI's OMPI_COMM_WORLD_LOCAL_SIZE), so ranks do not oversubscribe.
    let threads = match args.text("threads") {
        Some(n) => n.parse()?,
        None => {
            let local_ranks =
                std::env::var("OMPI_COMM_WORLD_LOCAL_SIZE").map_or(1, |v| v.parse().unwrap_or(1));
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            (cores / local_ranks).max(1)
        }
    };
    nnkit::tensor::set_num_threads(threads);

    // MNIST normalised with the training set's mean and standard deviation.
    let dir = common::mnist_dir(&args);
    let mnist = load_mnist_splits(Some(&dir), ImageLayout::Flat, MnistNormalization::MeanStd)?;
    let (train_set, test_set) = mnist.into_datasets();
    let train = DataLoader::new(&train_set, batch_size)?.shuffle(seed);
    let test = DataLoader::new(&test_set, 1000)?;

    let mut rng = Rng::seed_from(seed);
    let model = Sequential::new()
        .append(LinearConfig::new(784, 256).init(&mut rng)?)
        .append(Relu)
        .append(LinearConfig::new(256, 128).init(&mut rng)?)
        .append(Relu)
        .append(LinearConfig::new(128, 10).init(&mut rng)?);
    let mut opt = AdamConfig::new(lr).init(model.named_parameters())?;
    // The group: this rank's share of every global batch, gradients averaged
    // across ranks in a fixed order.
    let config = DataParallelConfig::with_micro_batches(micro_batches);
    let group = DataParallel::new(&comm, model.named_parameters(), config)?;
    let root = comm.is_root();
    if root {
        eprintln!(
            "model: 784-256-128-10, {} parameters; {} ranks × {threads} threads; global batch {batch_size} in {micro_batches} micro-batches",
            model.num_parameters(),
            comm.size()
        );
    }

    let mut trainer = Trainer::classification(&model, &mut opt)
        .epochs(epochs)
        .seed(seed)
        .schedule(CosineAnnealingLr::new(epochs as u64, 0.0)?)
        .with_distributed(group);
    let report = trainer.fit(&train, &test)?;
    let accuracy = report.history.last("val_accuracy").unwrap_or(0.0);
    let seconds = report.history.series("seconds").iter().sum::<f64>();

    // Replicas must agree bit for bit; a difference is a bug, not noise.
    let mut hasher = Sha256::new();
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
        eprintln!(
            "test accuracy {:.2} % after {epochs} epochs ({seconds:.1} s)",
            100.0 * accuracy
        );
        if accuracy < 0.98 {
            eprintln!("below the 98.0 % target");
        }
        let json = serde_json::json!({
            "example": "mnist_ddp",
            "seed": seed,
            "ranks": comm.size(),
            "threads_per_rank": threads,
            "micro_batches": micro_batches,
            "test_accuracy": accuracy,
            "epochs": epochs,
            "seconds_per_epoch": seconds / epochs.max(1) as f64,
            "weights_sha256": hash,
        });
        println!("{json}");
    }
    Ok(())
}
