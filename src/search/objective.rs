//! What running a trial means: a [`TrialRunner`] trains (or, for tests and custom jobs, runs a
//! command) and reports each intermediate value through a [`Reporter`], which records it in
//! the study and asks the pruner whether to stop.
use super::pruner::should_prune;
use super::space::{Direction, PrunerSpec};
use super::storage::Storage;
use super::trial::{now, State, Trial};
use crate::error::{Error, Result};
use std::io::{BufRead, Write};
use std::path::PathBuf;

pub enum Outcome {
    /// One value per objective metric.
    Complete(Vec<f64>),
    /// Stopped by the pruner, with its reason.
    Pruned(String),
}

pub trait TrialRunner {
    fn run(&self, trial: &Trial, reporter: &mut Reporter) -> Result<Outcome>;
    /// Where trial `number` keeps its files (`OUTPUT/trials/N`), when it has any.
    fn trial_dir(&self, number: u64) -> Option<PathBuf>;
}

pub struct Reporter<'a> {
    pub(crate) storage: &'a mut dyn Storage,
    pub(crate) study: &'a str,
    pub(crate) number: u64,
    pub(crate) worker: &'a str,
    pub(crate) pruner: PrunerSpec,
    pub(crate) direction: Direction,
    pub(crate) evaluations: u64,
}

impl Reporter<'_> {
    /// Records the next intermediate value of the first metric; returns why the trial should
    /// stop, if the pruner says so.
    pub fn report(&mut self, value: f64) -> Result<Option<String>> {
        self.evaluations += 1;
        let step = self.evaluations;
        let (number, worker, pruner, direction) =
            (self.number, self.worker, self.pruner, self.direction);
        let mut verdict = None;
        self.storage.transact(self.study, &mut |trials| {
            let Some(mut own) = trials
                .iter()
                .find(|t| t.number == number && t.state == State::Running && t.worker == worker)
                .cloned()
            else {
                return Ok(Vec::new()); // no longer ours (declared dead): the finish says so
            };
            own.intermediate.push((step, value));
            own.heartbeat = now();
            verdict = should_prune(pruner, direction, &own, trials);
            Ok(vec![own])
        })?;
        Ok(verdict)
    }
}

/// `--objective-command CMD`: runs `sh -c CMD` per trial. The parameters come as JSON on
/// stdin and in `LORATUNE_PARAMS`, each also as `LORATUNE_PARAM_<KEY>` (the key upper-cased,
/// `.` as `_`, e.g. `LORATUNE_PARAM_TRAIN_LEARNING_RATE`), with `LORATUNE_TRIAL` (number) and
/// `LORATUNE_TRIAL_DIR`. The command prints `intermediate VALUE` lines (each one an
/// evaluation the pruner may stop the trial after; the command is then killed) and one
/// `objective VALUE...` line (one value per metric); other lines are ignored.
pub struct CommandObjective {
    pub command: String,
    pub metrics: usize,
    pub output: PathBuf,
}

pub fn param_env_name(key: &str) -> String {
    let cleaned: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("LORATUNE_PARAM_{cleaned}")
}

impl TrialRunner for CommandObjective {
    fn trial_dir(&self, number: u64) -> Option<PathBuf> {
        Some(self.output.join("trials").join(number.to_string()))
    }

    fn run(&self, trial: &Trial, reporter: &mut Reporter) -> Result<Outcome> {
        use std::os::unix::process::CommandExt;
        use std::process::{Command, Stdio};
        let json =
            serde_json::to_string(&trial.params).map_err(|e| Error::Config(e.to_string()))?;
        let dir = self.trial_dir(trial.number).unwrap_or_default();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&self.command)
            .env("LORATUNE_PARAMS", &json)
            .env("LORATUNE_TRIAL", trial.number.to_string())
            .env("LORATUNE_TRIAL_DIR", &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // its own process group, so that pruning stops the command's children too
            .process_group(0);
        for (key, value) in &trial.params {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            command.env(param_env_name(key), text);
        }
        let failed = |e: std::io::Error| {
            Error::Config(format!("--objective-command `{}`: {e}", self.command))
        };
        let mut child = command.spawn().map_err(failed)?;
        if let Some(mut stdin) = child.stdin.take() {
            // a command that does not read stdin closes it early: not an error
            let _ = stdin.write_all(json.as_bytes());
        }
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::Config("no stdout".into()))?;
        let mut values = None;
        let mut pruned = None;
        let bad = |line: &str| {
            Error::Config(format!(
                "--objective-command `{}`: trial {}: cannot read `{line}` (expected `intermediate VALUE` or `objective VALUE...`)",
                self.command, trial.number
            ))
        };
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.map_err(failed)?;
            let mut words = line.split_whitespace();
            match words.next() {
                Some("intermediate") => {
                    let v: f64 = words
                        .next()
                        .and_then(|w| w.parse().ok())
                        .ok_or_else(|| bad(&line))?;
                    if let Some(reason) = reporter.report(v)? {
                        // SAFETY: kill(2) on the child's process group, which it leads.
                        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                        pruned = Some(reason);
                        break;
                    }
                }
                Some("objective") => {
                    let v: Vec<f64> = words
                        .map(|w| w.parse().map_err(|_| bad(&line)))
                        .collect::<Result<_>>()?;
                    if v.len() != self.metrics {
                        return Err(Error::Config(format!(
                            "--objective-command: trial {} printed {} objective value(s) for {} metric(s)",
                            trial.number,
                            v.len(),
                            self.metrics
                        )));
                    }
                    values = Some(v);
                }
                _ => {}
            }
        }
        let status = child.wait().map_err(failed)?;
        if let Some(reason) = pruned {
            return Ok(Outcome::Pruned(reason));
        }
        if !status.success() {
            return Err(Error::Config(format!(
                "--objective-command `{}` failed for trial {} ({status})",
                self.command, trial.number
            )));
        }
        values.map(Outcome::Complete).ok_or_else(|| {
            Error::Config(format!(
                "--objective-command `{}` printed no `objective VALUE` line for trial {}",
                self.command, trial.number
            ))
        })
    }
}
