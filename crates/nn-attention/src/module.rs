//! [`Module`] for every attention layer, with PyTorch's `state_dict` names:
//! containers name their children (`self_attn`, `linear1`, `layers.0`, …) so
//! summaries recurse, and the layers with dropout carry a train flag so
//! [`Module::eval`] on a whole model turns every dropout off.

use nn_autograd::Parameter;
use nn_layers::{module_children, LayerRng, Module, TrainFlag};
use nn_tensor::Element;

use crate::{
    AdditiveAttention, BilinearScore, LearnedPositionEmbedding, MultiHeadAttention,
    PositionalEncoding, Seq2SeqTransformer, StackedLayer, Transformer, TransformerDecoderLayer,
    TransformerEncoderLayer, TransformerStack,
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
    module_children!(T; out_proj);
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
    module_children!(T; layers, norm);
}

/// `encoder.…`, `decoder.…` (PyTorch's `nn.Transformer`).
impl<T: Element> Module<T> for Transformer<T> {
    module_children!(T; encoder, decoder);
}

/// `src_embed.weight`, `tgt_embed.weight`, `transformer.…`, `generator.…`
/// (the positional table is fixed, so it saves nothing).
impl<T: Element> Module<T> for Seq2SeqTransformer<T> {
    fn visit_local_parameters(&self, f: &mut dyn FnMut(&str, &Parameter<T>)) {
        f("src_embed.weight", &self.src_embed);
        f("tgt_embed.weight", &self.tgt_embed);
    }
    module_children!(T; positions, transformer, generator);
}

/// No parameters: the sinusoidal table is a function of the shape.
impl<T: Element> Module<T> for PositionalEncoding<T> {}

/// `weight` (`[max_len, d_model]`).
impl<T: Element> Module<T> for LearnedPositionEmbedding<T> {
    fn visit_local_parameters(&self, f: &mut dyn FnMut(&str, &Parameter<T>)) {
        f("weight", &self.weight);
    }
}

/// `weight` (`[Dq, Dk]`).
impl<T: Element> Module<T> for BilinearScore<T> {
    fn visit_local_parameters(&self, f: &mut dyn FnMut(&str, &Parameter<T>)) {
        f("weight", &self.weight);
    }
}

/// `W_query`, `W_key`, `bias`, `v_score` (the fixtures' names).
impl<T: Element> Module<T> for AdditiveAttention<T> {
    fn visit_local_parameters(&self, f: &mut dyn FnMut(&str, &Parameter<T>)) {
        f("W_query", &self.w_query);
        f("W_key", &self.w_key);
        f("bias", &self.bias);
        f("v_score", &self.v_score);
    }
}
