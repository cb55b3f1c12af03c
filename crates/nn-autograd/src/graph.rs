//! The backward pass and the [`Gradients`] store.

use std::collections::{HashMap, HashSet};

use nn_tensor::{Element, Tensor};

use crate::var::{Var, VarId};

/// The gradients of a backward pass, keyed by [`VarId`]. It holds one entry
/// per leaf that needs a gradient (inputs and parameters); nothing is stored
/// on the vars themselves, so two graphs never interfere.
#[derive(Clone, Debug, Default)]
pub struct Gradients<T: Element> {
    map: HashMap<VarId, Tensor<T>>,
}

impl<T: Element> Gradients<T> {
    /// An empty store.
    pub fn new() -> Self {
        Gradients {
            map: HashMap::new(),
        }
    }

    /// The gradient of a var, if one reached it.
    pub fn get(&self, v: &Var<T>) -> Option<&Tensor<T>> {
        self.map.get(&v.id())
    }

    /// The gradient stored under an id.
    pub fn get_id(&self, id: VarId) -> Option<&Tensor<T>> {
        self.map.get(&id)
    }

    /// Replaces or adds a gradient (gradient clipping and tests use this).
    pub fn insert(&mut self, id: VarId, g: Tensor<T>) {
        self.map.insert(id, g);
    }

    /// Removes and returns a gradient.
    pub fn remove(&mut self, id: VarId) -> Option<Tensor<T>> {
        self.map.remove(&id)
    }

    /// Adds `g` to the gradient under `id` (accumulation over several
    /// backward passes, e.g. gradient accumulation over micro-batches).
    pub fn accumulate(&mut self, id: VarId, g: Tensor<T>) {
        match self.map.remove(&id) {
            Some(old) => self.map.insert(id, old.add(&g)),
            None => self.map.insert(id, g),
        };
    }

    /// Merges another store into this one, adding gradients of the same id.
    pub fn merge(&mut self, other: Gradients<T>) {
        for (id, g) in other.map {
            self.accumulate(id, g);
        }
    }

    /// Number of gradients held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no gradient is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every (id, gradient) pair, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&VarId, &Tensor<T>)> {
        self.map.iter()
    }

    /// Mutable access to every gradient (clipping works through this).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&VarId, &mut Tensor<T>)> {
        self.map.iter_mut()
    }
}

impl<T: Element> Var<T> {
    /// Back-propagates from this value, which must hold exactly one element
    /// (a loss), seeding its gradient with 1.
    ///
    /// The gradients come back in a fresh store rather than accumulating on
    /// the parameters, so there is nothing to reset between steps: no
    /// `zero_grad`. Hand the store to the optimiser (`opt.step(&grads)`).
    #[doc(alias = "zero_grad")]
    #[track_caller]
    pub fn backward(&self) -> Gradients<T> {
        assert_eq!(
            self.value().numel(),
            1,
            "backward: the output has shape {:?}; call backward on a scalar loss, or use backward_with",
            self.shape()
        );
        self.backward_with(Tensor::ones(self.shape()))
    }

    /// Back-propagates from this value with an explicit upstream gradient of
    /// the same shape (the vector in a vector–Jacobian product).
    #[track_caller]
    pub fn backward_with(&self, seed: Tensor<T>) -> Gradients<T> {
        assert_eq!(
            seed.shape(),
            self.shape(),
            "backward_with: seed shape {:?} differs from the output shape {:?}",
            seed.shape(),
            self.shape()
        );
        let mut out = Gradients::new();
        if !self.requires_grad() {
            return out;
        }
        let order = topological_order(self);
        let mut pending: HashMap<VarId, Tensor<T>> = HashMap::new();
        pending.insert(self.id(), seed);
        for var in order.iter().rev() {
            let Some(grad) = pending.remove(&var.id()) else {
                continue;
            };
            let Some(gf) = var.node.grad_fn.as_ref() else {
                // A leaf: this is a result.
                out.accumulate(var.id(), grad);
                continue;
            };
            let parent_grads = (gf.backward)(&grad);
            assert_eq!(
                parent_grads.len(),
                gf.parents.len(),
                "backward of {}: {} gradients for {} inputs",
                gf.op,
                parent_grads.len(),
                gf.parents.len()
            );
            for (p, g) in gf.parents.iter().zip(parent_grads) {
                let Some(g) = g else { continue };
                if !p.requires_grad() {
                    continue;
                }
                assert_eq!(
                    g.shape(),
                    p.shape(),
                    "backward of {}: gradient of shape {:?} for an input of shape {:?}",
                    gf.op,
                    g.shape(),
                    p.shape()
                );
                match pending.remove(&p.id()) {
                    Some(old) => pending.insert(p.id(), old.add(&g)),
                    None => pending.insert(p.id(), g),
                };
            }
        }
        out
    }
}

/// Every var that `root` depends on and that needs a gradient, parents
/// before children. Iterative, so deep graphs do not overflow the stack.
/// Leaves sharing an id (one parameter used twice) appear once.
fn topological_order<T: Element>(root: &Var<T>) -> Vec<Var<T>> {
    let mut order = Vec::new();
    let mut seen: HashSet<VarId> = HashSet::new();
    // (var, children pushed?)
    let mut stack: Vec<(Var<T>, bool)> = vec![(root.clone(), false)];
    while let Some((v, expanded)) = stack.pop() {
        if expanded {
            order.push(v);
            continue;
        }
        if !seen.insert(v.id()) {
            continue;
        }
        let parents: Vec<Var<T>> = v
            .node
            .grad_fn
            .as_ref()
            .map(|g| {
                g.parents
                    .iter()
                    .filter(|p| p.requires_grad())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        stack.push((v, true));
        for p in parents {
            if !seen.contains(&p.id()) {
                stack.push((p, false));
            }
        }
    }
    order
}
