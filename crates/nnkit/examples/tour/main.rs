//! The course tour: every chapter of the course trained on data embedded in
//! the repository, each step printing one line, then a results table.
//!
//! ```text
//! cargo run --release --example tour -- [--quick] [--only N] [--seed S] [--out DIR]
//! ```

mod ch1_basics;
mod ch2_neurons;
mod ch3_feedforward;
mod ch4_cnn;
mod ch5_rnn;
mod ch6_attention;
mod ch7_optimisation;
mod ch8_generative;
mod common;
mod tour;

use std::path::PathBuf;
use std::process::ExitCode;

use common::Ctx;

fn usage() -> &'static str {
    "usage: tour [--quick] [--only N] [--seed S] [--out DIR]\n  \
     --quick     a shorter run (what the integration test runs)\n  \
     --only N    run chapter N only (1-8)\n  \
     --seed S    seed for data splits and weights (default 0)\n  \
     --out DIR   folder for the figures (default tour-output)"
}

fn parse() -> Result<(Ctx, Option<usize>), String> {
    let mut ctx = Ctx {
        quick: false,
        seed: 0,
        out: PathBuf::from("tour-output"),
        progress: true,
    };
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--quick" => ctx.quick = true,
            "--only" => {
                let v = value("--only")?;
                only = Some(
                    v.parse()
                        .map_err(|_| format!("--only {v}: not a chapter number"))?,
                )
            }
            "--seed" => {
                let v = value("--seed")?;
                ctx.seed = v.parse().map_err(|_| format!("--seed {v}: not a number"))?
            }
            "--out" => ctx.out = PathBuf::from(value("--out")?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok((ctx, only))
}

fn main() -> ExitCode {
    let (ctx, only) = match parse() {
        Ok(v) => v,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("tour: {e}");
            }
            eprintln!("{}", usage());
            return ExitCode::from(2);
        }
    };
    match tour::run(&ctx, only, &mut |r| println!("{}", r.line())) {
        Ok(report) => {
            println!("\n{}", report.table());
            println!(
                "figures in {}; wall time {:.1} s",
                ctx.out.display(),
                report.seconds
            );
            if report.all_pass() {
                ExitCode::SUCCESS
            } else {
                eprintln!("tour: some steps are below their floor");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("tour: {e}");
            ExitCode::FAILURE
        }
    }
}
