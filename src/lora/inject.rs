//! Wrapping a model's linear layers with fresh adapters, and listing what trains.
use super::config::{name_matches, LoraConfig, TargetModules};
use super::Adaptable;
use crate::error::{Error, Result};
use crate::nn::{AdapterShape, LoraAdapter};
use crate::rng::{Purpose, Stream};
use candle_core::Var;

/// What an injection touched.
#[derive(Debug, Default, Clone)]
pub struct Injection {
    /// Modules that got a LoRA adapter.
    pub adapted: Vec<String>,
    /// Modules that became trainable copies (`modules_to_save`).
    pub saved: Vec<String>,
    /// `target_modules` entries that matched nothing.
    pub(crate) unmatched_targets: Vec<String>,
    /// `modules_to_save` entries that matched nothing.
    pub(crate) unmatched_saves: Vec<String>,
}

/// Adds fresh adapters (A Kaiming-uniform, B zero) and trainable copies, as `get_peft_model`
/// (`"all-linear"` included: see [`LoraConfig::expand_all_linear`]).
pub fn inject(model: &mut dyn Adaptable, config: &LoraConfig, seed: u64) -> Result<Injection> {
    config.validate().map_err(Error::Config)?;
    let asked = &config.target_modules;
    let mut config = config.clone();
    config.expand_all_linear(model);
    refuse_overlap(model, &config, asked)?;
    let mut report = Injection::default();
    for (index, linear) in model.linears_mut().into_iter().enumerate() {
        if config.saves(&linear.name) {
            linear.make_trainable()?;
            report.saved.push(linear.name.clone());
        } else if config.targets(&linear.name) {
            let (r, alpha) = config.shape_for(&linear.name);
            let shape = AdapterShape {
                r,
                alpha,
                dropout: config.lora_dropout as f32,
            };
            let w = linear.weight.tensor();
            let mut adapter = LoraAdapter::init(
                linear.in_features(),
                linear.out_features(),
                &shape,
                w.dtype(),
                w.device(),
                // each module's own stream: adding a target leaves the others' weights as they were
                &mut Stream::new(seed, Purpose::LoraInit, [index as u64, 0, 0]),
            )?;
            adapter.scale = config.scale(r, alpha);
            linear.adapter = Some(adapter);
            report.adapted.push(linear.name.clone());
        }
    }
    report.unmatched_targets = match &config.target_modules {
        TargetModules::Names(entries) => unmatched(entries, &report.adapted, name_matches),
        TargetModules::Pattern(p) if report.adapted.is_empty() => vec![p.clone()],
        TargetModules::Pattern(_) => Vec::new(),
    };
    report.unmatched_saves = unmatched(
        config.modules_to_save.as_deref().unwrap_or_default(),
        &report.saved,
        |n, t| n.ends_with(t),
    );
    Ok(report)
}

/// PEFT adapts the targets first and then fails to wrap a LoRA layer as a trainable copy: a
/// module both adapted and saved is refused with PEFT's reason. (`modules_to_save` matches by
/// suffix, so `classifier` also names DistilBERT's `pre_classifier`.)
fn refuse_overlap(
    model: &mut dyn Adaptable,
    config: &LoraConfig,
    asked: &TargetModules,
) -> Result<()> {
    let both: Vec<String> = model
        .linears_mut()
        .iter()
        .map(|l| l.name.clone())
        .filter(|name| config.saves(name) && config.targets(name))
        .collect();
    if both.is_empty() {
        return Ok(());
    }
    Err(Error::Config(format!(
        "LoRA modules {both:?} are matched by target_modules {} and by modules_to_save {:?} (a module \
         whose name ends with an entry); PEFT refuses that (\"modules_to_save cannot be applied to \
         modules of type lora.Linear\"): leave them out of target_modules (a list, or a regular \
         expression) or out of modules_to_save",
        asked,
        config.modules_to_save.as_deref().unwrap_or_default()
    )))
}

fn unmatched(
    entries: &[String],
    names: &[String],
    matches: impl Fn(&str, &str) -> bool,
) -> Vec<String> {
    entries
        .iter()
        .filter(|t| !names.iter().any(|n| matches(n, t)))
        .cloned()
        .collect()
}

/// Every trainable tensor under its key in PEFT's `adapter_model.safetensors`.
pub fn trainable_parameters(model: &mut dyn Adaptable) -> Vec<(String, Var)> {
    let mut out = Vec::new();
    for linear in model.linears_mut() {
        let prefix = format!("base_model.model.{}", linear.name);
        if let Some(adapter) = &linear.adapter {
            out.push((format!("{prefix}.lora_A.weight"), adapter.a.clone()));
            out.push((format!("{prefix}.lora_B.weight"), adapter.b.clone()));
        }
        if let Some(var) = linear.weight.var() {
            out.push((format!("{prefix}.weight"), var.clone()));
        }
        if let Some(var) = linear.bias.as_ref().and_then(|b| b.var()) {
            out.push((format!("{prefix}.bias"), var.clone()));
        }
    }
    out
}

/// PEFT's `print_trainable_parameters()` numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainableCounts {
    pub trainable: usize,
    pub all: usize,
}

impl TrainableCounts {
    /// All = base + adapters + the trainable copies (PEFT keeps the original module too).
    pub fn of(model: &mut dyn Adaptable) -> Self {
        let base = model.base_parameter_count();
        let trainable: usize = trainable_parameters(model)
            .iter()
            .map(|(_, v)| v.elem_count())
            .sum();
        let adapters: usize = model
            .linears_mut()
            .iter()
            .filter_map(|l| l.adapter.as_ref())
            .map(|a| a.a.elem_count() + a.b.elem_count())
            .sum();
        let copies = trainable - adapters;
        Self {
            trainable,
            all: base + adapters + copies,
        }
    }
}

impl std::fmt::Display for TrainableCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "trainable params: {} || all params: {} || trainable%: {:.4}",
            thousands(self.trainable),
            thousands(self.all),
            100.0 * self.trainable as f64 / self.all.max(1) as f64
        )
    }
}

pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
