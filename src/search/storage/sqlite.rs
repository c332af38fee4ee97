//! `sqlite:PATH`: the study in one SQLite file (bundled SQLite, nothing to start). Workers on
//! this machine share it; `BEGIN IMMEDIATE` takes the write lock before reading, so two
//! workers never claim from the same view of the study.
use super::{db_error, decode, encode, schema, AdapterFile, Storage};
use crate::error::{Error, Result};
use crate::search::trial::Trial;
use rusqlite::{params, Connection, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Sqlite {
    path: PathBuf,
    connection: Connection,
}

impl Sqlite {
    /// A transaction holding SQLite's write lock from its start (`BEGIN IMMEDIATE`), so that
    /// what it reads stays true until it commits.
    fn locked(&mut self, what: &str) -> Result<rusqlite::Transaction<'_>> {
        self.connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_error(what, e))
    }

    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let what = format!("sqlite:{}", path.display());
        let err = |e: rusqlite::Error| db_error(&what, e);
        let connection = Connection::open(path).map_err(err)?;
        connection
            .busy_timeout(Duration::from_secs(120))
            .map_err(err)?;
        // WAL lets `--status` read while a worker writes.
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        connection
            .execute_batch(&schema("BLOB", "INTEGER"))
            .map_err(err)?;
        Ok(Sqlite {
            path: path.to_path_buf(),
            connection,
        })
    }

    fn what(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }
}

fn read(tx: &Connection, what: &str, study: &str) -> Result<Vec<Trial>> {
    let err = |e: rusqlite::Error| db_error(what, e);
    let mut statement = tx
        .prepare("SELECT data FROM trials WHERE study = ?1 ORDER BY number")
        .map_err(err)?;
    let rows = statement
        .query_map(params![study], |row| row.get::<_, String>(0))
        .map_err(err)?;
    rows.map(|r| decode(what, &r.map_err(err)?)).collect()
}

impl Storage for Sqlite {
    fn open_study(&mut self, study: &str, description: &str) -> Result<String> {
        let what = self.what();
        let err = |e: rusqlite::Error| db_error(&what, e);
        self.connection
            .execute(
                "INSERT INTO studies (name, description) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
                params![study, description],
            )
            .map_err(err)?;
        self.connection
            .query_row(
                "SELECT description FROM studies WHERE name = ?1",
                params![study],
                |row| row.get(0),
            )
            .map_err(err)
    }

    fn transact(
        &mut self,
        study: &str,
        change: &mut dyn FnMut(&[Trial]) -> Result<Vec<Trial>>,
    ) -> Result<()> {
        let what = self.what();
        let err = |e: rusqlite::Error| db_error(&what, e);
        let tx = self.locked(&what)?;
        let trials = read(&tx, &what, study)?;
        for trial in change(&trials)? {
            tx.execute(
                "INSERT INTO trials (study, number, state, data) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(study, number) DO UPDATE SET state = excluded.state, data = excluded.data",
                params![study, trial.number as i64, trial.state.name(), encode(&trial)?],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    fn trials(&mut self, study: &str) -> Result<Vec<Trial>> {
        let what = self.what();
        read(&self.connection, &what, study)
    }

    fn keep_adapter_if_best(
        &mut self,
        study: &str,
        number: u64,
        files: &[AdapterFile],
        best: &dyn Fn(&[Trial]) -> Option<u64>,
    ) -> Result<bool> {
        let what = self.what();
        let err = |e: rusqlite::Error| db_error(&what, e);
        let tx = self.locked(&what)?;
        if best(&read(&tx, &what, study)?) != Some(number) {
            return Ok(false);
        }
        tx.execute("DELETE FROM adapters WHERE study = ?1", params![study])
            .map_err(err)?;
        for (name, data) in files {
            tx.execute(
                "INSERT INTO adapters (study, number, name, data) VALUES (?1, ?2, ?3, ?4)",
                params![study, number as i64, name, data],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(true)
    }

    fn best_adapter(&mut self, study: &str) -> Result<Option<(u64, Vec<AdapterFile>)>> {
        let what = self.what();
        let err = |e: rusqlite::Error| db_error(&what, e);
        let mut statement = self
            .connection
            .prepare("SELECT number, name, data FROM adapters WHERE study = ?1 ORDER BY name")
            .map_err(err)?;
        let rows = statement
            .query_map(params![study], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get(2)?))
            })
            .map_err(err)?
            .collect::<std::result::Result<Vec<(i64, String, Vec<u8>)>, _>>()
            .map_err(err)?;
        Ok(rows
            .first()
            .map(|(number, _, _)| *number as u64)
            .map(|number| {
                let files = rows
                    .into_iter()
                    .map(|(_, name, data)| (name, data))
                    .collect();
                (number, files)
            }))
    }
}
