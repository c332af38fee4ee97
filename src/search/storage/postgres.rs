//! `postgres://USER@HOST:PORT/DB`: the study in a PostgreSQL database, for workers on several
//! machines. The study's row is locked (`SELECT ... FOR UPDATE`) for the length of each
//! transaction, so claims are serialised across machines.
use super::{db_error, decode, encode, schema, AdapterFile, Storage};
use crate::error::Result;
use crate::search::trial::Trial;
use postgres::{Client, GenericClient, NoTls};

pub struct Postgres {
    /// The URL without its password, for messages.
    what: String,
    client: Client,
}

/// Any key of PostgreSQL's advisory locks, the same for every worker: it serialises the
/// creation of the tables (CREATE TABLE IF NOT EXISTS races between sessions otherwise).
const SCHEMA_LOCK: i64 = 0x6c6f_7261_7475_6e65; // "loratune"

impl Postgres {
    pub fn open(url: &str) -> Result<Self> {
        let what = redact(url);
        let err = |e: postgres::Error| db_error(&what, e);
        let mut client = Client::connect(url, NoTls).map_err(err)?;
        let mut tx = client.transaction().map_err(err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .map_err(err)?;
        tx.batch_execute(&schema("BYTEA", "BIGINT")).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Postgres { what, client })
    }
}

/// The study's trials, by number (inside a transaction or not).
fn read(client: &mut impl GenericClient, what: &str, study: &str) -> Result<Vec<Trial>> {
    client
        .query(
            "SELECT data FROM trials WHERE study = $1 ORDER BY number",
            &[&study],
        )
        .map_err(|e| db_error(what, e))?
        .iter()
        .map(|row| decode(what, row.get(0)))
        .collect()
}

/// Locks the study's row until the transaction ends: claims are serialised across machines.
fn lock(tx: &mut postgres::Transaction, what: &str, study: &str) -> Result<()> {
    tx.query(
        "SELECT name FROM studies WHERE name = $1 FOR UPDATE",
        &[&study],
    )
    .map_err(|e| db_error(what, e))?;
    Ok(())
}

/// The URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user_info = &url[scheme + 3..at];
            match user_info.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Storage for Postgres {
    fn open_study(&mut self, study: &str, description: &str) -> Result<String> {
        let what = self.what.clone();
        let err = |e: postgres::Error| db_error(&what, e);
        self.client
            .execute(
                "INSERT INTO studies (name, description) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&study, &description],
            )
            .map_err(err)?;
        let row = self
            .client
            .query_one("SELECT description FROM studies WHERE name = $1", &[&study])
            .map_err(err)?;
        Ok(row.get(0))
    }

    fn transact(
        &mut self,
        study: &str,
        change: &mut dyn FnMut(&[Trial]) -> Result<Vec<Trial>>,
    ) -> Result<()> {
        let what = self.what.clone();
        let err = |e: postgres::Error| db_error(&what, e);
        let mut tx = self.client.transaction().map_err(err)?;
        lock(&mut tx, &what, study)?;
        let trials = read(&mut tx, &what, study)?;
        for trial in change(&trials)? {
            tx.execute(
                "INSERT INTO trials (study, number, state, data) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (study, number) DO UPDATE SET state = EXCLUDED.state, data = EXCLUDED.data",
                &[&study, &(trial.number as i64), &trial.state.name(), &encode(&trial)?],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    fn trials(&mut self, study: &str) -> Result<Vec<Trial>> {
        let what = self.what.clone();
        read(&mut self.client, &what, study)
    }

    fn keep_adapter_if_best(
        &mut self,
        study: &str,
        number: u64,
        files: &[AdapterFile],
        best: &dyn Fn(&[Trial]) -> Option<u64>,
    ) -> Result<bool> {
        let what = self.what.clone();
        let err = |e: postgres::Error| db_error(&what, e);
        let mut tx = self.client.transaction().map_err(err)?;
        lock(&mut tx, &what, study)?;
        if best(&read(&mut tx, &what, study)?) != Some(number) {
            return Ok(false);
        }
        tx.execute("DELETE FROM adapters WHERE study = $1", &[&study])
            .map_err(err)?;
        for (name, data) in files {
            tx.execute(
                "INSERT INTO adapters (study, number, name, data) VALUES ($1, $2, $3, $4)",
                &[&study, &(number as i64), name, data],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(true)
    }

    fn best_adapter(&mut self, study: &str) -> Result<Option<(u64, Vec<AdapterFile>)>> {
        let what = self.what.clone();
        let rows = self
            .client
            .query(
                "SELECT number, name, data FROM adapters WHERE study = $1 ORDER BY name",
                &[&study],
            )
            .map_err(|e| db_error(&what, e))?;
        let number = rows.first().map(|row| row.get::<_, i64>(0) as u64);
        Ok(number.map(|number| {
            let files = rows.iter().map(|row| (row.get(1), row.get(2))).collect();
            (number, files)
        }))
    }
}
