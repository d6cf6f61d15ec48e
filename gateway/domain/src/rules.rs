//! Rule sets as data (Order 707 P19): the catalogue of the checks a rule set uses (what
//! each is, the rule it cites, its registry: ADR 0018), which of them apply to residents and
//! to non-residents, which block, under which conditions, how long their answers are
//! reused; and the [`plan`](RuleSet::plan) they make for one application. Pure: reading
//! the files and validating them against the schema is the gateway's rule book
//! (`kezek_catalogue::rules`); what the schema cannot say (every set entry names a check
//! of the catalogue, none twice) is checked here, on every deserialisation.

use crate::{Application, CargoClass, CheckId, Driver, Residency, VehicleKind};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Unresolved")]
pub struct RuleSet {
    pub id: String,
    pub version: String,
    /// ISO date from which this rule set decides.
    pub effective_from: String,
    pub source: String,
    pub deadline_ms: u64,
    /// Every check the sets name, defined once.
    pub checks: BTreeMap<CheckId, Arc<CheckDef>>,
    pub sets: Sets,
}

/// A rule-set file as written, before its set entries are matched to its catalogue.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Unresolved {
    id: String,
    version: String,
    effective_from: String,
    source: String,
    deadline_ms: u64,
    checks: BTreeMap<CheckId, CheckDef>,
    sets: Sets,
}

/// What a check is: the same in every set of the rule set (ADR 0018).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CheckDef {
    /// What is checked, in a sentence: "the driver holds a valid ADR certificate".
    pub title: String,
    /// The rule a refusal by this check cites: "P18.3", or an amendment's paragraph.
    pub rule: String,
    /// The registry that answers it (an adapter's own name for it takes precedence in
    /// answers; this one is shown when no adapter serves the check).
    pub registry: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Sets {
    pub resident: Vec<CheckRule>,
    pub non_resident: Vec<CheckRule>,
}

impl Sets {
    /// Each set by its name in the file (`resident`, `non-resident`).
    pub fn named(&self) -> [(&'static str, &[CheckRule]); 2] {
        [
            ("resident", self.resident.as_slice()),
            ("non-resident", self.non_resident.as_slice()),
        ]
    }
}

impl TryFrom<Unresolved> for RuleSet {
    type Error = String;

    /// Every set entry names a check of the catalogue, once per set; each gets its
    /// definition. A refusal names the entry by its JSON pointer.
    fn try_from(file: Unresolved) -> Result<Self, String> {
        let checks: BTreeMap<CheckId, Arc<CheckDef>> = file
            .checks
            .into_iter()
            .map(|(id, def)| (id, Arc::new(def)))
            .collect();
        let mut sets = file.sets;
        for (name, rules) in [
            ("resident", &mut sets.resident),
            ("non-resident", &mut sets.non_resident),
        ] {
            let mut seen = std::collections::BTreeSet::new();
            for (i, rule) in rules.iter_mut().enumerate() {
                let pointer = format!("/sets/{name}/{i}/check");
                let Some(def) = checks.get(&rule.check) else {
                    return Err(format!(
                        "{pointer}: {} is not defined under /checks; define it there (title, rule, registry)",
                        rule.check
                    ));
                };
                if !seen.insert(rule.check.clone()) {
                    return Err(format!(
                        "{pointer}: the {name} set lists {} twice",
                        rule.check
                    ));
                }
                rule.definition = def.clone();
            }
        }
        Ok(Self {
            id: file.id,
            version: file.version,
            effective_from: file.effective_from,
            source: file.source,
            deadline_ms: file.deadline_ms,
            checks,
            sets,
        })
    }
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
    /// Runs first, alone: no other registry is asked about the application until every
    /// gate check passed (P16: consent before processing; P16.3, P19: residency confirmed
    /// before the rule set's checks; ADR 0011).
    #[serde(default)]
    pub gate: bool,
    #[serde(default)]
    pub when: Option<Condition>,
    /// Which drivers the check is made for (P19: each set is applied "in respect of"
    /// residents or non-residents; ADR 0016).
    #[serde(default)]
    pub drivers: DriverScope,
    pub cache_ttl_s: u64,
    #[serde(default = "default_check_deadline")]
    pub deadline_ms: u64,
    /// The check as the rule set's catalogue defines it (set when the rule set is read).
    #[serde(skip)]
    pub definition: Arc<CheckDef>,
}

fn default_check_deadline() -> u64 {
    5000
}

/// The drivers a check is made for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriverScope {
    /// Every driver of the application.
    #[default]
    All,
    /// Only the drivers who are residents: the resident set's checks of a driver as a
    /// person (P18.3 licence, P18.11 digital documents, P18.12 biometrics, P18.13 phone)
    /// look the driver up by IIN in Kazakhstan's registries, and P19 makes them for
    /// residents. A resident owner's foreign driver is checked by the checks the law makes
    /// for everyone (P18.1, P18.5, P18.8); with no resident driver the check does not apply.
    Residents,
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
    pub fn holds(&self, app: &Application) -> bool {
        let kind_ok = self
            .vehicle_kind
            .as_ref()
            .is_none_or(|kinds| kinds.contains(&app.vehicle.kind));
        let cargo_ok = self.cargo_any.as_ref().is_none_or(|classes| {
            crate::cargo::effective_classes(app)
                .iter()
                .any(|c| classes.contains(c))
        });
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

    /// The rule behind a refusal by this check, as its definition cites it ("P18.3"), plus
    /// P19 where the rule set made a notice blocking.
    pub fn rule_id(&self) -> String {
        if self.notice_blocks {
            format!("{}, P19", self.definition.rule)
        } else {
            self.definition.rule.clone()
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
            .filter(|rule| match rule.drivers {
                DriverScope::All => true,
                DriverScope::Residents => app.drivers.iter().any(Driver::is_resident),
            })
            .collect()
    }
}

impl CheckRule {
    /// The application as this check sees it: for [`DriverScope::Residents`], without the
    /// non-resident drivers. `None` when that is the application itself.
    pub fn narrowed(&self, app: &Application) -> Option<Application> {
        match self.drivers {
            DriverScope::All => None,
            DriverScope::Residents if app.drivers.iter().all(Driver::is_resident) => None,
            DriverScope::Residents => Some(Application {
                drivers: app
                    .drivers
                    .iter()
                    .filter(|d| d.is_resident())
                    .cloned()
                    .collect(),
                ..app.clone()
            }),
        }
    }
}

impl Driver {
    fn is_resident(&self) -> bool {
        self.residency == Residency::Resident
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule set the gateway ships (deploy/rules/), read as plain data.
    fn order_707() -> RuleSet {
        serde_json::from_str(include_str!("../../../deploy/rules/order-707.json")).unwrap()
    }

    /// An application of a truck with general cargo, or as given; the drivers by residency.
    fn application(owner: &str, kind: &str, cargo: &[&str], drivers: &[&str]) -> Application {
        let drivers: Vec<serde_json::Value> = drivers
            .iter()
            .map(|residency| {
                serde_json::json!({
                    "residency": residency, "full-name": "n", "birth-date": "1980-01-01",
                    "phone": "+1", "document": {"kind": "passport", "issuing-country": "UZ",
                    "number": "1", "expires": "2099-01-01"}
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "owner": {"residency": owner, "kind": "legal-entity", "name": "n", "country": "KZ"},
            "drivers": drivers,
            "vehicle": {"kind": kind, "country": "KZ", "plate": "1", "vin": "1"},
            "cargo": {"classes": cargo},
            "checkpoint": "KZ-A",
            "travel-date": "2026-12-01"
        }))
        .unwrap()
    }

    /// P19 ("in respect of residents"), ADR 0016: a resident owner's foreign driver is not
    /// looked up in the residents' registries (checks 3, 11, 12, 13); a resident driver of
    /// the same truck still is, and only the residents are handed to those checks.
    #[test]
    fn resident_driver_checks_are_for_resident_drivers() {
        let rules = order_707();
        let check = |drivers: &[&str], expect_plan: &[u8], expect_narrowed_to: Option<usize>| {
            let app = application("resident", "truck", &["general"], drivers);
            let plan = rules.plan(&app);
            let numbers: Vec<u8> = plan.iter().map(|r| r.check.p18_number().unwrap()).collect();
            assert_eq!(numbers, expect_plan, "{drivers:?}");
            for rule in &plan {
                let narrowed = rule.narrowed(&app).map(|a| a.drivers.len());
                let scoped = [3, 11, 12, 13].contains(&rule.check.p18_number().unwrap());
                let expect = if scoped { expect_narrowed_to } else { None };
                assert_eq!(narrowed, expect, "check {} for {drivers:?}", rule.check);
            }
        };
        let all = [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18];
        let without_person_checks = [1, 2, 4, 5, 7, 8, 9, 10, 14, 16, 17, 18];
        check(&["resident"], &all, None);
        check(&["resident", "resident"], &all, None);
        check(&["non-resident"], &without_person_checks, None);
        check(&["resident", "non-resident"], &all, Some(1));
        check(&["non-resident", "resident", "non-resident"], &all, Some(1));
    }

    /// P19: the owner's residency picks the set; checks 2 and 3 apply to trucks and tractor
    /// units, 6 to agricultural machines, 15 to animal and plant cargo.
    #[test]
    fn p19_plans() {
        let rules = order_707();
        let check = |residency: &str, kind: &str, cargo: &[&str], expect: &[u8]| {
            let app = application(residency, kind, cargo, &[residency]);
            let plan: Vec<u8> = rules
                .plan(&app)
                .iter()
                .map(|r| r.check.p18_number().unwrap())
                .collect();
            assert_eq!(plan, expect, "{residency} {kind} {cargo:?}");
        };
        let resident_truck = [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18];
        check("resident", "truck", &["general"], &resident_truck);
        check("resident", "tractor-unit", &["empty"], &resident_truck);
        check(
            "resident",
            "truck",
            &["general", "animal"],
            &[1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18],
        );
        check(
            "resident",
            "agricultural-machine",
            &["general"],
            &[1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18],
        );
        check(
            "non-resident",
            "truck",
            &["general"],
            &[1, 4, 5, 8, 10, 14, 16, 17, 18],
        );
        check(
            "non-resident",
            "truck",
            &["plant"],
            &[1, 4, 5, 8, 10, 14, 15, 16, 17, 18],
        );
    }

    /// P19: residents' fines (10) and tolls (17) notify; non-residents' refuse, citing P19.
    /// P18.15 follows the goods: live cattle (HS 010229) bring check 15 into the plan even
    /// where the declared classes leave it out (issue 10).
    #[test]
    fn check_15_reads_the_hs_codes() {
        let rules = order_707();
        let check = |classes: &[&str], hs: &[&str], expect_15: bool| {
            let app: Application = serde_json::from_value(serde_json::json!({
                "owner": {"residency": "non-resident", "kind": "legal-entity", "name": "n", "country": "UZ"},
                "drivers": [],
                "vehicle": {"kind": "truck", "country": "UZ", "plate": "1", "vin": "1"},
                "cargo": {"classes": classes, "hs-codes": hs},
                "checkpoint": "KZ-A",
                "travel-date": "2026-12-01"
            }))
            .unwrap();
            let has_15 = rules
                .plan(&app)
                .iter()
                .any(|r| r.check.p18_number() == Some(15));
            assert_eq!(has_15, expect_15, "{classes:?} {hs:?}");
        };
        check(&["general"], &["870421"], false);
        check(&["general"], &["010229"], true);
        check(&["general"], &["100199"], true);
        check(&["animal"], &[], true);
    }

    /// ADR 0018: a set entry names a check the file's catalogue defines, once per set; the
    /// refusal points at the entry. A new check id is as good as a P18 one.
    #[test]
    fn set_entries_name_checks_of_the_catalogue() {
        let file = |checks: serde_json::Value, resident: serde_json::Value| {
            serde_json::json!({
                "id": "t", "version": "1", "effective-from": "2023-07-01", "source": "s",
                "deadline-ms": 1000, "checks": checks,
                "sets": {"resident": resident, "non-resident": [{"check": "P18.1", "blocking": true, "cache-ttl-s": 0}]}
            })
        };
        let def = |rule: &str| serde_json::json!({"title": "t", "rule": rule, "registry": "r"});
        let entry = |id: &str| serde_json::json!({"check": id, "blocking": true, "cache-ttl-s": 0});
        let check = |json: serde_json::Value, expect: Result<(), &str>| {
            let got = serde_json::from_value::<RuleSet>(json.clone());
            match (got, expect) {
                (Ok(_), Ok(())) => {}
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{e}"),
                (got, _) => panic!("{json}: {got:?}"),
            }
        };
        let both = serde_json::json!({"P18.1": def("P18.1"), "O505.ADR": def("O505 p.2")});
        check(
            file(
                both.clone(),
                serde_json::json!([entry("P18.1"), entry("O505.ADR")]),
            ),
            Ok(()),
        );
        check(
            file(
                both.clone(),
                serde_json::json!([entry("P18.1"), entry("O505.XYZ")]),
            ),
            Err("/sets/resident/1/check: O505.XYZ is not defined under /checks"),
        );
        check(
            file(
                serde_json::json!({"O505.ADR": def("O505 p.2")}),
                serde_json::json!([entry("O505.ADR")]),
            ),
            Err("/sets/non-resident/0/check: P18.1 is not defined"),
        );
        check(
            file(
                both.clone(),
                serde_json::json!([entry("P18.1"), entry("P18.1")]),
            ),
            Err("/sets/resident/1/check: the resident set lists P18.1 twice"),
        );
        check(
            file(
                both.clone(),
                serde_json::json!([{"check": 1, "blocking": true, "cache-ttl-s": 0}]),
            ),
            Err("invalid type: integer `1`"),
        );
        check(
            file(
                serde_json::json!({"adr": def("x")}),
                serde_json::json!([entry("P18.1")]),
            ),
            Err("\"adr\" is not a check id"),
        );

        let rules: RuleSet = serde_json::from_value(file(
            both,
            serde_json::json!([entry("P18.1"), {"check": "O505.ADR", "blocking": true,
                "notice-blocks": true, "cache-ttl-s": 0}]),
        ))
        .unwrap();
        let adr = &rules.sets.resident[1];
        assert_eq!(adr.check.as_str(), "O505.ADR");
        assert_eq!(adr.definition.registry, "r");
        assert_eq!(adr.rule_id(), "O505 p.2, P19");
    }

    #[test]
    fn p19_notice_rules() {
        let rules = order_707();
        let find = |set: &[CheckRule], n: u8| {
            set.iter()
                .find(|r| r.check.p18_number() == Some(n))
                .cloned()
        };
        for n in [10, 17] {
            let resident = find(&rules.sets.resident, n).unwrap();
            let non_resident = find(&rules.sets.non_resident, n).unwrap();
            assert!(!resident.blocking, "resident check {n}");
            assert!(non_resident.blocking && non_resident.notice_blocks);
            assert_eq!(non_resident.rule_id(), format!("P18.{n}, P19"));
        }
    }
}
