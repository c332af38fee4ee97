//! `postgres://USER@HOST:PORT/DB`: the study in a PostgreSQL database, for workers on several
//! machines. The study's row is locked (`SELECT ... FOR UPDATE`) for the length of each
//! transaction, so claims are serialised across machines.
use super::{db_error, decode, encode, Storage};
use crate::error::Result;
use crate::search::trial::Trial;
use postgres::{Client, NoTls};

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
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS studies (name TEXT PRIMARY KEY, description TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS trials (study TEXT NOT NULL, number BIGINT NOT NULL,
                 state TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (study, number));",
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Postgres { what, client })
    }
}

/// The URL with any password replaced by `***`.
fn redact(url: &str) -> String {
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
        tx.query(
            "SELECT name FROM studies WHERE name = $1 FOR UPDATE",
            &[&study],
        )
        .map_err(err)?;
        let trials = tx
            .query(
                "SELECT data FROM trials WHERE study = $1 ORDER BY number",
                &[&study],
            )
            .map_err(err)?
            .iter()
            .map(|row| decode(&what, row.get(0)))
            .collect::<Result<Vec<_>>>()?;
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
        let err = |e: postgres::Error| db_error(&what, e);
        self.client
            .query(
                "SELECT data FROM trials WHERE study = $1 ORDER BY number",
                &[&study],
            )
            .map_err(err)?
            .iter()
            .map(|row| decode(&what, row.get(0)))
            .collect()
    }
}
