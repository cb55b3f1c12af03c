//! Graphs as edge lists, laid out as PyTorch Geometric's `edge_index`, and
//! the sparse matrices the layers aggregate with: the adjacency, its
//! symmetric normalisation with self-loops (GCN) and its row normalisation
//! (mean over neighbours). Several graphs batch as one disjoint union.

use nn_tensor::{Element, Result, TensorError};

use crate::sparse::Csr;

/// The directed edges `sources[e] → targets[e]` of a graph on `num_nodes`
/// nodes. An undirected graph lists each edge in both directions (see
/// [`Edges::undirected`]). Messages flow along the edges: node `t`
/// aggregates over the sources of its incoming edges.
///
/// ```
/// use nn_graph::Edges;
/// // PyTorch Geometric's edge_index [2, E], flat: row 0 sources, row 1 targets.
/// let g = Edges::from_edge_index(3, &[0, 1, 1, 2, 1, 0, 2, 1]).unwrap();
/// assert_eq!(g, Edges::undirected(3, &[(0, 1), (1, 2)]).unwrap());
/// assert_eq!(g.in_degrees(), vec![1, 2, 1]);
/// assert!(Edges::from_edge_index(2, &[0, 5]).is_err()); // node 5 of 2
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edges {
    num_nodes: usize,
    sources: Vec<usize>,
    targets: Vec<usize>,
}

impl Edges {
    /// The edges `sources[e] → targets[e]`; errors on lists of different
    /// lengths or a node id `≥ num_nodes`.
    pub fn new(num_nodes: usize, sources: Vec<usize>, targets: Vec<usize>) -> Result<Edges> {
        if sources.len() != targets.len() {
            return Err(TensorError::invalid(
                "Edges",
                format!("{} sources but {} targets", sources.len(), targets.len()),
            ));
        }
        if let Some(&bad) = sources.iter().chain(&targets).find(|&&n| n >= num_nodes) {
            return Err(TensorError::invalid(
                "Edges",
                format!("edge endpoint {bad} is not a node of a graph with {num_nodes} nodes"),
            ));
        }
        Ok(Edges {
            num_nodes,
            sources,
            targets,
        })
    }

    /// From PyTorch Geometric's `edge_index` of shape `[2, E]`, flattened
    /// row-major (the `E` sources, then the `E` targets).
    pub fn from_edge_index(num_nodes: usize, edge_index: &[usize]) -> Result<Edges> {
        if !edge_index.len().is_multiple_of(2) {
            return Err(TensorError::invalid(
                "Edges::from_edge_index",
                format!("{} entries cannot be laid out as [2, E]", edge_index.len()),
            ));
        }
        let (s, t) = edge_index.split_at(edge_index.len() / 2);
        Edges::new(num_nodes, s.to_vec(), t.to_vec())
    }

    /// An undirected graph: each pair `(a, b)` becomes the two edges
    /// `a → b` and `b → a`.
    pub fn undirected(num_nodes: usize, pairs: &[(usize, usize)]) -> Result<Edges> {
        let sources = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
        let targets = pairs.iter().flat_map(|&(a, b)| [b, a]).collect();
        Edges::new(num_nodes, sources, targets)
    }

    /// The number of nodes.
    pub fn num_nodes(&self) -> usize {
        self.num_nodes
    }

    /// The number of directed edges.
    pub fn num_edges(&self) -> usize {
        self.sources.len()
    }

    /// Each edge's source.
    pub fn sources(&self) -> &[usize] {
        &self.sources
    }

    /// Each edge's target.
    pub fn targets(&self) -> &[usize] {
        &self.targets
    }

    /// The number of incoming edges of each node.
    pub fn in_degrees(&self) -> Vec<usize> {
        let mut d = vec![0; self.num_nodes];
        for &t in &self.targets {
            d[t] += 1;
        }
        d
    }

    /// The adjacency `A [N, N]` with `A[t, s] = 1` for each edge `s → t`
    /// (repeated edges add up), so `(A · H)[t]` sums `t`'s in-neighbours.
    pub fn adjacency<T: Element>(&self) -> Csr<T> {
        let triplets: Vec<(usize, usize, T)> = self
            .targets
            .iter()
            .zip(&self.sources)
            .map(|(&t, &s)| (t, s, T::one()))
            .collect();
        Csr::from_triplets(self.num_nodes, self.num_nodes, &triplets)
            .expect("edge endpoints were checked against num_nodes")
    }

    /// Kipf & Welling's propagation matrix `D^-1/2 Â D^-1/2`, with
    /// `Â = A + I` when `add_self_loops` (else `Â = A`) and `D` the row sums
    /// of `Â`. A row with no entries (an isolated node without a self-loop)
    /// stays zero.
    pub fn gcn_normalized<T: Element>(&self, add_self_loops: bool) -> Csr<T> {
        let mut triplets: Vec<(usize, usize, T)> = self
            .targets
            .iter()
            .zip(&self.sources)
            .map(|(&t, &s)| (t, s, T::one()))
            .collect();
        if add_self_loops {
            triplets.extend((0..self.num_nodes).map(|i| (i, i, T::one())));
        }
        let a = Csr::from_triplets(self.num_nodes, self.num_nodes, &triplets)
            .expect("edge endpoints were checked against num_nodes");
        let inv_sqrt: Vec<T> = a
            .row_sums()
            .into_iter()
            .map(|d| {
                if d > T::zero() {
                    T::one() / d.sqrt()
                } else {
                    T::zero()
                }
            })
            .collect();
        a.map_values(|r, c, v| inv_sqrt[r] * v * inv_sqrt[c])
    }

    /// The mean over in-neighbours: `A` with each row divided by its sum
    /// (GraphSAGE's mean aggregator). A node without in-neighbours gets a
    /// zero row, so its aggregate is the zero vector.
    pub fn mean_aggregation<T: Element>(&self) -> Csr<T> {
        let a = self.adjacency::<T>();
        let sums = a.row_sums();
        a.map_values(|r, _, v| v / sums[r])
    }

    /// The disjoint union of `graphs`: node ids of graph `g` are shifted by
    /// the node counts of the graphs before it. Returns the union and a
    /// [`GraphBatch`] that remembers which node came from which graph.
    ///
    /// ```
    /// use nn_graph::Edges;
    /// let a = Edges::undirected(2, &[(0, 1)]).unwrap();
    /// let b = Edges::undirected(3, &[(0, 2)]).unwrap();
    /// let (union, batch) = Edges::batch(&[a, b]);
    /// assert_eq!(union.num_nodes(), 5);
    /// assert_eq!(union.sources(), &[0, 1, 2, 4]);
    /// assert_eq!(batch.graph_of(), &[0, 0, 1, 1, 1]);
    /// ```
    pub fn batch(graphs: &[Edges]) -> (Edges, GraphBatch) {
        let (mut sources, mut targets, mut graph_of) = (Vec::new(), Vec::new(), Vec::new());
        let mut base = 0;
        for (g, e) in graphs.iter().enumerate() {
            sources.extend(e.sources.iter().map(|s| s + base));
            targets.extend(e.targets.iter().map(|t| t + base));
            graph_of.extend(std::iter::repeat_n(g, e.num_nodes));
            base += e.num_nodes;
        }
        (
            Edges {
                num_nodes: base,
                sources,
                targets,
            },
            GraphBatch {
                num_graphs: graphs.len(),
                graph_of,
            },
        )
    }
}

/// Which graph each node of a batched union belongs to (PyTorch
/// Geometric's `batch` vector), for graph-level readouts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphBatch {
    num_graphs: usize,
    graph_of: Vec<usize>,
}

impl GraphBatch {
    /// From the graph index of each node; errors on an index `≥ num_graphs`.
    pub fn new(num_graphs: usize, graph_of: Vec<usize>) -> Result<GraphBatch> {
        if let Some(&bad) = graph_of.iter().find(|&&g| g >= num_graphs) {
            return Err(TensorError::invalid(
                "GraphBatch",
                format!("graph index {bad} with only {num_graphs} graphs"),
            ));
        }
        Ok(GraphBatch {
            num_graphs,
            graph_of,
        })
    }

    /// The number of graphs.
    pub fn num_graphs(&self) -> usize {
        self.num_graphs
    }

    /// The graph of each node.
    pub fn graph_of(&self) -> &[usize] {
        &self.graph_of
    }

    /// The `[graphs, nodes]` matrix whose product with node features is each
    /// graph's mean node vector (see [`crate::global_mean_pool`]). A graph
    /// without nodes gets a zero row.
    pub fn mean_pool_matrix<T: Element>(&self) -> Csr<T> {
        let mut counts = vec![0usize; self.num_graphs];
        for &g in &self.graph_of {
            counts[g] += 1;
        }
        let triplets: Vec<(usize, usize, T)> = self
            .graph_of
            .iter()
            .enumerate()
            .map(|(n, &g)| (g, n, T::one() / T::from_usize(counts[g]).unwrap()))
            .collect();
        Csr::from_triplets(self.num_graphs, self.graph_of.len(), &triplets)
            .expect("graph indices were checked")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcn_normalisation_by_hand() {
        // Path 0 - 1 - 2 with self-loops: degrees 2, 3, 2.
        let g = Edges::undirected(3, &[(0, 1), (1, 2)]).unwrap();
        let a = g.gcn_normalized::<f64>(true).to_dense().to_vec();
        let (s2, s6) = (1.0 / 2.0, 1.0 / 6f64.sqrt());
        let want = [s2, s6, 0.0, s6, 1.0 / 3.0, s6, 0.0, s6, s2];
        for (x, y) in a.iter().zip(&want) {
            assert!((x - y).abs() < 1e-15, "{a:?}");
        }
        // Without self-loops an isolated node has an all-zero row.
        let lone = Edges::new(2, vec![0], vec![0]).unwrap();
        assert_eq!(
            lone.gcn_normalized::<f64>(false).to_dense().to_vec(),
            vec![1., 0., 0., 0.]
        );
        let m = g.mean_aggregation::<f64>().to_dense().to_vec();
        assert_eq!(m, vec![0., 1., 0., 0.5, 0., 0.5, 0., 1., 0.]);
    }

    #[test]
    fn bad_edges_are_named() {
        let e = Edges::new(3, vec![0, 1], vec![2]).unwrap_err().to_string();
        assert!(e.contains("2 sources but 1 targets"), "{e}");
        assert!(Edges::from_edge_index(3, &[0, 1, 2]).is_err());
        assert!(GraphBatch::new(1, vec![0, 1]).is_err());
    }
}
