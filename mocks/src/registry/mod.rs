//! Mock state registries behind one loopback HTTP/1.1 server, routed by path (and, behind
//! the e-government gateway path, by `serviceId`). The protocols are in `PROTOCOLS.md`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use kezek_mocks::registry::{self, MockConfig, RegistryId};
//! use kezek_mocks::{Fault, FaultMode, Scenario};
//! let mocks = registry::start(Scenario::default_population(), MockConfig::default())?;
//! mocks.set_fault(RegistryId::Esbd, Fault::mode(FaultMode::Sce004).with_latency(200));
//! println!("gateway at {}", mocks.url(RegistryId::GbdFl));
//! # Ok(()) }
//! ```

mod cargo;
mod declared;
mod esbd;
mod finance;
mod gateway;
mod people;
mod rest;
mod vehicles;

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::faults::{Fault, FaultMode};
use crate::scenario::Scenario;

pub use gateway::ServiceId;

/// Largest request body the mocks accept.
const MAX_BODY: usize = 1 << 20;

/// Every mocked system. Automobile serves two services (P18.2, P18.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegistryId {
    /// ГБД ФЛ, individuals (P18.1), via gateway.
    GbdFl,
    /// ГБД ЮЛ, legal entities (P18.1), via gateway.
    GbdUl,
    /// "Automobile": registrations (P18.2) and licences (P18.3), via gateway.
    Automobile,
    /// Interior-ministry wanted vehicles (P18.4), via gateway.
    WantedVehicles,
    /// Legal-statistics special records, wanted persons (P18.5), via gateway.
    WantedPersons,
    /// Agricultural machinery register (P18.6), via gateway.
    AgriMachinery,
    /// E-licensing international road permits (P18.7), via gateway.
    ELicensing,
    /// ЕСБД insurance (P18.8), direct SOAP.
    Esbd,
    /// Taxpayer cabinet (P18.9), via gateway.
    Tax,
    /// ЕРАП fines (P18.10), via gateway.
    Erap,
    /// Digital documents (P18.11), via gateway.
    DigitalDocuments,
    /// Biometric identification (P18.12), via gateway.
    Biometrics,
    /// Mobile citizens base (P18.13), via gateway.
    MobileCitizens,
    /// Technical inspection (P18.14), via gateway.
    TechInspection,
    /// e-Agriculture certificates (P18.15), via gateway.
    EAgriculture,
    /// ASTANA-1 customs (P18.16), via gateway.
    Astana1,
    /// Toll-road operator (P18.17), JSON REST.
    Toll,
    /// Intelligent transport system / weigh stations (P18.18), JSON REST.
    Its,
    /// State consent service issuing kdpTokens (P16), JSON REST.
    Consent,
}

impl RegistryId {
    pub const ALL: [RegistryId; 19] = [
        Self::GbdFl,
        Self::GbdUl,
        Self::Automobile,
        Self::WantedVehicles,
        Self::WantedPersons,
        Self::AgriMachinery,
        Self::ELicensing,
        Self::Esbd,
        Self::Tax,
        Self::Erap,
        Self::DigitalDocuments,
        Self::Biometrics,
        Self::MobileCitizens,
        Self::TechInspection,
        Self::EAgriculture,
        Self::Astana1,
        Self::Toll,
        Self::Its,
        Self::Consent,
    ];

    /// The kebab-case name used in admin URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GbdFl => "gbd-fl",
            Self::GbdUl => "gbd-ul",
            Self::Automobile => "automobile",
            Self::WantedVehicles => "wanted-vehicles",
            Self::WantedPersons => "wanted-persons",
            Self::AgriMachinery => "agri-machinery",
            Self::ELicensing => "e-licensing",
            Self::Esbd => "esbd",
            Self::Tax => "tax",
            Self::Erap => "erap",
            Self::DigitalDocuments => "digital-documents",
            Self::Biometrics => "biometrics",
            Self::MobileCitizens => "mobile-citizens",
            Self::TechInspection => "tech-inspection",
            Self::EAgriculture => "e-agriculture",
            Self::Astana1 => "astana-1",
            Self::Toll => "toll",
            Self::Its => "its",
            Self::Consent => "consent",
        }
    }

    /// Base path of the registry on the mock server.
    pub fn base_path(self) -> &'static str {
        match self {
            Self::Esbd => "/esbd/soap",
            Self::Toll => "/toll/v1",
            Self::Its => "/its/v1",
            Self::Consent => "/consent/v1",
            _ => "/bip-sync/",
        }
    }
}

impl std::fmt::Display for RegistryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RegistryId {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| anyhow::anyhow!("unknown registry {s:?}"))
    }
}

/// Whether a built-in registry already answers this gateway `serviceId` or SOAP operation
/// (a scenario may not declare it again).
pub fn is_built_in_service(service: &str) -> bool {
    ServiceId::parse(service).is_some() || service == esbd::OPERATION
}

/// A registry as admin URLs, faults and recorded requests name it: a built-in one
/// ([`RegistryId`] converts) or one the scenario declares (its `id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RegistryName(String);

impl RegistryName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<RegistryId> for RegistryName {
    fn from(r: RegistryId) -> Self {
        Self(r.as_str().to_string())
    }
}

impl From<&str> for RegistryName {
    fn from(name: &str) -> Self {
        Self(name.to_string())
    }
}

impl PartialEq<RegistryId> for RegistryName {
    fn eq(&self, other: &RegistryId) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Display for RegistryName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Protocol family: decides how a fault looks on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Gateway,
    Soap,
    Json,
}

/// Mock configuration.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Address to bind; `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// Gateway sender id the mock accepts.
    pub sender_id: String,
    /// Gateway sender password the mock accepts.
    pub sender_password: String,
    /// How long an issued consent token stays valid.
    pub consent_token_ttl: Duration,
    /// The day to serve the data on: when set, every scenario (at start, from
    /// `POST /__admin/scenario` and from [`RegistryMocks::load_scenario`]) is put on this day
    /// with [`Scenario::on`] before it is served. `None` serves the dates as written.
    pub today: Option<time::Date>,
    /// Keep every request for [`RegistryMocks::requests`] and `call_count` (the tests'
    /// assertions). Off for long runs that measure something else, such as the gateway's
    /// memory: the log would grow with every call.
    pub record_requests: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            sender_id: "kezek-dev".into(),
            sender_password: "kezek-dev-secret".into(),
            consent_token_ttl: Duration::from_secs(600),
            today: None,
            record_requests: true,
        }
    }
}

/// Whether a credential in a request was present and valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialCheck {
    /// This registry does not take this credential.
    NotApplicable,
    Absent,
    Valid,
    Invalid,
}

/// What a registry received (kept in memory for assertions; never logged).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RecordedRequest {
    pub registry: RegistryName,
    pub method: String,
    pub path: String,
    pub service_id: Option<String>,
    pub message_id: Option<String>,
    /// Parsed key fields, e.g. `iin`, `plate`, `hsCodes/hsCode`.
    pub keys: BTreeMap<String, String>,
    pub consent_token: CredentialCheck,
    pub sender: CredentialCheck,
    pub raw_body: String,
}

impl RecordedRequest {
    /// A request to a registry reached directly (not through the gateway): no sender and no
    /// consent token; the correlation id header stands in for the message id.
    pub(crate) fn direct(
        registry: impl Into<RegistryName>,
        method: &str,
        path: &str,
        service_id: Option<String>,
        keys: BTreeMap<String, String>,
        body: &str,
        correlation_id: &Option<String>,
    ) -> Self {
        Self {
            registry: registry.into(),
            method: method.into(),
            path: path.into(),
            service_id,
            message_id: correlation_id.clone(),
            keys,
            consent_token: CredentialCheck::NotApplicable,
            sender: CredentialCheck::NotApplicable,
            raw_body: body.into(),
        }
    }
}

/// An issued consent token and what it is bound to.
#[derive(Debug, Clone)]
pub(crate) struct ConsentToken {
    pub service_id: String,
    pub iin: String,
    pub expires: std::time::SystemTime,
}

/// State shared by all connections.
#[derive(Debug)]
pub(crate) struct Shared {
    pub scenario: RwLock<Arc<Scenario>>,
    pub faults: Mutex<HashMap<RegistryName, Fault>>,
    pub log: Mutex<HashMap<RegistryName, Vec<RecordedRequest>>>,
    pub tokens: Mutex<HashMap<String, ConsentToken>>,
    pub config: MockConfig,
}

impl Shared {
    pub fn scenario(&self) -> Arc<Scenario> {
        self.scenario.read().expect("scenario lock").clone()
    }

    /// Serves `scenario` (on `config.today`) from now on; issued consent tokens are dropped.
    fn replace_scenario(&self, scenario: Scenario) {
        let scenario = on_day(scenario, self.config.today);
        *self.scenario.write().expect("scenario lock") = Arc::new(scenario);
        self.tokens.lock().expect("token lock").clear();
    }

    /// A built-in registry's name, or a registry the current scenario declares.
    fn resolve(&self, name: &str) -> Option<RegistryName> {
        let declared = || self.scenario().registries.iter().any(|r| r.id == name);
        (name.parse::<RegistryId>().is_ok() || declared()).then(|| name.into())
    }

    /// One line for a registry name [`Shared::resolve`] does not know.
    fn unknown_registry(&self, name: &str) -> String {
        let declared: Vec<String> = self
            .scenario()
            .registries
            .iter()
            .map(|r| r.id.clone())
            .collect();
        let declared = if declared.is_empty() {
            "none".to_string()
        } else {
            declared.join(", ")
        };
        format!("unknown registry {name:?} (declared by the scenario: {declared})")
    }
}

/// `scenario` put on `today`, or as written without a day.
fn on_day(scenario: Scenario, today: Option<time::Date>) -> Scenario {
    match today {
        Some(today) => scenario.on(today),
        None => scenario,
    }
}

/// A running set of mocks. Dropping it shuts the server down.
#[derive(Debug)]
pub struct RegistryMocks {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
}

/// Starts the mocks; must be called inside a tokio runtime.
pub fn start(scenario: Scenario, config: MockConfig) -> anyhow::Result<RegistryMocks> {
    let handle = tokio::runtime::Handle::try_current()
        .context("kezek_mocks::registry::start needs a tokio runtime")?;
    let std_listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("cannot bind mock registries to {}", config.listen))?;
    std_listener
        .set_nonblocking(true)
        .context("cannot make the mock listener non-blocking")?;
    let addr = std_listener.local_addr().context("listener address")?;
    let _guard = handle.enter();
    let listener = tokio::net::TcpListener::from_std(std_listener)
        .context("cannot register the mock listener with tokio")?;
    let shared = Arc::new(Shared {
        scenario: RwLock::new(Arc::new(on_day(scenario, config.today))),
        faults: Mutex::new(HashMap::new()),
        log: Mutex::new(HashMap::new()),
        tokens: Mutex::new(HashMap::new()),
        config,
    });
    let (shutdown, rx) = watch::channel(false);
    handle.spawn(accept_loop(listener, shared.clone(), rx));
    tracing::info!(%addr, "mock registries listening");
    Ok(RegistryMocks {
        addr,
        shared,
        shutdown,
    })
}

impl RegistryMocks {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Full URL of a registry's endpoint (for the gateway: the shared `/bip-sync/` path).
    pub fn url(&self, registry: RegistryId) -> String {
        format!("http://{}{}", self.addr, registry.base_path())
    }

    /// Admin base URL.
    pub fn admin_url(&self) -> String {
        format!("http://{}/__admin", self.addr)
    }

    /// Full URL of a registry the current scenario declares (`None` if it declares none by
    /// that id): `/bip-sync/` for the egov-soap family, `/{id}/soap` for SOAP and
    /// `/{id}/v1/{service-id}` for REST.
    pub fn declared_url(&self, id: &str) -> Option<String> {
        let scenario = self.shared.scenario();
        let r = scenario.registries.iter().find(|r| r.id == id)?;
        Some(format!("http://{}{}", self.addr, declared::path(r)))
    }

    /// Makes a registry misbehave: a built-in [`RegistryId`] or a declared registry's id.
    pub fn set_fault(&self, registry: impl Into<RegistryName>, fault: Fault) {
        self.shared
            .faults
            .lock()
            .expect("fault lock")
            .insert(registry.into(), fault);
    }

    pub fn clear_faults(&self) {
        self.shared.faults.lock().expect("fault lock").clear();
    }

    /// Requests the registry received, oldest first.
    pub fn requests(&self, registry: impl Into<RegistryName>) -> Vec<RecordedRequest> {
        self.shared
            .log
            .lock()
            .expect("log lock")
            .get(&registry.into())
            .cloned()
            .unwrap_or_default()
    }

    pub fn call_count(&self, registry: impl Into<RegistryName>) -> usize {
        self.shared
            .log
            .lock()
            .expect("log lock")
            .get(&registry.into())
            .map_or(0, Vec::len)
    }

    /// Forgets recorded requests.
    pub fn clear_requests(&self) {
        self.shared.log.lock().expect("log lock").clear();
    }

    /// Replaces the data all registries answer from, put on `MockConfig::today` when that is
    /// set; issued consent tokens are dropped.
    pub fn load_scenario(&self, scenario: Scenario) {
        self.shared.replace_scenario(scenario);
    }

    /// Stops accepting and closes open connections.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for RegistryMocks {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let shared = shared.clone();
                let mut stop = stop.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { handle(shared, req).await }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        res = conn => {
                            if let Err(e) = res {
                                tracing::debug!(error = %e, "mock connection ended with an error");
                            }
                        }
                        _ = stop.changed() => {}
                    }
                });
            }
        }
    }
}

pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

/// An answer given before routing completes (client errors); boxed to keep `Result` small.
pub(crate) type Early = Box<Response<Body>>;

/// Returned by the service to make hyper drop the connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("connection reset by fault injection")]
struct ResetConnection;

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

pub(crate) fn response(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(full(body))
        .expect("static response parts are valid")
}

/// The `soap:Client` Fault (HTTP 500) with which SOAP peers refuse a malformed request.
pub(crate) fn client_fault(msg: &str) -> Early {
    Box::new(response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/xml; charset=utf-8",
        crate::soap::write_fault("soap:Client", msg, None),
    ))
}

/// The operation element of a direct SOAP 1.1 call (ЕСБД, declared `soap` registries): a
/// malformed envelope or another operation is refused with a `soap:Client` Fault.
pub(crate) fn soap_operation(body: &str, operation: &str) -> Result<crate::xml::Node, Early> {
    let root = crate::xml::parse(body).map_err(|e| client_fault(&e.to_string()))?;
    let op = crate::soap::body_payload(&root).map_err(|e| client_fault(&e.to_string()))?;
    if op.name != operation {
        return Err(client_fault(&format!("Unknown operation {:?}", op.name)));
    }
    Ok(op.clone())
}

fn json_response(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).expect("serialising mock JSON cannot fail");
    response(status, "application/json", body)
}

/// A registry's normal answer before faults are applied.
pub(crate) struct Routed {
    pub registry: RegistryName,
    /// Decides how a fault looks on the wire.
    pub family: Family,
    pub record: RecordedRequest,
    pub answer: Answer,
}

/// The normal answer, kept abstract so faults can re-render it (e.g. wrong correlation id).
pub(crate) enum Answer {
    /// Gateway envelope answer.
    Gateway(gateway::GatewayAnswer),
    /// Any other body, with the correlation id echoed in `X-Correlation-Id` if the request
    /// carried one.
    Plain {
        status: StatusCode,
        content_type: &'static str,
        body: String,
        correlation_id: Option<String>,
    },
    /// Already final (e.g. authentication failure): faults are not applied.
    Final(Response<Body>),
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, ResetConnection> {
    let (parts, body) = req.into_parts();
    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            return Ok(response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain",
                "request body too large or broken",
            ));
        }
    };
    let body = String::from_utf8_lossy(&bytes).into_owned();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let correlation = parts
        .headers
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);

    if let Some(rest) = path.strip_prefix("/__admin") {
        return Ok(admin(&shared, &parts.method, rest, &body));
    }
    let routed = match (&parts.method, path.as_str()) {
        (&Method::POST, "/bip-sync" | "/bip-sync/") => gateway::handle(&shared, &path, &body),
        (&Method::POST, "/esbd/soap") => esbd::handle(&shared, &path, &body, correlation),
        (&Method::POST, "/consent/v1/tokens") => rest::consent(&shared, &path, &body, correlation),
        (&Method::GET, p) if p.starts_with("/toll/v1/") => rest::toll(&shared, &path, correlation),
        (&Method::GET, p) if p.starts_with("/its/v1/") => {
            rest::its(&shared, &path, &query, correlation)
        }
        (method, path) => match declared::handle(&shared, method, path, &body, correlation) {
            Some(routed) => routed,
            None => {
                return Ok(response(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    "no mock registry at this path",
                ));
            }
        },
    };
    let routed = match routed {
        Ok(r) => r,
        Err(resp) => return Ok(*resp),
    };
    apply_faults(&shared, routed).await
}

/// Records the request, then answers normally or misbehaves as configured.
async fn apply_faults(shared: &Shared, routed: Routed) -> Result<Response<Body>, ResetConnection> {
    let Routed {
        registry,
        family,
        record,
        answer,
    } = routed;
    tracing::debug!(registry = %registry, service = ?record.service_id, "mock request");
    if shared.config.record_requests {
        shared
            .log
            .lock()
            .expect("log lock")
            .entry(registry.clone())
            .or_default()
            .push(record);
    }
    if let Answer::Final(resp) = answer {
        return Ok(resp);
    }
    let fault = shared
        .faults
        .lock()
        .expect("fault lock")
        .get(&registry)
        .copied()
        .unwrap_or_default();
    if fault.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(fault.latency_ms)).await;
    }
    let resp = match fault.mode {
        None => render(answer, false),
        Some(FaultMode::ConnectionReset) => return Err(ResetConnection),
        Some(FaultMode::Http500) => response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "Internal Server Error",
        ),
        Some(FaultMode::SoapFault) => match family {
            Family::Gateway | Family::Soap => response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/xml; charset=utf-8",
                crate::soap::write_fault("soap:Server", "SCE909: processing error", Some("SCE909")),
            ),
            Family::Json => json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &serde_json::json!({"error": "internal-error"}),
            ),
        },
        Some(FaultMode::Sce004) => match (family, answer) {
            (Family::Gateway, Answer::Gateway(a)) => {
                render(Answer::Gateway(a.unavailable()), false)
            }
            (Family::Soap, _) => response(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/xml; charset=utf-8",
                crate::soap::write_fault("soap:Server", "Service unavailable", Some("SCE004")),
            ),
            _ => json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"error": "service-unavailable"}),
            ),
        },
        Some(FaultMode::MalformedXml) => match family {
            Family::Json => response(StatusCode::OK, "application/json", "{\"found\": tru"),
            _ => response(
                StatusCode::OK,
                "text/xml; charset=utf-8",
                "<?xml version=\"1.0\"?><soap:Envelope xmlns:soap=\"x\"><soap:Body><Response><unclosed>",
            ),
        },
        Some(FaultMode::TruncatedBody) => truncated(render(answer, false)).await,
        Some(FaultMode::WrongCorrelationId) => render(answer, true),
    };
    Ok(resp)
}

fn render(answer: Answer, wrong_correlation: bool) -> Response<Body> {
    match answer {
        Answer::Gateway(a) => response(
            StatusCode::OK,
            "text/xml; charset=utf-8",
            a.render(wrong_correlation),
        ),
        Answer::Plain {
            status,
            content_type,
            body,
            correlation_id,
        } => {
            let mut resp = response(status, content_type, body);
            let echoed = if wrong_correlation {
                Some(uuid::Uuid::new_v4().to_string())
            } else {
                correlation_id
            };
            if let Some(id) = echoed.and_then(|id| id.parse().ok()) {
                resp.headers_mut().insert("x-correlation-id", id);
            }
            resp
        }
        Answer::Final(resp) => resp,
    }
}

/// Promises the full length, sends half, then fails the body so hyper closes the socket.
async fn truncated(resp: Response<Body>) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let promised = bytes.len() + 512;
    let sent = bytes.slice(..bytes.len() / 2);
    parts.headers.insert("content-length", promised.into());
    Response::from_parts(parts, BoxBody::new(TruncatedBody::new(sent)))
}

/// Yields one data frame, lets hyper flush it, then fails so hyper closes the socket.
struct TruncatedBody {
    first: Option<Bytes>,
    pause: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl TruncatedBody {
    fn new(first: Bytes) -> Self {
        Self {
            first: Some(first),
            // hyper flushes the head and the first frame while the body is pending.
            pause: Box::pin(tokio::time::sleep(Duration::from_millis(50))),
        }
    }
}

impl hyper::body::Body for TruncatedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        if let Some(b) = self.first.take() {
            return std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(b))));
        }
        std::task::ready!(self.pause.as_mut().poll(cx));
        std::task::Poll::Ready(Some(Err(std::io::Error::other(
            "body truncated by fault injection",
        ))))
    }
}

/// `/__admin/...`: faults, recorded requests, scenario replacement, named examples.
fn admin(shared: &Shared, method: &Method, rest: &str, body: &str) -> Response<Body> {
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let no_content = || response(StatusCode::NO_CONTENT, "text/plain", "");
    let bad = |msg: String| response(StatusCode::BAD_REQUEST, "text/plain", msg);
    match (method, segments.as_slice()) {
        (&Method::GET, ["health"]) => response(StatusCode::OK, "text/plain", "ok"),
        (&Method::GET, ["faults"]) => {
            let faults: BTreeMap<String, Fault> = shared
                .faults
                .lock()
                .expect("fault lock")
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect();
            json_response(StatusCode::OK, &faults)
        }
        (&Method::PUT, ["faults", name]) => {
            let Some(registry) = shared.resolve(name) else {
                return bad(shared.unknown_registry(name));
            };
            match serde_json::from_str::<Fault>(body) {
                Ok(f) => {
                    shared
                        .faults
                        .lock()
                        .expect("fault lock")
                        .insert(registry, f);
                    no_content()
                }
                Err(e) => bad(format!("invalid fault: {e}")),
            }
        }
        (&Method::DELETE, ["faults"]) => {
            shared.faults.lock().expect("fault lock").clear();
            no_content()
        }
        (&Method::DELETE, ["faults", name]) => match shared.resolve(name) {
            Some(r) => {
                shared.faults.lock().expect("fault lock").remove(&r);
                no_content()
            }
            None => bad(shared.unknown_registry(name)),
        },
        (&Method::GET, ["requests", name]) => match shared.resolve(name) {
            Some(r) => {
                let log = shared.log.lock().expect("log lock");
                json_response(StatusCode::OK, &log.get(&r).cloned().unwrap_or_default())
            }
            None => bad(shared.unknown_registry(name)),
        },
        (&Method::DELETE, ["requests"]) => {
            shared.log.lock().expect("log lock").clear();
            no_content()
        }
        (&Method::POST, ["scenario"]) => match Scenario::from_json_str(body, "admin upload") {
            Ok(s) => {
                shared.replace_scenario(s);
                no_content()
            }
            Err(e) => bad(e.to_string()),
        },
        (&Method::GET, ["examples"]) => json_response(StatusCode::OK, &shared.scenario().examples),
        (&Method::GET, ["examples", name]) => {
            let scenario = shared.scenario();
            match scenario.example(name) {
                Some(persona) => json_response(StatusCode::OK, &persona.request),
                None => response(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    scenario.unknown_example(name),
                ),
            }
        }
        _ => response(
            StatusCode::NOT_FOUND,
            "text/plain",
            "unknown admin endpoint",
        ),
    }
}

/// Flattens a business XML request into key fields for `RecordedRequest::keys`.
pub(crate) fn keys_of(node: &crate::xml::Node) -> BTreeMap<String, String> {
    let mut keys = BTreeMap::new();
    for c in &node.children {
        if c.children.is_empty() {
            keys.insert(c.name.clone(), c.text.trim().to_string());
        } else {
            for g in &c.children {
                let k = format!("{}/{}", c.name, g.name);
                let v = g.text.trim();
                keys.entry(k)
                    .and_modify(|e: &mut String| {
                        e.push(',');
                        e.push_str(v);
                    })
                    .or_insert_with(|| v.to_string());
            }
        }
    }
    keys
}

/// ISO 8601 UTC timestamp for envelope dates.
pub(crate) fn now_iso() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Plates and VINs are compared in their identifier form, as everywhere in Kezek.
pub(crate) use kezek_domain::plate::normalise as norm;
