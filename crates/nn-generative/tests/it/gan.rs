//! GANs on toy data: the generated samples move toward the data.

use nn_generative::{
    train_two_player_epoch, ConditionalGan, ConditionalGanConfig, ConditionalGanTrainer, GanConfig,
    GanTrainer, LabelEncoding, TwoPlayerSchedule,
};
use nn_layers::prelude::*;
use nn_optim::AdamConfig;

const MODES: [[f64; 2]; 4] = [[2.0, 2.0], [2.0, -2.0], [-2.0, 2.0], [-2.0, -2.0]];

fn mixture(n: usize, rng: &mut Rng) -> Tensor<f32> {
    let mut d = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let m = MODES[rng.below(4)];
        d.push((m[0] + 0.1 * rng.normal_f64()) as f32);
        d.push((m[1] + 0.1 * rng.normal_f64()) as f32);
    }
    Tensor::from_vec(d, &[n, 2])
}

/// The mean distance from a sample to its nearest mode.
fn distance_to_modes(samples: &Tensor<f32>) -> f64 {
    let v = samples.to_f64_vec();
    let n = v.len() / 2;
    let total: f64 = (0..n)
        .map(|i| {
            MODES
                .iter()
                .map(|m| ((v[2 * i] - m[0]).powi(2) + (v[2 * i + 1] - m[1]).powi(2)).sqrt())
                .fold(f64::INFINITY, f64::min)
        })
        .sum();
    total / n as f64
}

fn mlp(sizes: &[usize], rng: &mut Rng) -> Sequential<f32> {
    let mut s = Sequential::new();
    for (i, w) in sizes.windows(2).enumerate() {
        s = s.append(LinearConfig::new(w[0], w[1]).init(rng).unwrap());
        if i + 2 < sizes.len() {
            s = s.append(LeakyRelu::new(0.2).unwrap());
        }
    }
    s
}

#[test]
fn generated_samples_move_toward_a_gaussian_mixture() {
    let mut rng = Rng::seed_from(11);
    let gan = GanConfig::new(4)
        .with_label_smoothing(0.9)
        .init(
            mlp(&[4, 32, 32, 2], &mut rng),
            mlp(&[2, 32, 32, 1], &mut rng),
            &mut rng,
        )
        .unwrap();
    let before = distance_to_modes(&gan.generate(512, &mut Rng::seed_from(1)));
    let mut trainer = GanTrainer {
        gan: &gan,
        generator_optimizer: AdamConfig::new(2e-3)
            .with_betas(0.5, 0.999)
            .init(gan.generator.named_parameters())
            .unwrap(),
        discriminator_optimizer: AdamConfig::new(2e-3)
            .with_betas(0.5, 0.999)
            .init(gan.discriminator.named_parameters())
            .unwrap(),
        rng: Rng::seed_from(12),
    };
    let mut data_rng = Rng::seed_from(13);
    let mut last = None;
    for _ in 0..15 {
        let batches: Vec<_> = (0..40).map(|_| Ok(mixture(64, &mut data_rng))).collect();
        let e = train_two_player_epoch::<_, nn_tensor::TensorError, _>(
            &mut trainer,
            batches,
            TwoPlayerSchedule::default(),
        )
        .unwrap();
        assert_eq!((e.discriminator_steps, e.generator_steps), (40, 40));
        assert!(e.d_real > 0.0 && e.d_real < 1.0 && e.d_fake > 0.0 && e.d_fake < 1.0);
        last = Some(e);
    }
    let after = distance_to_modes(&gan.generate(512, &mut Rng::seed_from(1)));
    assert!(
        after < 0.35 * before,
        "mean distance to the nearest mode {before} → {after}"
    );
    // Near equilibrium neither player wins outright.
    let last = last.unwrap();
    assert!(last.d_fake > 0.1, "{last:?}");
}

#[test]
fn the_generator_step_leaves_the_discriminator_untouched() {
    let mut rng = Rng::seed_from(21);
    let gan = GanConfig::new(2)
        .init(
            mlp(&[2, 8, 2], &mut rng),
            mlp(&[2, 8, 1], &mut rng),
            &mut rng,
        )
        .unwrap();
    // A parameter the user froze stays frozen after the generator's turn.
    let user_frozen = gan.discriminator.parameters()[1].clone();
    user_frozen.set_trainable(false);
    let (loss, _) = gan.try_generator_loss(16, &mut rng).unwrap();
    let grads = loss.backward();
    assert!(gan
        .generator
        .parameters()
        .iter()
        .all(|p| grads.get_id(p.id()).is_some()));
    assert!(gan
        .discriminator
        .parameters()
        .iter()
        .all(|p| grads.get_id(p.id()).is_none()));
    let trainable: Vec<bool> = gan
        .discriminator
        .parameters()
        .iter()
        .map(|p| p.is_trainable())
        .collect();
    assert_eq!(trainable, [true, false, true, true]);
    // And the discriminator's loss reaches only the discriminator.
    let real = mixture(16, &mut rng);
    let (loss, step) = gan.try_discriminator_loss(&real, &mut rng).unwrap();
    let grads = loss.backward();
    assert!(gan
        .generator
        .parameters()
        .iter()
        .all(|p| grads.get_id(p.id()).is_none()));
    assert!(grads
        .get_id(gan.discriminator.parameters()[0].id())
        .is_some());
    assert!(step.loss > 0.0);
}

#[test]
fn a_conditional_gan_draws_the_class_it_is_asked_for() {
    // Class 0 lives at −2, class 1 at +2 (1-D data).
    let mut rng = Rng::seed_from(31);
    let g = mlp(&[2 + 3, 32, 1], &mut rng);
    let d = mlp(&[1 + 3, 32, 1], &mut rng);
    let cgan = ConditionalGanConfig::new(2, 2)
        .with_label_encoding(LabelEncoding::Embedding { dim: 3 })
        .init(g, d, &mut rng)
        .unwrap();
    let names: Vec<String> = cgan
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(
        names.contains(&"discriminator.label_embedding.weight".to_string())
            && names.contains(&"generator.label_embedding.weight".to_string()),
        "{names:?}"
    );
    let class_mean = |cgan: &ConditionalGan<f32, _, _>, y: usize| {
        let s = cgan.generate(&[y; 256], &mut Rng::seed_from(5));
        s.to_f64_vec().iter().sum::<f64>() / 256.0
    };
    let gap_before = class_mean(&cgan, 1) - class_mean(&cgan, 0);
    let mut trainer = ConditionalGanTrainer {
        gan: &cgan,
        generator_optimizer: AdamConfig::new(2e-3)
            .with_betas(0.5, 0.999)
            .init(cgan.generator.named_parameters())
            .unwrap(),
        discriminator_optimizer: AdamConfig::new(2e-3)
            .with_betas(0.5, 0.999)
            .init(cgan.discriminator.named_parameters())
            .unwrap(),
        rng: Rng::seed_from(32),
    };
    let mut data_rng = Rng::seed_from(33);
    for _ in 0..10 {
        let batches: Vec<_> = (0..40)
            .map(|_| {
                let labels: Vec<usize> = (0..64).map(|_| data_rng.below(2)).collect();
                let x: Vec<f32> = labels
                    .iter()
                    .map(|&y| {
                        (if y == 1 { 2.0 } else { -2.0 } + 0.3 * data_rng.normal_f64()) as f32
                    })
                    .collect();
                Ok::<_, nn_tensor::TensorError>((Tensor::from_vec(x, &[64, 1]), labels))
            })
            .collect();
        train_two_player_epoch(&mut trainer, batches, TwoPlayerSchedule::default()).unwrap();
    }
    let (m0, m1) = (class_mean(&cgan, 0), class_mean(&cgan, 1));
    assert!(gap_before.abs() < 1.0, "gap before training {gap_before}");
    assert!(
        (m0 + 2.0).abs() < 0.7 && (m1 - 2.0).abs() < 0.7,
        "class means {m0}, {m1}"
    );
}
