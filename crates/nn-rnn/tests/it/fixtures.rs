//! Parity with PyTorch on the `rnn`, `lstm` and `gru` fixture families, in
//! f64 (≤ 1e-9) and f32 (≤ 1e-4): outputs and every gradient.

#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeMap;

use common::{cases, Case};
use nn_autograd::Var;
use nn_rnn::{GruConfig, LstmConfig, Module, Nonlinearity, RecurrentConfig, RnnConfig};
use nn_tensor::{Element, Rng};

fn config(c: &Case) -> RecurrentConfig {
    assert!(
        c.bool("bias"),
        "{}: bias=false cases are not expected",
        c.name
    );
    RecurrentConfig {
        num_layers: c.usize("num_layers"),
        batch_first: c.bool("batch_first"),
        ..RecurrentConfig::new(c.usize("input_size"), c.usize("hidden_size"))
    }
}

fn run<T: Element>(c: &Case, tol: f64) {
    let mut rng = Rng::seed_from(0);
    let x = Var::leaf(c.tensor::<T>("x"));
    let h0 = Var::leaf(c.tensor::<T>("h0"));
    let mut leaves: BTreeMap<&str, Var<T>> = BTreeMap::new();
    leaves.insert("x", x.clone());
    leaves.insert("h0", h0.clone());
    let mut outs: BTreeMap<&str, Var<T>> = BTreeMap::new();
    let op = c.params.get("nonlinearity").map(|_| "rnn");
    let params = |named: Vec<(String, nn_autograd::Parameter<T>)>,
                  leaves: &mut BTreeMap<&str, Var<T>>| {
        for (name, p) in named {
            p.set_value(c.tensor(&name));
            let key: &'static str = Box::leak(name.into_boxed_str());
            leaves.insert(key, p.var());
        }
    };
    let cfg = config(c);
    if c.has("c0") {
        let c0 = Var::leaf(c.tensor::<T>("c0"));
        leaves.insert("c0", c0.clone());
        let m = LstmConfig { recurrent: cfg }.init::<T>(&mut rng).unwrap();
        params(m.named_parameters(), &mut leaves);
        let (y, (h, cn)) = m.forward(&x, Some((&h0, &c0)));
        outs.insert("output", y);
        outs.insert("h_n", h);
        outs.insert("c_n", cn);
    } else if op == Some("rnn") {
        let nl = match c.params["nonlinearity"].as_str() {
            Some("tanh") => Nonlinearity::Tanh,
            Some("relu") => Nonlinearity::Relu,
            other => panic!("{}: nonlinearity {other:?}", c.name),
        };
        let m = RnnConfig {
            recurrent: cfg,
            nonlinearity: nl,
        }
        .init::<T>(&mut rng)
        .unwrap();
        params(m.named_parameters(), &mut leaves);
        let (y, h) = m.forward(&x, Some(&h0));
        outs.insert("output", y);
        outs.insert("h_n", h);
    } else {
        let m = GruConfig { recurrent: cfg }.init::<T>(&mut rng).unwrap();
        params(m.named_parameters(), &mut leaves);
        let (y, h) = m.forward(&x, Some(&h0));
        outs.insert("output", y);
        outs.insert("h_n", h);
    }
    let grads = c.objective(&outs).backward();
    c.check(&outs, &grads, &leaves, tol);
}

fn family(op: &str) {
    let all = cases(op);
    for c in &all {
        run::<f64>(c, 1e-9);
        run::<f32>(c, 1e-4);
    }
    eprintln!("{op}: {} cases pass in f64 and f32", all.len());
}

#[test]
fn rnn_fixtures() {
    family("rnn");
}

#[test]
fn lstm_fixtures() {
    family("lstm");
}

#[test]
fn gru_fixtures() {
    family("gru");
}
