//! Export of every supported layer family: each model is written with its
//! example input and the library's output in the backend-test layout,
//! imported back (bit-identical outputs), and checked by the ONNX checker
//! and onnxruntime through `tests/onnxruntime_check.py`.
//!
//! The Python side needs a virtual environment with `onnx` and
//! `onnxruntime` (`.ci/run` creates it in `target/onnx-venv`); its
//! interpreter is `$NN_ONNX_PYTHON` or `target/onnx-venv/bin/python`.
//! Without it the onnxruntime check is skipped with a message, except in
//! CI (`CI=true`), where it must run.

use std::path::{Path, PathBuf};

use nn_attention::{
    Activation, DecoderMasks, MultiHeadAttentionConfig, PositionalEncodingConfig,
    TransformerDecoderLayer, TransformerDecoderLayerConfig, TransformerEncoderLayer,
    TransformerEncoderLayerConfig,
};
use nn_autograd::Var;
use nn_conv::layers::{
    AdaptiveAvgPool2dConfig, AvgPool1dConfig, AvgPool2dConfig, BatchNorm2dConfig, Conv1dConfig,
    Conv2dConfig, ConvTranspose1dConfig, ConvTranspose2dConfig, MaxPool1dConfig, MaxPool2dConfig,
};
use nn_conv::layers::{BasicBlockConfig, BlockKind, BottleneckConfig, ResNetConfig, Stem};
use nn_conv::Padding;
use nn_layers::activation::GeluApproximation;
use nn_layers::{
    BatchNormConfig, DropoutConfig, Elu, EmbeddingConfig, Flatten, Forward, Gelu, LayerNormConfig,
    LeakyRelu, LinearConfig, LogSoftmax, Module, PreluConfig, Relu, Sequential, Sigmoid, Softmax,
    Softplus, Tanh,
};
use nn_onnx::{export, export_layer, Model, Value};
use nn_rnn::{GruConfig, LstmConfig, Nonlinearity, RnnConfig};
use nn_tensor::{Rng, Tensor};

/// A user's model: its forward is the chain of its fields.
#[derive(Module)]
struct UserNet {
    features: Sequential<f32>,
    head: nn_layers::Linear<f32>,
}

impl Forward<f32> for UserNet {
    fn try_forward(&self, x: &Var<f32>) -> nn_tensor::Result<Var<f32>> {
        self.head.try_forward(&self.features.try_forward(x)?)
    }
}

/// A user's sequence model: an LSTM's output sequence, then a linear map
/// at every step.
#[derive(Module)]
struct Tagger {
    lstm: nn_rnn::Lstm<f32>,
    head: nn_layers::Linear<f32>,
}

impl Forward<f32> for Tagger {
    fn try_forward(&self, x: &Var<f32>) -> nn_tensor::Result<Var<f32>> {
        let (y, _) = self.lstm.try_forward(x, None, None)?;
        self.head.try_forward(&y)
    }
}

/// A user's model whose forward is not the chain of its fields (a ReLU
/// between them that no field holds): exported by tracing.
#[derive(Module)]
struct NotAChain {
    fc1: nn_layers::Linear<f32>,
    fc2: nn_layers::Linear<f32>,
}

impl Forward<f32> for NotAChain {
    fn try_forward(&self, x: &Var<f32>) -> nn_tensor::Result<Var<f32>> {
        self.fc2.try_forward(&self.fc1.try_forward(x)?.relu())
    }
}

type Family = (&'static str, Box<dyn Forward<f32>>, Tensor<f32>);

fn families(rng: &mut Rng) -> Vec<Family> {
    let normal = |shape: &[usize], rng: &mut Rng| Tensor::<f32>::rand_normal(shape, 0.0, 1.0, rng);
    let mut v: Vec<Family> = Vec::new();
    let mlp = Sequential::new()
        .append(LinearConfig::new(6, 8).init::<f32>(rng).unwrap())
        .append(Relu)
        .append(LinearConfig::new(8, 8).init::<f32>(rng).unwrap())
        .append(Sigmoid)
        .append(Tanh)
        .append(LeakyRelu::new(0.1).unwrap())
        .append(Elu::new(0.7).unwrap())
        .append(Gelu {
            approximate: GeluApproximation::None,
        })
        .append(Gelu {
            approximate: GeluApproximation::Tanh,
        })
        .append(Softplus::new(2.0, 20.0).unwrap())
        .append(PreluConfig::new(8).init::<f32>(rng).unwrap())
        .append(Softmax::new(-1))
        .append(
            LinearConfig::new(8, 3)
                .with_bias(false)
                .init::<f32>(rng)
                .unwrap(),
        )
        .append(LogSoftmax::new(1));
    v.push(("linear_activations", Box::new(mlp), normal(&[4, 6], rng)));
    let conv2d = Sequential::new()
        .append(
            Conv2dConfig::new(4, 6, 3)
                .with_stride(2)
                .with_padding(1)
                .with_groups(2)
                .init::<f32>(rng)
                .unwrap(),
        )
        .append(BatchNorm2dConfig::new(6).init::<f32>(rng).unwrap())
        .append(Relu)
        .append(
            Conv2dConfig::new(6, 6, [3, 2])
                .with_dilation(2)
                .with_padding(Padding::Same)
                .init::<f32>(rng)
                .unwrap(),
        )
        .append(
            MaxPool2dConfig::new(2)
                .with_ceil_mode(true)
                .init(rng)
                .unwrap(),
        )
        .append(
            AvgPool2dConfig::new(2)
                .with_stride(1)
                .with_padding(1)
                .with_count_include_pad(false)
                .init(rng)
                .unwrap(),
        )
        .append(AdaptiveAvgPool2dConfig::new(1).init(rng).unwrap())
        .append(Flatten::new(1, -1))
        .append(DropoutConfig::new(0.3).init(rng).unwrap())
        .append(LinearConfig::new(6, 5).init::<f32>(rng).unwrap());
    v.push((
        "conv2d_batchnorm_pools",
        Box::new(conv2d),
        normal(&[2, 4, 9, 10], rng),
    ));
    let conv1d = Sequential::new()
        .append(
            Conv1dConfig::new(3, 4, 3)
                .with_padding(1)
                .init::<f32>(rng)
                .unwrap(),
        )
        .append(BatchNormConfig::new(4).init::<f32>(rng).unwrap())
        .append(MaxPool1dConfig::new(2).init(rng).unwrap())
        .append(AvgPool1dConfig::new(2).init(rng).unwrap())
        .append(Flatten::new(1, -1))
        .append(LinearConfig::new(16, 2).init::<f32>(rng).unwrap());
    v.push((
        "conv1d_batchnorm1d_pools",
        Box::new(conv1d),
        normal(&[3, 3, 16], rng),
    ));
    let deconv = Sequential::new()
        .append(
            ConvTranspose2dConfig::new(4, 3, 4)
                .with_stride(2)
                .with_padding(1)
                .init::<f32>(rng)
                .unwrap(),
        )
        .append(LeakyRelu::new(0.2).unwrap())
        .append(
            ConvTranspose2dConfig::new(3, 2, 3)
                .with_stride(2)
                .with_padding(1)
                .with_output_padding(1)
                .init::<f32>(rng)
                .unwrap(),
        )
        .append(Sigmoid);
    v.push((
        "conv_transpose2d",
        Box::new(deconv),
        normal(&[2, 4, 3, 3], rng),
    ));
    let deconv1d = Sequential::new()
        .append(
            ConvTranspose1dConfig::new(2, 4, 3)
                .with_stride(2)
                .init::<f32>(rng)
                .unwrap(),
        )
        .append(Tanh);
    v.push((
        "conv_transpose1d",
        Box::new(deconv1d),
        normal(&[2, 2, 5], rng),
    ));
    let norm = Sequential::new()
        .append(LinearConfig::new(5, 8).init::<f32>(rng).unwrap())
        .append(
            LayerNormConfig::new(&[8])
                .init::<f32>(&mut Rng::seed_from(0))
                .unwrap(),
        )
        .append(Gelu::default())
        .append(Flatten::new(1, 2));
    v.push((
        "linear3d_layernorm_flatten",
        Box::new(norm),
        normal(&[2, 3, 5], rng),
    ));
    let emb = Sequential::new()
        .append(EmbeddingConfig::new(10, 4).init::<f32>(rng).unwrap())
        .append(Flatten::new(1, -1))
        .append(LinearConfig::new(12, 2).init::<f32>(rng).unwrap());
    let ids = Tensor::from_vec(vec![1.0, 4.0, 9.0, 0.0, 2.0, 2.0], &[2, 3]);
    v.push(("embedding", Box::new(emb), ids));
    let resnet = ResNetConfig::new(BlockKind::Basic, vec![1, 1], 3, 5)
        .with_base_channels(4)
        .with_stem(Stem::ImageNet)
        .init::<f32>(rng)
        .unwrap();
    v.push((
        "resnet_basic",
        Box::new(resnet),
        normal(&[2, 3, 16, 16], rng),
    ));
    let blocks = Sequential::new()
        .append(
            BottleneckConfig::new(3, 2)
                .with_stride(2)
                .init::<f32>(rng)
                .unwrap(),
        )
        .append(BottleneckConfig::new(8, 2).init::<f32>(rng).unwrap())
        .append(BasicBlockConfig::new(8, 4).init::<f32>(rng).unwrap());
    v.push((
        "resnet_blocks",
        Box::new(blocks),
        normal(&[2, 3, 8, 8], rng),
    ));
    let user = UserNet {
        features: Sequential::new()
            .append(LinearConfig::new(5, 6).init::<f32>(rng).unwrap())
            .append(Tanh),
        head: LinearConfig::new(6, 2).init::<f32>(rng).unwrap(),
    };
    v.push(("user_module", Box::new(user), normal(&[3, 5], rng)));
    let tagger = Tagger {
        lstm: LstmConfig::new(3, 4)
            .with_bidirectional(true)
            .init::<f32>(rng)
            .unwrap(),
        head: LinearConfig::new(8, 2).init::<f32>(rng).unwrap(),
    };
    let not_a_chain = NotAChain {
        fc1: LinearConfig::new(5, 6).init::<f32>(rng).unwrap(),
        fc2: LinearConfig::new(6, 2).init::<f32>(rng).unwrap(),
    };
    v.push((
        "user_module_not_a_chain",
        Box::new(not_a_chain),
        normal(&[3, 5], rng),
    ));
    v.push((
        "user_module_lstm",
        Box::new(tagger),
        normal(&[5, 2, 3], rng),
    ));
    v
}

fn write_pb(path: PathBuf, v: &Value) {
    use prost::Message;
    std::fs::write(path, v.to_proto("").encode_to_vec()).unwrap();
}

fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("onnx-export-tests");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn python() -> Option<PathBuf> {
    let p = std::env::var_os("NN_ONNX_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/onnx-venv/bin/python")
        });
    p.is_file().then_some(p)
}

/// The layers with several inputs or outputs, for `export_layer`: each
/// with its example inputs and its own outputs (in evaluation mode).
type LayerCase = (
    &'static str,
    Box<dyn Module<f32>>,
    Vec<Tensor<f32>>,
    Vec<Tensor<f32>>,
);

fn layer_cases(rng: &mut Rng) -> Vec<LayerCase> {
    let normal = |shape: &[usize], rng: &mut Rng| Tensor::<f32>::rand_normal(shape, 0.0, 1.0, rng);
    let c = |t: &Tensor<f32>| Var::constant(t.clone());
    let mut v: Vec<LayerCase> = Vec::new();
    let lstm = LstmConfig::new(3, 4)
        .with_num_layers(2)
        .with_bidirectional(true)
        .init::<f32>(rng)
        .unwrap();
    let ins = vec![
        normal(&[5, 2, 3], rng),
        normal(&[4, 2, 4], rng),
        normal(&[4, 2, 4], rng),
    ];
    let (y, (h, cn)) = lstm.forward(c(&ins[0]), Some((&c(&ins[1]), &c(&ins[2]))));
    let outs = vec![y.value(), h.value(), cn.value()];
    v.push((
        "lstm_2layers_bidirectional_states",
        Box::new(lstm),
        ins,
        outs,
    ));
    let lstm = LstmConfig::new(3, 4)
        .with_batch_first(true)
        .init::<f32>(rng)
        .unwrap();
    let ins = vec![normal(&[2, 6, 3], rng)];
    let (y, (h, cn)) = lstm.forward(c(&ins[0]), None);
    let outs = vec![y.value(), h.value(), cn.value()];
    v.push(("lstm_batch_first", Box::new(lstm), ins, outs));
    let gru = GruConfig::new(3, 5)
        .with_num_layers(2)
        .with_bidirectional(true)
        .init::<f32>(rng)
        .unwrap();
    let ins = vec![normal(&[4, 2, 3], rng), normal(&[4, 2, 5], rng)];
    let (y, h) = gru.forward(c(&ins[0]), Some(&c(&ins[1])));
    let outs = vec![y.value(), h.value()];
    v.push(("gru_2layers_bidirectional_state", Box::new(gru), ins, outs));
    let rnn = RnnConfig::new(3, 4)
        .with_nonlinearity(Nonlinearity::Relu)
        .with_num_layers(2)
        .with_bidirectional(true)
        .with_bias(false)
        .init::<f32>(rng)
        .unwrap();
    let ins = vec![normal(&[4, 2, 3], rng)];
    let (y, h) = rnn.forward(c(&ins[0]), None);
    let outs = vec![y.value(), h.value()];
    v.push(("rnn_relu_bidirectional_no_bias", Box::new(rnn), ins, outs));
    let rnn = RnnConfig::new(3, 4)
        .with_batch_first(true)
        .init::<f32>(rng)
        .unwrap();
    let ins = vec![normal(&[2, 4, 3], rng)];
    let (y, h) = rnn.forward(c(&ins[0]), None);
    let outs = vec![y.value(), h.value()];
    v.push(("rnn_tanh_batch_first", Box::new(rnn), ins, outs));
    let mha = MultiHeadAttentionConfig::new(8, 2)
        .init::<f32>(rng)
        .unwrap();
    let ins = vec![normal(&[2, 5, 8], rng)];
    let x = c(&ins[0]);
    let outs = vec![mha.forward(&x, &x, &x, None, None, false).0.value()];
    v.push(("mha_self_attention", Box::new(mha), ins, outs));
    let mha = MultiHeadAttentionConfig::new(8, 4)
        .init::<f32>(rng)
        .unwrap();
    let ins = vec![
        normal(&[2, 3, 8], rng),
        normal(&[2, 6, 8], rng),
        normal(&[2, 6, 8], rng),
    ];
    let [q, k, val] = [c(&ins[0]), c(&ins[1]), c(&ins[2])];
    let outs = vec![mha.forward(&q, &k, &val, None, None, false).0.value()];
    v.push(("mha_cross_attention", Box::new(mha), ins, outs));
    for (name, cfg) in [
        (
            "transformer_encoder_post_norm_relu",
            TransformerEncoderLayerConfig::new(8, 2).with_dim_feedforward(16),
        ),
        (
            "transformer_encoder_pre_norm_gelu",
            TransformerEncoderLayerConfig::new(8, 4)
                .with_dim_feedforward(12)
                .with_activation(Activation::Gelu)
                .with_norm_first(true),
        ),
    ] {
        let layer = cfg.init::<f32>(rng).unwrap();
        layer.eval();
        let ins = vec![normal(&[2, 5, 8], rng)];
        let outs = vec![layer.forward(c(&ins[0]), None, None).value()];
        v.push((name, Box::new(layer), ins, outs));
    }
    for (name, cfg) in [
        (
            "transformer_decoder_post_norm",
            TransformerDecoderLayerConfig::new(8, 2).with_dim_feedforward(16),
        ),
        (
            "transformer_decoder_pre_norm_gelu",
            TransformerDecoderLayerConfig::new(8, 2)
                .with_dim_feedforward(16)
                .with_activation(Activation::Gelu)
                .with_norm_first(true),
        ),
    ] {
        let layer = cfg.init::<f32>(rng).unwrap();
        layer.eval();
        let ins = vec![normal(&[2, 4, 8], rng), normal(&[2, 6, 8], rng)];
        let outs = vec![layer
            .forward(c(&ins[0]), c(&ins[1]), DecoderMasks::default())
            .value()];
        v.push((name, Box::new(layer), ins, outs));
    }
    v
}

/// One of the tour's recurrent layers (chapter 5, as the tour writes it).
#[derive(Module)]
enum Recurrent {
    Rnn(nn_rnn::Rnn<f32>),
    Lstm(nn_rnn::Lstm<f32>),
    Gru(nn_rnn::Gru<f32>),
}

/// The tour's chapter-5 model: a recurrent layer read out by a `Linear` on
/// its last hidden state (`h_n` reshaped).
#[derive(Module)]
struct SequenceRegressor {
    #[module(name = "rnn")]
    cell: Recurrent,
    head: nn_layers::Linear<f32>,
}

impl SequenceRegressor {
    fn forward(&self, x: &Var<f32>) -> nn_tensor::Result<Var<f32>> {
        let h_n = match &self.cell {
            Recurrent::Rnn(m) => m.try_forward(x, None, None)?.1,
            Recurrent::Lstm(m) => m.try_forward(x, None, None)?.1 .0,
            Recurrent::Gru(m) => m.try_forward(x, None, None)?.1,
        };
        let b = x.shape()[0];
        let last = h_n.reshape([b, h_n.shape()[2]]);
        self.head.try_forward(&last)
    }
}

/// The tour's chapter-6 model: token embedding, sinusoidal positions, a
/// post-norm encoder layer and a per-position classifier, flattened.
#[derive(Module)]
struct Reverser {
    embed: nn_layers::Linear<f32>,
    position: nn_attention::PositionalEncoding<f32>,
    encoder: TransformerEncoderLayer<f32>,
    head: nn_layers::Linear<f32>,
}

impl Reverser {
    fn forward(&self, x: &Var<f32>) -> nn_tensor::Result<Var<f32>> {
        let e = self.position.try_forward(&self.embed.try_forward(x)?, 0)?;
        let h = self.encoder.try_forward(&e, None, None)?;
        let logits = self.head.try_forward(&h)?;
        Ok(logits.reshape([x.shape()[0] * x.shape()[1], logits.shape()[2]]))
    }
}

/// A user's residual MLP: `norm(x + fc2(gelu(fc1(x))))`.
#[derive(Module)]
struct ResidualMlp {
    fc1: nn_layers::Linear<f32>,
    fc2: nn_layers::Linear<f32>,
    norm: nn_layers::LayerNorm<f32>,
}

impl Forward<f32> for ResidualMlp {
    fn try_forward(&self, x: &Var<f32>) -> nn_tensor::Result<Var<f32>> {
        let h = self.fc2.try_forward(&self.fc1.try_forward(x)?.gelu())?;
        self.norm.try_forward(&x.add(&h))
    }
}

/// A user's convolutional network with a residual block called twice as a
/// method, spatial mean pooling, and a head whose output is joined with
/// its softmax and a slice of itself.
#[derive(Module)]
struct ConvResidual {
    conv1: nn_conv::layers::Conv<f32, 2>,
    bn1: nn_conv::layers::BatchNorm2d<f32>,
    conv2: nn_conv::layers::Conv<f32, 2>,
    head: nn_layers::Linear<f32>,
}

impl ConvResidual {
    fn block(&self, x: &Var<f32>) -> nn_tensor::Result<Var<f32>> {
        let h = self.bn1.try_forward(&self.conv1.try_forward(x)?)?.relu();
        Ok(self.conv2.try_forward(&h)?.add(x).leaky_relu(0.1))
    }
}

impl Forward<f32> for ConvResidual {
    fn try_forward(&self, x: &Var<f32>) -> nn_tensor::Result<Var<f32>> {
        let h = self.block(&self.block(x)?)?;
        let pooled = h.mean_dims(&[2, 3], false);
        let logits = self.head.try_forward(&pooled)?;
        let scaled = (&logits * 0.5).sub(&logits.narrow(1, 0, 1));
        let both = Var::concat(&[&scaled, &logits.softmax(1)], 1);
        Ok(both.permute(&[1, 0]).matmul_t(&pooled, false, false).tanh())
    }
}

/// Attention with masks: causal and key-padding masks on self-attention,
/// then a decoder layer with a causal target mask and a padded memory.
#[derive(Module)]
struct MaskedAttention {
    attn: nn_attention::MultiHeadAttention<f32>,
    decoder: TransformerDecoderLayer<f32>,
}

impl MaskedAttention {
    fn forward(&self, x: &Var<f32>, memory: &Var<f32>) -> nn_tensor::Result<Var<f32>> {
        let (l, s) = (x.shape()[1], memory.shape()[1]);
        let causal = nn_attention::Mask::causal(l);
        let padded = nn_attention::Mask::padding(&[l, l - 1], l);
        let (a, _) = self
            .attn
            .try_forward(x, x, x, Some(&causal), Some(&padded), false)?;
        let memory_padding = nn_attention::Mask::padding(&[s, 2], s);
        let masks = DecoderMasks {
            tgt_mask: Some(&causal),
            memory_key_padding_mask: Some(&memory_padding),
            ..DecoderMasks::default()
        };
        self.decoder.try_forward(&a, memory, masks)
    }
}

/// A model exported by tracing its forward, with its example inputs and
/// its own outputs (in evaluation mode).
struct TracedCase {
    name: &'static str,
    inputs: Vec<Tensor<f32>>,
    outputs: Vec<Tensor<f32>>,
    params: Vec<String>,
    export: ExportTo,
}

/// Writes a traced case's file at a path.
type ExportTo = Box<dyn Fn(&Path) -> nn_onnx::Result<()>>;

fn traced_case<M: Module<f32> + 'static>(
    name: &'static str,
    model: M,
    inputs: Vec<Tensor<f32>>,
    forward: impl Fn(&M, &[Var<f32>]) -> nn_tensor::Result<Vec<Var<f32>>> + 'static,
) -> TracedCase {
    let model = std::rc::Rc::new(model);
    model.eval();
    let vars: Vec<Var<f32>> = inputs.iter().cloned().map(Var::constant).collect();
    let outputs = forward(&model, &vars)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .iter()
        .map(|v| v.value())
        .collect();
    let params = model
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let examples = inputs.clone();
    TracedCase {
        name,
        inputs,
        outputs,
        params,
        export: Box::new(move |path| {
            nn_onnx::export_traced(&*model, &examples, |xs| forward(&model, xs), path)
        }),
    }
}

fn traced_cases(rng: &mut Rng) -> Vec<TracedCase> {
    let normal = |shape: &[usize], rng: &mut Rng| Tensor::<f32>::rand_normal(shape, 0.0, 1.0, rng);
    let mut v = Vec::new();
    for kind in ["rnn", "lstm", "gru"] {
        let (i, h) = (2, 6);
        let cell = match kind {
            "rnn" => Recurrent::Rnn(
                RnnConfig::new(i, h)
                    .with_batch_first(true)
                    .init(rng)
                    .unwrap(),
            ),
            "lstm" => Recurrent::Lstm(
                LstmConfig::new(i, h)
                    .with_batch_first(true)
                    .init(rng)
                    .unwrap(),
            ),
            _ => Recurrent::Gru(
                GruConfig::new(i, h)
                    .with_batch_first(true)
                    .init(rng)
                    .unwrap(),
            ),
        };
        let model = SequenceRegressor {
            cell,
            head: LinearConfig::new(h, 1).init(rng).unwrap(),
        };
        let name = match kind {
            "rnn" => "tour_ch5_rnn_regressor",
            "lstm" => "tour_ch5_lstm_regressor",
            _ => "tour_ch5_gru_regressor",
        };
        let x = normal(&[3, 7, 2], rng);
        v.push(traced_case(name, model, vec![x], |m, xs| {
            Ok(vec![m.forward(&xs[0])?])
        }));
    }
    let (vocab, len, d) = (5, 4, 8);
    let reverser = Reverser {
        embed: LinearConfig::new(vocab, d).init(rng).unwrap(),
        position: PositionalEncodingConfig::new(len, d).init(rng).unwrap(),
        encoder: TransformerEncoderLayerConfig::new(d, 2)
            .with_dim_feedforward(16)
            .with_dropout(0.0)
            .init(rng)
            .unwrap(),
        head: LinearConfig::new(d, vocab).init(rng).unwrap(),
    };
    let mut onehot = vec![0f32; 2 * len * vocab];
    for (k, t) in [3, 1, 4, 1, 0, 2, 2, 4].iter().enumerate() {
        onehot[k * vocab + t] = 1.0;
    }
    let x = Tensor::from_vec(onehot, &[2, len, vocab]);
    v.push(traced_case(
        "tour_ch6_reverser",
        reverser,
        vec![x],
        |m, xs| Ok(vec![m.forward(&xs[0])?]),
    ));
    let mlp = |widths: &[usize], rng: &mut Rng| {
        let mut s = Sequential::new();
        for (k, w) in widths.windows(2).enumerate() {
            if k > 0 {
                s = s.append(Relu);
            }
            s = s.append(LinearConfig::new(w[0], w[1]).init::<f32>(rng).unwrap());
        }
        s
    };
    let ae = nn_generative::AutoencoderConfig::new()
        .init(mlp(&[16, 8, 4], rng), mlp(&[4, 8, 16], rng), rng)
        .unwrap();
    v.push(traced_case(
        "tour_ch8_autoencoder",
        ae,
        vec![normal(&[3, 16], rng)],
        |m, xs| Ok(vec![m.try_forward(&xs[0])?]),
    ));
    let vae = nn_generative::VaeConfig::new(2)
        .init(mlp(&[16, 8, 4], rng), mlp(&[2, 8, 16], rng), rng)
        .unwrap();
    // The reconstruction at the posterior mean, as `Vae::reconstruct`.
    v.push(traced_case(
        "tour_ch8_vae_reconstruction",
        vae,
        vec![normal(&[3, 16], rng)],
        |m, xs| {
            let (mu, _) = m.try_encode(&xs[0])?;
            Ok(vec![m.try_decode(&mu)?.sigmoid()])
        },
    ));
    let masked = MaskedAttention {
        attn: MultiHeadAttentionConfig::new(8, 2).init(rng).unwrap(),
        decoder: TransformerDecoderLayerConfig::new(8, 2)
            .with_dim_feedforward(16)
            .with_dropout(0.0)
            .init(rng)
            .unwrap(),
    };
    v.push(traced_case(
        "attention_masks_causal_padding",
        masked,
        vec![normal(&[2, 5, 8], rng), normal(&[2, 4, 8], rng)],
        |m, xs| Ok(vec![m.forward(&xs[0], &xs[1])?]),
    ));
    let res = ResidualMlp {
        fc1: LinearConfig::new(6, 12).init(rng).unwrap(),
        fc2: LinearConfig::new(12, 6).init(rng).unwrap(),
        norm: LayerNormConfig::new(&[6]).init(rng).unwrap(),
    };
    v.push(traced_case(
        "user_residual_mlp",
        res,
        vec![normal(&[4, 6], rng)],
        |m, xs| Ok(vec![m.try_forward(&xs[0])?]),
    ));
    let conv = ConvResidual {
        conv1: Conv2dConfig::new(3, 3, 3)
            .with_padding(1)
            .init(rng)
            .unwrap(),
        bn1: BatchNorm2dConfig::new(3).init(rng).unwrap(),
        conv2: Conv2dConfig::new(3, 3, 3)
            .with_padding(1)
            .init(rng)
            .unwrap(),
        head: LinearConfig::new(3, 4).init(rng).unwrap(),
    };
    v.push(traced_case(
        "user_conv_residual_calls",
        conv,
        vec![normal(&[2, 3, 5, 5], rng)],
        |m, xs| Ok(vec![m.try_forward(&xs[0])?]),
    ));
    v
}

/// Writes the case's inputs and expected outputs in the backend-test layout.
fn write_data(case: &Path, inputs: &[Value], outputs: &[Tensor<f32>]) {
    let data = case.join("test_data_set_0");
    std::fs::create_dir_all(&data).unwrap();
    for (i, x) in inputs.iter().enumerate() {
        write_pb(data.join(format!("input_{i}.pb")), x);
    }
    for (i, y) in outputs.iter().enumerate() {
        write_pb(
            data.join(format!("output_{i}.pb")),
            &Value::Float(y.clone()),
        );
    }
}

/// The largest difference between `got` and `want`, relative to
/// `max(1, max |want|)` (the Python check's measure).
fn relative_error(got: &Tensor<f32>, want: &Tensor<f32>) -> f32 {
    let scale = want.to_vec().iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let diff = got
        .to_vec()
        .iter()
        .zip(want.to_vec())
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

#[test]
fn every_family_exports_round_trips_and_runs_in_onnxruntime() {
    let mut rng = Rng::seed_from(7);
    let dir = out_dir();
    for (name, net, x) in families(&mut rng) {
        // Move batch-norm statistics away from 0 and 1 first.
        net.train();
        for _ in 0..3 {
            if name != "embedding" {
                let shifted = x.mul_scalar(1.5).add_scalar(0.7);
                net.forward(Var::constant(shifted));
            }
        }
        net.eval();
        let ours = net.forward(Var::constant(x.clone())).value().clone();
        let case = dir.join(name);
        std::fs::create_dir_all(&case).unwrap();
        export(&net, &x, case.join("model.onnx")).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Round trip through our own importer: the same bits.
        let model = Model::load(case.join("model.onnx")).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = model
            .run(std::slice::from_ref(&x))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back[0].shape(), ours.shape(), "{name}");
        assert_eq!(
            back[0].to_vec(),
            ours.to_vec(),
            "{name}: export → import is not bit-identical"
        );
        // Parameters keep their PyTorch names.
        let inits: Vec<&str> = model.initializers().iter().map(|(n, _)| *n).collect();
        for (p, _) in net.named_parameters() {
            assert!(inits.contains(&p.as_str()), "{name}: no initializer {p}");
        }
        let input = if name == "embedding" {
            Value::ints(x.to_vec().iter().map(|&v| v as i64).collect(), x.shape()).unwrap()
        } else {
            Value::Float(x.clone())
        };
        write_data(&case, &[input], &[ours]);
    }
    for (name, layer, inputs, ours) in layer_cases(&mut rng) {
        let case = dir.join(name);
        std::fs::create_dir_all(&case).unwrap();
        export_layer(layer.as_ref(), &inputs, case.join("model.onnx"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let model = Model::load(case.join("model.onnx")).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = model.run(&inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back.len(), ours.len(), "{name}: outputs");
        for (got, want) in back.iter().zip(&ours) {
            assert_eq!(got.shape(), want.shape(), "{name}");
            // The recurrent layers run the same recurrence both ways: the
            // same bits. Attention is the library's fused kernel against
            // the decomposed graph: the same within rounding.
            if name.starts_with("mha") || name.starts_with("transformer") {
                let err = relative_error(got, want);
                assert!(err < 1e-5, "{name}: export → import differs by {err:e}");
            } else {
                assert_eq!(
                    got.to_vec(),
                    want.to_vec(),
                    "{name}: export → import is not bit-identical"
                );
            }
        }
        let inits: Vec<&str> = model.initializers().iter().map(|(n, _)| *n).collect();
        for (p, _) in layer.named_parameters() {
            assert!(inits.contains(&p.as_str()), "{name}: no initializer {p}");
        }
        let inputs: Vec<Value> = inputs.into_iter().map(Value::Float).collect();
        write_data(&case, &inputs, &ours);
    }
    for case in traced_cases(&mut rng) {
        let name = case.name;
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        (case.export)(&dir.join("model.onnx")).unwrap_or_else(|e| panic!("{name}: {e}"));
        let model = Model::load(dir.join("model.onnx")).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = model
            .run(&case.inputs)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back.len(), case.outputs.len(), "{name}: outputs");
        for (got, want) in back.iter().zip(&case.outputs) {
            assert_eq!(got.shape(), want.shape(), "{name}");
            let err = relative_error(got, want);
            assert!(err < 1e-5, "{name}: export → import differs by {err:e}");
        }
        let inits: Vec<&str> = model.initializers().iter().map(|(n, _)| *n).collect();
        for p in &case.params {
            assert!(inits.contains(&p.as_str()), "{name}: no initializer {p}");
        }
        let inputs: Vec<Value> = case.inputs.into_iter().map(Value::Float).collect();
        write_data(&dir, &inputs, &case.outputs);
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let Some(py) = python() else {
        assert!(!in_ci, "CI=true but no Python venv with onnx and onnxruntime (set NN_ONNX_PYTHON or run .ci/run)");
        println!("skipped the onnxruntime check: no target/onnx-venv (run .ci/run, or set NN_ONNX_PYTHON)");
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnxruntime_check.py");
    let out = std::process::Command::new(&py)
        .arg(&script)
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "onnxruntime check failed:\n{text}");
    assert!(text.contains("exports_failed=0"), "{text}");
}

/// A forward that computes from its input outside the vars (through
/// `.value()`) cannot be traced: the check on a second input refuses it.
#[test]
fn a_forward_reading_values_outside_the_vars_is_refused() {
    struct Doubler;
    impl Module<f32> for Doubler {}
    impl Forward<f32> for Doubler {
        fn try_forward(&self, x: &Var<f32>) -> nn_tensor::Result<Var<f32>> {
            Ok(Var::constant(x.value().mul_scalar(2.0)))
        }
    }
    let net = Sequential::new().append(Relu).append(Doubler);
    let x = Tensor::rand_normal(&[3, 2], 0.0, 1.0, &mut Rng::seed_from(1));
    let e = nn_onnx::export_proto(&net, &x).unwrap_err();
    assert!(e.is_unsupported(), "{e}");
    assert!(e.to_string().contains("second input"), "{e}");
}

/// An op with no ONNX form here is refused by name, not written wrongly.
#[test]
fn an_op_the_tracer_cannot_write_is_refused_by_name() {
    let x = Tensor::rand_normal(&[3, 4], 0.0, 1.0, &mut Rng::seed_from(2));
    let e = nn_onnx::export_traced_proto(&Relu, &[x], |xs: &[Var<f32>]| {
        Ok::<_, String>(vec![xs[0].logsumexp(&[1], true)])
    })
    .unwrap_err();
    assert!(e.is_unsupported(), "{e}");
    assert!(e.to_string().contains("op logsumexp"), "{e}");
}

/// A layer-normalised recurrence has no ONNX node: refused, named.
#[test]
fn a_layer_normalised_lstm_is_refused() {
    let lstm = LstmConfig::new(3, 4)
        .with_layer_norm(true)
        .init::<f32>(&mut Rng::seed_from(0))
        .unwrap();
    let e = nn_onnx::export_layer_proto(&lstm, &[Tensor::zeros(&[5, 2, 3])]).unwrap_err();
    assert!(e.is_unsupported(), "{e}");
    assert!(e.to_string().contains("LSTM with layer_norm"), "{e}");
}
