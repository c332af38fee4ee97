//! A test-only hook that kills the training process at a chosen point, as `kill -9` would, so
//! that the resume tests can interrupt a run exactly where they need to (after a checkpoint,
//! between checkpoints, while a checkpoint is half written) without racing a timer.
//!
//! `LORATUNE_TEST_KILL_AT=POINT:STEP` (e.g. `step-end:3`, `checkpoint-half-written:4`) sends
//! SIGKILL to this process when the run reaches POINT at optimizer step STEP. Unset, this costs
//! one environment lookup per call.

/// Dies by SIGKILL if `LORATUNE_TEST_KILL_AT` names this point and step.
pub(crate) fn reached(point: &str, step: usize) {
    let Ok(wanted) = std::env::var("LORATUNE_TEST_KILL_AT") else {
        return;
    };
    if wanted == format!("{point}:{step}") {
        // SAFETY: raise has no memory-safety preconditions.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
}
