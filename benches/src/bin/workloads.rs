//! Runs the reference workloads and prints one JSON line per result.
//!
//! usage: `workloads [--threads T] NAME...` where NAME is a workload
//! (`W1_gemm_512`) or a family (`W1`); `workloads --list` lists them.

use std::process::ExitCode;

use nn_bench::report::json_line;
use nn_bench::timing::{measure, Summary};
use nn_bench::workload::{registry, select};

const USAGE: &str = "usage: workloads [--threads T] NAME... | workloads --list
  NAME is a workload (W1_gemm_512) or a family (W1); results go to stdout
  as one JSON line each, progress to stderr.";

/// Keeps freed heap memory in the process instead of returning it to the
/// kernel. A training step allocates and frees dozens of 0.1–1 MB buffers;
/// with glibc's defaults those above the mmap threshold, and the top of the
/// heap past the trim threshold, go back to the kernel on every free and are
/// page-faulted in again on the next step. On W6 that was half of the step
/// (kernel time in `exc_page_fault`, `unmap_page_range`). The same settings
/// are available to any program without code through the environment:
/// `MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967295`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    // glibc's <malloc.h>: M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3.
    const M_TRIM_THRESHOLD: i32 = -1;
    const M_MMAP_THRESHOLD: i32 = -3;
    // SAFETY: mallopt only changes allocator tunables; it is called before
    // any other thread exists. 32 MiB is glibc's largest mmap threshold.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TRIM_THRESHOLD, i32::MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

fn main() -> ExitCode {
    keep_freed_memory();
    let mut threads: Option<usize> = None;
    let mut names = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" | "-t" => {
                let v = args.next().unwrap_or_default();
                match v.parse::<usize>() {
                    Ok(t) if t >= 1 => threads = Some(t),
                    _ => return fail(&format!("--threads needs a count >= 1, got {v:?}")),
                }
            }
            "--list" => {
                for w in registry() {
                    println!("{}\t{}", w.name, w.metric);
                }
                return ExitCode::SUCCESS;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            s if s.starts_with('-') => return fail(&format!("unknown option {s}")),
            _ => names.push(a),
        }
    }
    if names.is_empty() {
        return fail("no workload named");
    }
    let picked = match select(&names) {
        Ok(p) => p,
        Err(e) => return fail(&e.to_string()),
    };
    // Before anything touches rayon: its global pool is built only once.
    let threads = threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    nn_tensor::set_num_threads(threads);
    for w in picked {
        let mut step = (w.setup)();
        let per_call = measure(&mut *step, w.plan);
        let s = Summary::from_sorted(&per_call, w.units_per_call);
        eprintln!(
            "{:16} t={threads} {:10} median {:12.2} (best {:.2}, worst {:.2}; {:.3} ms/call)",
            w.name, w.metric, s.median, s.best, s.worst, s.median_ms_per_call
        );
        println!("{}", json_line(&w.name, threads, w.metric, &s));
    }
    ExitCode::SUCCESS
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("workloads: {msg}\n{USAGE}");
    ExitCode::from(2)
}
