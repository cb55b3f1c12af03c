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
        let sum =
            h.1.try_add(&s.1)
                .map_err(|e| unsupported(prefix, format!("the residual sum: {e}")))?;
        let name = self.node("Add", &[&h.0, &s.0], vec![]);
        Ok(self.relu(&(name, sum)))
    }

    /// `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`.
    pub(super) fn basic_block(
        &mut self,
        b: &BasicBlock<f32>,
        prefix: &str,
        x: &Traced,
    ) -> Result<Traced> {
        let h = self.child(&b.conv1, prefix, "conv1", x)?;
        let h = self.child(&b.bn1, prefix, "bn1", &h)?;
        let h = self.relu(&h);
        let h = self.child(&b.conv2, prefix, "conv2", &h)?;
        let h = self.child(&b.bn2, prefix, "bn2", &h)?;
        self.join_shortcut(h, x, &b.shortcut, prefix)
    }

    /// 1×1 reduce, 3×3, 1×1 expand (each with its batch norm, ReLU between),
    /// plus the shortcut, then ReLU.
    pub(super) fn bottleneck(
        &mut self,
        b: &Bottleneck<f32>,
        prefix: &str,
        x: &Traced,
    ) -> Result<Traced> {
        let h = self.child(&b.conv1, prefix, "conv1", x)?;
        let h = self.child(&b.bn1, prefix, "bn1", &h)?;
        let h = self.relu(&h);
        let h = self.child(&b.conv2, prefix, "conv2", &h)?;
        let h = self.child(&b.bn2, prefix, "bn2", &h)?;
        let h = self.relu(&h);
        let h = self.child(&b.conv3, prefix, "conv3", &h)?;
        let h = self.child(&b.bn3, prefix, "bn3", &h)?;
        self.join_shortcut(h, x, &b.shortcut, prefix)
    }

    /// Stem, stages (`layer1.0.`, ...), global average pool, classifier.
    pub(super) fn resnet(&mut self, r: &ResNet<f32>, prefix: &str, x: &Traced) -> Result<Traced> {
        let h = self.child(&r.conv1, prefix, "conv1", x)?;
        let h = self.child(&r.bn1, prefix, "bn1", &h)?;
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
