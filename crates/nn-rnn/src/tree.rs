//! Recursive (tree) networks, the course's extension of the recurrence from
//! chains to trees (section 5.3): one shared composition layer applied
//! bottom-up over binary trees,
//!
//! ```text
//! h_parent = tanh(W · [h_left ; h_right] + b)
//! ```
//!
//! * [`Tree`]: one binary tree as a children table (leaves `0 … L−1`,
//!   internal node `L + k` joins `children[k]`, the last node is the root);
//! * [`Forest`]: several trees numbered as one, with the nodes grouped by
//!   height so that every internal node of one height, across all trees, is
//!   computed by a single GEMM;
//! * [`tree_rnn`]: the functional form (weights given as vars);
//! * [`TreeRnn`] / [`TreeRnnConfig`]: the layer.
//!
//! A chain (a left-deep tree) is exactly an Elman RNN whose input at each
//! step is a leaf; a balanced tree over `n` leaves has a path of only
//! `log₂ n` compositions from any leaf to the root.

use nn_autograd::{Parameter, Var};
use nn_layers::init;
use nn_layers::Module;
use nn_tensor::{or_panic, Element, Result, Rng, TensorError};

/// One binary tree: `leaves` leaf nodes (ids `0 … leaves−1`) and
/// `leaves − 1` internal nodes; internal node `leaves + k` has the two
/// children `children[k] = [left, right]`, both with smaller ids. Every node
/// but the last (the root) is the child of exactly one internal node.
///
/// ```
/// use nn_rnn::Tree;
/// // ((a b) c): leaves a=0, b=1, c=2; node 3 = (a b); node 4 = (3 c), the root.
/// let t = Tree::new(3, vec![[0, 1], [3, 2]]).unwrap();
/// assert_eq!((t.num_nodes(), t.root(), t.height()), (5, 4, 2));
/// assert_eq!(Tree::join(&Tree::join(&Tree::leaf(), &Tree::leaf()), &Tree::leaf()), t);
/// assert!(Tree::new(3, vec![[0, 1], [0, 2]]).is_err()); // leaf 0 used twice
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    leaves: usize,
    children: Vec<[usize; 2]>,
}

impl Tree {
    /// A tree of `leaves ≥ 1` leaves from its children table; errors when
    /// the table does not describe one binary tree (wrong length, a child id
    /// not smaller than its parent's, a node with two parents).
    pub fn new(leaves: usize, children: Vec<[usize; 2]>) -> Result<Tree> {
        let err = |why: String| Err(TensorError::invalid("Tree", why));
        if leaves == 0 {
            return err("a tree needs at least one leaf".into());
        }
        if children.len() != leaves - 1 {
            return err(format!(
                "{leaves} leaves need {} internal nodes, the children table has {}",
                leaves - 1,
                children.len()
            ));
        }
        let mut has_parent = vec![false; 2 * leaves - 1];
        for (k, pair) in children.iter().enumerate() {
            let id = leaves + k;
            for &c in pair {
                if c >= id {
                    return err(format!(
                        "internal node {id} has child {c}: children must have smaller ids"
                    ));
                }
                if std::mem::replace(&mut has_parent[c], true) {
                    return err(format!("node {c} is the child of two internal nodes"));
                }
            }
        }
        Ok(Tree { leaves, children })
    }

    /// The tree with a single leaf (which is its root).
    pub fn leaf() -> Tree {
        Tree {
            leaves: 1,
            children: Vec::new(),
        }
    }

    /// The tree whose root joins `left` and `right`: the leaves of `left`
    /// come first, then those of `right`, keeping their order.
    pub fn join(left: &Tree, right: &Tree) -> Tree {
        let (ll, rl) = (left.leaves, right.leaves);
        let leaves = ll + rl;
        // Old id → new id in each part: leaves keep their rank among all
        // leaves; internal nodes follow every leaf, left's before right's.
        let map_left = |id: usize| if id < ll { id } else { leaves + (id - ll) };
        let map_right = |id: usize| {
            if id < rl {
                ll + id
            } else {
                leaves + (ll - 1) + (id - rl)
            }
        };
        let mut children = Vec::with_capacity(leaves - 1);
        children.extend(left.children.iter().map(|c| c.map(map_left)));
        children.extend(right.children.iter().map(|c| c.map(map_right)));
        children.push([map_left(left.root()), map_right(right.root())]);
        Tree { leaves, children }
    }

    /// The number of leaves.
    pub fn num_leaves(&self) -> usize {
        self.leaves
    }

    /// Leaves plus internal nodes: `2·leaves − 1`.
    pub fn num_nodes(&self) -> usize {
        2 * self.leaves - 1
    }

    /// The children table, `[left, right]` per internal node.
    pub fn children(&self) -> &[[usize; 2]] {
        &self.children
    }

    /// The root's id (the last node).
    pub fn root(&self) -> usize {
        self.num_nodes() - 1
    }

    /// Every node's height: 0 for a leaf, 1 + the larger of its children's.
    pub fn heights(&self) -> Vec<usize> {
        let mut h = vec![0; self.num_nodes()];
        for (k, &[l, r]) in self.children.iter().enumerate() {
            h[self.leaves + k] = 1 + h[l].max(h[r]);
        }
        h
    }

    /// The root's height: the longest path, in compositions, from a leaf.
    pub fn height(&self) -> usize {
        self.heights()[self.root()]
    }
}

/// Trees numbered as one: the leaves of every tree first (tree by tree),
/// then the internal nodes (tree by tree), and the internal nodes grouped
/// by height so [`tree_rnn`] runs one GEMM per height for the whole forest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forest {
    leaves: usize,
    /// Children of each internal node, in forest ids.
    children: Vec<[usize; 2]>,
    /// Forest id of each tree's root.
    roots: Vec<usize>,
    /// Internal node indices (`0 …`, not ids) of each height `1, 2, …`.
    levels: Vec<Vec<usize>>,
}

impl Forest {
    /// The forest of `trees` (at least one).
    pub fn new(trees: &[Tree]) -> Result<Forest> {
        if trees.is_empty() {
            return Err(TensorError::invalid("Forest", "needs at least one tree"));
        }
        let leaves: usize = trees.iter().map(|t| t.leaves).sum();
        let (mut children, mut roots, mut levels) =
            (Vec::new(), Vec::new(), Vec::<Vec<usize>>::new());
        let (mut leaf_base, mut inner_base) = (0, 0);
        for t in trees {
            let map = |id: usize| {
                if id < t.leaves {
                    leaf_base + id
                } else {
                    leaves + inner_base + (id - t.leaves)
                }
            };
            let heights = t.heights();
            for (k, pair) in t.children.iter().enumerate() {
                let h = heights[t.leaves + k];
                if levels.len() < h {
                    levels.resize(h, Vec::new());
                }
                levels[h - 1].push(inner_base + k);
                children.push(pair.map(map));
            }
            roots.push(map(t.root()));
            leaf_base += t.leaves;
            inner_base += t.leaves - 1;
        }
        Ok(Forest {
            leaves,
            children,
            roots,
            levels,
        })
    }

    /// The number of trees.
    pub fn num_trees(&self) -> usize {
        self.roots.len()
    }

    /// The number of leaves over all trees: the rows of the leaf input.
    pub fn num_leaves(&self) -> usize {
        self.leaves
    }

    /// Leaves plus internal nodes over all trees.
    pub fn num_nodes(&self) -> usize {
        self.leaves + self.children.len()
    }

    /// Each tree's root, as a forest id.
    pub fn roots(&self) -> &[usize] {
        &self.roots
    }

    /// The number of GEMMs a forward pass runs: the tallest tree's height.
    pub fn num_levels(&self) -> usize {
        self.levels.len()
    }
}

/// What [`tree_rnn`] returns.
#[derive(Clone, Debug)]
pub struct TreeRnnOutput<T: Element> {
    /// Every node's vector `[nodes, D]` in forest id order (for one tree,
    /// its own id order: leaves, then internal nodes).
    pub states: Var<T>,
    /// Each tree's root vector, `[trees, D]`.
    pub roots: Var<T>,
}

/// The recursive network over `forest`, functional form: `leaves [L, D]`
/// (one row per leaf of the forest, in forest order), `weight [D, 2D]`,
/// `bias [D]`; each internal node computes
/// `h = tanh(weight · [h_left ; h_right] + bias)`, all nodes of one height
/// in one GEMM. Errors name the shapes that disagree.
///
/// ```
/// use nn_autograd::Var;
/// use nn_rnn::{tree_rnn, Forest, Tree};
/// use nn_tensor::Tensor;
/// let pair = Tree::join(&Tree::leaf(), &Tree::leaf());
/// let forest = Forest::new(&[pair, Tree::leaf()]).unwrap();
/// let leaves = Var::leaf(Tensor::<f64>::from_vec(vec![1., 0., 0., 1., 5., 5.], &[3, 2]));
/// // W = [I | I], b = 0: the parent is tanh(left + right).
/// let w = Var::leaf(Tensor::from_vec(vec![1., 0., 1., 0., 0., 1., 0., 1.], &[2, 4]));
/// let out = tree_rnn(&forest, &leaves, &w, None).unwrap();
/// let t = 1f64.tanh();
/// assert_eq!(out.roots.value().to_vec(), vec![t, t, 5., 5.]);
/// assert_eq!(out.states.shape(), &[4, 2]);
/// ```
pub fn tree_rnn<T: Element>(
    forest: &Forest,
    leaves: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
) -> Result<TreeRnnOutput<T>> {
    let op = "tree_rnn";
    if leaves.ndim() != 2 || leaves.shape()[0] != forest.leaves {
        return Err(TensorError::invalid(
            op,
            format!(
                "leaves of shape {:?}: the forest has {} leaves, so it must be [{}, D]",
                leaves.shape(),
                forest.leaves,
                forest.leaves
            ),
        ));
    }
    let d = leaves.shape()[1];
    if weight.shape() != [d, 2 * d] {
        return Err(TensorError::shapes(
            op,
            leaves.shape(),
            weight.shape(),
            format!("weight must be [{d}, {}] for leaves of width {d}", 2 * d),
        ));
    }
    if let Some(b) = bias
        && b.shape() != [d]
    {
        return Err(TensorError::shapes(
            op,
            weight.shape(),
            b.shape(),
            format!("bias must be [{d}]"),
        ));
    }
    let weight_t = weight.transpose(0, 1);
    // `computed` holds the rows computed so far (the leaves, then one block
    // per height); `row[id]` is where node `id` sits in it.
    let mut blocks = vec![leaves.clone()];
    let mut computed = leaves.clone();
    let mut row: Vec<usize> = (0..forest.leaves).collect();
    row.resize(forest.num_nodes(), usize::MAX);
    let mut next_row = forest.leaves;
    for level in &forest.levels {
        let pick = |side: usize| -> Vec<usize> {
            level
                .iter()
                .map(|&k| row[forest.children[k][side]])
                .collect()
        };
        let (left, right) = (
            computed.index_select(0, &pick(0)),
            computed.index_select(0, &pick(1)),
        );
        let mut pre = Var::concat(&[&left, &right], 1).matmul(&weight_t);
        if let Some(b) = bias {
            pre = pre.add(b);
        }
        let h = pre.tanh();
        for &k in level {
            row[forest.leaves + k] = next_row;
            next_row += 1;
        }
        blocks.push(h);
        let refs: Vec<&Var<T>> = blocks.iter().collect();
        computed = Var::concat(&refs, 0);
    }
    let states = computed.index_select(0, &row);
    let roots = states.index_select(0, &forest.roots);
    Ok(TreeRnnOutput { states, roots })
}

/// How to build a [`TreeRnn`].
#[derive(Clone, Debug, PartialEq)]
pub struct TreeRnnConfig {
    /// The width `D` of every node vector (leaves included).
    pub dim: usize,
    /// Whether the composition has a bias (default `true`).
    pub bias: bool,
}

impl TreeRnnConfig {
    /// A composition layer over vectors of width `dim`.
    pub fn new(dim: usize) -> Self {
        TreeRnnConfig { dim, bias: true }
    }

    /// With or without a bias.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Builds the layer: weight and bias `U(±1/√(2·dim))`, as PyTorch's
    /// `Linear(2·dim, dim)`; errors on `dim = 0`.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<TreeRnn<T>> {
        if self.dim == 0 {
            return Err(TensorError::invalid("TreeRnnConfig", "dim must be > 0"));
        }
        let bound = 1.0 / ((2 * self.dim) as f64).sqrt();
        let weight = Parameter::new(init::uniform(
            &[self.dim, 2 * self.dim],
            -bound,
            bound,
            rng,
        )?);
        let bias = if self.bias {
            Some(Parameter::new(init::uniform(
                &[self.dim],
                -bound,
                bound,
                rng,
            )?))
        } else {
            None
        };
        Ok(TreeRnn { weight, bias })
    }
}

/// A recursive neural network: one composition layer
/// `h = tanh(weight · [h_left ; h_right] + bias)` shared by every internal
/// node of every tree, run bottom-up (see [`tree_rnn`]).
///
/// * input: a [`Forest`] and its leaf vectors `[leaves, D]`;
/// * output: every node's vector and each root's ([`TreeRnnOutput`]);
/// * parameters `weight [D, 2D]`, `bias [D]`.
///
/// ```
/// use nn_autograd::Var;
/// use nn_rnn::{Forest, Tree, TreeRnnConfig};
/// use nn_tensor::{Rng, Tensor};
/// let rnn = TreeRnnConfig::new(8).init::<f32>(&mut Rng::seed_from(0)).unwrap();
/// let t = Tree::join(&Tree::join(&Tree::leaf(), &Tree::leaf()), &Tree::leaf());
/// let forest = Forest::new(&[t.clone(), t]).unwrap();
/// let x = Var::leaf(Tensor::ones(&[6, 8]));
/// let out = rnn.forward(&forest, &x);
/// assert_eq!(out.roots.shape(), &[2, 8]);
/// let g = out.roots.sum().backward();
/// assert_eq!(g.get(&rnn.weight.var()).unwrap().shape(), &[8, 16]);
/// ```
#[derive(Clone, Debug, Module)]
pub struct TreeRnn<T: Element> {
    /// `[D, 2D]`: the left child's columns first.
    pub weight: Parameter<T>,
    /// `[D]`, if the layer has a bias.
    pub bias: Option<Parameter<T>>,
}

impl<T: Element> TreeRnn<T> {
    /// The width `D`.
    pub fn dim(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Runs the forest; errors when `leaves` is not `[forest leaves, D]`.
    pub fn try_forward(&self, forest: &Forest, leaves: &Var<T>) -> Result<TreeRnnOutput<T>> {
        let b = self.bias.as_ref().map(|b| b.var());
        tree_rnn(forest, leaves, &self.weight.var(), b.as_ref())
    }

    /// Panicking [`TreeRnn::try_forward`].
    #[track_caller]
    pub fn forward(&self, forest: &Forest, leaves: &Var<T>) -> TreeRnnOutput<T> {
        or_panic(self.try_forward(forest, leaves))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_tensor::Tensor;

    #[test]
    fn forest_groups_internal_nodes_by_height() {
        let pair = Tree::join(&Tree::leaf(), &Tree::leaf());
        let chain = Tree::join(&pair, &Tree::leaf());
        let f = Forest::new(&[chain.clone(), pair.clone(), Tree::leaf()]).unwrap();
        assert_eq!((f.num_leaves(), f.num_nodes(), f.num_levels()), (6, 9, 2));
        // chain's internals are 6, 7; pair's is 8; the lone leaf 5 is a root.
        assert_eq!(f.roots(), &[7, 8, 5]);
        assert_eq!(f.levels, vec![vec![0, 2], vec![1]]);
        assert!(Forest::new(&[]).is_err());
    }

    #[test]
    fn tree_validation_names_the_problem() {
        let e = Tree::new(2, vec![[0, 2]]).unwrap_err().to_string();
        assert!(e.contains("smaller ids"), "{e}");
        assert!(Tree::new(3, vec![[0, 1]]).is_err());
        assert!(Tree::new(0, vec![]).is_err());
        let rnn = TreeRnnConfig::new(2)
            .init::<f64>(&mut Rng::seed_from(1))
            .unwrap();
        let f = Forest::new(&[Tree::leaf()]).unwrap();
        let e = rnn
            .try_forward(&f, &Var::constant(Tensor::zeros(&[2, 2])))
            .unwrap_err()
            .to_string();
        assert!(e.contains("tree_rnn") && e.contains("[2, 2]"), "{e}");
        assert!(rnn
            .try_forward(&f, &Var::constant(Tensor::zeros(&[1, 3])))
            .is_err());
    }

    #[test]
    fn forest_equals_trees_run_one_by_one() {
        let mut rng = Rng::seed_from(3);
        let rnn = TreeRnnConfig::new(3).init::<f64>(&mut rng).unwrap();
        let a = Tree::join(&Tree::leaf(), &Tree::join(&Tree::leaf(), &Tree::leaf()));
        let b = Tree::join(&Tree::join(&Tree::leaf(), &Tree::leaf()), &Tree::leaf());
        let x = Tensor::<f64>::rand_normal(&[6, 3], 0.0, 1.0, &mut rng);
        let both = rnn.forward(
            &Forest::new(&[a.clone(), b.clone()]).unwrap(),
            &Var::constant(x.clone()),
        );
        let one = |t: &Tree, start: usize| {
            let f = Forest::new(std::slice::from_ref(t)).unwrap();
            rnn.forward(&f, &Var::constant(x.narrow(0, start, 3)))
                .roots
                .value()
                .to_vec()
        };
        let want = [one(&a, 0), one(&b, 3)].concat();
        let got = both.roots.value().to_vec();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-14);
        }
    }
}
