//! Direct calls into the `gemm` crate for the fused CPU kernels: strided operands, optional
//! accumulation into the destination, single-threaded (inside parallel per-head work) or on
//! rayon's threads.

/// A rows × cols matrix read through a raw pointer with row and column strides (a row-major
/// matrix, a view of a larger one, or a transpose).
#[derive(Clone, Copy)]
pub struct Operand {
    pub ptr: *const f32,
    pub rows: usize,
    pub cols: usize,
    /// Elements from one row to the next.
    pub row: usize,
    /// Elements from one column to the next.
    pub col: usize,
}

impl Operand {
    /// A contiguous row-major matrix.
    pub fn dense(data: &[f32], rows: usize, cols: usize) -> Self {
        debug_assert!(data.len() >= rows * cols);
        Self {
            ptr: data.as_ptr(),
            rows,
            cols,
            row: cols,
            col: 1,
        }
    }

    pub fn t(self) -> Self {
        Self {
            ptr: self.ptr,
            rows: self.cols,
            cols: self.rows,
            row: self.col,
            col: self.row,
        }
    }
}

/// How a product lands in the destination.
#[derive(Clone, Copy)]
pub struct Product {
    /// The product is multiplied by this.
    pub scale: f32,
    /// Added to the destination's values instead of overwriting them.
    pub accumulate: bool,
    /// Run on rayon's threads (else on the calling thread).
    pub parallel: bool,
}

impl Product {
    pub const SERIAL: Self = Self {
        scale: 1.0,
        accumulate: false,
        parallel: false,
    };
    pub const PARALLEL: Self = Self {
        scale: 1.0,
        accumulate: false,
        parallel: true,
    };

    pub fn scaled(self, scale: f32) -> Self {
        Self { scale, ..self }
    }

    pub fn accumulating(self) -> Self {
        Self {
            accumulate: true,
            ..self
        }
    }
}

/// dst (m × n, row stride `dst_row`) (+)= scale · lhs (m × k) · rhs (k × n).
///
/// # Safety
/// The operands must describe valid reads of their elements, `dst` a valid write of m × n
/// elements that no other thread touches meanwhile.
pub unsafe fn matmul(dst: *mut f32, dst_row: usize, lhs: Operand, rhs: Operand, how: Product) {
    assert_eq!(lhs.cols, rhs.rows, "matmul: inner sizes differ");
    let (m, n, k) = (lhs.rows, rhs.cols, lhs.cols);
    let parallelism = if how.parallel {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    };
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_row as isize,
        how.accumulate,
        lhs.ptr,
        lhs.col as isize,
        lhs.row as isize,
        rhs.ptr,
        rhs.col as isize,
        rhs.row as isize,
        if how.accumulate { 1.0 } else { 0.0 },
        how.scale,
        false,
        false,
        false,
        parallelism,
    );
}
