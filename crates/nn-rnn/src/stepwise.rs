//! The recurrence written step by step with autograd ops, for the two
//! options the fused op ([`recurrence`](crate::recurrence())) does not
//! have, both answers of the course (7.2, 7.3) to "why not batch norm or
//! dropout on the recurrent connection":
//!
//! * **layer normalisation** (Ba, Kiros & Hinton 2016): batch statistics
//!   differ at every step and vanish for a batch of one, so each step's
//!   pre-activations are normalised over their *features* instead:
//!   `gates = LN(W_ih x_t) + LN(W_hh h_{t−1}) + b_ih + b_hh`, each `LN` over
//!   all `G·H` gate features with its own gain and bias, and for the LSTM
//!   `h_t = o ⊙ tanh(LN(c_t))`;
//! * **recurrent (variational) dropout** (Gal & Ghahramani 2016): a fresh
//!   mask at every step would erase the memory a little more at each step,
//!   so one mask per sequence multiplies `h_{t−1}` before `W_hh` at *every*
//!   step; the state itself (the LSTM's `c`, the GRU's `z ⊙ h` path) is not
//!   masked.
//!
//! The plain layers keep the fused op and its packed fast paths; only a
//! layer with one of these options takes this path. The backward is the
//! autograd's, so it is exact by construction and gradient-checked in f64.

use nn_autograd::{Parameter, Var};
use nn_layers::functional::layer_norm;
use nn_tensor::{Element, Result, Tensor};

use crate::init::DirectionVars;
use crate::recurrence::{CellKind, RecurrenceOutput};

/// The `eps` of every layer norm of the normalised cells (PyTorch's default).
const LN_EPS: f64 = 1e-5;

/// The gains and biases of a layer-normalised direction: `ln_ih` and `ln_hh`
/// over the `G·H` pre-activations, `ln_c` (LSTM only) over the `H` cell
/// features. Gains start at 1 and biases at 0, so a new layer normalises
/// exactly.
#[derive(Clone, Debug)]
pub(crate) struct GateNorms<T: Element> {
    /// `(gain, bias)` pairs named `ln_ih`, `ln_hh` and (LSTM) `ln_c`.
    norms: Vec<(&'static str, Parameter<T>, Parameter<T>)>,
}

impl<T: Element> GateNorms<T> {
    pub(crate) fn new(kind: CellKind, hidden: usize) -> Self {
        let gh = kind.gates() * hidden;
        let pair = |name, n| {
            (
                name,
                Parameter::new(Tensor::ones(&[n])),
                Parameter::new(Tensor::zeros(&[n])),
            )
        };
        let mut norms = vec![pair("ln_ih", gh), pair("ln_hh", gh)];
        if kind.has_cell() {
            norms.push(pair("ln_c", hidden));
        }
        GateNorms { norms }
    }

    /// Calls `f` on `ln_ih_weight{suffix}`, `ln_ih_bias{suffix}`, then
    /// `ln_hh_*` and `ln_c_*` (named like PyTorch's `weight_ih_l0`).
    pub(crate) fn visit(&self, suffix: &str, f: &mut dyn FnMut(&str, &Parameter<T>)) {
        for (name, gain, bias) in &self.norms {
            f(&format!("{name}_weight{suffix}"), gain);
            f(&format!("{name}_bias{suffix}"), bias);
        }
    }

    pub(crate) fn vars(&self) -> GateNormVars<T> {
        let v = |i: usize| self.norms.get(i).map(|(_, g, b)| (g.var(), b.var()));
        GateNormVars {
            ih: v(0).expect("ln_ih"),
            hh: v(1).expect("ln_hh"),
            c: v(2),
        }
    }
}

/// [`GateNorms`] brought into the graph being built: `(gain, bias)` pairs.
#[derive(Clone, Debug)]
pub(crate) struct GateNormVars<T: Element> {
    ih: (Var<T>, Var<T>),
    hh: (Var<T>, Var<T>),
    c: Option<(Var<T>, Var<T>)>,
}

/// `x: [.., n]` normalised over its last axis, then scaled and shifted.
fn normalise<T: Element>(x: &Var<T>, (gain, bias): &(Var<T>, Var<T>)) -> Result<Var<T>> {
    let n = x.shape()[x.ndim() - 1];
    layer_norm(x, &[n], Some(gain), Some(bias), LN_EPS)
}

/// What one direction of one layer reads on the step-by-step path.
pub(crate) struct StepwiseInputs<'a, T: Element> {
    pub kind: CellKind,
    /// `[seq, batch, G·H]`: `x·W_ihᵀ` *without* the bias (the norm comes first).
    pub xproj: &'a Var<T>,
    pub w: &'a DirectionVars<T>,
    pub norms: Option<&'a GateNormVars<T>>,
    /// `[batch, H]`, already scaled by `1/(1−p)`: multiplies `h_{t−1}` at every step.
    pub recurrent_mask: Option<&'a Tensor<T>>,
    pub h0: &'a Var<T>,
    pub c0: Option<&'a Var<T>>,
    pub lengths: Option<&'a [usize]>,
}

/// The normalised input pre-activations `LN(x·W_ihᵀ) + b_ih`, all steps at
/// once (a row-wise norm commutes with the reversal of a backward direction).
fn input_pre_activations<T: Element>(inputs: &StepwiseInputs<'_, T>) -> Result<Var<T>> {
    let mut x = inputs.xproj.clone();
    if let Some(norms) = inputs.norms {
        x = normalise(&x, &norms.ih)?;
    }
    match &inputs.w.bias_ih {
        Some(b) => x.try_add(b),
        None => Ok(x),
    }
}

/// The recurrent pre-activations of one step: `LN(m ⊙ h · W_hhᵀ) + b_hh`.
fn recurrent_pre_activations<T: Element>(
    inputs: &StepwiseInputs<'_, T>,
    h: &Var<T>,
) -> Result<Var<T>> {
    let h = match inputs.recurrent_mask {
        Some(m) => h.mul_tensor(m),
        None => h.clone(),
    };
    let mut p = h.try_matmul_t(&inputs.w.weight_hh, false, true)?;
    if let Some(norms) = inputs.norms {
        p = normalise(&p, &norms.hh)?;
    }
    match &inputs.w.bias_hh {
        Some(b) => p.try_add(b),
        None => Ok(p),
    }
}

/// Runs one direction of one layer step by step; shapes and the meaning of
/// `lengths` as in [`recurrence`](crate::recurrence()).
pub(crate) fn stepwise_recurrence<T: Element>(
    inputs: StepwiseInputs<'_, T>,
) -> Result<RecurrenceOutput<T>> {
    let kind = inputs.kind;
    let &[steps, n, gh] = inputs.xproj.shape() else {
        unreachable!("the caller projects a 3-d input")
    };
    let hid = gh / kind.gates();
    let gate = |v: &Var<T>, k: usize| v.narrow(1, k * hid, hid);
    let xs = input_pre_activations(&inputs)?;
    let (mut h, mut c) = (inputs.h0.clone(), inputs.c0.cloned());
    let mut outputs = Vec::with_capacity(steps);
    for t in 0..steps {
        let x = xs.narrow(0, t, 1).reshape([n, gh]);
        let r = recurrent_pre_activations(&inputs, &h)?;
        let (h_new, c_new) = match kind {
            CellKind::RnnTanh => (x.add(&r).tanh(), None),
            CellKind::RnnRelu => (x.add(&r).relu(), None),
            CellKind::Lstm => {
                let a = x.add(&r);
                let (i, f) = (gate(&a, 0).sigmoid(), gate(&a, 1).sigmoid());
                let (g, o) = (gate(&a, 2).tanh(), gate(&a, 3).sigmoid());
                let c_prev = c.as_ref().expect("the LSTM has a cell state");
                let c_new = f.mul(c_prev).add(&i.mul(&g));
                let c_out = match inputs.norms.and_then(|nv| nv.c.as_ref()) {
                    Some(ln) => normalise(&c_new, ln)?,
                    None => c_new.clone(),
                };
                (o.mul(&c_out.tanh()), Some(c_new))
            }
            CellKind::Gru => {
                let rz = gate(&x, 0).add(&gate(&r, 0)).sigmoid();
                let z = gate(&x, 1).add(&gate(&r, 1)).sigmoid();
                let cand = gate(&x, 2).add(&rz.mul(&gate(&r, 2))).tanh();
                // h' = (1 − z) ⊙ n + z ⊙ h = n + z ⊙ (h − n)
                (cand.add(&z.mul(&h.sub(&cand))), None)
            }
        };
        // Past its length a sequence keeps its state and outputs zeros.
        let valid = inputs.lengths.and_then(|lens| {
            lens.iter().any(|&l| t >= l).then(|| {
                let v = lens.iter().flat_map(|&l| {
                    std::iter::repeat_n(if t < l { T::one() } else { T::zero() }, hid)
                });
                Tensor::from_vec(v.collect(), &[n, hid])
            })
        });
        match valid {
            Some(v) => {
                let keep = v.map(|a| T::one() - a);
                outputs.push(h_new.mul_tensor(&v));
                h = h_new.mul_tensor(&v).add(&h.mul_tensor(&keep));
                if let (Some(cn), Some(cp)) = (c_new, c.as_ref()) {
                    c = Some(cn.mul_tensor(&v).add(&cp.mul_tensor(&keep)));
                }
            }
            None => {
                outputs.push(h_new.clone());
                h = h_new;
                if c_new.is_some() {
                    c = c_new;
                }
            }
        }
    }
    Ok(RecurrenceOutput {
        output: Var::stack(&outputs.iter().collect::<Vec<_>>(), 0),
        h_n: h,
        c_n: c,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::{DirectionWeights, RecurrentInit};
    use nn_autograd::gradcheck::{check_gradients, GradCheckConfig};
    use nn_tensor::Rng;
    use proptest::prelude::*;

    fn flat(vs: &[&Var<f64>]) -> Var<f64> {
        let parts: Vec<Var<f64>> = vs.iter().map(|v| v.reshape([v.value().numel()])).collect();
        Var::concat(&parts.iter().collect::<Vec<_>>(), 0)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

        /// Every input of the step-by-step path, the gains and biases of the
        /// norms included, against f64 finite differences, for every cell,
        /// with a recurrent mask and a padded sequence.
        #[test]
        fn stepwise_gradients_match_finite_differences(
            which in 0usize..4,
            masked in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let kind = [CellKind::RnnTanh, CellKind::RnnRelu, CellKind::Lstm, CellKind::Gru][which];
            let mut rng = Rng::seed_from(seed);
            let (steps, n, hid) = (3, 2, 3);
            let gh = kind.gates() * hid;
            let normal = |shape: &[usize], rng: &mut Rng| Tensor::<f64>::rand_normal(shape, 0.0, 1.0, rng);
            let mut inputs = vec![
                normal(&[steps, n, gh], &mut rng), // xproj
                normal(&[n, hid], &mut rng),       // h0
                normal(&[n, hid], &mut rng),       // c0
                normal(&[gh, hid], &mut rng),      // weight_hh
                normal(&[gh], &mut rng),           // bias_ih
                normal(&[gh], &mut rng),           // bias_hh
            ];
            for size in [gh, gh, hid] {
                inputs.push(normal(&[size], &mut rng).add_scalar(1.0)); // gain
                inputs.push(normal(&[size], &mut rng));                 // bias
            }
            let mask = masked.then(|| Tensor::<f64>::rand_bernoulli(&[n, hid], 0.5, &mut rng).mul_scalar(2.0));
            let lengths = [3, 2];
            let report = check_gradients(
                |v| {
                    let w = DirectionVars {
                        weight_ih: Var::constant(Tensor::zeros(&[gh, 1])),
                        weight_hh: v[3].clone(),
                        bias_ih: Some(v[4].clone()),
                        bias_hh: Some(v[5].clone()),
                    };
                    let norms = GateNormVars {
                        ih: (v[6].clone(), v[7].clone()),
                        hh: (v[8].clone(), v[9].clone()),
                        c: kind.has_cell().then(|| (v[10].clone(), v[11].clone())),
                    };
                    let c0 = kind.has_cell().then(|| v[2].clone());
                    let out = stepwise_recurrence(StepwiseInputs {
                        kind,
                        xproj: &v[0],
                        w: &w,
                        norms: Some(&norms),
                        recurrent_mask: mask.as_ref(),
                        h0: &v[1],
                        c0: c0.as_ref(),
                        lengths: Some(&lengths),
                    })
                    .unwrap();
                    let c_n = out.c_n.unwrap_or_else(|| v[2].clone());
                    // The unused inputs enter with a zero gradient.
                    let unused = v[10].add(&v[11]).mul_scalar(if kind.has_cell() { 0.0 } else { 1.0 });
                    flat(&[&out.output, &out.h_n, &c_n, &unused])
                },
                &inputs,
                GradCheckConfig { step: 1e-6, tolerance: 1e-6 },
            );
            prop_assert!(report.passed, "{kind:?}: {report}");
        }
    }

    /// Without norms or mask the step-by-step path is the fused recurrence,
    /// padded sequences included, for every cell.
    #[test]
    fn without_options_the_stepwise_path_is_the_fused_recurrence() {
        let mut rng = Rng::seed_from(9);
        let (steps, n, i, hid) = (4, 3, 2, 5);
        for kind in [
            CellKind::RnnTanh,
            CellKind::RnnRelu,
            CellKind::Lstm,
            CellKind::Gru,
        ] {
            let w = DirectionWeights::<f64>::new(
                kind,
                i,
                hid,
                true,
                RecurrentInit::default(),
                &mut rng,
            )
            .vars();
            let x = Var::constant(Tensor::rand_normal(&[steps * n, i], 0.0, 1.0, &mut rng));
            let xproj =
                x.matmul_t(&w.weight_ih, false, true)
                    .reshape([steps, n, kind.gates() * hid]);
            let h0 = Var::constant(Tensor::rand_normal(&[n, hid], 0.0, 1.0, &mut rng));
            let c0 = kind.has_cell().then(|| h0.mul_scalar(0.5));
            let lengths = [4, 1, 3];
            let fused = crate::recurrence::recurrence_with_input_bias(
                crate::recurrence::RecurrenceInputs {
                    kind,
                    xproj: &xproj,
                    b_ih: w.bias_ih.as_ref(),
                    h0: &h0,
                    c0: c0.as_ref(),
                    w_hh: &w.weight_hh,
                    b_hh: w.bias_hh.as_ref(),
                    lengths: Some(&lengths),
                },
            )
            .unwrap();
            let stepwise = stepwise_recurrence(StepwiseInputs {
                kind,
                xproj: &xproj,
                w: &w,
                norms: None,
                recurrent_mask: None,
                h0: &h0,
                c0: c0.as_ref(),
                lengths: Some(&lengths),
            })
            .unwrap();
            assert!(
                fused.output.value().max_abs_diff(&stepwise.output.value()) < 1e-12,
                "{kind:?}"
            );
            assert!(
                fused.h_n.value().max_abs_diff(&stepwise.h_n.value()) < 1e-12,
                "{kind:?}"
            );
            if let (Some(a), Some(b)) = (fused.c_n, stepwise.c_n) {
                assert!(a.value().max_abs_diff(&b.value()) < 1e-12);
            }
        }
    }

    /// Before the gain, each step's normalised pre-activations have zero
    /// mean and unit variance over the features of every batch row, whatever
    /// the scale of the weights and of the state.
    #[test]
    fn normalised_pre_activations_have_zero_mean_and_unit_variance_per_step() {
        let mut rng = Rng::seed_from(5);
        let (n, i, hid) = (3, 4, 5);
        let w = DirectionWeights::<f64>::new(
            CellKind::Lstm,
            i,
            hid,
            false,
            RecurrentInit::default(),
            &mut rng,
        );
        let mut w = w.vars();
        w.weight_hh = w.weight_hh.mul_scalar(40.0); // a badly scaled recurrence
        let norms = GateNorms::<f64>::new(CellKind::Lstm, hid).vars();
        let xproj = Var::constant(Tensor::rand_normal(&[2, n, 4 * hid], 3.0, 7.0, &mut rng));
        let h = Var::constant(Tensor::rand_normal(&[n, hid], 0.0, 5.0, &mut rng));
        let inputs = StepwiseInputs {
            kind: CellKind::Lstm,
            xproj: &xproj,
            w: &w,
            norms: Some(&norms),
            recurrent_mask: None,
            h0: &h,
            c0: Some(&h),
            lengths: None,
        };
        let xs = input_pre_activations(&inputs)
            .unwrap()
            .value()
            .reshape([2 * n, 4 * hid]);
        let hs = recurrent_pre_activations(&inputs, &h).unwrap().value();
        for rows in [xs, hs] {
            for r in rows.as_slice().chunks(4 * hid) {
                let mean = r.iter().sum::<f64>() / r.len() as f64;
                let var = r.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / r.len() as f64;
                assert!(mean.abs() < 1e-12, "mean {mean}");
                assert!((var - 1.0).abs() < 1e-3, "variance {var}");
            }
        }
    }
}
