//! Cells for step-by-step use: [`RnnCell`], [`LstmCell`], [`GruCell`]
//! (PyTorch's `nn.RNNCell`, `nn.LSTMCell`, `nn.GRUCell`).

use nn_autograd::{Parameter, Var};
use nn_layers::Module;
use nn_tensor::{or_panic, Element, Result, Rng, Tensor, TensorError};

use crate::init::{DirectionVars, DirectionWeights, RecurrentInit};
use crate::recurrence::{recurrence, CellKind};

/// `x·W_ihᵀ + b_ih` for `x` of any rank ending in the input size.
pub(crate) fn input_projection<T: Element>(x: &Var<T>, w: &DirectionVars<T>) -> Result<Var<T>> {
    let y = x.try_matmul_t(&w.weight_ih, false, true)?;
    Ok(match &w.bias_ih {
        Some(b) => y.add(b),
        None => y,
    })
}

/// An error unless every size is at least 1, naming the layer, the
/// argument and its value (`"LstmCell: hidden_size = 0, expected at least 1"`).
pub(crate) fn check_sizes(layer: &'static str, sizes: &[(&str, usize)]) -> Result<()> {
    match sizes.iter().find(|&&(_, value)| value == 0) {
        Some((name, value)) => Err(TensorError::invalid(
            layer,
            format!("{name} = {value}, expected at least 1"),
        )),
        None => Ok(()),
    }
}

/// The sizes of a cell and how its weights start; what every cell config holds.
macro_rules! cell_config {
    ($(#[$doc:meta])* $config:ident => $cell:ident $(, $field:ident : $ty:ty = $default:expr, $setter:ident, $setter_doc:literal)?) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub struct $config {
            /// Features of the input (I).
            pub input_size: usize,
            /// Features of the hidden state (H).
            pub hidden_size: usize,
            /// Whether the cell has biases (default true).
            pub bias: bool,
            /// Initialisation options (default: PyTorch's uniform).
            pub init: RecurrentInit,
            $(#[doc = $setter_doc] pub $field: $ty,)?
        }

        impl $config {
            /// A cell with bias and PyTorch's initialisation.
            pub fn new(input_size: usize, hidden_size: usize) -> Self {
                $config {
                    input_size,
                    hidden_size,
                    bias: true,
                    init: RecurrentInit::default(),
                    $($field: $default,)?
                }
            }
            /// Sets whether the cell has biases (default true).
            pub fn with_bias(mut self, bias: bool) -> Self {
                self.bias = bias;
                self
            }
            /// Sets the initialisation options (orthogonal `W_hh`, forget-gate bias).
            pub fn with_init(mut self, init: RecurrentInit) -> Self {
                self.init = init;
                self
            }
            $(
                #[doc = $setter_doc]
                pub fn $setter(mut self, $field: $ty) -> Self {
                    self.$field = $field;
                    self
                }
            )?
            fn weights<T: Element>(&self, kind: CellKind, rng: &mut Rng) -> Result<DirectionWeights<T>> {
                check_sizes(
                    stringify!($cell),
                    &[("input_size", self.input_size), ("hidden_size", self.hidden_size)],
                )?;
                Ok(DirectionWeights::new(
                    kind,
                    self.input_size,
                    self.hidden_size,
                    self.bias,
                    self.init,
                    rng,
                ))
            }
        }
    };
}

cell_config! {
    /// The configuration of an [`RnnCell`] (`nn.RNNCell`).
    RnnCellConfig => RnnCell,
    nonlinearity: Nonlinearity = Nonlinearity::Tanh, with_nonlinearity,
    "The non-linearity: `tanh` (default) or `relu`."
}
cell_config! {
    /// The configuration of an [`LstmCell`] (`nn.LSTMCell`).
    LstmCellConfig => LstmCell
}
cell_config! {
    /// The configuration of a [`GruCell`] (`nn.GRUCell`).
    GruCellConfig => GruCell
}

impl RnnCellConfig {
    /// The cell.
    ///
    /// # Errors
    /// If `input_size` or `hidden_size` is 0.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<RnnCell<T>> {
        let kind = self.nonlinearity.kind();
        Ok(RnnCell {
            weights: self.weights(kind, rng)?,
            hidden: self.hidden_size,
            kind,
        })
    }
}

impl LstmCellConfig {
    /// The cell.
    ///
    /// # Errors
    /// If `input_size` or `hidden_size` is 0.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<LstmCell<T>> {
        Ok(LstmCell {
            weights: self.weights(CellKind::Lstm, rng)?,
            hidden: self.hidden_size,
        })
    }
}

impl GruCellConfig {
    /// The cell.
    ///
    /// # Errors
    /// If `input_size` or `hidden_size` is 0.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<GruCell<T>> {
        Ok(GruCell {
            weights: self.weights(CellKind::Gru, rng)?,
            hidden: self.hidden_size,
        })
    }
}

/// One step of any cell kind; `x: [batch, input]`.
fn step<T: Element>(
    kind: CellKind,
    w: &DirectionWeights<T>,
    x: &Var<T>,
    h: Option<&Var<T>>,
    c: Option<&Var<T>>,
) -> Result<(Var<T>, Option<Var<T>>)> {
    let op = "cell step";
    let &[n, i] = x.shape() else {
        return Err(TensorError::invalid(
            op,
            format!("the input must be [batch, input], got {:?}", x.shape()),
        ));
    };
    let [gh, wi] = w.weight_ih.shape()[..] else {
        unreachable!("weight_ih is 2-d by construction")
    };
    if i != wi {
        return Err(TensorError::shapes(
            op,
            x.shape(),
            &[gh, wi],
            "input features differ from the cell's input_size",
        ));
    }
    let hidden = gh / kind.gates();
    let zeros = || Var::constant(Tensor::zeros(&[n, hidden]));
    let h0 = h.cloned().unwrap_or_else(zeros);
    let c0 = kind.has_cell().then(|| c.cloned().unwrap_or_else(zeros));
    let w = w.vars();
    let xproj = input_projection(x, &w)?.reshape([1, n, gh]);
    let out = recurrence(
        kind,
        &xproj,
        &h0,
        c0.as_ref(),
        &w.weight_hh,
        w.bias_hh.as_ref(),
        None,
    )?;
    Ok((out.h_n, out.c_n))
}

macro_rules! cell_common {
    () => {
        /// The weights, for loading or inspection.
        pub fn weights(&self) -> &DirectionWeights<T> {
            &self.weights
        }

        /// The hidden size H.
        pub fn hidden_size(&self) -> usize {
            self.hidden
        }
    };
}

/// [`Module`] for a cell: its parameters have PyTorch's names (`weight_ih`,
/// `weight_hh`, `bias_ih`, `bias_hh`); a cell has no train/eval behaviour.
macro_rules! cell_module {
    ($cell:ident) => {
        impl<T: Element> Module<T> for $cell<T> {
            fn visit_local_parameters(&self, f: &mut dyn FnMut(&str, &Parameter<T>)) {
                self.weights.visit("", f)
            }
        }
    };
}

cell_module!(RnnCell);
cell_module!(LstmCell);
cell_module!(GruCell);

/// Which non-linearity an Elman RNN applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Nonlinearity {
    /// `tanh` (PyTorch's default).
    #[default]
    Tanh,
    /// `relu`.
    Relu,
}

impl Nonlinearity {
    pub(crate) fn kind(self) -> CellKind {
        match self {
            Nonlinearity::Tanh => CellKind::RnnTanh,
            Nonlinearity::Relu => CellKind::RnnRelu,
        }
    }
}

/// An Elman RNN cell: `h' = act(W_ih x + b_ih + W_hh h + b_hh)`.
///
/// ```
/// use nn_rnn::{Nonlinearity, RnnCellConfig};
/// use nn_tensor::{Rng, Tensor};
/// let cell = RnnCellConfig::new(3, 4)
///     .with_nonlinearity(Nonlinearity::Relu)
///     .init::<f64>(&mut Rng::seed_from(0))?;
/// let h = cell.forward(&Tensor::ones(&[2, 3]), None);
/// assert_eq!(h.shape(), &[2, 4]);
///
/// let err = RnnCellConfig::new(3, 0).init::<f64>(&mut Rng::seed_from(0)).unwrap_err();
/// assert!(err.to_string().contains("RnnCell: hidden_size = 0, expected at least 1"));
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RnnCell<T: Element> {
    weights: DirectionWeights<T>,
    hidden: usize,
    kind: CellKind,
}

impl<T: Element> RnnCell<T> {
    /// One step. `x: [batch, input]`, `h: [batch, hidden]` (zeros when `None`).
    pub fn try_forward(&self, x: &Var<T>, h: Option<&Var<T>>) -> Result<Var<T>> {
        Ok(step(self.kind, &self.weights, x, h, None)?.0)
    }

    /// Panicking [`RnnCell::try_forward`]; `x` is anything that turns into a var.
    #[track_caller]
    pub fn forward(&self, x: impl Into<Var<T>>, h: Option<&Var<T>>) -> Var<T> {
        or_panic(self.try_forward(&x.into(), h))
    }

    cell_common!();
}

/// An LSTM cell (gate order i, f, g, o); the state is `(h, c)`.
///
/// ```
/// use nn_rnn::LstmCellConfig;
/// use nn_tensor::{Rng, Tensor};
/// let cell = LstmCellConfig::new(3, 4).init::<f32>(&mut Rng::seed_from(0))?;
/// let x = Tensor::ones(&[2, 3]);
/// let (h, c) = cell.forward(&x, None);
/// let (h, _c) = cell.forward(&x, Some((&h, &c)));
/// assert_eq!(h.shape(), &[2, 4]);
/// # Ok::<(), nn_tensor::TensorError>(())
/// ```
#[derive(Clone, Debug)]
pub struct LstmCell<T: Element> {
    weights: DirectionWeights<T>,
    hidden: usize,
}

impl<T: Element> LstmCell<T> {
    /// One step. `x: [batch, input]`; the state `(h, c)` is `[batch, hidden]`
    /// each (zeros when `None`). Returns the new `(h, c)`.
    pub fn try_forward(
        &self,
        x: &Var<T>,
        state: Option<(&Var<T>, &Var<T>)>,
    ) -> Result<(Var<T>, Var<T>)> {
        let (h, c) = step(
            CellKind::Lstm,
            &self.weights,
            x,
            state.map(|s| s.0),
            state.map(|s| s.1),
        )?;
        Ok((h, c.expect("the LSTM returns a cell state")))
    }

    /// Panicking [`LstmCell::try_forward`]; `x` is anything that turns into a var.
    #[track_caller]
    pub fn forward(
        &self,
        x: impl Into<Var<T>>,
        state: Option<(&Var<T>, &Var<T>)>,
    ) -> (Var<T>, Var<T>) {
        or_panic(self.try_forward(&x.into(), state))
    }

    cell_common!();
}

/// A GRU cell (gate order r, z, n; `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`).
#[derive(Clone, Debug)]
pub struct GruCell<T: Element> {
    weights: DirectionWeights<T>,
    hidden: usize,
}

impl<T: Element> GruCell<T> {
    /// One step. `x: [batch, input]`, `h: [batch, hidden]` (zeros when `None`).
    pub fn try_forward(&self, x: &Var<T>, h: Option<&Var<T>>) -> Result<Var<T>> {
        Ok(step(CellKind::Gru, &self.weights, x, h, None)?.0)
    }

    /// Panicking [`GruCell::try_forward`]; `x` is anything that turns into a var.
    #[track_caller]
    pub fn forward(&self, x: impl Into<Var<T>>, h: Option<&Var<T>>) -> Var<T> {
        or_panic(self.try_forward(&x.into(), h))
    }

    cell_common!();
}
