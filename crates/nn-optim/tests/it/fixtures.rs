//! The optimiser and clipping fixtures of `fixtures/pytorch` (PyTorch golden
//! cases, README section 9), run through the public API in f64 and f32.
//!
//! The directory comes from `NN_FIXTURES`, else the checked-in
//! `fixtures/pytorch` (see `nn_testkit::fixtures`); a missing or empty
//! folder fails. Every case of the families below is run, so new cases
//! with other hyper-parameters are picked up without code changes.

use nn_autograd::{Gradients, Parameter};
use nn_optim::{
    clip_grad_norm_with, clip_grad_value, AdagradConfig, AdamConfig, AdamWConfig, Optimizer,
    RmsPropConfig, SgdConfig, UpdateRule,
};
use nn_tensor::{Element, Tensor};
use nn_testkit::fixtures::{cases, tensor};
use serde_json::Value;

const FAMILIES: [&str; 7] = [
    "sgd",
    "adam",
    "adamw",
    "rmsprop",
    "adagrad",
    "clip_grad_norm",
    "clip_grad_value",
];

/// `max|got − ref| / max(1, max|ref|)`, the README's measure.
fn err<T: Element>(got: &Tensor<T>, want: &Value) -> f64 {
    let want: Tensor<f64> = tensor(want);
    assert_eq!(got.shape(), want.shape());
    let scale = want.as_slice().iter().fold(1.0f64, |m, x| m.max(x.abs()));
    got.to_f64_vec()
        .iter()
        .zip(want.as_slice())
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()))
        / scale
}

fn f(params: &Value, key: &str, default: f64) -> f64 {
    params.get(key).and_then(Value::as_f64).unwrap_or(default)
}

fn b(params: &Value, key: &str) -> bool {
    params.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn betas(params: &Value) -> (f64, f64) {
    match params.get("betas").and_then(Value::as_array) {
        Some(v) => (v[0].as_f64().unwrap(), v[1].as_f64().unwrap()),
        None => (0.9, 0.999),
    }
}

fn names(params: &Value) -> Vec<String> {
    params["param_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

/// Runs one optimiser case; returns the worst error over every output.
fn run_optimizer<T: Element, R: UpdateRule<T>>(case: &Value, rule: R) -> f64 {
    let params = &case["params"];
    let (inputs, outputs) = (&case["inputs"], &case["outputs"]);
    let names = names(params);
    let named: Vec<(String, Parameter<T>)> = names
        .iter()
        .map(|n| (n.clone(), Parameter::new(tensor(&inputs[n.as_str()]))))
        .collect();
    let mut opt = Optimizer::new(rule, named.clone()).unwrap();
    let steps = params["steps"].as_u64().unwrap();
    let mut worst = 0.0f64;
    for t in 1..=steps {
        let mut grads = Gradients::new();
        for (n, p) in &named {
            grads.insert(
                p.id(),
                tensor(&inputs[format!("grad_{n}_step{t}").as_str()]),
            );
        }
        opt.step(&grads);
        for (n, p) in &named {
            worst = worst.max(err(&p.value(), &outputs[format!("{n}_step{t}").as_str()]));
        }
    }
    // Every state tensor PyTorch reports must match ours, and vice versa.
    for n in &names {
        let ours = opt.param_state(n).unwrap();
        let prefix = format!("{n}_state_");
        let theirs: Vec<&String> = outputs
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .collect();
        assert_eq!(
            ours.len(),
            theirs.len(),
            "{}: state keys of {n}",
            case["name"]
        );
        for (key, t) in ours {
            let want = &outputs[format!("{prefix}{key}").as_str()];
            assert!(
                !want.is_null(),
                "{}: no reference for {n}.{key}",
                case["name"]
            );
            worst = worst.max(err(&t, want));
        }
    }
    worst
}

fn run_case<T: Element>(case: &Value) -> f64 {
    let p = &case["params"];
    match case["op"].as_str().unwrap() {
        "sgd" => run_optimizer::<T, _>(
            case,
            SgdConfig::new(f(p, "lr", 1e-3))
                .with_momentum(f(p, "momentum", 0.0))
                .with_dampening(f(p, "dampening", 0.0))
                .with_weight_decay(f(p, "weight_decay", 0.0))
                .with_nesterov(b(p, "nesterov")),
        ),
        "adam" => {
            let (b1, b2) = betas(p);
            run_optimizer::<T, _>(
                case,
                AdamConfig::new(f(p, "lr", 1e-3))
                    .with_betas(b1, b2)
                    .with_eps(f(p, "eps", 1e-8))
                    .with_weight_decay(f(p, "weight_decay", 0.0))
                    .with_amsgrad(b(p, "amsgrad")),
            )
        }
        "adamw" => {
            let (b1, b2) = betas(p);
            run_optimizer::<T, _>(
                case,
                AdamWConfig::new(f(p, "lr", 1e-3))
                    .with_betas(b1, b2)
                    .with_eps(f(p, "eps", 1e-8))
                    .with_weight_decay(f(p, "weight_decay", 1e-2))
                    .with_amsgrad(b(p, "amsgrad")),
            )
        }
        "rmsprop" => run_optimizer::<T, _>(
            case,
            RmsPropConfig::new(f(p, "lr", 1e-2))
                .with_alpha(f(p, "alpha", 0.99))
                .with_eps(f(p, "eps", 1e-8))
                .with_weight_decay(f(p, "weight_decay", 0.0))
                .with_momentum(f(p, "momentum", 0.0))
                .with_centered(b(p, "centered")),
        ),
        "adagrad" => run_optimizer::<T, _>(
            case,
            AdagradConfig::new(f(p, "lr", 1e-2))
                .with_lr_decay(f(p, "lr_decay", 0.0))
                .with_weight_decay(f(p, "weight_decay", 0.0))
                .with_initial_accumulator_value(f(p, "initial_accumulator_value", 0.0))
                .with_eps(f(p, "eps", 1e-10)),
        ),
        "clip_grad_norm" | "clip_grad_value" => run_clip::<T>(case),
        other => panic!("unexpected op {other}"),
    }
}

fn run_clip<T: Element>(case: &Value) -> f64 {
    let p = &case["params"];
    let (inputs, outputs) = (&case["inputs"], &case["outputs"]);
    let names = names(p);
    let params: Vec<Parameter<T>> = names
        .iter()
        .map(|n| Parameter::new(tensor::<T>(&inputs[format!("{n}_grad").as_str()]).zeros_like()))
        .collect();
    let mut grads = Gradients::new();
    for (n, param) in names.iter().zip(&params) {
        grads.insert(param.id(), tensor(&inputs[format!("{n}_grad").as_str()]));
    }
    let mut worst = 0.0f64;
    if case["op"] == "clip_grad_norm" {
        let norm_type = match &p["norm_type"] {
            Value::String(s) if s == "inf" => f64::INFINITY,
            v => v.as_f64().unwrap(),
        };
        let total =
            clip_grad_norm_with(&mut grads, &params, f(p, "max_norm", 0.0), norm_type).unwrap();
        worst = worst.max(err(&Tensor::scalar(total), &outputs["total_norm"]));
    } else {
        clip_grad_value(&mut grads, &params, f(p, "clip_value", 0.0)).unwrap();
    }
    for (n, param) in names.iter().zip(&params) {
        let got = grads.get_id(param.id()).unwrap();
        worst = worst.max(err(got, &outputs[format!("{n}_grad").as_str()]));
    }
    worst
}

fn check_family(op: &str) {
    for case in cases(op) {
        let name = case["name"].as_str().unwrap();
        let e64 = run_case::<f64>(&case);
        assert!(e64 <= 1e-9, "{name} (f64): error {e64:e}");
        let e32 = run_case::<f32>(&case);
        assert!(e32 <= 1e-4, "{name} (f32): error {e32:e}");
    }
}

#[test]
fn sgd_fixtures() {
    check_family("sgd");
}

#[test]
fn adam_fixtures() {
    check_family("adam");
}

#[test]
fn adamw_fixtures() {
    check_family("adamw");
}

#[test]
fn rmsprop_fixtures() {
    check_family("rmsprop");
}

#[test]
fn adagrad_fixtures() {
    check_family("adagrad");
}

#[test]
fn clip_grad_norm_fixtures() {
    check_family("clip_grad_norm");
}

#[test]
fn clip_grad_value_fixtures() {
    check_family("clip_grad_value");
}

#[test]
fn every_family_has_cases() {
    // `cases` fails on a family without any case, unless the folder is absent.
    for op in FAMILIES {
        cases(op);
    }
}
