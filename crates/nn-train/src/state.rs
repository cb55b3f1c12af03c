//! Moving training state in and out of a [`Checkpoint`]: a model's
//! parameters and buffers, an optimiser's state, and an [`Rng`]'s position.
//!
//! Names follow PyTorch's `state_dict` under a prefix: `model.0.weight`,
//! `optim.0.weight.exp_avg`. Floats that steer later decisions (learning
//! rates, the best early-stopping value) are stored as their bit patterns so
//! a resumed run sees exactly the same numbers.

use std::collections::BTreeMap;

use nn_layers::Module;
use nn_optim::{Optimizer, OptimizerState, UpdateRule};
use nn_tensor::{Element, Rng, RngState, Tensor};

use crate::checkpoint::{Checkpoint, CheckpointError};

fn format_err(m: impl Into<String>) -> CheckpointError {
    CheckpointError::Format(m.into())
}

/// Every parameter and buffer of `model` by `state_dict` name, each
/// prefixed with `prefix` (e.g. `"model."`). Tensors share storage with the
/// model until the optimiser writes (copy-on-write), so this is cheap.
pub fn model_tensors<T: Element, M: Module<T> + ?Sized>(
    model: &M,
    prefix: &str,
) -> BTreeMap<String, Tensor<T>> {
    model
        .state_dict()
        .into_iter()
        .map(|(n, t)| (format!("{prefix}{n}"), t))
        .collect()
}

/// Sets every parameter and buffer of `model` from `tensors[prefix + name]`.
/// Checks everything first: a missing name or a wrong shape is an error
/// naming it, and then nothing has changed.
pub fn load_model_tensors<T: Element, M: Module<T> + ?Sized>(
    model: &M,
    tensors: &BTreeMap<String, Tensor<T>>,
    prefix: &str,
) -> Result<(), CheckpointError> {
    let params = model.named_parameters();
    let buffers = model.named_buffers();
    let find = |name: &str, shape: &[usize]| -> Result<Tensor<T>, CheckpointError> {
        let key = format!("{prefix}{name}");
        let t = tensors
            .get(&key)
            .ok_or_else(|| format_err(format!("no tensor `{key}` for the model's `{name}`")))?;
        if t.shape() != shape {
            return Err(format_err(format!(
                "tensor `{key}` has shape {:?}, the model's `{name}` has shape {shape:?}",
                t.shape()
            )));
        }
        Ok(t.clone())
    };
    let p_values = params
        .iter()
        .map(|(n, p)| find(n, &p.shape()))
        .collect::<Result<Vec<_>, _>>()?;
    let b_values = buffers
        .iter()
        .map(|(n, b)| find(n, &b.shape()))
        .collect::<Result<Vec<_>, _>>()?;
    for ((_, p), v) in params.iter().zip(p_values) {
        p.set_value(v);
    }
    for ((_, b), v) in buffers.iter().zip(b_values) {
        b.set_value(v);
    }
    Ok(())
}

/// The metadata entry `key` of `ckpt`, or an error naming it.
pub fn metadata<'c, T: Element>(
    ckpt: &'c Checkpoint<T>,
    key: &str,
) -> Result<&'c str, CheckpointError> {
    ckpt.metadata
        .get(key)
        .map(String::as_str)
        .ok_or_else(|| format_err(format!("the metadata lacks `{key}`")))
}

/// Writes the position of every layer generator of `model` (`Dropout`'s
/// mask source, see [`Module::visit_rngs`]) into `ckpt`'s metadata as
/// `{prefix}{name}` (e.g. `rng.model.2.rng`), so a resumed run draws the
/// same masks as one that never stopped.
pub fn save_model_rngs<T: Element, M: Module<T> + ?Sized>(
    model: &M,
    ckpt: &mut Checkpoint<T>,
    prefix: &str,
) {
    for (name, rng) in model.named_rngs() {
        ckpt.metadata
            .insert(format!("{prefix}{name}"), rng_to_string(&rng));
    }
}

/// Restores the generators written by [`save_model_rngs`]. Checks every
/// entry first: a missing or malformed one is an error naming it, and then
/// no generator has moved.
pub fn load_model_rngs<T: Element, M: Module<T> + ?Sized>(
    model: &M,
    ckpt: &Checkpoint<T>,
    prefix: &str,
) -> Result<(), CheckpointError> {
    let mut found = Vec::new();
    let mut first_error = None;
    model.visit_rngs("", &mut |name, _| {
        let key = format!("{prefix}{name}");
        let parsed = match ckpt.metadata.get(&key) {
            Some(text) => rng_from_string(text),
            None => Err(format_err(format!(
                "no generator state `{key}` for the model's `{name}`"
            ))),
        };
        match parsed {
            Ok(rng) => found.push(rng),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    let mut values = found.into_iter();
    model.visit_rngs("", &mut |_, g| {
        g.set(values.next().expect("same tree, same count"));
    });
    Ok(())
}

/// Writes an optimiser's state into `ckpt`: its tensors as
/// `optim.{param}.{key}` and its description as `optim.*` metadata.
pub fn save_optimizer<T: Element, R: UpdateRule<T>>(
    optimizer: &Optimizer<T, R>,
    ckpt: &mut Checkpoint<T>,
) {
    let s = optimizer.state_dict();
    for (k, t) in s.tensors {
        ckpt.tensors.insert(format!("optim.{k}"), t);
    }
    let json = |v: serde_json::Result<String>| v.expect("plain data serialises to JSON");
    let m = &mut ckpt.metadata;
    m.insert("optim.optimizer".into(), s.optimizer);
    m.insert("optim.config".into(), s.config);
    m.insert(
        "optim.groups".into(),
        json(serde_json::to_string(&s.groups)),
    );
    m.insert("optim.steps".into(), json(serde_json::to_string(&s.steps)));
    m.insert(
        "optim.grad_clipping".into(),
        json(serde_json::to_string(&s.grad_clipping)),
    );
}

/// Restores an optimiser from a checkpoint written by [`save_optimizer`].
pub fn load_optimizer<T: Element, R: UpdateRule<T>>(
    optimizer: &mut Optimizer<T, R>,
    ckpt: &Checkpoint<T>,
) -> Result<(), CheckpointError> {
    let meta = |k: &str| {
        ckpt.metadata
            .get(k)
            .ok_or_else(|| format_err(format!("the metadata lacks `{k}`")))
    };
    let parse_err = |k: &str, e: serde_json::Error| format_err(format!("bad `{k}`: {e}"));
    let state = OptimizerState {
        optimizer: meta("optim.optimizer")?.clone(),
        config: meta("optim.config")?.clone(),
        groups: serde_json::from_str(meta("optim.groups")?)
            .map_err(|e| parse_err("optim.groups", e))?,
        steps: serde_json::from_str(meta("optim.steps")?)
            .map_err(|e| parse_err("optim.steps", e))?,
        grad_clipping: serde_json::from_str(meta("optim.grad_clipping")?)
            .map_err(|e| parse_err("optim.grad_clipping", e))?,
        tensors: ckpt
            .tensors
            .iter()
            .filter_map(|(k, t)| k.strip_prefix("optim.").map(|k| (k.to_string(), t.clone())))
            .collect(),
    };
    optimizer
        .load_state_dict(&state)
        .map_err(|e| format_err(format!("optimiser state: {e}")))
}

/// An [`Rng`]'s state as text: `seed-hex:word_pos:spare-bits` (the last
/// part is `-` when no spare normal sample is pending).
pub fn rng_to_string(rng: &Rng) -> String {
    let s = rng.state();
    let seed: String = s.seed.iter().map(|b| format!("{b:02x}")).collect();
    let spare = s
        .spare_normal
        .map_or_else(|| "-".to_string(), |b| format!("{b:016x}"));
    format!("{seed}:{}:{spare}", s.word_pos)
}

/// Parses the text written by [`rng_to_string`].
pub fn rng_from_string(text: &str) -> Result<Rng, CheckpointError> {
    let bad = || format_err(format!("bad RNG state `{text}`"));
    let mut parts = text.split(':');
    let (Some(seed_hex), Some(pos), Some(spare), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if seed_hex.len() != 64 || !seed_hex.is_ascii() {
        return Err(bad());
    }
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = u8::from_str_radix(&seed_hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    let word_pos = pos.parse::<u128>().map_err(|_| bad())?;
    let spare_normal = match spare {
        "-" => None,
        s => Some(u64::from_str_radix(s, 16).map_err(|_| bad())?),
    };
    Ok(Rng::from_state(&RngState {
        seed,
        word_pos,
        spare_normal,
    }))
}

/// Floats as exact bit patterns (hex), comma-separated.
pub(crate) fn f64s_to_string(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{:016x}", v.to_bits()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses [`f64s_to_string`]'s output.
pub(crate) fn f64s_from_string(text: &str) -> Result<Vec<f64>, CheckpointError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|p| {
            u64::from_str_radix(p, 16)
                .map(f64::from_bits)
                .map_err(|_| format_err(format!("bad float list `{text}`")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_state_round_trips_mid_stream() {
        let mut rng = Rng::seed_from(5);
        let _ = rng.normal_f64(); // leaves a spare normal pending
        let _ = rng.next_u64();
        let text = rng_to_string(&rng);
        let mut back = rng_from_string(&text).unwrap();
        for _ in 0..5 {
            assert_eq!(back.normal_f64().to_bits(), rng.normal_f64().to_bits());
        }
        for bad in ["", "zz", "00:1:-", &text.replace(':', ";")] {
            assert!(rng_from_string(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dropout_generators_round_trip_and_missing_ones_are_named() {
        use nn_layers::prelude::*;
        let model = |seed| {
            let mut rng = Rng::seed_from(seed);
            Sequential::<f32>::new()
                .append(Relu)
                .append(DropoutConfig::new(0.5).init(&mut rng).unwrap())
        };
        let x = Var::constant(Tensor::<f32>::ones(&[64]));
        let a = model(1);
        a.forward(&x); // moves the generator off its start
        let mut ckpt = Checkpoint::<f32>::new();
        save_model_rngs(&a, &mut ckpt, "rng.model.");
        assert!(ckpt.metadata.contains_key("rng.model.1.rng"));
        let b = model(2);
        assert_ne!(a.forward(&x).value(), b.forward(&x).value());
        load_model_rngs(&b, &ckpt, "rng.model.").unwrap();
        let mut a_again = model(3);
        load_model_rngs(&a_again, &ckpt, "rng.model.").unwrap();
        assert_eq!(a_again.forward(&x).value(), b.forward(&x).value());
        // A checkpoint without the entry is an error naming it, and the
        // generator stays where it was.
        a_again = model(3);
        let before = a_again.named_rngs()[0].1.state();
        let err = load_model_rngs(&a_again, &Checkpoint::<f32>::new(), "rng.model.")
            .unwrap_err()
            .to_string();
        assert!(err.contains("rng.model.1.rng"), "{err}");
        assert_eq!(a_again.named_rngs()[0].1.state(), before);
    }

    #[test]
    fn float_lists_are_exact() {
        let v = vec![0.1, -3.5e-300, f64::MAX];
        assert_eq!(f64s_from_string(&f64s_to_string(&v)).unwrap(), v);
        assert!(f64s_from_string("xyz").is_err());
        assert_eq!(f64s_from_string("").unwrap(), Vec::<f64>::new());
    }
}
