//! Chapter 5, recurrent networks: a plain RNN, an LSTM and a GRU on the
//! adding problem, where the answer depends on two values far apart in the
//! sequence; then the recurrence extended to graphs (5.3), a GCN on
//! Zachary's karate club from one labelled member per side.

use nnkit::layers::LinearConfig;
use nnkit::optim::{AdamConfig, Optimizer, UpdateRule};
use nnkit::prelude::*;
use nnkit::rnn::{Gru, GruConfig, Lstm, LstmConfig, Nonlinearity, RecurrentConfig, Rnn, RnnConfig};

use crate::common::{self, Ctx, Res, Step, StepResult};

/// One of the three recurrent layers (as a module, the layer it holds).
#[derive(Module)]
pub enum Recurrent {
    /// Elman RNN.
    Rnn(Rnn<f32>),
    /// Long short-term memory.
    Lstm(Lstm<f32>),
    /// Gated recurrent unit.
    Gru(Gru<f32>),
}

/// A recurrent layer read out by a `Linear` on its last hidden state.
#[derive(Module)]
pub struct SequenceRegressor {
    /// The recurrent layer (batch first, one layer), named as in PyTorch (`rnn.weight_hh_l0`).
    #[module(name = "rnn")]
    pub cell: Recurrent,
    /// `hidden → 1`.
    pub head: nnkit::layers::Linear<f32>,
}

impl SequenceRegressor {
    /// A regressor of `kind` (`"RNN"`, `"LSTM"` or `"GRU"`) with `hidden` units
    /// over 2-feature steps.
    pub fn new(kind: &str, hidden: usize, nonlinearity: Nonlinearity, rng: &mut Rng) -> Res<Self> {
        let recurrent = RecurrentConfig {
            batch_first: true,
            ..RecurrentConfig::new(2, hidden)
        };
        Self::with_recurrent(kind, recurrent, nonlinearity, rng)
    }

    /// A regressor of `kind` over the recurrent layer `recurrent` (2 input
    /// features, batch first), e.g. with layer norm or recurrent dropout.
    pub fn with_recurrent(
        kind: &str,
        recurrent: RecurrentConfig,
        nonlinearity: Nonlinearity,
        rng: &mut Rng,
    ) -> Res<Self> {
        let hidden = recurrent.hidden_size;
        let cell = match kind {
            "RNN" => Recurrent::Rnn(
                RnnConfig {
                    recurrent,
                    nonlinearity,
                }
                .init(rng)?,
            ),
            "LSTM" => Recurrent::Lstm(LstmConfig { recurrent }.init(rng)?),
            _ => Recurrent::Gru(GruConfig { recurrent }.init(rng)?),
        };
        Ok(SequenceRegressor {
            cell,
            head: LinearConfig::new(hidden, 1).init(rng)?,
        })
    }

    /// `x: [batch, seq, 2]` → `[batch, 1]`.
    pub fn forward(&self, x: impl Into<Var<f32>>) -> Res<Var<f32>> {
        let x = &x.into();
        let h_n = match &self.cell {
            Recurrent::Rnn(m) => m.try_forward(x, None, None)?.1,
            Recurrent::Lstm(m) => m.try_forward(x, None, None)?.1 .0,
            Recurrent::Gru(m) => m.try_forward(x, None, None)?.1,
        };
        let b = x.shape()[0];
        let last = h_n.reshape([b, h_n.shape()[2]]); // [1, B, H] → [B, H]
        Ok(self.head.try_forward(&last)?)
    }

    /// Trains on `train` (batches of 64, mean squared error) for `epochs`
    /// epochs with `opt`, showing progress as `label`. Returns the mean
    /// training loss per epoch, or the error that stopped the run (a
    /// diverged loss among them).
    pub fn train<R: UpdateRule<f32>>(
        &self,
        ctx: &Ctx,
        label: &str,
        opt: &mut Optimizer<f32, R>,
        train: &TensorDataset<f32>,
        epochs: usize,
    ) -> Res<Vec<f64>> {
        let mse = |o: &Var<f32>, b: &nnkit::data::Batch<f32>| o.mse_loss(b.values());
        // Training mode for the recurrent dropout; `test_mse` switches it off.
        Module::train(self);
        let forward = |x: &Var<f32>| self.forward(x);
        common::train_with(ctx, label, forward, opt, train, 64, epochs, mse, |_, _| {
            Ok(true)
        })
    }

    /// Mean squared error on `test`, without building a graph.
    pub fn test_mse(&self, test: &TensorDataset<f32>) -> Res<f64> {
        self.eval();
        let pred = no_grad(|| self.forward(test.features()))?;
        common::mse(pred.as_tensor(), test)
    }
}

/// Trains RNN, LSTM and GRU (same width, same budget) and reports each one's test MSE.
pub fn run(ctx: &Ctx) -> Res<Vec<StepResult>> {
    let len = 20;
    let mut rng = ctx.rng(51);
    // The same size in a quick run: fewer samples or epochs leave the LSTM
    // short of its floor, and the whole chapter takes ~15 s.
    let train = common::adding_problem(4000, len, &mut rng)?;
    let test = common::adding_problem(500, len, &mut rng)?;
    let epochs = 20;
    let mut out = Vec::new();
    let mut curves = Vec::new();
    // The LSTM and the GRU must beat the predict-the-mean MSE of 1/6 by far;
    // the plain RNN only has to beat it.
    for (kind, ceiling) in [("RNN", 0.167), ("LSTM", 0.05), ("GRU", 0.05)] {
        let step = Step::start(5, format!("{kind} on the adding problem (T = {len})"));
        let model = SequenceRegressor::new(kind, 32, Nonlinearity::Tanh, &mut ctx.rng(52))?;
        let mut opt = AdamConfig::new(3e-3).init(model.named_parameters())?;
        curves.push(model.train(ctx, step.name(), &mut opt, &train, epochs)?);
        let test_mse = model.test_mse(&test)?;
        out.push(
            step.at_most("test MSE", test_mse, ceiling)
                .with_note("predicting the mean scores 0.1667"),
        );
    }
    let series: Vec<&[f64]> = curves.iter().map(|c| c.as_slice()).collect();
    nnkit::train::figures::save_line_chart(ctx.figure("ch5_rnn_lstm_gru.png")?, &series)?;
    out.push(normalised_lstm(ctx, &train, &test)?);
    out.push(karate_gcn(ctx)?);
    Ok(out)
}

/// The course's answers to "why not batch norm, or dropout on the recurrent
/// connection?" (7.2, 7.3), trained: an LSTM whose pre-activations are
/// layer-normalised at every step (statistics over the features of one
/// sequence, so nothing depends on the batch or the step) and whose
/// recurrent dropout reuses one mask for all steps, on the same adding
/// problem, with 3 epochs instead of 20 (the step-by-step path costs more
/// per step than the fused one).
fn normalised_lstm(
    ctx: &Ctx,
    train: &TensorDataset<f32>,
    test: &TensorDataset<f32>,
) -> Res<StepResult> {
    let p = 0.25;
    let step = Step::start(
        5,
        format!("layer-normalised LSTM, recurrent dropout {p} (adding problem)"),
    );
    let recurrent = RecurrentConfig {
        batch_first: true,
        layer_norm: true,
        recurrent_dropout: p,
        ..RecurrentConfig::new(2, 32)
    };
    let model =
        SequenceRegressor::with_recurrent("LSTM", recurrent, Nonlinearity::Tanh, &mut ctx.rng(52))?;
    let mut opt = AdamConfig::new(3e-3).init(model.named_parameters())?;
    let losses = model.train(ctx, step.name(), &mut opt, train, 3)?;
    let test_mse = model.test_mse(test)?;
    Ok(step.at_most("test MSE", test_mse, 0.05).with_note(format!(
        "final training loss {:.4} (with dropout); predicting the mean scores 0.1667",
        losses.last().copied().unwrap_or(f64::NAN)
    )))
}

/// Semi-supervised node classification: a two-layer GCN with one-hot node
/// features, trained on members 0 and 33 only, scored on the other 32.
fn karate_gcn(ctx: &Ctx) -> Res<StepResult> {
    use nnkit::graph::{datasets::karate_club, GcnConvConfig};
    let step = Step::start(5, "GCN on the karate club (2 labelled members)");
    let mut rng = ctx.rng(53);
    let (edges, club) = karate_club();
    let a_hat = edges.gcn_normalized::<f64>(true);
    let layer1 = GcnConvConfig::new(34, 16).init(&mut rng)?;
    let layer2 = GcnConvConfig::new(16, 2).init(&mut rng)?;
    let forward = |x: &Var<f64>| layer2.forward(&a_hat, &layer1.forward(&a_hat, x).relu());
    let params = [layer1.named_parameters(), layer2.named_parameters()]
        .into_iter()
        .enumerate()
        .flat_map(|(i, ps)| {
            ps.into_iter()
                .map(move |(n, p)| (format!("layer{}.{n}", i + 1), p))
        })
        .collect();
    let mut opt = AdamConfig::new(0.01).with_weight_decay(5e-4).init(params)?;
    let x = Var::constant(Tensor::eye(34));
    let labelled = [0, 33];
    for _ in 0..200 {
        let loss = forward(&x)
            .index_select(0, &labelled)
            .cross_entropy(&[club[0], club[33]]);
        opt.step(&loss.backward());
    }
    let others: Vec<usize> = (1..33).collect();
    let logits = no_grad(|| forward(&x)).value().index_select(0, &others);
    let truth: Vec<usize> = others.iter().map(|&i| club[i]).collect();
    Ok(step
        .at_least("test accuracy", accuracy(&logits, &truth), 0.9)
        .with_note("32 unlabelled members"))
}
