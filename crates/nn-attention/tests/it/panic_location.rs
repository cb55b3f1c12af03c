//! The panicking twins are `#[track_caller]` all the way down: a shape
//! error points at the line that called the layer, not into the library.

use nn_attention::MultiHeadAttentionConfig;
use nn_autograd::Var;
use nn_tensor::{Rng, Tensor};
use nn_testkit::errors::panic_location;

#[test]
fn a_shape_error_panics_at_the_callers_line() {
    let mha = MultiHeadAttentionConfig::new(8, 2)
        .init::<f32>(&mut Rng::seed_from(0))
        .unwrap();
    let q = Var::constant(Tensor::<f32>::ones(&[3, 1, 8]));
    let k = Var::constant(Tensor::<f32>::ones(&[3, 1, 6]));
    let line = line!() + 2;
    let at = panic_location(|| {
        mha.forward(&q, &k, &k, None, None, false);
    });
    assert_eq!((at.file.as_str(), at.line), (file!(), line));
}
