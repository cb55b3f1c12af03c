//! The ResNet parts of `nn-conv`: [`BasicBlock`], [`Bottleneck`], their
//! [`Projection`] shortcut and a whole [`ResNet`], written as the
//! convolutions, batch norms, `Add` and `Relu` nodes their forwards run.

use nn_conv::layers::{BasicBlock, Bottleneck, Projection, ResNet};
use nn_conv::try_global_avg_pool2d;
use nn_layers::Module;

use super::{int, unsupported, Builder, Traced};
use crate::error::Result;

impl Builder {
    /// `bn(conv(x))`.
    pub(super) fn projection(
        &mut self,
        p: &Projection<f32>,
        prefix: &str,
        x: &Traced,
    ) -> Result<Traced> {
        let h = self.child(&p.conv, prefix, "conv", x)?;
        self.child(&p.bn, prefix, "bn", &h)
    }

    /// `relu(h + shortcut(x))`, the end of both blocks.
    fn join_shortcut(
        &mut self,
        h: Traced,
        x: &Traced,
        shortcut: &Option<Projection<f32>>,
        prefix: &str,
    ) -> Result<Traced> {
        let s = match shortcut {
            Some(p) => self.projection(p, &format!("{prefix}shortcut."), x)?,
            None => x.clone(),
        };
        let sum = self.add(&h, &s, prefix)?;
        Ok(self.relu(&sum))
    }

    /// `bn(conv(x))` for the children `conv{k}`, `bn{k}` of a block.
    fn conv_bn(
        &mut self,
        conv: &dyn Module<f32>,
        bn: &dyn Module<f32>,
        prefix: &str,
        k: usize,
        x: &Traced,
    ) -> Result<Traced> {
        let h = self.child(conv, prefix, &format!("conv{k}"), x)?;
        self.child(bn, prefix, &format!("bn{k}"), &h)
    }

    /// The main path of a block: `conv{k}`/`bn{k}` pairs from 1 on, a ReLU
    /// between two, then the shortcut joined.
    fn block(
        &mut self,
        pairs: &[(&dyn Module<f32>, &dyn Module<f32>)],
        shortcut: &Option<Projection<f32>>,
        prefix: &str,
        x: &Traced,
    ) -> Result<Traced> {
        let mut h = x.clone();
        for (k, (conv, bn)) in pairs.iter().enumerate() {
            if k > 0 {
                h = self.relu(&h);
            }
            h = self.conv_bn(*conv, *bn, prefix, k + 1, &h)?;
        }
        self.join_shortcut(h, x, shortcut, prefix)
    }

    /// `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`.
    pub(super) fn basic_block(
        &mut self,
        b: &BasicBlock<f32>,
        prefix: &str,
        x: &Traced,
    ) -> Result<Traced> {
        let pairs: [(&dyn Module<f32>, &dyn Module<f32>); 2] =
            [(&b.conv1, &b.bn1), (&b.conv2, &b.bn2)];
        self.block(&pairs, &b.shortcut, prefix, x)
    }

    /// 1×1 reduce, 3×3, 1×1 expand (each with its batch norm, ReLU between),
    /// plus the shortcut, then ReLU.
    pub(super) fn bottleneck(
        &mut self,
        b: &Bottleneck<f32>,
        prefix: &str,
        x: &Traced,
    ) -> Result<Traced> {
        let pairs: [(&dyn Module<f32>, &dyn Module<f32>); 3] =
            [(&b.conv1, &b.bn1), (&b.conv2, &b.bn2), (&b.conv3, &b.bn3)];
        self.block(&pairs, &b.shortcut, prefix, x)
    }

    /// Stem, stages (`layer1.0.`, ...), global average pool, classifier.
    pub(super) fn resnet(&mut self, r: &ResNet<f32>, prefix: &str, x: &Traced) -> Result<Traced> {
        let h = self.conv_bn(&r.conv1, &r.bn1, prefix, 1, x)?;
        let mut h = self.relu(&h);
        if let Some(m) = &r.maxpool {
            h = self.child(m, prefix, "maxpool", &h)?;
        }
        for (i, stage) in r.stages.iter().enumerate() {
            for (j, block) in stage.iter().enumerate() {
                let name = format!("layer{}.{j}", i + 1);
                h = self.child(block as &dyn Module<f32>, prefix, &name, &h)?;
            }
        }
        let pooled = try_global_avg_pool2d(&h.1)
            .map_err(|e| unsupported(prefix, format!("the example input: {e}")))?;
        let g = self.node("GlobalAveragePool", &[&h.0], vec![]);
        let flat = self.node("Flatten", &[&g], vec![int("axis", 1)]);
        self.child(&r.fc, prefix, "fc", &(flat, pooled))
    }
}
