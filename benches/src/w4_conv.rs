//! W4: one convolution layer, conv2d 64→64 with a 3×3 kernel, padding 1, no
//! bias, on an input of 8×64×56×56 drawn from U[-1, 1), in f32.
//!
//! * `W4_conv_fwd`: the forward pass alone, without a graph (`no_grad`);
//!   2·8·64·56·56·64·9 flops per call;
//! * `W4_conv_fwd_bwd`: forward, then the backward pass of `sum(y)` giving
//!   the gradients of the input and of the weight; counted as 3× the
//!   forward flops, as the README does.

use nn_autograd::{no_grad, Parameter, Var};
use nn_conv::{conv2d, ConvOptions};
use nn_tensor::{Rng, Tensor};

use crate::timing::TimingPlan;
use crate::workload::Workload;

/// `[N, C_in, H, W]` of the input.
pub const INPUT: [usize; 4] = [8, 64, 56, 56];
/// Output channels.
pub const C_OUT: usize = 64;
/// Kernel height and width.
pub const KERNEL: usize = 3;

/// GFLOP of one forward pass: 2 · N · C_out · H · W · C_in · k².
pub fn forward_gflop() -> f64 {
    let [n, c, h, w] = INPUT;
    2.0 * (n * C_OUT * h * w * c * KERNEL * KERNEL) as f64 / 1e9
}

/// The input and the layer's weight (PyTorch's default init for a
/// `Conv2d`, U(−1/√fan_in, 1/√fan_in), from seed 0).
pub fn setup() -> (Tensor<f32>, Parameter<f32>) {
    let mut rng = Rng::seed_from(0);
    let fan_in = INPUT[1] * KERNEL * KERNEL;
    let bound = 1.0 / (fan_in as f64).sqrt();
    let w = Tensor::rand_uniform(&[C_OUT, INPUT[1], KERNEL, KERNEL], -bound, bound, &mut rng);
    let x = Tensor::rand_uniform(&INPUT, -1.0, 1.0, &mut rng);
    (x, Parameter::new(w))
}

fn options() -> ConvOptions<2> {
    ConvOptions::default().padding(1)
}

/// `W4_conv_fwd` and `W4_conv_fwd_bwd`.
pub fn workloads() -> Vec<Workload> {
    let plan = TimingPlan {
        warmup: 2,
        target_seconds: 0.5,
        samples: 5,
    };
    vec![
        Workload {
            name: "W4_conv_fwd".to_string(),
            metric: "GFLOP/s",
            units_per_call: forward_gflop(),
            plan,
            setup: Box::new(|| {
                let (x, w) = setup();
                let (x, w) = (Var::constant(x), Var::constant(w.value()));
                Box::new(move || {
                    let y = no_grad(|| conv2d(&x, &w, None, &options()));
                    std::hint::black_box(y);
                })
            }),
        },
        Workload {
            name: "W4_conv_fwd_bwd".to_string(),
            metric: "GFLOP/s(3x fwd flops)",
            units_per_call: 3.0 * forward_gflop(),
            plan,
            setup: Box::new(|| {
                let (x, w) = setup();
                let x = Var::leaf(x);
                Box::new(move || {
                    let grads = conv2d(&x, &w.var(), None, &options()).sum().backward();
                    std::hint::black_box(grads);
                })
            }),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flop_count_and_gradients() {
        // 2 · 8 · 64 · 56 · 56 · 64 · 9 = 1,849,688,064.
        assert!((forward_gflop() - 1.849688064).abs() < 1e-12);
        let (x, w) = setup();
        let x = Var::leaf(x);
        let y = conv2d(&x, &w.var(), None, &options());
        assert_eq!(y.shape(), &[8, 64, 56, 56]);
        let grads = y.sum().backward();
        assert_eq!(grads.get(&x).unwrap().shape(), &INPUT);
        assert_eq!(grads.get_id(w.id()).unwrap().shape(), &[64, 64, 3, 3]);
    }
}
