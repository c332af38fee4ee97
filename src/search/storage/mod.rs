//! Where a study lives: a database every worker (on this machine or others) reads and writes.
//! A backend only stores rows and holds a lock; every decision (which trial to run next,
//! stale heartbeats, pruning) is made in Rust by the code that calls [`Storage::transact`],
//! the same for every backend.
mod postgres;
mod sqlite;

pub use postgres::redact;

use super::trial::Trial;
use crate::error::{Error, Result};
use std::path::Path;

pub trait Storage: Send {
    /// Creates the study when it is new; returns its stored description (the first worker's).
    fn open_study(&mut self, study: &str, description: &str) -> Result<String>;

    /// Runs `change` on the study's trials while holding the study's lock (no other worker
    /// reads or writes meanwhile), then writes the trials it returns (insert or replace by
    /// number), all in one transaction.
    fn transact(
        &mut self,
        study: &str,
        change: &mut dyn FnMut(&[Trial]) -> Result<Vec<Trial>>,
    ) -> Result<()>;

    /// The study's trials, by number.
    fn trials(&mut self, study: &str) -> Result<Vec<Trial>>;

    /// Stores trial `number`'s adapter files as the study's best adapter, replacing the
    /// previous one, if `best` (run on the trials under the study's lock) names that trial.
    /// So any worker, or `--report` on any machine, can write the best adapter from the
    /// database alone. Returns whether it was stored.
    fn keep_adapter_if_best(
        &mut self,
        study: &str,
        number: u64,
        files: &[AdapterFile],
        best: &dyn Fn(&[Trial]) -> Option<u64>,
    ) -> Result<bool>;

    /// The stored best adapter: its trial's number and its files.
    fn best_adapter(&mut self, study: &str) -> Result<Option<(u64, Vec<AdapterFile>)>>;
}

/// A file of an adapter folder: its name and bytes.
pub type AdapterFile = (String, Vec<u8>);

/// The tables every backend creates (column types are SQL both SQLite and PostgreSQL read,
/// but for the adapter bytes' type, `BLOB` / `BYTEA`).
fn schema(bytes_type: &str, integer_type: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS studies (name TEXT PRIMARY KEY, description TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS trials (study TEXT NOT NULL, number {integer_type} NOT NULL,
             state TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (study, number));
         CREATE TABLE IF NOT EXISTS adapters (study TEXT NOT NULL, number {integer_type} NOT NULL,
             name TEXT NOT NULL, data {bytes_type} NOT NULL, PRIMARY KEY (study, name));"
    )
}

/// Opens `sqlite:PATH` or `postgres://USER@HOST:PORT/DB` (also `postgresql://`).
pub fn open(url: &str) -> Result<Box<dyn Storage>> {
    if let Some(path) = url.strip_prefix("sqlite:") {
        Ok(Box::new(sqlite::Sqlite::open(Path::new(path))?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(postgres::Postgres::open(url)?))
    } else {
        Err(Error::Config(format!(
            "--storage {url}: expected sqlite:PATH or postgres://USER@HOST:PORT/DB"
        )))
    }
}

/// A database error, naming the storage.
pub(crate) fn db_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("study database {what}: {e}"))
}

fn encode(trial: &Trial) -> Result<String> {
    serde_json::to_string(trial).map_err(|e| Error::Config(format!("trial {}: {e}", trial.number)))
}

fn decode(what: &str, data: &str) -> Result<Trial> {
    serde_json::from_str(data).map_err(|e| db_error(what, format!("unreadable trial row: {e}")))
}
