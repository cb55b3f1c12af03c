//! Convolution layers: [`Conv1d`], [`Conv2d`], [`ConvTranspose1d`],
//! [`ConvTranspose2d`], each built from a config with PyTorch's defaults.

use nn_autograd::{Parameter, Var};
use nn_layers::init::{fans, uniform};
use nn_layers::{Forward, Initializer, Module};
use nn_tensor::{Element, Result, Rng, TensorError};

use crate::arithmetic::Padding;
use crate::options::{setters, ConvOptions, ConvTransposeOptions, IntoSpatial};
use crate::{try_conv1d, try_conv2d, try_conv_transpose1d, try_conv_transpose2d};

/// How to build a [`Conv`] layer (`D` = 1 or 2 spatial dims). Defaults are
/// PyTorch's: stride 1, padding 0, dilation 1, groups 1, a bias, and the
/// weight drawn from `kaiming_uniform(a=√5)` = `U(±1/√fan_in)` with
/// `fan_in = C_in/groups · kernel size` (the bias from the same bound).
#[derive(Clone, Debug, PartialEq)]
pub struct ConvConfig<const D: usize> {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels (number of kernels).
    pub out_channels: usize,
    /// Kernel size per spatial dim.
    pub kernel_size: [usize; D],
    /// Stride, padding, dilation and groups.
    pub options: ConvOptions<D>,
    /// Learn a bias per output channel (default `true`).
    pub bias: bool,
    /// How the weight starts.
    pub initializer: Initializer,
    /// How the bias starts: `None` (the default) is PyTorch's
    /// `U(±1/√fan_in)`; a constant such as 0, or 0.01 under ReLU (course
    /// section 7.1), is `Some(Initializer::Constant(0.01))`.
    pub bias_initializer: Option<Initializer>,
}

/// Config of [`Conv1d`].
pub type Conv1dConfig = ConvConfig<1>;
/// Config of [`Conv2d`].
pub type Conv2dConfig = ConvConfig<2>;

impl<const D: usize> ConvConfig<D> {
    /// A convolution from `in_channels` to `out_channels` with PyTorch's defaults.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: impl IntoSpatial<D>) -> Self {
        ConvConfig {
            in_channels,
            out_channels,
            kernel_size: kernel_size.into_spatial(),
            options: ConvOptions::default(),
            bias: true,
            initializer: Initializer::PYTORCH_DEFAULT,
            bias_initializer: None,
        }
    }
    setters! {
        /// With a stride.
        with_stride(s: impl IntoSpatial<D>) => options.stride = s.into_spatial();
        /// With a padding: numbers, [`Padding::Same`] or [`Padding::Valid`].
        with_padding(p: impl Into<Padding<D>>) => options.padding = p.into();
        /// With a dilation.
        with_dilation(d: impl IntoSpatial<D>) => options.dilation = d.into_spatial();
        /// With channel groups.
        with_groups(g: usize) => options.groups = g;
        /// With or without a bias.
        with_bias(bias: bool) => bias = bias;
        /// With another weight initialiser.
        with_initializer(init: Initializer) => initializer = init;
        /// With a bias initialiser instead of PyTorch's default.
        with_bias_initializer(init: Initializer) => bias_initializer = Some(init);
    }

    /// Builds the layer, drawing its weights from `rng`. Errors on zero
    /// sizes, groups that do not divide the channels, and `"same"` padding
    /// with a stride.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<Conv<T, D>> {
        let op = if D == 1 {
            "Conv1dConfig"
        } else {
            "Conv2dConfig"
        };
        let o = &self.options;
        let channels = [self.in_channels, self.out_channels];
        check_sizes(
            op,
            channels,
            o.groups,
            [&self.kernel_size, &o.stride, &o.dilation],
        )?;
        o.padding
            .resolve(self.kernel_size, o.stride, o.dilation)
            .map_err(|e| TensorError::invalid(op, e.to_string()))?;
        let lead = [self.out_channels, self.in_channels / o.groups];
        let (weight, bias) = init_weight_bias(
            &self.initializer,
            lead,
            self.kernel_size,
            self.out_channels,
            self.bias,
            rng,
        )?;
        if let (Some(init), Some(b)) = (&self.bias_initializer, &bias) {
            b.set_value(init.init(&[self.out_channels], rng)?);
        }
        Ok(Conv {
            weight,
            bias,
            options: *o,
        })
    }
}

/// What both configs check first: channel counts that are positive and
/// divisible by the groups, then positive kernel sizes, strides and
/// dilations (`[k, s, d]`).
fn check_sizes<const D: usize>(
    op: &'static str,
    [cin, cout]: [usize; 2],
    groups: usize,
    [k, s, d]: [&[usize; D]; 3],
) -> Result<()> {
    if cin == 0
        || cout == 0
        || groups == 0
        || !cin.is_multiple_of(groups)
        || !cout.is_multiple_of(groups)
    {
        return Err(TensorError::invalid(
            op,
            format!("in_channels = {cin} and out_channels = {cout} must be > 0 and divisible by groups = {groups}"),
        ));
    }
    if k.contains(&0) || s.contains(&0) || d.contains(&0) {
        return Err(TensorError::invalid(
            op,
            format!("kernel_size {k:?}, stride {s:?} and dilation {d:?} must be > 0"),
        ));
    }
    Ok(())
}

type WeightBias<T> = (Parameter<T>, Option<Parameter<T>>);

/// PyTorch's `reset_parameters` for convolutions: the weight
/// `[lead…, kernel…]` from the initialiser, the bias (`[bias_len]`, one per
/// output channel) `U(±1/√fan_in)` with the weight's fan in.
fn init_weight_bias<T: Element, const D: usize>(
    init: &Initializer,
    lead: [usize; 2],
    kernel: [usize; D],
    bias_len: usize,
    bias: bool,
    rng: &mut Rng,
) -> Result<WeightBias<T>> {
    let shape = [&lead[..], &kernel].concat();
    let weight = Parameter::new(init.init(&shape, rng)?);
    let bias = if bias {
        let bound = 1.0 / (fans(&shape)?.0 as f64).sqrt();
        Some(Parameter::new(uniform(&[bias_len], -bound, bound, rng)?))
    } else {
        None
    };
    Ok((weight, bias))
}

/// Multiply-adds when each element of `shape` meets every weight of one
/// slice `weight[i]` (an output element of a convolution, an input element
/// of a transposed one).
fn macs_through<T: Element>(weight: &Parameter<T>, shape: &[usize]) -> u64 {
    let per_element: usize = weight.shape()[1..].iter().product();
    shape.iter().product::<usize>() as u64 * per_element as u64
}

/// Both layers' `state_dict` entries: `weight`, then `bias` if any.
fn visit_weight_bias<T: Element>(
    weight: &Parameter<T>,
    bias: Option<&Parameter<T>>,
    f: &mut dyn FnMut(&str, &Parameter<T>),
) {
    f("weight", weight);
    if let Some(b) = bias {
        f("bias", b);
    }
}

/// A convolution layer (`torch.nn.Conv1d` / `Conv2d`).
///
/// * input `[N, C_in, L]` (1-d) or `[N, C_in, H, W]` (2-d);
/// * output `[N, C_out, L_out]` / `[N, C_out, H_out, W_out]` (see [`crate::conv_output_size`]);
/// * parameters `weight [C_out, C_in/groups, k…]`, `bias [C_out]`.
///
/// ```
/// use nn_conv::layers::Conv2dConfig;
/// use nn_conv::Padding;
/// use nn_layers::prelude::*;
/// let conv = Conv2dConfig::new(3, 8, 3).with_padding(Padding::Same).init::<f32>(&mut Rng::seed_from(0)).unwrap();
/// let y = conv.forward(&Tensor::zeros(&[2, 3, 32, 32]));
/// assert_eq!(y.shape(), &[2, 8, 32, 32]);
/// assert_eq!(conv.num_parameters(), 8 * 3 * 3 * 3 + 8); // kernel size × C_in × kernels + biases
/// ```
pub struct Conv<T: Element, const D: usize> {
    /// `[C_out, C_in/groups, k…]`.
    pub weight: Parameter<T>,
    /// `[C_out]`, if the layer has a bias.
    pub bias: Option<Parameter<T>>,
    /// Stride, padding, dilation and groups.
    pub options: ConvOptions<D>,
}

/// A 1-d convolution layer.
pub type Conv1d<T> = Conv<T, 1>;
/// A 2-d convolution layer.
pub type Conv2d<T> = Conv<T, 2>;

impl<T: Element, const D: usize> Conv<T, D> {
    /// `C_in`.
    pub fn in_channels(&self) -> usize {
        self.weight.shape()[1] * self.options.groups
    }
    /// `C_out`.
    pub fn out_channels(&self) -> usize {
        self.weight.shape()[0]
    }
}

impl<T: Element, const D: usize> Module<T> for Conv<T, D> {
    /// For the model summary: every output element is a dot product over
    /// `C_in/groups × kernel area` weights (the course's `M²·K²·C_in·C_out`).
    fn macs(&self, _input_shape: &[usize], output_shape: &[usize]) -> Option<u64> {
        Some(macs_through(&self.weight, output_shape))
    }
    fn type_name(&self) -> &'static str {
        if D == 1 {
            "Conv1d"
        } else {
            "Conv2d"
        }
    }
    fn visit_local_parameters(&self, f: &mut dyn FnMut(&str, &Parameter<T>)) {
        visit_weight_bias(&self.weight, self.bias.as_ref(), f);
    }
}

impl<T: Element> Forward<T> for Conv<T, 1> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        nn_autograd::trace::unary_layer(self, x, || {
            let b = self.bias.as_ref().map(|b| b.var());
            try_conv1d(x, &self.weight.var(), b.as_ref(), &self.options)
        })
    }
}

impl<T: Element> Forward<T> for Conv<T, 2> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        nn_autograd::trace::unary_layer(self, x, || {
            let b = self.bias.as_ref().map(|b| b.var());
            try_conv2d(x, &self.weight.var(), b.as_ref(), &self.options)
        })
    }
}

/// How to build a [`ConvTranspose`] layer; PyTorch's defaults and init
/// (`fan_in = C_out/groups · kernel size`, from the weight's dim 1).
#[derive(Clone, Debug, PartialEq)]
pub struct ConvTransposeConfig<const D: usize> {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size per spatial dim.
    pub kernel_size: [usize; D],
    /// Stride, padding, output padding, dilation and groups.
    pub options: ConvTransposeOptions<D>,
    /// Learn a bias per output channel (default `true`).
    pub bias: bool,
    /// How the weight starts.
    pub initializer: Initializer,
}

/// Config of [`ConvTranspose1d`].
pub type ConvTranspose1dConfig = ConvTransposeConfig<1>;
/// Config of [`ConvTranspose2d`].
pub type ConvTranspose2dConfig = ConvTransposeConfig<2>;

impl<const D: usize> ConvTransposeConfig<D> {
    /// A transposed convolution with PyTorch's defaults.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: impl IntoSpatial<D>) -> Self {
        ConvTransposeConfig {
            in_channels,
            out_channels,
            kernel_size: kernel_size.into_spatial(),
            options: ConvTransposeOptions::default(),
            bias: true,
            initializer: Initializer::PYTORCH_DEFAULT,
        }
    }
    setters! {
        /// With a stride.
        with_stride(s: impl IntoSpatial<D>) => options.stride = s.into_spatial();
        /// With a padding.
        with_padding(p: impl IntoSpatial<D>) => options.padding = p.into_spatial();
        /// With an output padding (smaller than the stride or the dilation).
        with_output_padding(p: impl IntoSpatial<D>) => options.output_padding = p.into_spatial();
        /// With a dilation.
        with_dilation(d: impl IntoSpatial<D>) => options.dilation = d.into_spatial();
        /// With channel groups.
        with_groups(g: usize) => options.groups = g;
        /// With or without a bias.
        with_bias(bias: bool) => bias = bias;
    }

    /// Builds the layer; errors on zero sizes, groups that do not divide
    /// the channels, or an output padding not smaller than stride or dilation.
    pub fn init<T: Element>(&self, rng: &mut Rng) -> Result<ConvTranspose<T, D>> {
        let op = if D == 1 {
            "ConvTranspose1dConfig"
        } else {
            "ConvTranspose2dConfig"
        };
        let o = &self.options;
        let channels = [self.in_channels, self.out_channels];
        check_sizes(
            op,
            channels,
            o.groups,
            [&self.kernel_size, &o.stride, &o.dilation],
        )?;
        for d in 0..D {
            if o.output_padding[d] >= o.stride[d] && o.output_padding[d] >= o.dilation[d] {
                return Err(TensorError::invalid(
                    op,
                    format!(
                        "output_padding {:?} must be smaller than the stride {:?} or the dilation {:?}",
                        o.output_padding, o.stride, o.dilation
                    ),
                ));
            }
        }
        let lead = [self.in_channels, self.out_channels / o.groups];
        let (weight, bias) = init_weight_bias(
            &self.initializer,
            lead,
            self.kernel_size,
            self.out_channels,
            self.bias,
            rng,
        )?;
        Ok(ConvTranspose {
            weight,
            bias,
            options: *o,
        })
    }
}

/// A transposed convolution layer (`torch.nn.ConvTranspose1d` / `ConvTranspose2d`).
///
/// * input `[N, C_in, …]`; output `[N, C_out, …]` (see [`crate::conv_transpose_output_size`]);
/// * parameters `weight [C_in, C_out/groups, k…]` (input channels first), `bias [C_out]`.
///
/// ```
/// use nn_conv::layers::ConvTranspose2dConfig;
/// use nn_layers::prelude::*;
/// let up = ConvTranspose2dConfig::new(8, 4, 4).with_stride(2).with_padding(1)
///     .init::<f32>(&mut Rng::seed_from(0)).unwrap();
/// let y = up.forward(&Tensor::zeros(&[1, 8, 7, 7]));
/// assert_eq!(y.shape(), &[1, 4, 14, 14]); // doubles the size
/// ```
pub struct ConvTranspose<T: Element, const D: usize> {
    /// `[C_in, C_out/groups, k…]`.
    pub weight: Parameter<T>,
    /// `[C_out]`, if the layer has a bias.
    pub bias: Option<Parameter<T>>,
    /// Stride, padding, output padding, dilation and groups.
    pub options: ConvTransposeOptions<D>,
}

/// A 1-d transposed convolution layer.
pub type ConvTranspose1d<T> = ConvTranspose<T, 1>;
/// A 2-d transposed convolution layer.
pub type ConvTranspose2d<T> = ConvTranspose<T, 2>;

impl<T: Element, const D: usize> Module<T> for ConvTranspose<T, D> {
    /// For the model summary: every input element is scattered through
    /// `C_out/groups × kernel area` weights.
    fn macs(&self, input_shape: &[usize], _output_shape: &[usize]) -> Option<u64> {
        Some(macs_through(&self.weight, input_shape))
    }
    fn type_name(&self) -> &'static str {
        if D == 1 {
            "ConvTranspose1d"
        } else {
            "ConvTranspose2d"
        }
    }
    fn visit_local_parameters(&self, f: &mut dyn FnMut(&str, &Parameter<T>)) {
        visit_weight_bias(&self.weight, self.bias.as_ref(), f);
    }
}

impl<T: Element> Forward<T> for ConvTranspose<T, 1> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        nn_autograd::trace::unary_layer(self, x, || {
            let b = self.bias.as_ref().map(|b| b.var());
            try_conv_transpose1d(x, &self.weight.var(), b.as_ref(), &self.options)
        })
    }
}

impl<T: Element> Forward<T> for ConvTranspose<T, 2> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        nn_autograd::trace::unary_layer(self, x, || {
            let b = self.bias.as_ref().map(|b| b.var());
            try_conv_transpose2d(x, &self.weight.var(), b.as_ref(), &self.options)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_tensor::Tensor;

    #[test]
    fn pytorch_default_init_bounds_and_names() {
        let mut rng = Rng::seed_from(5);
        let conv = Conv2dConfig::new(4, 6, [3, 5])
            .with_groups(2)
            .init::<f64>(&mut rng)
            .unwrap();
        let bound = 1.0 / ((2 * 3 * 5) as f64).sqrt();
        assert_eq!(conv.weight.shape(), vec![6, 2, 3, 5]);
        assert!(conv
            .weight
            .value()
            .as_slice()
            .iter()
            .all(|v| v.abs() <= bound));
        assert!(conv.weight.value().max_all() > 0.8 * bound);
        assert!(conv
            .bias
            .as_ref()
            .unwrap()
            .value()
            .as_slice()
            .iter()
            .all(|v| v.abs() <= bound));
        let names: Vec<String> = conv
            .named_parameters()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["weight", "bias"]);
        assert_eq!(conv.type_name(), "Conv2d");
        assert_eq!((conv.in_channels(), conv.out_channels()), (4, 6));
        let t = ConvTranspose1dConfig::new(4, 6, 3)
            .with_bias(false)
            .init::<f32>(&mut rng)
            .unwrap();
        assert_eq!(t.weight.shape(), vec![4, 6, 3]);
        assert_eq!(t.num_parameters(), 72);
    }

    #[test]
    fn config_errors() {
        let mut rng = Rng::seed_from(0);
        assert!(Conv2dConfig::new(3, 4, 3)
            .with_groups(2)
            .init::<f32>(&mut rng)
            .is_err());
        assert!(Conv1dConfig::new(3, 4, 0).init::<f32>(&mut rng).is_err());
        let e = Conv2dConfig::new(3, 4, 3)
            .with_stride(2)
            .with_padding(Padding::Same)
            .init::<f32>(&mut rng);
        assert!(e.err().unwrap().to_string().contains("needs stride 1"));
        let e = ConvTranspose2dConfig::new(3, 4, 3)
            .with_stride(2)
            .with_output_padding(2)
            .init::<f32>(&mut rng);
        assert!(e
            .err()
            .unwrap()
            .to_string()
            .contains("output_padding [2, 2] must be smaller"));
    }

    #[test]
    fn forward_errors_name_the_op() {
        let conv = Conv1dConfig::new(3, 4, 3)
            .init::<f32>(&mut Rng::seed_from(0))
            .unwrap();
        let e = conv
            .try_forward(&Var::constant(Tensor::zeros(&[2, 5, 10])))
            .unwrap_err();
        assert!(e
            .to_string()
            .starts_with("conv1d: shapes [2, 5, 10] and [4, 3, 3]"));
    }
}
