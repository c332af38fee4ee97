//! `--resume` / `train.resume_from_checkpoint`: which checkpoint a run continues from, and
//! whether the recipe still describes the run that wrote it.
use super::checkpoint;
use crate::error::{Error, Result};
use crate::recipe::{Recipe, ResumeFrom};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Keys that change what a run writes or keeps, never what it computes: a resumed run may
/// change them. (`eval.*` and the test data only concern the evaluation after training.)
const OUTPUT_ONLY: &[&str] = &[
    "train.output_dir",
    "train.overwrite_output_dir",
    "train.resume_from_checkpoint",
    "train.save_steps",
    "train.save_total_limit",
    "train.logging_steps",
    "train.report_to",
    "data.test",
    "data.test_samples",
];

fn output_only(key: &str) -> bool {
    OUTPUT_ONLY.contains(&key) || key.starts_with("eval.")
}

/// The checkpoint the recipe asks to continue from, if any, checked to be one.
pub(crate) fn checkpoint_to_resume(recipe: &Recipe) -> Result<Option<PathBuf>> {
    let dir = match &recipe.train.resume_from_checkpoint {
        None | Some(ResumeFrom::Latest(false)) => return Ok(None),
        Some(ResumeFrom::Latest(true)) => checkpoint::latest(&recipe.train.output_dir)?,
        Some(ResumeFrom::Checkpoint(dir)) => dir.clone(),
    };
    if !dir.join(checkpoint::STATE_FILE).is_file() {
        return Err(Error::file(
            &dir,
            format!(
                "is not a loratune checkpoint (no {}): resume from a folder OUTPUT_DIR/{}/step-N, \
                 or pass --resume alone for the newest",
                checkpoint::STATE_FILE,
                checkpoint::FOLDER
            ),
        ));
    }
    checkpoint::read_state(&dir)?;
    Ok(Some(dir))
}

/// Refuses to continue a checkpoint under a recipe that computes something else, naming every
/// key that changed (with both values).
pub(crate) fn check_recipe(checkpoint: &Path, recipe_toml: &str) -> Result<()> {
    let path = checkpoint.join(checkpoint::RECIPE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let parse = |text: &str, origin: &Path| -> Result<BTreeMap<String, String>> {
        let value: toml::Value =
            toml::from_str(text).map_err(|e| Error::file(origin, e.message().to_string()))?;
        let mut flat = BTreeMap::new();
        flatten("", &value, &mut flat);
        Ok(flat)
    };
    let then = parse(&text, &path)?;
    let now = parse(recipe_toml, Path::new("the recipe"))?;
    let mut changed = Vec::new();
    for key in then
        .keys()
        .chain(now.keys().filter(|k| !then.contains_key(*k)))
    {
        let (a, b) = (then.get(key), now.get(key));
        if a != b && !output_only(key) {
            let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "unset".into());
            changed.push(format!("{key} ({} → {})", show(a), show(b)));
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    Err(Error::file(
        &path,
        format!(
            "--resume: the recipe differs from the one this checkpoint was trained with in {}; \
             a resumed run must compute the same run (only output settings such as {} may change): \
             restore those values, or start a new run",
            changed.join(", "),
            OUTPUT_ONLY[..4].join(", ")
        ),
    ))
}

/// `section.key` → the value as TOML text.
fn flatten(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, String>) {
    match value {
        toml::Value::Table(table) => {
            for (k, v) in table {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_output_keys_may_change() {
        let dir = tempfile::tempdir().unwrap();
        let then =
            "[train]\nlearning_rate = 0.001\nsave_steps = 2\noutput_dir = \"a\"\n[lora]\nr = 8\n";
        std::fs::write(dir.path().join(checkpoint::RECIPE_FILE), then).unwrap();
        let same_run = "[train]\nlearning_rate = 0.001\nsave_steps = 5\noutput_dir = \"b\"\n[lora]\nr = 8\n[eval]\nsamples = 3\n";
        check_recipe(dir.path(), same_run).unwrap();
        let other = "[train]\nlearning_rate = 0.002\nsave_steps = 2\noutput_dir = \"a\"\n[lora]\nr = 8\nlora_dropout = 0.1\n";
        let err = check_recipe(dir.path(), other).unwrap_err().to_string();
        assert!(
            err.contains("train.learning_rate (0.001 → 0.002)")
                && err.contains("lora.lora_dropout (unset → 0.1)")
                && !err.contains("save_steps ("),
            "{err}"
        );
    }
}
