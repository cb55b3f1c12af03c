//! [`Module`] for the attention layers whose names or parts do not map
//! one to one onto their fields, with PyTorch's `state_dict` names:
//! containers name their children (`self_attn`, `linear1`, `layers.0`, …) so
//! summaries recurse, and the layers with dropout carry a train flag so
//! [`Module::eval`] on a whole model turns every dropout off. The others
//! (`Transformer`, `Seq2SeqTransformer`, the position and score layers)
//! derive theirs beside their definitions.

use nn_autograd::Parameter;
use nn_layers::{LayerRng, Module, TrainFlag};
use nn_tensor::Element;

use crate::{
    MultiHeadAttention, StackedLayer, TransformerDecoderLayer, TransformerEncoderLayer,
    TransformerStack,
};

/// The train flag and the dropout stream (saved as `dropout_rng`) of a
/// layer that keeps them in `training: ModeFlag` and `drop: DropoutRng`.
macro_rules! dropout_mode {
    () => {
        fn train_flag(&self) -> Option<&TrainFlag> {
            Some(&self.training.0)
        }
        fn visit_local_rngs(&self, f: &mut dyn FnMut(&str, &LayerRng)) {
            f("dropout_rng", self.drop.layer_rng())
        }
    };
}

/// `in_proj_weight`, `in_proj_bias`, `out_proj.{weight,bias}`; the flag
/// switches the dropout on the attention weights.
impl<T: Element> Module<T> for MultiHeadAttention<T> {
    fn visit_local_parameters(&self, f: &mut dyn FnMut(&str, &Parameter<T>)) {
        f("in_proj_weight", &self.in_proj_weight);
        if let Some(b) = &self.in_proj_bias {
            f("in_proj_bias", b);
        }
    }
    fn visit_children(&self, f: &mut dyn FnMut(&str, &dyn Module<T>)) {
        f("out_proj", &self.out_proj);
    }
    dropout_mode!();
}

/// `self_attn`, `linear1`, `linear2`, `norm1`, `norm2` (PyTorch's order).
impl<T: Element> Module<T> for TransformerEncoderLayer<T> {
    fn visit_children(&self, f: &mut dyn FnMut(&str, &dyn Module<T>)) {
        f("self_attn", &self.self_attn);
        f("linear1", &self.ff.linear1);
        f("linear2", &self.ff.linear2);
        f("norm1", &self.norm1);
        f("norm2", &self.norm2);
    }
    dropout_mode!();
}

/// `self_attn`, `multihead_attn`, `linear1`, `linear2`, `norm1`..`norm3`.
impl<T: Element> Module<T> for TransformerDecoderLayer<T> {
    fn visit_children(&self, f: &mut dyn FnMut(&str, &dyn Module<T>)) {
        f("self_attn", &self.self_attn);
        f("multihead_attn", &self.multihead_attn);
        f("linear1", &self.ff.linear1);
        f("linear2", &self.ff.linear2);
        f("norm1", &self.norm1);
        f("norm2", &self.norm2);
        f("norm3", &self.norm3);
    }
    dropout_mode!();
}

/// `layers.{i}.…`, then `norm.…` when there is a final LayerNorm; shown
/// as `TransformerEncoder` or `TransformerDecoder`.
impl<T: Element, L: StackedLayer<T>> Module<T> for TransformerStack<T, L> {
    fn type_name(&self) -> &'static str {
        L::STACK
    }
    fn visit_children(&self, f: &mut dyn FnMut(&str, &dyn Module<T>)) {
        f("layers", &self.layers);
        if let Some(norm) = &self.norm {
            f("norm", norm);
        }
    }
}
