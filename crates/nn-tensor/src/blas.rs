//! The system's OpenBLAS as a second GEMM backend, for large products
//! (feature `openblas`).
//!
//! The `gemm` crate is the default everywhere: pure Rust, no system library,
//! and as fast as a vendor BLAS on small and skinny products. On large
//! square products OpenBLAS's hand-written kernels are faster on AVX2
//! machines (about 10 % at n = 2048 on an AMD EPYC with AVX2 + FMA, which
//! brings W1 level with PyTorch's MKL there: the `gemm_backends` benchmark
//! and the `compare.py` tables in `docs/performance.md`). So with the
//! feature on, a product whose three sizes are all at least [`MIN_DIM`]
//! goes to OpenBLAS when the library can be loaded, and every other product
//! stays on `gemm`.
//!
//! The library is opened at run time (`libopenblas.so.0` and its other usual
//! names), not linked: a build with the feature runs on machines without
//! OpenBLAS, where every product stays on `gemm`. The environment variable
//! `NN_GEMM=gemm` keeps every product on `gemm` (read once), to compare the
//! two backends in one build; so does capping the instruction set with
//! `NN_SIMD` (OpenBLAS cannot be capped).
//!
//! OpenBLAS runs on one thread per call, and a product's rows are split
//! between the library's threads here, so that its results do not depend on
//! the thread count, as `gemm`'s do not; the two backends round differently
//! from each other.

use std::any::TypeId;
use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::matmul::MatRef;
use crate::Element;

/// The smallest size, in each of the three dimensions, of a product sent to
/// OpenBLAS (`gemm_backends` in `docs/performance.md`): at 512 the two
/// backends measured the same, at 1024 and 2048 OpenBLAS was faster, and on
/// products with one small dimension (a convolution's `4096×64·64×576`)
/// `gemm` was as fast or faster.
pub const MIN_DIM: usize = 768;

/// The environment variable that can keep every product on `gemm`.
pub const ENV_VAR: &str = "NN_GEMM";

const ROW_MAJOR: c_int = 101;
const NO_TRANS: c_int = 111;
const TRANS: c_int = 112;

/// `cblas_sgemm` (`E = f32`) and `cblas_dgemm` (`E = f64`): order, the two
/// transposes, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc.
type Gemm<E> = unsafe extern "C" fn(
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    E,
    *const E,
    c_int,
    *const E,
    c_int,
    E,
    *mut E,
    c_int,
);
type SetThreads = unsafe extern "C" fn(c_int);

/// The two entry points, kept with the library that owns them.
struct OpenBlas {
    sgemm: Gemm<f32>,
    dgemm: Gemm<f64>,
    // Never unloaded: the function pointers above point into it.
    _lib: libloading::Library,
}

/// The names the library goes by on Linux distributions and macOS.
const LIBRARY_NAMES: [&str; 4] = [
    "libopenblas.so.0",
    "libopenblas.so",
    "libopenblas.dylib",
    "libopenblas.0.dylib",
];

fn load() -> Option<OpenBlas> {
    if std::env::var(ENV_VAR).is_ok_and(|v| v.trim() == "gemm") {
        return None;
    }
    LIBRARY_NAMES.iter().find_map(|name| {
        // SAFETY: loading OpenBLAS runs its initialiser (it sizes its thread
        // pool); it has no other side effect on this process.
        let lib = unsafe { libloading::Library::new(name) }.ok()?;
        // SAFETY: the symbols are declared with CBLAS's C signatures, which
        // every OpenBLAS build exports with 32-bit integers (the 64-bit
        // integer builds are named `libopenblas64`, which is not loaded).
        unsafe {
            let sgemm = *lib.get::<Gemm<f32>>(b"cblas_sgemm\0").ok()?;
            let dgemm = *lib.get::<Gemm<f64>>(b"cblas_dgemm\0").ok()?;
            let set_num_threads: SetThreads =
                *lib.get::<SetThreads>(b"openblas_set_num_threads\0").ok()?;
            // Products are split between threads here (see `try_gemm`).
            set_num_threads(1);
            Some(OpenBlas {
                sgemm,
                dgemm,
                _lib: lib,
            })
        }
    })
}

fn library() -> Option<&'static OpenBlas> {
    static LIBRARY: OnceLock<Option<OpenBlas>> = OnceLock::new();
    LIBRARY.get_or_init(load).as_ref()
}

/// Whether large products run on OpenBLAS: the library was found,
/// `NN_GEMM` does not say `gemm`, and the instruction set is not capped
/// below the CPU's best ([`simd::level`](crate::simd::level) is
/// [`simd::detected`](crate::simd::detected)): OpenBLAS picks its kernels
/// from the CPU, so under a cap the products stay on `gemm`.
///
/// ```
/// // True on a machine with OpenBLAS installed, false elsewhere.
/// let _on_openblas = nn_tensor::blas::available();
/// ```
pub fn available() -> bool {
    ENABLED.load(Ordering::Relaxed)
        && crate::simd::level() == crate::simd::detected()
        && library().is_some()
}

/// Switched off by [`set_enabled`].
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Sends large products to OpenBLAS (`true`, the default) or keeps every
/// product on `gemm` (`false`) from now on, as `NN_GEMM=gemm` does for the
/// whole run: to compare the two in one process (the `gemm_backends`
/// benchmark does). Returns [`available`] after the change.
///
/// ```
/// use nn_tensor::blas;
/// assert!(!blas::set_enabled(false));
/// blas::set_enabled(true);
/// ```
pub fn set_enabled(enabled: bool) -> bool {
    ENABLED.store(enabled, Ordering::Relaxed);
    available()
}

/// A CBLAS operand: the transpose flag and leading dimension of a
/// `rows × cols` matrix, or `None` when neither stride is 1.
fn operand<T>(m: &MatRef<'_, T>, rows: usize, cols: usize) -> Option<(c_int, c_int)> {
    if m.col_stride == 1 && m.row_stride >= cols.max(1) {
        Some((NO_TRANS, c_int::try_from(m.row_stride).ok()?))
    } else if m.row_stride == 1 && m.col_stride >= rows.max(1) {
        Some((TRANS, c_int::try_from(m.col_stride).ok()?))
    } else {
        None
    }
}

/// Runs `c = a·b` (or `c += a·b`) on OpenBLAS when the product is large
/// enough, the element type is `f32` or `f64`, the library is loaded and the
/// operands' strides are ones CBLAS takes; returns `false`, having done
/// nothing, otherwise.
///
/// # Safety
/// As [`crate::matmul`]'s raw call: the operands' slices hold every element
/// their strides reach, and `c` is valid for writes of `m·n` row-major
/// elements (and reads when `accumulate`).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn try_gemm<T: Element>(
    m: usize,
    n: usize,
    k: usize,
    a: &MatRef<'_, T>,
    b: &MatRef<'_, T>,
    c: *mut T,
    accumulate: bool,
    threads: usize,
) -> bool {
    if m.min(n).min(k) < MIN_DIM {
        return false;
    }
    if !available() {
        return false;
    }
    let Some(lib) = library() else {
        return false;
    };
    let (Some((ta, lda)), Some((tb, ldb))) = (operand(a, m, k), operand(b, k, n)) else {
        return false;
    };
    let (Ok(_), Ok(ni), Ok(ki)) = (c_int::try_from(m), c_int::try_from(n), c_int::try_from(k))
    else {
        return false;
    };
    let single = crate::simd::is_f32::<T>();
    if !single && TypeId::of::<T>() != TypeId::of::<f64>() {
        return false;
    }
    let beta = if accumulate { T::one() } else { T::zero() };
    // OpenBLAS's own threads split a product differently for different
    // thread counts, which changes the rounding. So it always runs on one
    // thread, and the output's rows are split here instead, in blocks whose
    // bounds do not depend on the thread count: every element is then the
    // same single-threaded computation whatever the thread count.
    let blocks = m.div_ceil(ROW_BLOCK);
    let c = SendPtr(c);
    let a_row_offset = if ta == NO_TRANS { lda as usize } else { 1 };
    let run = |block: usize| {
        let row0 = block * ROW_BLOCK;
        let rows = ROW_BLOCK.min(m - row0) as c_int;
        // SAFETY: the caller's contract covers every element CBLAS reads
        // and writes for these sizes and leading dimensions (checked against
        // the sizes above); each block writes its own rows of `c`; the casts
        // are between identical types (checked by `TypeId`). With beta = 0
        // CBLAS only writes `c`, as the uninitialised output of `matmul`
        // requires.
        unsafe {
            let a_block = a.data.as_ptr().add(row0 * a_row_offset);
            let c_block = c.get().add(row0 * n);
            let call = BlockCall {
                ta,
                tb,
                rows,
                n: ni,
                k: ki,
                lda,
                ldb,
            };
            let b_data = b.data.as_ptr();
            if single {
                let beta = beta.to_f32().unwrap_or(0.0);
                call.run(
                    lib.sgemm,
                    beta,
                    a_block.cast(),
                    b_data.cast(),
                    c_block.cast(),
                );
            } else {
                let beta = beta.to_f64().unwrap_or(0.0);
                call.run(
                    lib.dgemm,
                    beta,
                    a_block.cast(),
                    b_data.cast(),
                    c_block.cast(),
                );
            }
        }
    };
    if threads > 1 && blocks > 1 {
        (0..blocks).into_par_iter().for_each(run);
    } else {
        (0..blocks).for_each(run);
    }
    true
}

/// The sizes and layout of one block's CBLAS call (row-major, alpha 1).
struct BlockCall {
    ta: c_int,
    tb: c_int,
    rows: c_int,
    n: c_int,
    k: c_int,
    lda: c_int,
    ldb: c_int,
}

impl BlockCall {
    /// `c = a·b + beta·c` for this block through `gemm`.
    ///
    /// # Safety
    /// `a`, `b` and `c` hold every element CBLAS reaches for these sizes and
    /// leading dimensions (`ldc` is `n`).
    unsafe fn run<E: num_traits::One>(
        &self,
        gemm: Gemm<E>,
        beta: E,
        a: *const E,
        b: *const E,
        c: *mut E,
    ) {
        // SAFETY: the caller's contract.
        unsafe {
            gemm(
                ROW_MAJOR,
                self.ta,
                self.tb,
                self.rows,
                self.n,
                self.k,
                E::one(),
                a,
                self.lda,
                b,
                self.ldb,
                beta,
                c,
                self.n,
            )
        }
    }
}

/// Rows of the output per single-threaded OpenBLAS call: a multiple of
/// every OpenBLAS micro-kernel's row count, and small enough that the
/// blocks of a product share out evenly between threads (blocks of 384 left
/// a 1024-row product in 3 blocks, 2 on one thread and 1 on the other: W1 at
/// n = 1024 on 2 threads ran at 113–117 GFLOP/s against 134–151 with 128,
/// and one thread was unchanged).
const ROW_BLOCK: usize = 128;

/// The output pointer, shared by the blocks that write disjoint rows of it.
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);

impl<T> SendPtr<T> {
    fn get(self) -> *mut T {
        self.0
    }
}

// SAFETY: the blocks write disjoint rows, and the caller's exclusive
// borrow of the output outlives the parallel loop.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SendPtr<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a·b` in f64 by the definition at every 101st output (the rest 0).
    fn reference(
        m: usize,
        n: usize,
        k: usize,
        a: &MatRef<'_, f64>,
        b: &MatRef<'_, f64>,
    ) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for at in (0..m * n).step_by(101) {
            let (i, j) = (at / n, at % n);
            {
                c[at] = (0..k)
                    .map(|l| {
                        a.data[i * a.row_stride + l * a.col_stride]
                            * b.data[l * b.row_stride + j * b.col_stride]
                    })
                    .sum();
            }
        }
        c
    }

    fn values(len: usize, seed: usize) -> Vec<f64> {
        (0..len)
            .map(|i| ((i * seed) % 17) as f64 * 0.125 - 1.0)
            .collect()
    }

    /// Every CBLAS operand form, with and without accumulation, against the
    /// definition; products below `MIN_DIM` report that they were not taken.
    /// Where OpenBLAS is not installed, `try_gemm` must decline every call.
    #[test]
    fn matches_the_definition_in_every_operand_form() {
        let (m, n, k) = (MIN_DIM + 5, MIN_DIM + 3, MIN_DIM + 1);
        let a_data = values(m * k, 7);
        let b_data = values(k * n, 11);
        let forms = [
            (MatRef::row_major(&a_data, k), MatRef::row_major(&b_data, n)),
            (
                MatRef::transposed(&a_data, m),
                MatRef::row_major(&b_data, n),
            ),
            (
                MatRef::row_major(&a_data, k),
                MatRef::transposed(&b_data, k),
            ),
            (
                MatRef::transposed(&a_data, m),
                MatRef::transposed(&b_data, k),
            ),
        ];
        for (a, b) in forms {
            let want = reference(m, n, k, &a, &b);
            for accumulate in [false, true] {
                let mut c = vec![1.0; m * n];
                // SAFETY: the operands hold m·k and k·n elements and `c` m·n.
                let taken = unsafe { try_gemm(m, n, k, &a, &b, c.as_mut_ptr(), accumulate, 2) };
                assert_eq!(taken, available());
                if taken {
                    for i in (0..m * n).step_by(101) {
                        let (got, w) = (c[i], want[i]);
                        let w = if accumulate { w + 1.0 } else { w };
                        assert!(
                            (got - w).abs() <= 1e-9 * (1.0 + w.abs()),
                            "{i}: {got} vs {w}"
                        );
                    }
                }
            }
        }
        let mut c = vec![0.0; 4];
        let small = MatRef::row_major(&a_data[..4], 2);
        // SAFETY: 2×2 operands and output.
        assert!(!unsafe { try_gemm(2, 2, 2, &small, &small, c.as_mut_ptr(), false, 1) });
    }

    /// The same product on 1 and 2 threads, bit for bit.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let n = MIN_DIM;
        let data: Vec<f32> = (0..n * n).map(|i| ((i * 7) % 13) as f32 * 0.1).collect();
        let op = MatRef::row_major(&data, n);
        let run = |threads| {
            let mut c = vec![0.0f32; n * n];
            // SAFETY: n×n operands and output.
            let taken = unsafe { try_gemm(n, n, n, &op, &op, c.as_mut_ptr(), false, threads) };
            (taken, c)
        };
        assert_eq!(run(1), run(2));
    }
}
