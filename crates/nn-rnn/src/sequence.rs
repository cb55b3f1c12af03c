//! Sequence layers [`Rnn`], [`Lstm`], [`Gru`]: stacked, optionally
//! bidirectional, with PyTorch's parameter names, shapes and gate order.

use nn_autograd::{Parameter, Var};
use nn_layers::{LayerRng, Module, TrainFlag};
use nn_tensor::{or_panic, Element, Result, Rng, Tensor, TensorError};

use crate::cell::{check_sizes, Nonlinearity};
use crate::init::{DirectionVars, DirectionWeights, RecurrentInit};
use crate::recurrence::{recurrence_with_input_bias, CellKind, RecurrenceInputs};
use crate::stepwise::{stepwise_recurrence, GateNormVars, GateNorms, StepwiseInputs};

/// The hyper-parameters every sequence layer shares, with PyTorch's
/// defaults: what [`RnnConfig`], [`LstmConfig`] and [`GruConfig`] hold and
/// what [`recurrent_forward`] reads.
///
/// ```
/// use nn_rnn::{LstmConfig, Module};
/// use nn_tensor::Rng;
/// let lstm = LstmConfig::new(8, 16)
///     .with_num_layers(2)
///     .with_bidirectional(true)
///     .init::<f32>(&mut Rng::seed_from(0))?;
/// assert_eq!(lstm.config().num_layers, 2);
/// assert_eq!(lstm.named_parameters()[4].0, "weight_ih_l0_reverse");
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecurrentConfig {
    /// Features per input step (I).
    pub input_size: usize,
    /// Features of the hidden state (H).
    pub hidden_size: usize,
    /// Stacked layers (default 1).
    pub num_layers: usize,
    /// Whether the layers have biases (default true).
    pub bias: bool,
    /// Input and output are `[batch, seq, feature]` instead of `[seq, batch, feature]`
    /// (default false). States are always `[layers·directions, batch, hidden]`.
    pub batch_first: bool,
    /// Dropout probability on the outputs of every layer but the last,
    /// applied in training mode only (default 0).
    pub dropout: f64,
    /// A second pass runs backwards in time; outputs are concatenated
    /// (forward first) to `2·H` features (default false).
    pub bidirectional: bool,
    /// Initialisation options (default: PyTorch's uniform).
    pub init: RecurrentInit,
    /// Layer-normalise each step's pre-activations over their features, with
    /// a learnable gain and bias (Ba et al. 2016; see
    /// [`stepwise`](crate::stepwise)); the LSTM also normalises its cell state
    /// before the output `tanh` (default false).
    pub layer_norm: bool,
    /// Recurrent (variational) dropout probability: one mask per sequence,
    /// drawn at each forward in training mode, multiplies `h_{t−1}` before
    /// `W_hh` at every step (Gal & Ghahramani 2016); the identity in eval
    /// mode (default 0).
    pub recurrent_dropout: f64,
}

impl RecurrentConfig {
    /// One layer, with bias, time-major, no dropout, one direction.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        RecurrentConfig {
            input_size,
            hidden_size,
            num_layers: 1,
            bias: true,
            batch_first: false,
            dropout: 0.0,
            bidirectional: false,
            init: RecurrentInit::default(),
            layer_norm: false,
            recurrent_dropout: 0.0,
        }
    }

    fn directions(&self) -> usize {
        1 + usize::from(self.bidirectional)
    }

    /// Every size at least 1 and the dropout in `[0, 1)`, or an error naming
    /// the layer and the value (`"Lstm: hidden_size = 0, expected at least 1"`).
    fn check(&self, layer: &'static str) -> Result<()> {
        check_sizes(
            layer,
            &[
                ("input_size", self.input_size),
                ("hidden_size", self.hidden_size),
                ("num_layers", self.num_layers),
            ],
        )?;
        for (name, p) in [
            ("dropout", self.dropout),
            ("recurrent_dropout", self.recurrent_dropout),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(TensorError::invalid(
                    layer,
                    format!("{name} = {p}, expected a value in [0, 1)"),
                ));
            }
        }
        Ok(())
    }
}

/// The `with_*` setters of a sequence layer's config, on its `recurrent` field.
macro_rules! recurrent_setters {
    ($config:ident) => {
        impl $config {
            /// Sets the number of stacked layers (`num_layers`, default 1).
            pub fn with_num_layers(mut self, n: usize) -> Self {
                self.recurrent.num_layers = n;
                self
            }
            /// Sets whether the layers have biases (default true).
            pub fn with_bias(mut self, bias: bool) -> Self {
                self.recurrent.bias = bias;
                self
            }
            /// Sets `batch_first` (default false).
            pub fn with_batch_first(mut self, batch_first: bool) -> Self {
                self.recurrent.batch_first = batch_first;
                self
            }
            /// Sets the dropout between layers (default 0).
            pub fn with_dropout(mut self, p: f64) -> Self {
                self.recurrent.dropout = p;
                self
            }
            /// Sets `bidirectional` (default false).
            pub fn with_bidirectional(mut self, bidirectional: bool) -> Self {
                self.recurrent.bidirectional = bidirectional;
                self
            }
            /// Sets the initialisation options (default: PyTorch's uniform).
            pub fn with_init(mut self, init: RecurrentInit) -> Self {
                self.recurrent.init = init;
                self
            }
            /// Layer-normalises each step's pre-activations (default false; see
            /// [`RecurrentConfig::layer_norm`]).
            pub fn with_layer_norm(mut self, layer_norm: bool) -> Self {
                self.recurrent.layer_norm = layer_norm;
                self
            }
            /// Sets the recurrent (variational) dropout, one mask for all steps
            /// (default 0; see [`RecurrentConfig::recurrent_dropout`]).
            pub fn with_recurrent_dropout(mut self, p: f64) -> Self {
                self.recurrent.recurrent_dropout = p;
                self
            }
        }
    };
}

/// The configuration of an [`Rnn`] (`nn.RNN`): the shared hyper-parameters
/// and the non-linearity (default tanh).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RnnConfig {
    /// The hyper-parameters every sequence layer shares.
    pub recurrent: RecurrentConfig,
    /// `tanh` (default) or `relu`.
    pub nonlinearity: Nonlinearity,
}

impl RnnConfig {
    /// One tanh layer, with bias, time-major, no dropout, one direction.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        RnnConfig {
            recurrent: RecurrentConfig::new(input_size, hidden_size),
            nonlinearity: Nonlinearity::Tanh,
        }
    }

    /// Sets the non-linearity.
    pub fn with_nonlinearity(mut self, nonlinearity: Nonlinearity) -> Self {
        self.nonlinearity = nonlinearity;
        self
    }

    /// The layer, with PyTorch's default initialisation (plus `init`).
    ///
    /// # Errors
    /// If `input_size`, `hidden_size` or `num_layers` is 0, or `dropout` is
    /// outside `[0, 1)`.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<Rnn<T>> {
        Ok(Rnn {
            stack: Stack::new(self.nonlinearity.kind(), self.recurrent, rng)?,
        })
    }
}
recurrent_setters!(RnnConfig);

/// The configuration of an [`Lstm`] (`nn.LSTM`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LstmConfig {
    /// The hyper-parameters every sequence layer shares.
    pub recurrent: RecurrentConfig,
}

impl LstmConfig {
    /// One layer, with bias, time-major, no dropout, one direction.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        LstmConfig {
            recurrent: RecurrentConfig::new(input_size, hidden_size),
        }
    }

    /// The layer, with PyTorch's default initialisation (plus `init`).
    ///
    /// # Errors
    /// If `input_size`, `hidden_size` or `num_layers` is 0, or `dropout` is
    /// outside `[0, 1)`.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<Lstm<T>> {
        Ok(Lstm {
            stack: Stack::new(CellKind::Lstm, self.recurrent, rng)?,
        })
    }
}
recurrent_setters!(LstmConfig);

/// The configuration of a [`Gru`] (`nn.GRU`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GruConfig {
    /// The hyper-parameters every sequence layer shares.
    pub recurrent: RecurrentConfig,
}

impl GruConfig {
    /// One layer, with bias, time-major, no dropout, one direction.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        GruConfig {
            recurrent: RecurrentConfig::new(input_size, hidden_size),
        }
    }

    /// The layer, with PyTorch's default initialisation (plus `init`).
    ///
    /// # Errors
    /// If `input_size`, `hidden_size` or `num_layers` is 0, or `dropout` is
    /// outside `[0, 1)`.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<Gru<T>> {
        Ok(Gru {
            stack: Stack::new(CellKind::Gru, self.recurrent, rng)?,
        })
    }
}
recurrent_setters!(GruConfig);

/// The machinery shared by the three sequence layers.
struct Stack<T: Element> {
    kind: CellKind,
    config: RecurrentConfig,
    /// `layers[k][d]`, d = 0 forward, 1 reverse.
    layers: Vec<Vec<DirectionWeights<T>>>,
    /// With `layer_norm`, the gains and biases of each direction of each
    /// layer (`norms[k][d]`); empty otherwise.
    norms: Vec<Vec<GateNorms<T>>>,
    training: TrainFlag,
    /// Masks of the dropout between layers and of the recurrent dropout.
    rng: LayerRng,
}

impl<T: Element> Clone for Stack<T> {
    fn clone(&self) -> Self {
        Stack {
            kind: self.kind,
            config: self.config,
            layers: self.layers.clone(),
            norms: self.norms.clone(),
            training: clone_flag(&self.training),
            rng: self.rng.clone(),
        }
    }
}

impl<T: Element> std::fmt::Debug for Stack<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {:?}", self.kind, self.config)
    }
}

/// What [`recurrent_forward`] returns.
#[derive(Clone, Debug)]
pub struct SequenceOutput<T: Element> {
    /// `[seq, batch, directions·hidden]` (`[batch, seq, ..]` with `batch_first`).
    pub output: Var<T>,
    /// `[num_layers·directions, batch, hidden]`.
    pub h_n: Var<T>,
    /// LSTM only: `[num_layers·directions, batch, hidden]`.
    pub c_n: Option<Var<T>>,
}

/// `[a, b, ...]` to `[b, a, ...]` (batch-first to time-major and back),
/// copying whole trailing rows; its own backward is the same swap.
fn swap_leading_axes<T: Element>(x: &Var<T>) -> Var<T> {
    fn swap<T: Element>(t: &Tensor<T>) -> Tensor<T> {
        let shape = t.shape();
        let (a, b) = (shape[0], shape[1]);
        let row: usize = shape[2..].iter().product();
        let src = t.as_slice();
        let mut out = Vec::with_capacity(src.len());
        for j in 0..b {
            for i in 0..a {
                out.extend_from_slice(&src[(i * b + j) * row..][..row]);
            }
        }
        let mut dims = shape.to_vec();
        dims.swap(0, 1);
        Tensor::from_vec(out, &dims)
    }
    let y = swap(x.as_tensor());
    if Var::records(&[x]) {
        Var::from_op("transpose", y, vec![x.clone()], |g| vec![Some(swap(g))])
    } else {
        Var::constant(y)
    }
}

/// Index of step `t` of batch element `b` reversed within its length, in a
/// time-major `[T·N]` flattening (padding steps stay put).
fn reversal_index(steps: usize, lengths: &[usize]) -> Vec<usize> {
    let n = lengths.len();
    let mut idx = Vec::with_capacity(steps * n);
    for t in 0..steps {
        for (b, &len) in lengths.iter().enumerate() {
            let src = if t < len { len - 1 - t } else { t };
            idx.push(src * n + b);
        }
    }
    idx
}

impl<T: Element> Stack<T> {
    fn new(kind: CellKind, config: RecurrentConfig, rng: &mut Rng) -> Result<Self> {
        config.check(match kind {
            CellKind::RnnTanh | CellKind::RnnRelu => "Rnn",
            CellKind::Lstm => "Lstm",
            CellKind::Gru => "Gru",
        })?;
        let dirs = config.directions();
        let layers = (0..config.num_layers)
            .map(|k| {
                let input = if k == 0 {
                    config.input_size
                } else {
                    config.hidden_size * dirs
                };
                (0..dirs)
                    .map(|_| {
                        DirectionWeights::new(
                            kind,
                            input,
                            config.hidden_size,
                            config.bias,
                            config.init,
                            rng,
                        )
                    })
                    .collect()
            })
            .collect();
        let norms = if config.layer_norm {
            (0..config.num_layers)
                .map(|_| {
                    (0..dirs)
                        .map(|_| GateNorms::new(kind, config.hidden_size))
                        .collect()
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Stack {
            kind,
            config,
            layers,
            norms,
            training: TrainFlag::default(),
            rng: LayerRng::new(rng.fork()),
        })
    }

    /// Every weight with its PyTorch name, in PyTorch's order.
    fn visit(&self, f: &mut dyn FnMut(&str, &Parameter<T>)) {
        for (k, layer) in self.layers.iter().enumerate() {
            for (d, w) in layer.iter().enumerate() {
                let suffix = if d == 0 {
                    format!("_l{k}")
                } else {
                    format!("_l{k}_reverse")
                };
                w.visit(&suffix, f);
                if let Some(norms) = self.norms.get(k).map(|l| &l[d]) {
                    norms.visit(&suffix, f);
                }
            }
        }
    }

    fn forward(
        &self,
        x: &Var<T>,
        h0: Option<&Var<T>>,
        c0: Option<&Var<T>>,
        lengths: Option<&[usize]>,
    ) -> Result<SequenceOutput<T>> {
        let weights: Vec<Vec<DirectionVars<T>>> = self
            .layers
            .iter()
            .map(|l| l.iter().map(DirectionWeights::vars).collect())
            .collect();
        let norms: Vec<Vec<GateNormVars<T>>> = self
            .norms
            .iter()
            .map(|l| l.iter().map(GateNorms::vars).collect())
            .collect();
        let masks = self.recurrent_masks(x);
        let options = StepOptions {
            norms: self.config.layer_norm.then_some(&norms[..]),
            masks: masks.as_deref(),
        };
        let drop = self.training.get() && self.config.dropout > 0.0;
        stack_forward(
            self.kind,
            &self.config,
            &weights,
            options,
            x,
            h0,
            c0,
            lengths,
            |v| {
                if drop {
                    self.dropout(v)
                } else {
                    v.clone()
                }
            },
        )
    }

    /// In training mode with `recurrent_dropout` p > 0, one inverted-dropout
    /// mask `[batch, hidden]` per direction of each layer, for all its steps.
    fn recurrent_masks(&self, x: &Var<T>) -> Option<Vec<Vec<Tensor<T>>>> {
        let p = self.config.recurrent_dropout;
        if !(self.training.get() && p > 0.0) || x.ndim() != 3 {
            return None; // a bad input is reported by the forward
        }
        let n = x.shape()[usize::from(!self.config.batch_first)];
        let shape = [n, self.config.hidden_size];
        let scale = T::of(1.0 / (1.0 - p));
        let mask =
            |rng: &mut Rng| Tensor::<T>::rand_bernoulli(&shape, 1.0 - p, rng).mul_scalar(scale);
        Some(self.rng.with(|rng| {
            self.layers
                .iter()
                .map(|l| l.iter().map(|_| mask(rng)).collect())
                .collect()
        }))
    }

    /// Inverted dropout: zero with probability p, scale the rest by 1/(1−p).
    fn dropout(&self, x: &Var<T>) -> Var<T> {
        let p = self.config.dropout;
        let keep = self
            .rng
            .with(|rng| Tensor::<T>::rand_bernoulli(x.shape(), 1.0 - p, rng));
        x.mul_tensor(&keep.mul_scalar(T::of(1.0 / (1.0 - p))))
    }
}

fn check_state<T: Element>(op: &'static str, what: &str, s: &Var<T>, want: &[usize]) -> Result<()> {
    if s.shape() != want {
        return Err(TensorError::shapes(
            op,
            s.shape(),
            want,
            format!("{what} must be [num_layers·directions, batch, hidden]"),
        ));
    }
    Ok(())
}

fn op_name(kind: CellKind) -> &'static str {
    match kind {
        CellKind::RnnTanh | CellKind::RnnRelu => "Rnn::forward",
        CellKind::Lstm => "Lstm::forward",
        CellKind::Gru => "Gru::forward",
    }
}

/// The functional form of [`Rnn`], [`Lstm`] and [`Gru`]: runs a stack on
/// weights given as vars (`weights[k][d]` for layer k, direction d), for
/// callers that own their weights (e.g. loading them from a file into a
/// graph). `between_layers` is applied to every layer's output but the last
/// (dropout in training; the identity otherwise). Shapes as in [`Rnn`].
///
/// # Errors
/// Besides bad shapes and lengths, a `cfg` asking for `layer_norm` or
/// `recurrent_dropout`: their gains and masks belong to the layers.
#[allow(clippy::too_many_arguments)]
pub fn recurrent_forward<T: Element>(
    kind: CellKind,
    cfg: &RecurrentConfig,
    weights: &[Vec<DirectionVars<T>>],
    x: &Var<T>,
    h0: Option<&Var<T>>,
    c0: Option<&Var<T>>,
    lengths: Option<&[usize]>,
    between_layers: impl FnMut(&Var<T>) -> Var<T>,
) -> Result<SequenceOutput<T>> {
    if cfg.layer_norm || cfg.recurrent_dropout > 0.0 {
        return Err(TensorError::invalid(
            op_name(kind),
            "layer_norm and recurrent_dropout need the layer's gains and generator: \
             build the layer (e.g. LstmConfig::with_layer_norm) instead of recurrent_forward",
        ));
    }
    let options = StepOptions {
        norms: None,
        masks: None,
    };
    stack_forward(
        kind,
        cfg,
        weights,
        options,
        x,
        h0,
        c0,
        lengths,
        between_layers,
    )
}

/// What takes a stack off the fused recurrence onto the step-by-step one:
/// the layer norms' vars and the recurrent-dropout masks, `[k][d]` each.
#[derive(Clone, Copy)]
struct StepOptions<'a, T: Element> {
    norms: Option<&'a [Vec<GateNormVars<T>>]>,
    masks: Option<&'a [Vec<Tensor<T>>]>,
}

/// [`recurrent_forward`] with the options of the step-by-step path.
#[allow(clippy::too_many_arguments)]
fn stack_forward<T: Element>(
    kind: CellKind,
    cfg: &RecurrentConfig,
    weights: &[Vec<DirectionVars<T>>],
    options: StepOptions<'_, T>,
    x: &Var<T>,
    h0: Option<&Var<T>>,
    c0: Option<&Var<T>>,
    lengths: Option<&[usize]>,
    mut between_layers: impl FnMut(&Var<T>) -> Var<T>,
) -> Result<SequenceOutput<T>> {
    let op = op_name(kind);
    if weights.len() != cfg.num_layers || weights.iter().any(|l| l.len() != cfg.directions()) {
        return Err(TensorError::invalid(
            op,
            format!(
                "weights for {} layers × {} directions expected",
                cfg.num_layers,
                cfg.directions()
            ),
        ));
    }
    let &[a, b, i] = x.shape() else {
        return Err(TensorError::invalid(
            op,
            format!("the input must be 3-d, got {:?}", x.shape()),
        ));
    };
    let (steps, n) = if cfg.batch_first { (b, a) } else { (a, b) };
    if i != cfg.input_size {
        return Err(TensorError::invalid(
            op,
            format!(
                "the input has {i} features, the layer expects input_size {}",
                cfg.input_size
            ),
        ));
    }
    let all_steps = vec![steps; n];
    let lens = lengths.unwrap_or(&all_steps);
    if lens.len() != n || lens.iter().any(|&l| l == 0 || l > steps) {
        return Err(TensorError::invalid(
            op,
            format!("lengths {lens:?} must hold {n} values in 1..={steps}"),
        ));
    }
    let dirs = cfg.directions();
    let (hid, layers) = (cfg.hidden_size, cfg.num_layers);
    let state_shape = [layers * dirs, n, hid];
    if let Some(h) = h0 {
        check_state(op, "h0", h, &state_shape)?;
    }
    if let Some(c) = c0 {
        check_state(op, "c0", c, &state_shape)?;
    }
    let zeros = Var::constant(Tensor::zeros(&[n, hid]));
    let state = |s: Option<&Var<T>>, idx: usize| match s {
        Some(s) => s.narrow(0, idx, 1).reshape([n, hid]),
        None => zeros.clone(),
    };
    let rev = dirs == 2 && steps > 1;
    let rev_idx = if rev {
        reversal_index(steps, lens)
    } else {
        Vec::new()
    };
    let mut input = if cfg.batch_first {
        swap_leading_axes(x)
    } else {
        x.clone()
    };
    let mut h_n = Vec::with_capacity(layers * dirs);
    let mut c_n = Vec::with_capacity(layers * dirs);
    for (k, layer) in weights.iter().enumerate() {
        let mut outs = Vec::with_capacity(dirs);
        for (d, w) in layer.iter().enumerate() {
            let gh = kind.gates() * hid;
            // One [T·N, I]·[I, G·H] product: a 3-d operand would make the
            // weight gradient a batch of T products summed afterwards.
            let feat = input.shape()[2];
            let mut xproj = input
                .reshape([steps * n, feat])
                .try_matmul_t(&w.weight_ih, false, true)?
                .reshape([steps, n, gh]);
            if d == 1 && rev {
                xproj = xproj
                    .reshape([steps * n, gh])
                    .index_select(0, &rev_idx)
                    .reshape([steps, n, gh]);
            }
            let idx = k * dirs + d;
            let cs = kind.has_cell().then(|| state(c0, idx));

            let norms = options.norms.map(|n| &n[k][d]);
            let recurrent_mask = options.masks.map(|m| &m[k][d]);
            let r = if norms.is_some() || recurrent_mask.is_some() {
                stepwise_recurrence(StepwiseInputs {
                    kind,
                    xproj: &xproj,
                    w,
                    norms,
                    recurrent_mask,
                    h0: &state(h0, idx),
                    c0: cs.as_ref(),
                    lengths,
                })?
            } else {
                recurrence_with_input_bias(RecurrenceInputs {
                    kind,
                    xproj: &xproj,
                    b_ih: w.bias_ih.as_ref(),
                    h0: &state(h0, idx),
                    c0: cs.as_ref(),
                    w_hh: &w.weight_hh,
                    b_hh: w.bias_hh.as_ref(),
                    lengths,
                })?
            };
            let mut out = r.output;
            if d == 1 && rev {
                out = out
                    .reshape([steps * n, hid])
                    .index_select(0, &rev_idx)
                    .reshape([steps, n, hid]);
            }
            outs.push(out);
            h_n.push(r.h_n);
            c_n.extend(r.c_n);
        }
        input = if dirs == 1 {
            outs.pop().expect("one direction")
        } else {
            Var::concat(&outs.iter().collect::<Vec<_>>(), 2)
        };
        if k + 1 < layers {
            input = between_layers(&input);
        }
    }
    let output = if cfg.batch_first {
        swap_leading_axes(&input)
    } else {
        input
    };
    let h_n = Var::stack(&h_n.iter().collect::<Vec<_>>(), 0);
    let c_n = kind
        .has_cell()
        .then(|| Var::stack(&c_n.iter().collect::<Vec<_>>(), 0));
    Ok(SequenceOutput { output, h_n, c_n })
}

macro_rules! layer_common {
    () => {
        /// The weights of layer `k`, direction `d` (0 forward, 1 reverse).
        pub fn weights(&self, k: usize, d: usize) -> &DirectionWeights<T> {
            &self.stack.layers[k][d]
        }

        /// The hyper-parameters.
        pub fn config(&self) -> &RecurrentConfig {
            &self.stack.config
        }
    };
}

/// `try_forward` (documented by the given lines) and its panicking twin
/// `forward` for a layer without a cell state: [`Rnn`] and [`Gru`] return
/// `(output, h_n)` alike.
macro_rules! forward_without_cell {
    ($(#[$doc:meta])* $layer:ident) => {
        $(#[$doc])*
        pub fn try_forward(
            &self,
            x: &Var<T>,
            h0: Option<&Var<T>>,
            lengths: Option<&[usize]>,
        ) -> Result<(Var<T>, Var<T>)> {
            // Traced as one layer: `x`, `h0`, `lengths` in, `output`, `h_n` out.
            nn_autograd::trace::layer(
                self,
                || {
                    let mut i = nn_autograd::trace::vars(&[x]);
                    i.push(Box::new(h0.cloned()));
                    i.push(Box::new(lengths.map(<[usize]>::to_vec)));
                    i
                },
                || {
                    let o = self.stack.forward(x, h0, None, lengths)?;
                    Ok((o.output, o.h_n))
                },
                |r| {
                    r.as_ref()
                        .map(|(y, h)| nn_autograd::trace::vars(&[y, h]))
                        .unwrap_or_default()
                },
            )
        }

        #[doc = concat!("Panicking [`", stringify!($layer), "::try_forward`] without lengths; `x` is")]
        /// anything that turns into a var (a `&Tensor` is a constant input).
        #[track_caller]
        pub fn forward(&self, x: impl Into<Var<T>>, h0: Option<&Var<T>>) -> (Var<T>, Var<T>) {
            or_panic(self.try_forward(&x.into(), h0, None))
        }
    };
}

/// [`Module`] for a sequence layer: the parameters have PyTorch's
/// `state_dict` names, in PyTorch's order (per layer, per direction,
/// `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`, with a
/// `_reverse` suffix for the backward direction); the train flag switches the
/// dropout between layers. Written by hand rather than derived: the names come
/// from each weight's layer and direction, not from a struct's fields.
macro_rules! layer_module {
    ($layer:ident) => {
        impl<T: Element> Module<T> for $layer<T> {
            fn visit_local_parameters(&self, f: &mut dyn FnMut(&str, &Parameter<T>)) {
                self.stack.visit(f)
            }

            fn train_flag(&self) -> Option<&TrainFlag> {
                Some(&self.stack.training)
            }

            /// The generator of the dropout between layers, so a training
            /// checkpoint resumes the same masks.
            fn visit_local_rngs(&self, f: &mut dyn FnMut(&str, &LayerRng)) {
                f("dropout_rng", &self.stack.rng)
            }
        }
    };
}

layer_module!(Rnn);
layer_module!(Gru);
layer_module!(Lstm);

/// A copy of a flag with the same mode (a clone of a layer is an independent layer).
fn clone_flag(flag: &TrainFlag) -> TrainFlag {
    let copy = TrainFlag::default();
    copy.set(flag.get());
    copy
}

/// A stacked Elman RNN (`nn.RNN`).
///
/// `forward(x, h0)` returns `(output, h_n)`: `x` is `[seq, batch, input]`
/// (`[batch, seq, input]` with `batch_first`), `output` is
/// `[seq, batch, directions·hidden]` (likewise), `h0` and `h_n` are
/// `[num_layers·directions, batch, hidden]`.
#[derive(Clone, Debug)]
pub struct Rnn<T: Element> {
    stack: Stack<T>,
}

impl<T: Element> Rnn<T> {
    forward_without_cell! {
        /// Runs the whole sequence; `h0` defaults to zeros. With `lengths`, each
        /// batch element only uses its first `lengths[b]` steps: later outputs are
        /// zero and `h_n` is the state after its last valid step.
        ///
        /// Shapes (`D` = 2 if bidirectional else 1, `layers` = `num_layers`):
        /// `x: [L, N, H_in]` (`[N, L, H_in]` with `batch_first`), `h0:
        /// [layers·D, N, H]` → `(output [L, N, D·H]` (`[N, L, D·H]` with
        /// `batch_first`), `h_n [layers·D, N, H])`; `lengths: [N]`.
        Rnn
    }

    layer_common!();

    /// The non-linearity (tanh or relu).
    pub fn nonlinearity(&self) -> Nonlinearity {
        match self.stack.kind {
            CellKind::RnnRelu => Nonlinearity::Relu,
            _ => Nonlinearity::Tanh,
        }
    }
}

/// A stacked GRU (`nn.GRU`); shapes as for [`Rnn`].
#[derive(Clone, Debug)]
pub struct Gru<T: Element> {
    stack: Stack<T>,
}

impl<T: Element> Gru<T> {
    forward_without_cell! {
        /// Runs the whole sequence: `x: [L, N, H_in]` (`[N, L, H_in]` with
        /// `batch_first`), `h0: [layers·D, N, H]` → `(output [L, N, D·H],
        /// h_n [layers·D, N, H])`; see [`Rnn::try_forward`] for `lengths`.
        Gru
    }

    layer_common!();
}

/// A stacked LSTM (`nn.LSTM`): `forward(x, Some((h0, c0)))` returns
/// `(output, (h_n, c_n))`; shapes as for [`Rnn`].
///
/// ```
/// use nn_rnn::LstmConfig;
/// use nn_tensor::{Rng, Tensor};
/// let lstm = LstmConfig::new(3, 5)
///     .with_batch_first(true)
///     .init::<f64>(&mut Rng::seed_from(1))?;
/// let (y, (h, c)) = lstm.forward(&Tensor::ones(&[2, 7, 3]), None);
/// assert_eq!((y.shape(), h.shape(), c.shape()), (&[2, 7, 5][..], &[1, 2, 5][..], &[1, 2, 5][..]));
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Lstm<T: Element> {
    stack: Stack<T>,
}

/// An LSTM output: `(output, (h_n, c_n))`.
pub type LstmOutput<T> = (Var<T>, (Var<T>, Var<T>));

impl<T: Element> Lstm<T> {
    /// Runs the whole sequence; the state `(h0, c0)` defaults to zeros. See
    /// [`Rnn::try_forward`] for `lengths`. Shapes: `x: [L, N, H_in]`
    /// (`[N, L, H_in]` with `batch_first`), `h0`, `c0: [layers·D, N, H]` →
    /// `(output [L, N, D·H], (h_n, c_n) [layers·D, N, H])`.
    pub fn try_forward(
        &self,
        x: &Var<T>,
        state: Option<(&Var<T>, &Var<T>)>,
        lengths: Option<&[usize]>,
    ) -> Result<LstmOutput<T>> {
        // Traced as one layer: `x`, `(h0, c0)`, `lengths` in, `output`,
        // `h_n`, `c_n` out.
        nn_autograd::trace::layer(
            self,
            || {
                let mut i = nn_autograd::trace::vars(&[x]);
                i.push(Box::new(state.map(|(h, c)| (h.clone(), c.clone()))));
                i.push(Box::new(lengths.map(<[usize]>::to_vec)));
                i
            },
            || {
                let o = self
                    .stack
                    .forward(x, state.map(|s| s.0), state.map(|s| s.1), lengths)?;
                Ok((o.output, (o.h_n, o.c_n.expect("the LSTM has a cell state"))))
            },
            |r| {
                r.as_ref()
                    .map(|(y, (h, c))| nn_autograd::trace::vars(&[y, h, c]))
                    .unwrap_or_default()
            },
        )
    }

    /// Panicking [`Lstm::try_forward`] without lengths; `x` is anything that
    /// turns into a var (a `&Tensor` is a constant input).
    #[track_caller]
    pub fn forward(
        &self,
        x: impl Into<Var<T>>,
        state: Option<(&Var<T>, &Var<T>)>,
    ) -> LstmOutput<T> {
        or_panic(self.try_forward(&x.into(), state, None))
    }

    layer_common!();
}
