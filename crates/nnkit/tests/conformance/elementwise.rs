//! Activations and softmax (fixtures README section 4): input `x`, output `y`.

use nnkit::tensor::Element;

use super::common::{output, Ctx, Outputs, Runner};

/// The families of this module.
pub fn runners<T: Element>() -> Vec<(&'static str, Runner<T>)> {
    vec![
        ("relu", relu::<T> as Runner<T>),
        ("leaky_relu", leaky_relu::<T>),
        ("prelu", prelu::<T>),
        ("elu", elu::<T>),
        ("sigmoid", sigmoid::<T>),
        ("tanh", tanh::<T>),
        ("gelu", gelu::<T>),
        ("softplus", softplus::<T>),
        ("softmax", softmax::<T>),
        ("log_softmax", log_softmax::<T>),
    ]
}

fn relu<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    Ok(output("y", c.var("x")?.relu()))
}

fn leaky_relu<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let slope = c.param_f("negative_slope")?;
    Ok(output("y", c.var("x")?.leaky_relu(slope)))
}

fn prelu<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let weight = c.var("weight")?;
    let n = c.param_usize("num_parameters")?;
    if weight.shape() != [n] {
        return Err(format!(
            "prelu: weight shape {:?} disagrees with num_parameters = {n}",
            weight.shape()
        ));
    }
    Ok(output("y", c.var("x")?.prelu(&weight)))
}

fn elu<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let alpha = c.param_f("alpha")?;
    Ok(output("y", c.var("x")?.elu(alpha)))
}

fn sigmoid<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    Ok(output("y", c.var("x")?.sigmoid()))
}

fn tanh<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    Ok(output("y", c.var("x")?.tanh()))
}

fn gelu<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let x = c.var("x")?;
    let y = match c.param_str("approximate")? {
        "none" => x.gelu(),
        "tanh" => x.gelu_tanh(),
        other => return Err(format!("gelu: unknown approximate = {other:?}")),
    };
    Ok(output("y", y))
}

fn softplus<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let beta = c.param_f("beta")?;
    let threshold = c.param_f("threshold")?;
    Ok(output("y", c.var("x")?.softplus(beta, threshold)))
}

fn softmax<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let dim = c.param_dim("dim")?;
    Ok(output("y", c.var("x")?.softmax(dim)))
}

fn log_softmax<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let dim = c.param_dim("dim")?;
    Ok(output("y", c.var("x")?.log_softmax(dim)))
}
