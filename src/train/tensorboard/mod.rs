//! `train.report_to = ["tensorboard"]`: the run's scalars as TensorBoard event files, in
//! Transformers' layout: `OUTPUT_DIR/runs/<Mon><DD>_<HH>-<MM>-<SS>_<host>/events.out.tfevents.<seconds>.<host>`
//! (the time in UTC), with the tags of its `TensorBoardCallback`: `train/loss`,
//! `train/learning_rate`, `train/grad_norm`, `train/epoch` per training log line and
//! `eval/<metric>` per evaluation (`eval_loss` → `eval/loss`). Written as the run goes, so
//! `tensorboard --logdir OUTPUT_DIR/runs` shows it live; a resumed run starts a new folder,
//! as in Transformers.
mod event_file;

use super::callback::{round4, Callback, Control, Logs, TrainerView};
use crate::error::Result;
use event_file::EventFile;
use std::path::{Path, PathBuf};

/// Folder under `OUTPUT_DIR` that holds the TensorBoard runs (Transformers' `logging_dir`).
pub(crate) const RUNS_DIR: &str = "runs";

/// The machine's host name (as Python's `socket.gethostname()`), `localhost` if unknown.
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(0);
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    // a host name goes into file names: keep it to what is safe there
    let safe: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .collect();
    if ok && !safe.is_empty() {
        safe
    } else {
        "localhost".into()
    }
}

/// `Dec07_16-29-28` for a Unix time (UTC), as Transformers' `datetime.now().strftime("%b%d_%H-%M-%S")`.
fn run_time_name(unix_seconds: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (unix_seconds / 86_400) as i64;
    let secs = unix_seconds % 86_400;
    // civil_from_days (H. Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
    format!(
        "{}{:02}_{:02}-{:02}-{:02}",
        MONTHS[month - 1],
        day,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The callback that writes the event file.
pub(crate) struct TensorBoard {
    file: EventFile,
}

impl TensorBoard {
    /// Opens a new run folder under `output_dir/runs/`.
    pub(crate) fn create(output_dir: &Path) -> Result<Self> {
        let host = host_name();
        let base = format!("{}_{host}", run_time_name(event_file::now() as u64));
        let runs = output_dir.join(RUNS_DIR);
        // two runs started in the same second get distinct folders
        let mut dir: PathBuf = runs.join(&base);
        let mut n = 1;
        while dir.exists() {
            n += 1;
            dir = runs.join(format!("{base}-{n}"));
        }
        let file = EventFile::create(&dir, &host)?;
        tracing::info!("TensorBoard events: {}", file.path().display());
        Ok(Self { file })
    }
}

/// Transformers' `rewrite_logs`: `eval_x` → `eval/x`, anything else `train/x`.
fn tag(key: &str) -> String {
    match key.strip_prefix("eval_") {
        Some(rest) => format!("eval/{rest}"),
        None => format!("train/{key}"),
    }
}

impl Callback for TensorBoard {
    fn on_log(&mut self, state: &TrainerView, logs: &Logs) -> Result<Control> {
        let values: Vec<(String, f64)> = match *logs {
            Logs::Train {
                loss,
                learning_rate,
                grad_norm,
            } => vec![
                (tag("loss"), loss),
                (tag("learning_rate"), learning_rate),
                (tag("grad_norm"), grad_norm),
                // rounded as metrics.jsonl writes it
                (tag("epoch"), round4(state.epoch)),
            ],
            Logs::Eval(metrics) => metrics.iter().map(|(k, v)| (tag(k), *v)).collect(),
            Logs::Skipped { .. } => Vec::new(),
        };
        if !values.is_empty() {
            self.file.scalars(state.global_step, &values)?;
        }
        Ok(Control::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_folder_time() {
        // date -u -d @1796660968 → Mon Dec  7 16:29:28 UTC 2026
        assert_eq!(run_time_name(1_796_660_968), "Dec07_16-29-28");
        assert_eq!(run_time_name(0), "Jan01_00-00-00");
        // 2024-02-29 23:59:59 UTC
        assert_eq!(run_time_name(1_709_251_199), "Feb29_23-59-59");
    }

    #[test]
    fn tags_as_transformers() {
        assert_eq!(tag("loss"), "train/loss");
        assert_eq!(tag("eval_f1"), "eval/f1");
        assert_eq!(tag("eval_loss"), "eval/loss");
    }

    #[test]
    fn host_name_is_file_safe() {
        let host = host_name();
        assert!(!host.is_empty());
        assert!(!host.contains('/'));
    }
}
