//! A per-thread cache of the kernels' large temporary buffers, so a training
//! step reuses the memory of the previous one instead of asking the system
//! for it again.
//!
//! A training step allocates and frees the same large temporaries every
//! time: the column matrices and padded copies of a convolution, the gate
//! caches of a recurrence, the per-head buffers of attention. glibc's
//! `malloc` gives such blocks back to the kernel when they are freed (above
//! its mmap threshold, or at the top of the heap past its trim threshold),
//! so the next step page-faults them in again and zeroes them. The kernels
//! take those temporaries from here and hand them back when done, so after
//! the first step the memory stays warm in the process, without any
//! allocator setting. (Tensors' own storage is not pooled.)
//!
//! The cache keeps only what is asked for again: every [`take`] leaves a
//! ticket for its length, and a freed buffer is kept only when it fits a
//! ticket (which it uses up), so storage allocated elsewhere does not pile
//! up. It is bounded ([`MAX_CACHED_BYTES`] and [`MAX_TICKETS`] per thread,
//! buffers of at least [`MIN_BYTES`]; smaller ones are served well by
//! `malloc`'s own bins), the oldest going first. It holds no live data: only
//! freed storage waiting to be reused.

use std::any::Any;
use std::cell::RefCell;
use std::thread::LocalKey;

use crate::simd::is_f32;
use crate::Element;

/// Buffers smaller than this are left to the system allocator.
pub const MIN_BYTES: usize = 64 << 10;
/// At most this many bytes are kept per thread.
pub const MAX_CACHED_BYTES: usize = 64 << 20;
/// At most this many recent requests are remembered per thread.
pub const MAX_TICKETS: usize = 256;

/// The freed buffers of one element type, oldest first.
struct Cache<T> {
    buffers: Vec<Vec<T>>,
    bytes: usize,
    /// Lengths recently asked for, oldest first.
    tickets: Vec<usize>,
}

impl<T> Cache<T> {
    const fn new() -> Self {
        Cache {
            buffers: Vec::new(),
            bytes: 0,
            tickets: Vec::new(),
        }
    }
}

thread_local! {
    static F32: RefCell<Cache<f32>> = const { RefCell::new(Cache::new()) };
    static F64: RefCell<Cache<f64>> = const { RefCell::new(Cache::new()) };
}

/// Runs `f` on this thread's cache for `T` (`None` while the thread is
/// being torn down).
fn with_cache<T: Element, R>(f: impl FnOnce(&mut Cache<T>) -> R) -> Option<R> {
    fn on<C: 'static, T: 'static, R>(
        key: &'static LocalKey<RefCell<Cache<C>>>,
        f: impl FnOnce(&mut Cache<T>) -> R,
    ) -> Option<R> {
        key.try_with(|c| {
            let mut c = c.try_borrow_mut().ok()?;
            (&mut *c as &mut dyn Any).downcast_mut::<Cache<T>>().map(f)
        })
        .ok()
        .flatten()
    }
    if is_f32::<T>() {
        on(&F32, f)
    } else {
        on(&F64, f)
    }
}

fn bytes_of<T>(capacity: usize) -> usize {
    capacity * std::mem::size_of::<T>()
}

/// An empty vector with room for at least `len` elements: a cached buffer
/// when one of a fitting size (up to twice `len`) was freed on this thread,
/// else a new allocation.
pub fn take<T: Element>(len: usize) -> Vec<T> {
    if bytes_of::<T>(len) >= MIN_BYTES {
        let found = with_cache::<T, _>(|c| {
            if c.tickets.len() == MAX_TICKETS {
                c.tickets.remove(0);
            }
            c.tickets.push(len);
            let best = c
                .buffers
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= len && b.capacity() / 2 <= len)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i)?;
            let b = c.buffers.remove(best);
            c.bytes -= bytes_of::<T>(b.capacity());
            Some(b)
        })
        .flatten();
        if let Some(b) = found {
            return b;
        }
    }
    Vec::with_capacity(len)
}

/// `len` zeros, in a buffer from [`take`].
pub fn zeroed<T: Element>(len: usize) -> Vec<T> {
    let mut v = take(len);
    v.resize(len, T::zero());
    v
}

/// Resizes `v` to `len` elements like [`Vec::resize`] with zeros, moving
/// its contents into a buffer from [`take`] (and handing the old one back)
/// when it must grow: for scratch vectors kept across the samples of a call.
pub fn resize<T: Element>(v: &mut Vec<T>, len: usize) {
    if v.capacity() < len {
        let mut grown = take(len);
        grown.extend_from_slice(v);
        give(std::mem::replace(v, grown));
    }
    v.resize(len, T::zero());
}

/// Hands a buffer back for reuse on this thread: kept when it fits a recent
/// [`take`] (twice the length at most), else freed.
pub fn give<T: Element>(mut v: Vec<T>) {
    let size = bytes_of::<T>(v.capacity());
    if !(MIN_BYTES..=MAX_CACHED_BYTES).contains(&size) {
        return;
    }
    v.clear();
    with_cache::<T, _>(move |c| {
        let cap = v.capacity();
        let Some(t) = c.tickets.iter().position(|&n| n <= cap && cap / 2 <= n) else {
            return;
        };
        c.tickets.remove(t);
        while c.bytes + size > MAX_CACHED_BYTES {
            let old = c.buffers.remove(0);
            c.bytes -= bytes_of::<T>(old.capacity());
        }
        c.bytes += size;
        c.buffers.push(v);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_buffer_is_reused_on_the_same_thread() {
        let n = MIN_BYTES / 4 * 3;
        let v = zeroed::<f32>(n);
        let p = v.as_ptr();
        give(v);
        let w = take::<f32>(n - 10);
        assert_eq!(w.as_ptr(), p);
        assert!(w.is_empty() && w.capacity() >= n);
        // f64 buffers are cached apart from f32 ones.
        give(w);
        let d = zeroed::<f64>(n / 2);
        assert_ne!(d.as_ptr().cast::<f32>(), p);
        assert!(d.iter().all(|&x| x == 0.0) && d.len() == n / 2);
    }

    #[test]
    fn small_and_much_larger_requests_do_not_take_cached_buffers() {
        let n = MIN_BYTES; // f32: 4·MIN_BYTES bytes
        let v = zeroed::<f32>(n);
        let p = v.as_ptr();
        give(v);
        let (big, small) = (take::<f32>(3 * n), take::<f32>(n / 3));
        assert_ne!(big.as_ptr(), p, "too small for 3n");
        assert_ne!(small.as_ptr(), p, "over twice n/3");
        let fits = take::<f32>(n);
        assert_eq!(fits.as_ptr(), p);
    }

    #[test]
    fn buffers_nobody_asked_for_are_freed() {
        let v: Vec<f32> = Vec::with_capacity(MIN_BYTES);
        give(v);
        assert_eq!(with_cache::<f32, _>(|c| c.buffers.len()), Some(0));
    }

    #[test]
    fn the_cache_stays_within_its_bound() {
        let n = MAX_CACHED_BYTES / 4 / 3 + 1; // three of these overflow it
        let live: Vec<Vec<f32>> = (0..3).map(|_| zeroed(n)).collect();
        let _asked_again: Vec<Vec<f32>> = (0..3).map(|_| take(n)).collect();
        live.into_iter().for_each(give);
        let bytes = with_cache::<f32, _>(|c| (c.bytes, c.buffers.len())).unwrap();
        assert!(bytes.0 <= MAX_CACHED_BYTES && bytes.1 == 2, "{bytes:?}");
    }
}
