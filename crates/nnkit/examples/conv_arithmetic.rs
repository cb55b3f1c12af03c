//! The course's convolution arithmetic, o = ⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1
//! (which is (n − k + 2p)/s + 1 when d = 1), checked against the layers:
//! each row of the table computes the size with the public output-size
//! functions and then runs the op on zeros to show the layer agrees.
//! Covers 1-D and 2-D convolution, dilation, transposed convolution,
//! max and average pooling (with `ceil_mode`), a setting the formula rejects,
//! and shows that a transposed convolution restores the size a strided
//! convolution removed (with `output_padding` to pick among the sizes that
//! map to the same output).
//!
//! `cargo run --release -p nnkit --example conv_arithmetic -- [--seed N]`

mod common;

use nnkit::conv::{
    avg_pool2d, conv1d, conv2d, conv_output_size, conv_transpose1d, conv_transpose2d,
    conv_transpose_output_size, max_pool1d, max_pool2d, pool_output_size, AvgPoolOptions,
    ConvOptions, ConvTransposeOptions, MaxPoolOptions,
};
use nnkit::prelude::*;

/// One line of the table: what the formula says and what the op produced.
struct Row {
    case: &'static str,
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
    note: String,
    formula: usize,
    layer: usize,
}

fn zeros(shape: &[usize]) -> Var<f32> {
    Var::constant(Tensor::zeros(shape))
}

fn weights(shape: &[usize], rng: &mut Rng) -> Var<f32> {
    Var::constant(Tensor::rand_normal(shape, 0.0, 0.1, rng))
}

fn main() {
    let args = common::Args::parse("conv_arithmetic", &[]);
    let seed = args.seed();
    let mut rng = Rng::seed_from(seed);
    let mut rows: Vec<Row> = Vec::new();

    // Convolutions: (case, n, k, s, p, d), run as 1-D on [1, 2, n] or 2-D on [1, 2, n, n].
    let convs: [(&str, usize, usize, usize, usize, usize); 9] = [
        ("conv1d", 10, 3, 1, 0, 1),
        ("conv1d", 10, 3, 2, 1, 1),
        ("conv1d dilated", 10, 3, 1, 0, 2),
        ("conv2d LeNet c1", 28, 5, 1, 2, 1),
        ("conv2d LeNet c3", 14, 5, 1, 0, 1),
        ("conv2d", 32, 3, 1, 1, 1),
        ("conv2d strided", 32, 3, 2, 1, 1),
        ("conv2d ResNet stem", 224, 7, 2, 3, 1),
        ("conv2d dilated", 32, 3, 1, 2, 2),
    ];
    for (case, n, k, s, p, d) in convs {
        let formula = conv_output_size(n, k, s, p, d).expect("valid setting");
        let layer = if case.starts_with("conv1d") {
            let o = ConvOptions::<1>::default().stride(s).padding(p).dilation(d);
            conv1d(&zeros(&[1, 2, n]), &weights(&[3, 2, k], &mut rng), None, &o).shape()[2]
        } else {
            let o = ConvOptions::<2>::default().stride(s).padding(p).dilation(d);
            let y = conv2d(
                &zeros(&[1, 2, n, n]),
                &weights(&[3, 2, k, k], &mut rng),
                None,
                &o,
            );
            assert_eq!(y.shape()[2], y.shape()[3]);
            y.shape()[2]
        };
        rows.push(Row {
            case,
            input: n,
            kernel: k,
            stride: s,
            padding: p,
            dilation: d,
            note: String::new(),
            formula,
            layer,
        });
    }

    // Transposed convolutions: o = (n − 1)s − 2p + d(k − 1) + output_padding + 1.
    let transposed: [(&str, usize, usize, usize, usize, usize, usize); 4] = [
        ("conv_transpose1d", 5, 3, 1, 0, 1, 0),
        ("conv_transpose1d", 5, 3, 2, 1, 1, 1),
        ("conv_transpose2d", 7, 4, 2, 1, 1, 0),
        ("conv_transpose2d DCGAN", 4, 4, 2, 1, 1, 0),
    ];
    for (case, n, k, s, p, d, op) in transposed {
        let formula = conv_transpose_output_size(n, k, s, p, op, d).expect("valid setting");
        let layer = if case.starts_with("conv_transpose1d") {
            let o = ConvTransposeOptions::<1>::default()
                .stride(s)
                .padding(p)
                .output_padding(op)
                .dilation(d);
            conv_transpose1d(&zeros(&[1, 2, n]), &weights(&[2, 3, k], &mut rng), None, &o).shape()
                [2]
        } else {
            let o = ConvTransposeOptions::<2>::default()
                .stride(s)
                .padding(p)
                .output_padding(op)
                .dilation(d);
            let w = weights(&[2, 3, k, k], &mut rng);
            conv_transpose2d(&zeros(&[1, 2, n, n]), &w, None, &o).shape()[2]
        };
        rows.push(Row {
            case,
            input: n,
            kernel: k,
            stride: s,
            padding: p,
            dilation: d,
            note: format!("output_padding {op}"),
            formula,
            layer,
        });
    }

    // Pooling: (case, n, k, s, p, d, ceil_mode).
    let pools: [(&str, usize, usize, usize, usize, usize, bool); 6] = [
        ("max_pool1d", 9, 3, 2, 0, 1, false),
        ("max_pool1d ceil", 9, 2, 2, 0, 1, true),
        ("max_pool2d LeNet s2", 28, 2, 2, 0, 1, false),
        ("max_pool2d ResNet", 112, 3, 2, 1, 1, false),
        ("max_pool2d dilated", 11, 3, 1, 0, 2, false),
        ("avg_pool2d ceil", 7, 2, 2, 0, 1, true),
    ];
    for (case, n, k, s, p, d, ceil) in pools {
        let formula = pool_output_size(n, k, s, p, d, ceil).expect("valid setting");
        let layer = if case.starts_with("max_pool1d") {
            let o = MaxPoolOptions::<1>::new(k)
                .stride(s)
                .padding(p)
                .dilation(d)
                .ceil_mode(ceil);
            max_pool1d(&zeros(&[1, 2, n]), &o).shape()[2]
        } else if case.starts_with("max_pool2d") {
            let o = MaxPoolOptions::<2>::new(k)
                .stride(s)
                .padding(p)
                .dilation(d)
                .ceil_mode(ceil);
            max_pool2d(&zeros(&[1, 2, n, n]), &o).shape()[2]
        } else {
            let o = AvgPoolOptions::<2>::new(k)
                .stride(s)
                .padding(p)
                .ceil_mode(ceil);
            avg_pool2d(&zeros(&[1, 2, n, n]), &o).shape()[2]
        };
        rows.push(Row {
            case,
            input: n,
            kernel: k,
            stride: s,
            padding: p,
            dilation: d,
            note: if ceil {
                "ceil_mode".into()
            } else {
                String::new()
            },
            formula,
            layer,
        });
    }

    eprintln!(
        "{:<24} {:>5} {:>6} {:>6} {:>7} {:>8}  {:<17} {:>7} {:>5}",
        "case", "n", "kernel", "stride", "padding", "dilation", "extra", "formula", "layer"
    );
    for r in &rows {
        eprintln!(
            "{:<24} {:>5} {:>6} {:>6} {:>7} {:>8}  {:<17} {:>7} {:>5}{}",
            r.case,
            r.input,
            r.kernel,
            r.stride,
            r.padding,
            r.dilation,
            r.note,
            r.formula,
            r.layer,
            if r.formula == r.layer {
                ""
            } else {
                "  MISMATCH"
            }
        );
    }
    let all_match = rows.iter().all(|r| r.formula == r.layer);

    // A kernel larger than the padded input has no valid position.
    let impossible = conv_output_size(4, 7, 1, 1, 1);
    match &impossible {
        Err(e) => eprintln!("\nconv_output_size(n 4, k 7, s 1, p 1): {e}"),
        Ok(o) => eprintln!("\nconv_output_size(n 4, k 7, s 1, p 1) unexpectedly gave {o}"),
    }

    // A stride-2 convolution halves 28 → 14; the transposed convolution with
    // the same kernel, stride and padding maps 14 back to 27 or 28: both
    // 27 and 28 convolve to 14, so output_padding 1 chooses 28.
    let (n, k, s, p) = (28, 3, 2, 1);
    let x = Var::constant(Tensor::<f32>::rand_normal(
        &[1, 1, n, n],
        0.0,
        1.0,
        &mut rng,
    ));
    let down = conv2d(
        &x,
        &weights(&[4, 1, k, k], &mut rng),
        None,
        &ConvOptions::default().stride(s).padding(p),
    );
    let w_up = weights(&[4, 1, k, k], &mut rng);
    let up = |output_padding: usize| {
        let o = ConvTransposeOptions::default()
            .stride(s)
            .padding(p)
            .output_padding(output_padding);
        conv_transpose2d(&down, &w_up, None, &o).shape().to_vec()
    };
    let (up0, up1) = (up(0), up(1));
    eprintln!(
        "\nstrided convolution (k {k}, s {s}, p {p}): {:?} -> {:?}",
        x.shape(),
        down.shape()
    );
    eprintln!(
        "transposed convolution, output_padding 0: {:?} -> {up0:?}",
        down.shape()
    );
    eprintln!(
        "transposed convolution, output_padding 1: {:?} -> {up1:?}",
        down.shape()
    );
    let restored = up1 == x.shape();
    eprintln!(
        "the transposed convolution {} the {n}×{n} size",
        if restored {
            "restores"
        } else {
            "does NOT restore"
        }
    );

    println!(
        "{}",
        serde_json::json!({
            "example": "conv_arithmetic",
            "seed": seed,
            "rows": rows.len(),
            "all_match": all_match,
            "impossible_rejected": impossible.is_err(),
            "downsampled": down.shape(),
            "upsampled_output_padding_0": up0,
            "upsampled_output_padding_1": up1,
            "restored": restored,
        })
    );
    if !(all_match && restored && impossible.is_err()) {
        std::process::exit(1);
    }
}
