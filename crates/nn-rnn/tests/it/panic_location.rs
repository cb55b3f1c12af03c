//! The panicking twins are `#[track_caller]` all the way down: a shape
//! error points at the line that called the layer, not into the library.

use nn_autograd::Var;
use nn_rnn::{LstmCellConfig, LstmConfig};
use nn_tensor::{Rng, Tensor};
use nn_testkit::errors::panic_location;

#[test]
fn a_shape_error_panics_at_the_callers_line() {
    let mut rng = Rng::seed_from(0);
    let lstm = LstmConfig::new(3, 4).init::<f32>(&mut rng).unwrap();
    let x = Var::constant(Tensor::<f32>::ones(&[5, 2, 7]));
    let line = line!() + 2;
    let at = panic_location(|| {
        lstm.forward(&x, None);
    });
    assert_eq!((at.file.as_str(), at.line), (file!(), line));

    let cell = LstmCellConfig::new(3, 4).init::<f32>(&mut rng).unwrap();
    let x = Var::constant(Tensor::<f32>::ones(&[2, 7]));
    let line = line!() + 2;
    let at = panic_location(|| {
        cell.forward(&x, None);
    });
    assert_eq!((at.file.as_str(), at.line), (file!(), line));
}
