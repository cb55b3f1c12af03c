//! The error policy on the graph side: differentiable ops and losses report
//! bad shapes and arguments with the op's name and the shapes or the value,
//! and the panicking twins say exactly the same.

use nn_autograd::ops::loss::{gaussian_kl, try_gaussian_kl};
use nn_autograd::{
    BceLoss, BceWithLogitsLoss, CrossEntropyLoss, HuberLoss, NllLoss, Parameter, Reduction,
    SmoothL1Loss, Var,
};
use nn_tensor::{Tensor, TensorError};
use nn_testkit::errors::same_message;

fn leaf(shape: &[usize]) -> Var<f64> {
    Var::leaf(Tensor::zeros(shape))
}

#[test]
fn arithmetic_mismatch() {
    let (a, b) = (leaf(&[2, 3]), leaf(&[4]));
    same_message(
        a.try_add(&b),
        || a.add(&b),
        "add: shapes [2, 3] and [4] do not match: dimension 1 of the broadcast has sizes 3 and 4",
    );
    same_message(
        a.try_sub(&b),
        || &a - &b,
        "sub: shapes [2, 3] and [4] do not match: dimension 1 of the broadcast has sizes 3 and 4",
    );
    same_message(
        a.try_mul(&b),
        || &a * &b,
        "mul: shapes [2, 3] and [4] do not match: dimension 1 of the broadcast has sizes 3 and 4",
    );
    same_message(
        a.try_div(&b),
        || a.div(&b),
        "div: shapes [2, 3] and [4] do not match: dimension 1 of the broadcast has sizes 3 and 4",
    );
}

#[test]
#[should_panic(
    expected = "maximum: shapes [2] and [3] do not match: dimension 0 of the broadcast has sizes 2 and 3"
)]
fn maximum_mismatch_panics() {
    let _ = leaf(&[2]).maximum(&leaf(&[3]));
}

#[test]
#[should_panic(expected = "where: shapes [2] and [3] do not match")]
fn where_else_mismatch_panics() {
    let _ = leaf(&[2]).where_else(&Tensor::ones(&[2]), &leaf(&[3]));
}

#[test]
fn matmul_mismatch() {
    let (a, b) = (leaf(&[2, 3]), leaf(&[4, 2]));
    same_message(
        a.try_matmul_t(&b, false, false),
        || a.matmul(&b),
        "matmul: shapes [2, 3] and [4, 2] do not match: inner dimensions 3 and 4 differ",
    );
    same_message(
        a.try_matmul_t(&b, false, true),
        || a.matmul_t(&b, false, true),
        "matmul: shapes [2, 3] and [4, 2] do not match: inner dimensions 3 and 2 differ",
    );
}

#[test]
#[should_panic(
    expected = "matmul: shapes [3] and [3, 2] do not match: both operands need at least 2 dims"
)]
fn matmul_of_a_vector_panics() {
    let _ = leaf(&[3]).matmul(&leaf(&[3, 2]));
}

#[test]
fn reshape_mismatch() {
    let a = leaf(&[2, 3]);
    same_message(
        a.try_reshape([4]),
        || a.reshape([4]),
        "reshape: shapes [2, 3] and [4] do not match: 6 elements cannot take a shape of 4",
    );
}

#[test]
#[should_panic(
    expected = "concat: shapes [2, 2] and [2, 3] do not match: all dims but 0 must agree"
)]
fn concat_mismatch_panics() {
    let _ = Var::concat(&[&leaf(&[2, 2]), &leaf(&[2, 3])], 0);
}

#[test]
#[should_panic(expected = "stack: shapes [2] and [3] do not match: all shapes must be equal")]
fn stack_mismatch_panics() {
    let _ = Var::stack(&[&leaf(&[2]), &leaf(&[3])], 0);
}

#[test]
#[should_panic(expected = "narrow: range 1..4 is outside dimension 0 of shape [3]")]
fn narrow_out_of_range_panics() {
    let _ = leaf(&[3]).narrow(0, 1, 3);
}

#[test]
#[should_panic(expected = "split: sizes [1, 1] do not add up to dimension 0 of shape [3]")]
fn split_sizes_panic() {
    let _ = leaf(&[3]).split(0, &[1, 1]);
}

#[test]
#[should_panic(expected = "index_select: index 4 out of range for dimension 0 of shape [3]")]
fn index_select_out_of_range_panics() {
    let _ = leaf(&[3]).index_select(0, &[4]);
}

#[test]
#[should_panic(expected = "permute: [1, 1] is not a permutation of the dims of shape [2, 3]")]
fn permute_invalid_panics() {
    let _ = leaf(&[2, 3]).permute(&[1, 1]);
}

#[test]
#[should_panic(expected = "sum: dimension 2 is out of range for a tensor of rank 2")]
fn sum_dims_out_of_range_panics() {
    let _ = leaf(&[2, 3]).sum_dims(&[2], false);
}

#[test]
#[should_panic(expected = "softmax: dimension -3 is out of range for a tensor of rank 2")]
fn softmax_dim_out_of_range_panics() {
    let _ = leaf(&[2, 3]).softmax(-3);
}

#[test]
fn cross_entropy_errors() {
    let x = leaf(&[2, 3]);
    same_message(
        x.try_cross_entropy(&[0, 3]),
        || x.cross_entropy(&[0, 3]),
        "cross_entropy: target class 3 is out of range for 3 classes",
    );
    same_message(
        x.try_cross_entropy(&[0]),
        || x.cross_entropy(&[0]),
        "cross_entropy: 1 targets for input of shape [2, 3], which has 2 positions",
    );
    let mut ce = CrossEntropyLoss::new();
    ce.label_smoothing = 1.5; // a field set directly is checked when used
    same_message(
        ce.try_forward(&x, &[0, 1]),
        || ce.forward(&x, &[0, 1]),
        "cross_entropy: label_smoothing 1.5 is outside [0, 1]",
    );
    assert_eq!(
        CrossEntropyLoss::<f64>::new()
            .with_label_smoothing(-0.1)
            .unwrap_err()
            .to_string(),
        "CrossEntropyLoss: label_smoothing = -0.1 is outside [0, 1]"
    );
    let v = leaf(&[3]);
    same_message(
        v.try_cross_entropy(&[0]),
        || v.cross_entropy(&[0]),
        "cross_entropy: input of shape [3] needs a class dim 1",
    );
    // Extra dims: [N, C, L] needs N·L targets.
    let x3 = leaf(&[2, 3, 4]);
    same_message(
        x3.try_cross_entropy(&[0; 6]),
        || x3.cross_entropy(&[0; 6]),
        "cross_entropy: 6 targets for input of shape [2, 3, 4], which has 8 positions",
    );
    // Class probabilities must have the logits' shape.
    let p = Tensor::zeros(&[2, 4]);
    same_message(
        x.try_cross_entropy(&p),
        || x.cross_entropy(&p),
        "cross_entropy: shapes [2, 3] and [2, 4] do not match: input and target must have the same shape",
    );
    // Class weights of the wrong length name the loss and both shapes.
    let weighted = CrossEntropyLoss::new().with_weight(Tensor::ones(&[4]));
    same_message(
        weighted.try_forward(&x, &[0, 1]),
        || weighted.forward(&x, &[0, 1]),
        "cross_entropy: shapes [2, 3] and [4] do not match: class weights must have shape [3]",
    );
    same_message(
        weighted.try_forward(&x, Tensor::zeros(&[2, 3])),
        || weighted.forward(&x, Tensor::zeros(&[2, 3])),
        "cross_entropy: shapes [2, 3] and [4] do not match: class weights must have shape [3]",
    );
    // An ignored index may lie outside the classes; others may not.
    let padded = CrossEntropyLoss::new().with_ignore_index(7);
    assert!(padded.try_forward(&x, &[7, 1]).is_ok());
    same_message(
        padded.try_forward(&x, &[7, 3]),
        || padded.forward(&x, &[7, 3]),
        "cross_entropy: target class 3 is out of range for 3 classes",
    );
    // PyTorch refuses an ignored index with class probabilities too.
    same_message(
        padded.try_forward(&x, Tensor::zeros(&[2, 3])),
        || padded.forward(&x, Tensor::zeros(&[2, 3])),
        "cross_entropy: ignore_index 7 applies to class indices, not to class probabilities of shape [2, 3]",
    );
    assert!(matches!(
        x.try_cross_entropy(&[9, 0]),
        Err(TensorError::InvalidArgument {
            op: "cross_entropy",
            ..
        })
    ));
}

#[test]
fn nll_loss_errors() {
    let x = leaf(&[2, 3]);
    same_message(
        x.try_nll_loss(&[5, 0]),
        || x.nll_loss(&[5, 0]),
        "nll_loss: target class 5 is out of range for 3 classes",
    );
    let nll = NllLoss::new().with_weight(Tensor::ones(&[2]));
    same_message(
        nll.try_forward(&x, &[0, 1]),
        || nll.forward(&x, &[0, 1]),
        "nll_loss: shapes [2, 3] and [2] do not match: class weights must have shape [3]",
    );
    let padded = NllLoss::new().with_ignore_index(9);
    assert!(padded.try_forward(&x, &[9, 1]).is_ok());
    same_message(
        padded.try_forward(&x, &[9, 3]),
        || padded.forward(&x, &[9, 3]),
        "nll_loss: target class 3 is out of range for 3 classes",
    );
    let values = Tensor::zeros(&[2, 3]);
    same_message(
        x.try_nll_loss(&values),
        || x.nll_loss(&values),
        "nll_loss: expects class indices as target, got a tensor of shape [2, 3]",
    );
}

#[test]
fn regression_loss_errors() {
    let (a, b) = (leaf(&[2, 3]), leaf(&[3, 2]));
    same_message(
        a.try_mse_loss(&b),
        || a.mse_loss(&b),
        "mse_loss: shapes [2, 3] and [3, 2] do not match: input and target must have the same shape",
    );
    same_message(
        a.try_l1_loss(&b),
        || a.l1_loss(&b),
        "l1_loss: shapes [2, 3] and [3, 2] do not match: input and target must have the same shape",
    );
    same_message(
        a.try_huber_loss(&b),
        || a.huber_loss(&b),
        "huber_loss: shapes [2, 3] and [3, 2] do not match: input and target must have the same shape",
    );
    let mut huber = HuberLoss::new();
    huber.delta = 0.0;
    same_message(
        huber.try_forward(&a, &a),
        || huber.forward(&a, &a),
        "huber_loss: delta 0 must be positive",
    );
    assert_eq!(
        HuberLoss::new().with_delta(0.0).unwrap_err().to_string(),
        "HuberLoss: delta = 0 must be > 0"
    );
    same_message(
        a.try_smooth_l1_loss(&b),
        || a.smooth_l1_loss(&b),
        "smooth_l1_loss: shapes [2, 3] and [3, 2] do not match: input and target must have the same shape",
    );
    let mut smooth = SmoothL1Loss::new();
    smooth.beta = -1.0;
    same_message(
        smooth.try_forward(&a, &a),
        || smooth.forward(&a, &a),
        "smooth_l1_loss: beta -1 must be >= 0",
    );
    assert!(SmoothL1Loss::new().with_beta(-1.0).is_err());
    // Class indices where values are meant name the loss and both sides.
    same_message(
        a.try_mse_loss(&[0, 1]),
        || a.mse_loss(&[0, 1]),
        "mse_loss: expects a target tensor like the input [2, 3], got 2 class indices",
    );
    same_message(
        a.try_squared_loss(&[0, 1]),
        || a.squared_loss(&[0, 1]),
        "squared_loss: expects a target tensor like the input [2, 3], got 2 class indices",
    );
}

#[test]
fn bce_with_logits_errors() {
    let x = leaf(&[2, 3]);
    let t = Tensor::zeros(&[3, 2]);
    same_message(
        x.try_binary_cross_entropy_with_logits(&t),
        || x.binary_cross_entropy_with_logits(&t),
        "binary_cross_entropy_with_logits: shapes [2, 3] and [3, 2] do not match: input and target must have the same shape",
    );
    let t = Tensor::zeros(&[2, 3]);
    let bce = BceWithLogitsLoss::new().with_pos_weight(Tensor::ones(&[2]));
    same_message(
        bce.try_forward(&x, &t),
        || bce.forward(&x, &t),
        "binary_cross_entropy_with_logits: shapes [2, 3] and [2] do not match: pos_weight must broadcast along the last dim",
    );
    let bce = BceWithLogitsLoss::new().with_weight(Tensor::ones(&[4]));
    same_message(
        bce.try_forward(&x, &t),
        || bce.forward(&x, &t),
        "binary_cross_entropy_with_logits: shapes [2, 3] and [4] do not match: weight must broadcast to the input's shape",
    );
    same_message(
        x.try_binary_cross_entropy_with_logits(&[0, 1]),
        || x.binary_cross_entropy_with_logits(&[0, 1]),
        "binary_cross_entropy_with_logits: expects a target tensor like the input [2, 3], got 2 class indices",
    );
}

#[test]
fn bce_errors() {
    let p = Var::leaf(Tensor::<f64>::full(&[2, 3], 0.5));
    let t = Tensor::zeros(&[2, 3]);
    same_message(
        p.try_binary_cross_entropy(Tensor::zeros(&[3, 2])),
        || p.binary_cross_entropy(Tensor::zeros(&[3, 2])),
        "binary_cross_entropy: shapes [2, 3] and [3, 2] do not match: input and target must have the same shape",
    );
    let bce = BceLoss::new().with_weight(Tensor::ones(&[2]));
    same_message(
        bce.try_forward(&p, &t),
        || bce.forward(&p, &t),
        "binary_cross_entropy: shapes [2, 3] and [2] do not match: weight must broadcast to the input's shape",
    );
    let logits = Var::leaf(Tensor::<f64>::from_vec(vec![0.5, 1.5], &[2]));
    same_message(
        logits.try_binary_cross_entropy(Tensor::zeros(&[2])),
        || logits.binary_cross_entropy(Tensor::zeros(&[2])),
        "binary_cross_entropy: input values must be probabilities in [0, 1], got 1.5 in an input of shape [2]",
    );
}

#[test]
fn gaussian_kl_errors() {
    let (mu, lv) = (leaf(&[2, 3]), leaf(&[2, 4]));
    same_message(
        try_gaussian_kl(&mu, &lv, Reduction::Mean),
        || gaussian_kl(&mu, &lv, Reduction::Mean),
        "gaussian_kl: shapes [2, 3] and [2, 4] do not match: mu and logvar must both be [N, D]",
    );
    let flat = leaf(&[3]);
    same_message(
        try_gaussian_kl(&flat, &flat, Reduction::Sum),
        || gaussian_kl(&flat, &flat, Reduction::Sum),
        "gaussian_kl: shapes [3] and [3] do not match: mu and logvar must both be [N, D]",
    );
}

#[test]
#[should_panic(
    expected = "prelu: weight of shape [2] must be [1] or [channels = 3] for input [4, 3]"
)]
fn prelu_weight_shape_panics() {
    let _ = leaf(&[4, 3]).prelu(&leaf(&[2]));
}

#[test]
#[should_panic(expected = "softplus: beta 0 must be positive")]
fn softplus_beta_panics() {
    let _ = leaf(&[2]).softplus(0.0, 20.0);
}

#[test]
#[should_panic(expected = "clamp: min 1 must not exceed max 0")]
fn clamp_bounds_panic() {
    let _ = leaf(&[2]).clamp(1.0, 0.0);
}

#[test]
#[should_panic(expected = "backward: the output has shape [2, 2]; call backward on a scalar loss")]
fn backward_of_a_non_scalar_panics() {
    let _ = leaf(&[2, 2]).exp().backward();
}

#[test]
#[should_panic(expected = "backward_with: seed shape [3] differs from the output shape [2]")]
fn backward_with_wrong_seed_panics() {
    let _ = leaf(&[2]).exp().backward_with(Tensor::ones(&[3]));
}

#[test]
fn parameter_keeps_its_shape() {
    let p = Parameter::new(Tensor::<f64>::zeros(&[2]));
    same_message(
        p.try_set_value(Tensor::zeros(&[3])),
        || p.set_value(Tensor::zeros(&[3])),
        "Parameter::set_value: shapes [2] and [3] do not match: a parameter keeps its shape",
    );
    assert_eq!(p.shape(), vec![2]);
}
