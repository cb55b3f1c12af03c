//! Which algorithm computes each pass of a convolution: chosen once per
//! geometry and pass, in one place, with an override for tests.
//!
//! Five algorithms compute the same products (see [`ConvAlgorithm`]); which
//! one is fastest depends on the geometry, the element type and the
//! instruction set, and the thresholds that decide it live next to each
//! algorithm (`direct`, `shifted`, `pitched`). `choose` applies
//! them once per pass (forward, input gradient, weight gradient) before any
//! sample is computed. [`with_conv_algorithm`] forces one algorithm wherever
//! it can compute the pass, so tests reach every path whatever the
//! thresholds say.

use std::cell::Cell;

use crate::im2col::ConvGeom;
use nn_tensor::Element;

use crate::{direct, pitched, shifted};

/// How one pass of a convolution computes its products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConvAlgorithm {
    /// A 1×1 kernel at stride 1 without padding: one GEMM on the planes as
    /// they lie.
    Pointwise,
    /// Stride 1, forward pass: one register-blocked kernel over every tap,
    /// without GEMM calls (the input gradient gets it through the adjoint
    /// convolution of [`ConvAlgorithm::Shifted`]).
    Direct,
    /// Stride 1: one GEMM per kernel tap on shifted views of a zero-padded
    /// copy of the input; the input gradient is the forward pass of the
    /// adjoint convolution (when its padding allows one).
    Shifted,
    /// Stride 1: one column matrix on the padded row pitch and one GEMM.
    Pitched,
    /// Any geometry: an im2col column matrix per tile of output pixels.
    Im2col,
}

impl ConvAlgorithm {
    /// Every algorithm.
    pub const ALL: [ConvAlgorithm; 5] = [
        ConvAlgorithm::Pointwise,
        ConvAlgorithm::Direct,
        ConvAlgorithm::Shifted,
        ConvAlgorithm::Pitched,
        ConvAlgorithm::Im2col,
    ];

    /// Whether it can compute `pass` of `g` at all (thresholds aside).
    fn supports(self, g: &ConvGeom, pass: Pass) -> bool {
        match (self, pass) {
            (ConvAlgorithm::Pointwise, _) => g.is_pointwise(),
            (ConvAlgorithm::Direct, Pass::Forward) => direct::supports(g),
            (ConvAlgorithm::Direct, _) => false,
            (ConvAlgorithm::Shifted, Pass::InputGrad) => shifted::adjoint(g).is_some(),
            (ConvAlgorithm::Shifted, _) => shifted::supports(g),
            (ConvAlgorithm::Pitched, _) => pitched::supports(g),
            (ConvAlgorithm::Im2col, _) => true,
        }
    }

    /// The fastest for `pass` of `g` in `T` by the measured thresholds.
    fn tuned<T: Element>(g: &ConvGeom, pass: Pass) -> ConvAlgorithm {
        let shifted = match pass {
            Pass::Forward => shifted::applies(g),
            Pass::InputGrad => shifted::adjoint(g).is_some(),
            Pass::WeightGrad => shifted::weight_grad_applies(g),
        };
        if g.is_pointwise() {
            ConvAlgorithm::Pointwise
        } else if pass == Pass::Forward && direct::applies::<T>(g) {
            ConvAlgorithm::Direct
        } else if shifted {
            ConvAlgorithm::Shifted
        } else if pitched::applies(g) {
            ConvAlgorithm::Pitched
        } else {
            ConvAlgorithm::Im2col
        }
    }
}

/// The three passes of a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pass {
    Forward,
    InputGrad,
    WeightGrad,
}

thread_local! {
    static FORCED: Cell<Option<ConvAlgorithm>> = const { Cell::new(None) };
}

/// The algorithm for `pass` of `g` in `T`: the forced one when it can
/// compute the pass, else the tuned choice.
pub(crate) fn choose<T: Element>(g: &ConvGeom, pass: Pass) -> ConvAlgorithm {
    match FORCED.get() {
        Some(a) if a.supports(g, pass) => a,
        _ => ConvAlgorithm::tuned::<T>(g, pass),
    }
}

/// Runs `f` with every convolution pass that starts on this thread computed
/// by `algorithm` wherever it can compute that pass (a geometry it cannot
/// handle keeps the usual choice). For tests: every algorithm gives the same
/// results up to rounding, and this reaches each one whatever the
/// thresholds say.
///
/// ```
/// use nn_autograd::Var;
/// use nn_conv::{conv2d, with_conv_algorithm, ConvAlgorithm, ConvOptions};
/// use nn_tensor::{Rng, Tensor};
/// let mut rng = Rng::seed_from(0);
/// let x = Var::leaf(Tensor::<f64>::rand_normal(&[1, 2, 6, 6], 0.0, 1.0, &mut rng));
/// let w = Var::leaf(Tensor::<f64>::rand_normal(&[3, 2, 3, 3], 0.0, 1.0, &mut rng));
/// let o = ConvOptions::default().padding([1, 1]);
/// let y = |a| with_conv_algorithm(a, || conv2d(&x, &w, None, &o).value().clone());
/// let d = y(ConvAlgorithm::Im2col).max_abs_diff(&y(ConvAlgorithm::Pitched));
/// assert!(d < 1e-12);
/// ```
pub fn with_conv_algorithm<R>(algorithm: ConvAlgorithm, f: impl FnOnce() -> R) -> R {
    /// Restores the previous setting, also when `f` panics.
    struct Restore(Option<ConvAlgorithm>);
    impl Drop for Restore {
        fn drop(&mut self) {
            FORCED.set(self.0);
        }
    }
    let _restore = Restore(FORCED.replace(Some(algorithm)));
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stride-1, 3×3 convolution with `c` channels in and out, padding 1.
    fn geom(c: usize, k: usize, pad: usize) -> ConvGeom {
        ConvGeom {
            n: 2,
            c_in: c,
            h: 8,
            w: 9,
            c_out: c,
            kh: k,
            kw: k,
            sh: 1,
            sw: 1,
            ph: pad,
            pw: pad,
            dh: 1,
            dw: 1,
            groups: 1,
            ho: 8 + 2 * pad + 1 - k,
            wo: 9 + 2 * pad + 1 - k,
        }
    }

    const PASSES: [Pass; 3] = [Pass::Forward, Pass::InputGrad, Pass::WeightGrad];

    #[test]
    fn forcing_reaches_every_algorithm_that_can_compute_the_pass() {
        let g = geom(4, 3, 1); // too few channels for the tuned shifted paths
        for pass in [Pass::Forward, Pass::WeightGrad] {
            assert_ne!(choose::<f32>(&g, pass), ConvAlgorithm::Shifted);
        }
        for pass in PASSES {
            let tuned = choose::<f32>(&g, pass);
            for a in ConvAlgorithm::ALL {
                let forced = with_conv_algorithm(a, || choose::<f32>(&g, pass));
                let want = if a.supports(&g, pass) { a } else { tuned };
                assert_eq!(forced, want, "{a:?} for {pass:?}");
            }
            // Every algorithm but the 1×1 one can compute this 3×3 geometry's
            // forward pass and weight gradient.
            if pass != Pass::InputGrad {
                for a in [ConvAlgorithm::Shifted, ConvAlgorithm::Pitched] {
                    assert!(a.supports(&g, pass), "{a:?} for {pass:?}");
                }
            }
        }
        let pointwise = geom(4, 1, 0);
        for pass in PASSES {
            assert_eq!(choose::<f32>(&pointwise, pass), ConvAlgorithm::Pointwise);
            let a = ConvAlgorithm::Im2col;
            assert_eq!(
                with_conv_algorithm(a, || choose::<f32>(&pointwise, pass)),
                a
            );
        }
    }

    #[test]
    fn the_override_ends_with_its_closure() {
        let g = geom(4, 3, 1);
        let tuned = choose::<f32>(&g, Pass::Forward);
        let _ = std::panic::catch_unwind(|| {
            with_conv_algorithm(ConvAlgorithm::Im2col, || panic!("inside"))
        });
        with_conv_algorithm(ConvAlgorithm::Shifted, || {});
        assert_eq!(choose::<f32>(&g, Pass::Forward), tuned);
    }
}
