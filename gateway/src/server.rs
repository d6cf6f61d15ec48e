//! The gateway process: builds the host and the catalogue from the config and serves the
//! HTTP API. Testable by construction: `run(listener, gateway, shutdown)`.

use crate::adapters::Catalogue;
use crate::config::Config;
use crate::egress::Egress;
use crate::host::{AdapterHost, HostSettings};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Everything a request needs, built once per process.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub host: Arc<AdapterHost>,
    pub catalogue: Arc<Catalogue>,
    /// The booking engine (issue 5); `None` when `booking.enabled = false`.
    pub booking: Option<Arc<crate::booking::BookingEngine>>,
    admin_token: Option<String>,
}

impl Gateway {
    /// Builds the engine, the egress and the catalogue, and loads the adapters directory.
    /// Refused packages are logged; the gateway starts with what loaded.
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        let egress = Arc::new(Egress::new(&config.egress)?);
        let host = Arc::new(AdapterHost::new(HostSettings::from_config(config), egress)?);
        let catalogue = Arc::new(Catalogue::new(host.clone(), &config.adapters)?);
        let report = catalogue.reload().await?;
        tracing::info!(%report, "adapters loaded");
        let admin_token = config
            .api
            .admin_token
            .as_ref()
            .map(|s| s.resolve())
            .transpose()?;
        let booking = crate::booking::start(config).await?;
        Ok(Self {
            host,
            catalogue,
            booking,
            admin_token,
        })
    }
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn run(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let loopback_only = listener.local_addr()?.ip().is_loopback();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                let gateway = gateway.clone();
                let service = hyper::service::service_fn(move |req| {
                    let gateway = gateway.clone();
                    async move { Ok::<_, std::convert::Infallible>(route(&gateway, req, loopback_only).await) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    graceful.shutdown().await;
    Ok(())
}

type Body = Full<Bytes>;

/// Largest request body the API reads.
const MAX_BODY: usize = 256 * 1024;

async fn route(gateway: &Gateway, req: Request<Incoming>, loopback_only: bool) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    if path.starts_with("/admin/") && !admin_allowed(gateway, &req, loopback_only) {
        return problem(
            StatusCode::UNAUTHORIZED,
            "admin endpoints need the admin bearer token",
            None,
        );
    }
    if let Some(engine) = gateway.booking.as_ref()
        && crate::booking::api::is_booking_route(&path)
    {
        return crate::booking::api::serve(engine, req).await;
    }
    match (&method, path.as_str()) {
        (&Method::GET, "/healthz") => json(StatusCode::OK, &serde_json::json!({ "status": "ok" })),
        (&Method::GET, "/readyz") => {
            let set = gateway.catalogue.snapshot();
            if set.adapters.is_empty() {
                problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no adapters are loaded",
                    None,
                )
            } else {
                json(
                    StatusCode::OK,
                    &serde_json::json!({ "status": "ready", "generation": set.generation }),
                )
            }
        }
        (&Method::GET, "/admin/adapters") => json(StatusCode::OK, &adapter_list(gateway)),
        (&Method::POST, "/admin/adapters/reload") => match gateway.catalogue.reload().await {
            Ok(report) => json(StatusCode::OK, &report),
            Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), None),
        },
        (&Method::POST, "/admin/adapters/rollback") => match gateway.catalogue.rollback().await {
            Ok(report) => json(StatusCode::OK, &report),
            Err(e) => problem(StatusCode::CONFLICT, &e.to_string(), None),
        },
        _ => {
            let _ = read_body(req).await;
            problem(
                StatusCode::NOT_FOUND,
                &format!("no route for {method} {path}"),
                None,
            )
        }
    }
}

fn admin_allowed(gateway: &Gateway, req: &Request<Incoming>, loopback_only: bool) -> bool {
    match &gateway.admin_token {
        Some(token) => req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes())),
        None => loopback_only,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The adapters serving now, as `kezek adapters list` prints them.
pub fn adapter_list(gateway: &Gateway) -> serde_json::Value {
    let set = gateway.catalogue.snapshot();
    let adapters: Vec<_> = set
        .adapters
        .values()
        .map(|a| {
            serde_json::json!({
                "id": a.descriptor.id,
                "version": a.descriptor.version,
                "registry": a.descriptor.registry,
                "checks": a.descriptor.checks.iter().map(|c| c.number()).collect::<Vec<_>>(),
                "reads": a.descriptor.reads,
                "component_sha256": a.component_sha256,
                "manifest": a.manifest,
            })
        })
        .collect();
    serde_json::json!({ "generation": set.generation, "adapters": adapters })
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, StatusCode> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(StatusCode::PAYLOAD_TOO_LARGE),
    }
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

/// An RFC 9457 problem document.
fn problem(status: StatusCode, detail: &str, pointer: Option<&str>) -> Response<Body> {
    let mut doc = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    if let Some(pointer) = pointer {
        doc["pointer"] = pointer.into();
    }
    let mut response = json(status, &doc);
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/problem+json"),
    );
    response
}
