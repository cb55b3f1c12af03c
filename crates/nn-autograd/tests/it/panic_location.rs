//! The panicking twins are `#[track_caller]` all the way down: a shape
//! error points at the line that called the op, not into the library.

use nn_autograd::Var;
use nn_tensor::Tensor;
use nn_testkit::errors::panic_location;

#[test]
fn a_shape_error_panics_at_the_callers_line() {
    let a = Var::leaf(Tensor::<f32>::ones(&[2, 3]));
    let b = Var::leaf(Tensor::<f32>::ones(&[4]));
    let line = line!() + 2;
    let at = panic_location(|| {
        let _ = &a * &b;
    });
    assert_eq!((at.file.as_str(), at.line), (file!(), line));

    let line = line!() + 2;
    let at = panic_location(|| {
        a.matmul(&a);
    });
    assert_eq!((at.file.as_str(), at.line), (file!(), line));
}
