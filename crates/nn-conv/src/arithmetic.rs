//! Output-size arithmetic of convolution, transposed convolution and pooling.
//!
//! The course's formula `(n − k + 2p)/s + 1`, generalised with dilation `d`
//! (a dilated kernel spans `d·(k − 1) + 1` inputs) and, for pooling, with
//! `ceil_mode`. Every function checks its arguments and returns an error that
//! names the operation and the offending values instead of a nonsense size.
//!
//! ```
//! use nn_conv::{conv_output_size, conv_transpose_output_size, pool_output_size};
//! assert_eq!(conv_output_size(28, 5, 1, 2, 1).unwrap(), 28); // LeNet's first layer
//! assert_eq!(pool_output_size(28, 2, 2, 0, 1, false).unwrap(), 14);
//! // A transposed convolution restores what a strided one removed.
//! let down = conv_output_size(16, 3, 2, 1, 1).unwrap();
//! assert_eq!(conv_transpose_output_size(down, 3, 2, 1, 1, 1).unwrap(), 16);
//! ```

use nn_tensor::{Result, TensorError};

/// How much zero padding a convolution adds, per spatial dim.
///
/// `Same` keeps the output size equal to the input size (stride 1 only); when
/// the dilated kernel span `d·(k − 1)` is odd, the extra zero goes on the
/// right/bottom, as in PyTorch. `Valid` adds none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding<const D: usize> {
    /// No padding (PyTorch's `padding="valid"`).
    Valid,
    /// Output size equals input size (PyTorch's `padding="same"`, stride 1).
    Same,
    /// The same number of zeros on both sides of each spatial dim.
    Explicit([usize; D]),
}

impl<const D: usize> Default for Padding<D> {
    fn default() -> Self {
        Padding::Explicit([0; D])
    }
}

impl<const D: usize> From<usize> for Padding<D> {
    fn from(p: usize) -> Self {
        Padding::Explicit([p; D])
    }
}

impl<const D: usize> From<[usize; D]> for Padding<D> {
    fn from(p: [usize; D]) -> Self {
        Padding::Explicit(p)
    }
}

impl<const D: usize> Padding<D> {
    /// Parses `"same"` or `"valid"` (the strings PyTorch accepts).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "same" => Some(Padding::Same),
            "valid" => Some(Padding::Valid),
            _ => None,
        }
    }

    /// The zeros added before and after each spatial dim for a kernel of
    /// `kernel` taps with `dilation` and `stride`. Errors for `Same` with a
    /// stride other than 1 (its output size would depend on the input).
    pub fn resolve(
        &self,
        kernel: [usize; D],
        stride: [usize; D],
        dilation: [usize; D],
    ) -> Result<[(usize, usize); D]> {
        let mut out = [(0, 0); D];
        for d in 0..D {
            out[d] = match self {
                Padding::Valid => valid_padding(),
                Padding::Explicit(p) => (p[d], p[d]),
                Padding::Same => {
                    if stride[d] != 1 {
                        return Err(TensorError::invalid(
                            "conv",
                            format!("padding=\"same\" needs stride 1, got stride {:?}", stride),
                        ));
                    }
                    same_padding(kernel[d], dilation[d])?
                }
            };
        }
        Ok(out)
    }
}

/// The `(before, after)` zeros that keep a stride-1 convolution's output the
/// size of its input: `d·(k − 1)` in total, the odd one after.
///
/// ```
/// assert_eq!(nn_conv::same_padding(3, 1).unwrap(), (1, 1));
/// assert_eq!(nn_conv::same_padding(4, 1).unwrap(), (1, 2));
/// assert_eq!(nn_conv::same_padding(3, 2).unwrap(), (2, 2));
/// ```
pub fn same_padding(kernel: usize, dilation: usize) -> Result<(usize, usize)> {
    check_positive(
        "same_padding",
        &[("kernel", kernel), ("dilation", dilation)],
    )?;
    let total = dilation * (kernel - 1);
    Ok((total / 2, total - total / 2))
}

/// The `(before, after)` zeros of `"valid"` padding: none.
pub fn valid_padding() -> (usize, usize) {
    (0, 0)
}

fn check_positive(op: &'static str, values: &[(&str, usize)]) -> Result<()> {
    for &(name, v) in values {
        if v == 0 {
            return Err(TensorError::invalid(
                op,
                format!("{name} must be positive, got 0"),
            ));
        }
    }
    Ok(())
}

/// The positions a window spans, `d·(k − 1) + 1`, once its kernel size,
/// stride and dilation are known to be positive.
fn kernel_span(op: &'static str, kernel: usize, stride: usize, dilation: usize) -> Result<usize> {
    check_positive(
        op,
        &[
            ("kernel_size", kernel),
            ("stride", stride),
            ("dilation", dilation),
        ],
    )?;
    Ok(dilation * (kernel - 1) + 1)
}

/// The room `padded − span` a window leaves in the padded input, or an
/// error when it does not fit (`padding` shown as the caller takes it).
fn room_in(
    op: &'static str,
    span: usize,
    input: usize,
    padded: usize,
    kernel: usize,
    dilation: usize,
    padding: impl std::fmt::Debug,
) -> Result<usize> {
    if span > padded {
        return Err(TensorError::invalid(
            op,
            format!(
                "kernel {kernel} with dilation {dilation} spans {span} positions, more than \
                 the padded input {padded} (input {input}, padding {padding:?})"
            ),
        ));
    }
    Ok(padded - span)
}

/// Output length of a convolution along one dim:
/// `floor((n + 2p − d·(k − 1) − 1)/s) + 1`.
///
/// Errors for a zero kernel, stride or dilation, and when the dilated kernel
/// does not fit in the padded input.
pub fn conv_output_size(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> Result<usize> {
    conv_output_size_asym(input, kernel, stride, (padding, padding), dilation)
}

/// [`conv_output_size`] with different padding before and after (the
/// `"same"` padding of an even kernel).
pub fn conv_output_size_asym(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: (usize, usize),
    dilation: usize,
) -> Result<usize> {
    let op = "conv_output_size";
    let span = kernel_span(op, kernel, stride, dilation)?;
    let padded = input + padding.0 + padding.1;
    let room = room_in(op, span, input, padded, kernel, dilation, padding)?;
    Ok(room / stride + 1)
}

/// Output length of a transposed convolution along one dim:
/// `(n − 1)·s − 2p + d·(k − 1) + output_padding + 1`.
///
/// Errors for a zero kernel, stride or dilation, an `output_padding` not
/// smaller than the stride or the dilation, and a size that would be zero or
/// negative (padding removing more than the output holds).
pub fn conv_transpose_output_size(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    output_padding: usize,
    dilation: usize,
) -> Result<usize> {
    let op = "conv_transpose_output_size";
    check_positive(
        op,
        &[
            ("input size", input),
            ("kernel_size", kernel),
            ("stride", stride),
            ("dilation", dilation),
        ],
    )?;
    if output_padding >= stride && output_padding >= dilation {
        return Err(TensorError::invalid(
            op,
            format!(
                "output_padding {output_padding} must be smaller than the stride {stride} \
                 or the dilation {dilation}"
            ),
        ));
    }
    let full = (input - 1) * stride + dilation * (kernel - 1) + output_padding + 1;
    if 2 * padding >= full {
        return Err(TensorError::invalid(
            op,
            format!(
                "padding {padding} on both sides removes the whole output of size {full} \
                 (input {input}, kernel {kernel}, stride {stride}, dilation {dilation})"
            ),
        ));
    }
    Ok(full - 2 * padding)
}

/// Output length of a max or average pool along one dim.
///
/// `floor((n + 2p − d·(k − 1) − 1)/s) + 1`, with `ceil` instead of `floor`
/// when `ceil_mode`; then, in ceil mode, the last window must start inside
/// the input or the left padding, so a window starting in the right padding
/// is dropped. Errors for a zero kernel, stride or dilation, a padding larger
/// than half the dilated kernel (PyTorch's rule: such a window could see only
/// padding), and a kernel that does not fit in the padded input.
pub fn pool_output_size(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
    ceil_mode: bool,
) -> Result<usize> {
    let op = "pool_output_size";
    let span = kernel_span(op, kernel, stride, dilation)?;
    if padding > span / 2 {
        return Err(TensorError::invalid(
            op,
            format!(
                "padding {padding} must be at most half the kernel span {span} \
                 (kernel {kernel}, dilation {dilation})"
            ),
        ));
    }
    let room = room_in(
        op,
        span,
        input,
        input + 2 * padding,
        kernel,
        dilation,
        padding,
    )?;
    let mut out = if ceil_mode {
        room.div_ceil(stride) + 1
    } else {
        room / stride + 1
    };
    if ceil_mode && (out - 1) * stride >= input + padding {
        out -= 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn conv_sizes_follow_the_course_formula() {
        assert_eq!(conv_output_size(32, 5, 1, 0, 1).unwrap(), 28);
        assert_eq!(conv_output_size(7, 3, 2, 1, 1).unwrap(), 4);
        assert_eq!(conv_output_size(7, 3, 1, 0, 3).unwrap(), 1);
        assert_eq!(conv_output_size(100, 7, 4, 2, 1).unwrap(), 25);
        assert_eq!(conv_output_size_asym(10, 4, 1, (1, 2), 1).unwrap(), 10);
    }

    #[test]
    fn transpose_sizes_invert_strided_convs() {
        assert_eq!(conv_transpose_output_size(5, 4, 2, 1, 0, 1).unwrap(), 10);
        assert_eq!(conv_transpose_output_size(8, 3, 2, 1, 1, 1).unwrap(), 16);
        assert_eq!(conv_transpose_output_size(3, 3, 3, 1, 2, 1).unwrap(), 9);
        for n in 1..20 {
            let down = conv_output_size(n, 3, 2, 1, 1).unwrap();
            let op = (n + 2 - 3) % 2;
            assert_eq!(conv_transpose_output_size(down, 3, 2, 1, op, 1).unwrap(), n);
        }
    }

    #[test]
    fn pool_sizes_with_ceil_mode_and_the_last_window_rule() {
        assert_eq!(pool_output_size(5, 2, 2, 0, 1, true).unwrap(), 3);
        assert_eq!(pool_output_size(5, 2, 2, 0, 1, false).unwrap(), 2);
        // ceil gives 4, but the 4th window would start in the right padding.
        assert_eq!(pool_output_size(5, 2, 2, 1, 1, true).unwrap(), 3);
        assert_eq!(pool_output_size(10, 3, 2, 1, 2, true).unwrap(), 5);
        assert_eq!(pool_output_size(112, 3, 2, 1, 1, false).unwrap(), 56);
    }

    #[test]
    fn same_and_valid_padding() {
        assert_eq!(same_padding(5, 1).unwrap(), (2, 2));
        assert_eq!(same_padding(2, 3).unwrap(), (1, 2));
        assert_eq!(valid_padding(), (0, 0));
        let p = Padding::<2>::Same.resolve([4, 3], [1, 1], [1, 2]).unwrap();
        assert_eq!(p, [(1, 2), (2, 2)]);
        assert_eq!(Padding::<1>::parse("valid"), Some(Padding::Valid));
        assert_eq!(Padding::<1>::parse("full"), None);
    }

    #[test]
    fn error_zero_stride() {
        assert_eq!(
            msg(conv_output_size(8, 3, 0, 0, 1)),
            "conv_output_size: stride must be positive, got 0"
        );
    }

    #[test]
    fn error_zero_kernel() {
        assert!(
            msg(pool_output_size(8, 0, 1, 0, 1, false)).contains("kernel_size must be positive")
        );
    }

    #[test]
    fn error_zero_dilation() {
        assert!(
            msg(conv_transpose_output_size(4, 3, 1, 0, 0, 0)).contains("dilation must be positive")
        );
    }

    #[test]
    fn error_kernel_larger_than_padded_input() {
        assert_eq!(
            msg(conv_output_size(4, 3, 1, 0, 2)),
            "conv_output_size: kernel 3 with dilation 2 spans 5 positions, more than the \
             padded input 4 (input 4, padding (0, 0))"
        );
        assert!(
            msg(pool_output_size(2, 3, 1, 0, 1, false)).contains("more than the padded input 2")
        );
    }

    #[test]
    fn error_output_padding_not_smaller_than_stride_or_dilation() {
        assert_eq!(
            msg(conv_transpose_output_size(4, 3, 2, 1, 2, 1)),
            "conv_transpose_output_size: output_padding 2 must be smaller than the stride 2 \
             or the dilation 1"
        );
        // Smaller than the dilation is enough.
        assert!(conv_transpose_output_size(4, 3, 1, 0, 1, 2).is_ok());
    }

    #[test]
    fn error_transpose_padding_eats_the_output() {
        assert!(
            msg(conv_transpose_output_size(1, 1, 1, 1, 0, 1)).contains("removes the whole output")
        );
    }

    #[test]
    fn error_pool_padding_over_half_the_kernel() {
        assert!(
            msg(pool_output_size(8, 3, 1, 2, 1, false)).contains("at most half the kernel span 3")
        );
    }

    #[test]
    fn error_same_padding_with_stride() {
        let e = Padding::<2>::Same
            .resolve([3, 3], [2, 1], [1, 1])
            .unwrap_err();
        assert!(e.to_string().contains("padding=\"same\" needs stride 1"));
    }
}
