//! # nn-optim
//!
//! Optimisers, gradient clipping and learning-rate schedules for the `nn`
//! deep-learning library, with PyTorch's formulas, defaults and state names.
//!
//! * [`rule`]: [`UpdateRule`], an algorithm as a pure per-parameter step;
//! * [`optimizer`]: [`Optimizer`], the traversal every algorithm shares
//!   (groups, frozen parameters, missing gradients, clipping, step counts);
//! * [`group`]: [`ParamGroup`], per-group learning rate and weight decay;
//! * [`sgd`], [`adam`] (Adam and AdamW), [`rmsprop`], [`adagrad`]: the
//!   algorithms, each a config with PyTorch's defaults and an `init`;
//! * [`clip`]: clipping by global norm and by value;
//! * [`schedule`] and [`plateau`]: learning-rate schedules;
//! * [`state`]: saving and loading the optimiser state as safetensors;
//! * [`error`]: the error type, [`OptimError`].
//!
//! Optimisers take named parameters (`Vec<(String, Parameter<T>)>`, what a
//! model's `named_parameters()` returns) and read gradients from the
//! [`Gradients`](nn_autograd::Gradients) store of a backward pass:
//!
//! ```
//! use nn_autograd::{Parameter, Var};
//! use nn_optim::{AdamConfig, Scheduler, StepLr};
//! use nn_tensor::Tensor;
//! // Fit y = 2x with one weight.
//! let w = Parameter::new(Tensor::<f64>::zeros(&[1, 1]));
//! let x = Var::constant(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3, 1]));
//! let y = Tensor::from_vec(vec![2.0, 4.0, 6.0], &[3, 1]);
//! let mut opt = AdamConfig::new(0.1).init(vec![("w".into(), w.clone())]).unwrap();
//! let mut sched = Scheduler::new(StepLr::new(100, 0.5).unwrap(), &mut opt);
//! for _ in 0..300 {
//!     let loss = x.matmul(&w.var()).mse_loss(&y);
//!     opt.step(&loss.backward());
//!     sched.step(&mut opt);
//! }
//! assert!((w.value().item() - 2.0).abs() < 1e-3);
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// The crate's `README.md`, compiled only for doc tests so that its example
/// cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod adagrad;
pub mod adam;
pub mod clip;
pub mod error;
pub mod group;
pub mod optimizer;
pub mod plateau;
pub mod rmsprop;
pub mod rule;
pub mod schedule;
pub mod sgd;
pub mod state;

pub use adagrad::{Adagrad, AdagradConfig, AdagradState};
pub use adam::{Adam, AdamConfig, AdamState, AdamW, AdamWConfig};
pub use clip::{clip_grad_norm, clip_grad_norm_with, clip_grad_value, total_norm, GradClip};
pub use error::{OptimError, Result};
pub use group::{GroupHyper, ParamGroup};
pub use optimizer::{LearningRates, Optimizer};
pub use plateau::{PlateauConfig, PlateauMode, ReduceLrOnPlateau, ThresholdMode};
pub use rmsprop::{RmsProp, RmsPropConfig, RmsPropState};
pub use rule::UpdateRule;
pub use schedule::{
    CosineAnnealingLr, ExponentialLr, LinearWarmup, LrSchedule, MultiStepLr, Scheduler, StepLr,
};
pub use sgd::{Sgd, SgdConfig, SgdState};
pub use state::{GroupState, OptimizerState};
