//! How many threads the library uses, and when work is big enough to split.
//!
//! Splitting is decided by element count only, never by the thread count,
//! and reductions combine fixed-size chunks in a fixed order, so results are
//! bit-identical whatever the number of threads.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Element-wise work below this many elements stays on the calling thread:
/// measured on the reference machine, spawning rayon tasks costs more than it
/// saves below about 32k f32 additions.
pub const PARALLEL_THRESHOLD: usize = 1 << 15;

/// Chunk length for parallel element-wise loops and reductions. Fixed so the
/// order in which partial sums combine never depends on the thread count.
pub const CHUNK: usize = 1 << 13;

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets the number of threads for rayon work and GEMM. Call it once, early,
/// before any parallel work (rayon's global pool can be built only once);
/// later calls only change the GEMM thread count.
///
/// ```
/// nn_tensor::set_num_threads(1);
/// assert_eq!(nn_tensor::num_threads(), 1);
/// ```
pub fn set_num_threads(n: usize) {
    let n = n.max(1);
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global();
    THREADS.store(n, Ordering::Relaxed);
}

/// True when element-wise work over `len` elements should be split over
/// rayon. Never with one thread: handing work to a one-thread pool from the
/// caller's thread costs a futex round trip per op (about 6 % of an MLP
/// training step) and gains nothing. Chunking stays the same either way, so
/// results do not depend on this choice.
pub(crate) fn split_work(len: usize) -> bool {
    len >= PARALLEL_THRESHOLD && num_threads() > 1
}

/// The number of threads in use (the rayon pool's size unless set lower).
pub fn num_threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => rayon::current_num_threads(),
        n => n.min(rayon::current_num_threads()).max(1),
    }
}
