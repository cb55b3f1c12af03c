//! Progress display: a bar on a terminal, plain log lines otherwise.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::ProgressStyle;

/// Shows the progress of one epoch (or any counted task). On a terminal it
/// draws a bar with the running loss and throughput; when the output is a
/// pipe or a file (CI, logs) it prints a plain line at the end instead, so
/// logs stay readable.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
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
            let b = indicatif::ProgressBar::new(total);
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

/// The [`Callback`](crate::Callback) that shows each epoch's progress
/// (`epoch 3/10`, the running loss, samples per second) and ends it with a
/// summary of the epoch's record. [`Trainer`](crate::Trainer) shows one
/// unless told [`quiet`](crate::Trainer::quiet); only the root process of a
/// distributed run displays anything.
#[derive(Default)]
pub struct ProgressBar {
    current: Option<Progress>,
}

impl ProgressBar {
    /// A display that starts with the first epoch.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<T: nn_tensor::Element> crate::Callback<T> for ProgressBar {
    fn name(&self) -> &str {
        "progress"
    }

    fn on_epoch_start(
        &mut self,
        ctx: &mut crate::FitContext<'_, T>,
    ) -> Result<(), crate::TrainError> {
        self.current = Some(if ctx.is_root {
            Progress::new(
                &format!("epoch {}/{}", ctx.epoch, ctx.epochs),
                ctx.batches as u64,
            )
        } else {
            Progress::hidden()
        });
        Ok(())
    }

    fn on_batch_end(&mut self, p: &crate::BatchProgress) {
        let Some(progress) = &mut self.current else {
            return;
        };
        // Formatting a message per batch would cost more than a
        // stochastic-gradient step on a small model.
        if p.batch % 20 == 1 || p.batch == p.batches {
            let rate = p.samples as f64 / p.seconds.max(1e-9);
            progress.advance(1, &format!("loss {:.4} | {rate:.0} samples/s", p.mean_loss));
        } else {
            progress.tick(1);
        }
    }

    fn on_epoch_end(
        &mut self,
        ctx: &mut crate::FitContext<'_, T>,
        _control: &mut crate::Control,
    ) -> Result<(), crate::TrainError> {
        let (Some(progress), Some(last)) = (self.current.take(), ctx.history.epochs.last()) else {
            return Ok(());
        };
        let mut summary = last
            .metrics
            .iter()
            .filter(|(k, _)| k.starts_with("train_") || k.starts_with("val_"))
            .map(|(k, v)| format!("{k} {v:.4}"))
            .collect::<Vec<_>>()
            .join(" | ");
        if let Some(rate) = last.metrics.get("samples_per_second") {
            summary.push_str(&format!(" | {rate:.0} samples/s"));
        }
        progress.finish(&summary);
        Ok(())
    }
}
