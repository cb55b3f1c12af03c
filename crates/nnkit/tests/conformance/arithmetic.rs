//! Reductions, broadcasting arithmetic and matmul (fixtures README
//! section 4): `sum`/`mean` take `x`, binary ops take `a` and `b`; the
//! output is `y`.

use nnkit::autograd::Var;
use nnkit::tensor::Element;

use super::common::{output, Ctx, Outputs, Runner};

/// The families of this module.
pub fn runners<T: Element>() -> Vec<(&'static str, Runner<T>)> {
    vec![
        ("sum", sum::<T> as Runner<T>),
        ("mean", mean::<T>),
        ("add", add::<T>),
        ("sub", sub::<T>),
        ("mul", mul::<T>),
        ("div", div::<T>),
        ("matmul", matmul::<T>),
    ]
}

/// `params.dim` resolved to a dim list (`null` or `[]` mean every dim, as
/// in PyTorch), and `params.keepdim`.
fn reduce_dims<T: Element>(c: &Ctx<'_, T>, x: &Var<T>) -> Result<(Vec<isize>, bool), String> {
    let keepdim = c.param_bool("keepdim")?;
    let dims = match c.param_dims("dim")? {
        Some(d) if !d.is_empty() => d,
        _ => (0..x.ndim() as isize).collect(),
    };
    Ok((dims, keepdim))
}

fn sum<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let x = c.var("x")?;
    let (dims, keepdim) = reduce_dims(c, &x)?;
    Ok(output("y", x.sum_dims(&dims, keepdim)))
}

fn mean<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    let x = c.var("x")?;
    let (dims, keepdim) = reduce_dims(c, &x)?;
    Ok(output("y", x.mean_dims(&dims, keepdim)))
}

/// A broadcasting binary op on inputs `a`, `b`.
fn binary<T: Element>(
    c: &Ctx<'_, T>,
    op: impl Fn(&Var<T>, &Var<T>) -> nnkit::tensor::Result<Var<T>>,
) -> Result<Outputs<T>, String> {
    let y = op(&c.var("a")?, &c.var("b")?).map_err(|e| e.to_string())?;
    Ok(output("y", y))
}

fn add<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    binary(c, Var::try_add)
}

fn sub<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    binary(c, Var::try_sub)
}

fn mul<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    binary(c, Var::try_mul)
}

fn div<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    binary(c, Var::try_div)
}

fn matmul<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
    binary(c, |a, b| a.try_matmul_t(b, false, false))
}
