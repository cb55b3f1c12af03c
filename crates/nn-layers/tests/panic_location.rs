//! The panicking twins are `#[track_caller]` all the way down: a shape
//! error points at the line that called the layer, not into the library.

use nn_layers::prelude::*;
use nn_testkit::errors::panic_location;

#[test]
fn a_shape_error_panics_at_the_callers_line() {
    let linear = LinearConfig::new(3, 2)
        .init::<f32>(&mut Rng::seed_from(0))
        .unwrap();
    let x = Var::constant(Tensor::<f32>::ones(&[4, 5]));
    let line = line!() + 2;
    let at = panic_location(|| {
        linear.forward(&x);
    });
    assert_eq!((at.file.as_str(), at.line), (file!(), line));
}
