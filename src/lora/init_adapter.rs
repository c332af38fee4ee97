//! `lora.init_adapter`: a run that continues a saved adapter trains the adapter its
//! `adapter_config.json` describes, so that file fixes the recipe's LoRA keys (r, lora_alpha,
//! lora_dropout, target_modules, modules_to_save). A recipe may leave them out; a key it sets
//! must agree, else the run is refused before any work, naming each key with both values. The
//! run's `recipe.toml` records the adapter's values, i.e. what was used.
use super::config::{all_linear, LoraConfig, TargetModules};
use super::peft::CONFIG_FILE;
use super::Adaptable;
use crate::error::{Error, Result};
use crate::recipe::{LoraSection, Recipe, Task};
use std::collections::BTreeSet;

/// PEFT adds these to `modules_to_save` of every `SEQ_CLS` adapter it creates or saves.
const PEFT_SEQ_CLS_SAVES: [&str; 2] = ["classifier", "score"];

/// The adapter's config when the recipe has `lora.init_adapter`, after refusing recipe keys
/// that contradict it. With the model at hand, `"all-linear"` on either side is compared by
/// the modules it names; without it (before weights load), that one comparison waits.
pub fn checked_config(
    recipe: &Recipe,
    model: Option<&mut dyn Adaptable>,
) -> Result<Option<LoraConfig>> {
    let Some(dir) = &recipe.lora.init_adapter else {
        return Ok(None);
    };
    let path = dir.join(CONFIG_FILE);
    let config = LoraConfig::read(&path)?;
    let conflicts = conflicts(&recipe.lora, recipe.model.task, &config, model);
    if conflicts.is_empty() {
        return Ok(Some(config));
    }
    Err(Error::Config(format!(
        "lora.init_adapter = \"{}\": the recipe's LoRA settings contradict {}, which fixes them for a run that continues this adapter: {}. Leave these keys out of [lora] or set them to the adapter's values",
        dir.display(),
        path.display(),
        conflicts.join("; ")
    )))
}

/// The recipe as the run uses it: with `lora.init_adapter`, its `[lora]` holds the adapter's
/// values (refused as [`checked_config`] refuses); without, the recipe itself.
pub fn recipe_as_used(recipe: &Recipe) -> Result<Recipe> {
    let mut used = recipe.clone();
    if let Some(config) = checked_config(recipe, None)? {
        let l = &mut used.lora;
        l.r = config.r;
        l.lora_alpha = config.lora_alpha;
        l.lora_dropout = config.lora_dropout;
        l.target_modules = Some(config.target_modules.clone());
        l.modules_to_save = config.modules_to_save.as_deref().map(distinct);
    }
    Ok(used)
}

/// Each key the recipe set that disagrees with the adapter's config, as
/// "lora.KEY = RECIPE's but KEY = ADAPTER's there".
fn conflicts(
    lora: &LoraSection,
    task: Task,
    config: &LoraConfig,
    model: Option<&mut dyn Adaptable>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut differs = |key: &str, ours: String, theirs: String| {
        if lora.is_given(key) {
            out.push(format!("lora.{key} = {ours} but {key} = {theirs} there"));
        }
    };
    if lora.r != config.r {
        differs("r", lora.r.to_string(), config.r.to_string());
    }
    if lora.lora_alpha != config.lora_alpha {
        differs(
            "lora_alpha",
            lora.lora_alpha.to_string(),
            config.lora_alpha.to_string(),
        );
    }
    if lora.lora_dropout != config.lora_dropout {
        differs(
            "lora_dropout",
            lora.lora_dropout.to_string(),
            config.lora_dropout.to_string(),
        );
    }
    if let Some(targets) = &lora.target_modules {
        let theirs = &config.target_modules;
        if !same_targets(targets, theirs, model) {
            differs("target_modules", targets.to_string(), theirs.to_string());
        }
    }
    let saves = |names: Option<&[String]>| -> BTreeSet<String> {
        let mut set: BTreeSet<String> = names.unwrap_or_default().iter().cloned().collect();
        if task == Task::Classification {
            set.extend(PEFT_SEQ_CLS_SAVES.map(String::from));
        }
        set
    };
    let ours = lora.modules_to_save.as_deref();
    let theirs = config.modules_to_save.as_deref();
    if saves(ours) != saves(theirs) {
        differs(
            "modules_to_save",
            format!("{:?}", ours.unwrap_or_default()),
            format!("{:?}", theirs.map(distinct).unwrap_or_default()),
        );
    }
    out
}

/// Whether two `target_modules` name the same modules: lists as sets, strings as they are;
/// `"all-linear"` against a list only with the model at hand (else assumed to agree, until the
/// model has loaded).
fn same_targets(a: &TargetModules, b: &TargetModules, model: Option<&mut dyn Adaptable>) -> bool {
    if a.is_all_linear() && b.is_all_linear() {
        return true;
    }
    let (a, b) = match model {
        Some(model) if a.is_all_linear() || b.is_all_linear() => {
            let names = TargetModules::Names(all_linear(model));
            let expand = |t: &TargetModules| {
                if t.is_all_linear() {
                    names.clone()
                } else {
                    t.clone()
                }
            };
            (expand(a), expand(b))
        }
        None if a.is_all_linear() || b.is_all_linear() => return true,
        _ => (a.clone(), b.clone()),
    };
    match (&a, &b) {
        (TargetModules::Names(x), TargetModules::Names(y)) => {
            x.iter().collect::<BTreeSet<_>>() == y.iter().collect::<BTreeSet<_>>()
        }
        _ => a == b,
    }
}

/// The names once each, in their first order (PEFT may repeat `modules_to_save` entries).
fn distinct(names: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    names
        .iter()
        .filter(|n| seen.insert(n.as_str()))
        .cloned()
        .collect()
}
