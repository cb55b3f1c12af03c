//! Mutations of valid files — truncations, flipped bytes, protobuf length
//! fields inflated to huge values — load to a clean error (or a valid
//! model), never a panic, and never allocate without bound: the peak heap
//! growth while loading stays within a fixed budget plus a small multiple
//! of the file's size, whatever the file declares.
//!
//! The test counts allocations with its own global allocator, so it is
//! alone in its binary, and one `#[test]` keeps other threads quiet while
//! it measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use nn_onnx::Model;

/// The system allocator, counting the bytes live and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Loads `bytes` and returns the peak heap growth during the load.
fn load_peak(bytes: &[u8]) -> usize {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let _ = Model::from_bytes(bytes);
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

/// What loading a file of `len` bytes may take: the decoded messages and
/// tensors are at most a few times the bytes they come from, plus a fixed
/// allowance for the operator table and bookkeeping.
fn budget(len: usize) -> usize {
    (8 << 20) + 16 * len
}

/// Positions of the length prefixes of every length-delimited field, in
/// the message and in every nested field that itself parses as a message.
fn length_fields(bytes: &[u8], base: usize, depth: usize, out: &mut Vec<(usize, usize)>) -> bool {
    let varint = |i: &mut usize| -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *bytes.get(*i)?;
            *i += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    };
    let mut i = 0;
    while i < bytes.len() {
        let Some(key) = varint(&mut i) else {
            return false;
        };
        match key & 7 {
            0 => {
                if varint(&mut i).is_none() {
                    return false;
                }
            }
            1 => i += 8,
            5 => i += 4,
            2 => {
                let at = i;
                let Some(len) = varint(&mut i) else {
                    return false;
                };
                let end = i.saturating_add(len as usize);
                if end > bytes.len() {
                    return false;
                }
                out.push((base + at, i - at));
                if depth < 6 {
                    let mut nested = Vec::new();
                    if length_fields(&bytes[i..end], base + i, depth + 1, &mut nested) {
                        out.extend(nested);
                    }
                }
                i = end;
            }
            _ => return false,
        }
    }
    i == bytes.len()
}

fn case(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions/model")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn mutated_files_are_clean_errors_within_bounded_memory() {
    let files = [
        "backend_test_Conv2d_groups.onnx",
        "export_lstm_batch_first.onnx",
        "export_mha_self_attention.onnx",
    ];
    let mut checked = 0;
    let mut check = |what: &str, bytes: &[u8]| {
        let peak = load_peak(bytes);
        assert!(
            peak <= budget(bytes.len()),
            "{what}: loading {} bytes took {peak} bytes of heap",
            bytes.len()
        );
        checked += 1;
    };
    for name in files {
        let bytes = case(name);
        assert!(Model::from_bytes(&bytes).is_ok(), "{name} is a valid model");
        // The counter sees the load (the model holds its tensors).
        assert!(
            load_peak(&bytes) > bytes.len() / 2,
            "{name}: nothing counted"
        );
        // Truncations, every 7th cut.
        for cut in (0..bytes.len()).step_by(7) {
            check(&format!("{name} cut at {cut}"), &bytes[..cut]);
        }
        // Flipped bytes (a fixed xorshift sequence).
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..150 {
            let mut b = bytes.clone();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state as usize) % b.len();
            b[i] ^= 1 << (state >> 61);
            check(&format!("{name} flipped at {i}"), &b);
        }
        // Every length prefix declaring 2³¹ and 2⁶² bytes: the decoder
        // must see that the bytes are not there instead of reserving them.
        let mut fields = Vec::new();
        assert!(length_fields(&bytes, 0, 0, &mut fields), "{name} parses");
        assert!(fields.len() > 10, "{name}: {} length fields", fields.len());
        for &(at, width) in &fields {
            for huge in [
                &[0x80, 0x80, 0x80, 0x80, 0x08][..],
                &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40],
            ] {
                let mut b = bytes[..at].to_vec();
                b.extend_from_slice(huge);
                b.extend_from_slice(&bytes[at + width..]);
                check(&format!("{name} length at {at} inflated"), &b);
                assert!(
                    Model::from_bytes(&b).is_err(),
                    "{name}: a length at {at} beyond the file loads"
                );
            }
        }
    }
    assert!(checked > 500, "{checked} mutations");
}
