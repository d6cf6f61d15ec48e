//! The operator's configuration (TOML): one section per room, each defined by its crate
//! (`[api]` by kezek-api, `[adapters]` by kezek-catalogue, `[sandbox]` by kezek-host,
//! `[egress]` by kezek-egress, `[booking]` by kezek-booking, `[store]` and `[audit]` by
//! kezek-store). No
//! crate reads another's section. Every struct denies unknown fields, so a typo is an error
//! at start-up instead of a silently ignored setting.

pub use kezek_api::config::ApiConfig;
pub use kezek_booking::BookingConfig;
pub use kezek_catalogue::config::AdaptersConfig;
pub use kezek_egress::config::{EgressConfig, Secret};
pub use kezek_host::config::SandboxConfig;
pub use kezek_store::StoreConfig;
pub use kezek_store::audit::AuditConfig;

use serde::Deserialize;
use std::path::Path;

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
    pub booking: BookingConfig,
    /// Where bookings are stored: embedded SQLite (default) or PostgreSQL.
    #[serde(default)]
    pub store: StoreConfig,
    /// The audit log: group commit, back-pressure, signed anchors of the chain (ADR 0015).
    #[serde(default)]
    pub audit: AuditConfig,
    /// The checkpoint devices: lane profiles and the push listener (issue 13).
    #[serde(default)]
    pub devices: kezek_devices::DevicesConfig,
    /// The file this was read from: a reload re-reads `[egress]` from it (issue 12).
    #[serde(skip)]
    pub source: Option<std::path::PathBuf>,
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
        config.source = Some(path.to_owned());
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        self.api.resolve_paths(base);
        self.adapters.resolve_paths(base);
        self.egress.resolve_paths(base);
        self.booking.resolve_paths(base);
        self.store.resolve_paths(base);
        self.audit.resolve_paths(base);
        self.devices.resolve_paths(base);
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
                include_str!("../../../deploy/dev/kezek.toml"),
            ),
            (
                "deploy/prod/kezek.toml",
                include_str!("../../../deploy/prod/kezek.toml"),
            ),
        ] {
            let config: Config = toml::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                config.adapters.require_signatures,
                "{name} must require signatures"
            );
            // ADR 0014: a shipped config says whose tokens the public API takes.
            assert!(config.api.auth.is_some(), "{name} must have [api.auth]");
        }
        // Issue 11 item 2: production applicants verify only their own applications.
        let prod: Config = toml::from_str(include_str!("../../../deploy/prod/kezek.toml")).unwrap();
        assert!(prod.api.auth.is_some_and(|a| a.require_applicant_iin));
        let bare: kezek_api::config::AuthConfig =
            toml::from_str("issuer = \"i\"\naudience = \"a\"\njwks_file = \"k\"\n").unwrap();
        assert!(
            bare.require_applicant_iin,
            "the default requires the applicant's IIN/BIN"
        );
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
