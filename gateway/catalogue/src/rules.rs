//! Rule sets as versioned data (Order 707 P19): which P18 checks apply to residents and to
//! non-residents, which block, under which conditions, and how long their answers are
//! reused. Files in the rules directory are validated against
//! `schemas/rule-set.schema.json` and reloaded atomically with the adapters. The rule sets'
//! types and the plan are pure domain (`kezek_domain::rules`); this is their book: loading,
//! validation, which set is in effect.

pub use kezek_domain::rules::{CheckRule, Condition, RuleSet, Sets};
use kezek_schema::{self as schemas, Schema};
use std::path::Path;

/// Every loaded rule set, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleBook {
    sets: Vec<RuleSet>,
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("reading the rules directory {0}: {1}")]
    Directory(String, std::io::Error),
    #[error("{file}: {reason}")]
    Invalid { file: String, reason: String },
    #[error("no rule set in {0}")]
    Empty(String),
}

impl RuleBook {
    /// Loads every `*.json` in the directory. One bad file refuses the whole book, so a
    /// half-edited amendment never runs beside the old text.
    pub fn load(dir: &Path) -> Result<Self, RulesError> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| RulesError::Directory(dir.display().to_string(), e))?;
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let mut sets = Vec::new();
        for file in files {
            let name = file.display().to_string();
            let invalid = |reason: String| RulesError::Invalid {
                file: name.clone(),
                reason,
            };
            let bytes = std::fs::read(&file).map_err(|e| invalid(e.to_string()))?;
            sets.push(Self::parse(&bytes).map_err(invalid)?);
        }
        if sets.is_empty() {
            return Err(RulesError::Empty(dir.display().to_string()));
        }
        Ok(Self::from_sets(sets))
    }

    pub fn parse(bytes: &[u8]) -> Result<RuleSet, String> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let violations = schemas::violations(Schema::RuleSet, &value);
        if !violations.is_empty() {
            return Err(violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "));
        }
        let set: RuleSet = serde_json::from_value(value).map_err(|e| e.to_string())?;
        for (name, checks) in [
            ("resident", &set.sets.resident),
            ("non-resident", &set.sets.non_resident),
        ] {
            let mut seen = std::collections::BTreeSet::new();
            if let Some(dup) = checks.iter().find(|c| !seen.insert(c.check)) {
                return Err(format!("the {name} set lists {} twice", dup.check));
            }
        }
        Ok(set)
    }

    pub fn from_sets(mut sets: Vec<RuleSet>) -> Self {
        sets.sort_by(|a, b| a.effective_from.cmp(&b.effective_from));
        Self { sets }
    }

    /// The newest rule set in effect on `date` (ISO). None before the first one: a
    /// verification without rules in effect is never approved.
    pub fn in_effect(&self, date: &str) -> Option<&RuleSet> {
        self.sets
            .iter()
            .rev()
            .find(|s| s.effective_from.as_str() <= date)
    }

    pub fn sets(&self) -> &[RuleSet] {
        &self.sets
    }
}
