//! Request bodies: read under the one limit ([`MAX_BODY`], a shared layer), parsed as JSON,
//! validated against their JSON Schema in `schemas/`, then typed. Every refusal is a
//! [`Problem`] naming the bad fields by JSON pointer.

use crate::MAX_BODY;
use crate::problem::Problem;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use http_body_util::BodyExt;
use kezek_schema::Schema;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A body type and the schema that judges it.
pub(crate) trait Checkable: DeserializeOwned + Send {
    const SCHEMA: Schema;
    /// What the body is, in problem details ("the application").
    const WHAT: &'static str = "the body";

    /// A refusal that must be named before the schema speaks (P36: a transfer attempt).
    fn refuse(_: &Value) -> Option<Problem> {
        None
    }

    /// What the schema cannot express (IIN check digits, calendar dates): pointer, detail.
    fn invalid_values(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// A body that passed its schema and its own checks; `raw` is the body as sent (for the
/// Idempotency-Key hash).
#[derive(Debug)]
pub(crate) struct Checked<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<S: Send + Sync, T: Checkable> FromRequest<S> for Checked<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, _: &S) -> Result<Self, Problem> {
        let raw = read(req).await?;
        let value: Value = serde_json::from_slice(&raw).map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                format!("the body is not valid JSON: {e}"),
            )
        })?;
        if let Some(problem) = T::refuse(&value) {
            return Err(problem);
        }
        let violations = kezek_schema::violations(T::SCHEMA, &value);
        if let Some(first) = violations.first() {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{} does not match its schema", T::WHAT),
            )
            .with("pointer", first.pointer.clone())
            .errors(violations.into_iter().map(|v| (v.pointer, v.message))));
        }
        let typed: T = serde_json::from_value(value).map_err(|e| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{} is not valid: {e}", T::WHAT),
            )
        })?;
        let invalid = typed.invalid_values();
        if !invalid.is_empty() {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{} has invalid values", T::WHAT),
            )
            .errors(invalid));
        }
        Ok(Self { value: typed, raw })
    }
}

/// The `Idempotency-Key` header, when the client sent one: a retried request gets the first
/// answer instead of a second verification or booking. Keys are kept for a day, so their
/// size is bounded: at most [`MAX_IDEMPOTENCY_KEY`] visible ASCII characters.
#[derive(Debug)]
pub(crate) struct IdempotencyKey(pub Option<String>);

/// Longest Idempotency-Key taken (a UUID is 36; issue 11 saw 100 KB keys kept for a day).
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        match value.to_str() {
            Ok(key)
                if !key.is_empty()
                    && key.len() <= MAX_IDEMPOTENCY_KEY
                    && key.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(Self(Some(key.to_owned())))
            }
            _ => Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "the Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
                ),
            )
            .with("header", "Idempotency-Key")),
        }
    }
}

/// The whole body; the shared layers bound its size and its read time.
async fn read(req: Request) -> Result<Bytes, Problem> {
    match req.into_body().collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if caused_by::<http_body_util::LengthLimitError>(&e) => {
            Err(Problem::new(StatusCode::PAYLOAD_TOO_LARGE, too_large()))
        }
        Err(e) if caused_by::<tower_http::timeout::TimeoutError>(&e) => Err(Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body was not received within {} s",
                crate::layers::BODY_READ_TIMEOUT.as_secs()
            ),
        )),
        Err(e) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            format!("reading the body: {e}"),
        )),
    }
}

pub(crate) fn too_large() -> String {
    format!("the body is larger than {MAX_BODY} bytes")
}

/// Whether `E` is anywhere in the error's chain (axum wraps the layers' body errors).
fn caused_by<E: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<E>() {
            return true;
        }
        next = e.source();
    }
    false
}
