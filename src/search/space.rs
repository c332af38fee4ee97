//! The space file: what to optimise (`[objective]`), when to stop a trial early (`[pruner]`)
//! and which recipe keys to vary (`[params]`). Every key of `[params]` is a recipe key
//! (`section.key`), checked against the recipe's own key list when the file loads; errors
//! name the file, the line and the key.
use crate::error::{Error, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Whether a larger objective value is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Minimize,
    Maximize,
}

impl Direction {
    /// The value turned into a loss (smaller is better), as the samplers and pruners see it.
    pub fn loss(self, value: f64) -> f64 {
        match self {
            Direction::Minimize => value,
            Direction::Maximize => -value,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Direction::Minimize => "minimize",
            Direction::Maximize => "maximize",
        }
    }
}

/// One or more metrics (two or more: a multi-objective study whose result is a Pareto front).
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    pub metrics: Vec<String>,
    pub directions: Vec<Direction>,
}

/// When a trial is stopped early (Optuna's pruners).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PrunerSpec {
    None,
    /// Prune when the trial's best intermediate value is worse than the median of the
    /// completed trials' values at the same evaluation; the first `n_startup_trials`
    /// complete trials are never compared against.
    Median {
        n_startup_trials: usize,
    },
    /// Asynchronous successive halving: rungs after `min_resource * reduction_factor^k`
    /// evaluations; a trial goes on only when its value is in the best `1/reduction_factor`
    /// of all values recorded at that rung.
    Asha {
        min_resource: usize,
        reduction_factor: usize,
    },
}

/// The range a parameter is drawn from.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    /// A real number; `log` draws it uniformly in log space (`loguniform`).
    Float { low: f64, high: f64, log: bool },
    /// An integer in `low..=high`, on the grid `low + k*step`.
    Int { low: i64, high: i64, step: i64 },
    /// One of a list of TOML values (numbers, strings, arrays...).
    Choice(Vec<Value>),
}

impl Distribution {
    /// The grid's values of a `choice` or `int`; `None` for a continuous range.
    pub fn grid_values(&self) -> Option<Vec<Value>> {
        match self {
            Distribution::Float { .. } => None,
            Distribution::Int { low, high, step } => Some(
                (0..=((high - low) / step))
                    .map(|k| Value::from(low + k * step))
                    .collect(),
            ),
            Distribution::Choice(choices) => Some(choices.clone()),
        }
    }

    /// Whether `value` is one this distribution can give.
    pub fn contains(&self, value: &Value) -> bool {
        match self {
            Distribution::Float { low, high, .. } => {
                value.as_f64().is_some_and(|v| (*low..=*high).contains(&v))
            }
            Distribution::Int { low, high, step } => value
                .as_i64()
                .is_some_and(|v| (*low..=*high).contains(&v) && (v - low) % step == 0),
            Distribution::Choice(choices) => choices.contains(value),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The recipe key, `section.key`.
    pub key: String,
    pub distribution: Distribution,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    pub path: PathBuf,
    pub objective: Objective,
    pub pruner: PrunerSpec,
    /// In the file's order.
    pub params: Vec<Param>,
}

/// ASHA's reduction factor (Optuna's default).
pub const REDUCTION_FACTOR: usize = 3;

impl Space {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        // toml keeps the file's key order only with its preserve_order feature, which the
        // crate does not enable here; the order of [params] is read from the text instead.
        let root: toml::Table = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(1);
            Error::line(path, line, e.message().to_string())
        })?;
        let at = |key: &str, message: String| match line_of(text, key) {
            Some(line) => Error::line(path, line, message),
            None => Error::file(path, message),
        };
        for section in root.keys() {
            if !["objective", "pruner", "params"].contains(&section.as_str()) {
                return Err(at(
                    section,
                    format!("unknown section `[{section}]`; a space file has [objective], [pruner] and [params]"),
                ));
            }
        }
        let objective = parse_objective(root.get("objective"), &at)?;
        let pruner = parse_pruner(root.get("pruner"), &at)?;
        let table = root
            .get("params")
            .and_then(|v| v.as_table())
            .ok_or_else(|| Error::file(path, "missing section `[params]`"))?;
        let mut keys: Vec<&String> = table.keys().collect();
        keys.sort_by_key(|k| line_of(text, k).unwrap_or(usize::MAX));
        let mut params = Vec::new();
        for key in keys {
            let parts: Vec<&str> = key.split('.').collect();
            if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
                return Err(at(
                    key,
                    format!("`{key}`: a parameter is a recipe key `section.key` (e.g. \"train.learning_rate\")"),
                ));
            }
            crate::recipe::keys::check_path(&parts)
                .map_err(|u| at(key, format!("`{key}`: {}", u.message)))?;
            let distribution =
                parse_distribution(&table[key]).map_err(|m| at(key, format!("`{key}`: {m}")))?;
            params.push(Param {
                key: key.clone(),
                distribution,
            });
        }
        if params.is_empty() {
            return Err(Error::file(path, "[params] names no parameter"));
        }
        Ok(Space {
            path: path.to_path_buf(),
            objective,
            pruner,
            params,
        })
    }

    pub fn param(&self, key: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.key == key)
    }
}

/// The first line that starts with `key` (bare or quoted) followed by `=`, or a `[key]` header.
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            let rest = [format!("\"{key}\""), format!("'{key}'"), key.to_string()]
                .iter()
                .find_map(|k| line.strip_prefix(k.as_str()).map(str::trim_start));
            rest.is_some_and(|r| r.starts_with('=')) || line.trim_end() == format!("[{key}]")
        })
        .map(|i| i + 1)
}

type At<'a> = dyn Fn(&str, String) -> Error + 'a;

fn strings(value: &toml::Value) -> Option<Vec<String>> {
    match value {
        toml::Value::String(s) => Some(vec![s.clone()]),
        toml::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => None,
    }
}

fn parse_objective(section: Option<&toml::Value>, at: &At) -> Result<Objective> {
    let table = section.and_then(|s| s.as_table()).ok_or_else(|| {
        at(
            "objective",
            "missing section `[objective]` (metric and direction)".into(),
        )
    })?;
    for key in table.keys() {
        if key != "metric" && key != "direction" {
            return Err(at(
                key,
                format!("objective.{key}: unknown key; [objective] has metric and direction"),
            ));
        }
    }
    let metrics = table
        .get("metric")
        .and_then(strings)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            at(
                "metric",
                "objective.metric: expected a metric name or a list of them (e.g. \"eval_f1\")"
                    .into(),
            )
        })?;
    let directions = table
        .get("direction")
        .and_then(strings)
        .ok_or_else(|| at("direction", "objective.direction: expected \"maximize\" or \"minimize\" (a list for several metrics)".into()))?;
    if directions.len() != metrics.len() {
        return Err(at(
            "direction",
            format!(
                "objective.direction: {} direction(s) for {} metric(s)",
                directions.len(),
                metrics.len()
            ),
        ));
    }
    let directions = directions
        .iter()
        .map(|d| match d.as_str() {
            "maximize" => Ok(Direction::Maximize),
            "minimize" => Ok(Direction::Minimize),
            other => Err(at(
                "direction",
                format!("objective.direction: unknown direction `{other}`; valid values: maximize, minimize"),
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Objective {
        metrics,
        directions,
    })
}

fn parse_pruner(section: Option<&toml::Value>, at: &At) -> Result<PrunerSpec> {
    let Some(section) = section else {
        return Ok(PrunerSpec::None);
    };
    let table = section
        .as_table()
        .ok_or_else(|| at("pruner", "[pruner] must be a section".into()))?;
    let count = |key: &str, default: usize| -> Result<usize> {
        match table.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_integer()
                .filter(|n| *n >= 0)
                .map(|n| n as usize)
                .ok_or_else(|| at(key, format!("pruner.{key}: expected a whole number ≥ 0"))),
        }
    };
    let kind = match table.get("kind") {
        None => "none",
        Some(v) => v.as_str().ok_or_else(|| {
            at(
                "kind",
                "pruner.kind: expected \"none\", \"median\" or \"asha\"".into(),
            )
        })?,
    };
    let allowed: &[&str] = match kind {
        "none" => &["kind"],
        "median" => &["kind", "n_startup_trials"],
        "asha" => &["kind", "min_resource", "reduction_factor"],
        other => {
            return Err(at(
                "kind",
                format!("pruner.kind: unknown pruner `{other}`; valid values: none, median, asha"),
            ))
        }
    };
    if let Some(key) = table.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(at(
            key,
            format!(
                "pruner.{key}: not a setting of the `{kind}` pruner (it has {})",
                allowed.join(", ")
            ),
        ));
    }
    Ok(match kind {
        "median" => PrunerSpec::Median {
            n_startup_trials: count("n_startup_trials", 5)?,
        },
        "asha" => {
            let reduction_factor = count("reduction_factor", REDUCTION_FACTOR)?;
            if reduction_factor < 2 {
                return Err(at(
                    "reduction_factor",
                    "pruner.reduction_factor: must be at least 2".into(),
                ));
            }
            PrunerSpec::Asha {
                min_resource: count("min_resource", 1)?.max(1),
                reduction_factor,
            }
        }
        _ => PrunerSpec::None,
    })
}

fn pair(value: &toml::Value) -> Option<(f64, f64)> {
    let items = value.as_array()?;
    let num = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    match items.as_slice() {
        [a, b] => Some((num(a)?, num(b)?)),
        _ => None,
    }
}

fn parse_distribution(value: &toml::Value) -> std::result::Result<Distribution, String> {
    const FORMS: &str = "expected { loguniform = [low, high] }, { uniform = [low, high] }, { int = [low, high], step = N } or { choice = [...] }";
    let table = value.as_table().ok_or(FORMS)?;
    let kinds: Vec<&str> = ["loguniform", "uniform", "int", "choice"]
        .into_iter()
        .filter(|k| table.contains_key(*k))
        .collect();
    let [kind] = kinds.as_slice() else {
        return Err(FORMS.into());
    };
    let allowed: &[&str] = if *kind == "int" {
        &["int", "step"]
    } else {
        std::slice::from_ref(kind)
    };
    if let Some(extra) = table.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("unexpected `{extra}` in a {kind} range; {FORMS}"));
    }
    let v = &table[*kind];
    match *kind {
        "choice" => {
            let choices = v
                .as_array()
                .filter(|c| !c.is_empty())
                .ok_or("choice: expected a non-empty list")?;
            choices
                .iter()
                .map(|c| serde_json::to_value(c).map_err(|e| format!("choice: {e}")))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Distribution::Choice)
        }
        "int" => {
            let items = v
                .as_array()
                .map(|a| a.iter().map(|i| i.as_integer()).collect::<Option<Vec<_>>>());
            let Some(Some(bounds)) = items else {
                return Err("int: expected [low, high] as whole numbers".into());
            };
            let [low, high] = bounds.as_slice() else {
                return Err("int: expected [low, high] as whole numbers".into());
            };
            let step = match table.get("step") {
                None => 1,
                Some(s) => s
                    .as_integer()
                    .filter(|s| *s > 0)
                    .ok_or("step: expected a whole number > 0")?,
            };
            if low > high {
                return Err(format!("int: low {low} is above high {high}"));
            }
            if (high - low) % step != 0 {
                return Err(format!(
                    "int: high {high} is not low {low} plus a multiple of step {step}"
                ));
            }
            Ok(Distribution::Int {
                low: *low,
                high: *high,
                step,
            })
        }
        _ => {
            let (low, high) = pair(v).ok_or(format!("{kind}: expected [low, high]"))?;
            let log = *kind == "loguniform";
            if !low.is_finite() || !high.is_finite() || low >= high {
                return Err(format!("{kind}: expected low < high, got [{low}, {high}]"));
            }
            if log && low <= 0.0 {
                return Err(format!("loguniform: low must be above 0, got {low}"));
            }
            Ok(Distribution::Float { low, high, log })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPACE: &str = r#"
[objective]
metric = "eval_f1"
direction = "maximize"
[pruner]
kind = "asha"
min_resource = 1
[params]
"train.learning_rate" = { loguniform = [1e-5, 1e-2] }
"lora.r" = { choice = [4, 8, 16, 32] }
"lora.target_modules" = { choice = [["q", "v"], ["q", "k", "v", "o"]] }
"lora.lora_dropout" = { uniform = [0.0, 0.2] }
"train.batch_size" = { int = [4, 32], step = 4 }
"#;

    #[test]
    fn the_issue_example_parses_in_file_order() {
        let space = Space::parse(SPACE, Path::new("space.toml")).unwrap();
        let keys: Vec<&str> = space.params.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "train.learning_rate",
                "lora.r",
                "lora.target_modules",
                "lora.lora_dropout",
                "train.batch_size"
            ]
        );
        assert_eq!(space.objective.directions, [Direction::Maximize]);
        assert_eq!(
            space.pruner,
            PrunerSpec::Asha {
                min_resource: 1,
                reduction_factor: 3
            }
        );
        let batch = &space.params[4].distribution;
        assert_eq!(batch.grid_values().unwrap().len(), 8);
        assert!(space.params[0].distribution.grid_values().is_none());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let bad = SPACE.replace("\"lora.r\"", "\"lora.rank\"");
        let err = Space::parse(&bad, Path::new("space.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("space.toml, line 10: `lora.rank`: unknown key"),
            "{err}"
        );
        let bad = SPACE.replace("{ uniform = [0.0, 0.2] }", "{ uniform = [0.3, 0.2] }");
        let err = Space::parse(&bad, Path::new("space.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "space.toml, line 12: `lora.lora_dropout`: uniform: expected low < high"
            ),
            "{err}"
        );
        let bad = SPACE.replace("\"maximize\"", "\"max\"");
        let err = Space::parse(&bad, Path::new("space.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("space.toml, line 4: objective.direction: unknown direction `max`"),
            "{err}"
        );
    }

    #[test]
    fn two_objectives_need_two_directions() {
        let two = SPACE.replace(
            "metric = \"eval_f1\"",
            "metric = [\"eval_f1\", \"trainable_params\"]",
        );
        let err = Space::parse(&two, Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("1 direction(s) for 2 metric(s)"), "{err}");
        let two = two.replace(
            "direction = \"maximize\"",
            "direction = [\"maximize\", \"minimize\"]",
        );
        let space = Space::parse(&two, Path::new("s.toml")).unwrap();
        assert_eq!(
            space.objective.directions,
            [Direction::Maximize, Direction::Minimize]
        );
    }
}
