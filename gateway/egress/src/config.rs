//! `[egress]`: where each logical endpoint is, how to log in, and the consent service.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressConfig {
    /// Logical endpoint name (as manifests declare it) → where it is and how to log in.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointConfig>,
    /// The state consent service that issues kdpTokens.
    #[serde(default)]
    pub consent: Option<ConsentConfig>,
    /// Per-adapter URL overrides: adapter id → endpoint name → URL. QA points one adapter
    /// at a mock this way; TLS and credentials follow the endpoint's own settings.
    #[serde(default)]
    pub adapter_overrides: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    pub url: String,
    /// CA bundle (PEM) for https URLs.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain and key (PEM) for mutual TLS.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// E-government gateway sender credentials, injected into envelopes by the host.
    #[serde(default)]
    pub sender: Option<SenderConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderConfig {
    pub id: String,
    pub password: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentConfig {
    pub endpoint: EndpointConfig,
    #[serde(default = "default_consent_timeout")]
    pub timeout_ms: u64,
    /// How long a token is reused.
    #[serde(default = "default_token_ttl")]
    pub token_ttl_s: u64,
}

fn default_consent_timeout() -> u64 {
    2000
}
fn default_token_ttl() -> u64 {
    600
}

/// A secret, given by value (development only), by environment variable or by file.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Secret {
    Value(String),
    Env(String),
    File(PathBuf),
}

impl Secret {
    pub fn resolve(&self) -> anyhow::Result<String> {
        match self {
            Secret::Value(v) => Ok(v.clone()),
            Secret::Env(name) => std::env::var(name)
                .map_err(|_| anyhow::anyhow!("environment variable {name} is not set")),
            Secret::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end().to_owned())
                .map_err(|e| anyhow::anyhow!("reading secret file {}: {e}", path.display())),
        }
    }
}

/// Never print a secret, not even in a debug dump of the config.
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Value(_) => f.write_str("Secret::Value(***)"),
            Secret::Env(name) => write!(f, "Secret::Env({name})"),
            Secret::File(path) => write!(f, "Secret::File({})", path.display()),
        }
    }
}

impl EgressConfig {
    /// Relative paths are relative to the config file.
    pub fn resolve_paths(&mut self, base: &Path) {
        let endpoints = self
            .endpoints
            .values_mut()
            .chain(self.consent.iter_mut().map(|c| &mut c.endpoint));
        for endpoint in endpoints {
            for p in [
                &mut endpoint.ca_file,
                &mut endpoint.client_cert,
                &mut endpoint.client_key,
            ]
            .into_iter()
            .flatten()
            {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
    }
}
