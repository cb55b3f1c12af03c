//! The backward pass itself: accumulation, sharing, no_grad, detach, deep graphs.

use nn_autograd::{no_grad, Var, VarId};
use nn_tensor::Tensor;

fn t(v: &[f64], s: &[usize]) -> Tensor<f64> {
    Tensor::from_f64s(v, s)
}

#[test]
fn gradients_add_up_over_uses() {
    let x = Var::leaf(t(&[2.0, 3.0], &[2]));
    // y = x*x + 3x  → dy/dx = 2x + 3
    let y = (&x * &x + x.mul_scalar(3.0)).sum();
    let g = y.backward();
    assert_eq!(g.get(&x).unwrap().to_vec(), vec![7.0, 9.0]);
}

#[test]
fn same_id_leaves_share_a_gradient() {
    let id = VarId::fresh();
    let a = Var::with_id(id, t(&[1.0], &[1]), true);
    let b = Var::with_id(id, t(&[1.0], &[1]), true);
    let g = (&a.mul_scalar(2.0) + &b.mul_scalar(5.0)).sum().backward();
    assert_eq!(g.get_id(id).unwrap().to_vec(), vec![7.0]);
    assert_eq!(g.len(), 1);
}

#[test]
fn no_grad_and_detach_stop_the_graph() {
    let x = Var::leaf(t(&[1.0, 2.0], &[2]));
    let y = no_grad(|| x.exp());
    assert!(!y.requires_grad());
    let z = (&x.detach() * &x).sum();
    assert_eq!(z.backward().get(&x).unwrap().to_vec(), vec![1.0, 2.0]);
    let c = Var::constant(t(&[1.0], &[1]));
    assert!(c.sum().backward().is_empty());
}

#[test]
fn deep_graphs_do_not_overflow_the_stack() {
    let x = Var::leaf(t(&[0.5], &[1]));
    let mut h = x.clone();
    for _ in 0..100_000 {
        h = h.mul_scalar(1.0);
    }
    let g = h.sum().backward();
    assert_eq!(g.get(&x).unwrap().to_vec(), vec![1.0]);
    drop(h);
}

#[test]
fn broadcast_gradients_are_summed_back() {
    let a = Var::leaf(t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]));
    let b = Var::leaf(t(&[1.0, 1.0, 1.0], &[3]));
    let g = (&a * &b).sum().backward();
    assert_eq!(g.get(&b).unwrap().to_vec(), vec![5.0, 7.0, 9.0]);
}

#[test]
#[should_panic(expected = "backward: the output has shape [2]")]
fn backward_needs_a_scalar() {
    let x = Var::leaf(t(&[1.0, 2.0], &[2]));
    let _ = x.exp().backward();
}

/// The read-only tensor methods a PyTorch user reaches for work on a var,
/// and `value()` can be taken from a temporary.
#[test]
fn var_reflexes() {
    let w = Var::leaf(Tensor::<f32>::from_vec(
        vec![1.0, 5.0, 2.0, 0.0, -1.0, 3.0],
        &[2, 3],
    ));
    let logits = no_grad(|| &w * 2.0).value();
    assert_eq!(logits.to_vec(), vec![2.0, 10.0, 4.0, 0.0, -2.0, 6.0]);
    assert_eq!(w.argmax(1), vec![1, 2]);
    assert_eq!(w.to_vec(), w.value().to_vec());
    assert_eq!((w.numel(), w.ndim()), (6, 2));
    assert_eq!(w.sum().item(), 10.0);
    assert_eq!(w.reshape([-1]).shape(), &[6]);
    assert_eq!(format!("{}", w.sum()), "10");
    let g = w.reshape([3, -1]).sum().backward();
    assert_eq!(g.get(&w).unwrap().to_vec(), vec![1.0; 6]);
}
