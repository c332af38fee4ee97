//! PEFT's `LoraConfig`, as stored in `adapter_config.json`.
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::Path;

pub(crate) use crate::recipe::TargetModules;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskType {
    #[serde(rename = "SEQ_2_SEQ_LM")]
    Seq2SeqLm,
    #[serde(rename = "SEQ_CLS")]
    SeqCls,
}

fn lora() -> String {
    "LORA".into()
}
fn none() -> String {
    "none".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoraConfig {
    #[serde(default = "lora")]
    pub(crate) peft_type: String,
    pub r: usize,
    #[serde(serialize_with = "whole_as_integer")]
    pub lora_alpha: f64,
    #[serde(default)]
    pub lora_dropout: f64,
    pub(crate) target_modules: TargetModules,
    #[serde(default)]
    pub modules_to_save: Option<Vec<String>>,
    #[serde(default)]
    pub task_type: Option<TaskType>,
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    #[serde(default = "none")]
    pub(crate) bias: String,
    #[serde(default)]
    pub(crate) fan_in_fan_out: bool,
    #[serde(default)]
    pub(crate) use_rslora: bool,
    #[serde(default)]
    pub(crate) use_dora: bool,
    #[serde(default)]
    pub(crate) rank_pattern: BTreeMap<String, usize>,
    #[serde(default)]
    pub(crate) alpha_pattern: BTreeMap<String, f64>,
    #[serde(default)]
    pub(crate) layers_to_transform: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) inference_mode: bool,
    #[serde(default = "default_init")]
    pub(crate) init_lora_weights: serde_json::Value,
}

fn default_init() -> serde_json::Value {
    serde_json::Value::Bool(true)
}

fn whole_as_integer<S: Serializer>(value: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        s.serialize_i64(*value as i64)
    } else {
        s.serialize_f64(*value)
    }
}

/// The keys PEFT 0.21.2's `LoraConfig.save_pretrained` writes besides those loratune models
/// (above), with the values PEFT writes for a plain LoRA; `peft_version` names the PEFT release
/// whose format the file follows. PEFT reads a file without them, but a written adapter carries
/// every key of PEFT's own (tests/trainer_parity.rs compares the two files).
const PEFT_DEFAULTS: &str = r#"{
  "alora_invocation_tokens": null, "arrow_config": null, "auto_mapping": null,
  "corda_config": null, "ensure_weight_tying": false, "eva_config": null,
  "exclude_modules": null, "kasa_config": null, "layer_replication": null,
  "layers_pattern": null, "loftq_config": {}, "lora_bias": false, "lora_ga_config": null,
  "megatron_config": null, "megatron_core": "megatron.core", "monteclora_config": null,
  "peft_version": "0.21.2", "qalora_group_size": 16, "revision": null,
  "target_parameters": null, "trainable_token_indices": null, "use_bdlora": null,
  "use_qalora": false, "velora_config": null
}"#;

impl LoraConfig {
    /// `adapter_config.json` as PEFT writes it: every key of PEFT's (ours over its defaults),
    /// sorted, indented by two spaces.
    pub(crate) fn to_peft_json(&self) -> serde_json::Result<String> {
        let mut keys: BTreeMap<String, serde_json::Value> = serde_json::from_str(PEFT_DEFAULTS)?;
        if let serde_json::Value::Object(ours) = serde_json::to_value(self)? {
            keys.extend(ours);
        }
        serde_json::to_string_pretty(&keys)
    }

    pub fn new(r: usize, lora_alpha: f64, lora_dropout: f64, target_modules: Vec<String>) -> Self {
        Self {
            peft_type: lora(),
            r,
            lora_alpha,
            lora_dropout,
            target_modules: TargetModules::Names(target_modules),
            modules_to_save: None,
            task_type: None,
            base_model_name_or_path: None,
            bias: none(),
            fan_in_fan_out: false,
            use_rslora: false,
            use_dora: false,
            rank_pattern: BTreeMap::new(),
            alpha_pattern: BTreeMap::new(),
            layers_to_transform: None,
            inference_mode: false,
            init_lora_weights: default_init(),
        }
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// The text of an `adapter_config.json`, parsed and validated; errors name `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let config: Self = crate::hub::parse_json(text, path)?;
        config.validate().map_err(|m| Error::file(path, m))?;
        Ok(config)
    }

    /// Refuses what loratune does not implement, rather than silently differing from PEFT.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.peft_type != "LORA" {
            return Err(format!("peft_type '{}' is not LORA", self.peft_type));
        }
        if self.r == 0 {
            return Err("r must be at least 1".into());
        }
        if self.use_dora {
            return Err("use_dora=true (DoRA) is not supported".into());
        }
        if self.bias != "none" {
            return Err(format!(
                "bias='{}' is not supported (only \"none\")",
                self.bias
            ));
        }
        if self.fan_in_fan_out {
            return Err(
                "fan_in_fan_out=true is not supported (only for GPT-2-style Conv1D)".into(),
            );
        }
        if self
            .layers_to_transform
            .as_ref()
            .is_some_and(|v| !v.is_null())
        {
            return Err("layers_to_transform is not supported".into());
        }
        self.target_modules.check()
    }

    /// Whether LoRA wraps the module with this full dotted name (PEFT's
    /// `check_target_module_exists`). `"all-linear"` matches nothing here: it names modules
    /// only once a model expands it ([`LoraConfig::expand_all_linear`]).
    pub(crate) fn targets(&self, name: &str) -> bool {
        match &self.target_modules {
            TargetModules::Names(names) => names.iter().any(|t| name_matches(name, t)),
            TargetModules::Pattern(_) => match self.target_modules.regex() {
                Some(Ok(re)) => re.is_match(name),
                _ => false,
            },
        }
    }

    /// PEFT's `_maybe_include_all_linear_layers`: `"all-linear"` becomes the full names of
    /// every linear layer of the model except its output layer (a language model's head, or
    /// a classifier's final layer), which is what PEFT then writes in `adapter_config.json`.
    /// Any other `target_modules` is left as it is.
    pub(crate) fn expand_all_linear(&mut self, model: &mut dyn super::Adaptable) {
        if self.target_modules.is_all_linear() {
            self.target_modules = TargetModules::Names(all_linear(model));
        }
    }

    /// Whether the module becomes a trainable copy (PEFT: the name ends with the entry).
    pub(crate) fn saves(&self, name: &str) -> bool {
        self.modules_to_save
            .iter()
            .flatten()
            .any(|entry| name.ends_with(entry.as_str()))
    }

    /// Rank and scaling for one module, honouring `rank_pattern` / `alpha_pattern`.
    pub(crate) fn shape_for(&self, name: &str) -> (usize, f64) {
        let r = pattern_value(&self.rank_pattern, name).unwrap_or(self.r);
        let alpha = pattern_value(&self.alpha_pattern, name).unwrap_or(self.lora_alpha);
        (r, alpha)
    }

    /// α/r, or α/√r with rsLoRA.
    pub(crate) fn scale(&self, r: usize, alpha: f64) -> f64 {
        if self.use_rslora {
            alpha / (r as f64).sqrt()
        } else {
            alpha / r as f64
        }
    }

    pub fn target_names(&self) -> Vec<String> {
        match &self.target_modules {
            TargetModules::Names(n) => n.clone(),
            TargetModules::Pattern(p) => vec![p.clone()],
        }
    }
}

/// What `"all-linear"` means for a model: the full names of its linear layers but the output
/// layer.
pub(crate) fn all_linear(model: &mut dyn super::Adaptable) -> Vec<String> {
    let output = model.output_layer();
    model
        .linears_mut()
        .iter()
        .map(|l| l.name.clone())
        .filter(|name| Some(name) != output.as_ref())
        .collect()
}

/// PEFT's list rule: equal, or ends with "." + entry.
pub(crate) fn name_matches(name: &str, entry: &str) -> bool {
    name == entry || name.ends_with(&format!(".{entry}"))
}

/// PEFT matches pattern keys with `(.*\.)?key$`.
fn pattern_value<T: Copy>(patterns: &BTreeMap<String, T>, name: &str) -> Option<T> {
    patterns.iter().find_map(|(key, value)| {
        regex::Regex::new(&format!(r"^(?:.*\.)?(?:{key})$"))
            .ok()
            .filter(|re| re.is_match(name))
            .map(|_| *value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peft_matching_rules() {
        let mut c = LoraConfig::new(8, 16.0, 0.0, vec!["q".into(), "v".into()]);
        assert!(c.targets("encoder.block.0.layer.0.SelfAttention.q"));
        assert!(!c.targets("encoder.block.0.layer.0.SelfAttention.qq"));
        assert!(!c.targets("encoder.block.0.layer.0.SelfAttention.o"));
        c.modules_to_save = Some(vec!["classifier".into()]);
        assert!(c.saves("classifier") && c.saves("pre_classifier"));
        c.target_modules = TargetModules::Pattern(r".*\.(q|v)".into());
        assert!(c.targets("decoder.block.2.layer.1.EncDecAttention.v"));
        assert!(!c.targets("v"));
    }

    #[test]
    fn alpha_written_as_integer_when_whole() {
        let c = LoraConfig::new(8, 16.0, 0.05, vec!["q_lin".into()]);
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"lora_alpha\":16,"), "{json}");
    }
}
