//! Losses (fixtures README section 5, and the book's `squared_loss` of
//! section 10b): inputs `input` and `target` (`mu`/`logvar` for the KL
//! term), output `loss` (`kl`).

use nnkit::autograd::ops::loss::try_gaussian_kl;
use nnkit::autograd::{
    BceWithLogitsLoss, CrossEntropyLoss, HuberLoss, MseLoss, NllLoss, SmoothL1Loss, SquaredLoss,
};
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
    let loss = MseLoss::new()
        .with_reduction(c.reduction()?)
        .try_forward(&c.var("input")?, &c.var("target")?)
        .map_err(|e| e.to_string())?;
    Ok(output("loss", loss))
}

fn squared_loss<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let loss = SquaredLoss::new()
        .with_reduction(c.reduction()?)
        .try_forward(&c.var("input")?, &c.var("target")?)
        .map_err(|e| e.to_string())?;
    Ok(output("loss", loss))
}

fn cross_entropy<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let eps = c.param_f("label_smoothing")?.to_f64_lossless();
    let (input, target) = (c.var("input")?, c.indices("target")?);
    let loss = CrossEntropyLoss::new()
        .with_reduction(c.reduction()?)
        .with_label_smoothing(eps)
        .and_then(|ce| ce.try_forward(&input, &target))
        .map_err(|e| e.to_string())?;
    Ok(output("loss", loss))
}

fn nll_loss<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let mut nll = NllLoss::new().with_reduction(c.reduction()?);
    if c.param_bool("weighted")? {
        nll = nll.with_weight(c.tensor("weight")?);
    } else if c.has_input("weight") {
        return Err("nll_loss: a weight input but params.weighted = false".into());
    }
    let loss = nll
        .try_forward(&c.var("input")?, &c.indices("target")?)
        .map_err(|e| e.to_string())?;
    Ok(output("loss", loss))
}

fn binary_cross_entropy_with_logits<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let mut bce = BceWithLogitsLoss::new().with_reduction(c.reduction()?);
    if c.param_bool("has_pos_weight")? {
        bce = bce.with_pos_weight(c.tensor("pos_weight")?);
    } else if c.has_input("pos_weight") {
        return Err("bce_with_logits: a pos_weight input but params.has_pos_weight = false".into());
    }
    let loss = bce
        .try_forward(&c.var("input")?, &c.tensor("target")?)
        .map_err(|e| e.to_string())?;
    Ok(output("loss", loss))
}

fn gaussian_kl<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let kl = try_gaussian_kl(&c.var("mu")?, &c.var("logvar")?, c.reduction()?)
        .map_err(|e| e.to_string())?;
    Ok(output("kl", kl))
}

fn huber_loss<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let delta = c.param_f("delta")?.to_f64_lossless();
    let (input, target) = (c.var("input")?, c.var("target")?);
    let loss = HuberLoss::new()
        .with_reduction(c.reduction()?)
        .with_delta(delta)
        .and_then(|h| h.try_forward(&input, &target))
        .map_err(|e| e.to_string())?;
    Ok(output("loss", loss))
}

fn smooth_l1_loss<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let beta = c.param_f("beta")?.to_f64_lossless();
    let (input, target) = (c.var("input")?, c.var("target")?);
    let loss = SmoothL1Loss::new()
        .with_reduction(c.reduction()?)
        .with_beta(beta)
        .and_then(|s| s.try_forward(&input, &target))
        .map_err(|e| e.to_string())?;
    Ok(output("loss", loss))
}
