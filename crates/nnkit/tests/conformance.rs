//! # The PyTorch conformance suite
//!
//! Runs every PyTorch-generated case of `shared/fixtures` (format, layouts
//! and formulas in that folder's `README.md`) through the library's public
//! API, in f64 and in f32, and compares every output and every gradient:
//!
//! ```text
//! cargo test --release -p nnkit --test conformance -- --nocapture
//! NN_FIXTURES=/path/to/fixtures cargo test --release -p nnkit --test conformance -- --nocapture
//! ```
//!
//! The folder is `$NN_FIXTURES`, or `../shared/fixtures` next to the
//! workspace root. If it does not exist the suite says so and passes (CI
//! always has it; a clone elsewhere may not).
//!
//! ## What is checked
//! For each case of a family that has a runner, once in f64 and once in f32
//! (the f64 inputs cast to f32):
//! * every entry of `outputs` is compared with
//!   `err = max|got − ref| / max(1, max|ref|)`, which must be ≤ 1e-9 in f64
//!   and ≤ 1e-4 in f32;
//! * the backward pass is seeded through `J = Σ_k Σ_i out_k[i]·grad_outputs[k][i]`,
//!   and the gradient of every input named in `grads` is compared the same
//!   way. Each input is one var, so an input used in several roles gets the
//!   sum of its gradients, as in PyTorch.
//!
//! An output or gradient that is missing, has the wrong shape or is not
//! finite fails the case; so does an `Err` or a panic in the forward or
//! backward pass. A family is implemented only when all its cases run: a
//! runner never skips a case, it fails it.
//!
//! The report is one line per family, `family NAME passed P of N` or
//! `family NAME not implemented (N cases)` (failing cases listed under their
//! family with the tensor and error), then last
//! `conformance: families_implemented=K of T cases_passed=P cases_failed=F`.
//! The test fails if any case of an implemented family fails.
//!
//! ## Adding a family
//! 1. Pick the module under `tests/conformance/` whose concept fits (or add
//!    a new file `tests/conformance/<concept>.rs` and list it in the
//!    `mod conformance` block and in [`registry`] below: two lines).
//! 2. Write the forward pass as a [`Runner`]:
//!    `fn conv2d<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String>`.
//!    Fetch inputs with `c.var("x")?` (float inputs, already leaves when they
//!    have a reference gradient), `c.tensor(..)` for constants,
//!    `c.indices(..)` for int64 targets; read *every* hyper-parameter from
//!    `params` (`c.param_f`, `c.param_usize`, `c.param_bool`, `c.param_str`,
//!    `c.param_dims`, `c.reduction()`, or `c.param(..)` for raw JSON), never
//!    from the case name: other cases with other values are run too.
//!    Return every output under its fixture name (`output("y", y)`, or build
//!    an `Outputs` map for several).
//! 3. Add `("conv2d", conv2d::<T>)` to the module's `runners()` list.
//!
//! Nothing else changes: loading, casting, seeding the backward pass,
//! comparing and reporting live in `tests/conformance/common.rs`. Outputs
//! without a `grad_outputs` entry (running statistics, shapes, optimiser
//! results) are compared but not differentiated, so families without
//! autograd just return constant vars.

mod conformance {
    pub mod arithmetic;
    pub mod attention;
    pub mod common;
    pub mod conv;
    pub mod elementwise;
    pub mod generative;
    pub mod graph;
    pub mod layers;
    pub mod losses;
    pub mod optim;
    pub mod rnn;
}

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use conformance::common::{load_dir, run_case, Case, Mismatch, Precision, Runner};
use nnkit::tensor::Element;

const F64: Precision = Precision {
    label: "f64",
    tolerance: 1e-9,
};
const F32: Precision = Precision {
    label: "f32",
    tolerance: 1e-4,
};

/// Every implemented family and its runner.
fn registry<T: Element>() -> BTreeMap<&'static str, Runner<T>> {
    let mut families = BTreeMap::new();
    for module in [
        conformance::elementwise::runners::<T>(),
        conformance::arithmetic::runners::<T>(),
        conformance::losses::runners::<T>(),
        conformance::generative::runners::<T>(),
        conformance::layers::runners::<T>(),
        conformance::optim::runners::<T>(),
        conformance::conv::runners::<T>(),
        conformance::rnn::runners::<T>(),
        conformance::attention::runners::<T>(),
        conformance::graph::runners::<T>(),
    ] {
        for (name, runner) in module {
            assert!(
                families.insert(name, runner).is_none(),
                "family {name} has two runners"
            );
        }
    }
    families
}

fn fixtures_dir() -> PathBuf {
    match std::env::var_os("NN_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        // crates/nnkit → crates → workspace root → its parent, which holds `shared/`.
        None => {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            match manifest.ancestors().nth(3) {
                Some(outside) => outside.join("shared/fixtures"),
                None => manifest.join("../../../shared/fixtures"),
            }
        }
    }
}

fn print_mismatches(case: &str, mismatches: &[Mismatch]) {
    for m in mismatches {
        println!(
            "  FAILED {case} [{}] {}: {}",
            m.precision, m.tensor, m.detail
        );
    }
}

#[test]
fn pytorch_conformance() {
    let dir = fixtures_dir();
    if !dir.is_dir() {
        println!(
            "conformance: fixtures folder {} not found (set NN_FIXTURES to run the suite); nothing checked",
            dir.display()
        );
        return;
    }
    let loaded =
        load_dir(&dir).unwrap_or_else(|e| panic!("conformance: cannot list fixtures: {e}"));

    let mut families: BTreeMap<String, Vec<Case>> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for (path, case) in loaded {
        match case {
            Ok(case) => families.entry(case.op.clone()).or_default().push(case),
            Err(e) => unreadable.push((path, e)),
        }
    }
    for (path, e) in &unreadable {
        println!("fixture {} unreadable: {e}", path.display());
    }

    let (runners64, runners32) = (registry::<f64>(), registry::<f32>());
    let (mut implemented, mut passed, mut failed) = (0, 0, unreadable.len());
    let mut failing = Vec::new();
    for (family, cases) in &families {
        let (Some(&r64), Some(&r32)) = (
            runners64.get(family.as_str()),
            runners32.get(family.as_str()),
        ) else {
            println!("family {family} not implemented ({} cases)", cases.len());
            continue;
        };
        implemented += 1;
        let mut report = Vec::new();
        for case in cases {
            let mut mismatches = run_case(case, r64, F64);
            mismatches.extend(run_case(case, r32, F32));
            if mismatches.is_empty() {
                passed += 1;
            } else {
                report.push((case.name.as_str(), mismatches));
            }
        }
        println!(
            "family {family} passed {} of {}",
            cases.len() - report.len(),
            cases.len()
        );
        for (name, mismatches) in &report {
            print_mismatches(name, mismatches);
            failing.push(name.to_string());
        }
        failed += report.len();
    }
    println!(
        "conformance: families_implemented={implemented} of {} cases_passed={passed} cases_failed={failed}",
        families.len()
    );
    assert!(
        failing.is_empty() && unreadable.is_empty(),
        "conformance: {failed} case(s) failed: {failing:?}{}",
        if unreadable.is_empty() {
            String::new()
        } else {
            format!(", {} fixture file(s) unreadable", unreadable.len())
        }
    );
}
