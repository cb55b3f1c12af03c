//! The error policy, message by message: every `try_*` op returns a
//! `TensorError` naming the op and the shapes or the bad value, and its
//! panicking twin panics with exactly the same text.

use nn_tensor::{Rng, Tensor, TensorError};
use nn_testkit::errors::same_message;

fn z(shape: &[usize]) -> Tensor<f64> {
    Tensor::zeros(shape)
}

#[test]
fn broadcast_mismatch_names_op_and_both_shapes() {
    let (a, b) = (z(&[2, 3]), z(&[4]));
    for (op, r) in [
        ("add", a.try_add(&b)),
        ("sub", a.try_sub(&b)),
        ("mul", a.try_mul(&b)),
        ("div", a.try_div(&b)),
    ] {
        assert_eq!(
            r.unwrap_err().to_string(),
            format!("{op}: shapes [2, 3] and [4] do not match: dimension 1 of the broadcast has sizes 3 and 4")
        );
    }
    same_message(
        a.try_add(&b),
        || a.add(&b),
        "add: shapes [2, 3] and [4] do not match: dimension 1 of the broadcast has sizes 3 and 4",
    );
    assert!(matches!(
        a.try_mul(&b).unwrap_err(),
        TensorError::ShapeMismatch { op: "mul", .. }
    ));
}

#[test]
#[should_panic(
    expected = "sub: shapes [3, 1, 2] and [4, 3] do not match: dimension 2 of the broadcast has sizes 2 and 3"
)]
fn sub_mismatch_panics() {
    let _ = z(&[3, 1, 2]).sub(&z(&[4, 3]));
}

#[test]
#[should_panic(expected = "maximum: shapes [2] and [3] do not match")]
fn maximum_mismatch_panics() {
    let _ = z(&[2]).maximum(&z(&[3]));
}

#[test]
fn matmul_errors() {
    let (a, b) = (z(&[2, 3]), z(&[4, 2]));
    same_message(
        a.try_matmul(&b),
        || a.matmul(&b),
        "matmul: shapes [2, 3] and [4, 2] do not match: inner dimensions 3 and 4 differ",
    );
    let v = z(&[3]);
    same_message(
        v.try_matmul(&a.t()),
        || v.matmul(&a.t()),
        "matmul: shapes [3] and [3, 2] do not match: both operands need at least 2 dims",
    );
    // With the transpose flags the inner dims are those after transposing.
    assert_eq!(
        a.try_matmul_t(&z(&[3, 2]), true, false)
            .unwrap_err()
            .to_string(),
        "matmul: shapes [2, 3] and [3, 2] do not match: inner dimensions 2 and 3 differ"
    );
    let (x, y) = (z(&[2, 2, 3]), z(&[3, 3, 4]));
    same_message(
        x.try_matmul(&y),
        || x.matmul(&y),
        "matmul: shapes [2, 2, 3] and [3, 3, 4] do not match: batch dims [2] and [3] do not broadcast",
    );
}

#[test]
#[should_panic(
    expected = "matmul: shapes [5, 3] and [4, 2] do not match: inner dimensions 3 and 4 differ"
)]
fn matmul_panics() {
    let _ = z(&[5, 3]).matmul(&z(&[4, 2]));
}

#[test]
fn concat_and_stack_errors() {
    let (a, b) = (z(&[1, 2]), z(&[1, 3]));
    same_message(
        Tensor::try_concat(&[&a, &b], 0),
        || Tensor::concat(&[&a, &b], 0),
        "concat: shapes [1, 2] and [1, 3] do not match: all dims but 0 must agree",
    );
    same_message(
        Tensor::try_concat(&[&a, &z(&[2])], 1),
        || Tensor::concat(&[&a, &z(&[2])], 1),
        "concat: shapes [1, 2] and [2] do not match: all dims but 1 must agree",
    );
    same_message(
        Tensor::<f64>::try_concat(&[], 0),
        || Tensor::<f64>::concat(&[], 0),
        "concat: needs at least one tensor",
    );
    same_message(
        Tensor::try_concat(&[&a, &a], 2),
        || Tensor::concat(&[&a, &a], 2),
        "concat: dimension 2 is out of range for a tensor of rank 2",
    );
    same_message(
        Tensor::try_stack(&[&a, &b], 0),
        || Tensor::stack(&[&a, &b], 0),
        "stack: shapes [1, 2] and [1, 3] do not match: all shapes must be equal",
    );
}

#[test]
#[should_panic(
    expected = "concat: shapes [2, 2] and [3, 3] do not match: all dims but 1 must agree"
)]
fn concat_panics() {
    let _ = Tensor::concat(&[&z(&[2, 2]), &z(&[3, 3])], -1);
}

#[test]
fn reshape_permute_broadcast_errors() {
    let a = z(&[2, 1]);
    same_message(
        a.try_reshape([3]),
        || a.reshape([3]),
        "reshape: shapes [2, 1] and [3] do not match: 2 elements cannot take a shape of 3",
    );
    let b = z(&[2, 3]);
    assert_eq!(b.reshape([-1, 2]).shape(), &[3, 2]);
    assert_eq!(b.reshape([3, -1]).shape(), &[3, 2]);
    assert_eq!(b.reshape([-1]).shape(), &[6]);
    same_message(
        b.try_reshape([-1, 4]),
        || b.reshape([-1, 4]),
        "reshape: cannot infer the -1 of [-1, 4] for a tensor of shape [2, 3] (6 elements)",
    );
    same_message(
        b.try_reshape([-1, -1]),
        || b.reshape([-1, -1]),
        "reshape: only one dimension can be -1, got [-1, -1]",
    );
    same_message(
        b.try_reshape([-2, 3]),
        || b.reshape([-2, 3]),
        "reshape: invalid size -2 in [-2, 3] (sizes are >= 0, or -1 to infer one)",
    );
    same_message(
        b.try_permute(&[0, 0]),
        || b.permute(&[0, 0]),
        "permute: [0, 0] is not a permutation of the dims of shape [2, 3]",
    );
    same_message(
        b.try_permute(&[0]),
        || b.permute(&[0]),
        "permute: [0] is not a permutation of the dims of shape [2, 3]",
    );
    same_message(
        a.try_broadcast_to(&[3, 2]),
        || a.broadcast_to(&[3, 2]),
        "broadcast_to: shapes [2, 1] and [3, 2] do not match: dimension 0 of the broadcast has sizes 2 and 3",
    );
    same_message(
        b.try_broadcast_to(&[3]),
        || b.broadcast_to(&[3]),
        "broadcast_to: shapes [2, 3] and [3] do not match: the tensor cannot be expanded to the target",
    );
    same_message(
        b.try_sum_to_shape(&[4]),
        || b.sum_to_shape(&[4]),
        "sum_to_shape: shapes [2, 3] and [4] do not match: dimension 1 cannot be summed to the target",
    );
}

#[test]
#[should_panic(
    expected = "reshape: shapes [2, 3] and [4, 2] do not match: 6 elements cannot take a shape of 8"
)]
fn reshape_panics() {
    let _ = z(&[2, 3]).reshape([4, 2]);
}

#[test]
fn narrow_split_pad_errors() {
    let a = z(&[6]);
    same_message(
        a.try_narrow(0, 4, 3),
        || a.narrow(0, 4, 3),
        "narrow: range 4..7 is outside dimension 0 of shape [6]",
    );
    same_message(
        a.try_narrow(1, 0, 1),
        || a.narrow(1, 0, 1),
        "narrow: dimension 1 is out of range for a tensor of rank 1",
    );
    let b = z(&[3, 2]);
    same_message(
        b.try_split(0, &[1, 1]),
        || b.split(0, &[1, 1]),
        "split: sizes [1, 1] do not add up to dimension 0 of shape [3, 2]",
    );
    same_message(
        b.try_pad(&[(1, 1), (0, 0), (1, 1)], 0.0),
        || b.pad(&[(1, 1), (0, 0), (1, 1)], 0.0),
        "pad: 3 pad pairs for a tensor of rank 2",
    );
}

#[test]
#[should_panic(expected = "narrow: range 2..5 is outside dimension 1 of shape [2, 4]")]
fn narrow_panics() {
    let _ = z(&[2, 4]).narrow(-1, 2, 3);
}

#[test]
#[should_panic(expected = "chunk: n must be positive")]
fn chunk_of_zero_panics() {
    let _ = z(&[4]).chunk(0, 0);
}

#[test]
#[should_panic(expected = "squeeze: dimension 0 of shape [2, 1] is not 1")]
fn squeeze_of_a_non_unit_dim_panics() {
    let _ = z(&[2, 1]).squeeze(0);
}

#[test]
fn index_gather_scatter_errors() {
    let a = z(&[2, 3]);
    same_message(
        a.try_index_select(1, &[0, 3]),
        || a.index_select(1, &[0, 3]),
        "index_select: index 3 out of range for dimension 1 of shape [2, 3]",
    );
    same_message(
        a.try_gather(1, &[0, 5], &[2, 1]),
        || a.gather(1, &[0, 5], &[2, 1]),
        "gather: index 5 out of range for dimension 1 of shape [2, 3]",
    );
    same_message(
        a.try_gather(1, &[0; 9], &[3, 3]),
        || a.gather(1, &[0; 9], &[3, 3]),
        "gather: shapes [2, 3] and [3, 3] do not match: the index must match the tensor in every dim but 1 and hold 9 entries",
    );
    same_message(
        a.try_gather(0, &[0, 1], &[1, 3]),
        || a.gather(0, &[0, 1], &[1, 3]),
        "gather: shapes [2, 3] and [1, 3] do not match: the index must match the tensor in every dim but 0 and hold 3 entries",
    );
    let src = z(&[2, 1]);
    same_message(
        a.try_scatter_add(1, &[1, 7], &src),
        || a.scatter_add(1, &[1, 7], &src),
        "scatter_add: index 7 out of range for dimension 1 of shape [2, 3]",
    );
}

#[test]
fn reduction_dim_errors() {
    let a = z(&[2, 3]);
    same_message(
        a.try_sum_dims(&[2], false),
        || a.sum_dims(&[2], false),
        "sum: dimension 2 is out of range for a tensor of rank 2",
    );
    same_message(
        a.try_sum_dims(&[0, -2], false),
        || a.sum_dims(&[0, -2], false),
        "sum: dimension list [0, -2] repeats a dimension",
    );
    same_message(
        a.try_mean_dims(&[-3], true),
        || a.mean_dims(&[-3], true),
        "mean: dimension -3 is out of range for a tensor of rank 2",
    );
    assert!(matches!(
        a.try_sum_dims(&[5], false).unwrap_err(),
        TensorError::InvalidDim {
            op: "sum",
            dim: 5,
            rank: 2
        }
    ));
}

#[test]
#[should_panic(expected = "argmax: dimension 0 of shape [0, 2] is empty")]
fn argmax_of_empty_dim_panics() {
    let _ = z(&[0, 2]).argmax(0);
}

#[test]
fn creation_and_argument_errors() {
    same_message(
        Tensor::<f64>::try_from_vec(vec![1.0; 5], &[2, 3]),
        || Tensor::<f64>::from_vec(vec![1.0; 5], &[2, 3]),
        "from_vec: shape [2, 3] holds 6 elements but the data has 5",
    );
    same_message(
        Tensor::<f64>::try_arange(0.0, 1.0, 0.0),
        || Tensor::<f64>::arange(0.0, 1.0, 0.0),
        "arange: step 0 cannot go from 0 to 1",
    );
    same_message(
        Tensor::<f64>::try_arange(0.0, 1.0, -0.5),
        || Tensor::<f64>::arange(0.0, 1.0, -0.5),
        "arange: step -0.5 cannot go from 0 to 1",
    );
    let a = z(&[2]);
    same_message(
        a.try_clamp(1.0, 0.0),
        || a.clamp(1.0, 0.0),
        "clamp: min 1 must not exceed max 0",
    );
    same_message(
        Tensor::<f64>::try_rand_uniform(&[2], 1.0, 0.0, &mut Rng::seed_from(0)),
        || Tensor::<f64>::rand_uniform(&[2], 1.0, 0.0, &mut Rng::seed_from(0)),
        "rand_uniform: bounds [1, 0) are not a finite interval",
    );
}

#[test]
fn where_mismatch_names_the_shapes() {
    let c = z(&[2, 3]);
    same_message(
        c.try_where(&z(&[3]), &z(&[4])),
        || c.where_(&z(&[3]), &z(&[4])),
        "where: shapes [3] and [4] do not match: dimension 0 of the broadcast has sizes 3 and 4",
    );
    same_message(
        c.try_where(&z(&[3]), &z(&[1, 1, 2])),
        || c.where_(&z(&[3]), &z(&[1, 1, 2])),
        "where: shapes [3] and [1, 1, 2] do not match: dimension 2 of the broadcast has sizes 3 and 2",
    );
}

#[test]
#[should_panic(expected = "rand_bernoulli: probability 1.5 is outside [0, 1]")]
fn bernoulli_probability_out_of_range_panics() {
    let _ = Tensor::<f32>::rand_bernoulli(&[2], 1.5, &mut Rng::seed_from(0));
}
