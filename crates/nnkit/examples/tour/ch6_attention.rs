//! Chapter 6, attention: a one-layer Transformer encoder learns to reverse a
//! sequence of digits, and its attention map shows the anti-diagonal it
//! learned (output position i reads input position L−1−i).

use nnkit::attention::{
    PositionalEncoding, PositionalEncodingConfig, TransformerEncoderLayer,
    TransformerEncoderLayerConfig,
};
use nnkit::data::TensorDataset;
use nnkit::layers::Linear;
use nnkit::optim::AdamConfig;
use nnkit::prelude::*;

use crate::common::{self, Ctx, Res, Step, StepResult};

const VOCAB: usize = 10;
const LEN: usize = 8;
const D_MODEL: usize = 32;

/// Random digit sequences as one-hot features `[n, LEN, VOCAB]`, with the
/// reversed sequence as targets `[n, LEN]` (digits stored as values).
fn reversal_data(n: usize, rng: &mut Rng) -> Res<TensorDataset<f32>> {
    let mut x = vec![0f32; n * LEN * VOCAB];
    let mut y = vec![0f32; n * LEN];
    for i in 0..n {
        let seq: Vec<usize> = (0..LEN).map(|_| rng.below(VOCAB)).collect();
        for (t, &tok) in seq.iter().enumerate() {
            x[(i * LEN + t) * VOCAB + tok] = 1.0;
            y[i * LEN + LEN - 1 - t] = tok as f32;
        }
    }
    Ok(TensorDataset::regression(
        Tensor::from_vec(x, &[n, LEN, VOCAB]),
        Tensor::from_vec(y, &[n, LEN]),
    )?)
}

/// Token embedding (a `Linear` on one-hot tokens), sinusoidal positions,
/// one post-norm encoder layer (4 heads), and a per-position classifier.
#[derive(Module)]
struct Reverser {
    embed: Linear<f32>,
    position: PositionalEncoding<f32>,
    encoder: TransformerEncoderLayer<f32>,
    head: Linear<f32>,
}

impl Reverser {
    fn new(rng: &mut Rng) -> Res<Self> {
        Ok(Reverser {
            embed: LinearConfig::new(VOCAB, D_MODEL).init(rng)?,
            position: PositionalEncodingConfig::new(LEN, D_MODEL).init(rng)?,
            encoder: TransformerEncoderLayerConfig::new(D_MODEL, 4)
                .with_dim_feedforward(64)
                .with_dropout(0.0)
                .init(rng)?,
            head: LinearConfig::new(D_MODEL, VOCAB).init(rng)?,
        })
    }

    /// The encoder's input: embedded tokens plus positions, `[N, LEN, D_MODEL]`.
    fn embed(&self, x: &Var<f32>) -> Res<Var<f32>> {
        Ok(self.position.try_forward(&self.embed.try_forward(x)?, 0)?)
    }

    /// `x [N, LEN, VOCAB]` → logits `[N·LEN, VOCAB]`.
    fn forward(&self, x: impl Into<Var<f32>>) -> Res<Var<f32>> {
        let x = &x.into();
        let h = self.encoder.try_forward(&self.embed(x)?, None, None)?;
        let logits = self.head.try_forward(&h)?;
        Ok(logits.reshape([x.shape()[0] * LEN, VOCAB]))
    }

    /// The self-attention weights `[LEN, LEN]` (averaged over heads) for one sequence.
    fn attention_map(&self, x: impl Into<Var<f32>>) -> Res<Tensor<f32>> {
        let h = self.embed(&x.into())?;
        let (_, w) = self
            .encoder
            .self_attn
            .try_forward(&h, &h, &h, None, None, true)?;
        let w = w.ok_or("attention weights were requested")?;
        Ok(w.value().reshape([LEN, LEN]))
    }
}

fn classes(t: &Tensor<f32>) -> Vec<usize> {
    t.to_vec().iter().map(|&v| v as usize).collect()
}

/// Trains the reverser; reports per-token test accuracy and saves one attention map.
pub fn run(ctx: &Ctx) -> Res<Vec<StepResult>> {
    let step = Step::start(6, format!("Transformer reversing {LEN} digits"));
    let mut rng = ctx.rng(61);
    let train = reversal_data(ctx.pick(4000, 2000), &mut rng)?;
    let test = reversal_data(500, &mut rng)?;
    let model = Reverser::new(&mut ctx.rng(62))?;
    let mut opt = AdamConfig::new(3e-3).init(model.named_parameters())?;
    let ce = |o: &Var<f32>, b: &nnkit::data::Batch<f32>| o.cross_entropy(classes(b.values()));
    let forward = |x: &Var<f32>| model.forward(x);
    let epochs = ctx.pick(30, 15);
    let losses = common::train_with(
        ctx,
        step.name(),
        forward,
        &mut opt,
        &train,
        64,
        epochs,
        ce,
        |_, _| Ok(true),
    )?;
    nnkit::train::figures::save_line_chart(ctx.figure("ch6_transformer_loss.png")?, &[&losses])?;
    let logits = no_grad(|| model.forward(test.features()))?;
    let target = classes(test.targets().values().ok_or("reversal targets")?);
    let acc = accuracy(logits.as_tensor(), &target);
    let one = test.features().narrow(0, 0, 1);
    let map = no_grad(|| model.attention_map(&one))?;
    nnkit::train::figures::save_heatmap(ctx.figure("ch6_attention_map.png")?, &map, 24)?;
    let m = map.to_vec();
    let anti: f64 = (0..LEN)
        .map(|i| m[i * LEN + LEN - 1 - i] as f64)
        .sum::<f64>()
        / LEN as f64;
    Ok(vec![step
        .at_least("test token accuracy", acc, ctx.pick(0.95, 0.8))
        .with_note(format!(
            "mean attention on the mirrored position {anti:.2} (uniform would be {:.2})",
            1.0 / LEN as f64
        ))])
}
