//! Generative models (fixtures README section 10, `vae_reparam`): inputs
//! `mu`, `logvar` and the constant noise `eps`, output `z`.

use nnkit::generative::try_reparameterize;
use nnkit::tensor::Element;

use super::common::{output, Ctx, Outputs, Runner};

/// The families of this module.
pub fn runners<T: Element>() -> Vec<(&'static str, Runner<T>)> {
    vec![("vae_reparam", vae_reparam::<T> as Runner<T>)]
}

fn vae_reparam<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let z = try_reparameterize(&c.var("mu")?, &c.var("logvar")?, &c.tensor("eps")?)
        .map_err(|e| e.to_string())?;
    Ok(output("z", z))
}
