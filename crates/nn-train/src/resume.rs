//! Training checkpoints: everything a run needs to continue exactly where
//! it stopped, in one [`Checkpoint`] file, and [`CheckpointEvery`], the
//! callback that asks for one every few epochs.
//!
//! A training checkpoint holds the model's parameters and buffers
//! (`model.*`), the optimiser's state (`optim.*`), the position of every
//! generator (the trainer's, and each layer's such as `Dropout`'s, as
//! `rng.model.*`), the epoch last completed, the history, and each
//! callback's state under `callback.<name>.`.

use std::path::PathBuf;

use nn_layers::Module;
use nn_tensor::{Element, Rng};

use crate::callback::{Callback, Control, FitContext};
use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::history::History;
use crate::optimizer::TrainOptimizer;
use crate::state;
use crate::TrainError;

/// The format tag of training checkpoints. Version 2 numbers epochs from 1.
const FORMAT: &str = "nn-train/2";

/// The [`Callback`] that asks for a training checkpoint at `path` after
/// every `every`-th epoch, after the last one, and when the run stops early.
/// The file is written atomically: a crash leaves the previous checkpoint.
/// [`Trainer::checkpoint`](crate::Trainer::checkpoint) adds one, run after
/// every other callback so that it sees their decision to stop.
#[derive(Clone, Debug)]
pub struct CheckpointEvery {
    path: PathBuf,
    every: usize,
}

impl CheckpointEvery {
    /// A checkpoint at `path` every `every` epochs (at least 1).
    pub fn new(path: impl Into<PathBuf>, every: usize) -> Self {
        CheckpointEvery {
            path: path.into(),
            every: every.max(1),
        }
    }
}

impl<T: Element> Callback<T> for CheckpointEvery {
    fn name(&self) -> &str {
        "checkpoint"
    }

    fn on_epoch_end(
        &mut self,
        ctx: &mut FitContext<'_, T>,
        control: &mut Control,
    ) -> Result<(), TrainError> {
        if ctx.epoch.is_multiple_of(self.every) || ctx.epoch == ctx.epochs || control.stopping() {
            control.save_checkpoint(&self.path);
        }
        Ok(())
    }
}

/// The key prefix of each callback's state, in order: `callback.<name>.`,
/// with `#2`, `#3`, … after the name of a repeated one.
fn prefixes<'c, T: Element + 'c>(
    callbacks: impl Iterator<Item = &'c (dyn Callback<T> + 'c)>,
) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    callbacks
        .map(|c| {
            let name = c.name().to_string();
            let n = seen.iter().filter(|s| **s == name).count();
            seen.push(name.clone());
            if n == 0 {
                format!("callback.{name}.")
            } else {
                format!("callback.{name}#{}.", n + 1)
            }
        })
        .collect()
}

/// The training checkpoint after epoch `epoch` (numbered from 1).
pub(crate) fn snapshot<'c, T: Element + 'c>(
    model: &dyn Module<T>,
    optimizer: &dyn TrainOptimizer<T>,
    callbacks: impl Iterator<Item = &'c (dyn Callback<T> + 'c)> + Clone,
    epoch: usize,
    rng: &Rng,
    history: &History,
) -> Checkpoint<T> {
    let mut c = Checkpoint::new();
    c.tensors = state::model_tensors(model, "model.");
    optimizer.save_state(&mut c);
    state::save_model_rngs(model, &mut c, "rng.model.");
    for (cb, prefix) in callbacks.clone().zip(prefixes(callbacks)) {
        cb.save_state(&mut c, &prefix);
    }
    let m = &mut c.metadata;
    m.insert("format".into(), FORMAT.into());
    m.insert("epoch".into(), epoch.to_string());
    m.insert("rng".into(), state::rng_to_string(rng));
    m.insert("history".into(), history.to_json().to_string());
    c
}

/// Where a resumed run continues: its history (whose last epoch is the one
/// completed) and the trainer's generator.
pub(crate) struct Resumed {
    pub history: History,
    pub rng: Rng,
}

/// Restores the model, the optimiser and the callbacks from `ckpt`. The
/// metadata and the generators are checked before anything changes, so a
/// checkpoint of the wrong kind leaves the model as it was.
pub(crate) fn restore<'c, T: Element + 'c>(
    ckpt: &Checkpoint<T>,
    model: &dyn Module<T>,
    optimizer: &mut dyn TrainOptimizer<T>,
    callbacks: impl Iterator<Item = &'c mut (dyn Callback<T> + 'c)>,
) -> Result<Resumed, CheckpointError> {
    let bad = CheckpointError::Format;
    let meta = |k: &str| {
        ckpt.metadata.get(k).ok_or_else(|| {
            bad(format!(
                "the metadata lacks `{k}` (not a training checkpoint?)"
            ))
        })
    };
    let format = meta("format")?;
    if format != FORMAT {
        return Err(bad(format!(
            "format `{format}`, expected `{FORMAT}` (a checkpoint of an older version numbers epochs differently)"
        )));
    }
    let epoch_text = meta("epoch")?;
    let epoch: usize = epoch_text
        .parse()
        .map_err(|_| bad(format!("bad epoch `{epoch_text}`")))?;
    let rng = state::rng_from_string(meta("rng")?)?;
    let json: serde_json::Value =
        serde_json::from_str(meta("history")?).map_err(|e| bad(format!("history: {e}")))?;
    let history = History::from_json(&json).map_err(bad)?;
    if history.epochs.last().map_or(0, |e| e.epoch) != epoch {
        return Err(bad(format!(
            "the history does not end at epoch {epoch}, the checkpoint's"
        )));
    }
    state::load_model_rngs(model, ckpt, "rng.model.")?;
    state::load_model_tensors(model, &ckpt.tensors, "model.")?;
    optimizer.load_state(ckpt)?;
    let mut callbacks: Vec<_> = callbacks.collect();
    let names = prefixes(callbacks.iter().map(|c| &**c));
    for (cb, prefix) in callbacks.iter_mut().zip(names) {
        cb.load_state(ckpt, &prefix)?;
    }
    Ok(Resumed { history, rng })
}
