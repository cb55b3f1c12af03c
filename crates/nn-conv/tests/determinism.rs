//! Results do not depend on the thread count: each output element is
//! computed by one task in a fixed order, and the weight- and bias-gradient
//! partials (runs of samples whose length depends on the batch size only,
//! and single planes) are summed in sample order. (Its own test binary, because the
//! thread count is process-wide.)

use nn_autograd::Var;
use nn_conv::*;
use nn_tensor::{set_num_threads, Rng, Tensor};

fn run(x: &Tensor<f32>, w: &Tensor<f32>, o: &ConvOptions<2>) -> Vec<Vec<f32>> {
    let (xv, wv) = (Var::leaf(x.clone()), Var::leaf(w.clone()));
    let bv = Var::leaf(Tensor::<f32>::linspace(-0.5, 0.5, w.shape()[0]));
    let y = conv2d(&xv, &wv, Some(&bv), o);
    let z = max_pool2d(&y, &MaxPoolOptions::new(2));
    let g = z.square().sum().backward();
    vec![
        z.value().to_vec(),
        g.get(&xv).unwrap().to_vec(),
        g.get(&wv).unwrap().to_vec(),
        g.get(&bv).unwrap().to_vec(),
    ]
}

#[test]
fn one_and_two_threads_give_identical_bits() {
    let mut rng = Rng::seed_from(8);
    // Large enough for the batch-parallel path, the shifted GEMMs and
    // multi-threaded GEMMs; the second case takes the im2col path, the
    // last two (LeNet's convolutions on a batch of 64) the pitched one.
    let cases = [
        (
            vec![6, 32, 24, 24],
            vec![32, 32, 3, 3],
            ConvOptions::default().padding(1),
        ),
        (
            vec![6, 3, 30, 30],
            vec![16, 3, 5, 5],
            ConvOptions::default().stride(2),
        ),
        (
            vec![64, 1, 28, 28],
            vec![6, 1, 5, 5],
            ConvOptions::default().padding(2),
        ),
        (
            vec![64, 6, 14, 14],
            vec![16, 6, 5, 5],
            ConvOptions::default(),
        ),
    ];
    for (xs, ws, o) in cases {
        let x = Tensor::<f32>::rand_normal(&xs, 0.0, 1.0, &mut rng);
        let w = Tensor::<f32>::rand_normal(&ws, 0.0, 0.1, &mut rng);
        set_num_threads(2);
        let two = run(&x, &w, &o);
        set_num_threads(1);
        let one = run(&x, &w, &o);
        assert_eq!(one, two);
    }
}
