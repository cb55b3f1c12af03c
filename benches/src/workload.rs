//! What a workload is, which ones exist, and how command-line names pick them.

use std::fmt;

use crate::timing::TimingPlan;

/// One timed call of a workload (a GEMM, a training step, …).
pub type Step = Box<dyn FnMut()>;

/// A named, timed piece of work and the metric it reports.
pub struct Workload {
    /// The README's name, e.g. `W1_gemm_512` or `W2_mlp`.
    pub name: String,
    /// The unit of the reported rate, e.g. `GFLOP/s` or `samples/s`.
    pub metric: &'static str,
    /// How many metric units one call does (GFLOP per GEMM, samples per step).
    pub units_per_call: f64,
    /// Warm-up, target sample length and sample count.
    pub plan: TimingPlan,
    /// Builds the data and model and returns the call to time. Runs only
    /// for selected workloads, after the thread count is set.
    pub setup: Box<dyn Fn() -> Step>,
}

impl Workload {
    /// A workload that builds its state with `new` and times `step` on it
    /// (a training step), with the usual sample length and count and
    /// `warmup` untimed calls first.
    pub fn repeated<S: 'static, R: 'static>(
        name: &str,
        metric: &'static str,
        units_per_call: f64,
        warmup: usize,
        new: fn() -> S,
        step: fn(&mut S) -> R,
    ) -> Self {
        Workload {
            name: name.to_string(),
            metric,
            units_per_call,
            plan: TimingPlan {
                warmup,
                target_seconds: crate::timing::TARGET_SECONDS,
                samples: 5,
            },
            setup: Box::new(move || {
                let mut state = new();
                Box::new(move || {
                    std::hint::black_box(step(&mut state));
                })
            }),
        }
    }

    /// The family, the part of the name before the first `_` (`W1`).
    pub fn family(&self) -> &str {
        self.name.split('_').next().unwrap_or(&self.name)
    }
}

impl fmt::Debug for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Workload({}, {})", self.name, self.metric)
    }
}

/// Every implemented workload, in the README's order. A new family is one
/// module with a `workloads()` function and one line here.
pub fn registry() -> Vec<Workload> {
    let mut all = Vec::new();
    all.extend(crate::w1_gemm::workloads());
    all.extend(crate::w2_mlp::workloads());
    all.extend(crate::w3_lenet::workloads());
    all.extend(crate::w4_conv::workloads());
    all.extend(crate::w5_lstm::workloads());
    all.extend(crate::w6_transformer::workloads());
    all.extend(crate::w7_vae::workloads());
    all
}

/// A name that matches no implemented workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownWorkload {
    /// The name as given.
    pub name: String,
    /// Every implemented workload name.
    pub known: Vec<String>,
}

impl fmt::Display for UnknownWorkload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown workload {:?}; known workloads: {} (a family name such as W1 selects all of its workloads)",
            self.name,
            self.known.join(", ")
        )
    }
}

impl std::error::Error for UnknownWorkload {}

/// The workloads named by `names`, in registry order without repeats. A name
/// is an exact workload name or a prefix ending at an `_` boundary (`W1`
/// selects `W1_gemm_128` … `W1_gemm_2048`); case does not matter. An exact
/// match wins over a prefix match, so `W4_conv_fwd` does not also pick
/// `W4_conv_fwd_bwd`.
pub fn select(names: &[String]) -> Result<Vec<Workload>, UnknownWorkload> {
    let all = registry();
    let mut keep = vec![false; all.len()];
    for name in names {
        let want = name.to_ascii_lowercase();
        let lower: Vec<String> = all.iter().map(|w| w.name.to_ascii_lowercase()).collect();
        let exact: Vec<usize> = (0..all.len()).filter(|&i| lower[i] == want).collect();
        let hits = if exact.is_empty() {
            (0..all.len())
                .filter(|&i| {
                    lower[i]
                        .strip_prefix(&want)
                        .is_some_and(|rest| rest.starts_with('_'))
                })
                .collect()
        } else {
            exact
        };
        if hits.is_empty() {
            return Err(UnknownWorkload {
                name: name.clone(),
                known: all.iter().map(|w| w.name.clone()).collect(),
            });
        }
        for i in hits {
            keep[i] = true;
        }
    }
    Ok(all
        .into_iter()
        .zip(keep)
        .filter_map(|(w, k)| k.then_some(w))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[Workload]) -> Vec<&str> {
        v.iter().map(|w| w.name.as_str()).collect()
    }

    #[test]
    fn a_family_selects_all_its_workloads_in_order() {
        let v = select(&["w2".into(), "W1".into(), "W1_gemm_128".into()]).unwrap();
        assert_eq!(
            names(&v),
            [
                "W1_gemm_128",
                "W1_gemm_256",
                "W1_gemm_512",
                "W1_gemm_1024",
                "W1_gemm_2048",
                "W2_mlp"
            ]
        );
        assert!(v.iter().all(|w| w.family() == "W1" || w.family() == "W2"));
    }

    #[test]
    fn partial_names_do_not_match_inside_a_word() {
        // `W1_gemm_1` is not a prefix at an `_` boundary of `W1_gemm_128`.
        let e = select(&["W1_gemm_1".into()]).unwrap_err();
        assert_eq!(e.name, "W1_gemm_1");
        let msg = e.to_string();
        assert!(msg.contains("known workloads: W1_gemm_128, "), "{msg}");
        assert!(msg.contains("W2_mlp"), "{msg}");
    }

    #[test]
    fn unknown_family_is_an_error() {
        assert!(select(&["W9".into()]).is_err());
    }
}
