//! Outbound HTTP(S) on behalf of adapters: the only way a registry is reached.
//!
//! An adapter names a logical endpoint; this crate resolves it to the operator's URL,
//! refuses endpoints that the adapter's manifest does not declare or the operator's config
//! does not define, injects credentials the adapter never sees, and enforces connect and
//! response timeouts and a response-size cap. It knows nothing about wasmtime.
//!
//! Architecture invariant: an HTTP *client*; no wasmtime and no HTTP server. Credentials
//! exist only here and in the config, never in a guest or a log.

pub mod config;

use bytes::Bytes;
use config::{EgressConfig, EndpointConfig};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use kezek_manifest::Credential as CredentialKind;

/// Placeholders an adapter writes where a credential goes (`wit/registry@1.0.0`).
pub const SENDER_ID_PLACEHOLDER: &str = "{{kezek:sender-id}}";
pub const SENDER_PASSWORD_PLACEHOLDER: &str = "{{kezek:sender-password}}";
pub const CONSENT_TOKEN_PLACEHOLDER: &str = "{{kezek:consent-token}}";

/// An outbound request as the adapter asked for it.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub endpoint: String,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub credentials: Vec<CredentialRequest>,
}

/// A credential an adapter asks the host to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialRequest {
    GatewaySender,
    ConsentToken { service_id: String, iin: String },
}

#[derive(Debug, Clone)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    #[error("egress denied: {0}")]
    Denied(String),
    #[error("connect failed: {0}")]
    ConnectFailed(String),
    /// The connection broke mid-exchange (reset, closed, a body cut short): an outage to
    /// retry, not an answer to judge (issue 10).
    #[error("connection lost: {0}")]
    Transport(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("response too large: {0}")]
    TooLarge(String),
    #[error("credential unavailable: {0}")]
    CredentialUnavailable(String),
    /// The consent service refused the token for a reason of the person's, not an outage:
    /// an adapter makes a finding of it (PROTOCOLS.md §3).
    #[error("credential unavailable: {}: {message}", .refusal.code())]
    ConsentRefused {
        refusal: ConsentRefusal,
        message: String,
    },
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// Why the state consent service refused a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentRefusal {
    /// The person has not consented to this service processing their data (P16).
    NotGiven,
    /// The consent service does not know the IIN.
    SubjectNotFound,
}

impl ConsentRefusal {
    /// The consent service's own error code.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotGiven => "consent-not-given",
            Self::SubjectNotFound => "subject-not-found",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        [Self::NotGiven, Self::SubjectNotFound]
            .into_iter()
            .find(|r| r.code() == code)
    }
}

impl EgressError {
    /// What a credential failure says, without the "credential unavailable" lead; a
    /// refusal's code leads it ("consent-not-given: …").
    pub fn credential_detail(&self) -> String {
        match self {
            Self::ConsentRefused { refusal, message } => format!("{}: {message}", refusal.code()),
            Self::CredentialUnavailable(message) => message.clone(),
            other => other.to_string(),
        }
    }
}

/// What one adapter may reach: the intersection of its manifest and the operator's config.
/// Each adapter gets its own connection pools, built with its manifest's connect timeout,
/// so one adapter cannot starve another's connections.
#[derive(Debug)]
pub struct EgressPolicy {
    pub adapter_id: String,
    /// Endpoint name → the credentials the manifest allows for it.
    pub declared: HashMap<String, Vec<CredentialKind>>,
    /// Declared endpoints that the operator configured, ready to use.
    pub reachable: HashMap<String, Endpoint>,
    pub response_timeout: Duration,
    pub max_response_bytes: usize,
}

/// One exchange, as the audit log records it: hashes, never contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub endpoint: String,
    pub request_sha256: String,
    pub response_sha256: Option<String>,
    pub status: Option<u16>,
    pub duration: Duration,
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A configured registry endpoint with its own TLS client.
#[derive(Debug)]
pub struct Endpoint {
    name: String,
    base: String,
    client: HttpClient,
    sender: Option<(String, String)>,
}

impl Endpoint {
    fn new(name: &str, cfg: &EndpointConfig, connect_timeout: Duration) -> anyhow::Result<Self> {
        let sender = match &cfg.sender {
            Some(s) => Some((s.id.clone(), s.password.resolve()?)),
            None => None,
        };
        Ok(Self {
            name: name.to_owned(),
            base: cfg.url.trim_end_matches('/').to_owned(),
            client: tls::client(cfg, connect_timeout)?,
            sender,
        })
    }
}

/// The outbound side of the host, shared by every adapter call. Its configuration is
/// replaced whole by [`Egress::reconfigure`] when the adapters reload (issue 12).
#[derive(Debug)]
pub struct Egress {
    configured: std::sync::RwLock<Arc<Configured>>,
}

/// One configuration and the consent client built from it.
#[derive(Debug)]
struct Configured {
    config: EgressConfig,
    consent: Option<Arc<consent::ConsentClient>>,
}

impl Egress {
    /// Validates every endpoint (URL, CA bundle, client certificate, secrets) up front, so
    /// a broken endpoint stops start-up instead of failing the first verification.
    pub fn new(config: &EgressConfig) -> anyhow::Result<Self> {
        validate(config)?;
        let consent = match &config.consent {
            Some(c) => Some(Arc::new(consent::ConsentClient::new(c)?)),
            None => None,
        };
        Ok(Self {
            configured: std::sync::RwLock::new(Arc::new(Configured {
                config: config.clone(),
                consent,
            })),
        })
    }

    /// Replaces the endpoints, the per-adapter overrides and the consent service, validated
    /// as at start; on an error the running configuration stays. Returns whether anything
    /// changed. Policies already built keep the endpoints they were built with (a request
    /// finishes on the set it started with), so on `true` the catalogue rebuilds every
    /// adapter's policy. Secrets are compared as configured (the variable or file name), so
    /// a changed secret file alone is not noticed.
    pub fn reconfigure(&self, config: &EgressConfig) -> anyhow::Result<bool> {
        let running = self.configured();
        if running.config == *config {
            return Ok(false);
        }
        validate(config)?;
        // The consent client keeps its cached tokens unless its own settings changed.
        let consent = match &config.consent {
            Some(c) if running.config.consent.as_ref() == Some(c) => running.consent.clone(),
            Some(c) => Some(Arc::new(consent::ConsentClient::new(c)?)),
            None => None,
        };
        *self
            .configured
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(Configured {
            config: config.clone(),
            consent,
        });
        Ok(true)
    }

    fn configured(&self) -> Arc<Configured> {
        self.configured
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Builds one adapter's policy from its manifest and the operator's config. Endpoints
    /// the operator did not configure stay unreachable: the adapter loads, but a call to them
    /// is denied (the manifest declares, the operator allows — both are needed).
    pub fn policy_for(&self, manifest: &kezek_manifest::Manifest) -> anyhow::Result<EgressPolicy> {
        let configured = self.configured();
        let overrides = configured.config.adapter_overrides.get(&manifest.id);
        let connect_timeout = Duration::from_millis(manifest.timeouts.connect_ms);
        let mut reachable = HashMap::new();
        for declared in &manifest.endpoints {
            let name = &declared.name;
            let override_url = overrides.and_then(|o| o.get(name)).cloned();
            let config = match (configured.config.endpoints.get(name), override_url) {
                (Some(configured), Some(url)) => EndpointConfig {
                    url,
                    ..configured.clone()
                },
                (Some(configured), None) => configured.clone(),
                (None, Some(url)) => EndpointConfig {
                    url,
                    ca_file: None,
                    client_cert: None,
                    client_key: None,
                    sender: None,
                },
                (None, None) => continue,
            };
            let endpoint = Endpoint::new(name, &config, connect_timeout).map_err(|e| {
                e.context(format!("endpoint \"{name}\" for adapter {}", manifest.id))
            })?;
            reachable.insert(name.clone(), endpoint);
        }
        Ok(EgressPolicy {
            adapter_id: manifest.id.clone(),
            declared: manifest
                .endpoints
                .iter()
                .map(|e| (e.name.clone(), e.credentials.clone()))
                .collect(),
            reachable,
            response_timeout: Duration::from_millis(manifest.timeouts.response_ms),
            max_response_bytes: manifest.limits.response_bytes as usize,
        })
    }

    /// Carries out one exchange for an adapter under its policy.
    pub async fn send(
        &self,
        policy: &EgressPolicy,
        req: OutboundRequest,
    ) -> (Result<OutboundResponse, EgressError>, Exchange) {
        let started = Instant::now();
        let mut exchange = Exchange {
            endpoint: req.endpoint.clone(),
            request_sha256: String::new(),
            response_sha256: None,
            status: None,
            duration: Duration::ZERO,
        };
        let result = self.send_inner(policy, req, &mut exchange).await;
        exchange.duration = started.elapsed();
        (result, exchange)
    }

    async fn send_inner(
        &self,
        policy: &EgressPolicy,
        req: OutboundRequest,
        exchange: &mut Exchange,
    ) -> Result<OutboundResponse, EgressError> {
        let allowed_credentials = policy.declared.get(&req.endpoint).ok_or_else(|| {
            EgressError::Denied(format!(
                "adapter {} did not declare endpoint \"{}\" in its manifest",
                policy.adapter_id, req.endpoint
            ))
        })?;
        let endpoint = policy.reachable.get(&req.endpoint).ok_or_else(|| {
            EgressError::Denied(format!(
                "endpoint \"{}\" is not configured by the operator",
                req.endpoint
            ))
        })?;
        let method = hyper::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| EgressError::Protocol(format!("bad method {:?}", req.method)))?;
        if !req.path.is_empty() && !req.path.starts_with('/') {
            return Err(EgressError::Protocol("path must start with '/'".into()));
        }
        let mut body = req.body;
        for credential in &req.credentials {
            body = self
                .inject(endpoint, allowed_credentials, credential, body)
                .await?;
        }
        exchange.request_sha256 = hex::encode(Sha256::digest(&body));

        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{}", endpoint.base, req.path));
        for (name, value) in &req.headers {
            if is_hop_or_host_header(name) {
                continue;
            }
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| EgressError::Protocol(format!("bad request: {e}")))?;

        let exchange_future = async {
            let response = endpoint.client.request(request).await.map_err(|e| {
                if e.is_connect() {
                    EgressError::ConnectFailed(format!("{}: {e}", endpoint.name))
                } else {
                    transport_or_protocol(&endpoint.name, &e)
                }
            })?;
            let (parts, body) = response.into_parts();
            let limit = policy.max_response_bytes;
            let bytes = Limited::new(body, limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some()
                    {
                        EgressError::TooLarge(format!(
                            "{} answered more than {limit} bytes",
                            endpoint.name
                        ))
                    } else {
                        transport_or_protocol(&endpoint.name, &*e)
                    }
                })?
                .to_bytes();
            Ok::<_, EgressError>((parts, bytes))
        };
        // The connector enforces the connect timeout; this bounds the whole exchange.
        let total = policy.response_timeout;
        let (parts, bytes) = tokio::time::timeout(total, exchange_future)
            .await
            .map_err(|_| {
                EgressError::Timeout(format!(
                    "{} did not answer within {} ms",
                    endpoint.name,
                    total.as_millis()
                ))
            })??;
        exchange.status = Some(parts.status.as_u16());
        exchange.response_sha256 = Some(hex::encode(Sha256::digest(&bytes)));
        Ok(OutboundResponse {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
            body: bytes.to_vec(),
        })
    }

    async fn inject(
        &self,
        endpoint: &Endpoint,
        allowed: &[CredentialKind],
        credential: &CredentialRequest,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, EgressError> {
        let kind = match credential {
            CredentialRequest::GatewaySender => CredentialKind::GatewaySender,
            CredentialRequest::ConsentToken { .. } => CredentialKind::ConsentToken,
        };
        if !allowed.contains(&kind) {
            return Err(EgressError::Denied(format!(
                "the manifest does not allow {kind:?} for endpoint \"{}\"",
                endpoint.name
            )));
        }
        let text = String::from_utf8(body).map_err(|_| {
            EgressError::Protocol("a body that carries credentials must be UTF-8".into())
        })?;
        let replaced = match credential {
            CredentialRequest::GatewaySender => {
                let (id, password) = endpoint.sender.as_ref().ok_or_else(|| {
                    EgressError::CredentialUnavailable(format!(
                        "no gateway sender is configured for endpoint \"{}\"",
                        endpoint.name
                    ))
                })?;
                text.replace(SENDER_ID_PLACEHOLDER, &xml_escape(id))
                    .replace(SENDER_PASSWORD_PLACEHOLDER, &xml_escape(password))
            }
            CredentialRequest::ConsentToken { service_id, iin } => {
                let consent = self.configured().consent.clone().ok_or_else(|| {
                    EgressError::CredentialUnavailable("no consent service is configured".into())
                })?;
                let token = consent.token(service_id, iin).await?;
                text.replace(CONSENT_TOKEN_PLACEHOLDER, &xml_escape(&token))
            }
        };
        Ok(replaced.into_bytes())
    }
}

/// Every endpoint (URL, CA bundle, client certificate, secrets) up front, so a broken one
/// stops start-up or a reload instead of failing the first verification.
fn validate(config: &EgressConfig) -> anyhow::Result<()> {
    for (name, endpoint) in &config.endpoints {
        Endpoint::new(name, endpoint, Duration::from_secs(1))
            .map_err(|e| e.context(format!("endpoint \"{name}\"")))?;
    }
    Ok(())
}

/// Headers the host sets itself; an adapter cannot choose where the request goes.
fn is_hop_or_host_header(name: &str) -> bool {
    [
        "host",
        "connection",
        "content-length",
        "transfer-encoding",
        "upgrade",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

fn xml_escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A failed exchange after connecting: a malformed HTTP message is the registry's answer
/// not understood; anything else (reset, closed, an answer shorter than it said) is the
/// connection failing, which asking again may cure.
fn transport_or_protocol(endpoint: &str, e: &(dyn std::error::Error + 'static)) -> EgressError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(h) = s.downcast_ref::<hyper::Error>()
            && h.is_parse()
        {
            return EgressError::Protocol(format!("{endpoint}: {}", error_chain(e)));
        }
        source = s.source();
    }
    EgressError::Transport(format!("{endpoint}: {}", error_chain(e)))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

pub use tls::{https_client, trusting};

mod tls {
    use super::HttpClient;
    use crate::config::EndpointConfig;
    use anyhow::Context;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use std::sync::Arc;

    /// The one way Kezek trusts an HTTPS server: the PEM CA bundle given and nothing else
    /// (no system roots: the state systems chain to the national CA), ring, rustls' safe
    /// protocol versions. Without a bundle nothing is trusted (plain HTTP only). The caller
    /// adds its client certificate, or none.
    pub fn trusting(
        ca: Option<&std::path::Path>,
    ) -> anyhow::Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>>
    {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = ca {
            for cert in CertificateDer::pem_file_iter(ca)
                .with_context(|| format!("reading CA bundle {}", ca.display()))?
            {
                roots.add(cert.context("parsing CA bundle")?)?;
            }
        }
        Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots))
    }

    /// An HTTP/1.1 client trusting `ca` as [`trusting`] says, without a client certificate:
    /// for the gateway's own calls (the JWKS) and the command line's.
    pub fn https_client<B>(
        ca: Option<&std::path::Path>,
    ) -> anyhow::Result<
        hyper_util::client::legacy::Client<super::HttpsConnector<super::HttpConnector>, B>,
    >
    where
        B: hyper::body::Body + Send,
        B::Data: Send,
    {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(trusting(ca)?.with_no_client_auth())
            .https_or_http()
            .enable_http1()
            .build();
        Ok(
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector),
        )
    }

    /// A pooled HTTP/1.1 client for one endpoint. HTTPS endpoints must name their CA bundle:
    /// the state systems' certificates chain to the national CA, which public root stores do
    /// not carry. A client certificate, when configured, is presented for mutual TLS.
    pub(super) fn client(
        cfg: &EndpointConfig,
        connect_timeout: std::time::Duration,
    ) -> anyhow::Result<HttpClient> {
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        if cfg.ca_file.is_none() && cfg.url.starts_with("https:") {
            anyhow::bail!("an https endpoint needs ca_file (the registry's CA bundle)");
        }
        let builder = trusting(cfg.ca_file.as_deref())?;
        let tls = match (&cfg.client_cert, &cfg.client_key) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .with_context(|| format!("reading client certificate {}", cert.display()))?
                    .collect::<Result<Vec<_>, _>>()?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .with_context(|| format!("reading client key {}", key.display()))?;
                builder.with_client_auth_cert(chain, key)?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => anyhow::bail!("client_cert and client_key go together"),
        };
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(std::time::Duration::from_secs(30))
                .build(https),
        )
    }
}

mod consent {
    //! The state consent service: a kdpToken per service and IIN (P16: residents consent to
    //! personal-data processing through it). Tokens are cached under a hash of the pair, so
    //! no IIN sits in a cache key.

    use super::{EgressError, HttpClient};
    use crate::config::ConsentConfig;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full, Limited};
    use sha2::{Digest, Sha256};
    use std::time::Duration;

    #[derive(Debug)]
    pub(super) struct ConsentClient {
        url: String,
        client: HttpClient,
        timeout: Duration,
        tokens: moka::future::Cache<[u8; 32], String>,
    }

    impl ConsentClient {
        pub(super) fn new(cfg: &ConsentConfig) -> anyhow::Result<Self> {
            Ok(Self {
                url: cfg.endpoint.url.trim_end_matches('/').to_owned(),
                client: super::tls::client(&cfg.endpoint, Duration::from_millis(cfg.timeout_ms))?,
                timeout: Duration::from_millis(cfg.timeout_ms),
                tokens: moka::future::Cache::builder()
                    .max_capacity(100_000)
                    .time_to_live(Duration::from_secs(cfg.token_ttl_s))
                    .build(),
            })
        }

        pub(super) async fn token(
            &self,
            service_id: &str,
            iin: &str,
        ) -> Result<String, EgressError> {
            let key: [u8; 32] = Sha256::digest(format!("{service_id}\u{0}{iin}")).into();
            self.tokens
                .try_get_with(key, self.fetch(service_id, iin))
                .await
                .map_err(|e| (*e).clone())
        }

        async fn fetch(&self, service_id: &str, iin: &str) -> Result<String, EgressError> {
            let body = serde_json::json!({ "serviceId": service_id, "iin": iin }).to_string();
            // Like every registry exchange, the token request carries a fresh correlation id
            // and its answer must echo it: an answer meant for another request is no consent
            // (issue 10).
            let correlation_id = uuid::Uuid::new_v4().to_string();
            let request = hyper::Request::post(format!("{}/consent/v1/tokens", self.url))
                .header("content-type", "application/json")
                .header("x-correlation-id", &correlation_id)
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| EgressError::Protocol(e.to_string()))?;
            let unavailable =
                |why: String| EgressError::CredentialUnavailable(format!("consent service: {why}"));
            let answer = async {
                let response = self
                    .client
                    .request(request)
                    .await
                    .map_err(|e| unavailable(e.to_string()))?;
                let status = response.status();
                let echoed = response
                    .headers()
                    .get("x-correlation-id")
                    .and_then(|v| v.to_str().ok());
                if echoed != Some(correlation_id.as_str()) {
                    return Err(unavailable(
                        "the answer does not carry the request's correlation id".into(),
                    ));
                }
                let bytes = Limited::new(response.into_body(), 64 * 1024)
                    .collect()
                    .await
                    .map_err(|e| unavailable(e.to_string()))?
                    .to_bytes();
                if !status.is_success() {
                    // A refusal the service names is typed, so an adapter can tell a refused
                    // consent from an outage (PROTOCOLS.md §3); any other code keeps its text.
                    let refusal: serde_json::Value =
                        serde_json::from_slice(&bytes).unwrap_or_default();
                    let message = refusal
                        .get("message")
                        .and_then(|m| m.as_str())
                        .unwrap_or("refused")
                        .to_owned();
                    let code = refusal.get("error").and_then(|e| e.as_str());
                    return Err(match code {
                        Some(code) if status.is_client_error() => {
                            match super::ConsentRefusal::from_code(code) {
                                Some(refusal) => EgressError::ConsentRefused { refusal, message },
                                None => {
                                    EgressError::CredentialUnavailable(format!("{code}: {message}"))
                                }
                            }
                        }
                        _ => unavailable(format!("HTTP {}", status.as_u16())),
                    });
                }
                let value: serde_json::Value = serde_json::from_slice(&bytes)
                    .map_err(|e| unavailable(format!("bad answer: {e}")))?;
                value
                    .get("token")
                    .and_then(|t| t.as_str())
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| unavailable("answer has no token".into()))
            };
            tokio::time::timeout(self.timeout, answer)
                .await
                .map_err(|_| unavailable("timed out".into()))?
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(id: &str) -> kezek_manifest::Manifest {
        kezek_manifest::Manifest::parse(
            format!(
                r#"{{"id":"{id}","version":"1.0.0","wit":"kezek:registry@1.0.0","registry":"r","checks":[9],
                "endpoints":[{{"name":"egov-gateway","credentials":["gateway-sender"]}},{{"name":"unconfigured"}}],
                "limits":{{}}}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    /// QA points one adapter at another endpoint by configuration only; the others keep the
    /// operator's URL, and an endpoint nobody configured stays unreachable.
    #[test]
    fn adapter_overrides_redirect_one_adapter_only() {
        let config: EgressConfig = toml::from_str(
            r#"
            [endpoints.egov-gateway]
            url = "http://127.0.0.1:8700/bip-sync/"
            sender = { id = "s", password = { value = "p" } }
            [adapter_overrides.tax-debt]
            egov-gateway = "http://127.0.0.1:9900/bip-sync/"
            "#,
        )
        .unwrap();
        let egress = Egress::new(&config).unwrap();
        let redirected = egress.policy_for(&manifest("tax-debt")).unwrap();
        let normal = egress.policy_for(&manifest("road-fines")).unwrap();
        assert_eq!(
            redirected.reachable["egov-gateway"].base,
            "http://127.0.0.1:9900/bip-sync"
        );
        assert_eq!(
            normal.reachable["egov-gateway"].base,
            "http://127.0.0.1:8700/bip-sync"
        );
        // The override keeps the endpoint's credentials.
        assert!(redirected.reachable["egov-gateway"].sender.is_some());
        assert!(!normal.reachable.contains_key("unconfigured"));
        assert!(normal.declared.contains_key("unconfigured"));
    }
}

#[cfg(test)]
mod reconfigure_tests {
    use super::*;

    fn config(toml_text: &str) -> EgressConfig {
        toml::from_str(toml_text).unwrap()
    }

    const GATEWAY: &str = r#"
        [endpoints.egov-gateway]
        url = "http://127.0.0.1:8700/bip-sync/"
    "#;

    /// Issue 12: endpoints and overrides reload with the adapters. A new policy sees the new
    /// URL; an invalid configuration is refused and the running one stays.
    #[test]
    fn a_reconfiguration_reaches_new_policies_and_a_bad_one_changes_nothing() {
        let manifest = kezek_manifest::Manifest::parse(
            br#"{"id":"tax-debt","version":"1.0.0","wit":"kezek:registry@1.0.0","registry":"r","checks":[9],
                "endpoints":[{"name":"egov-gateway"}],"limits":{}}"#,
        )
        .unwrap();
        let egress = Egress::new(&config(GATEWAY)).unwrap();
        assert!(
            !egress.reconfigure(&config(GATEWAY)).unwrap(),
            "same config: no change"
        );

        let overridden = format!(
            "{GATEWAY}\n[adapter_overrides.tax-debt]\negov-gateway = \"http://127.0.0.1:9900/\""
        );
        assert!(egress.reconfigure(&config(&overridden)).unwrap());
        let policy = egress.policy_for(&manifest).unwrap();
        assert_eq!(
            policy.reachable["egov-gateway"].base,
            "http://127.0.0.1:9900"
        );

        let broken = config(
            r#"
            [endpoints.egov-gateway]
            url = "https://127.0.0.1:8700/"
            ca_file = "/nonexistent/ca.pem"
            "#,
        );
        assert!(egress.reconfigure(&broken).is_err());
        let policy = egress.policy_for(&manifest).unwrap();
        assert_eq!(
            policy.reachable["egov-gateway"].base, "http://127.0.0.1:9900",
            "the running configuration stays"
        );
    }
}
