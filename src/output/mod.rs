//! Writing outputs without ever losing data.
//!
//! Every output directory (adapter, checkpoint, merged model, report) is written by
//! [`AtomicDir`]: into a temporary sibling, synced to disk, then swapped into place, with the
//! previous directory restored on any failure. Single files go through [`AtomicFile`]. Both
//! register their temporary paths so that Ctrl-C removes them ([`cleanup`]), and temporaries
//! left by a dead process are recognised and cleaned by the next writer in the same folder.
//! [`guard`] decides what may be replaced at all: nothing holding the inputs, nothing above
//! the current directory, no folder that loratune did not write.
pub mod cleanup;
mod dir;
mod file;
pub(crate) mod guard;
mod names;
pub mod probe;
pub(crate) mod run_dir;

pub(crate) use dir::{AtomicDir, Replace};
pub(crate) use file::write_atomic;
pub use file::AtomicFile;
