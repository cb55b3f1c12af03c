//! Weights files: round trips, strict and non-strict loading, int64 counts,
//! corrupt input.

use nn_layers::prelude::*;
use nn_layers::serialize::{from_bytes, load, save, to_bytes, LoadMode, SerializeError};

fn model<T: Element>(seed: u64, hidden: usize) -> Sequential<T> {
    let mut rng = Rng::seed_from(seed);
    Sequential::new()
        .append(LinearConfig::new(3, hidden).init(&mut rng).unwrap())
        .append(BatchNormConfig::new(hidden).init(&mut rng).unwrap())
        .append(Relu)
        .append(LinearConfig::new(hidden, 2).init(&mut rng).unwrap())
}

#[test]
fn round_trip_restores_parameters_and_buffers_in_both_precisions() {
    let a = model::<f64>(1, 4);
    let mut rng = Rng::seed_from(9);
    a.forward(Var::constant(Tensor::rand_normal(
        &[5, 3],
        0.0,
        1.0,
        &mut rng,
    )));
    let dir = std::env::temp_dir().join(format!("nn_layers_rt_{}.safetensors", std::process::id()));
    save(&a, &dir).unwrap();
    let b = model::<f64>(2, 4);
    let report = load(&b, &dir, LoadMode::Strict).unwrap();
    std::fs::remove_file(&dir).ok();
    assert_eq!(report.loaded.len(), 9);
    for ((na, ta), (nb, tb)) in a.state_dict().into_iter().zip(b.state_dict()) {
        assert_eq!(na, nb);
        assert_eq!(ta, tb, "{na}");
    }
    // An f64 file loads into an f32 model (converted).
    let c = model::<f32>(3, 4);
    from_bytes(&c, &to_bytes(&a).unwrap(), LoadMode::Strict).unwrap();
    let w: Vec<f32> = a.parameters()[0]
        .value()
        .to_vec()
        .iter()
        .map(|&v| v as f32)
        .collect();
    assert_eq!(c.parameters()[0].value().to_vec(), w);
}

#[test]
fn num_batches_tracked_is_written_as_int64() {
    let a = model::<f32>(1, 4);
    a.forward(Var::constant(Tensor::rand_normal(
        &[5, 3],
        0.0,
        1.0,
        &mut Rng::seed_from(0),
    )));
    let bytes = to_bytes(&a).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor("1.num_batches_tracked").unwrap();
    assert_eq!(t.dtype(), safetensors::Dtype::I64);
    assert_eq!(t.shape(), &[] as &[usize]);
    assert_eq!(t.data(), &1i64.to_le_bytes());
    assert_eq!(
        st.tensor("0.weight").unwrap().dtype(),
        safetensors::Dtype::F32
    );
}

#[test]
fn strict_load_lists_every_problem_and_changes_nothing() {
    let small = model::<f32>(1, 4);
    let big = model::<f32>(2, 5).append(
        LinearConfig::new(2, 2)
            .init(&mut Rng::seed_from(0))
            .unwrap(),
    );
    let before = big.state_dict();
    let err = from_bytes(&big, &to_bytes(&small).unwrap(), LoadMode::Strict).unwrap_err();
    let SerializeError::Mismatch(report) = &err else {
        panic!("expected a mismatch, got {err}")
    };
    assert_eq!(report.missing, ["4.weight", "4.bias"]);
    assert!(report.unexpected.is_empty());
    let names: Vec<&str> = report.mismatched.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "0.weight",
            "0.bias",
            "1.weight",
            "1.bias",
            "3.weight",
            "1.running_mean",
            "1.running_var"
        ]
    );
    assert_eq!(report.mismatched[0].expected, [5, 3]);
    assert_eq!(report.mismatched[0].found, [4, 3]);
    let msg = err.to_string();
    assert!(
        msg.contains("missing keys: 4.weight, 4.bias")
            && msg.contains("shape mismatch for 0.weight"),
        "{msg}"
    );
    assert_eq!(big.state_dict(), before);

    // Unexpected keys: a bigger file into a smaller model.
    let err = from_bytes(
        &model::<f32>(3, 5),
        &to_bytes(&big).unwrap(),
        LoadMode::Strict,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("unexpected keys: 4.bias, 4.weight"),
        "{err}"
    );
}

#[test]
fn non_strict_load_takes_what_matches_and_reports_the_rest() {
    let src = model::<f32>(1, 4).append(
        LinearConfig::new(2, 2)
            .init(&mut Rng::seed_from(0))
            .unwrap(),
    );
    let dst = model::<f32>(2, 4);
    dst.freeze();
    let r = from_bytes(&dst, &to_bytes(&src).unwrap(), LoadMode::NonStrict).unwrap();
    assert_eq!(r.loaded.len(), 9);
    assert_eq!(r.unexpected, ["4.bias", "4.weight"]);
    assert!(r.missing.is_empty() && r.mismatched.is_empty());
    assert_eq!(dst.parameters()[0].value(), src.parameters()[0].value());
    // A partly different model: the matching part loads.
    let other = model::<f32>(5, 6);
    let r = from_bytes(&other, &to_bytes(&src).unwrap(), LoadMode::NonStrict).unwrap();
    assert!(r.loaded.contains(&"1.num_batches_tracked".to_string()));
    assert_eq!(r.mismatched.len(), 7);
}

#[test]
fn corrupt_or_truncated_files_are_errors_not_panics() {
    let m = model::<f32>(1, 4);
    let bytes = to_bytes(&m).unwrap();
    for cut in [0, 3, 8, 20, bytes.len() / 2, bytes.len() - 1] {
        let e = from_bytes(&m, &bytes[..cut], LoadMode::Strict);
        assert!(
            matches!(e, Err(SerializeError::Format(_))),
            "cut at {cut}: {e:?}"
        );
    }
    let mut rng = Rng::seed_from(4);
    for len in [1usize, 8, 64, 1000] {
        let garbage: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        assert!(from_bytes(&m, &garbage, LoadMode::NonStrict).is_err());
    }
    // A header claiming a huge length must not allocate it.
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    assert!(from_bytes(&m, &huge, LoadMode::Strict).is_err());
    // A valid file whose float tensor is stored as I64 is a dtype error.
    let data = 7i64.to_le_bytes();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![1], &data).unwrap();
    let bad = safetensors::serialize([("w", view)], &None).unwrap();
    let p = Prelu::<f32> {
        weight: Parameter::new(Tensor::zeros(&[1])),
    };
    let e = Sequential::<f32>::new().append(p);
    let renamed = safetensors::serialize(
        [(
            "0.weight",
            safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![1], &data).unwrap(),
        )],
        &None,
    )
    .unwrap();
    assert!(from_bytes(&e, &bad, LoadMode::NonStrict).is_ok());
    let err = from_bytes(&e, &renamed, LoadMode::Strict).unwrap_err();
    assert!(matches!(err, SerializeError::Dtype { .. }), "{err}");
    assert!(load(&m, "/nonexistent/weights.safetensors", LoadMode::Strict).is_err());
}

/// `save` replaces the file rather than rewriting it in place: a hard link
/// to the previous file still reads the previous weights, whole (an
/// in-place `fs::write` would truncate that shared inode first, which is
/// what a crash mid-save would leave behind), and no temporary file stays.
#[test]
fn save_replaces_the_file_atomically() {
    let dir = std::env::temp_dir().join(format!("nn_layers_atomic_save_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("w.safetensors");
    let old = model::<f32>(1, 4);
    save(&old, &path).unwrap();
    let old_bytes = std::fs::read(&path).unwrap();
    let link = dir.join("previous.safetensors");
    std::fs::hard_link(&path, &link).unwrap();
    let new = model::<f32>(2, 16);
    save(&new, &path).unwrap();
    assert_eq!(
        std::fs::read(&link).unwrap(),
        old_bytes,
        "the old file was rewritten in place"
    );
    assert_eq!(std::fs::read(&path).unwrap(), to_bytes(&new).unwrap());
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["previous.safetensors", "w.safetensors"]);
    // Saving into a directory that does not exist fails cleanly.
    assert!(matches!(
        save(&new, dir.join("missing").join("w.safetensors")),
        Err(SerializeError::Io(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `model.save(path)` / `model.load(path)` have the shape of an optimiser's
/// `opt.save(path)` / `opt.load(path)`; load is strict.
#[test]
fn models_save_and_load_through_methods_like_optimisers() {
    let path = std::env::temp_dir().join(format!(
        "nn_layers_method_save_{}.safetensors",
        std::process::id()
    ));
    let a = model::<f32>(3, 4);
    let b = model::<f32>(4, 4);
    a.save(&path).unwrap();
    let report = b.load(&path).unwrap();
    assert!(report.is_complete(), "{report}");
    assert_eq!(a.state_dict(), b.state_dict());
    let wider = model::<f32>(5, 6);
    assert!(matches!(
        wider.load(&path),
        Err(SerializeError::Mismatch(_))
    ));
    std::fs::remove_file(&path).unwrap();
}
