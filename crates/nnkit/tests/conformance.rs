//! # The PyTorch conformance suite
//!
//! Runs every PyTorch-generated case of `fixtures/pytorch` (format, layouts
//! and formulas in that folder's `README.md`) through the library's public
//! API, in f64 and in f32, and compares every output and every gradient:
//!
//! ```text
//! cargo test --release -p nnkit --test conformance -- --nocapture
//! NN_FIXTURES=/path/to/fixtures cargo test --release -p nnkit --test conformance -- --nocapture
//! ```
//!
//! ## Which cases, and when the suite fails
//! By default the cases are the ones checked in at `fixtures/pytorch`, and
//! its `manifest.txt` lists every family with its number of cases. The
//! suite fails unless each listed family has a runner and exactly that many
//! of its cases ran and passed, and unless every case file belongs to a
//! listed family. `NN_FIXTURES=DIR` runs the cases of another folder of the
//! same format instead (other shapes, seeds and hyper-parameters, e.g.
//! written by `tools/fixtures/generate.py`; no manifest): every case there
//! runs, and a
//! family without a runner fails. Either way a missing folder, or one with
//! no case, fails: the suite never passes having checked nothing.
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
//! `conformance: families_implemented=K of T cases_passed=P cases_failed=F`,
//! where T counts the families of the folder.
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
//! 4. Check the family's cases in: copy its `*.json` files into
//!    `fixtures/pytorch/` and add the line `conv2d 5` (family, number of
//!    cases) to `fixtures/pytorch/manifest.txt`, in alphabetical order.
//!    Without that line the suite fails on the unlisted cases; with it, it
//!    fails until every case runs and passes.
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
    // Panics on a missing folder or one without a case.
    let dir = nn_testkit::fixtures::dir();
    let manifest = nn_testkit::fixtures::manifest();
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
    // What should have run and did not: with the repository's manifest,
    // every listed family with exactly its listed cases and nothing
    // unlisted; with another folder, every family it holds.
    let mut missing = Vec::new();
    if let Some(listed) = &manifest {
        for (family, &count) in listed {
            let found = families.get(family).map_or(0, Vec::len);
            if found != count {
                missing.push(format!(
                    "manifest lists {count} `{family}` case(s), the folder holds {found}"
                ));
            }
        }
        for (family, cases) in &families {
            if !listed.contains_key(family) {
                missing.push(format!(
                    "{} `{family}` case(s) not in the manifest {}",
                    cases.len(),
                    dir.join(nn_testkit::fixtures::MANIFEST).display()
                ));
            }
        }
    }
    for family in families.keys() {
        if !runners64.contains_key(family.as_str()) {
            missing.push(format!("family `{family}` has no runner"));
        }
    }
    assert!(
        missing.is_empty(),
        "conformance: cases that did not run:\n  {}",
        missing.join("\n  ")
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
