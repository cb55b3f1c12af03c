//! The panicking twins are `#[track_caller]` all the way down: a shape
//! error points at the line that called the model, not into the library.

use nn_generative::VaeConfig;
use nn_layers::prelude::*;
use nn_testkit::errors::panic_location;

#[test]
fn a_shape_error_panics_at_the_callers_line() {
    let mut rng = Rng::seed_from(0);
    let encoder = LinearConfig::new(3, 2).init::<f64>(&mut rng).unwrap();
    let decoder = LinearConfig::new(1, 3).init::<f64>(&mut rng).unwrap();
    let vae = VaeConfig::new(1).init(encoder, decoder, &mut rng).unwrap();
    let x = Tensor::<f64>::ones(&[2, 5]);
    let line = line!() + 2;
    let at = panic_location(|| {
        vae.reconstruct(&x);
    });
    assert_eq!((at.file.as_str(), at.line), (file!(), line));
}
