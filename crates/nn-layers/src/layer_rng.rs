//! [`LayerRng`]: the private random generator of a layer (dropout masks),
//! reachable through [`Module::visit_rngs`](crate::Module::visit_rngs) so a
//! training checkpoint can save and restore its position.

use std::sync::Mutex;

use nn_tensor::Rng;

/// A layer's own generator behind a lock (forward takes `&self`, and a
/// model may be shared between threads). Layers that draw randomness in
/// `forward` (`Dropout`, the dropout inside attention and recurrent stacks)
/// hold one and list it in [`Module::visit_local_rngs`](crate::Module::visit_local_rngs),
/// so that `nn-train` writes its state into checkpoints and a resumed run
/// drops exactly the elements an uninterrupted run would.
///
/// ```
/// use nn_layers::LayerRng;
/// use nn_tensor::Rng;
/// let g = LayerRng::new(Rng::seed_from(3));
/// let saved = g.get();
/// let a = g.with(|r| r.uniform_f64());
/// g.set(saved);
/// assert_eq!(g.with(|r| r.uniform_f64()), a);
/// ```
#[derive(Debug)]
pub struct LayerRng(Mutex<Rng>);

impl LayerRng {
    /// Wraps `rng`.
    pub fn new(rng: Rng) -> Self {
        LayerRng(Mutex::new(rng))
    }

    /// Runs `f` with the generator locked.
    pub fn with<R>(&self, f: impl FnOnce(&mut Rng) -> R) -> R {
        // A panic while drawing cannot leave the generator half-updated in a
        // way that matters (it is only a position in a stream): recover it.
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    /// A copy of the generator at its current position.
    pub fn get(&self) -> Rng {
        self.with(|r| r.clone())
    }

    /// Moves the generator to `rng`'s position (restoring a checkpoint).
    pub fn set(&self, rng: Rng) {
        self.with(|r| *r = rng)
    }
}

impl Clone for LayerRng {
    fn clone(&self) -> Self {
        LayerRng::new(self.get())
    }
}
