//! Adapters in PEFT's format: `adapter_config.json` + `adapter_model.safetensors`, with keys
//! such as `base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight` and
//! `base_model.model.classifier.weight` for `modules_to_save`.
use super::config::LoraConfig;
use super::inject::trainable_parameters;
use super::Adaptable;
use crate::error::{Error, Result};
use crate::nn::LoraAdapter;
use crate::output::{AtomicDir, Replace};
use candle_core::{DType, Device, Tensor};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

pub(crate) const CONFIG_FILE: &str = "adapter_config.json";
pub(crate) const WEIGHTS_FILE: &str = "adapter_model.safetensors";
const PREFIX: &str = "base_model.model.";

/// An adapter read from disk.
pub struct Adapter {
    pub(crate) dir: PathBuf,
    pub config: LoraConfig,
    /// Keys normalised to `base_model.model.<module>.{lora_A,lora_B}.weight` / `.weight` / `.bias`.
    pub tensors: HashMap<String, Tensor>,
}

impl Adapter {
    pub fn read(dir: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let config = LoraConfig::read(&dir.join(CONFIG_FILE))?;
        let path = dir.join(WEIGHTS_FILE);
        if !path.is_file() {
            let hint = if dir.join("adapter_model.bin").exists() {
                " (only adapter_model.bin is present; loratune never unpickles: save with safe_serialization=True)"
            } else {
                ""
            };
            return Err(Error::file(&path, format!("missing{hint}")));
        }
        let raw = candle_core::safetensors::load(&path, device)
            .map_err(|e| Error::file(&path, format!("cannot read safetensors: {e}")))?;
        let mut tensors = HashMap::new();
        for (key, tensor) in raw {
            let tensor = if tensor.dtype().is_float() {
                tensor.to_dtype(dtype)?
            } else {
                tensor
            };
            tensors.insert(normalise_key(&key), tensor);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            tensors,
        })
    }

    /// The number of labels of a saved classification head, if the adapter carries one.
    pub fn head_labels(&self) -> Option<usize> {
        self.tensors.iter().find_map(|(key, t)| {
            let module = key.strip_prefix(PREFIX)?.strip_suffix(".weight")?;
            let is_head = module == "classifier"
                || module.ends_with(".classifier")
                || module == "classifier.out_proj";
            (is_head && t.rank() == 2).then(|| t.dims()[0])
        })
    }
}

/// Drops PEFT's adapter name (`.default`) and the wrapper's `modules_to_save.` level.
fn normalise_key(key: &str) -> String {
    let key = key
        .replace(".lora_A.default.", ".lora_A.")
        .replace(".lora_B.default.", ".lora_B.")
        .replace(".modules_to_save.default.", ".");
    if key.starts_with(PREFIX) {
        key
    } else {
        format!("{PREFIX}{key}")
    }
}

/// What applying an adapter found.
#[derive(Debug, Default, Clone)]
pub struct ApplyReport {
    pub adapted: Vec<String>,
    pub saved: Vec<String>,
    /// Keys the config implies for this model that the file lacks.
    pub missing: Vec<String>,
    /// Keys in the file that no module of this model takes.
    pub unexpected: Vec<String>,
    /// `target_modules` entries that match no module of this model.
    pub unmatched_targets: Vec<String>,
}

impl ApplyReport {
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.unmatched_targets.is_empty()
    }
}

/// Puts an adapter's weights into the model (adapters on targets, copies for saved modules).
pub fn apply(model: &mut dyn Adaptable, adapter: &Adapter) -> Result<ApplyReport> {
    let mut config = adapter.config.clone();
    config.expand_all_linear(model);
    let config = &config;
    let mut report = ApplyReport::default();
    let mut used = BTreeSet::new();
    let mut take = |key: String, report: &mut ApplyReport| -> Option<Tensor> {
        match adapter.tensors.get(&key) {
            Some(t) => {
                used.insert(key);
                Some(t.clone())
            }
            None => {
                report.missing.push(key);
                None
            }
        }
    };
    for linear in model.linears_mut() {
        let prefix = format!("{PREFIX}{}", linear.name);
        if config.saves(&linear.name) {
            let weight = take(format!("{prefix}.weight"), &mut report);
            let bias = match linear.bias.is_some() {
                true => take(format!("{prefix}.bias"), &mut report),
                false => None,
            };
            if let Some(weight) = weight {
                check_shape(&adapter.dir, &prefix, &weight, &linear.weight.tensor())?;
                linear.make_trainable()?;
                linear.weight.set(&weight)?;
                if let (Some(param), Some(bias)) = (linear.bias.as_mut(), bias) {
                    param.set(&bias)?;
                }
                report.saved.push(linear.name.clone());
            }
        } else if config.targets(&linear.name) {
            let a = take(format!("{prefix}.lora_A.weight"), &mut report);
            let b = take(format!("{prefix}.lora_B.weight"), &mut report);
            if let (Some(a), Some(b)) = (a, b) {
                let (r, in_features) = a.dims2()?;
                let (out_features, r_b) = b.dims2()?;
                if in_features != linear.in_features()
                    || out_features != linear.out_features()
                    || r != r_b
                {
                    return Err(Error::file(
                        adapter.dir.join(WEIGHTS_FILE),
                        format!(
                            "{prefix}: lora_A {:?} / lora_B {:?} do not fit a {}→{} layer",
                            a.dims(),
                            b.dims(),
                            linear.in_features(),
                            linear.out_features()
                        ),
                    ));
                }
                let (want_r, alpha) = config.shape_for(&linear.name);
                if r != want_r {
                    // PEFT builds the layer from the config and then fails to load the tensors.
                    return Err(Error::file(
                        adapter.dir.join(WEIGHTS_FILE),
                        format!(
                            "{prefix}: lora_A has rank {r}, but {CONFIG_FILE} gives this module r = {want_r} \
                             (r or rank_pattern); PEFT refuses it: \"size mismatch for {prefix}.lora_A.weight: \
                             copying a param with shape {:?} from checkpoint, the shape in current model is {:?}\"",
                            a.dims(),
                            [want_r, in_features]
                        ),
                    ));
                }
                let mut lora = LoraAdapter::from_tensors(a, b, alpha, config.lora_dropout as f32)?;
                lora.scale = config.scale(r, alpha);
                linear.adapter = Some(lora);
                report.adapted.push(linear.name.clone());
            }
        }
    }
    let mut unexpected: Vec<String> = adapter
        .tensors
        .keys()
        .filter(|k| !used.contains(*k))
        .cloned()
        .collect();
    unexpected.sort();
    report.unexpected = unexpected;
    if let super::config::TargetModules::Names(entries) = &config.target_modules {
        report.unmatched_targets = entries
            .iter()
            .filter(|t| {
                !report
                    .adapted
                    .iter()
                    .any(|n| super::config::name_matches(n, t))
            })
            .cloned()
            .collect();
    }
    Ok(report)
}

fn check_shape(dir: &Path, key: &str, got: &Tensor, want: &Tensor) -> Result<()> {
    if got.dims() != want.dims() {
        return Err(Error::file(
            dir.join(WEIGHTS_FILE),
            format!(
                "{key}: shape {:?}, the model's module has {:?}",
                got.dims(),
                want.dims()
            ),
        ));
    }
    Ok(())
}

/// Writes the model's trainable tensors as a PEFT adapter.
pub fn save(model: &mut dyn Adaptable, config: &LoraConfig, dir: &Path) -> Result<()> {
    save_parameters(&trainable_parameters(model), config, dir)
}

/// Writes named trainable tensors (as from `trainable_parameters`) as a PEFT adapter. The
/// directory is replaced as a whole: a failure leaves the previous adapter (if any) intact.
pub(crate) fn save_parameters(
    parameters: &[(String, candle_core::Var)],
    config: &LoraConfig,
    dir: &Path,
) -> Result<()> {
    let out = AtomicDir::begin(dir, Replace::IfHolds(CONFIG_FILE))?;
    write_parameters(&out, parameters, config)?;
    out.commit()
}

/// Writes the adapter's two files into an output being written (an adapter or a checkpoint).
pub(crate) fn write_parameters(
    out: &AtomicDir,
    parameters: &[(String, candle_core::Var)],
    config: &LoraConfig,
) -> Result<()> {
    let tensors: HashMap<String, Tensor> = parameters
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    let mut config = config.clone();
    config.inference_mode = true;
    let json = config
        .to_peft_json()
        .map_err(|e| Error::Config(e.to_string()))?;
    out.write(CONFIG_FILE, json.as_bytes())?;
    out.write_tensors(WEIGHTS_FILE, &tensors)
}

/// Reads an adapter and applies it; fails when the adapter does not fit the model
/// (missing tensors or target names that match nothing), warns about extra tensors.
pub fn load_into(model: &mut dyn Adaptable, dir: &Path) -> Result<ApplyReport> {
    let (dtype, device) = model
        .linears_mut()
        .first()
        .map(|l| {
            let w = l.weight.tensor();
            (w.dtype(), w.device().clone())
        })
        .unwrap_or((DType::F32, Device::Cpu));
    let adapter = Adapter::read(dir, dtype, &device)?;
    let report = apply(model, &adapter)?;
    check_report(&report, dir)?;
    Ok(report)
}

/// Fails when an adapter does not fit (missing tensors, target names matching nothing);
/// warns about tensors no module takes.
pub(crate) fn check_report(report: &ApplyReport, dir: &Path) -> Result<()> {
    if !report.missing.is_empty() || !report.unmatched_targets.is_empty() {
        return Err(Error::file(
            dir,
            format!(
                "adapter does not fit the model: missing tensors {:?}, target_modules matching nothing {:?}",
                report.missing, report.unmatched_targets
            ),
        ));
    }
    if !report.unexpected.is_empty() {
        tracing::warn!(
            "{}: tensors no module takes: {:?}",
            dir.display(),
            report.unexpected
        );
    }
    tracing::info!(
        "{}: {} LoRA modules, {} saved modules",
        dir.display(),
        report.adapted.len(),
        report.saved.len()
    );
    Ok(())
}
