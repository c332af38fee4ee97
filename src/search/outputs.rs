//! What a search leaves in `--output`: `trials.jsonl`, `best.toml` (the full recipe with the
//! best parameters, runnable by `loratune run`), `best/adapter/`, `pareto.jsonl` for several
//! objectives, `report/` (see [`super::report`]), and the progress line and leaderboard it
//! prints.
use super::adapter_store::{copy_adapter, write_adapter};
use super::ranking::{best, pareto_front};
use super::space::Space;
use super::storage::AdapterFile;
use super::train_trial::trial_overrides;
use super::trial::{state_counts, State, Trial};
use crate::error::{Error, Result};
use crate::output::write_atomic;
use crate::recipe::Recipe;
use std::path::{Path, PathBuf};

fn objective_text(trial: &Trial) -> String {
    match &trial.values {
        Some(v) => v
            .iter()
            .map(|x| format!("{x:.4}"))
            .collect::<Vec<_>>()
            .join(", "),
        None => "-".into(),
    }
}

fn params_text(trial: &Trial) -> String {
    trial
        .params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line per finished trial: number, state, objective, parameters, best so far and the
/// study's count.
pub fn progress_line(trial: &Trial, all: &[Trial], space: &Space, target: usize) -> String {
    let finished = all.iter().filter(|t| t.state.finished()).count();
    let best = best(all, space)
        .map(|b| format!("best {} (trial {})", objective_text(b), b.number))
        .unwrap_or_else(|| "no complete trial yet".into());
    let mut line = format!(
        "[{finished}/{target}] trial {} {}: {} {} [{} {}] | {best}",
        trial.number,
        trial.state.name(),
        space.objective.metrics.join(", "),
        objective_text(trial),
        params_text(trial),
        trial
            .duration
            .map(|d| format!("{d:.1}s"))
            .unwrap_or_default(),
    );
    if let (State::Failed, Some(note)) = (trial.state, &trial.note) {
        line.push_str(&format!(" | {note}"));
    }
    line
}

/// The complete trials from best to worst (at most `top`), then a count of the others.
pub fn leaderboard(trials: &[Trial], space: &Space, top: usize) -> String {
    let d = space.objective.directions[0];
    let mut complete: Vec<&Trial> = trials
        .iter()
        .filter(|t| t.state == State::Complete)
        .collect();
    complete.sort_by(|a, b| {
        let v = |t: &Trial| d.loss(t.values.as_ref().map_or(f64::NAN, |v| v[0]));
        v(a).total_cmp(&v(b))
    });
    let mut out = format!(
        "leaderboard ({} {}):\n",
        space.objective.metrics.join(", "),
        space
            .objective
            .directions
            .iter()
            .map(|d| d.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (rank, t) in complete.iter().take(top).enumerate() {
        out.push_str(&format!(
            "{:>3}. trial {:>3}  {}  {}\n",
            rank + 1,
            t.number,
            objective_text(t),
            params_text(t)
        ));
    }
    out.push_str(&state_counts(trials));
    out
}

/// `--status`: every trial, one line each.
pub fn status(trials: &[Trial], space: &Space) -> String {
    let mut out = String::new();
    for t in trials {
        out.push_str(&format!(
            "trial {:>3} {:<8} {:<24} {} [{}] {}\n",
            t.number,
            t.state.name(),
            objective_text(t),
            t.host,
            params_text(t),
            t.note.as_deref().unwrap_or_default()
        ));
    }
    out.push_str(&leaderboard(trials, space, 5));
    out
}

pub struct OutputPlan<'a> {
    pub output: &'a Path,
    /// The study's name and storage URL (without password), for the report's header.
    pub study: &'a str,
    pub storage: &'a str,
    pub recipe: &'a Path,
    pub overrides: &'a [String],
    /// Where trial N kept its files, if it has any.
    pub trial_dir: &'a dyn Fn(u64) -> Option<PathBuf>,
    /// The best adapter stored in the study's database (trial number, files), if any.
    pub stored_adapter: Option<&'a (u64, Vec<AdapterFile>)>,
    pub keep_all: bool,
}

/// Writes the study's outputs. Trials' folders other than the best one's are deleted
/// (unless `keep_all`) once they are finished.
pub fn write(plan: &OutputPlan, trials: &[Trial], space: &Space) -> Result<Option<u64>> {
    let out = plan.output;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut lines = String::new();
    for t in trials {
        lines.push_str(&t.record().to_string());
        lines.push('\n');
    }
    write_atomic(&out.join("trials.jsonl"), lines.as_bytes())?;
    if space.objective.metrics.len() > 1 {
        let mut front = String::new();
        for t in pareto_front(trials, space) {
            front.push_str(&t.record().to_string());
            front.push('\n');
        }
        write_atomic(&out.join("pareto.jsonl"), front.as_bytes())?;
    }
    super::report::write(
        &out.join("report"),
        &super::report::StudyInfo {
            study: plan.study,
            storage: plan.storage,
            recipe: plan.recipe,
        },
        trials,
        space,
    )?;
    let Some(best) = best(trials, space) else {
        return Ok(None);
    };
    let overrides = trial_overrides(plan.overrides, &best.params, &out.join("best-run"))?;
    let recipe = Recipe::load(plan.recipe, &overrides)?;
    let header = format!(
        "# loratune search: trial {} of {} ({} = {})\n",
        best.number,
        space.path.display(),
        space.objective.metrics.join(", "),
        objective_text(best)
    );
    write_atomic(
        &out.join("best.toml"),
        (header + &recipe.to_toml()?).as_bytes(),
    )?;
    let target = out.join("best").join("adapter");
    match plan.stored_adapter {
        Some((number, files)) if *number == best.number => write_adapter(&target, files)?,
        _ => {
            if let Some(adapter) = (plan.trial_dir)(best.number)
                .map(|d| d.join("adapter"))
                .filter(|a| a.join("adapter_config.json").is_file())
            {
                copy_adapter(&adapter, &target)?;
            }
        }
    }
    if !plan.keep_all {
        for t in trials.iter().filter(|t| {
            t.number != best.number && !matches!(t.state, State::Running | State::Waiting)
        }) {
            if let Some(dir) = (plan.trial_dir)(t.number).filter(|d| d.is_dir()) {
                match std::fs::remove_dir_all(&dir) {
                    // another worker of the study, writing the outputs too, removed it first
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    other => other.map_err(|e| Error::io(&dir, e))?,
                }
            }
        }
    }
    Ok(Some(best.number))
}
