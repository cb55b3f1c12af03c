//! # nn-bench
//!
//! The reference workloads of the shared benchmark README (`W1`–`W7`), timed
//! the same way as the PyTorch side so `compare.py` can put the two next to
//! each other, plus criterion micro-benchmarks named after the workloads.
//!
//! * [`workload`]: what a workload is, the registry of every implemented one,
//!   and how names on the command line select them;
//! * [`timing`]: the README's timing method (warm-up, calibration to ≥ 0.3 s
//!   per sample, median / best / worst of a fixed number of samples);
//! * [`report`]: one JSON line per result, in the README's format;
//! * one module per workload family: [`w1_gemm`], [`w2_mlp`], [`w3_lenet`],
//!   [`w4_conv`], [`w5_lstm`], [`w6_transformer`], [`w7_vae`], and
//!   [`w8_ddp`] (timed by the `w8_ddp` binary under mpirun, feature `distributed`).
//!
//! Adding a family (say W3) means one module with a `workloads()` function
//! and one line in [`workload::registry`].
//!
//! ```
//! use nn_bench::workload::select;
//! let picked = select(&["W1_gemm_128".to_string()]).unwrap();
//! assert_eq!(picked[0].name, "W1_gemm_128");
//! ```

#![warn(missing_docs)]
// One FFI call (`timing::cpu_seconds`) is allowed where it stands.
#![deny(unsafe_code)]

pub mod phase_clock;
pub mod report;
pub mod step_profile;
pub mod timing;
pub mod w1_gemm;
pub mod w2_mlp;
pub mod w3_lenet;
pub mod w4_conv;
pub mod w5_lstm;
pub mod w6_transformer;
pub mod w7_vae;
pub mod w8_ddp;
pub mod workload;

pub use workload::{registry, select, Workload};
