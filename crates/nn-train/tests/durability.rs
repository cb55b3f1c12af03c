//! Durability of checkpoints: a process killed (SIGKILL) at a random moment
//! while it saves checkpoints leaves the file holding either the previous
//! or the new checkpoint, complete and loadable, never a torn one.
//!
//! The writer is this same test binary, re-executed with
//! `NN_DURABILITY_WRITER=<path>` so that only the `writer_process` entry
//! point runs, in a child process the parent can kill.

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
                "writer_process",
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
