//! W8_ddp_mlp, and the all-reduce's latency and bandwidth, under mpirun.
//!
//! ```sh
//! cargo build --release -p nn-bench --features distributed --bin w8_ddp
//! mpirun -np 1 target/release/w8_ddp --threads 2   # 1 rank × 2 threads
//! mpirun -np 2 target/release/w8_ddp --threads 1   # 2 ranks × 1 thread
//! mpirun -np 2 target/release/w8_ddp --threads 1 --reduce-scatter
//! mpirun -np 2 target/release/w8_ddp --allreduce   # latency and bandwidth
//! ```
//!
//! Rank 0 prints one JSON line per result. Every rank runs the same fixed
//! number of steps (the calibrating timer of `workloads` would let the ranks
//! disagree on the count and deadlock): `--warmup` steps, then `--samples`
//! samples of `--steps` steps each; the rate is the median over samples.

use std::process::ExitCode;
use std::time::Instant;

use nn_bench::report::LIB;
use nn_bench::w8_ddp::{DataParallelStep, SingleStep, GLOBAL_BATCH};
use nn_distributed::{AllReduce, Communicator, MpiCommunicator, ReduceAlgorithm};

const USAGE: &str =
    "usage: mpirun -np R w8_ddp [--threads T] [--steps K] [--samples S] [--warmup W] [--gather-sum | --reduce-scatter] [--allreduce]";

#[derive(Clone, Copy)]
struct Options {
    threads: usize,
    steps: usize,
    samples: usize,
    warmup: usize,
    allreduce: bool,
    algorithm: ReduceAlgorithm,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        threads: 1,
        steps: 20,
        samples: 7,
        warmup: 5,
        allreduce: false,
        algorithm: ReduceAlgorithm::Auto,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut count = |name: &str| -> Result<usize, String> {
            let v = args.next().unwrap_or_default();
            v.parse::<usize>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| format!("{name} needs a count >= 1, got {v:?}"))
        };
        match a.as_str() {
            "--threads" => o.threads = count("--threads")?,
            "--steps" => o.steps = count("--steps")?,
            "--samples" => o.samples = count("--samples")?,
            "--warmup" => o.warmup = count("--warmup")?,
            "--allreduce" => o.allreduce = true,
            "--gather-sum" => o.algorithm = ReduceAlgorithm::GatherSum,
            "--reduce-scatter" => o.algorithm = ReduceAlgorithm::ReduceScatter,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("w8_ddp: {e}");
            return ExitCode::from(2);
        }
    };
    nn_tensor::set_num_threads(o.threads);
    let comm = match MpiCommunicator::init() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("w8_ddp: {e}");
            return ExitCode::FAILURE;
        }
    };
    if o.allreduce {
        allreduce_table(&comm, &o);
    } else {
        w8(&comm, &o);
    }
    ExitCode::SUCCESS
}

/// The median, largest and smallest of `values` (sorted in place).
fn stats(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[values.len() - 1],
        values[0],
    )
}

/// Times `samples` samples of `steps` calls of `step`, every rank in
/// lockstep; returns the seconds of each sample on this rank.
fn time_samples(comm: &MpiCommunicator, o: &Options, mut step: impl FnMut()) -> Vec<f64> {
    for _ in 0..o.warmup {
        step();
    }
    (0..o.samples)
        .map(|_| {
            comm.barrier();
            let t = Instant::now();
            for _ in 0..o.steps {
                step();
            }
            comm.barrier();
            t.elapsed().as_secs_f64()
        })
        .collect()
}

fn w8(comm: &MpiCommunicator, o: &Options) {
    let ranks = comm.size();
    let (seconds, share, bytes) = if ranks == 1 {
        let single = SingleStep::new();
        let s = time_samples(comm, o, || {
            std::hint::black_box(single.step());
        });
        (s, 0.0, 0)
    } else {
        let mut ddp = DataParallelStep::new(comm, o.algorithm);
        let (mut compute, mut communicate) = (0.0, 0.0);
        let s = time_samples(comm, o, || {
            let r = ddp.step();
            compute += r.compute_seconds;
            communicate += r.communicate_seconds;
        });
        // The share on this rank, averaged over the ranks.
        let mine = communicate / (compute + communicate);
        let mut all = vec![0.0f64; ranks];
        comm.all_gather(&mine.to_le_bytes(), bytemuck::cast_slice_mut(&mut all));
        (
            s,
            all.iter().sum::<f64>() / ranks as f64,
            ddp.bytes_sent_per_step(),
        )
    };
    if comm.is_root() {
        let mut rates: Vec<f64> = seconds
            .iter()
            .map(|s| (o.steps * GLOBAL_BATCH) as f64 / s)
            .collect();
        let (median, best, worst) = stats(&mut rates);
        println!(
            "{{\"lib\": \"{LIB}\", \"workload\": \"W8_ddp_mlp\", \"ranks\": {ranks}, \"threads\": {}, \
             \"metric\": \"samples/s\", \"median\": {median:.1}, \"best\": {best:.1}, \"worst\": {worst:.1}, \
             \"algorithm\": \"{:?}\", \"allreduce_share\": {share:.4}, \"bytes_sent_per_rank_per_step\": {bytes}}}",
            o.threads, o.algorithm
        );
    }
}

/// Latency and bandwidth of the ordered all-reduce for vectors from 1
/// element to 4 Mi elements (f32), both algorithms.
fn allreduce_table(comm: &MpiCommunicator, o: &Options) {
    let ranks = comm.size();
    // 235 146 is the W2 / W8 MLP's parameter count.
    for elems in [1usize, 1024, 16 << 10, 235_146, 1 << 20, 4 << 20] {
        for algorithm in [ReduceAlgorithm::ReduceScatter, ReduceAlgorithm::GatherSum] {
            let mut ar = AllReduce::<f32>::new(algorithm, 4 << 20);
            let mut data = vec![comm.rank() as f32; elems];
            let calls = (o.steps * 50 / (1 + elems / 16_384)).max(5);
            let seconds = time_samples(comm, &Options { steps: calls, ..*o }, || {
                ar.sum(comm, &mut data);
            });
            if comm.is_root() {
                let mut per_call: Vec<f64> = seconds.iter().map(|s| s / calls as f64).collect();
                let (median, _, _) = stats(&mut per_call);
                let bytes = elems * 4;
                println!(
                    "{{\"lib\": \"{LIB}\", \"workload\": \"allreduce\", \"ranks\": {ranks}, \"algorithm\": \"{algorithm:?}\", \
                     \"elements\": {elems}, \"bytes\": {bytes}, \"median_us\": {:.1}, \"algorithm_bandwidth_gbs\": {:.3}}}",
                    median * 1e6,
                    bytes as f64 / median / 1e9
                );
            }
        }
    }
}
