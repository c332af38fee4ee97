//! One trial of a study as the database keeps it.
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Optuna's trial states (`waiting` is a trial queued by `--enqueue` or a retry of a trial
/// whose worker died, not started yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Waiting,
    Running,
    Complete,
    Pruned,
    Failed,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Running => "running",
            State::Complete => "complete",
            State::Pruned => "pruned",
            State::Failed => "failed",
        }
    }

    /// Complete and pruned trials count towards `--trials N`.
    pub fn finished(self) -> bool {
        matches!(self, State::Complete | State::Pruned)
    }
}

/// Parameter values by recipe key.
pub type Params = BTreeMap<String, Value>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub number: u64,
    pub state: State,
    pub params: Params,
    /// One value per objective metric: complete trials; a pruned trial has its best
    /// intermediate value of the first metric here.
    #[serde(default)]
    pub values: Option<Vec<f64>>,
    /// (evaluation number from 1, value of the first metric) as reported during the trial.
    #[serde(default)]
    pub intermediate: Vec<(u64, f64)>,
    /// Unix seconds of the last sign of life of the worker running it.
    #[serde(default)]
    pub heartbeat: f64,
    /// `host:pid` of the worker that claimed it.
    #[serde(default)]
    pub worker: String,
    #[serde(default)]
    pub host: String,
    /// Unix seconds when it started running.
    #[serde(default)]
    pub started: Option<f64>,
    /// Seconds from start to its final state.
    #[serde(default)]
    pub duration: Option<f64>,
    /// The trial this one retries (its worker died).
    #[serde(default)]
    pub retry_of: Option<u64>,
    /// Why it was pruned or failed.
    #[serde(default)]
    pub note: Option<String>,
}

impl Trial {
    pub fn new(number: u64, state: State, params: Params) -> Self {
        Trial {
            number,
            state,
            params,
            values: None,
            intermediate: Vec::new(),
            heartbeat: 0.0,
            worker: String::new(),
            host: String::new(),
            started: None,
            duration: None,
            retry_of: None,
            note: None,
        }
    }

    /// The `trials.jsonl` line.
    pub fn record(&self) -> Value {
        serde_json::json!({
            "number": self.number,
            "params": self.params,
            "state": self.state.name(),
            "values": self.values,
            "intermediate_values": self.intermediate,
            "duration": self.duration,
            "worker_host": self.host,
            "worker": self.worker,
            "retry_of": self.retry_of,
            "note": self.note,
        })
    }
}

/// `3 complete, 1 pruned, 0 failed, 0 running, 0 waiting`: a study's trials by state.
pub fn state_counts(trials: &[Trial]) -> String {
    let count = |s: State| trials.iter().filter(|t| t.state == s).count();
    format!(
        "{} complete, {} pruned, {} failed, {} running, {} waiting",
        count(State::Complete),
        count(State::Pruned),
        count(State::Failed),
        count(State::Running),
        count(State::Waiting)
    )
}

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `host:pid`, naming this worker in the database.
pub fn worker_name() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into the buffer it is given.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown-host".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
