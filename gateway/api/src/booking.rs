//! The booking HTTP API. JSON is kebab-case (ADR 0003); bodies are validated against
//! `schemas/booking-*.schema.json`; errors are RFC 9457 problem documents, and every rule
//! violation carries `"rule"` (e.g. `"P21"`) and, when a field is to blame, its JSON pointer.
//!
//! ```text
//! GET  /checkpoints                                   the catalogue
//! GET  /checkpoints/{code}/availability?from=&days=   free capacity
//! POST /bookings                  (Idempotency-Key)   verify, hold, confirm when paid
//! GET  /bookings/{id}
//! POST /bookings/{id}/payment | /reschedule | /cancel | /drivers
//! POST /admin/checkpoints/{code}/days/{date}/capacity         D13
//! POST /admin/accounts/{id}/debt                               P27
//! POST /admin/priority-lists/{category}                        P6.1, P6.2
//! POST /admin/bookings/{id}/no-show | /arrived                 P35, P30
//! ```

use super::{json_response, problem_with};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{HeaderMap, Method, Response, StatusCode};
use kezek_booking::engine::{BookingEngine, CreateRequest, Payment, RescheduleRequest};
use kezek_booking::rules::{BookingError, PriorityCategory};
use kezek_domain::Driver;
use kezek_schema::{self as schemas, Schema};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

type Reply = Response<Full<Bytes>>;

/// Whether `path` is served here (so the server reads the body and calls [`handle`]).
pub fn is_booking_route(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    path == "/bookings"
        || path.starts_with("/bookings/")
        || path == "/checkpoints"
        || path.starts_with("/checkpoints/")
        || path.starts_with("/admin/checkpoints/")
        || path.starts_with("/admin/accounts/")
        || path.starts_with("/admin/priority-lists/")
        || path.starts_with("/admin/bookings/")
}

/// Serves a booking route straight from hyper (reads the body, then [`handle`]).
pub async fn serve(engine: &BookingEngine, req: hyper::Request<hyper::body::Incoming>) -> Reply {
    let method = req.method().clone();
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.to_string());
    let headers = req.headers().clone();
    let body = match super::read_body(req).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    match handle(engine, &method, &target, body, &headers).await {
        Some(reply) => reply,
        None => problem_with(
            StatusCode::NOT_FOUND,
            json!({"detail": format!("no route for {method} {target}")}),
        ),
    }
}

/// Serves one booking request; `None` when the route is not a booking route. `path` may
/// carry the query string. Admin authorisation is the server's, before this is called.
pub async fn handle(
    engine: &BookingEngine,
    method: &Method,
    path: &str,
    body: Bytes,
    headers: &HeaderMap,
) -> Option<Reply> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    if !is_booking_route(path) {
        return None;
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let result = match (method, segments.as_slice()) {
        (&Method::GET, ["checkpoints"]) => Ok(json_response(
            StatusCode::OK,
            &json!({
                "version": engine.catalogue().version,
                "checkpoints": engine.catalogue().checkpoints.values().collect::<Vec<_>>(),
            }),
        )),
        (&Method::GET, ["checkpoints", code]) => match engine.catalogue().get(code) {
            Some(cp) => Ok(json_response(StatusCode::OK, cp)),
            None => Err(BookingError::NotFound(code.to_string())),
        },
        (&Method::GET, ["checkpoints", code, "availability"]) => {
            let from = query_param(query, "from");
            let days = query_param(query, "days")
                .and_then(|d| d.parse().ok())
                .unwrap_or(7);
            engine
                .availability(code, from.as_deref(), days)
                .await
                .map(|a| json_response(StatusCode::OK, &json!({"checkpoint": code, "days": a})))
        }
        (&Method::POST, ["bookings"]) => match parse::<CreateRequest>(Schema::BookingCreate, &body)
        {
            Ok(req) => {
                let key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                engine.create(req, key).await.map(|c| {
                    let status = if c.replayed {
                        StatusCode::OK
                    } else {
                        StatusCode::CREATED
                    };
                    json_response(status, &c.booking)
                })
            }
            Err(r) => return Some(r),
        },
        (&Method::GET, ["bookings", id]) => engine
            .get(id)
            .await
            .map(|b| json_response(StatusCode::OK, &b)),
        (&Method::POST, ["bookings", id, "payment"]) => {
            match parse::<Value>(Schema::BookingPayment, &body) {
                Ok(v) => {
                    let payment = Payment {
                        reference: v["reference"].as_str().unwrap_or_default().to_owned(),
                        amount_kzt: v["amount-kzt"].as_i64().unwrap_or_default(),
                    };
                    engine
                        .pay(id, v["account"].as_str().unwrap_or_default(), payment)
                        .await
                        .map(|b| json_response(StatusCode::OK, &b))
                }
                Err(r) => return Some(r),
            }
        }
        (&Method::POST, ["bookings", id, "reschedule"]) => {
            if let Some(r) = transfer_attempt(&body) {
                return Some(r);
            }
            match parse::<RescheduleRequest>(Schema::BookingReschedule, &body) {
                Ok(req) => engine
                    .reschedule(id, req)
                    .await
                    .map(|b| json_response(StatusCode::OK, &b)),
                Err(r) => return Some(r),
            }
        }
        (&Method::POST, ["bookings", id, "cancel"]) => {
            match parse::<Value>(Schema::BookingCancel, &body) {
                Ok(v) => engine
                    .cancel(id, v["account"].as_str().unwrap_or_default())
                    .await
                    .map(|b| json_response(StatusCode::OK, &b)),
                Err(r) => return Some(r),
            }
        }
        (&Method::POST, ["bookings", id, "drivers"]) => {
            if let Some(r) = transfer_attempt(&body) {
                return Some(r);
            }
            match parse::<Value>(Schema::BookingDrivers, &body) {
                Ok(v) => match serde_json::from_value::<Vec<Driver>>(v["drivers"].clone()) {
                    Ok(drivers) => engine
                        .add_drivers(id, v["account"].as_str().unwrap_or_default(), drivers)
                        .await
                        .map(|b| json_response(StatusCode::OK, &b)),
                    Err(e) => Err(BookingError::at("P16", 422, "/drivers", e.to_string())),
                },
                Err(r) => return Some(r),
            }
        }
        (&Method::POST, ["admin", "checkpoints", code, "days", date, "capacity"]) => {
            match parse::<Value>(Schema::BookingCapacity, &body) {
                Ok(v) => {
                    let closed = v.get("closed-hours").map(|c| {
                        (
                            c["from"].as_u64().unwrap_or(0) as u8,
                            c["to"].as_u64().unwrap_or(0) as u8,
                        )
                    });
                    engine
                        .change_capacity(
                            code,
                            date,
                            v["capacity"].as_i64().unwrap_or(0),
                            closed,
                            v["reason"].as_str().unwrap_or_default(),
                        )
                        .await
                        .map(|r| json_response(StatusCode::OK, &r))
                }
                Err(r) => return Some(r),
            }
        }
        (&Method::POST, ["admin", "accounts", account, "debt"]) => {
            match parse::<Value>(Schema::BookingAccount, &body) {
                Ok(v) => {
                    let debt = v["debt-kzt"].as_i64().unwrap_or(0);
                    engine.set_debt(account, debt).await.map(|()| {
                        json_response(
                            StatusCode::OK,
                            &json!({"account": account, "debt-kzt": debt, "blocked": debt > 0}),
                        )
                    })
                }
                Err(r) => return Some(r),
            }
        }
        (&Method::POST, ["admin", "priority-lists", category]) => {
            match (
                PriorityCategory::parse(category).filter(|c| c.needs_list()),
                parse::<Value>(Schema::BookingPriorityList, &body),
            ) {
                (_, Err(r)) => return Some(r),
                (None, _) => Err(BookingError::rule(
                    "P6",
                    404,
                    "only postal-operator and aeo have vehicle lists (P6.1, P6.2)",
                )),
                (Some(c), Ok(v)) => {
                    let plates = v["plates"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p.as_str())
                        .map(|p| match p.split_once(':') {
                            Some((country, plate)) => (country.to_owned(), plate.to_owned()),
                            None => ("KZ".to_owned(), p.to_owned()),
                        })
                        .collect();
                    engine.set_priority_list(c, plates).await.map(|n| {
                        json_response(
                            StatusCode::OK,
                            &json!({"category": category, "vehicles": n}),
                        )
                    })
                }
            }
        }
        (&Method::POST, ["admin", "bookings", id, "no-show"]) => engine
            .no_show(id)
            .await
            .map(|b| json_response(StatusCode::OK, &b)),
        (&Method::POST, ["admin", "bookings", id, "arrived"]) => engine
            .arrived(id)
            .await
            .map(|b| json_response(StatusCode::OK, &b)),
        _ => Ok(problem_with(
            StatusCode::NOT_FOUND,
            json!({"detail": format!("no route for {method} {path}")}),
        )),
    };
    Some(result.unwrap_or_else(error_reply))
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// P36: a body that tries to change the owner, the vehicle or the checkpoint is a transfer.
fn transfer_attempt(body: &Bytes) -> Option<Reply> {
    let v: Value = serde_json::from_slice(body).ok()?;
    for field in [
        "owner",
        "vehicle",
        "checkpoint",
        "new-account",
        "transfer-to",
        "trailer",
    ] {
        if v.get(field).is_some() {
            return Some(problem_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({
                    "detail": "the owner, vehicle and checkpoint of a booking cannot be changed or transferred",
                    "rule": "P36",
                    "pointer": format!("/{field}"),
                }),
            ));
        }
    }
    None
}

#[allow(clippy::result_large_err)]
fn parse<T: DeserializeOwned>(schema: Schema, body: &Bytes) -> Result<T, Reply> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        problem_with(
            StatusCode::BAD_REQUEST,
            json!({"detail": format!("the body is not JSON: {e}")}),
        )
    })?;
    let violations = schemas::violations(schema, &value);
    if !violations.is_empty() {
        return Err(problem_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({
                "detail": violations[0].to_string(),
                "pointer": violations[0].pointer,
                "errors": violations,
            }),
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        problem_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail": e.to_string()}),
        )
    })
}

fn error_reply(e: BookingError) -> Reply {
    match e {
        BookingError::Rule {
            rule,
            status,
            detail,
            pointer,
        } => {
            let mut doc = json!({"detail": detail, "rule": rule});
            if let Some(p) = pointer {
                doc["pointer"] = p.into();
            }
            problem_with(
                StatusCode::from_u16(status).unwrap_or(StatusCode::CONFLICT),
                doc,
            )
        }
        BookingError::Refused(v) => {
            let reasons: Vec<Value> = v
                .reasons
                .iter()
                .map(|r| {
                    json!({
                        "rule": r.rule_id,
                        "registry": r.registry,
                        "reason-code": r.reason_code,
                        "message": r.message,
                    })
                })
                .collect();
            problem_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({
                    "detail": "booking refused: the application was not confirmed by the state information systems; book again once the causes are removed",
                    "rule": "P20",
                    "verification-id": v.id,
                    "reasons": reasons,
                }),
            )
        }
        BookingError::Indeterminate {
            detail,
            retry_after_s,
        } => {
            let mut r = problem_with(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"detail": format!("no booking: the verification could not decide ({detail}); unknown is never yes"),
                       "rule": "P20", "retry-after-s": retry_after_s}),
            );
            if let Some(s) = retry_after_s
                && let Ok(h) = hyper::header::HeaderValue::from_str(&s.to_string())
            {
                r.headers_mut().insert(hyper::header::RETRY_AFTER, h);
            }
            r
        }
        BookingError::NotFound(what) => problem_with(
            StatusCode::NOT_FOUND,
            json!({"detail": format!("no such booking or checkpoint: {what}")}),
        ),
        BookingError::Store(e) => {
            tracing::error!(error = %e, "booking store error");
            problem_with(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"detail": "the booking store is unavailable; nothing was booked"}),
            )
        }
    }
}
