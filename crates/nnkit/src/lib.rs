//! # nn — deep learning in Rust, from linear regression to Transformers
//!
//! The facade crate: it re-exports every library crate under one name, and
//! a [`prelude`] with what a training script needs.
//!
//! * [`tensor`] (`nn-tensor`): n-dimensional tensors, f32/f64, fast matmul;
//! * [`autograd`] (`nn-autograd`): reverse-mode differentiation, activations,
//!   losses and the gradient checker;
//! * [`data`] (`nn-data`): data sets (MNIST, embedded UCI sets, CSV),
//!   scaling, splits and mini-batch loading;
//! * [`generative`] (`nn-generative`): autoencoders, VAEs, GANs and
//!   conditional GANs, and the two-player training loop;
//! * [`layers`] (`nn-layers`): modules, layers, initialisers, weights files;
//! * [`optim`] (`nn-optim`): optimisers, gradient clipping, learning-rate
//!   schedules and optimiser state files;
//! * [`conv`] (`nn-conv`): convolution, transposed convolution, pooling and
//!   their output-size arithmetic;
//! * [`rnn`] (`nn-rnn`): RNN, LSTM and GRU cells and sequence layers;
//! * [`attention`] (`nn-attention`): attention, multi-head attention,
//!   positional encodings and Transformer layers;
//! * [`onnx`] (`nn-onnx`): run ONNX models on the library's kernels;
//! * [`graph`] (`nn-graph`): graph neural networks: sparse adjacency,
//!   `GcnConv`, `SageConv`, graph pooling;
//! * [`train`] (`nn-train`): the training loop, metrics, early stopping,
//!   checkpoints, history, progress and figures;
//! * `distributed` (`nn-distributed`, cargo feature `distributed`, needs
//!   Open MPI): data-parallel training across processes and machines.
//!
//! ```
//! use nnkit::prelude::*;
//! let x = Var::leaf(Tensor::<f64>::from_vec(vec![1.0, -2.0], &[1, 2]));
//! let loss = x.relu().sum();
//! let grads = loss.backward();
//! assert_eq!(grads.get(&x).unwrap().to_vec(), vec![1.0, 0.0]);
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// The crate's `README.md`, compiled only for doc tests so that its example
/// cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use nn_attention as attention;
pub use nn_autograd as autograd;
pub use nn_conv as conv;
pub use nn_data as data;
#[cfg(feature = "distributed")]
pub use nn_distributed as distributed;
pub use nn_generative as generative;
pub use nn_graph as graph;
/// `nn-layers`: modules, layers, initialisers, weights files; its
/// `#[derive(Module)]` here names this facade, so a crate that depends on
/// `nnkit` alone can use it.
pub mod layers {
    /// `#[derive(Module)]`: see [the module docs](nn_layers::module#deriving-module).
    pub use nn_derive::FacadeModule as Module;
    pub use nn_layers::*;
}
pub use nn_onnx as onnx;
pub use nn_optim as optim;
pub use nn_rnn as rnn;
pub use nn_tensor as tensor;
pub use nn_train as train;

/// The course, chapter by chapter: the pages of the repository's `docs/`
/// folder (the same markdown, packaged with the crate under `course/`).
/// Every Rust snippet in them is compiled and run as a doc test, so the
/// pages cannot drift from the library; the commands they quote run the
/// examples and the tour of the repository.
pub mod course {
    #[doc = include_str!("../course/ch1-ml-basics.md")]
    pub mod ch1_ml_basics {}
    #[doc = include_str!("../course/ch2-neurons.md")]
    pub mod ch2_neurons {}
    #[doc = include_str!("../course/ch3-feedforward.md")]
    pub mod ch3_feedforward {}
    #[doc = include_str!("../course/ch4-cnn.md")]
    pub mod ch4_cnn {}
    #[doc = include_str!("../course/ch5-rnn.md")]
    pub mod ch5_rnn {}
    #[doc = include_str!("../course/ch6-attention.md")]
    pub mod ch6_attention {}
    #[doc = include_str!("../course/ch7-optimisation.md")]
    pub mod ch7_optimisation {}
    #[doc = include_str!("../course/ch8-generative.md")]
    pub mod ch8_generative {}
    #[doc = include_str!("../course/layers.md")]
    pub mod layers {}
    #[doc = include_str!("../course/training.md")]
    pub mod training {}
    #[doc = include_str!("../course/generative.md")]
    pub mod generative {}
    #[doc = include_str!("../course/exam.md")]
    pub mod exam {}
    #[doc = include_str!("../course/from-pytorch.md")]
    pub mod from_pytorch {}
}

/// The repository's README, compiled only for doc tests: its snippets and
/// feature table cannot name anything that does not exist.
#[cfg(doctest)]
pub mod doc_pages {
    #[doc = include_str!("../../../README.md")]
    pub struct Readme;

    /// Every name of the README's feature table, at the module it names:
    ///
    /// ```
    /// use nnkit::attention::{
    ///     hard_attention, scaled_dot_product_attention, AdditiveAttention, Mask,
    ///     MultiHeadAttention, PositionalEncoding, Seq2SeqTransformer, Transformer,
    ///     TransformerDecoderLayer, TransformerEncoderLayer,
    /// };
    /// use nnkit::autograd::{gradcheck::check_gradients, no_grad, Gradients, Parameter, Var};
    /// use nnkit::conv::layers::{
    ///     AdaptiveAvgPool2d, AvgPool2d, BasicBlock, BatchNorm2d, Bottleneck, Conv1d, Conv2d,
    ///     ConvTranspose2d, LeNet5, MaxPool2d, ResNet,
    /// };
    /// use nnkit::conv::{conv2d, conv_output_size, conv_transpose_output_size, pool_output_size};
    /// use nnkit::data::{
    ///     breast_cancer, diabetes, digits, iris, load_mnist, load_mnist_splits, one_hot, read_csv,
    ///     DataLoader, MinMaxScaler, SplitFractions, StandardScaler, TensorDataset,
    /// };
    /// use nnkit::generative::{reparameterize, Autoencoder, ConditionalGan, Gan, Vae};
    /// use nnkit::layers::serialize::{load, save, LoadMode};
    /// use nnkit::layers::{
    ///     init, summary, BatchNorm1d, BceLoss, BceWithLogitsLoss, CrossEntropyLoss, Dropout, Elu,
    ///     Embedding, Flatten, Forward, Gelu, Initializer, LayerNorm, LeakyRelu, Linear,
    ///     LogSoftmax, Module, MseLoss, Prelu, Relu, Sequential, Sigmoid, Softmax, Softplus, Tanh,
    /// };
    /// use nnkit::optim::{
    ///     clip_grad_norm, clip_grad_value, AdagradConfig, AdamConfig, AdamWConfig,
    ///     CosineAnnealingLr, ExponentialLr, GradClip, LinearWarmup, MultiStepLr, Optimizer,
    ///     ReduceLrOnPlateau, RmsPropConfig, SgdConfig, StepLr,
    /// };
    /// use nnkit::rnn::{truncated_bptt, Gru, GruCell, Lstm, LstmCell, Rnn, RnnCell};
    /// use nnkit::rnn::{GruCellConfig, GruConfig, LstmCellConfig, LstmConfig, RnnCellConfig, RnnConfig};
    /// use nnkit::tensor::{Rng, Tensor, TensorError};
    /// use nnkit::train::figures::{save_image_grid, save_line_chart};
    /// use nnkit::train::{Accuracy, Checkpoint, EarlyStopping, History, MeanSquaredError, Trainer};
    /// let _ = (Tensor::<f32>::matmul, Var::<f32>::backward);
    /// let _ = |v: &Var<f32>, t: &Tensor<f32>| {
    ///     (v.mse_loss(t), v.binary_cross_entropy_with_logits(t), v.cross_entropy(&[0]))
    /// };
    /// let _ = SgdConfig::new(0.1).with_nesterov(true);
    /// ```
    pub struct FeatureTable;
}

/// Everything the course's models need, from every crate: `use
/// nnkit::prelude::*;` builds and trains each model of the tour (MLPs,
/// CNNs and ResNets, RNNs, LSTMs and GRUs, Transformers, autoencoders, VAEs
/// and GANs, graph networks) with no other import. Names that two crates
/// share stay behind their crate (`nnkit::rnn::Nonlinearity`, here
/// `RnnNonlinearity`, and `nnkit::layers::init::Nonlinearity`).
///
/// ```
/// use nnkit::prelude::*;
/// let mut rng = Rng::seed_from(0);
/// let cnn = Sequential::<f32>::new()
///     .append(Conv2dConfig::new(1, 4, 3).init(&mut rng).unwrap())
///     .append(Relu)
///     .append(MaxPool2dConfig::new(2).init(&mut rng).unwrap())
///     .append(Flatten::new(1, -1))
///     .append(LinearConfig::new(4 * 3 * 3, 10).init(&mut rng).unwrap());
/// let x = Tensor::rand_normal(&[2, 1, 8, 8], 0.0, 1.0, &mut rng);
/// assert_eq!(cnn.forward(&x).shape(), &[2, 10]);
/// ```
pub mod prelude {
    // Tensors and autograd.
    pub use nn_autograd::ops::loss::{accuracy, gaussian_kl, zero_one_loss};
    pub use nn_autograd::{no_grad, Gradients, Parameter, Reduction, Target, Var, VarId};
    pub use nn_tensor::{Element, Rng, Tensor, TensorError};

    // Layers, modules, losses, weights files and summaries.
    /// `#[derive(Module)]`: see [the module docs](nn_layers::module#deriving-module).
    pub use nn_derive::FacadeModule as Module;
    pub use nn_layers::activation::{
        Elu, Gelu, GeluApproximation, LeakyRelu, LogSoftmax, Prelu, PreluConfig, Relu, Sigmoid,
        Softmax, Softplus, Tanh,
    };
    pub use nn_layers::module::Module;
    pub use nn_layers::{
        init, serialize, summary, BatchNorm1d, BatchNormConfig, BceLoss, BceWithLogitsLoss, Buffer,
        CrossEntropyLoss, Dropout, DropoutConfig, Embedding, EmbeddingConfig, Flatten, Forward,
        GaussianKl, HuberLoss, Initializer, L1Loss, LayerNorm, LayerNormConfig, Linear,
        LinearConfig, LoadMode, MseLoss, NllLoss, Sequential, SmoothL1Loss, SquaredLoss, Summary,
        TrainFlag,
    };

    // Convolution and pooling.
    pub use nn_conv::{
        conv_output_size, pool_output_size, AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, AvgPool2d,
        AvgPool2dConfig, AvgPoolOptions, BasicBlock, BasicBlockConfig, BatchNorm2d,
        BatchNorm2dConfig, BlockKind, Bottleneck, BottleneckConfig, Conv1d, Conv1dConfig, Conv2d,
        Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, LeNet5, LeNet5Config, MaxPool1d,
        MaxPool1dConfig, MaxPool2d, MaxPool2dConfig, MaxPoolOptions, ResNet, ResNetConfig,
    };

    // Recurrent networks.
    pub use nn_rnn::Nonlinearity as RnnNonlinearity;
    pub use nn_rnn::{
        truncated_bptt, Gru, GruCell, GruCellConfig, GruConfig, Lstm, LstmCell, LstmCellConfig,
        LstmConfig, RecurrentConfig, RecurrentInit, Rnn, RnnCell, RnnCellConfig, RnnConfig,
        TreeRnn, TreeRnnConfig,
    };

    // Attention and Transformers.
    pub use nn_attention::{
        scaled_dot_product_attention, AdditiveAttention, AdditiveAttentionConfig, BilinearScore,
        BilinearScoreConfig, LearnedPositionEmbedding, LearnedPositionEmbeddingConfig, Mask,
        MultiHeadAttention, MultiHeadAttentionConfig, PositionalEncoding, PositionalEncodingConfig,
        Seq2SeqTransformer, Seq2SeqTransformerConfig, Transformer, TransformerConfig,
        TransformerDecoder, TransformerDecoderConfig, TransformerDecoderLayer,
        TransformerDecoderLayerConfig, TransformerEncoder, TransformerEncoderConfig,
        TransformerEncoderLayer, TransformerEncoderLayerConfig,
    };

    // Generative models.
    pub use nn_generative::{
        train_two_player_epoch, Autoencoder, AutoencoderConfig, ConditionalGan,
        ConditionalGanConfig, Conditioned, ConditionedConfig, Corruption, Gan, GanConfig,
        GanTrainer, LabelEncoding, ReconstructionLoss, TwoPlayerSchedule, Vae, VaeConfig,
    };

    // Graph networks.
    pub use nn_graph::{
        global_mean_pool, Csr, Edges, GcnConv, GcnConvConfig, GraphBatch, SageConv, SageConvConfig,
    };

    // Data.
    pub use nn_data::{
        breast_cancer, diabetes, digits, iris, load_mnist, load_mnist_splits, one_hot, Batch,
        DataError, DataLoader, Dataset, ImageLayout, MinMaxScaler, MnistNormalization, MnistSplit,
        SplitFractions, Splits, StandardScaler, TensorDataset,
    };

    // Optimisers, clipping and schedules.
    pub use nn_optim::{
        clip_grad_norm, clip_grad_value, total_norm, Adagrad, AdagradConfig, Adam, AdamConfig,
        AdamW, AdamWConfig, CosineAnnealingLr, ExponentialLr, GradClip, LearningRates,
        LinearWarmup, LrSchedule, MultiStepLr, OptimError, Optimizer, ParamGroup, PlateauConfig,
        PlateauMode, ReduceLrOnPlateau, RmsProp, RmsPropConfig, Scheduler, Sgd, SgdConfig, StepLr,
        UpdateRule,
    };

    // Training.
    pub use nn_train::{
        Accuracy, Callback, Checkpoint, CheckpointEvery, Decision, EarlyStopper, EarlyStopping,
        FitReport, History, HistoryFile, LrScheduler, MeanAbsoluteError, MeanSquaredError, Metric,
        Mode, PlateauScheduler, Progress, ProgressBar, Trainer,
    };
}
