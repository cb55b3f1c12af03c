//! Checks the course's complexity table by measurement: time of one layer
//! (forward and backward) against sequence length `n`, for an LSTM and a
//! self-attention layer of the same width `d`.
//!
//! `cargo run --release -p nnkit --example attention_complexity -- [--d D] [--batch B] [--max-len N] [--seed N]`
//!
//! | layer          | cost per layer | sequential operations | maximum path length |
//! |----------------|----------------|-----------------------|---------------------|
//! | self-attention | O(n²·d)        | O(1)                  | O(1)                |
//! | recurrent      | O(n·d²)        | O(n)                  | O(n)                |
//! | convolutional  | O(k·n·d²)      | O(1)                  | O(log_k n)          |
//!
//! The LSTM's time should double with `n` (linear, and n steps one after
//! another); attention's should double while `n < d` (its projections,
//! O(n·d²), dominate) and then quadruple (the n×n scores, O(n²·d)). Each
//! time is the fastest of several repetitions on one thread, which is the
//! figure least disturbed by other work on the machine; on Linux it is CPU
//! time, not wall time, so a busy machine does not distort it.
//!
//! Prints a Markdown table, then one JSON line.

mod common;

use std::time::Instant;

use nnkit::attention::MultiHeadAttentionConfig;
use nnkit::prelude::*;
use nnkit::rnn::LstmConfig;
use serde_json::json;

/// CPU time used so far by the whole process, in nanoseconds
/// (`clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`); `None` off Linux.
#[cfg(target_os = "linux")]
fn cpu_ns() -> Option<u64> {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec (two 64-bit fields on
    // 64-bit Linux) into the valid, exclusively borrowed `ts`.
    let ok = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) } == 0;
    ok.then(|| ts.sec as u64 * 1_000_000_000 + ts.nsec as u64)
}

#[cfg(not(target_os = "linux"))]
fn cpu_ns() -> Option<u64> {
    None
}

/// The fastest of `reps` runs of `f`, in milliseconds of CPU time where the
/// system reports it (a busy machine preempts long runs, which inflates wall
/// time but not CPU time), else of wall time.
fn best_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up: allocations, caches
    (0..reps)
        .map(|_| {
            let (t, c) = (Instant::now(), cpu_ns());
            f();
            match (c, cpu_ns()) {
                (Some(a), Some(b)) => (b - a) as f64 * 1e-6,
                _ => t.elapsed().as_secs_f64() * 1e3,
            }
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let args = common::Args::parse("attention_complexity", &["d", "batch", "max-len"]);
    let d: usize = args.get("d", 64);
    let batch: usize = args.get("batch", 4);
    let max_len: usize = args.get("max-len", 1024);
    nnkit::tensor::set_num_threads(1);
    let mut rng = Rng::seed_from(args.seed());

    let lstm = LstmConfig::new(d, d)
        .with_batch_first(true)
        .init::<f32>(&mut rng)
        .expect("positive sizes");
    let mha = MultiHeadAttentionConfig::new(d, 4)
        .init::<f32>(&mut rng)
        .expect("4 heads divide d");

    println!("| n | LSTM ms | ×prev | self-attention ms | ×prev | attention / LSTM |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    let (mut prev_l, mut prev_a) = (f64::NAN, f64::NAN);
    let mut n = 16;
    while n <= max_len {
        let x = Var::leaf(Tensor::<f32>::rand_uniform(
            &[batch, n, d],
            -1.0,
            1.0,
            &mut rng,
        ));
        let reps = if n <= 128 { 7 } else { 3 };
        let lstm_ms = best_ms(reps, || {
            let (y, _) = lstm.forward(&x, None);
            std::hint::black_box(y.sum().backward());
        });
        let attn_ms = best_ms(reps, || {
            let (y, _) = mha.forward(&x, &x, &x, None, None, false);
            std::hint::black_box(y.sum().backward());
        });
        println!(
            "| {n} | {lstm_ms:.2} | {:.2} | {attn_ms:.2} | {:.2} | {:.2} |",
            lstm_ms / prev_l,
            attn_ms / prev_a,
            attn_ms / lstm_ms
        );
        rows.push(json!({"n": n, "lstm_ms": lstm_ms, "attention_ms": attn_ms}));
        (prev_l, prev_a) = (lstm_ms, attn_ms);
        n *= 2;
    }
    println!(
        "{}",
        json!({
            "example": "attention_complexity",
            "d": d,
            "batch": batch,
            "threads": 1,
            "rows": rows,
        })
    );
}
