//! Runs the reference workloads and prints one JSON line per result.
//!
//! usage: `workloads [--threads T] NAME...` where NAME is a workload
//! (`W1_gemm_512`) or a family (`W1`); `workloads --list` lists them.
//!
//! The process is run as a user's program would be: no allocator tuning,
//! no environment of its own (the library reuses its large buffers itself).

use std::process::ExitCode;

use nn_bench::report::json_line;
use nn_bench::timing::{measure, Summary};
use nn_bench::workload::{registry, select};

const USAGE: &str = "usage: workloads [--threads T] NAME... | workloads --list
  NAME is a workload (W1_gemm_512) or a family (W1); results go to stdout
  as one JSON line each, progress to stderr.";

fn main() -> ExitCode {
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
