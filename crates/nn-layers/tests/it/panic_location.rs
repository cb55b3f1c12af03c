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

/// `forward` takes a tensor as it is, owned or borrowed, or a var whose
/// graph carries on; a boxed layer too.
#[test]
fn forward_takes_anything_that_turns_into_a_var() {
    let linear = LinearConfig::new(3, 2)
        .init::<f64>(&mut Rng::seed_from(0))
        .unwrap();
    let x = Tensor::<f64>::ones(&[4, 3]);
    let want = linear.forward(Var::constant(x.clone())).value();
    assert_eq!(linear.forward(&x).value(), want);
    assert_eq!(linear.forward(x.clone()).value(), want);
    let v = Var::leaf(x.clone());
    let grads = linear.forward(&v).sum().backward();
    assert_eq!(grads.get(&v).unwrap().shape(), &[4, 3]);
    let boxed: Box<dyn Forward<f64>> = Box::new(linear);
    assert_eq!(boxed.forward(&x).value(), want);
}
