//! Runs the chapters in order and collects their results into a table.

use std::time::Instant;

use crate::common::{Ctx, Res, StepResult};

/// A chapter: its number, title and entry point.
pub struct Chapter {
    /// The course chapter (1–8).
    pub number: usize,
    /// Its title.
    pub title: &'static str,
    /// Runs it.
    pub run: fn(&Ctx) -> Res<Vec<StepResult>>,
}

/// The chapters of the tour, in course order.
pub fn chapters() -> Vec<Chapter> {
    vec![
        Chapter {
            number: 1,
            title: "machine-learning basics",
            run: crate::ch1_basics::run,
        },
        Chapter {
            number: 2,
            title: "neurons and activations",
            run: crate::ch2_neurons::run,
        },
        Chapter {
            number: 3,
            title: "feed-forward networks",
            run: crate::ch3_feedforward::run,
        },
        Chapter {
            number: 4,
            title: "convolutional networks",
            run: crate::ch4_cnn::run,
        },
        Chapter {
            number: 5,
            title: "recurrent networks",
            run: crate::ch5_rnn::run,
        },
        Chapter {
            number: 6,
            title: "attention and the Transformer",
            run: crate::ch6_attention::run,
        },
        Chapter {
            number: 7,
            title: "optimisation",
            run: crate::ch7_optimisation::run,
        },
        Chapter {
            number: 8,
            title: "generative models",
            run: crate::ch8_generative::run,
        },
    ]
}

/// Everything the tour measured.
pub struct Report {
    /// Every step's result, in order.
    pub results: Vec<StepResult>,
    /// Total wall time in seconds.
    pub seconds: f64,
}

impl Report {
    /// True when every step meets its floor.
    pub fn all_pass(&self) -> bool {
        self.results.iter().all(StepResult::passes)
    }

    /// The results as a plain-text table.
    pub fn table(&self) -> String {
        let rows: Vec<[String; 6]> = self
            .results
            .iter()
            .map(|r| {
                let cmp = if r.higher_is_better { ">=" } else { "<=" };
                [
                    r.chapter.to_string(),
                    r.step.clone(),
                    r.metric.to_string(),
                    format!("{:.4}", r.value),
                    format!("{cmp} {}", r.floor),
                    format!("{:.1}", r.seconds),
                ]
            })
            .collect();
        let head = ["ch", "step", "metric", "value", "floor", "seconds"];
        let mut w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
        for r in &rows {
            for (w, c) in w.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let fmt_row = |cells: &[String]| {
            let mut line = String::from("|");
            for (i, (c, w)) in cells.iter().zip(&w).enumerate() {
                let pad = w - c.chars().count();
                if i >= 3 {
                    line += &format!(" {}{} |", " ".repeat(pad), c);
                } else {
                    line += &format!(" {}{} |", c, " ".repeat(pad));
                }
            }
            line
        };
        let mut out = fmt_row(&head.map(String::from));
        out += "\n|";
        for (i, w) in w.iter().enumerate() {
            let dashes = "-".repeat(*w);
            out += &if i >= 3 {
                format!("-{dashes}:|")
            } else {
                format!("-{dashes}-|")
            };
        }
        for r in &rows {
            out += "\n";
            out += &fmt_row(r);
        }
        out
    }
}

/// Runs every chapter (or only chapter `only`), calling `on_result` as each
/// step finishes.
pub fn run(ctx: &Ctx, only: Option<usize>, on_result: &mut dyn FnMut(&StepResult)) -> Res<Report> {
    let start = Instant::now();
    let all = chapters();
    if let Some(n) = only
        && !all.iter().any(|c| c.number == n)
    {
        let have: Vec<String> = all.iter().map(|c| c.number.to_string()).collect();
        return Err(format!("--only {n}: the tour has chapters {}", have.join(", ")).into());
    }
    let mut results = Vec::new();
    for c in all.iter().filter(|c| only.is_none_or(|n| n == c.number)) {
        if ctx.progress {
            println!("== Chapter {}: {}", c.number, c.title);
        }
        for r in (c.run)(ctx)? {
            on_result(&r);
            results.push(r);
        }
    }
    Ok(Report {
        results,
        seconds: start.elapsed().as_secs_f64(),
    })
}
