//! Memory does not grow from epoch to epoch: the graph of a training step
//! (every activation it keeps for backward) is freed when the step ends.
//!
//! Measured as the bytes this process holds on the heap after each epoch,
//! counted by a global allocator that wraps the system one. The resident set
//! (`/proc/self/statm`) is no use for this: glibc hands freed pages back to
//! the kernel and takes them again at its own rhythm, so the resident set of a
//! leak-free LeNet-5 run swings by 16 MB from one epoch to the next. Live heap
//! bytes do not: between steps they are the parameters, the optimiser state
//! and the buffers the kernels keep for reuse. A step that leaked its graph
//! would add megabytes per step (the W2 MLP keeps about 1 MB of activations
//! per batch of 128, LeNet-5 about 4 MB per batch of 64); the bound tolerates
//! well under one leaked step per epoch.
//!
//! This file holds one test, so its binary runs nothing else at the same time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use nnkit::conv::layers::LeNet5Config;
use nnkit::prelude::*;

/// The system allocator, keeping a running count of live bytes.
struct CountingAllocator;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the counter only observes sizes.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

fn synthetic(n: usize, shape: &[usize]) -> TensorDataset<f32> {
    let mut rng = Rng::seed_from(3);
    let mut full = vec![n];
    full.extend_from_slice(shape);
    let x = Tensor::<f32>::rand_uniform(&full, -1.0, 1.0, &mut rng);
    let y = (0..n).map(|i| i % 10).collect();
    TensorDataset::classification(x, y).unwrap()
}

/// Trains for `epochs` epochs and returns the live heap bytes after each.
fn live_bytes_per_epoch<M: Forward<f32>>(
    model: &M,
    data: &TensorDataset<f32>,
    batch: usize,
    epochs: u64,
) -> Vec<isize> {
    let mut opt = AdamConfig::new(1e-3)
        .init(model.named_parameters())
        .unwrap();
    let loader = DataLoader::new(data, batch).unwrap().shuffle(1);
    (0..epochs)
        .map(|epoch| {
            for b in loader.epoch(epoch) {
                let b = b.unwrap();
                let logits = model.forward(b.inputs());
                let loss = logits.cross_entropy(b.targets());
                opt.step(&loss.backward());
            }
            live_bytes()
        })
        .collect()
}

/// Growth of the live heap after the warm-up epochs (optimiser state and the
/// kernels' reusable buffers fill up in the first ones).
fn growth(live: &[isize]) -> isize {
    let after_warmup = live[2];
    live[3..].iter().max().copied().unwrap_or(after_warmup) - after_warmup
}

#[test]
fn training_memory_does_not_grow_from_epoch_to_epoch() {
    const MB: f64 = 1024.0 * 1024.0;
    let mb = |v: &[isize]| {
        v.iter()
            .map(|&b| format!("{:.2}", b as f64 / MB))
            .collect::<Vec<_>>()
    };

    // The W2 MLP: 20 steps of 128 per epoch, 10 epochs.
    let mut rng = Rng::seed_from(0);
    let mlp = Sequential::<f32>::new()
        .append(LinearConfig::new(784, 256).init(&mut rng).unwrap())
        .append(Relu)
        .append(DropoutConfig::new(0.1).init(&mut rng).unwrap())
        .append(LinearConfig::new(256, 128).init(&mut rng).unwrap())
        .append(Relu)
        .append(LinearConfig::new(128, 10).init(&mut rng).unwrap());
    let live = live_bytes_per_epoch(&mlp, &synthetic(20 * 128, &[784]), 128, 10);
    eprintln!("MLP live heap per epoch, MB: {:?}", mb(&live));
    assert!(
        growth(&live) < 512 << 10,
        "MLP: live heap grew by {:.2} MB after the warm-up epochs: {:?} MB",
        growth(&live) as f64 / MB,
        mb(&live)
    );

    // The W3 LeNet-5 (with batch norm): 8 steps of 64 per epoch, 8 epochs.
    let lenet = LeNet5Config::new(1, 10)
        .with_batch_norm(true)
        .init::<f32>(&mut Rng::seed_from(1))
        .unwrap();
    let live = live_bytes_per_epoch(&lenet, &synthetic(8 * 64, &[1, 28, 28]), 64, 8);
    eprintln!("LeNet-5 live heap per epoch, MB: {:?}", mb(&live));
    assert!(
        growth(&live) < 1 << 20,
        "LeNet-5: live heap grew by {:.2} MB after the warm-up epochs: {:?} MB",
        growth(&live) as f64 / MB,
        mb(&live)
    );
}
