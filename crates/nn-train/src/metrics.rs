//! Metrics: numbers computed from a model's outputs over a whole data set.
//!
//! A [`Metric`] sees the output of every batch of an evaluation pass and
//! reports one number at the end. The loss is always recorded by the
//! trainer; these add what the loss hides: [`Accuracy`], [`ZeroOneError`]
//! (the 0-1 loss, `1 − accuracy`), and for regression
//! [`MeanSquaredError`] and [`MeanAbsoluteError`]. Implement the trait for
//! anything else (precision, a per-class count, …).

use nn_data::Batch;
use nn_tensor::{Element, Tensor};

/// A number accumulated over the batches of one evaluation pass.
///
/// ```
/// use nn_data::{Batch, Targets};
/// use nn_tensor::Tensor;
/// use nn_train::{Accuracy, Metric};
/// let mut acc = Accuracy::new();
/// let batch = Batch { features: Tensor::<f32>::zeros(&[2, 1]), targets: Targets::Classes(vec![1, 0]) };
/// acc.update(&Tensor::from_vec(vec![0.1, 0.9, 0.2, 0.8], &[2, 2]), &batch);
/// assert_eq!(acc.value(), 0.5);
/// ```
pub trait Metric<T: Element>: Send {
    /// The name in the history, without the `val_` prefix (`"accuracy"`).
    fn name(&self) -> &str;
    /// Forgets everything seen (called before each evaluation pass).
    fn reset(&mut self);
    /// Accounts for one batch: `output` is what the model produced for `batch`.
    fn update(&mut self, output: &Tensor<T>, batch: &Batch<T>);
    /// The value over every batch since the last reset (0 before any).
    fn value(&self) -> f64;
}

/// The predicted class of each row: the arg-max of `[N, C]` scores, or for a
/// single score per row (`[N]` or `[N, 1]`, a binary classifier's logit)
/// class 1 when the score is positive.
fn predicted_classes<T: Element>(output: &Tensor<T>) -> Vec<usize> {
    let single = output.ndim() == 1 || (output.ndim() == 2 && output.shape()[1] == 1);
    if single {
        output
            .as_slice()
            .iter()
            .map(|&x| usize::from(x.to_f64_lossless() > 0.0))
            .collect()
    } else {
        output.argmax(1)
    }
}

/// The fraction of samples whose predicted class is the target class.
/// Multi-class outputs `[N, C]` predict the arg-max; a single logit per
/// sample predicts class 1 when positive.
#[derive(Clone, Debug, Default)]
pub struct Accuracy {
    correct: usize,
    seen: usize,
}

impl Accuracy {
    /// The value over everything seen since the last reset (0 before anything).
    pub fn value(&self) -> f64 {
        if self.seen == 0 {
            0.0
        } else {
            self.correct as f64 / self.seen as f64
        }
    }

    /// An empty accuracy counter.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<T: Element> Metric<T> for Accuracy {
    fn name(&self) -> &str {
        "accuracy"
    }
    fn reset(&mut self) {
        *self = Self::default();
    }
    #[track_caller]
    fn update(&mut self, output: &Tensor<T>, batch: &Batch<T>) {
        let pred = predicted_classes(output);
        let target = batch.classes();
        assert_eq!(
            pred.len(),
            target.len(),
            "Accuracy: {} predictions (output shape {:?}) for {} targets",
            pred.len(),
            output.shape(),
            target.len()
        );
        self.correct += pred.iter().zip(target).filter(|(p, t)| p == t).count();
        self.seen += pred.len();
    }
    fn value(&self) -> f64 {
        Accuracy::value(self)
    }
}

/// The 0-1 loss: the fraction of misclassified samples, `1 − accuracy`.
#[derive(Clone, Debug, Default)]
pub struct ZeroOneError(Accuracy);

impl ZeroOneError {
    /// The value over everything seen since the last reset (0 before anything).
    pub fn value(&self) -> f64 {
        if self.0.seen == 0 {
            0.0
        } else {
            1.0 - self.0.value()
        }
    }

    /// An empty counter.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<T: Element> Metric<T> for ZeroOneError {
    fn name(&self) -> &str {
        "zero_one_error"
    }
    fn reset(&mut self) {
        self.0 = Accuracy::default();
    }
    #[track_caller]
    fn update(&mut self, output: &Tensor<T>, batch: &Batch<T>) {
        Metric::<T>::update(&mut self.0, output, batch)
    }
    fn value(&self) -> f64 {
        ZeroOneError::value(self)
    }
}

/// Sums a per-element error between the output and the batch's value
/// targets, for the two regression metrics.
#[derive(Clone, Debug, Default)]
struct ElementError {
    sum: f64,
    count: usize,
}

impl ElementError {
    #[track_caller]
    fn update<T: Element>(
        &mut self,
        op: &str,
        output: &Tensor<T>,
        batch: &Batch<T>,
        f: fn(f64) -> f64,
    ) {
        let target = batch.values();
        assert_eq!(
            output.numel(),
            target.numel(),
            "{op}: output shape {:?} does not match target shape {:?}",
            output.shape(),
            target.shape()
        );
        for (&o, &t) in output.as_slice().iter().zip(target.as_slice()) {
            self.sum += f(o.to_f64_lossless() - t.to_f64_lossless());
        }
        self.count += output.numel();
    }
    fn value(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }
}

/// Mean squared error between the output and the value targets, over every element.
#[derive(Clone, Debug, Default)]
pub struct MeanSquaredError(ElementError);

impl MeanSquaredError {
    /// The value over everything seen since the last reset (0 before anything).
    pub fn value(&self) -> f64 {
        self.0.value()
    }

    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<T: Element> Metric<T> for MeanSquaredError {
    fn name(&self) -> &str {
        "mse"
    }
    fn reset(&mut self) {
        self.0 = ElementError::default();
    }
    #[track_caller]
    fn update(&mut self, output: &Tensor<T>, batch: &Batch<T>) {
        self.0.update("MeanSquaredError", output, batch, |d| d * d)
    }
    fn value(&self) -> f64 {
        self.0.value()
    }
}

/// Mean absolute error between the output and the value targets, over every element.
#[derive(Clone, Debug, Default)]
pub struct MeanAbsoluteError(ElementError);

impl MeanAbsoluteError {
    /// The value over everything seen since the last reset (0 before anything).
    pub fn value(&self) -> f64 {
        self.0.value()
    }

    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<T: Element> Metric<T> for MeanAbsoluteError {
    fn name(&self) -> &str {
        "mae"
    }
    fn reset(&mut self) {
        self.0 = ElementError::default();
    }
    #[track_caller]
    fn update(&mut self, output: &Tensor<T>, batch: &Batch<T>) {
        self.0.update("MeanAbsoluteError", output, batch, f64::abs)
    }
    fn value(&self) -> f64 {
        self.0.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_data::Targets;

    fn classes(c: Vec<usize>) -> Batch<f64> {
        Batch {
            features: Tensor::zeros(&[c.len(), 1]),
            targets: Targets::Classes(c),
        }
    }

    #[test]
    fn accuracy_and_zero_one_error_accumulate_over_batches() {
        let mut acc = Accuracy::new();
        let mut err = ZeroOneError::new();
        let out1 = Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0, 0.3, 0.2], &[3, 2]);
        let b1 = classes(vec![0, 1, 1]); // 2 of 3 right
        let out2 = Tensor::from_vec(vec![0.0, 5.0], &[1, 2]);
        let b2 = classes(vec![0]); // wrong
        for (o, b) in [(&out1, &b1), (&out2, &b2)] {
            Metric::<f64>::update(&mut acc, o, b);
            Metric::<f64>::update(&mut err, o, b);
        }
        assert_eq!(Metric::<f64>::value(&acc), 0.5);
        assert_eq!(Metric::<f64>::value(&err), 0.5);
        Metric::<f64>::reset(&mut acc);
        assert_eq!(Metric::<f64>::value(&acc), 0.0);
    }

    #[test]
    fn a_single_logit_is_a_binary_prediction() {
        let mut acc = Accuracy::new();
        let out = Tensor::from_vec(vec![2.0, -1.0, -3.0, 0.5], &[4, 1]);
        Metric::<f64>::update(&mut acc, &out, &classes(vec![1, 0, 1, 1]));
        assert_eq!(Metric::<f64>::value(&acc), 0.75);
    }

    #[test]
    fn regression_errors() {
        let b = Batch {
            features: Tensor::<f64>::zeros(&[2, 1]),
            targets: Targets::Values(Tensor::from_vec(vec![1.0, 2.0], &[2, 1])),
        };
        let out = Tensor::from_vec(vec![2.0, 0.0], &[2, 1]);
        let mut mse = MeanSquaredError::new();
        let mut mae = MeanAbsoluteError::new();
        mse.update(&out, &b);
        mae.update(&out, &b);
        assert_eq!(Metric::<f64>::value(&mse), 2.5);
        assert_eq!(Metric::<f64>::value(&mae), 1.5);
    }

    #[test]
    #[should_panic(expected = "Accuracy: 2 predictions")]
    fn mismatched_counts_name_the_metric() {
        let mut acc = Accuracy::new();
        Metric::<f64>::update(&mut acc, &Tensor::zeros(&[2, 3]), &classes(vec![0]));
    }
}
