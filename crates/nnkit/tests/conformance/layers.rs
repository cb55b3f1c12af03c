//! Layers (fixtures README section 6): `linear`, `batch_norm1d`,
//! `layer_norm`, through the public functional forms the layer modules
//! call (`nnkit::layers::functional`), so the fixture's weights are the vars
//! whose gradients are compared.

use nnkit::layers::functional::{self, RunningStats};
use nnkit::tensor::Element;

use super::common::{output, Ctx, Outputs, Runner};

/// The families of this module.
pub fn runners<T: Element>() -> Vec<(&'static str, Runner<T>)> {
    vec![
        ("linear", linear::<T> as Runner<T>),
        ("batch_norm1d", batch_norm1d::<T>),
        ("layer_norm", layer_norm::<T>),
    ]
}

fn linear<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let (x, w) = (c.var("x")?, c.var("weight")?);
    if w.shape()
        != [
            c.param_usize("out_features")?,
            c.param_usize("in_features")?,
        ]
    {
        return Err(format!(
            "weight shape {:?} disagrees with params",
            w.shape()
        ));
    }
    let b = if c.param_bool("bias")? {
        Some(c.var("bias")?)
    } else {
        None
    };
    let y = functional::linear(&x, &w, b.as_ref()).map_err(|e| e.to_string())?;
    Ok(output("y", y))
}

fn batch_norm1d<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let x = c.var("x")?;
    if x.shape().get(1) != Some(&c.param_usize("num_features")?) {
        return Err(format!("input {:?} disagrees with num_features", x.shape()));
    }
    let affine = c.param_bool("affine")?;
    let (w, b) = if affine {
        (Some(c.var("weight")?), Some(c.var("bias")?))
    } else {
        (None, None)
    };
    let (rm, rv) = (c.tensor("running_mean")?, c.tensor("running_var")?);
    let training = c.param_bool("training")?;
    let running = RunningStats {
        mean: &rm,
        var: &rv,
        momentum: c.param_f("momentum")?.to_f64_lossless(),
    };
    let eps = c.param_f("eps")?.to_f64_lossless();
    let (y, updated) =
        functional::batch_norm(&x, w.as_ref(), b.as_ref(), Some(running), training, eps)
            .map_err(|e| e.to_string())?;
    // Eval leaves the running statistics as they were.
    let (nm, nv) = updated.unwrap_or((rm.clone(), rv.clone()));
    let mut out = output("y", y);
    out.insert("running_mean".into(), nnkit::autograd::Var::constant(nm));
    out.insert("running_var".into(), nnkit::autograd::Var::constant(nv));
    Ok(out)
}

fn layer_norm<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let shape: Vec<usize> = c
        .param("normalized_shape")?
        .as_array()
        .ok_or("normalized_shape is not a list")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or(format!("bad dim {d}")))
        .collect::<Result<_, _>>()?;
    let x = c.var("x")?;
    let (w, b) = if c.param_bool("elementwise_affine")? {
        (Some(c.var("weight")?), Some(c.var("bias")?))
    } else {
        (None, None)
    };
    let eps = c.param_f("eps")?.to_f64_lossless();
    let y = functional::layer_norm(&x, &shape, w.as_ref(), b.as_ref(), eps)
        .map_err(|e| e.to_string())?;
    Ok(output("y", y))
}
