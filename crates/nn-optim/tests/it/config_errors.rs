//! Every hyper-parameter check: one test per check, each reading the message.

use nn_autograd::Parameter;
use nn_optim::{
    AdagradConfig, AdamConfig, AdamWConfig, CosineAnnealingLr, ExponentialLr, GradClip,
    LinearWarmup, MultiStepLr, OptimError, ParamGroup, PlateauConfig, PlateauMode, RmsPropConfig,
    SgdConfig, StepLr,
};
use nn_tensor::Tensor;

fn named() -> Vec<(String, Parameter<f64>)> {
    vec![("w".to_string(), Parameter::new(Tensor::zeros(&[2])))]
}

fn msg(e: OptimError) -> String {
    e.to_string()
}

#[test]
fn sgd_negative_lr() {
    let e = SgdConfig::new(-0.1).init(named()).unwrap_err();
    assert_eq!(
        msg(e),
        "SGD: invalid lr = -0.1, expected a finite value >= 0"
    );
}

#[test]
fn sgd_nan_lr() {
    let e = SgdConfig::new(f64::NAN).validate().unwrap_err();
    assert_eq!(
        msg(e),
        "SGD: invalid lr = NaN, expected a finite value >= 0"
    );
}

#[test]
fn sgd_negative_momentum() {
    let e = SgdConfig::new(0.1)
        .with_momentum(-0.5)
        .validate()
        .unwrap_err();
    assert_eq!(
        msg(e),
        "SGD: invalid momentum = -0.5, expected a finite value >= 0"
    );
}

#[test]
fn sgd_negative_weight_decay() {
    let e = SgdConfig::new(0.1)
        .with_weight_decay(-1e-4)
        .validate()
        .unwrap_err();
    assert_eq!(
        msg(e),
        "SGD: invalid weight_decay = -0.0001, expected a finite value >= 0"
    );
}

#[test]
fn sgd_dampening_outside_unit_interval() {
    let e = SgdConfig::new(0.1)
        .with_momentum(0.9)
        .with_dampening(1.5)
        .validate()
        .unwrap_err();
    assert_eq!(
        msg(e),
        "SGD: invalid dampening = 1.5, expected a value in [0, 1]"
    );
}

#[test]
fn sgd_nesterov_without_momentum() {
    let e = SgdConfig::new(0.1)
        .with_nesterov(true)
        .validate()
        .unwrap_err();
    assert_eq!(
        msg(e),
        "SGD: invalid nesterov = true (momentum = 0, dampening = 0), \
         expected momentum > 0 and dampening = 0 for Nesterov momentum"
    );
}

#[test]
fn sgd_nesterov_with_dampening() {
    let cfg = SgdConfig::new(0.1)
        .with_nesterov(true)
        .with_momentum(0.9)
        .with_dampening(0.1);
    let e = cfg.validate().unwrap_err();
    assert!(msg(e).contains("nesterov = true (momentum = 0.9, dampening = 0.1)"));
}

#[test]
fn adam_beta1_equal_to_one() {
    let e = AdamConfig::new(1e-3)
        .with_betas(1.0, 0.999)
        .validate()
        .unwrap_err();
    assert_eq!(
        msg(e),
        "Adam: invalid betas[0] = 1, expected a value in [0, 1)"
    );
}

#[test]
fn adam_negative_beta1() {
    let e = AdamConfig::new(1e-3)
        .with_betas(-0.1, 0.999)
        .validate()
        .unwrap_err();
    assert_eq!(
        msg(e),
        "Adam: invalid betas[0] = -0.1, expected a value in [0, 1)"
    );
}

#[test]
fn adam_beta2_above_one() {
    let e = AdamConfig::new(1e-3)
        .with_betas(0.9, 1.2)
        .validate()
        .unwrap_err();
    assert_eq!(
        msg(e),
        "Adam: invalid betas[1] = 1.2, expected a value in [0, 1)"
    );
}

#[test]
fn adam_nan_beta2() {
    let e = AdamConfig::new(1e-3)
        .with_betas(0.9, f64::NAN)
        .validate()
        .unwrap_err();
    assert_eq!(
        msg(e),
        "Adam: invalid betas[1] = NaN, expected a value in [0, 1)"
    );
}

#[test]
fn adam_negative_eps() {
    let e = AdamConfig::new(1e-3)
        .with_eps(-1e-8)
        .validate()
        .unwrap_err();
    assert_eq!(
        msg(e),
        "Adam: invalid eps = -0.00000001, expected a finite value >= 0"
    );
}

#[test]
fn adam_negative_lr() {
    let e = AdamConfig::new(-1e-3).init(named()).unwrap_err();
    assert_eq!(
        msg(e),
        "Adam: invalid lr = -0.001, expected a finite value >= 0"
    );
}

#[test]
fn adam_negative_weight_decay() {
    let e = AdamConfig::new(1e-3)
        .with_weight_decay(-0.1)
        .validate()
        .unwrap_err();
    assert_eq!(
        msg(e),
        "Adam: invalid weight_decay = -0.1, expected a finite value >= 0"
    );
}

#[test]
fn adamw_beta_out_of_range_names_adamw() {
    let e = AdamWConfig::new(1e-3)
        .with_betas(0.9, 1.0)
        .init(named())
        .unwrap_err();
    assert_eq!(
        msg(e),
        "AdamW: invalid betas[1] = 1, expected a value in [0, 1)"
    );
}

#[test]
fn adamw_infinite_lr() {
    let e = AdamWConfig::new(f64::INFINITY).validate().unwrap_err();
    assert_eq!(
        msg(e),
        "AdamW: invalid lr = inf, expected a finite value >= 0"
    );
}

#[test]
fn rmsprop_negative_alpha() {
    let e = RmsPropConfig::new(0.01)
        .with_alpha(-0.9)
        .validate()
        .unwrap_err();
    assert_eq!(
        msg(e),
        "RMSprop: invalid alpha = -0.9, expected a finite value >= 0"
    );
}

#[test]
fn rmsprop_negative_momentum() {
    let e = RmsPropConfig::new(0.01)
        .with_momentum(-0.9)
        .validate()
        .unwrap_err();
    assert_eq!(
        msg(e),
        "RMSprop: invalid momentum = -0.9, expected a finite value >= 0"
    );
}

#[test]
fn rmsprop_negative_eps() {
    let e = RmsPropConfig::new(0.01)
        .with_eps(-1.0)
        .validate()
        .unwrap_err();
    assert_eq!(
        msg(e),
        "RMSprop: invalid eps = -1, expected a finite value >= 0"
    );
}

#[test]
fn adagrad_negative_lr_decay() {
    let e = AdagradConfig::new(0.01)
        .with_lr_decay(-0.1)
        .validate()
        .unwrap_err();
    assert_eq!(
        msg(e),
        "Adagrad: invalid lr_decay = -0.1, expected a finite value >= 0"
    );
}

#[test]
fn adagrad_negative_initial_accumulator() {
    let e = AdagradConfig::new(0.01)
        .with_initial_accumulator_value(-1.0)
        .validate()
        .unwrap_err();
    assert_eq!(
        msg(e),
        "Adagrad: invalid initial_accumulator_value = -1, expected a finite value >= 0"
    );
}

#[test]
fn group_negative_lr() {
    let groups = vec![ParamGroup::new(named()).with_lr(-1.0)];
    let e = SgdConfig::new(0.1).init_groups(groups).unwrap_err();
    assert_eq!(
        msg(e),
        "SGD: invalid param group 0 lr = -1, expected a finite value >= 0"
    );
}

#[test]
fn group_negative_weight_decay() {
    let groups = vec![
        ParamGroup::new(vec![]),
        ParamGroup::new(named()).with_weight_decay(-0.5),
    ];
    let e = AdamConfig::new(0.1).init_groups(groups).unwrap_err();
    assert_eq!(
        msg(e),
        "Adam: invalid param group 1 weight_decay = -0.5, expected a finite value >= 0"
    );
}

#[test]
fn duplicate_parameter_name() {
    let mut params = named();
    params.push(("w".to_string(), Parameter::new(Tensor::zeros(&[1]))));
    let e = SgdConfig::new(0.1).init(params).unwrap_err();
    assert_eq!(msg(e), "SGD: the parameter name `w` appears twice");
}

#[test]
fn same_parameter_in_two_groups() {
    let p = Parameter::new(Tensor::<f64>::zeros(&[1]));
    let groups = vec![
        ParamGroup::new(vec![("a".to_string(), p.clone())]),
        ParamGroup::new(vec![("b".to_string(), p)]),
    ];
    let e = SgdConfig::new(0.1).init_groups(groups).unwrap_err();
    assert!(msg(e).contains("`b` was already given"));
}

#[test]
fn grad_clipping_negative_max_norm() {
    let opt = SgdConfig::new(0.1).init(named()).unwrap();
    let e = opt
        .with_grad_clipping(GradClip::Norm {
            max_norm: -1.0,
            norm_type: 2.0,
        })
        .unwrap_err();
    assert_eq!(
        msg(e),
        "clip_grad_norm: invalid max_norm = -1, expected a value >= 0"
    );
}

#[test]
fn step_lr_zero_step_size() {
    assert_eq!(
        msg(StepLr::new(0, 0.1).unwrap_err()),
        "StepLr: invalid step_size = 0, expected a value > 0"
    );
}

#[test]
fn step_lr_non_positive_gamma() {
    assert_eq!(
        msg(StepLr::new(3, 0.0).unwrap_err()),
        "StepLr: invalid gamma = 0, expected a finite value > 0"
    );
}

#[test]
fn multi_step_lr_unsorted_milestones() {
    assert_eq!(
        msg(MultiStepLr::new(vec![5, 3], 0.1).unwrap_err()),
        "MultiStepLr: invalid milestones = [5, 3], expected a strictly increasing list"
    );
}

#[test]
fn exponential_lr_nan_gamma() {
    assert!(msg(ExponentialLr::new(f64::NAN).unwrap_err()).contains("gamma = NaN"));
}

#[test]
fn cosine_zero_t_max() {
    assert!(msg(CosineAnnealingLr::new(0, 0.0).unwrap_err()).contains("t_max = 0"));
}

#[test]
fn cosine_negative_eta_min() {
    assert!(msg(CosineAnnealingLr::new(10, -1.0).unwrap_err()).contains("eta_min = -1"));
}

#[test]
fn warmup_zero_length() {
    assert!(msg(LinearWarmup::new(0, 0.1).unwrap_err()).contains("warmup = 0"));
}

#[test]
fn warmup_start_factor_zero() {
    assert_eq!(
        msg(LinearWarmup::new(5, 0.0).unwrap_err()),
        "LinearWarmup: invalid start_factor = 0, expected a value in (0, 1]"
    );
}

#[test]
fn plateau_factor_of_one() {
    let e = PlateauConfig::new(PlateauMode::Min)
        .with_factor(1.0)
        .init()
        .unwrap_err();
    assert_eq!(
        msg(e),
        "ReduceLrOnPlateau: invalid factor = 1, expected a value in [0, 1)"
    );
}

#[test]
fn plateau_negative_min_lr() {
    let e = PlateauConfig::new(PlateauMode::Max)
        .with_min_lr(-1.0)
        .init()
        .unwrap_err();
    assert!(msg(e).contains("min_lr = -1"));
}
