//! Loss modules: the loss configs of `nn-autograd` (each holding its
//! options, as `torch.nn.CrossEntropyLoss(label_smoothing=…)` does),
//! re-exported here and made [`Module`]s so that a summary can list them.
//! Each has `try_forward(&input, target)` (an error names the loss and the
//! shapes) and a panicking `forward`; the target is anything that turns
//! into a [`Target`](nn_autograd::Target). The short forms with PyTorch's
//! defaults are methods on `Var`: `logits.cross_entropy(&y)`.

pub use nn_autograd::ops::loss::{
    BceLoss, BceWithLogitsLoss, CrossEntropyLoss, GaussianKl, HuberLoss, L1Loss, MseLoss, NllLoss,
    SmoothL1Loss, SquaredLoss,
};
use nn_tensor::Element;

use crate::module::Module;

macro_rules! parameterless_module {
    ($($name:ident $(<$g:ident>)?),+) => {
        $(
            impl<T: Element> Module<T> for $name $(<$g>)? {
                fn type_name(&self) -> &'static str {
                    stringify!($name)
                }
            }
        )+
    };
}

parameterless_module!(
    MseLoss,
    L1Loss,
    SquaredLoss,
    CrossEntropyLoss<T>,
    NllLoss<T>,
    BceWithLogitsLoss<T>,
    BceLoss<T>,
    HuberLoss,
    SmoothL1Loss,
    GaussianKl
);

#[cfg(test)]
mod tests {
    use super::*;
    use nn_autograd::{Reduction, Var};
    use nn_tensor::Tensor;

    #[test]
    fn loss_modules_match_the_functional_losses_and_validate() {
        let x = Var::constant(Tensor::<f64>::from_vec(vec![0.0, 3.0], &[1, 2]));
        let t = Tensor::<f64>::from_vec(vec![1.0, 0.0], &[1, 2]);
        assert_eq!(MseLoss::new().forward(&x, &t).item(), 5.0);
        assert_eq!(x.mse_loss(&t).item(), 5.0);
        assert_eq!(L1Loss::new().forward(&x, &t).item(), 2.0);
        assert_eq!(SquaredLoss::default().forward(&x, &t).item(), 2.5);
        assert!(SquaredLoss::new()
            .with_reduction(Reduction::Sum)
            .try_forward(&x, Tensor::zeros(&[2]))
            .is_err());
        let h = HuberLoss::new()
            .with_delta(1.0)
            .unwrap()
            .with_reduction(Reduction::Sum)
            .forward(&x, &t);
        assert_eq!(h.item(), 0.5 + 2.5);
        let ce = CrossEntropyLoss::new().forward(&x, &[1]).item();
        assert!((ce - (1.0 + (-3.0f64).exp()).ln()).abs() < 1e-12);
        assert!(HuberLoss::new().with_delta(0.0).is_err());
        assert!(SmoothL1Loss::new().with_beta(-1.0).is_err());
        assert!(CrossEntropyLoss::<f64>::new()
            .with_label_smoothing(1.5)
            .is_err());
        assert!(MseLoss::new().try_forward(&x, Tensor::zeros(&[2])).is_err());
        let nll = NllLoss::new().forward(&x.log_softmax(1), &[1]).item();
        assert!((nll - ce).abs() < 1e-12);
        let kl = GaussianKl::new().forward(&x, &Var::constant(Tensor::zeros(&[1, 2])));
        assert!((kl.item() - 4.5).abs() < 1e-12);
        let bce = BceWithLogitsLoss::new().forward(&x, &t);
        assert!(bce.item() > 0.0);
        assert_eq!(
            <MseLoss as Module<f32>>::type_name(&MseLoss::default()),
            "MseLoss"
        );
    }
}
