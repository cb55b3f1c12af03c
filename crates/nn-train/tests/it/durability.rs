//! Durability of checkpoints: a process killed (SIGKILL) at a random moment
//! while it saves checkpoints leaves the file holding either the previous
//! or the new checkpoint, complete and loadable, never a torn one.
//!
//! And a training run killed at a random epoch, resumed from the
//! checkpoint that survived, ends with the same weights, bit for bit, as a
//! run that never stopped, though its model has a `Dropout` whose private
//! generator is part of the checkpoint.
//!
//! The writer and the trainer are this same test binary (`it`), re-executed with
//! `NN_DURABILITY_WRITER=<path>` / `NN_DURABILITY_FIT=<path>` so that only
//! the `writer_process` / `fit_process` entry point runs, in a child
//! process the parent can kill.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nn_tensor::{Rng, Tensor};
use nn_train::Checkpoint;

const WRITER_ENV: &str = "NN_DURABILITY_WRITER";

/// The checkpoint of step `s`: its size grows with `s` (cycling, so the file
/// alternates between small and a few hundred kB) and every value encodes
/// `s`, so a file mixing two steps cannot pass [`check`].
fn checkpoint_of(step: u64) -> Checkpoint<f32> {
    let mut c = Checkpoint::new();
    let n = 4096 * (1 + (step % 48) as usize);
    let w: Vec<f32> = (0..n).map(|i| step as f32 + (i % 7) as f32).collect();
    c.tensors
        .insert("model.weight".into(), Tensor::from_vec(w, &[n]));
    c.tensors.insert(
        "optim.step".into(),
        Tensor::from_vec(vec![step as f32], &[1]),
    );
    c.metadata.insert("step".into(), step.to_string());
    c.metadata
        .insert("note".into(), "x".repeat(step as usize % 300));
    c
}

/// Loads the checkpoint at `path` and returns its step after checking that
/// every tensor and every metadata entry is exactly [`checkpoint_of`] it.
fn check(path: &Path) -> u64 {
    let c = Checkpoint::<f32>::load(path)
        .unwrap_or_else(|e| panic!("checkpoint {} does not load: {e}", path.display()));
    let step: u64 = c.metadata["step"].parse().expect("step metadata");
    assert_eq!(
        c,
        checkpoint_of(step),
        "checkpoint of step {step} has the wrong content"
    );
    step
}

/// The child: resume from the file if it exists, then save steps forever,
/// announcing each on stdout before (`begin s`) and after (`saved s`).
#[test]
fn writer_process() {
    let Some(path) = std::env::var_os(WRITER_ENV) else {
        // Run by the ordinary test harness: nothing to do, the parent test
        // `killed_saves_leave_old_or_new_checkpoint` drives this entry point.
        return;
    };
    let path = PathBuf::from(path);
    let mut step = if path.exists() { check(&path) + 1 } else { 0 };
    let mut out = std::io::stdout().lock();
    loop {
        writeln!(out, "begin {step}").unwrap();
        out.flush().unwrap();
        checkpoint_of(step).save(&path).unwrap();
        writeln!(out, "saved {step}").unwrap();
        out.flush().unwrap();
        step += 1;
    }
}

/// The step in a `begin s` / `saved s` announcement, wherever it sits in the line.
fn announced(line: &str, what: &str) -> Option<u64> {
    let (_, rest) = line.split_once(what)?;
    rest.trim().parse().ok()
}

#[test]
fn killed_saves_leave_old_or_new_checkpoint() {
    let dir = std::env::temp_dir().join(format!("nn-durability-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ckpt.safetensors");
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::seed_from(0x5eed);
    let started = Instant::now();
    let kills = 30;
    let mut previous: Option<u64> = None;
    let mut torn_windows = 0;
    for round in 0..kills {
        let mut child = Command::new(&exe)
            .args([
                "durability::writer_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WRITER_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("re-exec the test binary");
        // Let it reach its first save, then kill it at a random moment
        // between 0 and 250 ms later: most kills land inside a save (the
        // fsync dominates each step).
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        // Wait for the first announcement (the harness's own header comes
        // first, and may share its line: `test writer_process ... begin 7`).
        let first = lines
            .by_ref()
            .map(|l| l.unwrap())
            .find(|l| announced(l, "begin ").is_some())
            .expect("the writer exited without announcing a step");
        std::thread::sleep(Duration::from_micros(rng.below(250_000) as u64));
        child.kill().unwrap();
        child.wait().unwrap();
        // What the child announced: the last step it began and the last it
        // finished (None if it was killed before finishing one).
        let (mut begun, mut saved) = (None, None);
        for line in std::iter::once(Ok(first)).chain(lines) {
            let Ok(line) = line else { break };
            if let Some(s) = announced(&line, "begin ") {
                begun = Some(s);
            } else if let Some(s) = announced(&line, "saved ") {
                saved = Some(s);
            }
        }
        let begun = begun.expect("the writer announces a step before saving");
        if !path.exists() {
            // Killed before the very first save completed.
            assert!(previous.is_none() && saved.is_none(), "round {round}");
            continue;
        }
        let step = check(&path);
        // Old or new: the last finished save (from this child or, if it
        // finished none, the previous one), or the save in progress.
        let old = saved.or(previous);
        assert!(
            Some(step) == old || step == begun,
            "round {round}: file holds step {step}, but the last saved was {old:?} \
             and the one in progress {begun}"
        );
        if saved != Some(begun) {
            torn_windows += 1;
        }
        previous = Some(step);
    }
    let elapsed = started.elapsed();
    // A killed save leaves its temporary file behind (never under the
    // checkpoint's own name); counted here for the record.
    let strays = std::fs::read_dir(&dir).unwrap().count() - 1;
    eprintln!(
        "{kills} kills in {elapsed:.1?}, {torn_windows} of them during a save; \
         last step {previous:?}; {strays} temporary files left"
    );
    assert!(previous.unwrap_or(0) > 0, "the writer never made progress");
    assert!(torn_windows > 0, "no kill landed inside a save");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// Killed training, resumed: the same final weights as a run that never stopped.

const FIT_ENV: &str = "NN_DURABILITY_FIT";
const FIT_EPOCHS: usize = 60;

mod training {
    use nn_data::{DataLoader, TensorDataset};
    use nn_layers::prelude::*;
    use nn_optim::{AdamConfig, StepLr};
    use nn_train::{Evaluation, StepContext, Trainer};

    /// Two noisy classes in 4-d.
    fn data(seed: u64, n: usize) -> TensorDataset<f32> {
        let mut rng = Rng::seed_from(seed);
        let x = Tensor::<f32>::rand_normal(&[n, 4], 0.0, 1.0, &mut rng);
        let y = x
            .as_slice()
            .chunks(4)
            .map(|r| usize::from(r[0] - r[1] + 0.3 * rng.normal_f64() as f32 > 0.0))
            .collect();
        TensorDataset::classification(x, y).unwrap()
    }

    pub fn model(seed: u64) -> Sequential<f32> {
        let mut rng = Rng::seed_from(seed);
        Sequential::new()
            .append(LinearConfig::new(4, 32).init(&mut rng).unwrap())
            .append(Relu)
            // Its private mask generator must be in the checkpoint too.
            .append(DropoutConfig::new(0.25).init(&mut rng).unwrap())
            .append(LinearConfig::new(32, 2).init(&mut rng).unwrap())
    }

    pub fn weights(m: &Sequential<f32>) -> Vec<Vec<u32>> {
        m.parameters()
            .iter()
            .map(|p| p.value().as_slice().iter().map(|x| x.to_bits()).collect())
            .collect()
    }

    /// Trains `m` for `epochs` epochs with a checkpoint every epoch at
    /// `ckpt`, resuming from it first when `resume` is set. The step draws
    /// from the trainer's generator so its state matters for exact resume.
    pub fn run(m: &Sequential<f32>, epochs: usize, ckpt: Option<&std::path::Path>, resume: bool) {
        let train = data(1, 256);
        let mut opt = AdamConfig::new(0.01).init(m.named_parameters()).unwrap();
        let tl = DataLoader::new(&train, 8).unwrap().shuffle(5);
        let step = |m: &Sequential<f32>, b: &nn_data::Batch<f32>, ctx: &mut StepContext<'_>| {
            let noise = Tensor::rand_normal(b.features.shape(), 0.0, 0.05, ctx.rng);
            m.forward(b.features.add(&noise)).cross_entropy(b.targets())
        };
        let eval = |m: &Sequential<f32>, b: &nn_data::Batch<f32>| {
            let out = m.forward(b.inputs());
            Evaluation::new(&out.cross_entropy(b.targets()), &out)
        };
        let mut t = Trainer::custom(m, &mut opt, step, eval)
            .epochs(epochs)
            .seed(3)
            .schedule(StepLr::new(10, 0.5).unwrap())
            .quiet();
        if let Some(p) = ckpt {
            t = t.checkpoint(p, 1);
            if resume {
                t = t.resume_from(p);
            }
        }
        t.fit_without_validation(&tl).unwrap();
    }
}

/// The child: trains from scratch with a checkpoint every epoch, announcing
/// each epoch start on stdout, until killed (or done).
#[test]
fn fit_process() {
    let Some(path) = std::env::var_os(FIT_ENV) else {
        // Run by the ordinary harness: the parent test
        // `killed_training_resumes_to_the_same_weights` drives this entry point.
        return;
    };
    println!("training");
    training::run(
        &training::model(8),
        FIT_EPOCHS,
        Some(std::path::Path::new(&path)),
        false,
    );
}

#[test]
fn killed_training_resumes_to_the_same_weights() {
    let reference = training::model(8);
    let started = Instant::now();
    training::run(&reference, FIT_EPOCHS, None, false);
    let one_run = started.elapsed();
    let want = training::weights(&reference);

    let dir = std::env::temp_dir().join(format!("nn-durability-fit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::seed_from(0xf17);
    let mut resumed_from = Vec::new();
    for round in 0..6 {
        let path = dir.join(format!("run{round}.safetensors"));
        let mut child = Command::new(&exe)
            .args([
                "durability::fit_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(FIT_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("re-exec the test binary");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        lines
            .by_ref()
            .map(|l| l.unwrap())
            .find(|l| l.contains("training"))
            .expect("the child started training");
        // Kill it somewhere in its run: a whole run in the child takes
        // about `one_run` or more (it shares the CPU with this process).
        let at = one_run.mul_f64(0.2 + 1.3 * rng.uniform_f64());
        std::thread::sleep(at);
        child.kill().unwrap();
        child.wait().unwrap();
        // Whatever survived (possibly nothing, possibly the finished run)
        // must resume to exactly the uninterrupted result.
        let epoch = if path.exists() {
            let c = nn_train::Checkpoint::<f32>::load(&path)
                .unwrap_or_else(|e| panic!("round {round}: surviving checkpoint: {e}"));
            c.metadata["epoch"].clone()
        } else {
            "none".to_string()
        };
        // Resumed, all weights must come from the file (other initial
        // weights); killed before its first checkpoint, it starts over.
        let resume = path.exists();
        let m = training::model(if resume { 1234 } else { 8 });
        training::run(&m, FIT_EPOCHS, Some(&path), resume);
        assert_eq!(
            training::weights(&m),
            want,
            "round {round}: resumed from epoch {epoch}, the final weights differ"
        );
        resumed_from.push(epoch);
    }
    eprintln!("one run {one_run:.1?}; resumed from epochs {resumed_from:?}");
    let mid_run = |e: &String| e.parse::<usize>().is_ok_and(|e| e > 0 && e < FIT_EPOCHS);
    assert!(
        resumed_from.iter().any(mid_run),
        "no kill landed in the middle of training: {resumed_from:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
