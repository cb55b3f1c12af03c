//! The shared traversal: frozen parameters, missing gradients, shape
//! checks, parameter groups, clipping inside the step, per-parameter steps.

use nn_autograd::{Gradients, Parameter};
use nn_optim::{
    clip_grad_norm, AdamConfig, GradClip, LearningRates, OptimError, ParamGroup, SgdConfig,
};
use nn_tensor::Tensor;

fn p(v: &[f64]) -> Parameter<f64> {
    Parameter::new(Tensor::from_f64s(v, &[v.len()]))
}

fn grads(pairs: &[(&Parameter<f64>, &[f64])]) -> Gradients<f64> {
    let mut g = Gradients::new();
    for (p, v) in pairs {
        g.insert(p.id(), Tensor::from_f64s(v, &[v.len()]));
    }
    g
}

#[test]
fn frozen_parameters_and_missing_gradients_are_skipped() {
    let (a, b, c) = (p(&[1.0]), p(&[1.0]), p(&[1.0]));
    b.set_trainable(false);
    let named = vec![
        ("a".to_string(), a.clone()),
        ("b".to_string(), b.clone()),
        ("c".to_string(), c.clone()),
    ];
    let mut opt = AdamConfig::new(0.1).init(named).unwrap();
    // b is frozen (even though a gradient is present), c has no gradient.
    opt.step(&grads(&[(&a, &[1.0]), (&b, &[1.0])]));
    assert_ne!(a.value().item(), 1.0);
    assert_eq!(b.value().item(), 1.0);
    assert_eq!(c.value().item(), 1.0);
    assert_eq!(opt.step_count("a"), Some(1));
    assert_eq!(opt.step_count("b"), Some(0));
    assert_eq!(opt.step_count("c"), Some(0));
    assert!(opt.param_state("c").unwrap().is_empty());
    assert_eq!(opt.step_count("nope"), None);
}

#[test]
fn step_counts_are_per_parameter() {
    // Adam's bias correction uses each parameter's own step count: a
    // parameter first updated at the optimiser's third step behaves like a
    // fresh one (its first move is lr·sign(g)).
    let (a, b) = (p(&[0.0]), p(&[0.0]));
    let named = vec![("a".to_string(), a.clone()), ("b".to_string(), b.clone())];
    let mut opt = AdamConfig::new(0.1).init(named).unwrap();
    opt.step(&grads(&[(&a, &[1.0])]));
    opt.step(&grads(&[(&a, &[1.0])]));
    opt.step(&grads(&[(&a, &[1.0]), (&b, &[3.0])]));
    assert_eq!(opt.step_count("a"), Some(3));
    assert_eq!(opt.step_count("b"), Some(1));
    assert!((b.value().item() + 0.1).abs() < 1e-9);
}

#[test]
fn a_wrong_gradient_shape_is_an_error_and_changes_nothing() {
    let (a, b) = (p(&[1.0, 2.0]), p(&[3.0]));
    let named = vec![("a".to_string(), a.clone()), ("b".to_string(), b.clone())];
    let mut opt = SgdConfig::new(0.1).init(named).unwrap();
    let e = opt
        .try_step(&grads(&[(&a, &[1.0, 1.0]), (&b, &[1.0, 1.0])]))
        .unwrap_err();
    assert_eq!(
        e,
        OptimError::ShapeMismatch {
            op: "SGD",
            param: "b".to_string(),
            param_shape: vec![1],
            grad_shape: vec![2],
        }
    );
    assert_eq!(
        e.to_string(),
        "SGD: the gradient of parameter `b` has shape [2] but the parameter has shape [1]"
    );
    assert_eq!(a.value().to_vec(), vec![1.0, 2.0]);
    assert_eq!(opt.step_count("a"), Some(0));
}

#[test]
#[should_panic(expected = "the gradient of parameter `a` has shape [3]")]
fn step_panics_with_the_same_message() {
    let a = p(&[1.0]);
    let mut opt = SgdConfig::new(0.1)
        .init(vec![("a".to_string(), a.clone())])
        .unwrap();
    opt.step(&grads(&[(&a, &[1.0, 1.0, 1.0])]));
}

#[test]
fn groups_have_their_own_lr_and_weight_decay() {
    // Weight (2-d) decays, bias (1-d) does not; the bias group also has its own lr.
    let w = Parameter::new(Tensor::<f64>::from_vec(vec![1.0, 1.0], &[1, 2]));
    let b = p(&[1.0]);
    let named = vec![("w".to_string(), w.clone()), ("b".to_string(), b.clone())];
    let mut groups = ParamGroup::split_weight_decay(named, 0.5);
    groups[1] = groups[1].clone().with_lr(0.2);
    let mut opt = SgdConfig::new(0.1).init_groups(groups).unwrap();
    assert_eq!(opt.num_groups(), 2);
    assert_eq!(opt.group_param_names(0), vec!["w"]);
    assert_eq!(opt.group_param_names(1), vec!["b"]);
    let mut g = Gradients::new();
    g.insert(w.id(), Tensor::from_vec(vec![1.0, 0.0], &[1, 2]));
    g.insert(b.id(), Tensor::from_vec(vec![1.0], &[1]));
    opt.step(&g);
    // w: g + 0.5·w = [1.5, 0.5], lr 0.1.
    assert_eq!(w.value().to_vec(), vec![1.0 - 0.15, 1.0 - 0.05]);
    // b: no decay, lr 0.2.
    assert_eq!(b.value().to_vec(), vec![0.8]);
    assert_eq!(opt.group_lr(1), 0.2);
    assert_eq!(opt.group_weight_decay(0), 0.5);
    opt.set_lr(0.01);
    assert_eq!((opt.group_lr(0), opt.group_lr(1)), (0.01, 0.01));
}

#[test]
fn clipping_inside_the_step_matches_clipping_by_hand() {
    let (a1, b1) = (p(&[1.0, 2.0]), p(&[3.0]));
    let (a2, b2) = (p(&[1.0, 2.0]), p(&[3.0]));
    let clip = GradClip::Norm {
        max_norm: 0.5,
        norm_type: 2.0,
    };
    let mut inside = SgdConfig::new(0.1)
        .init(vec![
            ("a".to_string(), a1.clone()),
            ("b".to_string(), b1.clone()),
        ])
        .unwrap()
        .with_grad_clipping(clip)
        .unwrap();
    let mut by_hand = SgdConfig::new(0.1)
        .init(vec![
            ("a".to_string(), a2.clone()),
            ("b".to_string(), b2.clone()),
        ])
        .unwrap();
    let g1 = grads(&[(&a1, &[3.0, 4.0]), (&b1, &[12.0])]);
    inside.step(&g1);
    // The caller's store is untouched.
    assert_eq!(g1.get_id(a1.id()).unwrap().to_vec(), vec![3.0, 4.0]);
    assert_eq!(inside.last_grad_norm(), Some(13.0));
    let mut g2 = grads(&[(&a2, &[3.0, 4.0]), (&b2, &[12.0])]);
    clip_grad_norm(&mut g2, [&a2, &b2], 0.5).unwrap();
    by_hand.step(&g2);
    assert_eq!(a1.value().to_vec(), a2.value().to_vec());
    assert_eq!(b1.value().to_vec(), b2.value().to_vec());
}

#[test]
fn clipping_by_value_inside_the_step_skips_frozen_parameters() {
    let (a, b) = (p(&[0.0]), p(&[0.0]));
    b.set_trainable(false);
    let mut opt = SgdConfig::new(1.0)
        .init(vec![
            ("a".to_string(), a.clone()),
            ("b".to_string(), b.clone()),
        ])
        .unwrap()
        .with_grad_clipping(GradClip::Value(0.25))
        .unwrap();
    opt.step(&grads(&[(&a, &[-3.0]), (&b, &[5.0])]));
    assert_eq!(a.value().item(), 0.25);
    assert_eq!(b.value().item(), 0.0);
    assert_eq!(opt.last_grad_norm(), None);
}

#[test]
fn a_parameter_shared_with_a_live_graph_keeps_the_graph_value() {
    // Updating a parameter while a graph still holds its old value must not
    // change the value that graph saw (copy-on-write).
    let a = p(&[2.0]);
    let v = a.var();
    let mut opt = SgdConfig::new(0.5)
        .init(vec![("a".to_string(), a.clone())])
        .unwrap();
    opt.step(&grads(&[(&a, &[1.0])]));
    assert_eq!(a.value().item(), 1.5);
    assert_eq!(v.value().item(), 2.0);
}
