//! A module of a type the exporter does not know (a user's model, written
//! with `#[derive(Module)]`) as the chain of its children in field order.
//! Whether its forward is that chain only its code knows: the caller
//! compares the chain's output with the model's own on the example input
//! and refuses the export when they differ (see [`super::export_proto`]).

use nn_layers::Module;

use super::{unsupported, Builder, Traced};
use crate::error::Result;

impl Builder {
    pub(super) fn chain_of_children(
        &mut self,
        m: &dyn Module<f32>,
        prefix: &str,
        x: &Traced,
    ) -> Result<Traced> {
        let mut own = Vec::new();
        m.visit_local_parameters(&mut |n, _| own.push(n.to_string()));
        m.visit_local_buffers(&mut |n, _| own.push(n.to_string()));
        let mut children = 0;
        m.visit_children(&mut |_, _| children += 1);
        if children == 0 || !own.is_empty() {
            let why = if own.is_empty() {
                String::new()
            } else {
                format!(" (it has parameters of its own: {})", own.join(", "))
            };
            return Err(unsupported(prefix, format!("layer {}{why}", m.type_name())));
        }
        let mut t = Ok(x.clone());
        m.visit_children(&mut |name, child| {
            if let Ok(x) = &t {
                t = self.child(child, prefix, name, x);
            }
        });
        self.assumed_chains
            .push(format!("{prefix}{}", m.type_name()));
        t
    }
}
