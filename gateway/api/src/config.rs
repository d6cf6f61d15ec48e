//! `[api]`: the listeners, TLS, the admin token and `[api.auth]`, who may call (ADR 0014).

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
    /// Bearer token required by `/admin/*` and `/metrics`. An empty token is refused at
    /// start-up (it would match nothing, or everything).
    #[serde(default)]
    pub admin_token: Option<Secret>,
    /// Who may call the public API: bearer JWTs of the registrar's identity provider. Without
    /// it every public route but health and `/openapi.json` answers 401.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Serve the public API without TLS (behind a TLS-terminating proxy, or in tests).
    #[serde(default)]
    pub plain_http: bool,
    /// Certificate chain and private key (PEM) for the public API.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Without `tls_cert`, a self-signed development certificate for localhost is generated
    /// on first start and its PEM written here, for `curl --cacert`; its key is kept beside
    /// it (`.key`, mode 0600), so later starts serve the same certificate.
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
            auth: None,
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
        let mut paths: Vec<&mut PathBuf> = [
            &mut self.tls_cert,
            &mut self.tls_key,
            &mut self.dev_cert_out,
        ]
        .into_iter()
        .flatten()
        .collect();
        if let Some(auth) = &mut self.auth {
            let files = [
                &mut auth.jwks_file,
                &mut auth.jwks_ca_file,
                &mut auth.client_ca_file,
            ];
            paths.extend(files.into_iter().flatten());
        }
        for p in paths {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

/// `[api.auth]`: the identity provider whose bearer JWTs the public API accepts (ADR 0014).
/// Tokens are checked for signature (against the provider's JWKS, with an explicit list of
/// asymmetric algorithms), issuer, audience, expiry and not-before.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The provider's issuer, exactly as its tokens' `iss`.
    pub issuer: String,
    /// This gateway's audience: a token's `aud` must name it.
    pub audience: String,
    /// The provider's keys as a JWKS file (development: `kezek dev-token` writes it). Read
    /// again when a token names a key it does not hold.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// The provider's JWKS URL (production): https, or http on a loopback address only.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// CA bundle (PEM) that the JWKS URL's certificate chains to.
    #[serde(default)]
    pub jwks_ca_file: Option<PathBuf>,
    /// Signature algorithms accepted, asymmetric only (`EdDSA`, `ES256`, `ES384`, `RS256`,
    /// `RS384`, `RS512`, `PS256`, `PS384`, `PS512`); `none` and `HS*` are refused.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`, seconds (at most 300).
    #[serde(default = "default_leeway")]
    pub leeway_s: u64,
    /// The keys are read again after this long, so a withdrawn key stops working.
    #[serde(default = "default_jwks_max_age")]
    pub jwks_max_age_s: u64,
    /// A token naming an unknown key re-reads the keys at most this often (key rotation
    /// without a restart, without letting forged `kid`s hammer the provider).
    #[serde(default = "default_jwks_min_refresh")]
    pub jwks_min_refresh_ms: u64,
    /// Also accept an `operator` token on the admin listener, besides the admin token.
    #[serde(default)]
    pub operator_tokens_on_admin: bool,
    /// Refuse applicant tokens without the applicant's IIN/BIN (`iin`); with it, an applicant
    /// verifies and books only applications that name it (issue 11 item 2). On unless a
    /// config turns it off: a forgotten line must not reopen the registry oracle.
    #[serde(default = "default_require_applicant_iin")]
    pub require_applicant_iin: bool,
    /// mTLS for system-to-system callers: the public listener asks for a client certificate
    /// (optional) chaining to this CA bundle (PEM).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// The DNS names (subject alternative names) of client certificates that are the
    /// registrar's back end; it names the account it acts for in `Kezek-Account`.
    #[serde(default)]
    pub registrar_clients: Vec<String>,
}

fn default_require_applicant_iin() -> bool {
    true
}

fn default_algorithms() -> Vec<String> {
    ["EdDSA", "ES256", "RS256", "PS256"]
        .map(String::from)
        .to_vec()
}

fn default_leeway() -> u64 {
    30
}

fn default_jwks_max_age() -> u64 {
    600
}

fn default_jwks_min_refresh() -> u64 {
    30_000
}
