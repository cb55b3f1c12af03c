//! The panicking twins are `#[track_caller]` all the way down: a gradient of
//! the wrong shape points at the line that called `step`.

use nn_autograd::{Gradients, Parameter};
use nn_optim::SgdConfig;
use nn_tensor::Tensor;
use nn_testkit::errors::panic_location;

#[test]
fn a_shape_error_panics_at_the_callers_line() {
    let w = Parameter::new(Tensor::<f64>::ones(&[2]));
    let mut opt = SgdConfig::new(0.1)
        .init(vec![("w".to_string(), w.clone())])
        .unwrap();
    let mut grads = Gradients::new();
    grads.insert(w.id(), Tensor::ones(&[3]));
    let line = line!() + 2;
    let at = panic_location(|| {
        opt.step(&grads);
    });
    assert_eq!((at.file.as_str(), at.line), (file!(), line));
}
