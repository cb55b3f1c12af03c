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

/// Panics unless every size is at least 1, naming the constructor, the
/// argument and its value (`"LstmCell::new: hidden_size = 0, expected at least 1"`).
#[track_caller]
pub(crate) fn check_sizes(what: &str, sizes: &[(&str, usize)]) {
    for &(name, value) in sizes {
        assert!(value >= 1, "{what}: {name} = {value}, expected at least 1");
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
/// use nn_rnn::{Nonlinearity, RnnCell};
/// use nn_autograd::Var;
/// use nn_tensor::{Rng, Tensor};
/// let cell = RnnCell::<f64>::new(3, 4, true, Nonlinearity::Tanh, &mut Rng::seed_from(0));
/// let x = Var::constant(Tensor::ones(&[2, 3]));
/// let h = cell.forward(&x, None);
/// assert_eq!(h.shape(), &[2, 4]);
/// ```
#[derive(Clone, Debug)]
pub struct RnnCell<T: Element> {
    weights: DirectionWeights<T>,
    hidden: usize,
    kind: CellKind,
}

impl<T: Element> RnnCell<T> {
    /// A cell with PyTorch's default initialisation.
    ///
    /// # Panics
    /// If `input` or `hidden` is 0.
    #[track_caller]
    pub fn new(
        input: usize,
        hidden: usize,
        bias: bool,
        nonlinearity: Nonlinearity,
        rng: &mut Rng,
    ) -> Self {
        check_sizes(
            "RnnCell::new",
            &[("input_size", input), ("hidden_size", hidden)],
        );
        let kind = nonlinearity.kind();
        let weights =
            DirectionWeights::new(kind, input, hidden, bias, RecurrentInit::default(), rng);
        RnnCell {
            weights,
            hidden,
            kind,
        }
    }

    /// One step. `x: [batch, input]`, `h: [batch, hidden]` (zeros when `None`).
    pub fn try_forward(&self, x: &Var<T>, h: Option<&Var<T>>) -> Result<Var<T>> {
        Ok(step(self.kind, &self.weights, x, h, None)?.0)
    }

    /// Panicking [`RnnCell::try_forward`].
    #[track_caller]
    pub fn forward(&self, x: &Var<T>, h: Option<&Var<T>>) -> Var<T> {
        or_panic(self.try_forward(x, h))
    }

    cell_common!();
}

/// An LSTM cell (gate order i, f, g, o); the state is `(h, c)`.
///
/// ```
/// use nn_rnn::LstmCell;
/// use nn_autograd::Var;
/// use nn_tensor::{Rng, Tensor};
/// let cell = LstmCell::<f32>::new(3, 4, true, &mut Rng::seed_from(0));
/// let x = Var::constant(Tensor::ones(&[2, 3]));
/// let (h, c) = cell.forward(&x, None);
/// let (h, _c) = cell.forward(&x, Some((&h, &c)));
/// assert_eq!(h.shape(), &[2, 4]);
/// ```
#[derive(Clone, Debug)]
pub struct LstmCell<T: Element> {
    weights: DirectionWeights<T>,
    hidden: usize,
}

impl<T: Element> LstmCell<T> {
    /// A cell with PyTorch's default initialisation.
    ///
    /// # Panics
    /// If `input` or `hidden` is 0.
    #[track_caller]
    pub fn new(input: usize, hidden: usize, bias: bool, rng: &mut Rng) -> Self {
        Self::with_init(input, hidden, bias, RecurrentInit::default(), rng)
    }

    /// A cell with initialisation options (forget-gate bias, orthogonal `W_hh`).
    ///
    /// # Panics
    /// If `input` or `hidden` is 0.
    #[track_caller]
    pub fn with_init(
        input: usize,
        hidden: usize,
        bias: bool,
        init: RecurrentInit,
        rng: &mut Rng,
    ) -> Self {
        check_sizes(
            "LstmCell::new",
            &[("input_size", input), ("hidden_size", hidden)],
        );
        let weights = DirectionWeights::new(CellKind::Lstm, input, hidden, bias, init, rng);
        LstmCell { weights, hidden }
    }

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

    /// Panicking [`LstmCell::try_forward`].
    #[track_caller]
    pub fn forward(&self, x: &Var<T>, state: Option<(&Var<T>, &Var<T>)>) -> (Var<T>, Var<T>) {
        or_panic(self.try_forward(x, state))
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
    /// A cell with PyTorch's default initialisation.
    ///
    /// # Panics
    /// If `input` or `hidden` is 0.
    #[track_caller]
    pub fn new(input: usize, hidden: usize, bias: bool, rng: &mut Rng) -> Self {
        check_sizes(
            "GruCell::new",
            &[("input_size", input), ("hidden_size", hidden)],
        );
        let weights = DirectionWeights::new(
            CellKind::Gru,
            input,
            hidden,
            bias,
            RecurrentInit::default(),
            rng,
        );
        GruCell { weights, hidden }
    }

    /// One step. `x: [batch, input]`, `h: [batch, hidden]` (zeros when `None`).
    pub fn try_forward(&self, x: &Var<T>, h: Option<&Var<T>>) -> Result<Var<T>> {
        Ok(step(CellKind::Gru, &self.weights, x, h, None)?.0)
    }

    /// Panicking [`GruCell::try_forward`].
    #[track_caller]
    pub fn forward(&self, x: &Var<T>, h: Option<&Var<T>>) -> Var<T> {
        or_panic(self.try_forward(x, h))
    }

    cell_common!();
}
