//! Adaptive average pooling: the window adapts so the output has a chosen
//! size whatever the input size, and the global average pool of ResNet heads.

use nn_autograd::Var;
use nn_tensor::{Element, Result, Tensor, TensorError};
use rayon::prelude::*;

use nn_tensor::or_panic;

/// Below this many input elements pooling stays on the calling thread.
const PARALLEL_ELEMS: usize = 1 << 15;

/// Output cell `i` of `o` over an input of `n` covers
/// `[floor(i·n/o), ceil((i+1)·n/o))`; neighbouring cells may overlap.
fn bounds(i: usize, n: usize, o: usize) -> (usize, usize) {
    (i * n / o, ((i + 1) * n).div_ceil(o))
}

/// 2-d adaptive average pooling. `x: [N, C, H, W]` → `[N, C, Oh, Ow]`.
/// `output_size = [1, 1]` is a global average pool.
///
/// ```
/// use nn_autograd::Var;
/// use nn_conv::adaptive_avg_pool2d;
/// use nn_tensor::Tensor;
/// let x = Var::leaf(Tensor::<f64>::arange(0.0, 6.0, 1.0).reshape(&[1, 1, 1, 6]));
/// let y = adaptive_avg_pool2d(&x, [1, 4]);
/// // Windows [0,2), [1,3), [3,5), [4,6).
/// assert_eq!(y.value().to_vec(), vec![0.5, 1.5, 3.5, 4.5]);
/// ```
#[track_caller]
pub fn adaptive_avg_pool2d<T: Element>(x: &Var<T>, output_size: [usize; 2]) -> Var<T> {
    or_panic(try_adaptive_avg_pool2d(x, output_size))
}

/// Fallible [`adaptive_avg_pool2d`]: errors on a non-4-d input, a zero
/// output size, or an empty spatial input.
pub fn try_adaptive_avg_pool2d<T: Element>(x: &Var<T>, output_size: [usize; 2]) -> Result<Var<T>> {
    let op = "adaptive_avg_pool2d";
    let s = x.shape();
    if s.len() != 4 {
        return Err(TensorError::invalid(
            op,
            format!("input must have 4 dims [N, C, H, W], got shape {s:?}"),
        ));
    }
    let [oh, ow] = output_size;
    let (h, w) = (s[2], s[3]);
    if oh == 0 || ow == 0 || h == 0 || w == 0 {
        return Err(TensorError::invalid(
            op,
            format!("output size {output_size:?} and input size [{h}, {w}] must be positive"),
        ));
    }
    let planes = s[0] * s[1];
    let (hw, ohw) = (h * w, oh * ow);
    let cell = move |i: usize, j: usize| {
        let (h0, h1) = bounds(i, h, oh);
        let (w0, w1) = bounds(j, w, ow);
        (h0, h1, w0, w1, T::of(((h1 - h0) * (w1 - w0)) as f64))
    };
    let par = planes * hw >= PARALLEL_ELEMS;
    let xs = x.as_tensor().as_slice();
    let mut y = vec![T::zero(); planes * ohw];
    let fwd = |(p, yp): (usize, &mut [T])| {
        let plane = &xs[p * hw..(p + 1) * hw];
        for i in 0..oh {
            for j in 0..ow {
                let (h0, h1, w0, w1, n) = cell(i, j);
                let mut acc = T::zero();
                for r in h0..h1 {
                    for &v in &plane[r * w + w0..r * w + w1] {
                        acc += v;
                    }
                }
                yp[i * ow + j] = acc / n;
            }
        }
    };
    if par {
        y.par_chunks_mut(ohw).enumerate().for_each(fwd);
    } else {
        y.chunks_mut(ohw).enumerate().for_each(fwd);
    }
    let y = Tensor::from_vec(y, &[s[0], s[1], oh, ow]);
    let xshape = s.to_vec();
    Ok(Var::from_op(op, y, vec![x.clone()], move |gy| {
        let gs = gy.as_slice();
        let mut dx = vec![T::zero(); planes * hw];
        let bwd = |(p, dp): (usize, &mut [T])| {
            for i in 0..oh {
                for j in 0..ow {
                    let (h0, h1, w0, w1, n) = cell(i, j);
                    let v = gs[p * ohw + i * ow + j] / n;
                    for r in h0..h1 {
                        for d in &mut dp[r * w + w0..r * w + w1] {
                            *d += v;
                        }
                    }
                }
            }
        };
        if par {
            dx.par_chunks_mut(hw).enumerate().for_each(bwd);
        } else {
            dx.chunks_mut(hw).enumerate().for_each(bwd);
        }
        vec![Some(Tensor::from_vec(dx, &xshape))]
    }))
}

/// Global average pooling: `x: [N, C, H, W]` → `[N, C]`, the mean of each
/// channel (the head of a ResNet, before the classifier).
#[track_caller]
pub fn global_avg_pool2d<T: Element>(x: &Var<T>) -> Var<T> {
    or_panic(try_global_avg_pool2d(x))
}

/// Fallible [`global_avg_pool2d`].
pub fn try_global_avg_pool2d<T: Element>(x: &Var<T>) -> Result<Var<T>> {
    let y = try_adaptive_avg_pool2d(x, [1, 1])?;
    let (n, c) = (x.shape()[0], x.shape()[1]);
    y.try_reshape([n, c])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_pool_is_the_channel_mean() {
        let x = Var::leaf(Tensor::<f64>::arange(0.0, 8.0, 1.0).reshape([1, 2, 2, 2]));
        let y = global_avg_pool2d(&x);
        assert_eq!(y.shape(), &[1, 2]);
        assert_eq!(y.value().to_vec(), vec![1.5, 5.5]);
        assert!(try_adaptive_avg_pool2d(&x, [0, 1]).is_err());
    }
}
