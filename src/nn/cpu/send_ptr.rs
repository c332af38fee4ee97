//! One output buffer written by parallel tasks, each to its own part.

/// An output pointer shared by parallel tasks.
#[derive(Clone, Copy)]
pub struct SendPtr(pub *mut f32);
// SAFETY: every user gives each task a disjoint part of the buffer to write (columns in the
// few-rows matmul, one head's rows in fused attention).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    pub fn get(&self) -> *mut f32 {
        self.0
    }
}
