//! The two losses of adversarial training, on the discriminator's logits.
//!
//! The discriminator `D` outputs one logit per example (`[N, 1]` or `[N]`);
//! `σ(logit)` is its probability that the example is real. All losses use
//! the stable BCE-with-logits, so a confident discriminator gives finite
//! gradients.

use nn_autograd::Var;
use nn_tensor::{Element, Result, Tensor, TensorError};

/// What the generator minimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GeneratorLoss {
    /// `−log D(G(z))` (Goodfellow et al., 2014, section 3): the same fixed
    /// point as the minimax loss, but strong gradients early in training,
    /// when `D` rejects every fake. The default.
    #[default]
    NonSaturating,
    /// `log(1 − D(G(z)))`, the minimax game as written: its gradient
    /// vanishes when `D(G(z)) ≈ 0`, which is why it is rarely used.
    Minimax,
}

fn check_logits<T: Element>(op: &'static str, logits: &Var<T>) -> Result<()> {
    let s = logits.shape();
    let ok = (s.len() == 1 || (s.len() == 2 && s[1] == 1)) && s[0] > 0;
    if ok {
        Ok(())
    } else {
        Err(TensorError::invalid(
            op,
            format!("discriminator logits of shape {s:?}, expected one per example, [N, 1] or [N]"),
        ))
    }
}

/// The discriminator's loss: the mean BCE of real logits against
/// `real_label` plus that of fake logits against 0. A `real_label` below 1
/// (0.9, say) is one-sided label smoothing (Salimans et al., 2016): it stops
/// `D` from growing over-confident on real data, while fake targets stay 0.
pub fn try_discriminator_loss<T: Element>(
    real_logits: &Var<T>,
    fake_logits: &Var<T>,
    real_label: f64,
) -> Result<Var<T>> {
    check_logits("discriminator_loss", real_logits)?;
    check_logits("discriminator_loss", fake_logits)?;
    if !(0.0..=1.0).contains(&real_label) {
        return Err(TensorError::invalid(
            "discriminator_loss",
            format!("real_label must be in [0, 1], got {real_label}"),
        ));
    }
    let real = real_logits.try_binary_cross_entropy_with_logits(Tensor::full(
        real_logits.shape(),
        T::of(real_label),
    ))?;
    let fake =
        fake_logits.try_binary_cross_entropy_with_logits(Tensor::zeros(fake_logits.shape()))?;
    Ok(real.add(&fake))
}

/// The generator's loss on the discriminator's logits for its fakes.
pub fn try_generator_loss<T: Element>(fake_logits: &Var<T>, kind: GeneratorLoss) -> Result<Var<T>> {
    check_logits("generator_loss", fake_logits)?;
    Ok(match kind {
        // −log σ(l) = BCE(l, 1)
        GeneratorLoss::NonSaturating => {
            fake_logits.try_binary_cross_entropy_with_logits(Tensor::ones(fake_logits.shape()))?
        }
        // log(1 − σ(l)) = −BCE(l, 0)
        GeneratorLoss::Minimax => fake_logits
            .try_binary_cross_entropy_with_logits(Tensor::zeros(fake_logits.shape()))?
            .neg(),
    })
}

/// The mean of `σ(logits)`: the discriminator's average belief that a
/// batch is real (the `D(x)` and `D(G(z))` of training logs).
pub fn mean_probability<T: Element>(logits: &Tensor<T>) -> f64 {
    let s = logits.as_slice();
    if s.is_empty() {
        return 0.0;
    }
    let total: f64 = s
        .iter()
        .map(|&l| nn_tensor::sigmoid_scalar(l).to_f64_lossless())
        .sum();
    total / s.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    #[test]
    fn losses_match_their_formulas() {
        let real = Var::leaf(Tensor::<f64>::from_vec(vec![1.0, -0.5], &[2, 1]));
        let fake = Var::leaf(Tensor::<f64>::from_vec(vec![0.3, -2.0], &[2, 1]));
        let d = try_discriminator_loss(&real, &fake, 0.9)
            .unwrap()
            .value()
            .item();
        let bce = |l: f64, t: f64| -(t * sig(l).ln() + (1.0 - t) * (1.0 - sig(l)).ln());
        let want = (bce(1.0, 0.9) + bce(-0.5, 0.9)) / 2.0 + (bce(0.3, 0.0) + bce(-2.0, 0.0)) / 2.0;
        assert!((d - want).abs() < 1e-12);
        let g = try_generator_loss(&fake, GeneratorLoss::NonSaturating)
            .unwrap()
            .value()
            .item();
        assert!((g + (sig(0.3).ln() + sig(-2.0).ln()) / 2.0).abs() < 1e-12);
        let m = try_generator_loss(&fake, GeneratorLoss::Minimax)
            .unwrap()
            .value()
            .item();
        assert!((m - ((1.0 - sig(0.3)).ln() + (1.0 - sig(-2.0)).ln()) / 2.0).abs() < 1e-12);
        assert!((mean_probability(fake.as_tensor()) - (sig(0.3) + sig(-2.0)) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn non_saturating_loss_keeps_its_gradient_when_fakes_are_rejected() {
        // D is sure the fake is fake: the minimax gradient is ≈ σ(l) ≈ 0,
        // the non-saturating one ≈ −1.
        let fake = Var::leaf(Tensor::<f64>::from_vec(vec![-10.0], &[1, 1]));
        let ns = try_generator_loss(&fake, GeneratorLoss::NonSaturating)
            .unwrap()
            .backward();
        let mm = try_generator_loss(&fake, GeneratorLoss::Minimax)
            .unwrap()
            .backward();
        assert!(ns.get(&fake).unwrap().item() < -0.99);
        assert!(mm.get(&fake).unwrap().item().abs() < 1e-4);
    }

    #[test]
    fn bad_shapes_and_labels_are_rejected() {
        let ok = Var::leaf(Tensor::<f32>::zeros(&[3, 1]));
        let wide = Var::leaf(Tensor::<f32>::zeros(&[3, 2]));
        let e = try_discriminator_loss(&ok, &wide, 1.0).unwrap_err();
        assert!(e.to_string().contains("[3, 2]"), "{e}");
        assert!(try_discriminator_loss(&ok, &ok, 1.5).is_err());
        assert!(try_generator_loss(&wide, GeneratorLoss::NonSaturating).is_err());
    }
}
