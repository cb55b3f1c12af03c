//! # The course book's worked computations, with the book's numbers
//!
//! One test per computation the book works by hand, asserting its figures
//! (exactly where the book is exact):
//!
//! ```text
//! cargo test --release -p nnkit --test book -- --nocapture
//! ```
//!
//! prints the 2-d convolution example both ways (the book's true
//! convolution and the library's cross-correlation).

use nnkit::autograd::{MseLoss, Reduction, SquaredLoss, Var};
use nnkit::conv::layers::{BasicBlockConfig, Conv2dConfig};
use nnkit::conv::{conv1d, conv2d, conv_output_size, convolve2d, ConvOptions};
use nnkit::layers::{summary, Forward, Module, Sequential};
use nnkit::optim::SgdConfig;
use nnkit::tensor::{Rng, Tensor};

fn matrix(rows: &[&[f64]]) -> Tensor<f64> {
    let cols = rows[0].len();
    let data = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_vec(data, &[1, 1, rows.len(), cols])
}

fn print_matrix(title: &str, t: &Tensor<f64>) {
    let w = *t.shape().last().unwrap();
    println!("{title}:");
    for row in t.as_slice().chunks(w) {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:>3}")).collect();
        println!("  [{}]", cells.join(", "));
    }
}

/// Chapter 4.1.2: the 5×5 input and 3×3 kernel. The book flips the kernel
/// (a true convolution); `conv2d` correlates, as PyTorch does, and this
/// kernel turned by 180° is its own negation, so it gives the negated result.
#[test]
fn convolution_5x5_example_both_ways() {
    let x = Var::constant(matrix(&[
        &[1., 1., 1., 1., 1.],
        &[-1., 0., -3., 0., 1.],
        &[2., 1., 1., -1., 0.],
        &[0., -1., 1., 2., 1.],
        &[1., 2., 1., 1., 1.],
    ]));
    let k = Var::constant(matrix(&[&[1., 0., 0.], &[0., 0., 0.], &[0., 0., -1.]]));
    let book = matrix(&[&[0., -2., -1.], &[2., 2., 4.], &[-1., 0., 0.]]);
    let o = ConvOptions::default();
    let convolved = convolve2d(&x, &k, None, &o).value().clone();
    let correlated = conv2d(&x, &k, None, &o).value().clone();
    print_matrix("convolve2d (the book's true convolution)", &convolved);
    print_matrix("conv2d (cross-correlation, as PyTorch)", &correlated);
    assert_eq!(convolved, book);
    assert_eq!(correlated.to_vec(), book.neg().to_vec());
}

/// Chapter 4.2.1: a 7×7×3 input, two 3×3×3 kernels with biases, stride 2,
/// no padding: a 3×3×2 output; the parameter count is
/// kernel size × input channels × kernels + biases, and each output is the
/// sum of 27 products plus the bias.
#[test]
fn seven_by_seven_by_three_stride_two_example() {
    let mut rng = Rng::seed_from(42);
    let conv = Conv2dConfig::new(3, 2, 3)
        .with_stride(2)
        .init::<f64>(&mut rng)
        .unwrap();
    let out = conv_output_size(7, 3, 2, 0, 1).unwrap();
    assert_eq!(out, 3); // ⌊(7 − 3 + 2·0)/2⌋ + 1
    let params: usize = conv.num_parameters();
    assert_eq!(params, 3 * 3 * 3 * 2 + 2);

    // Integer data, so the hand sum below is exact.
    let xs: Vec<f64> = (0..147i32).map(|i| f64::from(i * 7 % 5 - 2)).collect();
    let x = Tensor::from_vec(xs, &[1, 3, 7, 7]);
    let ws: Vec<f64> = (0..54i32).map(|i| f64::from(i * 5 % 3 - 1)).collect();
    conv.weight.set_value(Tensor::from_vec(ws, &[2, 3, 3, 3]));
    conv.bias
        .as_ref()
        .unwrap()
        .set_value(Tensor::from_vec(vec![1.0, 0.0], &[2]));
    let y = conv.forward(Var::constant(x.clone())).value().clone();
    assert_eq!(y.shape(), &[1, 2, 3, 3]);
    let w = conv.weight.value();
    for (o, i, j) in [(0, 0, 0), (1, 2, 1), (0, 1, 2)] {
        let mut acc = [1.0, 0.0][o];
        for c in 0..3 {
            for a in 0..3 {
                for b in 0..3 {
                    acc += x.get(&[0, c, 2 * i + a, 2 * j + b]) * w.get(&[o, c, a, b]);
                }
            }
        }
        assert_eq!(y.get(&[0, o, i, j]), acc);
    }
}

/// Chapter 4.1.5: a convolution layer costs O(M²·K²·C_in·C_out)
/// multiply-accumulates (M the output side, K the kernel side), and a whole
/// network the sum over its layers; `summary` reports the same figures on
/// a concrete network.
#[test]
fn time_complexity_formulas_match_summary() {
    let mut rng = Rng::seed_from(0);
    // (C_in, C_out, K, stride, padding) of a small LeNet-like stack on 28×28.
    let layers = [(1, 6, 5, 1, 2), (6, 16, 5, 2, 0), (16, 32, 3, 2, 1)];
    let mut net = Sequential::<f64>::new();
    let (mut side, mut total) = (28, 0u64);
    let mut expected_rows = Vec::new();
    for &(ci, co, k, s, p) in &layers {
        net = net.append(
            Conv2dConfig::new(ci, co, k)
                .with_stride(s)
                .with_padding(p)
                .init::<f64>(&mut rng)
                .unwrap(),
        );
        side = conv_output_size(side, k, s, p, 1).unwrap();
        let macs = (side * side * k * k * ci * co) as u64;
        total += macs;
        expected_rows.push((macs, k * k * ci * co + co));
    }
    let s = summary(&net, &[1, 1, 28, 28]).unwrap();
    let leaves: Vec<_> = s.rows.iter().filter(|r| !r.is_container).collect();
    assert_eq!(leaves.len(), layers.len());
    for (row, (macs, params)) in leaves.iter().zip(&expected_rows) {
        assert_eq!(row.macs, Some(*macs), "{}", row.name);
        assert_eq!(row.parameters, *params, "{}", row.name);
    }
    assert_eq!(s.total_macs, total);
    println!("{s}");
}

/// Chapter 1.2.2: the book's squared loss ½(y − f)² has the gradient
/// f − y; PyTorch's `mse_loss` (y − f)² has twice that.
#[test]
fn squared_loss_is_half_the_mse() {
    let f = Var::leaf(Tensor::<f64>::from_vec(vec![3.0, -1.0], &[2]));
    let y = Var::constant(Tensor::from_vec(vec![1.0, 1.0], &[2]));
    let book = SquaredLoss::new()
        .with_reduction(Reduction::Sum)
        .forward(&f, &y);
    let mse = MseLoss::new()
        .with_reduction(Reduction::Sum)
        .forward(&f, &y);
    assert_eq!(book.value().item(), 0.5 * (4.0 + 4.0));
    assert_eq!(mse.value().item(), 8.0);
    let g_book = book.backward().get(&f).unwrap().to_vec();
    let g_mse = mse.backward().get(&f).unwrap().to_vec();
    assert_eq!(g_book, vec![2.0, -2.0]); // f − y
    assert_eq!(g_mse, vec![4.0, -4.0]); // 2(f − y)
}

/// Chapter 1.2.3: one step of (full-batch) gradient descent, of stochastic
/// gradient descent on one example, and of mini-batch gradient descent on
/// two, for f(x) = w·x + b under the squared loss ½(y − f)² averaged over
/// the examples used, worked by hand and by the library's `Sgd`.
#[test]
fn gradient_descent_sgd_and_mini_batch_steps() {
    let xs = [1.0, 2.0, 3.0, 4.0];
    let ys = [3.0, 5.0, 7.0, 9.0]; // y = 2x + 1
    let (w0, b0, lr) = (0.5, 0.0, 0.1);
    // By hand: dL/dw = mean((f − y)·x), dL/db = mean(f − y).
    let hand = |idx: &[usize]| {
        let n = idx.len() as f64;
        let (mut gw, mut gb) = (0.0, 0.0);
        for &i in idx {
            let r = w0 * xs[i] + b0 - ys[i];
            gw += r * xs[i] / n;
            gb += r / n;
        }
        (w0 - lr * gw, b0 - lr * gb)
    };
    let library = |idx: &[usize]| {
        let w = nnkit::autograd::Parameter::new(Tensor::from_vec(vec![w0], &[1, 1]));
        let b = nnkit::autograd::Parameter::new(Tensor::from_vec(vec![b0], &[1]));
        let mut opt = SgdConfig::new(lr)
            .init(vec![("w".into(), w.clone()), ("b".into(), b.clone())])
            .unwrap();
        let x = Tensor::from_vec(idx.iter().map(|&i| xs[i]).collect(), &[idx.len(), 1]);
        let y = Tensor::from_vec(idx.iter().map(|&i| ys[i]).collect(), &[idx.len(), 1]);
        let f = Var::constant(x).matmul(&w.var()).add(&b.var());
        opt.step(&f.squared_loss(y).backward());
        (w.value().item(), b.value().item())
    };
    // Full batch: residuals −2.5, −4, −5.5, −7 → gw = −13.75, gb = −4.75.
    let (w, b) = hand(&[0, 1, 2, 3]);
    assert!((w - 1.875).abs() < 1e-12 && (b - 0.475).abs() < 1e-12);
    for idx in [&[0, 1, 2, 3][..], &[2], &[1, 3]] {
        let (hw, hb) = hand(idx);
        let (lw, lb) = library(idx);
        assert!(
            (hw - lw).abs() < 1e-12 && (hb - lb).abs() < 1e-12,
            "{idx:?}"
        );
    }
    // SGD on example 2 alone: residual −5.5 → w = 0.5 + 0.1·5.5·3.
    let (w, b) = hand(&[2]);
    assert!((w - 2.15).abs() < 1e-12 && (b - 0.55).abs() < 1e-12);
}

/// Chapter 4.4: h(x) = x + (h(x) − x). With its residual branch zeroed, a
/// residual block is the identity on the inputs its final ReLU keeps
/// (non-negative ones); the same layers stacked without the shortcut map
/// everything to zero.
#[test]
fn residual_block_with_a_zero_branch_is_the_identity() {
    let mut rng = Rng::seed_from(7);
    let block = BasicBlockConfig::new(4, 4).init::<f64>(&mut rng).unwrap();
    block
        .conv2
        .weight
        .set_value(Tensor::zeros(block.conv2.weight.value().shape()));
    block.eval();
    let x = Tensor::rand_uniform(&[2, 4, 5, 5], 0.0, 2.0, &mut rng);
    let y = block.forward(Var::constant(x.clone())).value().clone();
    assert_eq!(y, x);
    // The plain stack relu(bn2(conv2(relu(bn1(conv1 x))))): no shortcut.
    let h = block
        .bn1
        .forward(block.conv1.forward(Var::constant(x.clone())))
        .relu();
    let plain = block.bn2.forward(block.conv2.forward(&h)).relu();
    assert!(plain.value().as_slice().iter().all(|&v| v == 0.0));
    assert!(x.as_slice().iter().any(|&v| v > 0.0));
}

/// The smallest number of layers after which output position `n − 1`
/// depends on input position 0, read off the input gradient.
fn layers_to_connect(n: usize, layer: impl Fn(&Var<f64>, usize) -> Var<f64>) -> usize {
    let x = Var::leaf(Tensor::from_vec(
        (0..n).map(|i| 0.1 * i as f64 + 0.3).collect(),
        &[1, 1, n],
    ));
    for depth in 1..=n {
        let mut h = x.clone();
        for l in 0..depth {
            h = layer(&h, l);
        }
        let last = h.narrow(2, n - 1, 1).sum();
        if last.backward().get(&x).unwrap().as_slice()[0] != 0.0 {
            return depth;
        }
    }
    panic!("never connected");
}

/// Chapter 6.5: the maximum path length between two positions of a
/// sequence of length n is O(log_k n) for dilated convolutions of kernel k,
/// O(n) for a recurrence and O(1) for self-attention (the table's third
/// column is a path length, not a "computational complexity").
#[test]
fn maximum_path_lengths_of_convolution_recurrence_attention() {
    let k = 3;
    for n in [9, 27, 81] {
        // Causal dilated convolution: layer l has dilation k^l, so L layers
        // see k^L positions back.
        let conv_layers = layers_to_connect(n, |h, l| {
            let w = Var::constant(Tensor::ones(&[1, 1, k]));
            let d = k.pow(l as u32);
            let padded = h.pad(&[(0, 0), (0, 0), (d * (k - 1), 0)], 0.0);
            conv1d(&padded, &w, None, &ConvOptions::default().dilation(d))
        });
        let log = (n as f64).log(k as f64).round() as usize;
        assert_eq!(conv_layers, log, "n = {n}");
        // Recurrence h_t = tanh(h_{t−1} + x_t): each step carries what is
        // known one position further, so position 0 reaches n − 1 only after
        // n − 1 sequential steps.
        let rnn_steps = layers_to_connect(n, |h, _| {
            let shifted = h.pad(&[(0, 0), (0, 0), (1, 0)], 0.0).narrow(2, 0, n);
            shifted.add(h).tanh()
        });
        assert_eq!(rnn_steps, n - 1);
        // Self-attention: every output mixes every position at once.
        let attn_layers = layers_to_connect(n, |h, _| {
            let seq = h.reshape([n, 1]);
            let scores = seq.matmul(&seq.transpose(0, 1)).softmax(1);
            scores.matmul(&seq).reshape([1, 1, n])
        });
        assert_eq!(attn_layers, 1);
        println!("n = {n}: dilated conv {conv_layers} layers (log_{k} n = {log}), recurrence {rnn_steps} steps, self-attention {attn_layers}");
    }
}

// ------------------------------------------------------------ exam notes

/// Chapter 4.2.3, sparse interaction: the gradient of one output of a 3×3
/// convolution with respect to the input is non-zero only in that output's
/// 3×3 receptive field.
#[test]
fn sparse_interaction_gradient_lives_in_the_receptive_field() {
    let mut rng = Rng::seed_from(1);
    let x = Var::leaf(Tensor::<f64>::rand_normal(
        &[1, 1, 8, 8],
        0.0,
        1.0,
        &mut rng,
    ));
    let w = Var::constant(Tensor::rand_uniform(&[1, 1, 3, 3], 0.5, 1.0, &mut rng));
    let y = conv2d(&x, &w, None, &ConvOptions::default());
    let (i, j) = (2, 4);
    let g = y.narrow(2, i, 1).narrow(3, j, 1).sum().backward();
    let g = g.get(&x).unwrap();
    for r in 0..8 {
        for c in 0..8 {
            let inside = (i..i + 3).contains(&r) && (j..j + 3).contains(&c);
            assert_eq!(g.get(&[0, 0, r, c]) != 0.0, inside, "({r}, {c})");
        }
    }
}

/// Chapter 4.2.3, parameter sharing: a 3×3 convolution from 3 to 8
/// channels on 32×32 images has 3·3·3·8 + 8 = 224 parameters; the fully
/// connected layer computing a map between the same input and output sizes
/// has (3·32·32)·(8·30·30) + 8·30·30.
#[test]
fn parameter_sharing_against_the_fully_connected_layer() {
    let mut rng = Rng::seed_from(0);
    let conv = Conv2dConfig::new(3, 8, 3).init::<f32>(&mut rng).unwrap();
    assert_eq!(conv.num_parameters(), 224);
    let (inputs, outputs) = (3 * 32 * 32, 8 * 30 * 30);
    let dense = inputs * outputs + outputs;
    assert_eq!(dense, 22_125_600);
    assert!(dense / conv.num_parameters() > 98_000);
}

/// Chapter 4.2.3, translation equivariance: shifting the input shifts the
/// output by the same amount (away from the border).
#[test]
fn translation_equivariance() {
    let mut rng = Rng::seed_from(2);
    let x = Tensor::<f64>::rand_normal(&[1, 1, 10, 10], 0.0, 1.0, &mut rng);
    let w = Var::constant(Tensor::rand_normal(&[2, 1, 3, 3], 0.0, 1.0, &mut rng));
    let o = ConvOptions::default();
    // Shift right by 2 columns (zeros enter on the left).
    let shifted = x
        .narrow(3, 0, 8)
        .pad(&[(0, 0), (0, 0), (0, 0), (2, 0)], 0.0);
    let y = conv2d(&Var::constant(x), &w, None, &o).value().clone();
    let ys = conv2d(&Var::constant(shifted), &w, None, &o)
        .value()
        .clone();
    // Output columns 2.. of the shifted input are columns ..6 of the original.
    assert_eq!(ys.narrow(3, 2, 6), y.narrow(3, 0, 6));
}

/// Chapter 4.3.3: a 1×1 convolution is a `Linear` applied to every pixel's
/// channel vector; from 16 to 4 channels it is a bottleneck that cuts the
/// next 3×3 layer's cost by 4.
#[test]
fn one_by_one_convolution_is_a_per_pixel_linear() {
    let mut rng = Rng::seed_from(3);
    let conv = Conv2dConfig::new(16, 4, 1).init::<f64>(&mut rng).unwrap();
    let x = Tensor::<f64>::rand_normal(&[2, 16, 5, 5], 0.0, 1.0, &mut rng);
    let y = conv.forward(Var::constant(x.clone())).value().clone();
    // The same map as a Linear on [N·H·W, C_in]: move channels last.
    let fc = nnkit::layers::Linear::from_parameters(
        nnkit::autograd::Parameter::new(conv.weight.value().reshape([4, 16])),
        conv.bias.clone(),
    );
    let pixels = x.permute(&[0, 2, 3, 1]).reshape([50, 16]);
    let per_pixel = fc
        .forward(Var::constant(pixels))
        .value()
        .reshape([2, 5, 5, 4])
        .permute(&[0, 3, 1, 2]);
    for (a, b) in y.as_slice().iter().zip(per_pixel.as_slice()) {
        assert!((a - b).abs() < 1e-12);
    }
    // Bottleneck: a 3×3 conv 16 → 16 against a 1×1 conv 16 → 4 (channel
    // mixing down to 4) then a 3×3 conv 4 → 16, built and counted by the
    // library, weights and multiply-accumulates on an 8×8 input.
    let conv = |i: usize, o: usize, k: usize, rng: &mut Rng| {
        Conv2dConfig::new(i, o, k)
            .with_padding(k / 2)
            .with_bias(false)
            .init::<f64>(rng)
            .unwrap()
    };
    let direct = Sequential::<f64>::new().append(conv(16, 16, 3, &mut rng));
    let bottleneck = Sequential::<f64>::new()
        .append(conv(16, 4, 1, &mut rng))
        .append(conv(4, 16, 3, &mut rng));
    assert_eq!(direct.num_parameters(), 3 * 3 * 16 * 16); // 2,304
    assert_eq!(bottleneck.num_parameters(), 16 * 4 + 3 * 3 * 4 * 16); // 640
    let macs = |m: &Sequential<f64>| summary(m, &[1, 16, 8, 8]).unwrap().total_macs;
    assert_eq!(macs(&direct), 64 * 2304);
    assert_eq!(macs(&bottleneck), 64 * 640);
    let y = bottleneck.forward(Var::constant(x.narrow(2, 0, 4).narrow(3, 0, 4)));
    assert_eq!(y.shape(), &[2, 16, 4, 4]);
}

/// Chapter 7.1: biases start at a constant (0, or 0.01 under ReLU) through
/// `with_bias_initializer`, for `Linear` and the convolutions alike.
#[test]
fn constant_bias_initialisation() {
    use nnkit::layers::{Initializer, LinearConfig};
    let mut rng = Rng::seed_from(4);
    let fc = LinearConfig::new(5, 3)
        .with_bias_initializer(Initializer::Constant(0.01))
        .init::<f64>(&mut rng)
        .unwrap();
    assert_eq!(fc.bias.unwrap().value().to_vec(), vec![0.01; 3]);
    let conv = Conv2dConfig::new(2, 4, 3)
        .with_bias_initializer(Initializer::Zeros)
        .init::<f64>(&mut rng)
        .unwrap();
    assert_eq!(conv.bias.unwrap().value().to_vec(), vec![0.0; 4]);
}
