//! Rule sets as versioned data (Order 707 P19): which P18 checks apply to residents and to
//! non-residents, which block, under which conditions, and how long their answers are
//! reused. Files in the rules directory are validated against
//! `schemas/rule-set.schema.json` and reloaded atomically with the adapters.

use crate::domain::{Application, CargoClass, CheckId, Residency, VehicleKind};
use crate::schemas::{self, Schema};
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RuleSet {
    pub id: String,
    pub version: String,
    /// ISO date from which this rule set decides.
    pub effective_from: String,
    pub source: String,
    pub deadline_ms: u64,
    pub sets: Sets,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Sets {
    pub resident: Vec<CheckRule>,
    pub non_resident: Vec<CheckRule>,
}

/// How one check counts in one rule set.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CheckRule {
    pub check: CheckId,
    /// A fail refuses and an error makes the verification indeterminate; otherwise the
    /// check only notifies (P19: residents' checks 10 and 17).
    pub blocking: bool,
    /// A notice refuses like a fail (P19: non-residents' checks 10 and 17).
    #[serde(default)]
    pub notice_blocks: bool,
    #[serde(default)]
    pub when: Option<Condition>,
    pub cache_ttl_s: u64,
    #[serde(default = "default_check_deadline")]
    pub deadline_ms: u64,
}

fn default_check_deadline() -> u64 {
    5000
}

/// Conditions on the application; all that are given must hold.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Condition {
    #[serde(default)]
    pub vehicle_kind: Option<Vec<VehicleKind>>,
    #[serde(default)]
    pub cargo_any: Option<Vec<CargoClass>>,
}

impl Condition {
    fn holds(&self, app: &Application) -> bool {
        let kind_ok = self
            .vehicle_kind
            .as_ref()
            .is_none_or(|kinds| kinds.contains(&app.vehicle.kind));
        let cargo_ok = self
            .cargo_any
            .as_ref()
            .is_none_or(|classes| app.cargo.classes.iter().any(|c| classes.contains(c)));
        kind_ok && cargo_ok
    }
}

impl CheckRule {
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_secs(self.cache_ttl_s)
    }

    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// The rule behind a refusal by this check: P18.n, plus P19 where the rule set made a
    /// notice blocking.
    pub fn rule_id(&self) -> String {
        if self.notice_blocks {
            format!("{}, P19", self.check.rule_id())
        } else {
            self.check.rule_id()
        }
    }
}

impl RuleSet {
    /// "order-707@2023.1/resident".
    pub fn label(&self, residency: Residency) -> String {
        let set = match residency {
            Residency::Resident => "resident",
            Residency::NonResident => "non-resident",
        };
        format!("{}@{}/{set}", self.id, self.version)
    }

    /// The checks that apply to this application: the owner's residency picks the set
    /// (P19), and conditional checks apply only when their conditions hold.
    pub fn plan<'a>(&'a self, app: &Application) -> Vec<&'a CheckRule> {
        let set = match app.owner.residency {
            Residency::Resident => &self.sets.resident,
            Residency::NonResident => &self.sets.non_resident,
        };
        set.iter()
            .filter(|rule| rule.when.as_ref().is_none_or(|c| c.holds(app)))
            .collect()
    }
}

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
