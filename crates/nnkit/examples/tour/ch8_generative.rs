//! Chapter 8, generative models: an autoencoder and a variational
//! autoencoder on the 8×8 digits, and a GAN on a ring of eight Gaussians,
//! each scored against what a model without the idea would get.

use nnkit::data::{SplitFractions, TensorDataset};
use nnkit::generative::{
    train_two_player_epoch, AutoencoderConfig, GanConfig, GanTrainer, ReconstructionLoss,
    TwoPlayerSchedule, VaeConfig,
};
use nnkit::optim::{AdamConfig, CosineAnnealingLr, LrSchedule, Optimizer, UpdateRule};
use nnkit::prelude::*;

use crate::common::{Ctx, Error, Res, Step, StepResult};

/// Runs the three models.
pub fn run(ctx: &Ctx) -> Res<Vec<StepResult>> {
    let (train, test) = digit_pixels(ctx)?;
    let mut out = vec![autoencoder(ctx, &train, &test)?, vae(ctx, &train, &test)?];
    out.extend(gan(ctx)?);
    Ok(out)
}

/// The digits' pixels scaled from 0–16 to `[0, 1]` (grey levels a Bernoulli
/// decoder can take as soft targets), split 80/20 stratified by class.
fn digit_pixels(ctx: &Ctx) -> Res<(TensorDataset<f32>, TensorDataset<f32>)> {
    let data = nnkit::data::digits().cast::<f32>().to_dataset();
    let s = data.split(SplitFractions::train_test(0.8, 0.2), ctx.seed, true)?;
    let scale = |d: &TensorDataset<f32>| d.with_features(d.features() * (1.0 / 16.0));
    Ok((scale(&s.train)?, scale(&s.test)?))
}

/// The mean training image, `[1, 64]`: the best prediction that ignores
/// the input, which both digit models must beat.
fn mean_image(train: &TensorDataset<f32>) -> Tensor<f32> {
    train.features().mean_dims(&[0], true)
}

/// Mini-batch training of a model whose loss needs no targets:
/// `loss(batch)` returns what to back-propagate and the number to log per
/// example. Shuffled seeded batches, one optimiser step per batch, a
/// progress bar, and an error if the loss stops being finite. Returns the
/// mean logged number per epoch.
fn fit<R, L>(
    ctx: &Ctx,
    label: &str,
    opt: &mut Optimizer<f32, R>,
    data: &TensorDataset<f32>,
    batch_size: usize,
    epochs: usize,
    mut loss: L,
) -> Res<Vec<f64>>
where
    R: UpdateRule<f32>,
    L: FnMut(&Tensor<f32>) -> Res<(Var<f32>, f64)>,
{
    let loader = nnkit::data::DataLoader::new(data, batch_size)?.shuffle(ctx.seed);
    let mut bar = ctx.progress(label, (epochs * loader.num_batches()) as u64);
    let mut curve = Vec::with_capacity(epochs);
    for epoch in 0..epochs {
        let (mut sum, mut n) = (0.0, 0usize);
        for (b, batch) in loader.epoch(epoch as u64).enumerate() {
            let x = batch?.features;
            let (total, logged) = loss(&x)?;
            nnkit::train::check_finite(logged, epoch, b)?;
            opt.try_step(&total.backward())?;
            sum += logged * x.shape()[0] as f64;
            n += x.shape()[0];
            bar.advance(
                1,
                &format!("epoch {} loss {:.4}", epoch + 1, sum / n as f64),
            );
        }
        curve.push(sum / n as f64);
    }
    bar.finish(&format!(
        "{label}: {epochs} epochs, final loss {:.4}",
        curve.last().copied().unwrap_or(f64::NAN)
    ));
    Ok(curve)
}

/// `64 → 32 → 8 → 32 → 64` (ReLU), binary cross-entropy on the grey
/// levels: eight numbers per image must carry what the decoder redraws.
fn autoencoder(
    ctx: &Ctx,
    train: &TensorDataset<f32>,
    test: &TensorDataset<f32>,
) -> Res<StepResult> {
    let step = Step::start(8, "autoencoder 64-32-8-32-64 (digits)");
    let mut rng = ctx.rng(81);
    let encoder = Sequential::<f32>::new()
        .append(LinearConfig::new(64, 32).init(&mut rng)?)
        .append(Relu)
        .append(LinearConfig::new(32, 8).init(&mut rng)?);
    let decoder = Sequential::<f32>::new()
        .append(LinearConfig::new(8, 32).init(&mut rng)?)
        .append(Relu)
        .append(LinearConfig::new(32, 64).init(&mut rng)?);
    let ae = AutoencoderConfig::new()
        .with_loss(ReconstructionLoss::BceWithLogits)
        .init(encoder, decoder, &mut rng)?;
    let mut opt = AdamConfig::new(3e-3).init(ae.named_parameters())?;
    let epochs = ctx.pick(60, 25);
    fit(ctx, step.name(), &mut opt, train, 32, epochs, |x| {
        let loss = ae.try_loss(x, &mut rng)?;
        let l = loss.value().item() as f64;
        Ok((loss, l))
    })?;

    let x = test.features();
    let mse = ae.try_reconstruction_mse(x)?;
    let mean = mean_image(train);
    let baseline = x.sub(&mean).square().mean_all().item() as f64;
    // Originals on the odd rows, their reconstructions below them.
    let originals = x.narrow(0, 0, 16);
    let recon = ae.try_reconstruct(&originals)?;
    let rows = [
        originals.narrow(0, 0, 8),
        recon.narrow(0, 0, 8),
        originals.narrow(0, 8, 8),
        recon.narrow(0, 8, 8),
    ];
    let grid = Tensor::concat(&rows.iter().collect::<Vec<_>>(), 0).reshape([32, 8, 8]);
    nnkit::train::figures::save_image_grid(ctx.figure("ch8_ae_reconstructions.png")?, &grid, 8, 8)?;
    Ok(step
        .at_most("test MSE per pixel", mse, ctx.pick(0.025, 0.035))
        .with_note(format!(
            "predicting the mean image scores {baseline:.4} ({:.1}× worse)",
            baseline / mse
        )))
}

/// A VAE with 8 latent units, `64 → 128 → 2·8` and `8 → 128 → 64`
/// (ReLU), on the digits binarised at half intensity so that Bernoulli
/// pixels are the exact likelihood: the test negative ELBO is then a true
/// upper bound on `−log p(x)`, in nats per image.
fn vae(ctx: &Ctx, train: &TensorDataset<f32>, test: &TensorDataset<f32>) -> Res<StepResult> {
    const LATENT: usize = 8;
    let step = Step::start(8, "VAE, 8 latent units (binarised digits)");
    let binarise =
        |d: &TensorDataset<f32>| d.with_features(d.features().map(|v| (v >= 0.5) as u8 as f32));
    let (train, test) = (&binarise(train)?, &binarise(test)?);
    let mut rng = ctx.rng(82);
    let encoder = Sequential::<f32>::new()
        .append(LinearConfig::new(64, 128).init(&mut rng)?)
        .append(Relu)
        // The means and the log-variances side by side.
        .append(LinearConfig::new(128, 2 * LATENT).init(&mut rng)?);
    let decoder = Sequential::<f32>::new()
        .append(LinearConfig::new(LATENT, 128).init(&mut rng)?)
        .append(Relu)
        .append(LinearConfig::new(128, 64).init(&mut rng)?);
    let vae = VaeConfig::new(LATENT).init(encoder, decoder, &mut rng)?;
    let mut opt = AdamConfig::new(2e-3).init(vae.named_parameters())?;
    let epochs = ctx.pick(120, 40);
    fit(ctx, step.name(), &mut opt, train, 32, epochs, |x| {
        let loss = vae.try_loss(x, &mut rng)?;
        let per_image = loss.neg_elbo();
        Ok((loss.total, per_image))
    })?;

    // One posterior sample per test image, averaged over ten draws so the
    // figure does not hinge on one draw of the noise.
    let x = test.features();
    let mut eval_rng = ctx.rng(83);
    let (mut neg_elbo, mut kl) = (0.0, 0.0);
    for _ in 0..10 {
        let l = no_grad(|| vae.try_loss(x, &mut eval_rng))?;
        neg_elbo += l.neg_elbo() / 10.0;
        kl += l.kl / 10.0;
    }
    let baseline = mean_image_nll(&mean_image(train), x);
    let samples = vae.try_sample_prior(64, &mut eval_rng)?;
    nnkit::train::figures::save_image_grid(
        ctx.figure("ch8_vae_prior_samples.png")?,
        &samples.reshape([64, 8, 8]),
        8,
        8,
    )?;
    Ok(step
        .at_most("test −ELBO (nats/image)", neg_elbo, ctx.pick(20.0, 21.0))
        .with_note(format!(
            "KL {kl:.2} nats; independent pixels at the mean image score {baseline:.2}"
        )))
}

/// `−log p(x)` in nats per image under independent Bernoulli pixels whose
/// probabilities are the mean training image (a model with no latent
/// variable; clamped away from 0 and 1, where a pixel never lit in training
/// would otherwise cost infinitely much on a test image that lights it).
fn mean_image_nll(mean: &Tensor<f32>, x: &Tensor<f32>) -> f64 {
    let m: Vec<f64> = mean
        .to_f64_vec()
        .iter()
        .map(|p| p.clamp(1e-3, 1.0 - 1e-3))
        .collect();
    let d = m.len();
    let v = x.to_f64_vec();
    let n = v.len() / d;
    let total: f64 = v
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let p = m[i % d];
            -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
        })
        .sum();
    total / n as f64
}

/// The ring of eight Gaussians (Metz et al., 2017): modes at radius 2,
/// standard deviation [`RING_STD`].
const MODES: usize = 8;
const RING_RADIUS: f64 = 2.0;
const RING_STD: f64 = 0.05;

fn mode(k: usize) -> (f64, f64) {
    let a = 2.0 * std::f64::consts::PI * k as f64 / MODES as f64;
    (RING_RADIUS * a.cos(), RING_RADIUS * a.sin())
}

/// `n` points from the ring, `[n, 2]`.
pub fn ring_batch(n: usize, rng: &mut Rng) -> Tensor<f32> {
    let mut v = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let (x, y) = mode(rng.below(MODES));
        v.push((x + RING_STD * rng.normal_f64()) as f32);
        v.push((y + RING_STD * rng.normal_f64()) as f32);
    }
    Tensor::from_vec(v, &[n, 2])
}

/// For each mode, how many of `points` (`[n, 2]`) lie within 3σ of it.
pub fn mode_counts(points: &Tensor<f32>) -> Vec<usize> {
    let mut counts = vec![0; MODES];
    for p in points.to_f64_vec().chunks(2) {
        for (k, c) in counts.iter_mut().enumerate() {
            let (mx, my) = mode(k);
            if (p[0] - mx).hypot(p[1] - my) <= 3.0 * RING_STD {
                *c += 1;
            }
        }
    }
    counts
}

/// The two scores of samples from the ring (VEEGAN's, Srivastava et al.,
/// 2017): how many modes get at least 20 samples per 2,500 within 3σ, and
/// the fraction of samples within 3σ of some mode.
pub fn ring_scores(points: &Tensor<f32>) -> (usize, f64) {
    let counts = mode_counts(points);
    let n = points.shape()[0].max(1);
    let covered = counts.iter().filter(|&&c| c * 2500 >= 20 * n).count();
    (covered, counts.iter().sum::<usize>() as f64 / n as f64)
}

/// A 2-D histogram of `points` over `[-3, 3]²`, `log(1 + count)` so
/// sparse stray points stay visible next to the dense modes.
fn density(points: &Tensor<f32>, bins: usize) -> Vec<f32> {
    let mut h = vec![0f32; bins * bins];
    for p in points.to_f64_vec().chunks(2) {
        let cell = |v: f64| ((v + 3.0) / 6.0 * bins as f64).floor();
        let (cx, cy) = (cell(p[0]), cell(p[1]));
        if (0.0..bins as f64).contains(&cx) && (0.0..bins as f64).contains(&cy) {
            // Row 0 at the top: y grows upwards as in a plot.
            h[(bins - 1 - cy as usize) * bins + cx as usize] += 1.0;
        }
    }
    h.iter().map(|c| c.ln_1p()).collect()
}

/// A GAN whose generator (`2 → 128 → 128 → 2`) learns to draw points of
/// the ring from Gaussian noise, against a `2 → 128 → 128 → 1`
/// discriminator (LeakyReLU 0.2 in both), trained with the two-player loop
/// on fresh batches of real points; [`ring_scores`] on 2,500 samples.
fn gan(ctx: &Ctx) -> Res<Vec<StepResult>> {
    const LATENT: usize = 2;
    const SAMPLES: usize = 2500;
    let step = Step::start(8, "GAN, ring of 8 Gaussians");
    let mut rng = ctx.rng(84);
    let mlp = |widths: &[usize], rng: &mut Rng| -> Res<Sequential<f32>> {
        let mut s = Sequential::new();
        for (i, w) in widths.windows(2).enumerate() {
            s = s.append(LinearConfig::new(w[0], w[1]).init(rng)?);
            if i + 2 < widths.len() {
                s = s.append(LeakyRelu::new(0.2)?);
            }
        }
        Ok(s)
    };
    let generator = mlp(&[LATENT, 128, 128, 2], &mut rng)?;
    let discriminator = mlp(&[2, 128, 128, 1], &mut rng)?;
    // One-sided label smoothing keeps the discriminator from becoming sure
    // of the modes the generator already covers, which evens out the mass
    // the generator puts on each.
    let gan = GanConfig::new(LATENT).with_label_smoothing(0.9).init(
        generator,
        discriminator,
        &mut rng,
    )?;
    let base_lr = 1e-3;
    let adam = AdamConfig::new(base_lr).with_betas(0.5, 0.999);
    let mut trainer = GanTrainer {
        gan: &gan,
        generator_optimizer: adam.init(gan.generator.named_parameters())?,
        discriminator_optimizer: adam.init(gan.discriminator.named_parameters())?,
        rng: rng.fork(),
    };
    let (rounds, batches) = (ctx.pick(30, 15), 100);
    // The game does not converge to a point at a fixed step size: it
    // circles. Annealing both learning rates to zero lets the last
    // generator settle instead of stopping wherever the circling was.
    let anneal = CosineAnnealingLr::new(rounds as u64, 0.0)?;
    let mut bar = ctx.progress(step.name(), (rounds * batches) as u64);
    let mut data_rng = ctx.rng(85);
    for round in 0..rounds {
        let lr = anneal.lr_at(base_lr, round as u64);
        trainer.generator_optimizer.set_lr(lr);
        trainer.discriminator_optimizer.set_lr(lr);
        let real = (0..batches).map(|_| Ok::<_, Error>(ring_batch(256, &mut data_rng)));
        let e = train_two_player_epoch(&mut trainer, real, TwoPlayerSchedule::default())?;
        bar.advance(
            batches as u64,
            &format!(
                "round {} D loss {:.3} G loss {:.3} D(x) {:.2} D(G(z)) {:.2}",
                round + 1,
                e.discriminator_loss,
                e.generator_loss,
                e.d_real,
                e.d_fake
            ),
        );
    }
    bar.finish(&format!(
        "{}: {} updates of each player",
        step.name(),
        rounds * batches
    ));

    let mut eval_rng = ctx.rng(86);
    let fake = gan.try_generate(SAMPLES, &mut eval_rng)?;
    let counts = mode_counts(&fake);
    let (covered, good) = ring_scores(&fake);
    // Real points on the left, the generator's on the right.
    let bins = 96;
    let (real_h, fake_h) = (
        density(&ring_batch(SAMPLES, &mut eval_rng), bins),
        density(&fake, bins),
    );
    let gap = 4;
    let width = 2 * bins + gap;
    let mut both = vec![0f32; bins * width];
    for r in 0..bins {
        both[r * width..r * width + bins].copy_from_slice(&real_h[r * bins..(r + 1) * bins]);
        both[r * width + bins + gap..(r + 1) * width]
            .copy_from_slice(&fake_h[r * bins..(r + 1) * bins]);
    }
    nnkit::train::figures::save_heatmap(
        ctx.figure("ch8_gan_ring.png")?,
        &Tensor::from_vec(both, &[bins, width]),
        3,
    )?;
    let per_mode: Vec<String> = counts.iter().map(|c| c.to_string()).collect();
    Ok(vec![
        step.at_least("modes covered (of 8)", covered as f64, 6.0)
            .with_note(format!(
                "samples within 3σ per mode: {}",
                per_mode.join(" ")
            )),
        step.at_least("samples within 3σ of a mode", good, ctx.pick(0.6, 0.45)),
    ])
}
