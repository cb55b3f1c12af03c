//! Optimisers and gradient clipping (fixtures README section 9), run
//! through `nnkit::optim`'s public API.
//!
//! Optimiser cases: the parameters named in `params.param_names` start at
//! their inputs; each of `params.steps` steps feeds the gradients
//! `grad_{p}_step{t}` to one optimiser; outputs are every parameter after
//! every step (`{p}_step{t}`) and every state tensor after the last step
//! (`{p}_state_{key}`, under PyTorch's keys). Clipping cases clip the
//! `{p}_grad` inputs and return them (and `total_norm` for the norm).

use nnkit::autograd::{Gradients, Parameter, Var};
use nnkit::optim::{
    clip_grad_norm_with, clip_grad_value, AdagradConfig, AdamConfig, AdamWConfig, Optimizer,
    RmsPropConfig, SgdConfig, UpdateRule,
};
use nnkit::tensor::{Element, Tensor};
use serde_json::Value;

use super::common::{Ctx, Outputs, Runner};

/// The families of this module.
pub fn runners<T: Element>() -> Vec<(&'static str, Runner<T>)> {
    vec![
        ("sgd", sgd::<T> as Runner<T>),
        ("adam", adam::<T>),
        ("adamw", adamw::<T>),
        ("rmsprop", rmsprop::<T>),
        ("adagrad", adagrad::<T>),
        ("clip_grad_norm", clip_norm::<T>),
        ("clip_grad_value", clip_value::<T>),
    ]
}

/// A numeric hyper-parameter, or the documented default when absent.
fn num<T: Element>(c: &Ctx<'_, T>, key: &str, default: f64) -> Result<f64, String> {
    match c.case.params.get(key) {
        None => Ok(default),
        Some(v) => v
            .as_f64()
            .ok_or_else(|| format!("param {key:?} = {v} is not a number")),
    }
}

/// A boolean hyper-parameter, false when absent.
fn flag<T: Element>(c: &Ctx<'_, T>, key: &str) -> Result<bool, String> {
    match c.case.params.get(key) {
        None => Ok(false),
        Some(_) => c.param_bool(key),
    }
}

fn betas<T: Element>(c: &Ctx<'_, T>) -> Result<(f64, f64), String> {
    match c.case.params.get("betas") {
        None => Ok((0.9, 0.999)),
        Some(Value::Array(b)) if b.len() == 2 => match (b[0].as_f64(), b[1].as_f64()) {
            (Some(b1), Some(b2)) => Ok((b1, b2)),
            _ => Err(format!("param betas = {b:?} is not two numbers")),
        },
        Some(v) => Err(format!("param betas = {v} is not two numbers")),
    }
}

fn param_names<T: Element>(c: &Ctx<'_, T>) -> Result<Vec<String>, String> {
    c.param("param_names")?
        .as_array()
        .ok_or("param param_names is not a list")?
        .iter()
        .map(|n| {
            n.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("parameter name {n} is not a string"))
        })
        .collect()
}

/// Runs the optimiser case with `rule` and collects every output.
fn run_optimizer<T: Element, R: UpdateRule<T>>(
    c: &Ctx<'_, T>,
    rule: R,
) -> Result<Outputs<T>, String> {
    let names = param_names(c)?;
    let named = names
        .iter()
        .map(|n| Ok((n.clone(), Parameter::new(c.tensor(n)?))))
        .collect::<Result<Vec<(String, Parameter<T>)>, String>>()?;
    let mut opt = Optimizer::new(rule, named.clone()).map_err(|e| e.to_string())?;
    let steps = c.param_usize("steps")?;
    let mut out = Outputs::new();
    for t in 1..=steps {
        let mut grads = Gradients::new();
        for (n, p) in &named {
            grads.insert(p.id(), c.tensor(&format!("grad_{n}_step{t}"))?);
        }
        opt.try_step(&grads).map_err(|e| e.to_string())?;
        for (n, p) in &named {
            out.insert(format!("{n}_step{t}"), Var::constant(p.value()));
        }
    }
    for n in &names {
        let state = opt
            .param_state(n)
            .ok_or_else(|| format!("no state for {n}"))?;
        for (key, t) in state {
            out.insert(format!("{n}_state_{key}"), Var::constant(t));
        }
    }
    Ok(out)
}

fn sgd<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let rule = SgdConfig::new(c.param("lr")?.as_f64().ok_or("param lr is not a number")?)
        .with_momentum(num(c, "momentum", 0.0)?)
        .with_dampening(num(c, "dampening", 0.0)?)
        .with_weight_decay(num(c, "weight_decay", 0.0)?)
        .with_nesterov(flag(c, "nesterov")?);
    run_optimizer(c, rule)
}

fn adam<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let (b1, b2) = betas(c)?;
    let rule = AdamConfig::new(num(c, "lr", 1e-3)?)
        .with_betas(b1, b2)
        .with_eps(num(c, "eps", 1e-8)?)
        .with_weight_decay(num(c, "weight_decay", 0.0)?)
        .with_amsgrad(flag(c, "amsgrad")?);
    run_optimizer(c, rule)
}

fn adamw<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let (b1, b2) = betas(c)?;
    let rule = AdamWConfig::new(num(c, "lr", 1e-3)?)
        .with_betas(b1, b2)
        .with_eps(num(c, "eps", 1e-8)?)
        .with_weight_decay(num(c, "weight_decay", 1e-2)?)
        .with_amsgrad(flag(c, "amsgrad")?);
    run_optimizer(c, rule)
}

fn rmsprop<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let rule = RmsPropConfig::new(num(c, "lr", 1e-2)?)
        .with_alpha(num(c, "alpha", 0.99)?)
        .with_eps(num(c, "eps", 1e-8)?)
        .with_weight_decay(num(c, "weight_decay", 0.0)?)
        .with_momentum(num(c, "momentum", 0.0)?)
        .with_centered(flag(c, "centered")?);
    run_optimizer(c, rule)
}

fn adagrad<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let rule = AdagradConfig::new(num(c, "lr", 1e-2)?)
        .with_lr_decay(num(c, "lr_decay", 0.0)?)
        .with_weight_decay(num(c, "weight_decay", 0.0)?)
        .with_initial_accumulator_value(num(c, "initial_accumulator_value", 0.0)?)
        .with_eps(num(c, "eps", 1e-10)?);
    run_optimizer(c, rule)
}

/// Named parameters, as a model's `named_parameters()` returns them.
type Named<T> = Vec<(String, Parameter<T>)>;

/// The `{p}_grad` inputs in a gradient store, one parameter per name.
fn grad_store<T: Element>(c: &Ctx<'_, T>) -> Result<(Named<T>, Gradients<T>), String> {
    let mut grads = Gradients::new();
    let mut params = Vec::new();
    for n in param_names(c)? {
        let g = c.tensor(&format!("{n}_grad"))?;
        let p = Parameter::new(g.zeros_like());
        grads.insert(p.id(), g);
        params.push((n, p));
    }
    Ok((params, grads))
}

fn clipped<T: Element>(
    params: &[(String, Parameter<T>)],
    grads: &Gradients<T>,
) -> Result<Outputs<T>, String> {
    params
        .iter()
        .map(|(n, p)| {
            let g = grads
                .get_id(p.id())
                .ok_or_else(|| format!("{n}: gradient lost"))?;
            Ok((format!("{n}_grad"), Var::constant(g.clone())))
        })
        .collect()
}

fn clip_norm<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let norm_type = match c.param("norm_type")? {
        Value::String(s) if s == "inf" => f64::INFINITY,
        v => v
            .as_f64()
            .ok_or_else(|| format!("param norm_type = {v} is not a number or \"inf\""))?,
    };
    let max_norm = c
        .param("max_norm")?
        .as_f64()
        .ok_or("param max_norm is not a number")?;
    let (params, mut grads) = grad_store(c)?;
    let total = clip_grad_norm_with(
        &mut grads,
        params.iter().map(|(_, p)| p),
        max_norm,
        norm_type,
    )
    .map_err(|e| e.to_string())?;
    let mut out = clipped(&params, &grads)?;
    out.insert("total_norm".into(), Var::constant(Tensor::scalar(total)));
    Ok(out)
}

fn clip_value<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let clip = c
        .param("clip_value")?
        .as_f64()
        .ok_or("param clip_value is not a number")?;
    let (params, mut grads) = grad_store(c)?;
    clip_grad_value(&mut grads, params.iter().map(|(_, p)| p), clip).map_err(|e| e.to_string())?;
    clipped(&params, &grads)
}
