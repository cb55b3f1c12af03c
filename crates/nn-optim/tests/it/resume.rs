//! Saving and loading optimiser state: an interrupted run resumes
//! bit-for-bit, and bad files are errors, never panics.

use nn_autograd::{Gradients, Parameter};
use nn_optim::{
    AdagradConfig, AdamConfig, AdamWConfig, GradClip, LearningRates, Optimizer, OptimizerState,
    ParamGroup, RmsPropConfig, SgdConfig, UpdateRule,
};
use nn_tensor::{Element, Rng, Tensor};

fn fresh_params<T: Element>() -> Vec<(String, Parameter<T>)> {
    let mut rng = Rng::seed_from(7);
    vec![
        (
            "layers.0.weight".to_string(),
            Parameter::new(Tensor::rand_normal(&[3, 4], 0.0, 1.0, &mut rng)),
        ),
        (
            "layers.0.bias".to_string(),
            Parameter::new(Tensor::rand_normal(&[4], 0.0, 1.0, &mut rng)),
        ),
        (
            "frozen".to_string(),
            Parameter::new(Tensor::rand_normal(&[2], 0.0, 1.0, &mut rng)),
        ),
    ]
}

/// Deterministic pseudo-gradients for step `t` (the bias gets none on odd
/// steps, so step counts differ between parameters).
fn grads_at<T: Element>(params: &[(String, Parameter<T>)], t: u64) -> Gradients<T> {
    let mut rng = Rng::seed_from(1000 + t);
    let mut g = Gradients::new();
    for (name, p) in params {
        if name.ends_with("bias") && t % 2 == 1 {
            continue;
        }
        g.insert(p.id(), Tensor::rand_normal(&p.shape(), 0.0, 1.0, &mut rng));
    }
    g
}

fn build<T: Element, R: UpdateRule<T>>(
    rule: &R,
    params: &[(String, Parameter<T>)],
) -> Optimizer<T, R> {
    params[2].1.set_trainable(false);
    let groups = ParamGroup::split_weight_decay(params.to_vec(), 0.01);
    Optimizer::with_groups(rule.clone(), groups)
        .unwrap()
        .with_grad_clipping(GradClip::Norm {
            max_norm: 1.5,
            norm_type: 2.0,
        })
        .unwrap()
}

fn values<T: Element>(params: &[(String, Parameter<T>)]) -> Vec<Vec<T>> {
    params.iter().map(|(_, p)| p.value().to_vec()).collect()
}

/// 10 steps straight vs 5 steps, save to disk, a brand-new optimiser and
/// parameters restored, 5 more steps: the parameters must be bit-identical.
fn resume_is_exact<T: Element, R: UpdateRule<T>>(rule: R, tag: &str) {
    let straight = fresh_params::<T>();
    let mut opt = build(&rule, &straight);
    for t in 1..=10 {
        opt.set_group_lr(0, opt.group_lr(0) * 0.9); // a schedule at work
        opt.step(&grads_at(&straight, t));
    }

    let first = fresh_params::<T>();
    let mut opt1 = build(&rule, &first);
    for t in 1..=5 {
        opt1.set_group_lr(0, opt1.group_lr(0) * 0.9);
        opt1.step(&grads_at(&first, t));
    }
    let dir = std::env::temp_dir().join(format!("nn-optim-resume-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("optim.safetensors");
    opt1.save(&path).unwrap();
    let saved_values = values(&first);

    // A new process would rebuild the model (weights loaded from their own
    // file) and a fresh optimiser with default hyper-parameters.
    let second = fresh_params::<T>();
    for ((_, p), v) in second.iter().zip(&saved_values) {
        p.set_value(Tensor::from_vec(v.clone(), &p.shape()));
    }
    let mut opt2 = build(&rule, &second);
    opt2.load(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(opt2.group_lr(0), opt1.group_lr(0));
    for t in 6..=10 {
        opt2.set_group_lr(0, opt2.group_lr(0) * 0.9);
        opt2.step(&grads_at(&second, t));
    }
    assert_eq!(values(&second), values(&straight), "{tag}");
    assert_eq!(opt2.state_dict(), opt.state_dict(), "{tag}");
}

#[test]
fn sgd_resumes_exactly() {
    let rule = SgdConfig::new(0.1).with_momentum(0.9).with_nesterov(true);
    resume_is_exact::<f64, _>(rule.clone(), "sgd64");
    resume_is_exact::<f32, _>(rule, "sgd32");
}

#[test]
fn adam_resumes_exactly() {
    let rule = AdamConfig::new(0.01).with_amsgrad(true);
    resume_is_exact::<f64, _>(rule.clone(), "adam64");
    resume_is_exact::<f32, _>(rule, "adam32");
}

#[test]
fn adamw_resumes_exactly() {
    resume_is_exact::<f32, _>(AdamWConfig::new(0.01), "adamw32");
}

#[test]
fn rmsprop_resumes_exactly() {
    let rule = RmsPropConfig::new(0.01)
        .with_centered(true)
        .with_momentum(0.5);
    resume_is_exact::<f32, _>(rule, "rmsprop32");
}

#[test]
fn adagrad_resumes_exactly() {
    let rule = AdagradConfig::new(0.1).with_lr_decay(0.01);
    resume_is_exact::<f64, _>(rule, "adagrad64");
}

fn stepped_adam() -> (Vec<(String, Parameter<f64>)>, nn_optim::Adam<f64>) {
    let params = fresh_params::<f64>();
    let mut opt = build(&AdamConfig::new(0.01), &params);
    for t in 1..=3 {
        opt.step(&grads_at(&params, t));
    }
    (params, opt)
}

#[test]
fn the_state_dict_uses_pytorch_names_and_step_counts() {
    let (_, opt) = stepped_adam();
    let sd = opt.state_dict();
    let keys: Vec<&str> = sd.tensors.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        vec![
            "layers.0.bias.exp_avg",
            "layers.0.bias.exp_avg_sq",
            "layers.0.weight.exp_avg",
            "layers.0.weight.exp_avg_sq",
        ]
    );
    assert_eq!(sd.steps.get("layers.0.weight"), Some(&3));
    assert_eq!(sd.steps.get("layers.0.bias"), Some(&1));
    assert_eq!(sd.steps.get("frozen"), None);
    assert_eq!(sd.optimizer, "adam");
    assert_eq!(sd.groups[1].weight_decay, 0.0);
    let back = OptimizerState::<f64>::from_safetensors(&sd.to_safetensors().unwrap()).unwrap();
    assert_eq!(back, sd);
}

#[test]
fn loading_into_another_algorithm_fails() {
    let (params, opt) = stepped_adam();
    let sd = opt.state_dict();
    let mut sgd = Optimizer::new(SgdConfig::new(0.1), params).unwrap();
    let e = sgd.load_state_dict(&sd).unwrap_err();
    assert_eq!(
        e.to_string(),
        "optimiser state: saved by `adam`, cannot load into `sgd`"
    );
}

#[test]
fn loading_with_other_parameter_names_fails_and_changes_nothing() {
    let (_, opt) = stepped_adam();
    let mut sd = opt.state_dict();
    sd.groups[0].params[0] = "encoder.weight".to_string();
    let (_, mut other) = stepped_adam();
    let before = other.state_dict();
    let e = other.load_state_dict(&sd).unwrap_err();
    assert!(e.to_string().contains("\"encoder.weight\""), "{e}");
    assert_eq!(other.state_dict(), before);
}

#[test]
fn loading_a_wrong_shape_or_missing_or_extra_tensor_fails() {
    let (_, opt) = stepped_adam();
    let good = opt.state_dict();
    let (_, mut target) = stepped_adam();

    let mut bad = good.clone();
    bad.tensors
        .insert("layers.0.bias.exp_avg".into(), Tensor::zeros(&[5]));
    let e = target.load_state_dict(&bad).unwrap_err().to_string();
    assert!(e.contains("`layers.0.bias.exp_avg` has shape [5]"), "{e}");

    let mut bad = good.clone();
    bad.tensors.remove("layers.0.weight.exp_avg_sq");
    let e = target.load_state_dict(&bad).unwrap_err().to_string();
    assert!(e.contains("`exp_avg_sq`"), "{e}");

    let mut bad = good.clone();
    bad.tensors.insert(
        "layers.0.weight.momentum_buffer".into(),
        Tensor::zeros(&[3, 4]),
    );
    let e = target.load_state_dict(&bad).unwrap_err().to_string();
    assert!(
        e.contains("unexpected tensor `layers.0.weight.momentum_buffer`"),
        "{e}"
    );

    let mut bad = good.clone();
    bad.tensors
        .insert("ghost.exp_avg".into(), Tensor::zeros(&[1]));
    let e = target.load_state_dict(&bad).unwrap_err().to_string();
    assert!(e.contains("unknown parameter `ghost`"), "{e}");

    let mut bad = good.clone();
    bad.config = "{\"lr\": -1.0, \"betas\": [0.9, 0.999], \"eps\": 1e-8, \"weight_decay\": 0, \"amsgrad\": false}".into();
    let e = target.load_state_dict(&bad).unwrap_err().to_string();
    assert!(e.contains("invalid lr = -1"), "{e}");

    target.load_state_dict(&good).unwrap();
}

#[test]
fn corrupt_files_are_errors_not_panics() {
    let (_, opt) = stepped_adam();
    let bytes = opt.state_dict().to_safetensors().unwrap();
    // Every truncation.
    for n in 0..bytes.len() {
        assert!(
            OptimizerState::<f64>::from_safetensors(&bytes[..n]).is_err(),
            "prefix {n}"
        );
    }
    // Every single-byte corruption: may load (a changed number) or fail, never panic;
    // when it loads, loading into the optimiser may fail too, but cleanly.
    let (_, mut target) = stepped_adam();
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        if let Ok(sd) = OptimizerState::<f64>::from_safetensors(&b) {
            let _ = target.load_state_dict(&sd);
        }
    }
    // A header claiming an absurd length, and garbage.
    let mut huge = bytes.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(OptimizerState::<f64>::from_safetensors(&huge).is_err());
    assert!(OptimizerState::<f64>::from_safetensors(b"not a safetensors file").is_err());
    // A valid safetensors file without our metadata.
    let plain =
        safetensors::serialize(Vec::<(&str, safetensors::tensor::TensorView)>::new(), &None)
            .unwrap();
    let e = OptimizerState::<f64>::from_safetensors(&plain).unwrap_err();
    assert!(e.to_string().contains("no metadata"), "{e}");
    // A missing file.
    let e = OptimizerState::<f64>::load("/nonexistent/optim.safetensors").unwrap_err();
    assert!(e
        .to_string()
        .starts_with("optimiser state file /nonexistent/optim.safetensors"));
}

#[test]
fn f32_state_loads_into_f64_optimiser() {
    let params = fresh_params::<f32>();
    let mut opt = build(&SgdConfig::new(0.1).with_momentum(0.5), &params);
    opt.step(&grads_at(&params, 2));
    let bytes = opt.state_dict().to_safetensors().unwrap();
    let sd = OptimizerState::<f64>::from_safetensors(&bytes).unwrap();
    let p64 = fresh_params::<f64>();
    let mut opt64 = build(&SgdConfig::new(0.1), &p64);
    opt64.load_state_dict(&sd).unwrap();
    assert_eq!(opt64.rule().momentum, 0.5);
    assert_eq!(opt64.step_count("layers.0.weight"), Some(1));
}
