//! Losses (fixtures README section 5, and the book's `squared_loss` of
//! section 10b): inputs `input` and `target` (`mu`/`logvar` for the KL
//! term), output `loss` (`kl`).

use nnkit::autograd::ops::loss::try_gaussian_kl;
use nnkit::tensor::Element;

use super::common::{output, Ctx, Outputs, Runner};

/// The families of this module.
pub fn runners<T: Element>() -> Vec<(&'static str, Runner<T>)> {
    vec![
        ("mse_loss", mse_loss::<T> as Runner<T>),
        ("squared_loss", squared_loss::<T>),
        ("cross_entropy", cross_entropy::<T>),
        ("nll_loss", nll_loss::<T>),
        (
            "binary_cross_entropy_with_logits",
            binary_cross_entropy_with_logits::<T>,
        ),
        ("gaussian_kl", gaussian_kl::<T>),
        ("huber_loss", huber_loss::<T>),
        ("smooth_l1_loss", smooth_l1_loss::<T>),
    ]
}

fn mse_loss<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let loss = c
        .var("input")?
        .try_mse_loss(&c.var("target")?, c.reduction()?)
        .map_err(|e| e.to_string())?;
    Ok(output("loss", loss))
}

fn squared_loss<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let loss = c
        .var("input")?
        .try_squared_loss(&c.var("target")?, c.reduction()?)
        .map_err(|e| e.to_string())?;
    Ok(output("loss", loss))
}

fn cross_entropy<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let loss = c
        .var("input")?
        .try_cross_entropy(
            &c.indices("target")?,
            c.reduction()?,
            c.param_f("label_smoothing")?,
        )
        .map_err(|e| e.to_string())?;
    Ok(output("loss", loss))
}

fn nll_loss<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let weight = if c.param_bool("weighted")? {
        Some(c.tensor("weight")?)
    } else if c.has_input("weight") {
        return Err("nll_loss: a weight input but params.weighted = false".into());
    } else {
        None
    };
    let loss = c
        .var("input")?
        .try_nll_loss(&c.indices("target")?, weight.as_ref(), c.reduction()?)
        .map_err(|e| e.to_string())?;
    Ok(output("loss", loss))
}

fn binary_cross_entropy_with_logits<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let pos_weight = if c.param_bool("has_pos_weight")? {
        Some(c.tensor("pos_weight")?)
    } else if c.has_input("pos_weight") {
        return Err("bce_with_logits: a pos_weight input but params.has_pos_weight = false".into());
    } else {
        None
    };
    let loss = c
        .var("input")?
        .try_binary_cross_entropy_with_logits(
            &c.tensor("target")?,
            pos_weight.as_ref(),
            c.reduction()?,
        )
        .map_err(|e| e.to_string())?;
    Ok(output("loss", loss))
}

fn gaussian_kl<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let kl = try_gaussian_kl(&c.var("mu")?, &c.var("logvar")?, c.reduction()?)
        .map_err(|e| e.to_string())?;
    Ok(output("kl", kl))
}

fn huber_loss<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let loss = c
        .var("input")?
        .try_huber_loss(&c.var("target")?, c.param_f("delta")?, c.reduction()?)
        .map_err(|e| e.to_string())?;
    Ok(output("loss", loss))
}

fn smooth_l1_loss<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let loss = c
        .var("input")?
        .try_smooth_l1_loss(&c.var("target")?, c.param_f("beta")?, c.reduction()?)
        .map_err(|e| e.to_string())?;
    Ok(output("loss", loss))
}
