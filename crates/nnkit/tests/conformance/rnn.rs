//! Recurrent layers (fixtures README section 7): `rnn`, `lstm`, `gru`, and
//! the recursive network `tree_rnn` (section 10b).
//! The weights are the case's inputs (`weight_ih_l{k}`, ...), run through
//! the functional form of the layers, [`recurrent_forward`]. A case may set
//! `params.bidirectional` (false when absent): the reverse direction's
//! weights then carry PyTorch's `_reverse` suffix (`weight_ih_l{k}_reverse`),
//! and `h0`/`c0`/`h_n`/`c_n` hold `2·num_layers` rows, layer-major.

use nnkit::autograd::Var;
use nnkit::rnn::{
    recurrent_forward, tree_rnn, CellKind, DirectionVars, Forest, RecurrentConfig, Tree,
};
use nnkit::tensor::Element;

use super::common::{Ctx, Outputs, Runner};

/// The families of this module.
pub fn runners<T: Element>() -> Vec<(&'static str, Runner<T>)> {
    vec![
        ("rnn", rnn::<T> as Runner<T>),
        ("lstm", lstm::<T>),
        ("gru", gru::<T>),
        ("tree_rnn", tree_rnn_case::<T>),
    ]
}

fn run<T: Element>(c: &Ctx<'_, T>, kind: CellKind) -> Result<Outputs<T>, String> {
    let bias = c.param_bool("bias")?;
    let bidirectional = match c.case.params.get("bidirectional") {
        None => false,
        Some(_) => c.param_bool("bidirectional")?,
    };
    let cfg = RecurrentConfig {
        num_layers: c.param_usize("num_layers")?,
        batch_first: c.param_bool("batch_first")?,
        bias,
        bidirectional,
        ..RecurrentConfig::new(c.param_usize("input_size")?, c.param_usize("hidden_size")?)
    };
    let weights = (0..cfg.num_layers)
        .map(|k| {
            let opt = |name: String| -> Result<Option<Var<T>>, String> {
                if bias {
                    c.var(&name).map(Some)
                } else {
                    Ok(None)
                }
            };
            ["", "_reverse"][..1 + usize::from(bidirectional)]
                .iter()
                .map(|suffix| {
                    Ok(DirectionVars {
                        weight_ih: c.var(&format!("weight_ih_l{k}{suffix}"))?,
                        weight_hh: c.var(&format!("weight_hh_l{k}{suffix}"))?,
                        bias_ih: opt(format!("bias_ih_l{k}{suffix}"))?,
                        bias_hh: opt(format!("bias_hh_l{k}{suffix}"))?,
                    })
                })
                .collect::<Result<Vec<_>, String>>()
        })
        .collect::<Result<Vec<_>, String>>()?;
    let h0 = c.var("h0")?;
    let c0 = if kind.has_cell() {
        Some(c.var("c0")?)
    } else {
        None
    };
    let out = recurrent_forward(
        kind,
        &cfg,
        &weights,
        &c.var("x")?,
        Some(&h0),
        c0.as_ref(),
        None,
        |v| v.clone(),
    )
    .map_err(|e| e.to_string())?;
    let mut outs = Outputs::new();
    outs.insert("output".into(), out.output);
    outs.insert("h_n".into(), out.h_n);
    if let Some(cn) = out.c_n {
        outs.insert("c_n".into(), cn);
    }
    Ok(outs)
}

fn rnn<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let kind = match c.param_str("nonlinearity")? {
        "tanh" => CellKind::RnnTanh,
        "relu" => CellKind::RnnRelu,
        other => return Err(format!("rnn: unknown nonlinearity {other:?}")),
    };
    run(c, kind)
}

fn lstm<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    run(c, CellKind::Lstm)
}

fn gru<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    run(c, CellKind::Gru)
}

fn tree_rnn_case<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    match c.param_str("activation")? {
        "tanh" => {}
        other => return Err(format!("tree_rnn: unknown activation {other:?}")),
    }
    let leaves = c.var("leaves")?;
    if leaves.ndim() != 2 || leaves.shape()[1] != c.param_usize("dim")? {
        return Err(format!(
            "leaves shape {:?} disagrees with params.dim",
            leaves.shape()
        ));
    }
    let children = c
        .indices("children")?
        .chunks(2)
        .map(|p| <[usize; 2]>::try_from(p).map_err(|_| "children has an odd length".to_string()))
        .collect::<Result<Vec<_>, String>>()?;
    let tree = Tree::new(leaves.shape()[0], children).map_err(|e| e.to_string())?;
    let forest = Forest::new(&[tree]).map_err(|e| e.to_string())?;
    let bias = if c.has_input("bias") {
        Some(c.var("bias")?)
    } else {
        None
    };
    let out =
        tree_rnn(&forest, &leaves, &c.var("weight")?, bias.as_ref()).map_err(|e| e.to_string())?;
    let mut outs = Outputs::new();
    let d = leaves.shape()[1];
    outs.insert("states".into(), out.states);
    outs.insert("root".into(), out.roots.reshape([d]));
    Ok(outs)
}
