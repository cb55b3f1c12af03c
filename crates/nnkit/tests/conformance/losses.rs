//! Losses (fixtures README section 5, and the book's `squared_loss` of
//! section 10b): inputs `input` and `target` (`mu`/`logvar` for the KL
//! term), output `loss` (`kl`).

use nnkit::autograd::ops::loss::try_gaussian_kl;
use nnkit::autograd::{
    BceLoss, BceWithLogitsLoss, CrossEntropyLoss, HuberLoss, MseLoss, NllLoss, SmoothL1Loss,
    SquaredLoss, Target,
};
use nnkit::tensor::{Element, Tensor};

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
        ("binary_cross_entropy", binary_cross_entropy::<T>),
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

/// `params.weighted` (false when absent): the optional `weight` input is
/// read exactly when it is true.
fn weighted<T: Element>(c: &Ctx<'_, T>, loss: &str) -> Result<Option<Tensor<T>>, String> {
    let weighted = match c.case.params.get("weighted") {
        None => false,
        Some(_) => c.param_bool("weighted")?,
    };
    match (weighted, c.has_input("weight")) {
        (true, _) => Ok(Some(c.tensor("weight")?)),
        (false, false) => Ok(None),
        (false, true) => Err(format!(
            "{loss}: a weight input but params.weighted = false"
        )),
    }
}

/// `params.ignore_index`: absent or `null` for none.
fn ignore_index<T: Element>(c: &Ctx<'_, T>) -> Result<Option<usize>, String> {
    match c.case.params.get("ignore_index") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(_) => c.param_usize("ignore_index").map(Some),
    }
}

/// The target: int64 class indices, or float64 class probabilities (a var,
/// so that it gets its gradient).
fn class_target<T: Element>(c: &Ctx<'_, T>) -> Result<Target<'static, T>, String> {
    match c.var("target") {
        Ok(probabilities) => Ok(Target::Values(probabilities)),
        Err(_) => Ok(c.indices("target")?.into()),
    }
}

fn cross_entropy<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let eps = c.param_f("label_smoothing")?.to_f64_lossless();
    let mut ce = CrossEntropyLoss::new()
        .with_reduction(c.reduction()?)
        .with_label_smoothing(eps)
        .map_err(|e| e.to_string())?;
    if let Some(w) = weighted(c, "cross_entropy")? {
        ce = ce.with_weight(w);
    }
    if let Some(i) = ignore_index(c)? {
        ce = ce.with_ignore_index(i);
    }
    let loss = ce
        .try_forward(&c.var("input")?, class_target(c)?)
        .map_err(|e| e.to_string())?;
    Ok(output("loss", loss))
}

fn nll_loss<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let mut nll = NllLoss::new().with_reduction(c.reduction()?);
    if let Some(w) = weighted(c, "nll_loss")? {
        nll = nll.with_weight(w);
    }
    if let Some(i) = ignore_index(c)? {
        nll = nll.with_ignore_index(i);
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
    if let Some(w) = weighted(c, "bce_with_logits")? {
        bce = bce.with_weight(w);
    }
    let loss = bce
        .try_forward(&c.var("input")?, &c.tensor("target")?)
        .map_err(|e| e.to_string())?;
    Ok(output("loss", loss))
}

fn binary_cross_entropy<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let mut bce = BceLoss::new().with_reduction(c.reduction()?);
    if let Some(w) = weighted(c, "binary_cross_entropy")? {
        bce = bce.with_weight(w);
    }
    let loss = bce
        .try_forward(&c.var("input")?, &c.var("target")?)
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
