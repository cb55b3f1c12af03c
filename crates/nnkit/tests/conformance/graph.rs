//! Graph layers (fixtures README section 10b): `gcn_conv`, Kipf & Welling's
//! graph convolution on an `edge_index` laid out as PyTorch Geometric's.

use nnkit::graph::{gcn_conv, Edges};
use nnkit::tensor::Element;

use super::common::{output, Ctx, Outputs, Runner};

/// The families of this module.
pub fn runners<T: Element>() -> Vec<(&'static str, Runner<T>)> {
    vec![("gcn_conv", gcn_conv_case::<T> as Runner<T>)]
}

fn gcn_conv_case<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    match c.param_str("normalize")? {
        "symmetric" => {}
        other => return Err(format!("gcn_conv: unknown normalize {other:?}")),
    }
    let x = c.var("x")?;
    let w = c.var("weight")?;
    let want = [
        c.param_usize("out_channels")?,
        c.param_usize("in_channels")?,
    ];
    if w.shape() != want {
        return Err(format!(
            "weight shape {:?} disagrees with params {want:?}",
            w.shape()
        ));
    }
    let bias = match (c.param_bool("bias")?, c.has_input("bias")) {
        (true, true) => Some(c.var("bias")?),
        (false, false) => None,
        (flag, present) => {
            return Err(format!(
                "params.bias = {flag} but bias input present = {present}"
            ))
        }
    };
    let nodes = x.shape().first().copied().unwrap_or(0);
    let edges =
        Edges::from_edge_index(nodes, &c.indices("edge_index")?).map_err(|e| e.to_string())?;
    let a_hat = edges.gcn_normalized::<T>(c.param_bool("add_self_loops")?);
    let y = gcn_conv(&a_hat, &x, &w, bias.as_ref()).map_err(|e| e.to_string())?;
    Ok(output("y", y))
}
