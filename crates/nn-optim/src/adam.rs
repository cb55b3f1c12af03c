//! Adam (with amsgrad and L2 weight decay) and AdamW (decoupled weight decay).

use nn_tensor::parallel::{num_threads, CHUNK, PARALLEL_THRESHOLD};
use nn_tensor::simd::{self, SimdLevel};
use nn_tensor::{Element, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{check, Result};
use crate::group::GroupHyper;
use crate::optimizer::Optimizer;
use crate::rule::{config_methods, required, rule_basics, UpdateRule};

/// An Adam optimiser: [`Optimizer`] running the [`AdamConfig`] rule.
pub type Adam<T> = Optimizer<T, AdamConfig>;

/// An AdamW optimiser: [`Optimizer`] running the [`AdamWConfig`] rule.
pub type AdamW<T> = Optimizer<T, AdamWConfig>;

/// Adam and AdamW differ only in their defaults, their names and where the
/// weight decay goes, so one macro writes both: the config struct and its
/// defaults, the builders, and the [`UpdateRule`] impl, with `decoupled`
/// choosing the weight decay.
macro_rules! adam_variant {
    (
        $(#[$doc:meta])*
        $config:ident as $alias:ident, $name:literal, $display:literal,
        weight_decay: $weight_decay:literal ($weight_decay_doc:literal),
        decoupled: $decoupled:literal
    ) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub struct $config {
            /// Learning rate (default 1e-3).
            pub lr: f64,
            /// Decay rates of the first and second moment estimates (default (0.9, 0.999)).
            pub betas: (f64, f64),
            /// Added to the denominator for stability, after the square root (default 1e-8).
            pub eps: f64,
            #[doc = $weight_decay_doc]
            pub weight_decay: f64,
            /// Use the maximum of past second moments (default false).
            pub amsgrad: bool,
        }

        impl Default for $config {
            fn default() -> Self {
                $config {
                    lr: 1e-3,
                    betas: (0.9, 0.999),
                    eps: 1e-8,
                    weight_decay: $weight_decay,
                    amsgrad: false,
                }
            }
        }

        config_methods!($config, $alias);

        impl $config {
            /// Sets the moment decay rates `(β1, β2)`.
            pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Self {
                self.betas = (beta1, beta2);
                self
            }

            /// Sets eps.
            pub fn with_eps(mut self, eps: f64) -> Self {
                self.eps = eps;
                self
            }

            /// Sets the weight decay.
            pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
                self.weight_decay = weight_decay;
                self
            }

            /// Turns amsgrad on or off.
            pub fn with_amsgrad(mut self, amsgrad: bool) -> Self {
                self.amsgrad = amsgrad;
                self
            }
        }

        impl<T: Element> UpdateRule<T> for $config {
            rule_basics!($name, $display, AdamState<T>);

            fn validate(&self) -> Result<()> {
                let op = <Self as UpdateRule<T>>::DISPLAY;
                check::lr(op, self.lr)?;
                check::unit_interval_open(op, "betas[0]", self.betas.0)?;
                check::unit_interval_open(op, "betas[1]", self.betas.1)?;
                check::non_negative(op, "eps", self.eps)?;
                check::non_negative(op, "weight_decay", self.weight_decay)
            }

            fn init_state(&self, param: &Tensor<T>) -> AdamState<T> {
                adam_init(param, self.amsgrad)
            }

            fn update(
                &self,
                param: &mut Tensor<T>,
                grad: &Tensor<T>,
                state: &mut AdamState<T>,
                h: GroupHyper,
                t: u64,
            ) {
                let l2 = if $decoupled {
                    decay_decoupled(param, h);
                    0.0
                } else {
                    h.weight_decay
                };
                adam_step(param, grad, state, h.lr, self.betas, self.eps, l2, t);
            }

            fn state_tensors(&self, state: &AdamState<T>) -> Vec<(&'static str, Tensor<T>)> {
                adam_tensors(state)
            }

            fn state_from_tensors(
                &self,
                _param: &Tensor<T>,
                take: &mut dyn FnMut(&'static str) -> Option<Tensor<T>>,
            ) -> Result<AdamState<T>> {
                adam_from_tensors(<Self as UpdateRule<T>>::DISPLAY, self.amsgrad, take)
            }
        }
    };
}

adam_variant! {
    /// The hyper-parameters of Adam, with PyTorch's defaults (`torch.optim.Adam`).
    ///
    /// Per step: `g ← g + weight_decay·p` (L2, coupled to the gradient);
    /// `m ← β1·m + (1−β1)·g`; `v ← β2·v + (1−β2)·g²`; with amsgrad
    /// `v̂ ← max(v̂, v)` replaces `v`; then
    /// `p ← p − lr·(m/(1−β1ᵗ)) / (sqrt(v/(1−β2ᵗ)) + eps)`.
    ///
    /// ```
    /// use nn_autograd::Parameter;
    /// use nn_optim::AdamConfig;
    /// use nn_tensor::Tensor;
    /// let w = Parameter::new(Tensor::<f64>::from_vec(vec![1.0], &[1]));
    /// let mut opt = AdamConfig::new(0.1).init(vec![("w".into(), w.clone())]).unwrap();
    /// opt.step(&w.var().square().sum().backward());
    /// // Adam's first step moves every coordinate by about lr.
    /// assert!((w.value().item() - 0.9).abs() < 1e-6);
    /// ```
    AdamConfig as Adam, "adam", "Adam",
    weight_decay: 0.0 ("L2 penalty added to the gradient (default 0)."),
    decoupled: false
}

adam_variant! {
    /// The hyper-parameters of AdamW, with PyTorch's defaults (`torch.optim.AdamW`):
    /// Adam with weight decay decoupled from the gradient, applied first as
    /// `p ← p·(1 − lr·weight_decay)`. Its default weight decay is 1e-2.
    AdamWConfig as AdamW, "adamw", "AdamW",
    weight_decay: 1e-2 ("Decoupled weight decay (default 1e-2)."),
    decoupled: true
}

/// The per-parameter state of Adam and AdamW.
#[derive(Clone, Debug)]
pub struct AdamState<T: Element> {
    /// First moment estimate `m` (`exp_avg`).
    pub exp_avg: Tensor<T>,
    /// Second moment estimate `v` (`exp_avg_sq`).
    pub exp_avg_sq: Tensor<T>,
    /// Running maximum of `v` (`max_exp_avg_sq`), with amsgrad only.
    pub max_exp_avg_sq: Option<Tensor<T>>,
}

/// Adam's moment update and parameter step, shared by both variants.
/// `l2` is the coupled weight decay (0 for AdamW, which decays beforehand).
///
/// Large parameters are updated in fixed-size chunks spread over rayon's
/// threads. Every element's update depends only on its own values, so the
/// result is bit-identical whatever the thread count or chunking.
#[allow(clippy::too_many_arguments)]
fn adam_step<T: Element>(
    param: &mut Tensor<T>,
    grad: &Tensor<T>,
    state: &mut AdamState<T>,
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    l2: f64,
    t: u64,
) {
    let (b1, b2) = betas;
    // Bias corrections in f64, like PyTorch's Python-float arithmetic.
    let bc1 = 1.0 - b1.powf(t as f64);
    let bc2_sqrt = (1.0 - b2.powf(t as f64)).sqrt();
    let k = AdamCoefficients {
        step_size: T::of(lr / bc1),
        bc2_sqrt: T::of(bc2_sqrt),
        b1: T::of(b1),
        b2: T::of(b2),
        one_b1: T::one() - T::of(b1),
        one_b2: T::one() - T::of(b2),
        eps: T::of(eps),
        l2: T::of(l2),
    };
    let p = param.as_mut_slice();
    let g = grad.as_slice();
    let m = state.exp_avg.as_mut_slice();
    let v = state.exp_avg_sq.as_mut_slice();
    let mut vmax = state.max_exp_avg_sq.as_mut().map(|t| t.as_mut_slice());
    let level = simd::level();
    if p.len() < PARALLEL_THRESHOLD || num_threads() == 1 {
        k.apply(level, p, g, m, v, vmax.as_deref_mut());
        return;
    }
    let vmax_chunks: Vec<Option<&mut [T]>> = match vmax {
        Some(vm) => vm.chunks_mut(CHUNK).map(Some).collect(),
        None => (0..p.len().div_ceil(CHUNK)).map(|_| None).collect(),
    };
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .zip(vmax_chunks)
        .for_each(|((((p, g), m), v), vm)| k.apply(level, p, g, m, v, vm));
}

/// The per-step constants of [`adam_step`].
#[derive(Clone, Copy)]
struct AdamCoefficients<T> {
    step_size: T,
    bc2_sqrt: T,
    b1: T,
    b2: T,
    one_b1: T,
    one_b2: T,
    eps: T,
    l2: T,
}

impl<T: Element> AdamCoefficients<T> {
    /// Updates one run of elements in the build of `level`. The library is
    /// built for the target's baseline (4-wide SSE on x86-64, where the
    /// square root and division of every element set the pace), so the loop
    /// is compiled once per [`SimdLevel`] and chosen at run time. No fused
    /// multiply-add is formed at any level, and square root and division are
    /// exactly rounded, so every level gives the same bits.
    fn apply(
        &self,
        level: SimdLevel,
        p: &mut [T],
        g: &[T],
        m: &mut [T],
        v: &mut [T],
        vmax: Option<&mut [T]>,
    ) {
        simd::dispatch(
            level,
            #[inline(always)]
            || self.apply_portable(p, g, m, v, vmax),
        )
    }

    /// The update itself. The amsgrad test sits outside the loops so the
    /// common loop has no branch and vectorises.
    #[inline(always)]
    fn apply_portable(
        &self,
        p: &mut [T],
        g: &[T],
        m: &mut [T],
        v: &mut [T],
        vmax: Option<&mut [T]>,
    ) {
        let k = *self;
        match vmax {
            None => {
                for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                    let g = g + k.l2 * *p;
                    *m = k.b1 * *m + k.one_b1 * g;
                    *v = k.b2 * *v + k.one_b2 * g * g;
                    let denom = v.sqrt() / k.bc2_sqrt + k.eps;
                    *p -= k.step_size * *m / denom;
                }
            }
            Some(vmax) => {
                let all = p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut());
                for ((((p, &g), m), v), vm) in all.zip(vmax.iter_mut()) {
                    let g = g + k.l2 * *p;
                    *m = k.b1 * *m + k.one_b1 * g;
                    *v = k.b2 * *v + k.one_b2 * g * g;
                    *vm = vm.max(*v);
                    let denom = vm.sqrt() / k.bc2_sqrt + k.eps;
                    *p -= k.step_size * *m / denom;
                }
            }
        }
    }
}

fn adam_init<T: Element>(param: &Tensor<T>, amsgrad: bool) -> AdamState<T> {
    AdamState {
        exp_avg: param.zeros_like(),
        exp_avg_sq: param.zeros_like(),
        max_exp_avg_sq: amsgrad.then(|| param.zeros_like()),
    }
}

fn adam_tensors<T: Element>(state: &AdamState<T>) -> Vec<(&'static str, Tensor<T>)> {
    let mut out = vec![
        ("exp_avg", state.exp_avg.clone()),
        ("exp_avg_sq", state.exp_avg_sq.clone()),
    ];
    if let Some(m) = &state.max_exp_avg_sq {
        out.push(("max_exp_avg_sq", m.clone()));
    }
    out
}

fn adam_from_tensors<T: Element>(
    rule: &str,
    amsgrad: bool,
    take: &mut dyn FnMut(&'static str) -> Option<Tensor<T>>,
) -> Result<AdamState<T>> {
    Ok(AdamState {
        exp_avg: required(take, rule, "exp_avg")?,
        exp_avg_sq: required(take, rule, "exp_avg_sq")?,
        max_exp_avg_sq: if amsgrad {
            Some(required(take, rule, "max_exp_avg_sq")?)
        } else {
            None
        },
    })
}

/// AdamW's decoupled weight decay, applied before the Adam step:
/// `p ← p·(1 − lr·weight_decay)`.
fn decay_decoupled<T: Element>(param: &mut Tensor<T>, h: GroupHyper) {
    if h.weight_decay != 0.0 {
        let shrink = T::of(1.0 - h.lr * h.weight_decay);
        param.as_mut_slice().iter_mut().for_each(|p| *p *= shrink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_tensor::Rng;

    /// A scalar transcription of the update, one element at a time, as
    /// PyTorch's documentation writes it.
    fn reference_step(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], t: u64, l2: f32) {
        let (b1, b2, lr, eps) = (0.9f64, 0.999f64, 1e-3f64, 1e-8f32);
        let step_size = (lr / (1.0 - b1.powf(t as f64))) as f32;
        let bc2_sqrt = (1.0 - b2.powf(t as f64)).sqrt() as f32;
        let (b1, b2) = (b1 as f32, b2 as f32);
        for i in 0..p.len() {
            let gi = g[i] + l2 * p[i];
            m[i] = b1 * m[i] + (1.0 - b1) * gi;
            v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
            p[i] -= step_size * m[i] / (v[i].sqrt() / bc2_sqrt + eps);
        }
    }

    /// A parameter large enough to be split over threads (and a length that
    /// is no multiple of the chunk or of any vector width) updates to the
    /// same bits as the element-by-element formula, with and without L2.
    #[test]
    fn chunked_vectorised_update_matches_the_scalar_formula_bit_for_bit() {
        let len = 3 * CHUNK + PARALLEL_THRESHOLD + 13;
        let mut rng = Rng::seed_from(4);
        for l2 in [0.0f32, 0.01] {
            let start = Tensor::<f32>::rand_uniform(&[len], -1.0, 1.0, &mut rng);
            let mut param = start.clone();
            let mut state = adam_init(&param, false);
            let mut p = start.to_vec();
            let (mut m, mut v) = (vec![0.0f32; len], vec![0.0f32; len]);
            for t in 1..=3 {
                let grad = Tensor::<f32>::rand_normal(&[len], 0.0, 1.0, &mut rng);
                adam_step(
                    &mut param,
                    &grad,
                    &mut state,
                    1e-3,
                    (0.9, 0.999),
                    1e-8,
                    l2 as f64,
                    t,
                );
                reference_step(&mut p, grad.as_slice(), &mut m, &mut v, t, l2);
            }
            let same = param
                .as_slice()
                .iter()
                .zip(&p)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "l2 = {l2}: the update differs from the formula");
            assert_eq!(state.exp_avg.to_vec(), m);
        }
    }

    /// Every instruction-set level gives the portable loop's bits, with and
    /// without amsgrad, on a length no vector width divides.
    #[test]
    fn every_level_updates_to_the_same_bits() {
        let len = 1000 + 7;
        let mut rng = Rng::seed_from(9);
        let start = Tensor::<f32>::rand_uniform(&[len], -1.0, 1.0, &mut rng).to_vec();
        let grad = Tensor::<f32>::rand_normal(&[len], 0.0, 1.0, &mut rng).to_vec();
        let k = AdamCoefficients {
            step_size: 1e-2f32,
            bc2_sqrt: 0.03,
            b1: 0.9,
            b2: 0.999,
            one_b1: 0.1,
            one_b2: 0.001,
            eps: 1e-8,
            l2: 0.01,
        };
        let run = |level: SimdLevel, amsgrad: bool| {
            let (mut p, mut m, mut v) = (start.clone(), vec![0.1f32; len], vec![0.2f32; len]);
            let mut vmax = vec![0.3f32; len];
            let vm = amsgrad.then_some(&mut vmax[..]);
            k.apply(level, &mut p, &grad, &mut m, &mut v, vm);
            [p, m, v, vmax].map(|x| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>())
        };
        for amsgrad in [false, true] {
            let want = run(SimdLevel::Portable, amsgrad);
            for level in simd::available_levels() {
                assert!(run(level, amsgrad) == want, "{level}, amsgrad {amsgrad}");
            }
        }
    }

    /// amsgrad keeps the running maximum of the second moment, element by
    /// element, on the split path too.
    #[test]
    fn amsgrad_keeps_the_maximum_on_large_parameters() {
        let len = PARALLEL_THRESHOLD + CHUNK + 5;
        let mut rng = Rng::seed_from(6);
        let mut param = Tensor::<f32>::zeros(&[len]);
        let mut state = adam_init(&param, true);
        let big = Tensor::<f32>::rand_normal(&[len], 0.0, 3.0, &mut rng);
        adam_step(
            &mut param,
            &big,
            &mut state,
            1e-3,
            (0.9, 0.999),
            1e-8,
            0.0,
            1,
        );
        let after_big = state.exp_avg_sq.to_vec();
        let small = big.mul_scalar(1e-3);
        adam_step(
            &mut param,
            &small,
            &mut state,
            1e-3,
            (0.9, 0.999),
            1e-8,
            0.0,
            2,
        );
        let vmax = state.max_exp_avg_sq.as_ref().unwrap().to_vec();
        let v = state.exp_avg_sq.to_vec();
        for i in 0..len {
            assert_eq!(vmax[i], after_big[i].max(v[i]), "element {i}");
        }
    }
}
