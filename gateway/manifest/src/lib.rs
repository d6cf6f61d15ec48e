//! Adapter manifests (`manifest.json` beside each component), validated against
//! `schemas/adapter-manifest.schema.json`.
//!
//! Architecture invariant: types and parsing only. Egress, the host and the catalogue all
//! read a manifest, so it lives below all three (ADR 0009).

use kezek_domain::CheckId;
use kezek_schema::{self as schemas, Schema};
use serde::{Deserialize, Serialize};

/// The WIT that names checks by P18 number (`u8`): its adapters serve P18.1..=18 only.
pub const WIT_1_0: &str = "kezek:registry@1.0.0";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: String,
    pub version: String,
    pub wit: String,
    pub registry: String,
    /// The checks served, by id; a P18 number n in the file means P18.n (ADR 0018).
    #[serde(deserialize_with = "kezek_domain::p18_or_id::seq")]
    pub checks: Vec<CheckId>,
    pub endpoints: Vec<EndpointDecl>,
    #[serde(default)]
    pub timeouts: Timeouts,
    pub limits: Limits,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointDecl {
    pub name: String,
    #[serde(default)]
    pub credentials: Vec<Credential>,
}

/// A credential the host may inject into requests to an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Credential {
    GatewaySender,
    ConsentToken,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    #[serde(default = "default_connect_ms")]
    pub connect_ms: u64,
    #[serde(default = "default_response_ms")]
    pub response_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect_ms: default_connect_ms(),
            response_ms: default_response_ms(),
        }
    }
}

fn default_connect_ms() -> u64 {
    1000
}
fn default_response_ms() -> u64 {
    5000
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u64,
    #[serde(default = "default_cpu_ms")]
    pub cpu_ms: u64,
    #[serde(default = "default_response_bytes")]
    pub response_bytes: u64,
}

fn default_memory_mib() -> u64 {
    16
}
fn default_cpu_ms() -> u64 {
    100
}
fn default_response_bytes() -> u64 {
    1 << 20
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest.json is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("manifest.json breaks the schema: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Schema(Vec<schemas::Violation>),
    #[error("manifest.json: {0}")]
    Shape(serde_json::Error),
    #[error("manifest.json at /checks/{index}: {reason}")]
    Check { index: usize, reason: String },
}

impl Manifest {
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(ManifestError::NotJson)?;
        let violations = schemas::violations(Schema::AdapterManifest, &value);
        if !violations.is_empty() {
            return Err(ManifestError::Schema(violations));
        }
        let manifest: Self = serde_json::from_value(value).map_err(ManifestError::Shape)?;
        manifest.check_checks()?;
        Ok(manifest)
    }

    /// What the schema cannot see: `9` and `"P18.9"` are one check; a 1.0.0 adapter speaks
    /// P18 numbers and so cannot serve any other check.
    fn check_checks(&self) -> Result<(), ManifestError> {
        for (index, check) in self.checks.iter().enumerate() {
            let reason = if self.checks[..index].contains(check) {
                format!("{check} is listed twice")
            } else if self.wit == WIT_1_0 && check.p18_number().is_none() {
                format!(
                    "{check} cannot be served over {WIT_1_0}, which names checks by P18 number \
                     (P18.1 to P18.18 only); build the adapter against a later WIT"
                )
            } else {
                continue;
            };
            return Err(ManifestError::Check { index, reason });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"id":"tax-debt","version":"1.0.0","wit":"kezek:registry@1.0.0",
        "registry":"taxpayer cabinet","checks":[9],
        "endpoints":[{"name":"egov-gateway","credentials":["gateway-sender"]}],
        "limits":{"memory_mib":16,"cpu_ms":50}}"#;

    #[test]
    fn a_valid_manifest_parses_with_defaults() {
        let m = Manifest::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(m.checks, vec![CheckId::p18(9).unwrap()]);
        assert_eq!(m.timeouts.response_ms, 5000);
        assert_eq!(m.endpoints[0].credentials, vec![Credential::GatewaySender]);
    }

    /// ADR 0018: checks by id, or by P18 number as packages before issue 12 wrote them; no
    /// cap on how many; a 1.0.0 adapter serves P18 checks only. Each refusal points at the
    /// entry.
    #[test]
    fn checks_are_ids_or_p18_numbers() {
        let check = |checks: &str, expect: Result<&[&str], &str>| {
            let json = GOOD.replace(r#""checks":[9]"#, &format!(r#""checks":{checks}"#));
            match (Manifest::parse(json.as_bytes()), expect) {
                (Ok(m), Ok(ids)) => {
                    let got: Vec<&str> = m.checks.iter().map(CheckId::as_str).collect();
                    assert_eq!(got, ids, "{checks}");
                }
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{checks}: {e}"),
                (got, _) => panic!("{checks}: {got:?}"),
            }
        };
        check("[9]", Ok(&["P18.9"]));
        check(r#"["P18.9"]"#, Ok(&["P18.9"]));
        check(r#"[9, "P18.10"]"#, Ok(&["P18.9", "P18.10"]));
        let all: Vec<u8> = (1..=18).collect();
        let ids: Vec<String> = all.iter().map(|n| format!("P18.{n}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        check(&format!("{all:?}"), Ok(&ids));
        check("[19]", Err("/checks/0"));
        check("[0]", Err("/checks/0"));
        check(r#"["p18.9"]"#, Err("/checks/0"));
        check(r#"[9, "P18..9"]"#, Err("/checks/1"));
        check("[]", Err("/checks"));
        check(r#"[9, "P18.9"]"#, Err("/checks/1: P18.9 is listed twice"));
        check(
            r#"[9, "O505.ADR"]"#,
            Err("/checks/1: O505.ADR cannot be served over kezek:registry@1.0.0"),
        );
        check(r#"["P18.19"]"#, Err("/checks/0: P18.19 cannot be served"));
    }

    #[test]
    fn schema_errors_point_at_the_field() {
        let bad = GOOD.replace(r#""checks":[9]"#, r#""checks":[19]"#);
        let err = Manifest::parse(bad.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("/checks/0"), "{err}");
        let bad = GOOD.replace(
            r#""wit":"kezek:registry@1.0.0""#,
            r#""wit":"kezek:registry@2.0.0""#,
        );
        assert!(
            Manifest::parse(bad.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("/wit")
        );
        let bad = GOOD.replace(r#""registry""#, r#""registyr""#);
        assert!(Manifest::parse(bad.as_bytes()).is_err());
    }
}
