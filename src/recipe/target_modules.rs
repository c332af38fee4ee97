//! `target_modules`, as PEFT's `LoraConfig` takes it (in a recipe's `[lora]` and in
//! `adapter_config.json` alike): a list of module names, or one string that is either
//! `"all-linear"` or a regular expression. The matching itself is `lora::LoraConfig::targets`.
use serde::{Deserialize, Serialize};

/// PEFT's shorthand for every linear layer but the output layer (compared ignoring case).
pub(crate) const ALL_LINEAR: &str = "all-linear";

/// A list of names (a module matches when its full name equals an entry or ends with
/// "." + entry), or a string: `"all-linear"`, else a regular expression that must match the
/// whole module name (Python's `re.fullmatch`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum TargetModules {
    Names(Vec<String>),
    Pattern(String),
}

impl TargetModules {
    /// PEFT's `"all-linear"`.
    pub(crate) fn is_all_linear(&self) -> bool {
        matches!(self, TargetModules::Pattern(p) if p.eq_ignore_ascii_case(ALL_LINEAR))
    }

    /// The compiled expression of a pattern (`None` for a list or `"all-linear"`).
    pub(crate) fn regex(&self) -> Option<Result<regex::Regex, String>> {
        match self {
            TargetModules::Pattern(p) if !self.is_all_linear() => {
                Some(regex::Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                    format!("target_modules = \"{p}\" is not a regular expression: {e}")
                }))
            }
            _ => None,
        }
    }

    /// Refuses a pattern that does not compile.
    pub(crate) fn check(&self) -> Result<(), String> {
        self.regex().transpose().map(|_| ())
    }
}

impl std::fmt::Display for TargetModules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetModules::Names(names) => write!(f, "{names:?}"),
            TargetModules::Pattern(p) => write!(f, "{p:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_linear_ignores_case_and_patterns_compile() {
        assert!(TargetModules::Pattern("All-Linear".into()).is_all_linear());
        assert!(!TargetModules::Names(vec!["all-linear".into()]).is_all_linear());
        assert!(TargetModules::Pattern(r".*\.(q|v)".into()).check().is_ok());
        let bad = TargetModules::Pattern("(q".into()).check().unwrap_err();
        assert!(bad.contains("target_modules = \"(q\""), "{bad}");
    }
}
