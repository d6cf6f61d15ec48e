//! `[api]`: the listeners, TLS and the admin token.

use kezek_egress::config::Secret;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// Connections one peer address may hold open on a listener, so one client's idle
    /// connections cannot take the listener's every slot (`MAX_CONNECTIONS`). Behind a
    /// terminating proxy every client has the proxy's address: raise it to the cap.
    #[serde(default = "default_per_peer")]
    pub max_connections_per_peer: usize,
    /// Verification rate limits (issue 11).
    #[serde(default)]
    pub rate_limits: crate::limits::VerificationRateLimits,
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
            max_connections_per_peer: default_per_peer(),
            rate_limits: Default::default(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8443))
}

fn default_per_peer() -> usize {
    256
}

fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8444))
}

impl ApiConfig {
    /// Relative paths are relative to the config file.
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        for p in [
            &mut self.tls_cert,
            &mut self.tls_key,
            &mut self.dev_cert_out,
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
