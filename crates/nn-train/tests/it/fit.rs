//! The training loop end to end on a small synthetic problem: determinism,
//! exact resume (dropout and plateau schedule included), early stopping with
//! restored weights, divergence, history, epochs numbered from 1 everywhere,
//! and the built-in tasks that need no closures.

use std::path::PathBuf;

use nn_data::Batch;
use nn_data::{DataLoader, TensorDataset};
use nn_layers::prelude::*;
use nn_optim::{Adam, AdamConfig, GradClip, PlateauConfig, PlateauMode, StepLr};
use nn_train::{
    Callback, Checkpoint, Control, CustomTask, EarlyStopping, Evaluation, FitContext, FitReport,
    Mode, StepContext, TrainError, Trainer, ZeroOneError,
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

/// The same with a `Dropout`, whose private generator decides every mask.
fn dropout_model(seed: u64) -> Sequential<f32> {
    let mut rng = Rng::seed_from(seed);
    Sequential::new()
        .append(LinearConfig::new(4, 16).init(&mut rng).unwrap())
        .append(Relu)
        .append(DropoutConfig::new(0.3).init(&mut rng).unwrap())
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
fn step(m: &Sequential<f32>, b: &Batch<f32>, ctx: &mut StepContext<'_>) -> Var<f32> {
    let noise = Tensor::rand_normal(b.features.shape(), 0.0, 0.05, ctx.rng);
    let x = Var::constant(b.features.add(&noise));
    CrossEntropyLoss::new().forward(&m.forward(&x), b.targets())
}

fn eval(m: &Sequential<f32>, b: &Batch<f32>) -> Evaluation<f32> {
    let out = m.forward(b.inputs());
    Evaluation::new(&out.cross_entropy(b.targets()), &out)
}

type StepFn = fn(&Sequential<f32>, &Batch<f32>, &mut StepContext<'_>) -> Var<f32>;
type EvalFn = fn(&Sequential<f32>, &Batch<f32>) -> Evaluation<f32>;
type TestTrainer<'a> = Trainer<'a, f32, Sequential<f32>, CustomTask<StepFn, EvalFn>>;

fn adam(m: &Sequential<f32>) -> Adam<f32> {
    AdamConfig::new(0.02).init(m.named_parameters()).unwrap()
}

/// The settings every test shares, with the noisy step of [`step`].
fn trainer<'a>(m: &'a Sequential<f32>, opt: &'a mut Adam<f32>, epochs: usize) -> TestTrainer<'a> {
    Trainer::custom(m, opt, step as StepFn, eval as EvalFn)
        .epochs(epochs)
        .seed(11)
        .metric(nn_train::Accuracy::new())
        .metric(ZeroOneError::new())
        .schedule(StepLr::new(2, 0.5).unwrap())
        .grad_clip(GradClip::Norm {
            max_norm: 1.0,
            norm_type: 2.0,
        })
        .quiet()
}

fn fit(t: &mut TestTrainer<'_>) -> Result<FitReport, TrainError> {
    let train = data(1, 120);
    let val = data(2, 60);
    let tl = DataLoader::new(&train, 16).unwrap().shuffle(5);
    let vl = DataLoader::new(&val, 32).unwrap();
    t.fit(&tl, &vl)
}

/// Trains `m` for `epochs` with the shared settings, `extra` applied on top.
fn run_with(
    m: &Sequential<f32>,
    epochs: usize,
    extra: impl FnOnce(TestTrainer<'_>) -> TestTrainer<'_>,
) -> Result<FitReport, TrainError> {
    let mut opt = adam(m);
    let mut t = extra(trainer(m, &mut opt, epochs));
    fit(&mut t)
}

fn run(m: &Sequential<f32>, epochs: usize) -> Result<FitReport, TrainError> {
    run_with(m, epochs, |t| t)
}

#[test]
fn same_seed_gives_bit_identical_weights() {
    let (a, b, c) = (model(3), model(3), model(3));
    run(&a, 4).unwrap();
    run(&b, 4).unwrap();
    assert_eq!(weights(&a), weights(&b));
    // A different trainer seed changes the noise, hence the weights.
    run_with(&c, 4, |t| t.seed(12)).unwrap();
    assert_ne!(weights(&a), weights(&c));
}

#[test]
fn resuming_from_a_checkpoint_continues_exactly() {
    let dir = temp_dir("resume");
    let ckpt = dir.join("run.safetensors");
    let full = model(4);
    let whole = run(&full, 6).unwrap();

    // The same run, stopped after 3 epochs (a checkpoint every epoch), then resumed.
    let part = model(4);
    run_with(&part, 3, |t| t.checkpoint(&ckpt, 1)).unwrap();
    let saved = Checkpoint::<f32>::load(&ckpt).unwrap();
    assert_eq!(saved.metadata["epoch"], "3");
    assert!(saved.tensors.contains_key("model.0.weight"));
    assert!(saved.tensors.contains_key("optim.0.weight.exp_avg"));
    assert!(saved.metadata.contains_key("callback.lr_schedule.base_lrs"));
    let resumed_model = model(99); // different initial weights: all must come from the file
    let resumed = run_with(&resumed_model, 6, |t| t.resume_from(&ckpt)).unwrap();

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

/// A model with dropout: the mask generator's position is in the
/// checkpoint, so stopping after 2 epochs and resuming gives the weights of
/// an uninterrupted 5-epoch run, bit for bit. A generator left where a
/// fresh model starts would draw other masks.
#[test]
fn resuming_a_dropout_model_gives_bit_identical_weights() {
    let dir = temp_dir("resume-dropout");
    let ckpt = dir.join("run.safetensors");
    let full = dropout_model(4);
    run(&full, 5).unwrap();

    let part = dropout_model(4);
    run_with(&part, 2, |t| t.checkpoint(&ckpt, 1)).unwrap();
    let saved = Checkpoint::<f32>::load(&ckpt).unwrap();
    assert!(saved.metadata.contains_key("rng.model.2.rng"));
    let resumed = dropout_model(77); // other weights and another mask generator
    run_with(&resumed, 5, |t| t.resume_from(&ckpt)).unwrap();
    assert_eq!(weights(&resumed), weights(&full));

    // Without the generator state (dropped from the file), the resumed run
    // is refused rather than silently inexact.
    let mut stripped = saved.clone();
    stripped.metadata.remove("rng.model.2.rng");
    stripped.save(&ckpt).unwrap();
    let err = run_with(&dropout_model(77), 5, |t| t.resume_from(&ckpt)).unwrap_err();
    assert!(err.to_string().contains("rng.model.2.rng"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// ReduceLrOnPlateau inside the trainer: the rate drops once `val_loss`
/// stalls, the drops survive a resume, and the resumed run matches.
#[test]
fn reduce_lr_on_plateau_lowers_the_rate_when_validation_stalls_and_resumes_exactly() {
    let plateau = || {
        PlateauConfig::new(PlateauMode::Min)
            .with_patience(1)
            .with_factor(0.5)
            .with_threshold(0.05, nn_optim::ThresholdMode::Rel)
            .init()
            .unwrap()
    };
    // No StepLr here: the plateau alone moves the rate.
    fn plain(
        m: &Sequential<f32>,
        epochs: usize,
        plateau: nn_optim::ReduceLrOnPlateau,
        extra: impl FnOnce(TestTrainer<'_>) -> TestTrainer<'_>,
    ) -> FitReport {
        let mut opt = adam(m);
        let t = Trainer::custom(m, &mut opt, step as StepFn, eval as EvalFn)
            .epochs(epochs)
            .seed(11)
            .reduce_lr_on_plateau("val_loss", plateau)
            .quiet();
        let mut t = extra(t);
        fit(&mut t).unwrap()
    }
    let full = model(12);
    let whole = plain(&full, 12, plateau(), |t| t);
    let lrs = whole.history.series("lr");
    let losses = whole.history.series("val_loss");
    assert_eq!(lrs[0], 0.02);
    // Replay the rule on the recorded losses: each epoch's rate is the one
    // the plateau left after the previous epochs.
    let (mut best, mut bad, mut lr) = (f64::INFINITY, 0, 0.02);
    for (e, &l) in losses.iter().enumerate() {
        assert_eq!(lrs[e], lr, "epoch {}", e + 1);
        if l < best * (1.0 - 0.05) {
            (best, bad) = (l, 0);
        } else {
            bad += 1;
        }
        if bad > 1 {
            (lr, bad) = (lr * 0.5, 0);
        }
    }
    assert!(
        lrs.last().unwrap() < &0.02,
        "the rate never dropped: {lrs:?}"
    );

    let dir = temp_dir("plateau");
    let ckpt = dir.join("run.safetensors");
    let part = model(12);
    plain(&part, 5, plateau(), |t| t.checkpoint(&ckpt, 1));
    let resumed = model(1);
    let again = plain(&resumed, 12, plateau(), |t| t.resume_from(&ckpt));
    assert_eq!(again.history.series("lr"), lrs);
    assert_eq!(weights(&resumed), weights(&full));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The course stops on the validation *error rate* (1.2.3): early stopping
/// watches any recorded metric, the 0-1 error included. Epochs are numbered
/// from 1: `best_epoch` is the history's epoch number of the best value.
#[test]
fn early_stopping_can_watch_the_validation_error_rate() {
    let es = EarlyStopping::new("val_zero_one_error", Mode::Min, 2, 0.0);
    let m = model(6);
    let report = run_with(&m, 40, |t| t.early_stopping(es)).unwrap();
    let errors = report.history.series("val_zero_one_error");
    let best = report.best_epoch.expect("some epoch improved");
    let at = |epoch: usize| errors[epoch - 1];
    assert!((1..best).all(|e| at(e) > at(best)));
    if let Some(stopped) = report.stopped_epoch {
        assert_eq!(stopped, best + 2);
        assert!((best + 1..=stopped).all(|e| at(e) >= at(best)));
    }
}

#[test]
fn early_stopping_restores_the_best_epoch_weights() {
    // The learning rate halves every 2 epochs, so improvements shrink below
    // min_delta and early stopping must trigger well before 40 epochs.
    let min_delta = 1e-3;
    let es = || EarlyStopping::new("val_loss", Mode::Min, 2, min_delta);
    let m = model(5);
    let report = run_with(&m, 40, |t| t.early_stopping(es().restore_best_weights())).unwrap();
    let best = report.best_epoch.unwrap();
    let stopped = report.stopped_epoch.expect("early stopping triggered");
    assert_eq!(
        stopped,
        best + 2,
        "stops after `patience` epochs without improvement"
    );
    assert_eq!(report.epochs_run, stopped);
    assert_eq!(report.history.epochs.last().unwrap().epoch, stopped);
    let loss = |epoch: usize| report.history.epochs[epoch - 1].metrics["val_loss"];
    assert_eq!(report.history.epochs[best - 1].epoch, best);
    assert!((1..best).all(|e| loss(e) > loss(best)));
    assert!((best + 1..=stopped).all(|e| loss(e) >= loss(best) - min_delta));
    assert!(report.restored_best);
    // The weights are those after epoch `best`: rerun exactly that many epochs.
    let again = model(5);
    run(&again, best).unwrap();
    assert_eq!(weights(&m), weights(&again));
    // Without restoring, the model keeps the last epoch's weights.
    let last = model(5);
    let kept = run_with(&last, 40, |t| t.early_stopping(es())).unwrap();
    assert!(!kept.restored_best);
    assert_ne!(weights(&last), weights(&m));
    // Accuracy and 0-1 error are complementary.
    for e in &report.history.epochs {
        let s = e.metrics["val_accuracy"] + e.metrics["val_zero_one_error"];
        assert!((s - 1.0).abs() < 1e-12);
    }
}

/// Every hook sees the epoch the history records for it, from 1 to the
/// last, and the last one equals the report's count.
#[test]
fn epochs_are_numbered_from_one_in_hooks_history_and_report() {
    #[derive(Default)]
    struct Seen(std::rc::Rc<std::cell::RefCell<Vec<(usize, usize, usize)>>>);
    impl Callback<f32> for Seen {
        fn name(&self) -> &str {
            "seen"
        }
        fn on_epoch_end(
            &mut self,
            ctx: &mut FitContext<'_, f32>,
            _: &mut Control,
        ) -> Result<(), TrainError> {
            let recorded = ctx.history.epochs.last().unwrap().epoch;
            self.0.borrow_mut().push((ctx.epoch, recorded, ctx.epochs));
            Ok(())
        }
    }
    let seen = Seen::default();
    let log = seen.0.clone();
    let report = run_with(&model(2), 3, |t| t.callback(seen)).unwrap();
    assert_eq!(*log.borrow(), vec![(1, 1, 3), (2, 2, 3), (3, 3, 3)]);
    assert_eq!(report.epochs_run, 3);
    let numbers: Vec<usize> = report.history.epochs.iter().map(|e| e.epoch).collect();
    assert_eq!(numbers, vec![1, 2, 3]);
}

#[test]
fn a_nan_loss_stops_with_epoch_and_batch_and_keeps_the_last_checkpoint() {
    let dir = temp_dir("nan");
    let ckpt = dir.join("run.safetensors");
    let m = model(6);
    // Poisons the third batch of the second epoch.
    let poisoned = |m: &Sequential<f32>, b: &Batch<f32>, ctx: &mut StepContext<'_>| {
        let loss = step(m, b, ctx);
        if ctx.epoch == 2 && ctx.batch == 3 {
            loss * f32::NAN
        } else {
            loss
        }
    };
    let before = model(6);
    let mut opt = adam(&m);
    let train = data(1, 120);
    let tl = DataLoader::new(&train, 16).unwrap().shuffle(5);
    let err = Trainer::custom(&m, &mut opt, poisoned, eval)
        .epochs(5)
        .seed(11)
        .schedule(StepLr::new(2, 0.5).unwrap())
        .grad_clip(GradClip::Norm {
            max_norm: 1.0,
            norm_type: 2.0,
        })
        .checkpoint(&ckpt, 1)
        .quiet()
        .fit_without_validation(&tl)
        .unwrap_err();
    match &err {
        TrainError::Diverged { epoch, batch, loss } => {
            assert_eq!((*epoch, *batch), (2, 3));
            assert!(loss.is_nan());
        }
        other => panic!("expected Diverged, got {other}"),
    }
    assert!(err.to_string().contains("epoch 2, batch 3"), "{err}");
    // The checkpoint is the one after epoch 1, intact and finite.
    let saved = Checkpoint::<f32>::load(&ckpt).unwrap();
    assert_eq!(saved.metadata["epoch"], "1");
    assert!(saved.tensors.values().all(|t| t.all_finite()));
    // It matches a clean one-epoch run.
    run(&before, 1).unwrap();
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
    let report = run_with(&m, 2, |t| t.save_history(&csv)).unwrap();
    run_with(&model(7), 2, |t| t.save_history(&json)).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("epoch,lr,samples_per_second,seconds,train_loss,val_accuracy,"));
    assert_eq!(text.lines().count(), 3);
    assert!(text.lines().nth(1).unwrap().starts_with("1,"), "{text}");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(j.as_array().unwrap().len(), 2);
    assert_eq!(j[1]["epoch"], 2);
    assert_eq!(
        j[1]["train_loss"].as_f64(),
        report.history.last("train_loss")
    );
    let err = run_with(&model(7), 2, |t| {
        t.early_stopping(EarlyStopping::new("val_f1", Mode::Max, 1, 0.0))
    })
    .unwrap_err();
    assert!(err.to_string().contains("`val_f1`"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resuming_keeps_the_early_stopping_state_and_the_best_weights() {
    let dir = temp_dir("resume-es");
    let ckpt = dir.join("run.safetensors");
    let es = || EarlyStopping::new("val_loss", Mode::Min, 2, 1e-3).restore_best_weights();
    let full = model(8);
    let whole = run_with(&full, 40, |t| t.early_stopping(es())).unwrap();
    assert!(
        whole.stopped_epoch.unwrap() > 3,
        "the stop comes after the resume point"
    );
    let part = model(8);
    run_with(&part, 3, |t| t.early_stopping(es()).checkpoint(&ckpt, 1)).unwrap();
    let resumed_model = model(98);
    let resumed = run_with(&resumed_model, 40, |t| {
        t.early_stopping(es()).resume_from(&ckpt)
    })
    .unwrap();
    assert_eq!(resumed.stopped_epoch, whole.stopped_epoch);
    assert_eq!(resumed.best_epoch, whole.best_epoch);
    assert_eq!(weights(&resumed_model), weights(&full));
    // A checkpoint that is not a training checkpoint is refused with a reason.
    let mut foreign = Checkpoint::<f32>::new();
    foreign.tensors.insert("w".into(), Tensor::zeros(&[1]));
    foreign.save(&ckpt).unwrap();
    let err = run_with(&model(8), 4, |t| t.resume_from(&ckpt)).unwrap_err();
    assert!(
        err.to_string().contains("not a training checkpoint"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_schedule_sets_each_epochs_rate_and_clipping_bounds_each_step() {
    // StepLr(2, 0.5) from 0.02: 0.02, 0.02, 0.01, 0.01, 0.005.
    let report = run(&model(9), 5).unwrap();
    assert_eq!(
        report.history.series("lr"),
        vec![0.02, 0.02, 0.01, 0.01, 0.005]
    );
    // Plain SGD with lr 1 and gradients clamped to ±1e-3 moves no weight by
    // more than 1e-3 per step, however large the raw gradient.
    let m = model(9);
    let before: Vec<Vec<f32>> = m.parameters().iter().map(|p| p.value().to_vec()).collect();
    let big =
        |m: &Sequential<f32>, b: &Batch<f32>, ctx: &mut StepContext<'_>| step(m, b, ctx) * 1e6;
    let train = data(1, 16);
    let mut opt = nn_optim::SgdConfig::new(1.0)
        .init(m.named_parameters())
        .unwrap();
    let loader = DataLoader::new(&train, 16).unwrap();
    Trainer::custom(&m, &mut opt, big, eval)
        .grad_clip(GradClip::Value(1e-3))
        .quiet()
        .fit_without_validation(&loader)
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

/// The common tasks need no closures: classification records accuracy,
/// regression the mean absolute error, reconstruction learns to copy.
#[test]
fn classification_regression_and_reconstruction_need_no_closures() {
    let m = model(10);
    let mut opt = adam(&m);
    let (train, val) = (data(1, 120), data(2, 60));
    let tl = DataLoader::new(&train, 16).unwrap().shuffle(5);
    let vl = DataLoader::new(&val, 60).unwrap();
    let mut t = Trainer::classification(&m, &mut opt).epochs(15).quiet();
    let report = t.fit(&tl, &vl).unwrap();
    assert!(report.history.last("val_accuracy").unwrap() > 0.7);
    let test = t.evaluate(&vl).unwrap();
    assert_eq!(Some(test["accuracy"]), report.history.last("val_accuracy"));

    // y = x·w + 1 with a linear model.
    let mut rng = Rng::seed_from(3);
    let x = Tensor::<f32>::rand_uniform(&[64, 2], -1.0, 1.0, &mut rng);
    let w = Tensor::from_vec(vec![2.0, -1.0], &[2, 1]);
    let y = x.matmul(&w) + 1.0;
    let reg = TensorDataset::regression(x.clone(), y).unwrap();
    let lin = LinearConfig::new(2, 1).init::<f32>(&mut rng).unwrap();
    let mut sgd = nn_optim::SgdConfig::new(0.2)
        .init(lin.named_parameters())
        .unwrap();
    let loader = DataLoader::new(&reg, 8).unwrap().shuffle(1);
    let report = Trainer::regression(&lin, &mut sgd)
        .epochs(40)
        .quiet()
        .fit(&loader, &loader)
        .unwrap();
    assert!(report.history.last("val_loss").unwrap() < 1e-4);
    assert!(report.history.last("val_mae").unwrap() < 1e-2);

    // An identity-initialisable autoencoder: a 2 → 2 linear map learns to copy.
    let ae = LinearConfig::new(2, 2).init::<f32>(&mut rng).unwrap();
    let mut sgd = nn_optim::SgdConfig::new(0.2)
        .init(ae.named_parameters())
        .unwrap();
    let report = Trainer::reconstruction(&ae, &mut sgd)
        .epochs(40)
        .quiet()
        .fit(&loader, &loader)
        .unwrap();
    let losses = report.history.series("val_loss");
    assert!(losses[39] < 1e-3 * losses[0].max(1e-3), "{losses:?}");

    // Regression targets handed to a classification trainer: an error that says so.
    let mut sgd = nn_optim::SgdConfig::new(0.2)
        .init(ae.named_parameters())
        .unwrap();
    let err = Trainer::classification(&ae, &mut sgd)
        .quiet()
        .fit_without_validation(&loader)
        .unwrap_err();
    assert!(err.to_string().contains("class indices"), "{err}");
}
