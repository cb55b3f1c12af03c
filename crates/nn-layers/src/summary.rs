//! [`summary`]: a model's per-layer table (output shapes, parameters,
//! multiply-accumulates, activation memory) from one forward pass.
//!
//! How layers take part:
//!
//! * every [`Forward`] layer shows up as one row through the provided
//!   [`Forward::try_forward_traced`], which runs `try_forward` and records the
//!   output shape; its parameters are counted from the module tree;
//! * a composite layer that wants its parts listed (as [`Sequential`](crate::Sequential)
//!   does) overrides `try_forward_traced`, calling [`Recorder::enter`], each
//!   part's `try_forward_traced` inside [`Recorder::child`], then [`Recorder::exit`];
//! * a layer reports its multiply-accumulate count by overriding
//!   [`Module::macs`] (input and output shapes in, count out). `None`, the
//!   default, means "not known" and shows as `?`; layers that do no
//!   multiplications worth counting (activations, dropout, flatten) return `Some(0)`.
//!
//! ```
//! use nn_layers::prelude::*;
//! use nn_layers::summary::summary;
//! let mut rng = Rng::seed_from(0);
//! let mlp = Sequential::<f32>::new()
//!     .append(LinearConfig::new(64, 32).init(&mut rng).unwrap())
//!     .append(Relu)
//!     .append(LinearConfig::new(32, 10).init(&mut rng).unwrap());
//! let s = summary(&mlp, &[1, 64]).unwrap();
//! assert_eq!(s.total_parameters, 64 * 32 + 32 + 32 * 10 + 10);
//! assert_eq!(s.total_macs, 64 * 32 + 32 * 10);
//! assert_eq!(s.rows[1].output_shape, vec![1, 32]);
//! println!("{s}");
//! ```

use std::fmt;

use nn_autograd::{no_grad, Var};
use nn_tensor::{Element, Result, Tensor};

use crate::module::{Forward, Module};

/// For `#[derive(Module)]`'s `#[module(macs = ...)]`: a layer that does
/// no multiplications worth counting (a lookup, an element-wise mask or slope).
pub fn zero_macs<M: ?Sized>(_module: &M, _input: &[usize], _output: &[usize]) -> Option<u64> {
    Some(0)
}

/// For `#[module(macs = ...)]`: one multiply-accumulate per output element
/// (a normalisation's scale-and-shift; its statistics are not counted).
pub fn macs_per_output_element<M: ?Sized>(
    _module: &M,
    _input: &[usize],
    output: &[usize],
) -> Option<u64> {
    Some(output.iter().product::<usize>() as u64)
}

/// One line of a [`Summary`].
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    /// The dotted path of the layer in the model (`"0"`, `"features.3"`);
    /// empty for the model itself.
    pub name: String,
    /// The layer's type (`"Linear"`).
    pub type_name: &'static str,
    /// Nesting depth (0 for the model itself).
    pub depth: usize,
    /// The shape of the layer's output for the summary's input.
    pub output_shape: Vec<usize>,
    /// Parameters in this layer and everything inside it.
    pub parameters: usize,
    /// The trainable (not frozen) part of `parameters`.
    pub trainable: usize,
    /// Multiply-accumulates of this layer for the whole input (batch
    /// included); `None` when the layer does not report them.
    pub macs: Option<u64>,
    /// Bytes of the layer's output tensor.
    pub activation_bytes: usize,
    /// True for a row whose parts have rows of their own (its numbers are
    /// already counted in those rows, so totals skip it).
    pub is_container: bool,
}

/// The result of [`summary`]: per-layer rows and totals. `Display` prints the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The input shape the model was run on.
    pub input_shape: Vec<usize>,
    /// One row per layer, in execution order; containers come before their parts.
    pub rows: Vec<SummaryRow>,
    /// All parameters of the model.
    pub total_parameters: usize,
    /// Trainable parameters of the model.
    pub trainable_parameters: usize,
    /// Sum of the known multiply-accumulates of the leaf rows.
    pub total_macs: u64,
    /// How many leaf rows do not report multiply-accumulates (then
    /// `total_macs` is a lower bound).
    pub rows_without_macs: usize,
    /// Sum of the leaf rows' output bytes: what a forward pass keeps for backward.
    pub activation_bytes: usize,
    /// Bytes of the parameters.
    pub parameter_bytes: usize,
}

/// Collects rows during a traced forward pass (see the [module docs](self)).
#[derive(Debug)]
pub struct Recorder {
    path: Vec<String>,
    rows: Vec<SummaryRow>,
    element_bytes: usize,
}

fn subtree_counts<T: Element>(m: &dyn Module<T>) -> (usize, usize) {
    (m.num_parameters(), m.num_trainable_parameters())
}

impl Recorder {
    fn new(element_bytes: usize) -> Self {
        Recorder {
            path: Vec::new(),
            rows: Vec::new(),
            element_bytes,
        }
    }

    fn name(&self) -> String {
        self.path.join(".")
    }

    /// Runs `f` with `name` appended to the current path (a part of a composite layer).
    pub fn child<R>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(name.to_string());
        let r = f(self);
        self.path.pop();
        r
    }

    /// Records a leaf layer that turned `input_shape` into `output_shape`.
    pub fn leaf<T: Element>(
        &mut self,
        module: &dyn Module<T>,
        input_shape: &[usize],
        output_shape: &[usize],
    ) {
        let (parameters, trainable) = subtree_counts(module);
        self.rows.push(SummaryRow {
            name: self.name(),
            type_name: module.type_name(),
            depth: self.path.len(),
            output_shape: output_shape.to_vec(),
            parameters,
            trainable,
            macs: module.macs(input_shape, output_shape),
            activation_bytes: output_shape.iter().product::<usize>() * self.element_bytes,
            is_container: false,
        });
    }

    /// Opens a container row for a composite layer; returns a handle for [`Recorder::exit`].
    pub fn enter<T: Element>(&mut self, module: &dyn Module<T>) -> usize {
        let (parameters, trainable) = subtree_counts(module);
        self.rows.push(SummaryRow {
            name: self.name(),
            type_name: module.type_name(),
            depth: self.path.len(),
            output_shape: Vec::new(),
            parameters,
            trainable,
            macs: Some(0),
            activation_bytes: 0,
            is_container: true,
        });
        self.rows.len() - 1
    }

    /// Closes the container opened by [`Recorder::enter`]: its output shape,
    /// and as its MACs the sum over its leaf parts (`None` if any part's is unknown).
    pub fn exit(&mut self, handle: usize, output_shape: &[usize]) {
        let depth = self.rows[handle].depth;
        let mut macs = Some(0u64);
        for r in self.rows[handle + 1..].iter() {
            if r.depth <= depth {
                break;
            }
            if !r.is_container {
                macs = macs.zip(r.macs).map(|(a, b)| a + b);
            }
        }
        let row = &mut self.rows[handle];
        row.output_shape = output_shape.to_vec();
        row.macs = macs;
        row.activation_bytes = output_shape.iter().product::<usize>() * self.element_bytes;
    }
}

/// Runs `model` once on a zero input of `input_shape` (batch dimension
/// included; use batch 1 for per-sample numbers) and returns its per-layer table.
///
/// The pass runs in evaluation mode (so BatchNorm's running statistics are
/// not touched and a batch of one works) without recording a graph; the
/// model's mode is restored afterwards. Errors are the model's own forward
/// errors, naming the failing layer.
pub fn summary<T: Element, M: Forward<T> + ?Sized>(
    model: &M,
    input_shape: &[usize],
) -> Result<Summary> {
    let was_training = model.training_state();
    model.eval();
    let mut rec = Recorder::new(std::mem::size_of::<T>());
    let x = Var::constant(Tensor::<T>::zeros(input_shape));
    let out = no_grad(|| model.try_forward_traced(&x, &mut rec));
    if let Some(t) = was_training {
        model.set_training(t);
    }
    out?;
    let leaves = rec.rows.iter().filter(|r| !r.is_container);
    let (mut total_macs, mut rows_without_macs, mut activation_bytes) = (0u64, 0usize, 0usize);
    for r in leaves {
        match r.macs {
            Some(m) => total_macs += m,
            None => rows_without_macs += 1,
        }
        activation_bytes += r.activation_bytes;
    }
    let total_parameters = model.num_parameters();
    Ok(Summary {
        input_shape: input_shape.to_vec(),
        rows: rec.rows,
        total_parameters,
        trainable_parameters: model.num_trainable_parameters(),
        total_macs,
        rows_without_macs,
        activation_bytes,
        parameter_bytes: total_parameters * std::mem::size_of::<T>(),
    })
}

/// `1234567` → `"1,234,567"`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{:.2} MiB", n as f64 / (1u64 << 20) as f64)
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cells: Vec<[String; 6]> = self
            .rows
            .iter()
            .map(|r| {
                let label = if r.name.is_empty() {
                    r.type_name.to_string()
                } else {
                    format!("{}{} ({})", "  ".repeat(r.depth), r.name, r.type_name)
                };
                [
                    label,
                    format!("{:?}", r.output_shape),
                    thousands(r.parameters as u64),
                    thousands(r.trainable as u64),
                    r.macs.map_or("?".to_string(), thousands),
                    bytes(r.activation_bytes),
                ]
            })
            .collect();
        let head = [
            "Layer (type)",
            "Output shape",
            "Params",
            "Trainable",
            "MACs",
            "Activations",
        ];
        let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
        for c in &cells {
            for (w, s) in widths.iter_mut().zip(c.iter()) {
                *w = (*w).max(s.chars().count());
            }
        }
        let total_width: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
        let line = |f: &mut fmt::Formatter<'_>, c: &[String]| -> fmt::Result {
            write!(f, "{:<w$}", c[0], w = widths[0])?;
            for (s, w) in c[1..].iter().zip(&widths[1..]) {
                write!(f, "  {s:>w$}")?;
            }
            writeln!(f)
        };
        line(f, &head.map(String::from))?;
        writeln!(f, "{}", "=".repeat(total_width))?;
        for c in &cells {
            line(f, c)?;
        }
        writeln!(f, "{}", "=".repeat(total_width))?;
        writeln!(f, "Input shape: {:?}", self.input_shape)?;
        writeln!(
            f,
            "Parameters: {} ({} trainable, {} frozen), {}",
            thousands(self.total_parameters as u64),
            thousands(self.trainable_parameters as u64),
            thousands((self.total_parameters - self.trainable_parameters) as u64),
            bytes(self.parameter_bytes)
        )?;
        write!(f, "Multiply-accumulates: {}", thousands(self.total_macs))?;
        if self.rows_without_macs > 0 {
            write!(
                f,
                " (at least: {} layer(s) do not report theirs)",
                self.rows_without_macs
            )?;
        }
        writeln!(f)?;
        write!(
            f,
            "Activation memory (forward): {}",
            bytes(self.activation_bytes)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    fn mlp() -> Sequential<f32> {
        let mut rng = Rng::seed_from(3);
        Sequential::new()
            .append(LinearConfig::new(64, 32).init(&mut rng).unwrap())
            .append(Relu)
            .append(
                BatchNormConfig::new(32)
                    .init(&mut Rng::seed_from(0))
                    .unwrap(),
            )
            .append(DropoutConfig::new(0.5).init(&mut rng).unwrap())
            .append(LinearConfig::new(32, 10).init(&mut rng).unwrap())
    }

    #[test]
    fn mlp_numbers_match_a_hand_computation() {
        let model = mlp();
        let s = summary(&model, &[4, 64]).unwrap();
        let names: Vec<&str> = s.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["", "0", "1", "2", "3", "4"]);
        let types: Vec<&str> = s.rows.iter().map(|r| r.type_name).collect();
        assert_eq!(
            types,
            [
                "Sequential",
                "Linear",
                "Relu",
                "BatchNorm1d",
                "Dropout",
                "Linear"
            ]
        );
        let params: Vec<usize> = s.rows.iter().map(|r| r.parameters).collect();
        // 64·32 + 32 = 2080; BatchNorm: γ and β = 64; 32·10 + 10 = 330.
        assert_eq!(params, [2080 + 64 + 330, 2080, 0, 64, 0, 330]);
        let macs: Vec<Option<u64>> = s.rows.iter().map(|r| r.macs).collect();
        // Linear: batch·in·out; BatchNorm: one scale-and-shift per element.
        let (l1, bn, l2) = (4 * 64 * 32, 4 * 32, 4 * 32 * 10);
        assert_eq!(
            macs,
            [
                Some(l1 + bn + l2),
                Some(l1),
                Some(0),
                Some(bn),
                Some(0),
                Some(l2)
            ]
        );
        assert_eq!(s.rows[0].output_shape, vec![4, 10]);
        assert_eq!(s.rows[3].output_shape, vec![4, 32]);
        assert_eq!(s.total_parameters, 2474);
        assert_eq!(s.trainable_parameters, 2474);
        assert_eq!(s.total_macs, l1 + bn + l2);
        assert_eq!(s.rows_without_macs, 0);
        // f32 outputs: 4·(32 + 32 + 32 + 32 + 10) values.
        assert_eq!(s.activation_bytes, 4 * 4 * (4 * 32 + 10));
        assert_eq!(s.parameter_bytes, 2474 * 4);
    }

    #[test]
    fn frozen_parameters_and_mode_are_reported_and_restored() {
        let model = mlp();
        model.get(0).unwrap().as_module().freeze();
        let s = summary(&model, &[1, 64]).unwrap();
        assert_eq!(s.rows[1].trainable, 0);
        assert_eq!(s.trainable_parameters, 2474 - 2080);
        assert!(model.is_training(), "summary must restore training mode");
        let text = s.to_string();
        assert!(text.contains("0 (Linear)"), "{text}");
        assert!(
            text.contains("Parameters: 2,474 (394 trainable, 2,080 frozen)"),
            "{text}"
        );
    }

    #[test]
    fn nested_sequential_rows_are_dotted_and_unknown_macs_are_flagged() {
        struct Opaque;
        impl Module<f64> for Opaque {}
        impl Forward<f64> for Opaque {
            fn try_forward(&self, x: &Var<f64>) -> Result<Var<f64>> {
                Ok(x.clone())
            }
        }
        let mut rng = Rng::seed_from(0);
        let inner = Sequential::new()
            .append(LinearConfig::new(3, 5).init(&mut rng).unwrap())
            .append(Tanh);
        let model = Sequential::new().append(inner).append(Opaque);
        let s = summary(&model, &[2, 3]).unwrap();
        let names: Vec<&str> = s.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["", "0", "0.0", "0.1", "1"]);
        assert_eq!(s.rows[1].macs, Some(2 * 3 * 5));
        assert_eq!(s.rows[0].macs, None);
        assert_eq!(s.rows_without_macs, 1);
        assert!(s.to_string().contains("at least"), "{s}");
    }

    #[test]
    fn a_wrong_input_shape_is_an_error_naming_the_layer() {
        let e = summary(&mlp(), &[1, 63]).unwrap_err();
        assert!(e.to_string().contains("layer 0 (Linear)"), "{e}");
    }
}
