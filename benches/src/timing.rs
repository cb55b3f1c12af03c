//! The timing method shared with `torch_bench.py`.
//!
//! A few untimed warm-up calls; then the number of calls per sample grows
//! until one sample lasts at least the target time; then a fixed number of
//! samples. Each sample gives a time per call; they are returned sorted so
//! the median, best and worst can be read off.

use std::time::Instant;

/// Seconds one sample must last at least (the README's 0.3 s).
pub const TARGET_SECONDS: f64 = 0.3;

/// How a workload is timed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimingPlan {
    /// Untimed calls before calibration.
    pub warmup: usize,
    /// Minimum length of one sample, in seconds.
    pub target_seconds: f64,
    /// Number of samples kept.
    pub samples: usize,
}

/// Times `step` by `plan` and returns the seconds per call of every sample,
/// fastest first.
pub fn measure(step: &mut dyn FnMut(), plan: TimingPlan) -> Vec<f64> {
    for _ in 0..plan.warmup {
        step();
    }
    let run = |step: &mut dyn FnMut(), calls: usize| {
        let t = Instant::now();
        for _ in 0..calls {
            step();
        }
        t.elapsed().as_secs_f64()
    };
    let mut calls = 1usize;
    loop {
        let e = run(step, calls);
        if e >= plan.target_seconds {
            break;
        }
        calls = next_calls(calls, e, plan.target_seconds);
    }
    let mut per_call: Vec<f64> = (0..plan.samples.max(1))
        .map(|_| run(step, calls) / calls as f64)
        .collect();
    per_call.sort_by(f64::total_cmp);
    per_call
}

/// The median seconds per call of `step` timed by `plan`, for examples that
/// compare or subtract phases rather than report a rate.
pub fn median_seconds(step: &mut dyn FnMut(), plan: TimingPlan) -> f64 {
    let per_call = measure(step, plan);
    per_call[per_call.len() / 2]
}

/// The next number of calls per sample after `calls` took `elapsed`
/// seconds: aim 10 % past the target, at least doubling, at most ×100
/// (the same rule as the PyTorch side).
pub fn next_calls(calls: usize, elapsed: f64, target: f64) -> usize {
    let aimed = (calls as f64 * target / elapsed.max(1e-9) * 1.1) as usize;
    (calls * 100).min(aimed.max(calls * 2))
}

/// Median, best and worst of a workload's metric (higher is better).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// The metric of the median sample.
    pub median: f64,
    /// The metric of the fastest sample.
    pub best: f64,
    /// The metric of the slowest sample.
    pub worst: f64,
    /// Milliseconds per call of the median sample.
    pub median_ms_per_call: f64,
}

impl Summary {
    /// Turns sorted seconds-per-call into a rate of `units_per_call` per
    /// second (e.g. GFLOP per call, or samples per call).
    ///
    /// ```
    /// use nn_bench::timing::Summary;
    /// let s = Summary::from_sorted(&[0.5, 1.0, 2.0], 10.0);
    /// assert_eq!((s.best, s.median, s.worst), (20.0, 10.0, 5.0));
    /// ```
    pub fn from_sorted(per_call: &[f64], units_per_call: f64) -> Summary {
        assert!(!per_call.is_empty(), "Summary::from_sorted: no samples");
        let med = per_call[per_call.len() / 2];
        Summary {
            median: units_per_call / med,
            best: units_per_call / per_call[0],
            worst: units_per_call / per_call[per_call.len() - 1],
            median_ms_per_call: med * 1e3,
        }
    }
}

/// User plus system CPU seconds of this process so far: what the
/// side-by-side benchmarks time, since other processes on a shared machine
/// disturb it less than wall-clock time.
#[allow(unsafe_code)]
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes one `rusage` into the zeroed value.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_grows_at_least_twofold_and_at_most_hundredfold() {
        assert_eq!(next_calls(10, 0.29, 0.3), 20);
        assert_eq!(next_calls(1, 1e-7, 0.3), 100);
        assert_eq!(next_calls(100, 0.01, 0.3), 3300);
    }

    #[test]
    fn measure_reaches_the_target_and_sorts() {
        let mut n = 0u64;
        let plan = TimingPlan {
            warmup: 2,
            target_seconds: 0.01,
            samples: 3,
        };
        let v = measure(
            &mut || {
                n += 1;
                std::thread::sleep(std::time::Duration::from_micros(200));
            },
            plan,
        );
        assert_eq!(v.len(), 3);
        assert!(v.windows(2).all(|w| w[0] <= w[1]));
        assert!(v[0] >= 150e-6, "{v:?}");
        assert!(n > 2 + 3 * 10);
    }
}
