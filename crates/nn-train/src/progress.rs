//! Progress display: a bar on a terminal, plain log lines otherwise.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// Shows the progress of one epoch (or any counted task). On a terminal it
/// draws a bar with the running loss and throughput; when the output is a
/// pipe or a file (CI, logs) it prints a plain line at the end instead, so
/// logs stay readable.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    total: u64,
    done: u64,
    start: Instant,
    quiet: bool,
}

impl Progress {
    /// Starts a progress display for `total` units (batches or samples).
    pub fn new(label: &str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix:>12} [{bar:30}] {pos}/{len} {msg} ({elapsed})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_prefix(label.to_string());
            b
        });
        Progress {
            bar,
            label: label.to_string(),
            total,
            done: 0,
            start: Instant::now(),
            quiet: false,
        }
    }

    /// A progress display that prints nothing (for tests and nested loops).
    pub fn hidden() -> Self {
        Progress {
            bar: None,
            label: String::new(),
            total: 0,
            done: 0,
            start: Instant::now(),
            quiet: true,
        }
    }

    /// Advances by `n` units and shows `message` (e.g. the running loss).
    pub fn advance(&mut self, n: u64, message: &str) {
        self.done += n;
        if let Some(b) = &self.bar {
            b.set_position(self.done);
            b.set_message(message.to_string());
        }
    }

    /// Advances by `n` units keeping the last message (cheap: for the
    /// batches between two message updates).
    pub fn tick(&mut self, n: u64) {
        self.done += n;
        if let Some(b) = &self.bar {
            b.set_position(self.done);
        }
    }

    /// Seconds since the display started.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Ends the display with a one-line summary.
    pub fn finish(self, summary: &str) {
        if self.quiet {
            return;
        }
        match self.bar {
            Some(b) => b.finish_with_message(summary.to_string()),
            None => eprintln!(
                "{:>12} {}/{} {} ({:.1}s)",
                self.label,
                self.done,
                self.total,
                summary,
                self.elapsed()
            ),
        }
    }
}
