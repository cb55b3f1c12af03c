//! `use nnkit::prelude::*;` alone builds and trains the tour's models: this
//! file imports nothing else (only `std`), so a name the tour needs that the
//! prelude lacks is a compile error here.

use nnkit::prelude::*;

type Res = Result<(), Box<dyn std::error::Error>>;

/// Chapters 1–3: regressions and MLPs with dropout and batch norm, trained
/// by the `Trainer` with accuracy, early stopping and a schedule.
#[test]
fn feedforward_models_train_with_the_trainer() -> Res {
    let mut rng = Rng::seed_from(0);
    let x = Tensor::<f32>::rand_normal(&[64, 4], 0.0, 1.0, &mut rng);
    let labels: Vec<usize> = x
        .to_vec()
        .chunks(4)
        .map(|r| usize::from(r[0] + r[1] > 0.0))
        .collect();
    let data = TensorDataset::classification(x, labels)?;
    let model = Sequential::new()
        .append(LinearConfig::new(4, 16).init(&mut rng)?)
        .append(BatchNormConfig::new(16).init(&mut rng)?)
        .append(Relu)
        .append(DropoutConfig::new(0.1).init(&mut rng)?)
        .append(LinearConfig::new(16, 2).init(&mut rng)?);
    let mut opt = AdamConfig::new(1e-2).init(model.named_parameters())?;
    let loader = DataLoader::new(&data, 16)?.shuffle(1);
    let report = Trainer::classification(&model, &mut opt)
        .metric(Accuracy::new())
        .epochs(3)
        .early_stopping(EarlyStopping::new("val_loss", Mode::Min, 5, 0.0))
        .quiet()
        .fit(&loader, &loader)?;
    assert_eq!(report.epochs_run, 3);

    // The hand-written step, a clip and a schedule.
    let mut sgd = SgdConfig::new(0.1)
        .with_momentum(0.9)
        .init(model.named_parameters())?;
    let mut schedule = Scheduler::new(StepLr::new(1, 0.5)?, &mut sgd);
    let batch = Tensor::<f32>::rand_normal(&[8, 4], 0.0, 1.0, &mut rng);
    let loss = model.forward(&batch).cross_entropy(&[0; 8]);
    let mut grads = loss.backward();
    let norm = clip_grad_norm(&mut grads, model.parameters(), 1.0)?;
    assert!(norm > 0.0);
    sgd.step(&grads);
    schedule.step(&mut sgd);
    assert_eq!(sgd.lr(), 0.05);

    // Linear regression with the squared loss.
    let linear = LinearConfig::new(1, 1).init::<f32>(&mut rng)?;
    let y = linear.forward(Tensor::ones(&[3, 1]));
    let _ = SquaredLoss::new().forward(&y, Tensor::zeros(&[3, 1]));
    Ok(())
}

/// Chapter 4: a CNN and a residual network, their summary and weights file.
#[test]
fn convolutional_models_build_summarise_and_save() -> Res {
    let mut rng = Rng::seed_from(1);
    let cnn = Sequential::<f32>::new()
        .append(Conv2dConfig::new(1, 4, 3).with_padding(1).init(&mut rng)?)
        .append(BatchNorm2dConfig::new(4).init(&mut rng)?)
        .append(Relu)
        .append(MaxPool2dConfig::new(2).init(&mut rng)?)
        .append(Flatten::new(1, -1))
        .append(LinearConfig::new(4 * 4 * 4, 10).init(&mut rng)?);
    let x = Tensor::rand_normal(&[2, 1, 8, 8], 0.0, 1.0, &mut rng);
    assert_eq!(cnn.forward(&x).shape(), &[2, 10]);
    let s: Summary = summary(&cnn, &[1, 1, 8, 8])?;
    assert_eq!(s.total_parameters, cnn.num_parameters());

    let path =
        std::env::temp_dir().join(format!("nnkit-prelude-{}.safetensors", std::process::id()));
    serialize::save(&cnn, &path)?;
    serialize::load(&cnn, &path, LoadMode::Strict)?;
    std::fs::remove_file(&path)?;

    let block = BasicBlockConfig::new(4, 8)
        .with_stride(2)
        .init::<f32>(&mut rng)?;
    let y = block.forward(Tensor::ones(&[1, 4, 8, 8]));
    assert_eq!(y.shape(), &[1, 8, 4, 4]);
    let _: Option<fn() -> LeNet5<f32>> = None;
    Ok(())
}

/// Chapter 5: RNN, LSTM and GRU regressors (a derived module over an enum), a GCN.
#[test]
fn recurrent_and_graph_models_build() -> Res {
    #[derive(Module)]
    enum Recurrent {
        Rnn(Rnn<f32>),
        Lstm(Lstm<f32>),
        Gru(Gru<f32>),
    }
    #[derive(Module)]
    struct Regressor {
        rnn: Recurrent,
        head: Linear<f32>,
    }
    let mut rng = Rng::seed_from(2);
    let recurrent = RecurrentConfig {
        batch_first: true,
        ..RecurrentConfig::new(2, 8)
    };
    let cells = [
        Recurrent::Rnn(
            RnnConfig {
                recurrent,
                nonlinearity: RnnNonlinearity::Tanh,
            }
            .init(&mut rng)?,
        ),
        Recurrent::Lstm(LstmConfig { recurrent }.init(&mut rng)?),
        Recurrent::Gru(GruConfig { recurrent }.init(&mut rng)?),
    ];
    let x = Var::constant(Tensor::rand_normal(&[3, 5, 2], 0.0, 1.0, &mut rng));
    for rnn in cells {
        let model = Regressor {
            rnn,
            head: LinearConfig::new(8, 1).init(&mut rng)?,
        };
        let h = match &model.rnn {
            Recurrent::Rnn(m) => m.try_forward(&x, None, None)?.1,
            Recurrent::Lstm(m) => m.try_forward(&x, None, None)?.1 .0,
            Recurrent::Gru(m) => m.try_forward(&x, None, None)?.1,
        };
        let y = model.head.forward(h.reshape([3, 8]));
        assert_eq!(y.shape(), &[3, 1]);
        assert!(model.named_parameters()[0]
            .0
            .starts_with("rnn.weight_ih_l0"));
    }

    let edges = Edges::undirected(3, &[(0, 1), (1, 2)])?;
    let gcn = GcnConvConfig::new(4, 2).init::<f64>(&mut rng)?;
    let y = gcn.forward(&edges.gcn_normalized(true), Tensor::ones(&[3, 4]));
    assert_eq!(y.shape(), &[3, 2]);
    Ok(())
}

/// Chapter 6: multi-head attention and a Transformer encoder with positions.
#[test]
fn attention_models_build() -> Res {
    let mut rng = Rng::seed_from(3);
    let mha: MultiHeadAttention<f32> = MultiHeadAttentionConfig::new(8, 2).init(&mut rng)?;
    let q = Var::constant(Tensor::rand_normal(&[2, 5, 8], 0.0, 1.0, &mut rng));
    let (y, _) = mha.try_forward(&q, &q, &q, None, None, false)?;
    assert_eq!(y.shape(), &[2, 5, 8]);

    let layer = TransformerEncoderLayerConfig::new(8, 2)
        .with_dim_feedforward(16)
        .with_dropout(0.0);
    let encoder: TransformerEncoder<f32> =
        TransformerEncoderConfig::new(layer, 2).init(&mut rng)?;
    let positions: PositionalEncoding<f32> = PositionalEncodingConfig::new(5, 8).init(&mut rng)?;
    let h = encoder.try_forward(&positions.try_forward(&q, 0)?, None, None)?;
    assert_eq!(h.shape(), &[2, 5, 8]);
    let (causal, _) = scaled_dot_product_attention(&q, &q, &q, true, None, false)?;
    assert_eq!(causal.shape(), &[2, 5, 8]);
    assert_eq!(Mask::causal(5).rows(), 5);
    Ok(())
}

/// Chapter 8: an autoencoder, a VAE and a GAN.
#[test]
fn generative_models_build() -> Res {
    let mut rng = Rng::seed_from(4);
    let mlp = |rng: &mut Rng, i: usize, o: usize| -> Result<Sequential<f32>, TensorError> {
        Ok(Sequential::new()
            .append(LinearConfig::new(i, 8).init(rng)?)
            .append(Relu)
            .append(LinearConfig::new(8, o).init(rng)?))
    };
    let x = Tensor::rand_uniform(&[4, 6], 0.0, 1.0, &mut rng);
    let ae = AutoencoderConfig::new()
        .with_loss(ReconstructionLoss::BceWithLogits)
        .init(mlp(&mut rng, 6, 2)?, mlp(&mut rng, 2, 6)?, &mut rng)?;
    let _ = ae.loss(&x, &mut rng).backward();
    let vae = VaeConfig::new(2).init(mlp(&mut rng, 6, 4)?, mlp(&mut rng, 2, 6)?, &mut rng)?;
    let _ = vae.loss(&x, &mut rng).total.backward();
    let gan = GanConfig::new(2).init(mlp(&mut rng, 2, 6)?, mlp(&mut rng, 6, 1)?, &mut rng)?;
    assert_eq!(gan.generate(3, &mut rng).shape(), &[3, 6]);
    Ok(())
}
