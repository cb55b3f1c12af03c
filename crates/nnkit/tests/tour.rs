//! The course tour in its `--quick` form: every chapter runs and every
//! step meets its floor, and the figures are written.
//!
//! The chapters are the example's own modules (`examples/tour/`), included
//! here by path, so the test runs exactly the code `cargo run --example tour` runs.

#[path = "../examples/tour/ch1_basics.rs"]
mod ch1_basics;
#[path = "../examples/tour/ch2_neurons.rs"]
mod ch2_neurons;
#[path = "../examples/tour/ch3_feedforward.rs"]
mod ch3_feedforward;
#[path = "../examples/tour/ch4_cnn.rs"]
mod ch4_cnn;
#[path = "../examples/tour/ch5_rnn.rs"]
mod ch5_rnn;
#[path = "../examples/tour/ch6_attention.rs"]
mod ch6_attention;
#[path = "../examples/tour/ch7_optimisation.rs"]
mod ch7_optimisation;
#[path = "../examples/tour/ch8_generative.rs"]
mod ch8_generative;
#[path = "../examples/tour/common.rs"]
mod common;
#[path = "../examples/tour/tour.rs"]
mod tour;

use common::Ctx;

fn quick_ctx(name: &str) -> Ctx {
    let out = std::env::temp_dir().join(format!("nn-tour-test-{name}-{}", std::process::id()));
    Ctx {
        quick: true,
        seed: 0,
        out,
        progress: false,
    }
}

#[test]
fn quick_tour_meets_every_floor_and_writes_its_figures() {
    let ctx = quick_ctx("all");
    let mut seen = 0;
    let report = tour::run(&ctx, None, &mut |_| seen += 1).unwrap();
    println!("{}", report.table());
    println!("quick tour: {:.1} s", report.seconds);
    assert_eq!(seen, report.results.len());
    let failing: Vec<String> = report
        .results
        .iter()
        .filter(|r| !r.passes())
        .map(|r| r.line())
        .collect();
    assert!(failing.is_empty(), "below floor:\n{}", failing.join("\n"));
    assert!(report.all_pass());
    for c in tour::chapters() {
        assert!(
            report.results.iter().any(|r| r.chapter == c.number),
            "chapter {} reported nothing",
            c.number
        );
    }
    for figure in [
        "ch1_learning_rate.png",
        "ch1_capacity.png",
        "ch2_activation_losses.png",
        "ch3_mlp_losses.png",
        "ch4_cnn_filters.png",
        "ch5_rnn_lstm_gru.png",
        "ch6_attention_map.png",
        "ch7_optimisers.png",
        "ch7_flat_sharp.png",
        "ch8_ae_reconstructions.png",
        "ch8_vae_prior_samples.png",
        "ch8_gan_ring.png",
    ] {
        let bytes = std::fs::read(ctx.out.join(figure)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{figure} is not a PNG");
    }
    let _ = std::fs::remove_dir_all(&ctx.out);
}

#[test]
fn only_runs_one_chapter_and_rejects_an_unknown_one() {
    let ctx = quick_ctx("only");
    let report = tour::run(&ctx, Some(1), &mut |_| {}).unwrap();
    assert!(report.results.iter().all(|r| r.chapter == 1));
    assert_eq!(report.results.len(), 11);
    assert!(report.table().contains("softmax regression (digits)"));
    let e = tour::run(&ctx, Some(9), &mut |_| {}).err().unwrap();
    assert!(e.to_string().contains("--only 9"), "{e}");
    let _ = std::fs::remove_dir_all(&ctx.out);
}

#[test]
fn ring_scores_tell_a_good_generator_from_a_collapsed_or_blurred_one() {
    use nnkit::prelude::{Rng, Tensor};
    let mut rng = Rng::seed_from(7);
    // The data itself: every mode, and 1 − e^{−9/2} ≈ 98.9 % within 3σ.
    let (modes, within) = ch8_generative::ring_scores(&ch8_generative::ring_batch(2500, &mut rng));
    assert_eq!(modes, 8);
    assert!(within > 0.97, "{within}");
    // Collapsed onto one mode: perfect samples, one mode.
    let one: Vec<f32> = (0..2500).flat_map(|_| [2.0f32, 0.0]).collect();
    let (modes, within) = ch8_generative::ring_scores(&Tensor::from_vec(one, &[2500, 2]));
    assert_eq!((modes, within), (1, 1.0));
    // An untrained generator's blob at the origin: nothing near a mode.
    let blob = Tensor::<f32>::rand_normal(&[2500, 2], 0.0, 0.1, &mut rng);
    assert_eq!(ch8_generative::ring_scores(&blob), (0, 0.0));
    // A blurred ring (10× the modes' spread) covers the modes but rarely hits one.
    let blur = ch8_generative::ring_batch(2500, &mut rng).add(&Tensor::rand_normal(
        &[2500, 2],
        0.0,
        0.5,
        &mut rng,
    ));
    let (_, within) = ch8_generative::ring_scores(&blur);
    assert!(within < 0.1, "{within}");
}
