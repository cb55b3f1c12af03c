//! Learning-rate schedules against hand-computed values (PyTorch's closed
//! forms), driven through an optimiser.

use nn_autograd::Parameter;
use nn_optim::{
    CosineAnnealingLr, ExponentialLr, LearningRates, LinearWarmup, LrSchedule, MultiStepLr,
    ParamGroup, PlateauConfig, PlateauMode, Scheduler, Sgd, SgdConfig, StepLr, ThresholdMode,
};
use nn_tensor::Tensor;

fn opt(lr: f64) -> Sgd<f64> {
    let w = Parameter::new(Tensor::<f64>::zeros(&[1]));
    SgdConfig::new(lr).init(vec![("w".to_string(), w)]).unwrap()
}

fn two_groups(lr0: f64, lr1: f64) -> Sgd<f64> {
    let a = Parameter::new(Tensor::<f64>::zeros(&[1]));
    let b = Parameter::new(Tensor::<f64>::zeros(&[1]));
    SgdConfig::new(1.0)
        .init_groups(vec![
            ParamGroup::new(vec![("a".to_string(), a)]).with_lr(lr0),
            ParamGroup::new(vec![("b".to_string(), b)]).with_lr(lr1),
        ])
        .unwrap()
}

/// The learning rates an optimiser sees at epochs 0..n under `schedule`.
fn trace(schedule: impl LrSchedule, lr: f64, n: usize) -> Vec<f64> {
    let mut o = opt(lr);
    let mut s = Scheduler::new(schedule, &mut o);
    let mut out = vec![o.lr()];
    for _ in 1..n {
        s.step(&mut o);
        out.push(o.lr());
    }
    out
}

fn close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-12 * w.abs().max(1.0),
            "epoch {i}: {g} vs {w}\n{got:?}"
        );
    }
}

#[test]
fn step_lr() {
    let got = trace(StepLr::new(3, 0.1).unwrap(), 0.5, 8);
    close(&got, &[0.5, 0.5, 0.5, 0.05, 0.05, 0.05, 0.005, 0.005]);
}

#[test]
fn multi_step_lr() {
    let got = trace(MultiStepLr::new(vec![2, 5], 0.5).unwrap(), 1.0, 7);
    close(&got, &[1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]);
}

#[test]
fn exponential_lr() {
    let got = trace(ExponentialLr::new(0.9).unwrap(), 2.0, 4);
    close(&got, &[2.0, 1.8, 1.62, 1.458]);
}

#[test]
fn cosine_annealing_lr() {
    // eta_min + (base - eta_min)(1 + cos(pi e / 4)) / 2 with base 1, eta_min 0.1:
    // e=1: 0.1 + 0.9(1 + √2/2)/2; e=2: 0.55; e=3: 0.1 + 0.9(1 − √2/2)/2; e=4: 0.1.
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let got = trace(CosineAnnealingLr::new(4, 0.1).unwrap(), 1.0, 6);
    close(
        &got,
        &[
            1.0,
            0.1 + 0.45 * (1.0 + h),
            0.55,
            0.1 + 0.45 * (1.0 - h),
            0.1,
            0.1 + 0.45 * (1.0 - h), // past t_max the cosine climbs back
        ],
    );
}

#[test]
fn linear_warmup_alone() {
    let got = trace(LinearWarmup::new(4, 0.2).unwrap(), 0.5, 6);
    close(&got, &[0.1, 0.2, 0.3, 0.4, 0.5, 0.5]);
}

#[test]
fn linear_warmup_then_step() {
    let s = LinearWarmup::new(2, 0.5)
        .unwrap()
        .then(StepLr::new(2, 0.1).unwrap());
    let got = trace(s, 1.0, 7);
    close(&got, &[0.5, 0.75, 1.0, 1.0, 0.1, 0.1, 0.01]);
}

#[test]
fn schedules_follow_each_groups_base_lr() {
    let mut o = two_groups(1.0, 0.1);
    let mut s = Scheduler::new(ExponentialLr::new(0.5).unwrap(), &mut o);
    s.step(&mut o);
    s.step(&mut o);
    assert_eq!((o.group_lr(0), o.group_lr(1)), (0.25, 0.025));
    assert_eq!(s.epoch(), 2);
    assert_eq!(s.base_lrs(), &[1.0, 0.1]);
    assert_eq!(s.current_lrs(), vec![0.25, 0.025]);
    // Resuming at epoch 2 carries on the same sequence.
    let mut r = Scheduler::resume(ExponentialLr::new(0.5).unwrap(), vec![1.0, 0.1], 2);
    r.step(&mut o);
    assert_eq!((o.group_lr(0), o.group_lr(1)), (0.125, 0.0125));
}

#[test]
fn plateau_min_mode_waits_for_patience_then_reduces() {
    let mut o = opt(1.0);
    let mut p = PlateauConfig::new(PlateauMode::Min)
        .with_patience(2)
        .with_factor(0.5)
        .init()
        .unwrap();
    // Improvement, then three stalls: the third (> patience 2) reduces.
    let mut lrs = vec![];
    for loss in [1.0, 0.5, 0.5, 0.6, 0.5] {
        p.step(loss, &mut o);
        lrs.push(o.lr());
    }
    assert_eq!(lrs, vec![1.0, 1.0, 1.0, 1.0, 0.5]);
    assert_eq!(p.best(), 0.5);
}

#[test]
fn plateau_max_mode_with_threshold_cooldown_and_min_lr() {
    let mut o = opt(1.0);
    let mut p = PlateauConfig::new(PlateauMode::Max)
        .with_patience(0)
        .with_factor(0.1)
        .with_cooldown(1)
        .with_min_lr(0.05)
        .with_threshold(0.1, ThresholdMode::Abs)
        .init()
        .unwrap();
    let mut lrs = vec![];
    // 0.5 is better than -inf; 0.55 is not better than 0.5 + 0.1 → reduce
    // to 0.1; the next epoch is cooldown; then 0.55 again → reduce to 0.05
    // (floor); then nothing more can be taken off.
    for acc in [0.5, 0.55, 0.55, 0.55, 0.55, 0.7] {
        p.step(acc, &mut o);
        lrs.push(o.lr());
    }
    close(&lrs, &[1.0, 0.1, 0.1, 0.05, 0.05, 0.05]);
    assert_eq!(p.best(), 0.7);
}

#[test]
fn plateau_relative_threshold() {
    // rel, min: better only when below best·(1 − 0.1).
    let mut o = opt(1.0);
    let mut p = PlateauConfig::new(PlateauMode::Min)
        .with_patience(0)
        .with_threshold(0.1, ThresholdMode::Rel)
        .init()
        .unwrap();
    assert!(!p.step(1.0, &mut o));
    assert!(!p.step(0.85, &mut o)); // 0.85 < 0.9: an improvement
    assert!(p.step(0.8, &mut o)); // 0.8 > 0.765: a stall, patience 0 → reduce
    assert!((o.lr() - 0.1).abs() < 1e-15);
}

#[test]
fn plateau_reduces_every_group() {
    let mut o = two_groups(1.0, 0.1);
    let mut p = PlateauConfig::new(PlateauMode::Min)
        .with_patience(0)
        .init()
        .unwrap();
    p.step(1.0, &mut o);
    assert!(p.step(1.0, &mut o));
    assert!((o.group_lr(0) - 0.1).abs() < 1e-15);
    assert!((o.group_lr(1) - 0.01).abs() < 1e-15);
}
