//! Initialisation of recurrent weights: PyTorch's default and the options
//! the course names (orthogonal recurrent weights, LSTM forget-gate bias).

use nn_autograd::{Parameter, Var};
use nn_tensor::{Element, Rng, Tensor};

use crate::recurrence::CellKind;

/// How the weights of a recurrent layer or cell start.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct RecurrentInit {
    /// Each `H × H` gate block of `weight_hh` is a random orthogonal matrix
    /// (Saxe et al. 2014): repeated multiplication by it neither explodes nor
    /// vanishes, which helps long sequences. Default `false`.
    pub orthogonal_recurrent: bool,
    /// LSTM only: the forget gate's total bias (`b_if + b_hf`) starts at this
    /// value (1 or 2 in the course, Jozefowicz et al. 2015), so the cell
    /// remembers by default. `bias_ih`'s forget block takes the value and
    /// `bias_hh`'s forget block is zero. Default `None` (PyTorch's uniform).
    pub forget_bias: Option<f64>,
}

/// A random `n × n` orthogonal matrix: Gram–Schmidt on a Gaussian matrix
/// (re-orthogonalised once, which keeps f32 columns orthogonal to ~1e-7).
pub fn orthogonal<T: Element>(n: usize, rng: &mut Rng) -> Tensor<T> {
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(n);
    while cols.len() < n {
        let mut v: Vec<f64> = (0..n).map(|_| rng.normal_f64()).collect();
        for _ in 0..2 {
            for c in &cols {
                let d: f64 = v.iter().zip(c).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(c).for_each(|(a, b)| *a -= d * b);
            }
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm > 1e-6 {
            cols.push(v.into_iter().map(|a| a / norm).collect());
        }
    }
    // Row i of the result is column i's vector: Q is orthogonal either way.
    Tensor::from_vec(cols.into_iter().flatten().map(T::of).collect(), &[n, n])
}

/// The four (or one, three) tensors of one direction of one layer.
#[derive(Clone, Debug)]
pub struct DirectionWeights<T: Element> {
    /// `[G·H, I]`.
    pub weight_ih: Parameter<T>,
    /// `[G·H, H]`.
    pub weight_hh: Parameter<T>,
    /// `[G·H]`, or `None` when the layer has no bias.
    pub bias_ih: Option<Parameter<T>>,
    /// `[G·H]`, or `None` when the layer has no bias.
    pub bias_hh: Option<Parameter<T>>,
}

/// The weights of one direction of one layer as vars of a graph: what the
/// recurrence actually reads (see [`recurrent_forward`](crate::recurrent_forward)).
#[derive(Clone, Debug)]
pub struct DirectionVars<T: Element> {
    /// `[G·H, I]`.
    pub weight_ih: Var<T>,
    /// `[G·H, H]`.
    pub weight_hh: Var<T>,
    /// `[G·H]`.
    pub bias_ih: Option<Var<T>>,
    /// `[G·H]`.
    pub bias_hh: Option<Var<T>>,
}

impl<T: Element> DirectionWeights<T> {
    /// The parameters brought into the graph being built.
    pub fn vars(&self) -> DirectionVars<T> {
        DirectionVars {
            weight_ih: self.weight_ih.var(),
            weight_hh: self.weight_hh.var(),
            bias_ih: self.bias_ih.as_ref().map(Parameter::var),
            bias_hh: self.bias_hh.as_ref().map(Parameter::var),
        }
    }

    /// PyTorch's default: every tensor uniform in `[−1/√H, 1/√H]`, then the
    /// options of `init`. Internal: the cell and layer configs' `init` call
    /// it after checking `input` and `hidden` are at least 1, so their
    /// errors name the layer the user built.
    pub(crate) fn new(
        kind: CellKind,
        input: usize,
        hidden: usize,
        bias: bool,
        init: RecurrentInit,
        rng: &mut Rng,
    ) -> Self {
        debug_assert!(input > 0 && hidden > 0, "sizes checked by the configs");
        let gh = kind.gates() * hidden;
        let k = 1.0 / (hidden as f64).sqrt();
        let weight_ih = Tensor::rand_uniform(&[gh, input], -k, k, rng);
        let mut weight_hh = Tensor::rand_uniform(&[gh, hidden], -k, k, rng);
        if init.orthogonal_recurrent {
            let blocks: Vec<Tensor<T>> =
                (0..kind.gates()).map(|_| orthogonal(hidden, rng)).collect();
            weight_hh = Tensor::concat(&blocks.iter().collect::<Vec<_>>(), 0);
        }
        let (mut bias_ih, mut bias_hh) = if bias {
            (
                Some(Tensor::<T>::rand_uniform(&[gh], -k, k, rng)),
                Some(Tensor::<T>::rand_uniform(&[gh], -k, k, rng)),
            )
        } else {
            (None, None)
        };
        if let (Some(fb), CellKind::Lstm) = (init.forget_bias, kind) {
            for (b, v) in [(&mut bias_ih, T::of(fb)), (&mut bias_hh, T::zero())] {
                if let Some(b) = b {
                    b.as_mut_slice()[hidden..2 * hidden].fill(v);
                }
            }
        }
        DirectionWeights {
            weight_ih: Parameter::new(weight_ih),
            weight_hh: Parameter::new(weight_hh),
            bias_ih: bias_ih.map(Parameter::new),
            bias_hh: bias_hh.map(Parameter::new),
        }
    }

    /// The tensors with their names, given a suffix (`"_l0"`, `"_l1_reverse"`, or `""` for cells).
    pub fn named(&self, suffix: &str) -> Vec<(String, Parameter<T>)> {
        let mut v = Vec::new();
        self.visit(suffix, &mut |n, p| v.push((n.to_string(), p.clone())));
        v
    }

    /// Calls `f` on each weight with its PyTorch name plus `suffix`, in the
    /// order of [`DirectionWeights::named`] (what [`Module`](nn_layers::Module) visitors use).
    pub fn visit(&self, suffix: &str, f: &mut dyn FnMut(&str, &Parameter<T>)) {
        f(&format!("weight_ih{suffix}"), &self.weight_ih);
        f(&format!("weight_hh{suffix}"), &self.weight_hh);
        if let Some(b) = &self.bias_ih {
            f(&format!("bias_ih{suffix}"), b);
        }
        if let Some(b) = &self.bias_hh {
            f(&format!("bias_hh{suffix}"), b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_matrix_times_its_transpose_is_identity() {
        let mut rng = Rng::seed_from(3);
        let q = orthogonal::<f64>(7, &mut rng);
        let qqt = q.matmul_t(&q, false, true);
        assert!(qqt.max_abs_diff(&Tensor::eye(7)) < 1e-12);
    }

    #[test]
    fn forget_bias_sets_the_forget_block_total() {
        let mut rng = Rng::seed_from(4);
        let init = RecurrentInit {
            orthogonal_recurrent: true,
            forget_bias: Some(2.0),
        };
        let w = DirectionWeights::<f64>::new(CellKind::Lstm, 3, 5, true, init, &mut rng);
        let total = w.bias_ih.unwrap().value().add(&w.bias_hh.unwrap().value());
        assert!(total.as_slice()[5..10].iter().all(|&v| v == 2.0));
        assert!(total.as_slice()[..5].iter().all(|&v| v.abs() < 1.0));
        let hh = w.weight_hh.value().narrow(0, 5, 5);
        assert!(hh.matmul_t(&hh, false, true).max_abs_diff(&Tensor::eye(5)) < 1e-12);
    }
}
