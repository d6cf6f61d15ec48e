//! The operator's configuration (TOML). Every struct denies unknown fields, so a typo is an
//! error at start-up instead of a silently ignored setting.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub api: ApiConfig,
    pub adapters: AdaptersConfig,
    #[serde(default)]
    pub sandbox: SandboxConfig,
    #[serde(default)]
    pub egress: EgressConfig,
    /// The booking engine (issue 5): catalogue, fees, quota, limits.
    #[serde(default)]
    pub booking: crate::booking::BookingConfig,
    /// Where bookings are stored: embedded SQLite (default) or PostgreSQL.
    #[serde(default)]
    pub store: crate::store::StoreConfig,
}

impl Config {
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading config {}: {e}", path.display()))?;
        let mut config: Config =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
        // Relative paths are relative to the config file, so a config works from any cwd.
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.adapters.dir);
        for p in [
            &mut self.api.tls_cert,
            &mut self.api.tls_key,
            &mut self.api.dev_cert_out,
        ]
        .into_iter()
        .flatten()
        {
            fix(p)
        }
        if let Some(p) = self.adapters.rules_dir.as_mut() {
            fix(p)
        }
        self.booking.resolve_paths(base);
        self.store.resolve_paths(base);
        self.adapters.trusted_keys.iter_mut().for_each(fix);
        if let Some(p) = self.adapters.precompiled_cache.as_mut() {
            fix(p)
        }
        let endpoints = self
            .egress
            .endpoints
            .values_mut()
            .chain(self.egress.consent.iter_mut().map(|c| &mut c.endpoint));
        for endpoint in endpoints {
            for p in [
                &mut endpoint.ca_file,
                &mut endpoint.client_cert,
                &mut endpoint.client_key,
            ]
            .into_iter()
            .flatten()
            {
                fix(p)
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Public API (verifications, bookings). TLS unless `plain_http`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Admin API (adapters, metrics), plain HTTP. Must be a loopback address unless
    /// `admin_token` is set.
    #[serde(default = "default_admin_listen")]
    pub admin_listen: SocketAddr,
    /// Bearer token required by `/admin/*`.
    #[serde(default)]
    pub admin_token: Option<Secret>,
    /// Serve the public API without TLS (behind a TLS-terminating proxy, or in tests).
    #[serde(default)]
    pub plain_http: bool,
    /// Certificate chain and private key (PEM) for the public API.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Without `tls_cert`, a self-signed development certificate for localhost is generated
    /// at start-up and its PEM written here, for `curl --cacert`.
    #[serde(default)]
    pub dev_cert_out: Option<PathBuf>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            admin_listen: default_admin_listen(),
            admin_token: None,
            plain_http: false,
            tls_cert: None,
            tls_key: None,
            dev_cert_out: None,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8443))
}

fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8444))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptersConfig {
    /// Directory of adapter packages: `<dir>/<id>/{manifest.json, adapter.wasm, adapter.sig}`.
    pub dir: PathBuf,
    /// Refuse adapters without a valid signature by a trusted key. Default: yes.
    #[serde(default = "yes")]
    pub require_signatures: bool,
    /// Ed25519 public keys (PEM, SPKI) whose signatures are trusted.
    #[serde(default)]
    pub trusted_keys: Vec<PathBuf>,
    /// Directory of rule sets (`*.json`, schemas/rule-set.schema.json), reloaded together
    /// with the adapters. Without it, no verification can be decided.
    #[serde(default)]
    pub rules_dir: Option<PathBuf>,
    /// Watch `dir` and reload when it changes.
    #[serde(default = "yes")]
    pub watch: bool,
    /// Where compiled components are cached, keyed by engine version and configuration.
    #[serde(default)]
    pub precompiled_cache: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// Adapter calls running at once across the host (pooling allocator slots).
    #[serde(default = "default_slots")]
    pub max_concurrent_calls: u32,
    /// Epoch tick; CPU budgets are enforced to within one tick.
    #[serde(default = "default_tick")]
    pub epoch_tick_ms: u64,
    /// Largest memory cap any manifest may ask for (the pool reserves this per slot).
    #[serde(default = "default_max_memory")]
    pub max_memory_mib: u64,
}

fn default_slots() -> u32 {
    256
}
fn default_tick() -> u64 {
    5
}
fn default_max_memory() -> u64 {
    64
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            max_concurrent_calls: default_slots(),
            epoch_tick_ms: default_tick(),
            max_memory_mib: default_max_memory(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderConfig {
    pub id: String,
    pub password: Secret,
}

#[derive(Debug, Clone, Deserialize)]
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
#[derive(Clone, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_configs_parse() {
        for (name, text) in [
            (
                "deploy/dev/kezek.toml",
                include_str!("../../deploy/dev/kezek.toml"),
            ),
            (
                "deploy/prod/kezek.toml",
                include_str!("../../deploy/prod/kezek.toml"),
            ),
        ] {
            let config: Config = toml::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                config.adapters.require_signatures,
                "{name} must require signatures"
            );
        }
    }

    #[test]
    fn unknown_fields_are_errors() {
        let err = toml::from_str::<Config>("[adapters]\ndir = \"x\"\nrequire_signature = false\n")
            .unwrap_err();
        assert!(err.to_string().contains("require_signature"), "{err}");
    }

    #[test]
    fn signatures_are_required_unless_switched_off() {
        let cfg: Config = toml::from_str("[adapters]\ndir = \"x\"\n").unwrap();
        assert!(cfg.adapters.require_signatures);
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let s = Secret::Value("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
