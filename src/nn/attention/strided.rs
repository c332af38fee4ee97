//! The fused kernel's view of q, k, v, the bias and the gradients: each (batch, head) matrix read
//! in place through its start and strides, whatever the tensor's layout.
use crate::nn::cpu::gemm::Operand;
use candle_core::Layout;

/// Where one 4-D tensor's (batch, head) matrix starts, and its row and column strides.
#[derive(Clone, Copy, Debug)]
pub(super) struct Strided {
    offset: usize,
    batch: usize,
    head: usize,
    pub(super) row: usize,
    pub(super) col: usize,
}

impl Strided {
    /// A tensor laid out as (batch, head, row, col).
    pub(super) fn heads_first(layout: &Layout) -> Self {
        let s = layout.stride();
        Self {
            offset: layout.start_offset(),
            batch: s[0],
            head: s[1],
            row: s[2],
            col: s[3],
        }
    }

    /// A tensor laid out as (batch, row, head, col).
    pub(super) fn rows_first(layout: &Layout) -> Self {
        let s = layout.stride();
        Self {
            offset: layout.start_offset(),
            batch: s[0],
            row: s[1],
            head: s[2],
            col: s[3],
        }
    }

    /// A (batch, row, heads·col) projection seen as (batch, row, head, col).
    pub(super) fn split(layout: &Layout, heads: usize) -> Self {
        let s = layout.stride();
        let dim = layout.dims()[2] / heads;
        Self {
            offset: layout.start_offset(),
            batch: s[0],
            row: s[1],
            head: dim * s[2],
            col: s[2],
        }
    }

    pub(super) fn start(&self, batch: usize, head: usize) -> usize {
        self.offset + batch * self.batch + head * self.head
    }

    /// The (batch, head) matrix of `data` seen through this view, of `rows` × `cols`.
    pub(super) fn operand(
        &self,
        data: &[f32],
        (batch, head): (usize, usize),
        rows: usize,
        cols: usize,
    ) -> Operand {
        Operand {
            ptr: data[self.start(batch, head)..].as_ptr(),
            rows,
            cols,
            row: self.row,
            col: self.col,
        }
    }
}
