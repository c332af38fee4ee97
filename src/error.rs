//! The library's error type.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// The message already holds the OS's text ("… (os error 2)"), so the I/O error is not
    /// also a `source`: a chain printer (anyhow's `{:#}`) would print that text twice.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },

    #[error("{path}, line {line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error("tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },

    #[error("model hub: {0}")]
    Hub(String),

    /// The Hub could not be reached at all (connection refused, DNS, timeout, reset): the one
    /// Hub failure after which falling back to offline data makes sense.
    #[error("model hub unreachable: {0}")]
    HubUnreachable(String),

    #[error("{0}")]
    Config(String),

    #[error("{0}")]
    Unsupported(String),

    /// Training stopped (a non-finite loss or gradient).
    #[error("{0}")]
    Training(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error: source,
        }
    }
    pub(crate) fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::File {
            path: path.into(),
            message: message.into(),
        }
    }
    pub(crate) fn line(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        Error::Line {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}
