//! Per-phase clocks for the profiling examples (`w2_profile`, `w7_profile`,
//! through [`crate::step_profile`]):
//! the calling thread's CPU time, which other jobs on a shared machine do not
//! inflate, next to wall time.

use std::time::Instant;

/// CPU time of the calling thread in seconds, from Linux's
/// `/proc/thread-self/schedstat` (0 where that file is missing).
pub fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns * 1e-9)
}

/// Accumulated CPU and wall seconds of one phase.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct PhaseClock {
    /// Thread CPU seconds.
    pub cpu: f64,
    /// Wall-clock seconds.
    pub wall: f64,
}

impl PhaseClock {
    /// Runs `f`, adds its CPU and wall time to this clock, and returns what
    /// `f` returned.
    ///
    /// ```
    /// let mut clock = nn_bench::phase_clock::PhaseClock::default();
    /// let x = clock.time(|| {
    ///     std::thread::sleep(std::time::Duration::from_millis(5));
    ///     7
    /// });
    /// assert_eq!(x, 7);
    /// assert!(clock.wall >= 0.005);
    /// ```
    pub fn time<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let (c, w) = (thread_cpu_seconds(), Instant::now());
        let out = f();
        self.cpu += thread_cpu_seconds() - c;
        self.wall += w.elapsed().as_secs_f64();
        out
    }
}

/// The median of `v` (the upper one for an even length).
///
/// # Panics
/// If `v` is empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "median: no values");
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
