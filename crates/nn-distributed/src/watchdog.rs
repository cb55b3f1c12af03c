//! [`Watchdog`]: a timer on collectives, so a job whose peer hangs ends
//! with a message instead of waiting forever.
//!
//! MPI notices a peer that *exits* (mpirun then ends the job), but not one
//! that hangs in its own code or calls a different collective: the others
//! would wait inside MPI for ever. Each collective runs under a
//! [`WatchGuard`]; a background thread checks a few times a second whether
//! the collective in progress is older than the limit, and if so calls the
//! expiry action (for MPI: print which rank waited in which operation, and
//! abort the job).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the watchdog does when a collective overruns: it gets the
/// operation's name and how long it has waited.
pub type ExpiryAction = Box<dyn Fn(&'static str, Duration) + Send>;

struct State {
    /// Milliseconds since `epoch` when the collective in progress started, plus one; 0 when idle.
    started_ms: AtomicU64,
    op: Mutex<&'static str>,
    epoch: Instant,
    stop: AtomicBool,
}

/// A timer on collectives; see the module docs. Dropping it stops its thread.
pub struct Watchdog {
    state: Arc<State>,
    limit: Duration,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts the watchdog thread: `on_expiry` runs (once) when a guarded
    /// operation lasts longer than `limit`.
    pub fn start(limit: Duration, on_expiry: ExpiryAction) -> Watchdog {
        let state = Arc::new(State {
            started_ms: AtomicU64::new(0),
            op: Mutex::new(""),
            epoch: Instant::now(),
            stop: AtomicBool::new(false),
        });
        let watched = Arc::clone(&state);
        // Check ten times per limit, but at least every second and at most
        // every 10 ms, so a short test limit is honoured promptly and a long
        // one costs nothing.
        let tick = (limit / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let thread = std::thread::Builder::new()
            .name("nn-distributed-watchdog".into())
            .spawn(move || {
                while !watched.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    let started = watched.started_ms.load(Ordering::Acquire);
                    if started == 0 {
                        continue;
                    }
                    let now = watched.epoch.elapsed().as_millis() as u64 + 1;
                    let waited = Duration::from_millis(now.saturating_sub(started));
                    if waited > limit {
                        let op = *watched.op.lock().unwrap_or_else(|e| e.into_inner());
                        on_expiry(op, waited);
                        return;
                    }
                }
            })
            .expect("spawning the watchdog thread");
        Watchdog {
            state,
            limit,
            thread: Some(thread),
        }
    }

    /// The longest a guarded operation may last.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// Times operation `op` until the guard is dropped.
    pub fn guard(&self, op: &'static str) -> WatchGuard<'_> {
        *self.state.op.lock().unwrap_or_else(|e| e.into_inner()) = op;
        let now = self.state.epoch.elapsed().as_millis() as u64 + 1;
        self.state.started_ms.store(now, Ordering::Release);
        WatchGuard { watchdog: self }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Marks an operation in progress; from [`Watchdog::guard`].
pub struct WatchGuard<'a> {
    watchdog: &'a Watchdog,
}

impl Drop for WatchGuard<'_> {
    fn drop(&mut self) {
        self.watchdog.state.started_ms.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn an_overrunning_operation_fires_and_a_quick_one_does_not() {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let w = Watchdog::start(
            Duration::from_millis(100),
            Box::new(move |op, waited| {
                let _ = tx.lock().unwrap().send((op, waited));
            }),
        );
        for _ in 0..3 {
            let _quick = w.guard("quick");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(rx.try_recv().is_err());
        let _slow = w.guard("all_gather");
        let (op, waited) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(op, "all_gather");
        assert!(waited > Duration::from_millis(100));
    }
}
