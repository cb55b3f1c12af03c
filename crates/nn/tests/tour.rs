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
        "ch2_activation_losses.png",
        "ch3_mlp_losses.png",
        "ch4_cnn_filters.png",
        "ch5_rnn_lstm_gru.png",
        "ch6_attention_map.png",
        "ch7_optimisers.png",
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
    assert_eq!(report.results.len(), 4);
    assert!(report.table().contains("softmax regression (digits)"));
    let e = tour::run(&ctx, Some(9), &mut |_| {}).err().unwrap();
    assert!(e.to_string().contains("--only 9"), "{e}");
    let _ = std::fs::remove_dir_all(&ctx.out);
}
