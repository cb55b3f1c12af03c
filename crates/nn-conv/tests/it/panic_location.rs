//! The panicking twins are `#[track_caller]` all the way down: a shape
//! error points at the line that called the layer, not into the library.

use nn_autograd::Var;
use nn_conv::*;
use nn_layers::Forward;
use nn_tensor::{Rng, Tensor};
use nn_testkit::errors::panic_location;

#[test]
fn a_shape_error_panics_at_the_callers_line() {
    let conv = Conv2dConfig::new(3, 4, 3)
        .init::<f32>(&mut Rng::seed_from(0))
        .unwrap();
    let x = Var::constant(Tensor::<f32>::ones(&[1, 2, 8, 8]));
    let line = line!() + 2;
    let at = panic_location(|| {
        conv.forward(&x);
    });
    assert_eq!((at.file.as_str(), at.line), (file!(), line));

    let w = Var::constant(Tensor::<f32>::ones(&[4, 3, 3, 3]));
    let line = line!() + 2;
    let at = panic_location(|| {
        conv2d(&x, &w, None, &ConvOptions::default());
    });
    assert_eq!((at.file.as_str(), at.line), (file!(), line));
}
