//! Graph layers: [`GcnConv`] (Kipf & Welling's graph convolution),
//! [`SageConv`] (GraphSAGE with the mean aggregator) and the graph-level
//! readout [`global_mean_pool`].
//!
//! Every layer takes its propagation matrix (a [`Csr`]) ready-made rather
//! than the edge list: it depends only on the graph, so a training loop
//! builds it once (`edges.gcn_normalized(true)`) and reuses it every step.

use nn_autograd::{Parameter, Var};
use nn_layers::{init, Initializer, Linear, LinearConfig, Module};
use nn_tensor::{or_panic, Element, Result, Rng, TensorError};

use crate::sparse::Csr;

fn check_nodes<T: Element>(op: &'static str, a: &Csr<T>, x: &Var<T>) -> Result<()> {
    if a.rows() != a.cols() || x.ndim() != 2 || x.shape()[0] != a.cols() {
        return Err(TensorError::shapes(
            op,
            &[a.rows(), a.cols()],
            x.shape(),
            "the propagation matrix must be [N, N] and the node features [N, F]",
        ));
    }
    Ok(())
}

/// One graph convolution, functional form:
/// `y = Â · (x · weightᵀ) + bias`, with `Â` the propagation matrix (for
/// Kipf & Welling, [`crate::Edges::gcn_normalized`]), `x [N, F_in]`,
/// `weight [F_out, F_in]` (the layout of `Linear`), `bias [F_out]`. The
/// features are transformed before they are aggregated, the cheaper order
/// when `F_out ≤ F_in`.
pub fn gcn_conv<T: Element>(
    a_hat: &Csr<T>,
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
) -> Result<Var<T>> {
    check_nodes("gcn_conv", a_hat, x)?;
    if weight.ndim() != 2 || weight.shape()[1] != x.shape()[1] {
        return Err(TensorError::shapes(
            "gcn_conv",
            x.shape(),
            weight.shape(),
            format!("weight must be [F_out, {}]", x.shape()[1]),
        ));
    }
    let f_out = weight.shape()[0];
    if let Some(b) = bias
        && b.shape() != [f_out]
    {
        return Err(TensorError::shapes(
            "gcn_conv",
            weight.shape(),
            b.shape(),
            format!("bias must be [{f_out}]"),
        ));
    }
    let y = a_hat.matmul(&x.matmul(&weight.transpose(0, 1)))?;
    Ok(match bias {
        Some(b) => y.add(b),
        None => y,
    })
}

/// How to build a [`GcnConv`].
#[derive(Clone, Debug, PartialEq)]
pub struct GcnConvConfig {
    /// Input features per node.
    pub in_features: usize,
    /// Output features per node.
    pub out_features: usize,
    /// Whether to add a bias (default `true`; it starts at zero).
    pub bias: bool,
    /// How the weight starts (default Glorot uniform, as PyTorch Geometric).
    pub initializer: Initializer,
}

impl GcnConvConfig {
    /// A layer from `in_features` to `out_features` per node.
    pub fn new(in_features: usize, out_features: usize) -> Self {
        GcnConvConfig {
            in_features,
            out_features,
            bias: true,
            initializer: Initializer::XavierUniform { gain: 1.0 },
        }
    }

    /// With or without a bias.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// With another weight initialiser.
    pub fn with_initializer(mut self, initializer: Initializer) -> Self {
        self.initializer = initializer;
        self
    }

    /// Builds the layer; errors on a zero size.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<GcnConv<T>> {
        if self.in_features == 0 || self.out_features == 0 {
            return Err(TensorError::invalid(
                "GcnConvConfig",
                format!(
                    "in_features = {} and out_features = {} must both be > 0",
                    self.in_features, self.out_features
                ),
            ));
        }
        let weight = self
            .initializer
            .init(&[self.out_features, self.in_features], rng)?;
        let bias = if self.bias {
            Some(Parameter::new(init::zeros(&[self.out_features])))
        } else {
            None
        };
        Ok(GcnConv {
            weight: Parameter::new(weight),
            bias,
        })
    }
}

/// Kipf & Welling's graph convolution `y = D^-1/2 (A + I) D^-1/2 · x · Wᵀ + b`:
/// each node's new vector is a degree-weighted average of its own and its
/// neighbours' transformed vectors.
///
/// * input: the propagation matrix `[N, N]` and node features `[N, F_in]`;
/// * output `[N, F_out]`;
/// * parameters `weight [F_out, F_in]`, `bias [F_out]`.
///
/// ```
/// use nn_graph::{Edges, GcnConvConfig};
/// use nn_tensor::{Rng, Tensor};
/// let edges = Edges::undirected(4, &[(0, 1), (1, 2), (2, 3)]).unwrap();
/// let a_hat = edges.gcn_normalized::<f64>(true);
/// let gcn = GcnConvConfig::new(3, 2).init::<f64>(&mut Rng::seed_from(0)).unwrap();
/// let y = gcn.forward(&a_hat, &Tensor::ones(&[4, 3]));
/// assert_eq!(y.shape(), &[4, 2]);
/// ```
#[derive(Clone, Debug, Module)]
pub struct GcnConv<T: Element> {
    /// `[out_features, in_features]`.
    pub weight: Parameter<T>,
    /// `[out_features]`, if the layer has a bias.
    pub bias: Option<Parameter<T>>,
}

impl<T: Element> GcnConv<T> {
    /// `a_hat · x · weightᵀ + bias`; errors on shapes that disagree.
    pub fn try_forward(&self, a_hat: &Csr<T>, x: &Var<T>) -> Result<Var<T>> {
        let b = self.bias.as_ref().map(|b| b.var());
        gcn_conv(a_hat, x, &self.weight.var(), b.as_ref())
    }

    /// Panicking [`GcnConv::try_forward`].
    #[track_caller]
    pub fn forward(&self, a_hat: &Csr<T>, x: impl Into<Var<T>>) -> Var<T> {
        or_panic(self.try_forward(a_hat, &x.into()))
    }
}

/// How to build a [`SageConv`] (PyTorch Geometric's `SAGEConv(in_channels,
/// out_channels, bias=True)`, mean aggregation).
///
/// ```
/// use nn_graph::SageConvConfig;
/// use nn_tensor::Rng;
/// let sage = SageConvConfig::new(4, 8).init::<f32>(&mut Rng::seed_from(0))?;
/// assert!(sage.lin_neigh.bias.is_some() && sage.lin_root.bias.is_none());
///
/// let err = SageConvConfig::new(4, 0).init::<f32>(&mut Rng::seed_from(0)).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "SageConvConfig: in_features = 4 and out_features = 0 must both be > 0"
/// );
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SageConvConfig {
    /// Input features per node.
    pub in_features: usize,
    /// Output features per node.
    pub out_features: usize,
    /// Whether `lin_neigh` has a bias (default `true`; `lin_root` never has one).
    pub bias: bool,
}

impl SageConvConfig {
    /// A layer from `in_features` to `out_features` per node.
    pub fn new(in_features: usize, out_features: usize) -> Self {
        SageConvConfig {
            in_features,
            out_features,
            bias: true,
        }
    }

    /// With or without a bias.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Builds the layer, both linear maps initialised as PyTorch's `Linear`
    /// (`lin_neigh` drawn first); errors on a zero size.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<SageConv<T>> {
        let (i, o) = (self.in_features, self.out_features);
        if i == 0 || o == 0 {
            return Err(TensorError::invalid(
                "SageConvConfig",
                format!("in_features = {i} and out_features = {o} must both be > 0"),
            ));
        }
        Ok(SageConv {
            lin_neigh: LinearConfig::new(i, o).with_bias(self.bias).init(rng)?,
            lin_root: LinearConfig::new(i, o).with_bias(false).init(rng)?,
        })
    }
}

/// GraphSAGE with the mean aggregator (Hamilton et al.), as PyTorch
/// Geometric's `SAGEConv`: `y_i = W_root · x_i + W_neigh · mean_{j → i} x_j + b`.
/// Unlike [`GcnConv`] it keeps a node's own vector apart from its
/// neighbourhood's, so it can tell a node from its surroundings.
///
/// * input: the mean-aggregation matrix `[N, N]`
///   ([`crate::Edges::mean_aggregation`]) and node features `[N, F_in]`;
/// * output `[N, F_out]`;
/// * parameters `lin_neigh.weight`, `lin_neigh.bias`, `lin_root.weight`.
///
/// ```
/// use nn_graph::{Edges, SageConvConfig};
/// use nn_tensor::{Rng, Tensor};
/// let edges = Edges::undirected(3, &[(0, 1), (1, 2)]).unwrap();
/// let sage = SageConvConfig::new(4, 8).init::<f32>(&mut Rng::seed_from(0)).unwrap();
/// let y = sage.forward(&edges.mean_aggregation(), &Tensor::ones(&[3, 4]));
/// assert_eq!(y.shape(), &[3, 8]);
/// ```
#[derive(Clone, Debug, Module)]
pub struct SageConv<T: Element> {
    /// Applied to the neighbourhood mean; holds the bias.
    pub lin_neigh: Linear<T>,
    /// Applied to the node's own vector; no bias.
    pub lin_root: Linear<T>,
}

impl<T: Element> SageConv<T> {
    /// `lin_neigh(mean · x) + lin_root(x)`; errors on shapes that disagree.
    pub fn try_forward(&self, mean: &Csr<T>, x: &Var<T>) -> Result<Var<T>> {
        use nn_layers::Forward;
        check_nodes("SageConv", mean, x)?;
        let neigh = self.lin_neigh.try_forward(&mean.matmul(x)?)?;
        Ok(neigh.add(&self.lin_root.try_forward(x)?))
    }

    /// Panicking [`SageConv::try_forward`].
    #[track_caller]
    pub fn forward(&self, mean: &Csr<T>, x: impl Into<Var<T>>) -> Var<T> {
        or_panic(self.try_forward(mean, &x.into()))
    }
}

/// Each graph's mean node vector, `[graphs, F]`, from the node features
/// `[N, F]` of a batched union and its [`crate::GraphBatch::mean_pool_matrix`]:
/// the readout that turns node embeddings into one vector per graph.
pub fn global_mean_pool<T: Element>(pool: &Csr<T>, x: &Var<T>) -> Result<Var<T>> {
    pool.matmul(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Edges;
    use nn_tensor::Tensor;

    #[test]
    fn gcn_equals_its_dense_formula_and_checks_shapes() {
        let mut rng = Rng::seed_from(5);
        let edges = Edges::undirected(4, &[(0, 1), (1, 2), (1, 3)]).unwrap();
        let a = edges.gcn_normalized::<f64>(true);
        let gcn = GcnConvConfig::new(3, 2).init::<f64>(&mut rng).unwrap();
        let x = Tensor::rand_normal(&[4, 3], 0.0, 1.0, &mut rng);
        let y = gcn.forward(&a, &x).value().to_vec();
        let dense = a
            .to_dense()
            .matmul(&x.matmul(&gcn.weight.value().transpose(0, 1)));
        for (g, w) in y.iter().zip(dense.to_vec()) {
            assert!((g - w).abs() < 1e-14);
        }
        let e = gcn
            .try_forward(&a, &Var::constant(Tensor::zeros(&[4, 5])))
            .unwrap_err()
            .to_string();
        assert!(e.contains("gcn_conv") && e.contains("[4, 5]"), "{e}");
        assert!(gcn
            .try_forward(&a, &Var::constant(Tensor::zeros(&[3, 3])))
            .is_err());
        assert_eq!(gcn.named_parameters().len(), 2);
    }

    #[test]
    fn sage_separates_a_node_from_its_neighbourhood() {
        let mut rng = Rng::seed_from(2);
        let sage = SageConvConfig::new(2, 3).init::<f64>(&mut rng).unwrap();
        let names: Vec<String> = sage
            .named_parameters()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            ["lin_neigh.weight", "lin_neigh.bias", "lin_root.weight"]
        );
        let unbiased = SageConvConfig::new(2, 3)
            .with_bias(false)
            .init::<f64>(&mut rng)
            .unwrap();
        assert_eq!(unbiased.named_parameters().len(), 2);
        // Star 0 - {1, 2}: node 0's aggregate is the mean of 1 and 2.
        let m = Edges::undirected(3, &[(0, 1), (0, 2)])
            .unwrap()
            .mean_aggregation::<f64>();
        let x = Tensor::from_vec(vec![1., 0., 2., 4., 0., 2.], &[3, 2]);
        let y = sage.forward(&m, x).value().clone();
        let lin = |l: &Linear<f64>, v: [f64; 2]| {
            use nn_layers::Forward;
            l.forward(Var::constant(Tensor::from_vec(v.to_vec(), &[1, 2])))
                .value()
                .to_vec()
        };
        let (n, r) = (
            lin(&sage.lin_neigh, [1., 3.]),
            lin(&sage.lin_root, [1., 0.]),
        );
        for k in 0..3 {
            assert!((y.get(&[0, k]) - (n[k] + r[k])).abs() < 1e-14);
        }
    }
}
