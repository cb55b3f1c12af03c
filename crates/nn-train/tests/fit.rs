//! The training loop end to end on a small synthetic problem: determinism,
//! exact resume, early stopping with restored weights, divergence, history.

use std::path::PathBuf;

use nn_data::{DataLoader, TensorDataset};
use nn_layers::prelude::*;
use nn_optim::{AdamConfig, GradClip, StepLr};
use nn_train::{
    Accuracy, Checkpoint, EarlyStopping, Evaluation, FitReport, Mode, StepContext, TrainError,
    Trainer, ZeroOneError,
};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nn-train-fit-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Three noisy classes in 4-d: learnable, but not perfectly.
fn data(seed: u64, n: usize) -> TensorDataset<f32> {
    let mut rng = Rng::seed_from(seed);
    let x = Tensor::<f32>::rand_normal(&[n, 4], 0.0, 1.0, &mut rng);
    let y = x
        .as_slice()
        .chunks(4)
        .map(|r| {
            let s = r[0] + 0.5 * r[1] - r[2] + 0.3 * rng.normal_f64() as f32;
            if s < -0.5 {
                0
            } else if s < 0.5 {
                1
            } else {
                2
            }
        })
        .collect();
    TensorDataset::classification(x, y).unwrap()
}

fn model(seed: u64) -> Sequential<f32> {
    let mut rng = Rng::seed_from(seed);
    Sequential::new()
        .append(LinearConfig::new(4, 16).init(&mut rng).unwrap())
        .append(Relu)
        .append(LinearConfig::new(16, 3).init(&mut rng).unwrap())
}

fn weights(m: &Sequential<f32>) -> Vec<Vec<u32>> {
    m.parameters()
        .iter()
        .map(|p| p.value().as_slice().iter().map(|x| x.to_bits()).collect())
        .collect()
}

/// A step that also uses the trainer's generator (input noise), so the
/// generator's state matters for exact resume.
fn step(m: &Sequential<f32>, b: &nn_data::Batch<f32>, ctx: &mut StepContext<'_>) -> Var<f32> {
    let noise = Tensor::rand_normal(b.features.shape(), 0.0, 0.05, ctx.rng);
    let x = Var::constant(b.features.add(&noise));
    CrossEntropyLoss::default().forward(&m.forward(&x), b.classes())
}

fn eval(m: &Sequential<f32>, b: &nn_data::Batch<f32>) -> Evaluation<f32> {
    let out = m.forward(Var::constant(b.features.clone()));
    Evaluation::new(
        &CrossEntropyLoss::default().forward(&out, b.classes()),
        &out,
    )
}

fn trainer(epochs: usize) -> Trainer<f32> {
    Trainer::new(epochs)
        .seed(11)
        .metric(Accuracy::new())
        .metric(ZeroOneError::new())
        .schedule(StepLr::new(2, 0.5).unwrap())
        .grad_clip(GradClip::Norm {
            max_norm: 1.0,
            norm_type: 2.0,
        })
        .quiet()
}

fn run(t: &mut Trainer<f32>, m: &Sequential<f32>) -> Result<FitReport, TrainError> {
    let train = data(1, 120);
    let val = data(2, 60);
    let mut opt = AdamConfig::new(0.02).init(m.named_parameters()).unwrap();
    let tl = DataLoader::new(&train, 16).unwrap().shuffle(5);
    let vl = DataLoader::new(&val, 32).unwrap();
    t.fit(m, &mut opt, &tl, Some(&vl), step, eval)
}

/// Resume needs the optimiser's state too, so this variant keeps it outside.
fn run_with(
    t: &mut Trainer<f32>,
    m: &Sequential<f32>,
    step_fn: impl FnMut(&Sequential<f32>, &nn_data::Batch<f32>, &mut StepContext<'_>) -> Var<f32>,
) -> Result<FitReport, TrainError> {
    let train = data(1, 120);
    let val = data(2, 60);
    let mut opt = AdamConfig::new(0.02).init(m.named_parameters()).unwrap();
    let tl = DataLoader::new(&train, 16).unwrap().shuffle(5);
    let vl = DataLoader::new(&val, 32).unwrap();
    t.fit(m, &mut opt, &tl, Some(&vl), step_fn, eval)
}

#[test]
fn same_seed_gives_bit_identical_weights() {
    let (a, b, c) = (model(3), model(3), model(3));
    run(&mut trainer(4), &a).unwrap();
    run(&mut trainer(4), &b).unwrap();
    assert_eq!(weights(&a), weights(&b));
    // A different trainer seed changes the noise, hence the weights.
    run(&mut trainer(4).seed(12), &c).unwrap();
    assert_ne!(weights(&a), weights(&c));
}

#[test]
fn resuming_from_a_checkpoint_continues_exactly() {
    let dir = temp_dir("resume");
    let ckpt = dir.join("run.safetensors");
    let full = model(4);
    let whole = run(&mut trainer(6), &full).unwrap();

    // The same run, stopped after 3 epochs (a checkpoint every epoch), then resumed.
    let part = model(4);
    run(&mut trainer(3).checkpoint(&ckpt, 1), &part).unwrap();
    let saved = Checkpoint::<f32>::load(&ckpt).unwrap();
    assert_eq!(saved.metadata["epoch"], "3");
    assert!(saved.tensors.contains_key("model.0.weight"));
    assert!(saved.tensors.contains_key("optim.0.weight.exp_avg"));
    let resumed_model = model(99); // different initial weights: all must come from the file
    let resumed = run(&mut trainer(6).resume_from(&ckpt), &resumed_model).unwrap();

    assert_eq!(weights(&resumed_model), weights(&full));
    assert_eq!(resumed.epochs_run, 6);
    assert_eq!(resumed.history.epochs.len(), 6);
    assert_eq!(
        resumed.history.series("train_loss"),
        whole.history.series("train_loss")
    );
    assert_eq!(resumed.history.series("lr"), whole.history.series("lr"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The course stops on the validation *error rate* (1.2.3): early stopping
/// watches any recorded metric, the 0-1 error included.
#[test]
fn early_stopping_can_watch_the_validation_error_rate() {
    let es = EarlyStopping::new("val_zero_one_error", Mode::Min, 2, 0.0);
    let m = model(6);
    let report = run(&mut trainer(40).early_stopping(es, true), &m).unwrap();
    let errors = report.history.series("val_zero_one_error");
    let best = report.best_epoch.expect("some epoch improved");
    assert!(errors[..best].iter().all(|&e| e > errors[best]));
    if let Some(stopped) = report.stopped_epoch {
        assert_eq!(stopped, best + 2);
        assert!(errors[best + 1..].iter().all(|&e| e >= errors[best]));
    }
}

#[test]
fn early_stopping_restores_the_best_epoch_weights() {
    // The learning rate halves every 2 epochs, so improvements shrink below
    // min_delta and early stopping must trigger well before 40 epochs.
    let min_delta = 1e-3;
    let es = EarlyStopping::new("val_loss", Mode::Min, 2, min_delta);
    let m = model(5);
    let report = run(&mut trainer(40).early_stopping(es, true), &m).unwrap();
    let best = report.best_epoch.unwrap();
    let stopped = report.stopped_epoch.expect("early stopping triggered");
    assert_eq!(
        stopped,
        best + 2,
        "stops after `patience` epochs without improvement"
    );
    assert_eq!(report.epochs_run, stopped + 1);
    let losses = report.history.series("val_loss");
    assert!(losses[..best].iter().all(|&l| l > losses[best]));
    assert!(losses[best + 1..]
        .iter()
        .all(|&l| l >= losses[best] - min_delta));
    assert!(report.restored_best);
    // The weights are those after epoch `best`: rerun exactly that many epochs.
    let again = model(5);
    run(&mut trainer(best + 1), &again).unwrap();
    assert_eq!(weights(&m), weights(&again));
    // Without restoring, the model keeps the last epoch's weights.
    let last = model(5);
    let es = EarlyStopping::new("val_loss", Mode::Min, 2, min_delta);
    run(&mut trainer(40).early_stopping(es, false), &last).unwrap();
    assert_ne!(weights(&last), weights(&m));
    // Accuracy and 0-1 error are complementary.
    for e in &report.history.epochs {
        let s = e.metrics["val_accuracy"] + e.metrics["val_zero_one_error"];
        assert!((s - 1.0).abs() < 1e-12);
    }
}

#[test]
fn a_nan_loss_stops_with_epoch_and_batch_and_keeps_the_last_checkpoint() {
    let dir = temp_dir("nan");
    let ckpt = dir.join("run.safetensors");
    let m = model(6);
    let poisoned = |m: &Sequential<f32>, b: &nn_data::Batch<f32>, ctx: &mut StepContext<'_>| {
        let loss = step(m, b, ctx);
        if ctx.epoch == 2 && ctx.batch == 3 {
            loss.mul_scalar(f32::NAN)
        } else {
            loss
        }
    };
    let before = model(6);
    let err = run_with(&mut trainer(5).checkpoint(&ckpt, 1), &m, poisoned).unwrap_err();
    match &err {
        TrainError::Diverged { epoch, batch, loss } => {
            assert_eq!((*epoch, *batch), (2, 3));
            assert!(loss.is_nan());
        }
        other => panic!("expected Diverged, got {other}"),
    }
    assert!(err.to_string().contains("epoch 2, batch 3"), "{err}");
    // The checkpoint is the one after epoch 2 (index 1), intact and finite.
    let saved = Checkpoint::<f32>::load(&ckpt).unwrap();
    assert_eq!(saved.metadata["epoch"], "2");
    assert!(saved.tensors.values().all(|t| t.all_finite()));
    // It matches a clean two-epoch run.
    run(&mut trainer(2), &before).unwrap();
    let w = saved.tensors["model.0.weight"].as_slice().to_vec();
    assert_eq!(w, before.parameters()[0].value().as_slice().to_vec());
    // The model itself was not updated with the NaN batch.
    assert!(m.parameters().iter().all(|p| p.value().all_finite()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn history_is_saved_and_a_missing_monitor_is_an_error() {
    let dir = temp_dir("history");
    let csv = dir.join("h.csv");
    let json = dir.join("h.json");
    let m = model(7);
    let report = run(&mut trainer(2).save_history(&csv), &m).unwrap();
    run(&mut trainer(2).save_history(&json), &model(7)).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("epoch,lr,samples_per_second,seconds,train_loss,val_accuracy,"));
    assert_eq!(text.lines().count(), 3);
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(j.as_array().unwrap().len(), 2);
    assert_eq!(
        j[1]["train_loss"].as_f64(),
        report.history.last("train_loss")
    );
    let err = run(
        &mut trainer(2).early_stopping(EarlyStopping::new("val_f1", Mode::Max, 1, 0.0), true),
        &model(7),
    )
    .unwrap_err();
    assert!(err.to_string().contains("`val_f1`"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resuming_keeps_the_early_stopping_state_and_the_best_weights() {
    let dir = temp_dir("resume-es");
    let ckpt = dir.join("run.safetensors");
    let es = || EarlyStopping::new("val_loss", Mode::Min, 2, 1e-3);
    let full = model(8);
    let whole = run(&mut trainer(40).early_stopping(es(), true), &full).unwrap();
    assert!(
        whole.stopped_epoch.unwrap() > 3,
        "the stop comes after the resume point"
    );
    let part = model(8);
    run(
        &mut trainer(3).early_stopping(es(), true).checkpoint(&ckpt, 1),
        &part,
    )
    .unwrap();
    let resumed_model = model(98);
    let resumed = run(
        &mut trainer(40).early_stopping(es(), true).resume_from(&ckpt),
        &resumed_model,
    )
    .unwrap();
    assert_eq!(resumed.stopped_epoch, whole.stopped_epoch);
    assert_eq!(resumed.best_epoch, whole.best_epoch);
    assert_eq!(weights(&resumed_model), weights(&full));
    // A checkpoint that is not a training checkpoint is refused with a reason.
    let mut foreign = Checkpoint::<f32>::new();
    foreign.tensors.insert("w".into(), Tensor::zeros(&[1]));
    foreign.save(&ckpt).unwrap();
    let err = run(&mut trainer(4).resume_from(&ckpt), &model(8)).unwrap_err();
    assert!(
        err.to_string().contains("not a training checkpoint"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_schedule_sets_each_epochs_rate_and_clipping_bounds_each_step() {
    // StepLr(2, 0.5) from 0.02: 0.02, 0.02, 0.01, 0.01, 0.005.
    let report = run(&mut trainer(5), &model(9)).unwrap();
    assert_eq!(
        report.history.series("lr"),
        vec![0.02, 0.02, 0.01, 0.01, 0.005]
    );
    // Plain SGD with lr 1 and gradients clamped to ±1e-3 moves no weight by
    // more than 1e-3 per step, however large the raw gradient.
    let m = model(9);
    let before: Vec<Vec<f32>> = m.parameters().iter().map(|p| p.value().to_vec()).collect();
    let big = |m: &Sequential<f32>, b: &nn_data::Batch<f32>, ctx: &mut StepContext<'_>| {
        step(m, b, ctx).mul_scalar(1e6)
    };
    let train = data(1, 16);
    let mut opt = nn_optim::SgdConfig::new(1.0)
        .init(m.named_parameters())
        .unwrap();
    let loader = DataLoader::new(&train, 16).unwrap();
    Trainer::new(1)
        .grad_clip(GradClip::Value(1e-3))
        .quiet()
        .fit(
            &m,
            &mut opt,
            &loader,
            None::<&DataLoader<&TensorDataset<f32>>>,
            big,
            eval,
        )
        .unwrap();
    let mut largest = 0f32;
    for (p, b) in m.parameters().iter().zip(&before) {
        for (x, y) in p.value().as_slice().iter().zip(b) {
            largest = largest.max((x - y).abs());
        }
    }
    assert!(
        largest > 0.0 && largest <= 1e-3 * (1.0 + 1e-4),
        "largest step {largest}"
    );
}
