//! Properties over random inputs: clipping bounds the norm and keeps the
//! direction; a state survives the safetensors round trip exactly.

use nn_autograd::{Gradients, Parameter};
use nn_optim::{clip_grad_norm_with, total_norm, AdamConfig, OptimizerState};
use nn_tensor::Tensor;
use proptest::prelude::*;

fn norm_type() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(1.0),
        Just(2.0),
        Just(3.5),
        Just(f64::INFINITY),
        0.5f64..4.0
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn clipping_bounds_the_norm_and_keeps_the_direction(
        a in prop::collection::vec(-10.0f64..10.0, 1..20),
        b in prop::collection::vec(-10.0f64..10.0, 1..20),
        max_norm in 0.01f64..20.0,
        p in norm_type(),
    ) {
        let pa = Parameter::new(Tensor::<f64>::zeros(&[a.len()]));
        let pb = Parameter::new(Tensor::<f64>::zeros(&[b.len()]));
        let mut grads = Gradients::new();
        grads.insert(pa.id(), Tensor::from_vec(a.clone(), &[a.len()]));
        grads.insert(pb.id(), Tensor::from_vec(b.clone(), &[b.len()]));
        let before = clip_grad_norm_with(&mut grads, [&pa, &pb], max_norm, p).unwrap();
        let ga = grads.get_id(pa.id()).unwrap().clone();
        let gb = grads.get_id(pb.id()).unwrap().clone();
        let after = total_norm(&[ga.clone(), gb.clone()], p);
        prop_assert!(after <= max_norm.max(before) * (1.0 + 1e-12));
        if before > max_norm + 1e-6 {
            prop_assert!(after <= max_norm * (1.0 + 1e-12), "{after} > {max_norm}");
        } else {
            prop_assert_eq!(ga.to_vec(), a.clone());
        }
        // Same direction: one common non-negative scale.
        let scale = if before > 0.0 { after / before } else { 1.0 };
        for (g, x) in ga.as_slice().iter().chain(gb.as_slice()).zip(a.iter().chain(&b)) {
            prop_assert!((g - x * scale).abs() <= 1e-9 * x.abs().max(1.0));
        }
    }

    #[test]
    fn a_state_survives_the_file_round_trip_bit_for_bit(
        shape in prop::collection::vec(1usize..4, 0..4),
        seed in 0u64..1000,
    ) {
        let mut rng = nn_tensor::Rng::seed_from(seed);
        let w = Parameter::new(Tensor::<f32>::rand_normal(&shape, 0.0, 1.0, &mut rng));
        let mut opt = AdamConfig::new(0.01).with_amsgrad(true)
            .init(vec![("w".to_string(), w.clone())]).unwrap();
        for _ in 0..3 {
            let mut g = Gradients::new();
            g.insert(w.id(), Tensor::rand_normal(&shape, 0.0, 1.0, &mut rng));
            opt.step(&g);
        }
        let sd = opt.state_dict();
        let back = OptimizerState::<f32>::from_safetensors(&sd.to_safetensors().unwrap()).unwrap();
        prop_assert_eq!(&back, &sd);
        prop_assert_eq!(back.tensors.len(), 3);
    }
}
