//! Matrix products.

use nn_tensor::{Element, Result, Tensor};

use crate::trace::Attr;
use crate::Var;
use nn_tensor::or_panic;

impl<T: Element> Var<T> {
    /// Matrix product with broadcast batch dims (see [`Tensor::matmul`]).
    #[doc(alias = "mm")]
    #[doc(alias = "bmm")]
    #[track_caller]
    pub fn matmul(&self, other: &Var<T>) -> Var<T> {
        or_panic(self.try_matmul_t(other, false, false))
    }

    /// `op(self)·op(other)`, `op` transposing the last two dims when its flag
    /// is set (no copy is made). `x.matmul_t(&w, false, true)` is `x·wᵀ`.
    #[track_caller]
    pub fn matmul_t(&self, other: &Var<T>, ta: bool, tb: bool) -> Var<T> {
        or_panic(self.try_matmul_t(other, ta, tb))
    }

    /// Fallible [`Var::matmul_t`].
    pub fn try_matmul_t(&self, other: &Var<T>, ta: bool, tb: bool) -> Result<Var<T>> {
        let y = self.value().try_matmul_t(other.as_tensor(), ta, tb)?;
        let (a, b) = (self.value().clone(), other.value().clone());
        let (ra, rb) = (self.requires_grad(), other.requires_grad());
        Ok(
            Var::from_op("matmul", y, vec![self.clone(), other.clone()], move |g| {
                // With C = op(A)·op(B):  dA = G·op(B)ᵀ (transposed back if A was),
                // dB = op(A)ᵀ·G (likewise). Batch dims that were broadcast are summed.
                let ga = ra.then(|| {
                    let d = if ta {
                        b.matmul_t(g, tb, true)
                    } else {
                        g.matmul_t(&b, false, !tb)
                    };
                    reduce_batch(d, a.shape())
                });
                let gb = rb.then(|| {
                    let d = if tb {
                        g.matmul_t(&a, true, ta)
                    } else {
                        a.matmul_t(g, !ta, false)
                    };
                    reduce_batch(d, b.shape())
                });
                vec![ga, gb]
            })
            .traced_with(|| {
                vec![
                    ("transA", Attr::Int(ta as i64)),
                    ("transB", Attr::Int(tb as i64)),
                ]
            }),
        )
    }
}

fn reduce_batch<T: Element>(d: Tensor<T>, shape: &[usize]) -> Tensor<T> {
    if d.shape() == shape {
        d
    } else {
        d.sum_to_shape(shape)
    }
}
