//! The HTTP API: the only crate that knows HTTP serving and JSON bodies. Everything below it
//! takes typed values.
//!
//! Architecture invariant: this is the only crate that depends on the HTTP server stack
//! (`tests/e2e/layout.rs`); it holds no business rule of its own — it parses, validates
//! against `schemas/`, calls the pipeline or the booking engine, and renders the answer.
//!
//! Public routes: `POST /v1/verifications`, `GET /v1/verifications/{id}`, `/healthz`,
//! `/readyz`, and the booking routes ([`booking`]). Admin routes (the admin listener):
//! `/admin/adapters[/reload|/rollback]`, `/metrics`, the booking operator routes. One body
//! limit ([`MAX_BODY`]) and one problem document ([`problem`]) for all: errors are RFC 9457
//! documents naming the bad field by JSON pointer.

pub mod booking;
pub mod config;
mod reply;
mod serve;

pub use reply::{json_response, problem, problem_with};
pub use serve::{Listeners, serve};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use kezek_booking::BookingEngine;
use kezek_catalogue::Catalogue;
use kezek_domain::clock::{Undatable, parse_date};
use kezek_domain::{Application, Decision};
use kezek_pipeline::Pipeline;
use kezek_pipeline::VerifyError;
use kezek_pipeline::metrics::Metrics;
use kezek_schema::Schema;
use kezek_store::audit::AuditLog;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub type Body = Full<Bytes>;

/// Largest request body read; an application is a few kilobytes.
pub const MAX_BODY: usize = 64 * 1024;

/// What the routes reach, built once per process by the gateway's assembly
/// (`kezek::server::Gateway`).
#[derive(Debug, Clone)]
pub struct Services {
    pub catalogue: Arc<Catalogue>,
    pub pipeline: Arc<Pipeline>,
    pub metrics: Arc<Metrics>,
    /// Idempotency-Key → (SHA-256 of the body, verification id), for a day.
    pub idempotency: moka::sync::Cache<String, ([u8; 32], String)>,
    pub admin_token: Option<String>,
    pub audit: AuditLog,
    /// The booking engine; `None` when `booking.enabled = false`.
    pub booking: Option<Arc<BookingEngine>>,
}

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Public,
    Admin,
}

pub async fn route(gateway: &Services, surface: Surface, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    if let Some(engine) = gateway.booking.as_ref()
        && booking::is_booking_route(&path)
    {
        // Booking's operator routes live on the admin listener, the rest on the public one.
        let admin_route = path.starts_with("/admin/");
        return match (surface, admin_route) {
            (Surface::Admin, true) if !admin_allowed(gateway, &req) => problem(
                StatusCode::UNAUTHORIZED,
                "admin endpoints need the admin bearer token",
                vec![],
            ),
            (Surface::Admin, true) | (Surface::Public, false) => booking::serve(engine, req).await,
            _ => problem(
                StatusCode::NOT_FOUND,
                &format!("no route for {method} {path}"),
                vec![],
            ),
        };
    }
    match (surface, &method, path.as_str()) {
        (_, &Method::GET, "/healthz") => json_response(StatusCode::OK, &json!({ "status": "ok" })),
        (_, &Method::GET, "/readyz") => readiness(gateway),
        (Surface::Public, &Method::POST, "/v1/verifications") => {
            create_verification(gateway, req).await
        }
        (Surface::Public, &Method::GET, p) if p.starts_with("/v1/verifications/") => {
            let id = &p["/v1/verifications/".len()..];
            match gateway.pipeline.get(id) {
                Some(v) => json_response(StatusCode::OK, &*v),
                None => problem(
                    StatusCode::NOT_FOUND,
                    "no verification with this id",
                    vec![],
                ),
            }
        }
        (Surface::Admin, _, p) if p.starts_with("/admin/") && !admin_allowed(gateway, &req) => {
            problem(
                StatusCode::UNAUTHORIZED,
                "admin endpoints need the admin bearer token",
                vec![],
            )
        }
        (Surface::Admin, &Method::GET, "/admin/adapters") => {
            json_response(StatusCode::OK, &adapter_list(gateway))
        }
        (Surface::Admin, &Method::POST, "/admin/adapters/reload") => {
            match gateway.catalogue.reload().await {
                Ok(report) => json_response(StatusCode::OK, &report),
                Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), vec![]),
            }
        }
        (Surface::Admin, &Method::POST, "/admin/adapters/rollback") => {
            match gateway.catalogue.rollback().await {
                Ok(report) => json_response(StatusCode::OK, &report),
                Err(e) => problem(StatusCode::CONFLICT, &e.to_string(), vec![]),
            }
        }
        (Surface::Admin, &Method::GET, "/metrics") => metrics(gateway),
        _ => problem(
            StatusCode::NOT_FOUND,
            &format!("no route for {method} {path}"),
            vec![],
        ),
    }
}

fn readiness(gateway: &Services) -> Response<Body> {
    let set = gateway.catalogue.snapshot();
    let today = gateway.pipeline.calendar().national_today().to_string();
    let mut missing = Vec::new();
    if set.adapters.is_empty() {
        missing.push("no adapters are loaded");
    }
    if set.rules.in_effect(&today).is_none() {
        missing.push("no rule set is in effect");
    }
    if missing.is_empty() {
        json_response(
            StatusCode::OK,
            &json!({ "status": "ready", "generation": set.generation }),
        )
    } else {
        problem(StatusCode::SERVICE_UNAVAILABLE, &missing.join("; "), vec![])
    }
}

async fn create_verification(gateway: &Services, req: Request<Incoming>) -> Response<Body> {
    let idempotency_key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let application = match parse_application(&body) {
        Ok(app) => app,
        Err(response) => return *response,
    };
    let body_hash: [u8; 32] = Sha256::digest(&body).into();
    if let Some(key) = &idempotency_key
        && let Some((hash, id)) = gateway.idempotency.get(key)
    {
        if hash != body_hash {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "this Idempotency-Key was used with a different body",
                vec![],
            );
        }
        if let Some(v) = gateway.pipeline.get(&id) {
            let mut response = verification_response(&v);
            response
                .headers_mut()
                .insert("idempotent-replayed", "true".parse().expect("valid header"));
            return response;
        }
    }
    match gateway.pipeline.verify(application).await {
        Ok(v) => {
            if let Some(key) = idempotency_key {
                gateway.idempotency.insert(key, (body_hash, v.id.clone()));
            }
            verification_response(&v)
        }
        Err(VerifyError::Undatable(Undatable(problems))) => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the application cannot be verified today",
            problems
                .into_iter()
                .map(|p| (p.pointer, format!("{} ({})", p.detail, p.rule)))
                .collect(),
        ),
        Err(e @ VerifyError::NoRuleSet(_)) => {
            problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), vec![])
        }
        Err(e @ VerifyError::Overloaded { retry_after_s }) => {
            let mut response = problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), vec![]);
            response
                .headers_mut()
                .insert(hyper::header::RETRY_AFTER, retry_after_s.into());
            response
        }
    }
}

fn verification_response(v: &kezek_domain::Verification) -> Response<Body> {
    let mut response = json_response(StatusCode::OK, v);
    response.headers_mut().insert(
        "location",
        format!("/v1/verifications/{}", v.id)
            .parse()
            .expect("uuid is a valid header"),
    );
    if v.decision == Decision::Indeterminate
        && let Some(s) = v.retry_after_s
    {
        response.headers_mut().insert("retry-after", s.into());
    }
    response
}

/// JSON → schema → typed application → the checks a schema cannot express (IIN/BIN check
/// digits, real calendar dates). Whether the dates can be verified *today* is the
/// pipeline's to judge, on the checkpoint's calendar (`Calendar::check_dates`).
pub fn parse_application(body: &[u8]) -> Result<Application, Box<Response<Body>>> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Box::new(problem(
            StatusCode::BAD_REQUEST,
            &format!("the body is not valid JSON: {e}"),
            vec![],
        ))
    })?;
    let violations = kezek_schema::violations(Schema::Application, &value);
    if !violations.is_empty() {
        let errors = violations
            .into_iter()
            .map(|v| (v.pointer, v.message))
            .collect();
        return Err(Box::new(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the application does not match its schema",
            errors,
        )));
    }
    let app: Application = serde_json::from_value(value).map_err(|e| {
        Box::new(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("the application is not valid: {e}"),
            vec![],
        ))
    })?;
    let errors = semantic_errors(&app);
    if !errors.is_empty() {
        return Err(Box::new(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the application has invalid values",
            errors,
        )));
    }
    Ok(app)
}

fn semantic_errors(app: &Application) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let mut iin = |pointer: String, value: &Option<String>| {
        if let Some(v) = value
            && !iin_check_digit_ok(v)
        {
            errors.push((pointer, "the IIN/BIN check digit is wrong".to_owned()));
        }
    };
    iin("/owner/iin-bin".into(), &app.owner.iin_bin);
    for (i, d) in app.drivers.iter().enumerate() {
        iin(format!("/drivers/{i}/iin"), &d.iin);
    }
    let mut date = |pointer: String, value: &str| {
        if parse_date(value).is_none() {
            errors.push((pointer, format!("{value} is not a calendar date")));
        }
    };
    date("/travel-date".into(), &app.travel_date);
    for (i, d) in app.drivers.iter().enumerate() {
        date(format!("/drivers/{i}/birth-date"), &d.birth_date);
        date(
            format!("/drivers/{i}/document/expires"),
            &d.document.expires,
        );
    }
    errors
}

/// The check digit of a Kazakhstan IIN/BIN: weights 1..11 mod 11; if that gives 10, weights
/// 3..11,1,2 mod 11; 10 again means the number is never issued.
pub fn iin_check_digit_ok(iin: &str) -> bool {
    let digits: Vec<u32> = iin.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != 12 || iin.len() != 12 {
        return false;
    }
    let weighted = |weights: [u32; 11]| {
        digits[..11]
            .iter()
            .zip(weights)
            .map(|(d, w)| d * w)
            .sum::<u32>()
            % 11
    };
    let mut control = weighted([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    if control == 10 {
        control = weighted([3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]);
    }
    control != 10 && control == digits[11]
}

fn admin_allowed(gateway: &Services, req: &Request<Incoming>) -> bool {
    match &gateway.admin_token {
        Some(token) => req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes())),
        // Without a token the admin listener must be on loopback (checked at start-up).
        None => true,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The adapters serving now, as `kezek adapters list` prints them.
fn adapter_list(gateway: &Services) -> serde_json::Value {
    let set = gateway.catalogue.snapshot();
    let adapters: Vec<_> = set
        .adapters
        .values()
        .map(|a| {
            json!({
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
    let rules: Vec<_> = set
        .rules
        .sets()
        .iter()
        .map(|r| json!({ "id": r.id, "version": r.version, "effective-from": r.effective_from }))
        .collect();
    json!({ "generation": set.generation, "adapters": adapters, "rules": rules })
}

fn metrics(gateway: &Services) -> Response<Body> {
    let set = gateway.catalogue.snapshot();
    let cache = &gateway.pipeline.cache;
    use std::sync::atomic::Ordering::Relaxed;
    let text = gateway.metrics.render(&[
        (
            "kezek_cache_hits",
            "Finding cache hits (single-flight waiters included).",
            cache.hits.load(Relaxed) as f64,
        ),
        (
            "kezek_cache_misses",
            "Finding cache misses (adapter called).",
            cache.misses.load(Relaxed) as f64,
        ),
        (
            "kezek_cache_entries",
            "Findings cached now.",
            cache.entry_count() as f64,
        ),
        (
            "kezek_adapters_loaded",
            "Adapters in the current set.",
            set.adapters.len() as f64,
        ),
        (
            "kezek_adapter_set_generation",
            "Generation of the current adapter set.",
            set.generation as f64,
        ),
        (
            "kezek_audit_dropped",
            "Audit entries dropped because the audit queue was full.",
            gateway.audit.dropped() as f64,
        ),
    ]);
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/plain; version=0.0.4")
        .body(Full::new(Bytes::from(text)))
        .expect("static response parts are valid")
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, Response<Body>> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the body is larger than {MAX_BODY} bytes"),
                vec![],
            ))
        }
        Err(e) => Err(problem(
            StatusCode::BAD_REQUEST,
            &format!("reading the body: {e}"),
            vec![],
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iin_check_digits() {
        // Built from the algorithm by hand: 1*9+2*0+3*0+4*2+5*1+6*0+7*3+8*0+9*0+10*0+11*1 = 54 → 54 mod 11 = 10
        // → second weights: 3*9+4*0+5*0+6*2+7*1+8*0+9*3+10*0+11*0+1*0+2*1 = 75 → 75 mod 11 = 9.
        assert!(iin_check_digit_ok("900210300019"));
        assert!(!iin_check_digit_ok("900210300018"));
        assert!(!iin_check_digit_ok("90021030001"));
        assert!(!iin_check_digit_ok("90021030001X"));
    }
}
