//! Runs real MPI jobs: `mpirun -np 1/2/4` on this machine (loopback only)
//! with this test binary as the rank program.
//!
//! The driver tests launch `mpirun … <this binary> --ignored --exact
//! rank_program` with `NN_DIST_SCENARIO` naming what the ranks do; the
//! ignored test `rank_program` is that program. Built only with the `mpi`
//! feature (Open MPI's `mpirun` must be on the PATH).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use nn_autograd::{Parameter, Var};
use nn_data::{digits, Batch, DataLoader};
use nn_distributed::{
    Communicator, DataParallel, DataParallelConfig, MpiCommunicator, ReduceAlgorithm,
};
use nn_tensor::{Rng, Tensor};

const SCENARIO: &str = "NN_DIST_SCENARIO";
const OUT_DIR: &str = "NN_DIST_OUT";
const ALGORITHM: &str = "NN_DIST_ALGORITHM";

/// `mpirun -np ranks` of this binary's `rank_program` under `scenario`.
fn mpirun(ranks: usize, scenario: &str, out: &Path, timeout_s: &str) -> Output {
    mpirun_with(ranks, scenario, out, timeout_s, "ReduceScatter")
}

/// [`mpirun`] with the all-reduce algorithm named (`ReduceScatter` or `GatherSum`).
fn mpirun_with(
    ranks: usize,
    scenario: &str,
    out: &Path,
    timeout_s: &str,
    algorithm: &str,
) -> Output {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new("mpirun");
    cmd.args(["-np", &ranks.to_string(), "--oversubscribe"])
        // Loopback only: shared memory between the ranks, TCP for
        // mpirun's own control messages on the loopback interface.
        .args(["--mca", "btl", "self,vader"])
        .args(["--mca", "oob_tcp_if_include", "lo"])
        .arg(exe)
        .args(["--ignored", "--exact", "rank_program", "--nocapture"])
        .env(SCENARIO, scenario)
        .env(ALGORITHM, algorithm)
        .env(OUT_DIR, out)
        .env("NN_DISTRIBUTED_TIMEOUT", timeout_s)
        .env("RAYON_NUM_THREADS", "1")
        // CI runs as root; Open MPI refuses that unless told it is meant.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    cmd.output()
        .expect("running mpirun (is Open MPI installed?)")
}

fn out_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("mpirun-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn two_epochs_give_bit_identical_weights_on_1_2_and_4_ranks() {
    let dir = out_dir("train");
    let mut weights = Vec::new();
    for (ranks, algorithm) in [
        (1, "ReduceScatter"),
        (2, "ReduceScatter"),
        (4, "ReduceScatter"),
        (2, "GatherSum"),
        (4, "GatherSum"),
    ] {
        let o = mpirun_with(ranks, "train", &dir, "120", algorithm);
        assert!(
            o.status.success(),
            "{ranks} ranks, {algorithm}: {}",
            text(&o)
        );
        let w = std::fs::read(dir.join(format!("weights-{ranks}.bin"))).unwrap();
        weights.push((format!("{ranks} ranks, {algorithm}"), w));
    }
    let initial = std::fs::read(dir.join("initial.bin")).unwrap();
    assert_ne!(weights[0].1, initial, "training changed nothing");
    for (name, w) in &weights[1..] {
        assert!(*w == weights[0].1, "{name} differs from 1 rank");
    }
}

#[test]
fn a_failing_rank_stops_every_rank_with_its_message() {
    let dir = out_dir("fail");
    let o = mpirun(2, "fail", &dir, "120");
    let all = text(&o);
    assert!(!o.status.success(), "{all}");
    assert!(
        all.contains(
            "rank 0 stops: DataParallel::gradients: rank 1 failed: injected failure at step 3"
        ),
        "{all}"
    );
    assert!(
        all.contains(
            "rank 1 stops: DataParallel::gradients: rank 1 failed: injected failure at step 3"
        ),
        "{all}"
    );
}

#[test]
fn a_panicking_a_hanging_or_a_dying_rank_ends_the_job_promptly() {
    let dir = out_dir("faults");
    for (scenario, expect) in [
        (
            "panic",
            "nn-distributed: rank 1 of 2 panicked; aborting the job",
        ),
        (
            "hang",
            "s for the other ranks (limit 3.0 s, NN_DISTRIBUTED_TIMEOUT)",
        ),
        ("exit", ""),
    ] {
        let started = Instant::now();
        let o = mpirun(2, scenario, &dir, "3");
        let all = text(&o);
        assert!(!o.status.success(), "{scenario}: {all}");
        assert!(all.contains(expect), "{scenario}: {all}");
        // The hanging rank sleeps 600 s: only the watchdog ends it sooner.
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{scenario} took {:?}",
            started.elapsed()
        );
    }
}

/// `Trainer::with_distributed` on 1, 2 and 4 ranks: the same weights
/// everywhere; a stop asked for on rank 0 alone ends every rank after the
/// same epoch; a checkpoint written by one process resumes on N ranks and
/// one written by N ranks resumes in one process, both ending with the
/// weights of the uninterrupted run (checked inside the rank program).
#[test]
fn the_trainer_runs_distributed_and_resumes_with_another_rank_count() {
    let dir = out_dir("trainer");
    let mut weights = Vec::new();
    for ranks in [1, 2, 4] {
        let o = mpirun(ranks, "trainer", &dir, "120");
        assert!(o.status.success(), "{ranks} ranks: {}", text(&o));
        let w = std::fs::read(dir.join(format!("trainer-{ranks}.bin"))).unwrap();
        weights.push((ranks, w));
    }
    for (ranks, w) in &weights[1..] {
        assert!(*w == weights[0].1, "{ranks} ranks differ from 1 rank");
    }
}

/// The trainer's scenario of [`rank_program`].
mod trainer {
    use std::path::Path;

    use nn_data::{digits, DataLoader};
    use nn_distributed::{
        Communicator, DataParallel, DataParallelConfig, MpiCommunicator, SingleProcess,
    };
    use nn_layers::{LinearConfig, Module, Relu, Sequential};
    use nn_optim::{AdamConfig, StepLr};
    use nn_tensor::{Element, Rng};
    use nn_train::{Callback, Control, FitContext, FitReport, TrainError, Trainer};

    const EPOCHS: usize = 3;

    fn model(seed: u64) -> Sequential<f32> {
        let mut rng = Rng::seed_from(seed);
        Sequential::new()
            .append(LinearConfig::new(64, 32).init(&mut rng).unwrap())
            .append(Relu)
            .append(LinearConfig::new(32, 10).init(&mut rng).unwrap())
    }

    fn bytes(m: &Sequential<f32>) -> Vec<u8> {
        m.parameters()
            .iter()
            .flat_map(|p| p.value().to_vec())
            .flat_map(f32::to_le_bytes)
            .collect()
    }

    /// Asks for a stop after `epoch`, but only where it runs as the root:
    /// the other ranks must follow rank 0's decision.
    struct StopOnRoot(usize);
    impl<T: Element> Callback<T> for StopOnRoot {
        fn name(&self) -> &str {
            "stop_on_root"
        }
        fn on_epoch_end(
            &mut self,
            ctx: &mut FitContext<'_, T>,
            control: &mut Control,
        ) -> Result<(), TrainError> {
            if ctx.is_root && ctx.epoch == self.0 {
                control.stop();
            }
            Ok(())
        }
    }

    /// Trains `m` until epoch `epochs` over `comm`, with 4 micro-batches
    /// per global batch of 64 whatever the rank count.
    fn fit<C: Communicator>(
        m: &Sequential<f32>,
        comm: C,
        epochs: usize,
        extra: impl FnOnce(
            Trainer<'_, f32, Sequential<f32>, nn_train::Classification>,
        ) -> Trainer<'_, f32, Sequential<f32>, nn_train::Classification>,
    ) -> FitReport {
        let data = digits().cast::<f32>().to_dataset();
        let train = DataLoader::new(&data, 64).unwrap().shuffle(11);
        let valid = DataLoader::new(&data, 600).unwrap();
        let ddp = DataParallel::new(
            comm,
            m.named_parameters(),
            DataParallelConfig::with_micro_batches(4),
        )
        .unwrap();
        let mut opt = AdamConfig::new(0.01).init(m.named_parameters()).unwrap();
        let t = Trainer::classification(m, &mut opt)
            .epochs(epochs)
            .schedule(StepLr::new(2, 0.5).unwrap())
            .with_distributed(ddp)
            .quiet();
        let mut t = extra(t);
        t.fit(&train, &valid).unwrap()
    }

    pub fn run(comm: &MpiCommunicator, out: &Path) {
        let (rank, ranks) = (comm.rank(), comm.size());
        // Each rank initialises differently: the trainer broadcasts rank 0's.
        let full = model(3 + rank as u64);
        let report = fit(&full, comm, EPOCHS, |t| t);
        assert_eq!(report.epochs_run, EPOCHS);
        let want = bytes(&full);

        // Rank 0 alone asks to stop after epoch 2: every rank stops there.
        let stopped = fit(&model(3), comm, EPOCHS, |t| t.callback(StopOnRoot(2)));
        assert_eq!((stopped.epochs_run, stopped.stopped_epoch), (2, Some(2)));

        // A checkpoint of one process (every rank writes its own) resumed on N ranks.
        let single = out.join(format!("single-{ranks}-{rank}.safetensors"));
        fit(&model(3), SingleProcess, 1, |t| t.checkpoint(&single, 1));
        let resumed = model(100 + rank as u64);
        let r = fit(&resumed, comm, EPOCHS, |t| t.resume_from(&single));
        assert_eq!(r.history.epochs.len(), EPOCHS);
        assert!(
            bytes(&resumed) == want,
            "rank {rank}: 1 → {ranks} ranks differs"
        );

        // A checkpoint of N ranks (rank 0 writes) resumed by each rank alone.
        let shared = out.join(format!("multi-{ranks}.safetensors"));
        fit(&model(3), comm, 1, |t| t.checkpoint(&shared, 1));
        let alone = model(200 + rank as u64);
        fit(&alone, SingleProcess, EPOCHS, |t| t.resume_from(&shared));
        assert!(
            bytes(&alone) == want,
            "rank {rank}: {ranks} → 1 rank differs"
        );

        if rank == 0 {
            std::fs::write(out.join(format!("trainer-{ranks}.bin")), &want).unwrap();
        }
    }
}

/// A two-layer perceptron on the 8×8 digits, written out on parameters.
struct Mlp {
    params: Vec<(String, Parameter<f32>)>,
}

impl Mlp {
    fn new(seed: u64) -> Mlp {
        let mut rng = Rng::seed_from(seed);
        let mut params = Vec::new();
        for (i, (inp, out)) in [(64, 32), (32, 10)].into_iter().enumerate() {
            let bound = 1.0 / (inp as f64).sqrt();
            let w = Tensor::rand_uniform(&[out, inp], -bound, bound, &mut rng);
            let b = Tensor::rand_uniform(&[out], -bound, bound, &mut rng);
            params.push((format!("{i}.weight"), Parameter::new(w)));
            params.push((format!("{i}.bias"), Parameter::new(b)));
        }
        Mlp { params }
    }

    fn loss(&self, batch: &Batch<f32>) -> Var<f32> {
        let p = |i: usize| self.params[i].1.var();
        let x = Var::constant(batch.features.clone());
        let h = x.matmul_t(&p(0), false, true).add(&p(1)).relu();
        let logits = h.matmul_t(&p(2), false, true).add(&p(3));
        logits.cross_entropy(batch.classes())
    }

    fn bytes(&self) -> Vec<u8> {
        self.params
            .iter()
            .flat_map(|(_, p)| p.value().to_vec())
            .flat_map(f32::to_le_bytes)
            .collect()
    }
}

/// The rank program (see the module docs); does nothing outside mpirun.
#[test]
#[ignore = "the program each rank runs under mpirun; the other tests launch it"]
fn rank_program() {
    let scenario = std::env::var(SCENARIO).expect("run by the mpirun tests only");
    let out = PathBuf::from(std::env::var(OUT_DIR).unwrap());
    let comm = MpiCommunicator::init().unwrap();
    if scenario == "trainer" {
        trainer::run(&comm, &out);
        return;
    }
    let (rank, ranks) = (comm.rank(), comm.size());
    // Each rank initialises differently: the broadcast must make them equal.
    let model = Mlp::new(7 + rank as u64);
    let data = digits().cast::<f32>().to_dataset();
    let loader = DataLoader::new(&data, 64).unwrap().shuffle(11);
    let algorithm = match std::env::var(ALGORITHM).as_deref() {
        Ok("GatherSum") => ReduceAlgorithm::GatherSum,
        _ => ReduceAlgorithm::ReduceScatter,
    };
    let config = DataParallelConfig {
        algorithm,
        // Small buckets, so the test sends several per step.
        bucket_elems: 1000,
        ..DataParallelConfig::with_micro_batches(4)
    };
    let mut ddp = DataParallel::new(&comm, model.params.clone(), config).unwrap();
    ddp.broadcast_parameters();
    if rank == 0 && scenario == "train" {
        std::fs::write(out.join("initial.bin"), model.bytes()).unwrap();
    }
    let mut step = 0;
    for epoch in 0..2 {
        for batch in loader.epoch_shard(epoch, ddp.shard()) {
            let batch = batch.unwrap();
            step += 1;
            if rank == 1 && step == 3 {
                match scenario.as_str() {
                    "panic" => panic!("injected panic at step 3"),
                    "hang" => std::thread::sleep(Duration::from_secs(600)),
                    "exit" => std::process::exit(3),
                    _ => {}
                }
            }
            let reduced = ddp.gradients(&batch, |b| {
                if scenario == "fail" && rank == 1 && step == 3 {
                    return Err("injected failure at step 3".to_string());
                }
                Ok(model.loss(b))
            });
            let reduced = match reduced {
                Ok(r) => r,
                Err(e) => {
                    // One write, so the two ranks' lines do not interleave.
                    let line = format!("rank {rank} stops: {e}\n");
                    std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes()).unwrap();
                    drop(ddp);
                    drop(comm);
                    std::process::exit(1);
                }
            };
            assert!(reduced.loss.is_finite());
            for (_, p) in &model.params {
                let g = reduced.gradients.get_id(p.id()).unwrap();
                p.update(|v| {
                    for (w, &g) in v.as_mut_slice().iter_mut().zip(g.as_slice()) {
                        *w -= 0.1 * g;
                    }
                });
            }
        }
    }
    // Every replica must hold the same bits.
    let mine = model.bytes();
    let mut all = vec![0u8; mine.len() * ranks];
    comm.all_gather(&mine, &mut all);
    for (r, theirs) in all.chunks(mine.len()).enumerate() {
        assert!(
            theirs == mine.as_slice(),
            "rank {r}'s weights differ from rank {rank}'s"
        );
    }
    if rank == 0 {
        std::fs::write(out.join(format!("weights-{ranks}.bin")), &mine).unwrap();
    }
}
