//! Adapter manifests (`manifest.json` beside each component), validated against
//! `schemas/adapter-manifest.schema.json`.
//!
//! Architecture invariant: types and parsing only. Egress, the host and the catalogue all
//! read a manifest, so it lives below all three (ADR 0009).

use kezek_schema::{self as schemas, Schema};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: String,
    pub version: String,
    pub wit: String,
    pub registry: String,
    /// P18 check numbers served.
    pub checks: Vec<u8>,
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
}

impl Manifest {
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(ManifestError::NotJson)?;
        let violations = schemas::violations(Schema::AdapterManifest, &value);
        if !violations.is_empty() {
            return Err(ManifestError::Schema(violations));
        }
        serde_json::from_value(value).map_err(ManifestError::Shape)
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
        assert_eq!(m.checks, vec![9]);
        assert_eq!(m.timeouts.response_ms, 5000);
        assert_eq!(m.endpoints[0].credentials, vec![Credential::GatewaySender]);
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
