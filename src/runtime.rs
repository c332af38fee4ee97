//! Process-wide settings that make candle fast on the CPU; binaries call [`init`] first thing.
//!
//! * The allocator: candle allocates a fresh buffer for every intermediate tensor (tens of
//!   megabytes each during training); glibc's malloc returns such blocks to the OS and the kernel
//!   page-faults them back in on every step. mimalloc keeps freed memory for reuse once told
//!   never to purge it: a MiniLM training step went from 1.38 M minor page faults to 10 k.
//! * Threads: candle runs elementwise ops on a spinning barrier pool of its own, beside rayon's
//!   threads (matmuls and loratune's fused kernels). With more spinning threads than cores they
//!   wait on each other; the hot elementwise work is in loratune's rayon kernels, so candle's
//!   pool is switched off (`CANDLE_NUM_THREADS=1`) unless the user set it.
//! * Signals: Ctrl-C, SIGTERM and SIGHUP remove the temporary outputs being written (see
//!   `output::cleanup`); a write past the file size limit (`ulimit -f`) fails with an error
//!   instead of killing the process (SIGXFSZ ignored), so it is reported like a full disk.
pub use mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's option enum (libmimalloc-sys binds no name for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Call before any other thread starts and before the first tensor operation.
pub fn init() {
    // SAFETY: setting an option is thread-safe in mimalloc and takes plain integers.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    crate::output::cleanup::install_interrupt_handler();
    #[cfg(unix)]
    // SAFETY: ignoring a signal installs no handler code; called before other threads start.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}
