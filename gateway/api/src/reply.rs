//! The one way the HTTP edge answers: JSON, and RFC 9457 problem documents.

use super::Body;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

pub fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

/// An RFC 9457 problem document; `errors` lists (JSON pointer, what is wrong).
pub fn problem(status: StatusCode, detail: &str, errors: Vec<(String, String)>) -> Response<Body> {
    let mut members = json!({ "detail": detail });
    if !errors.is_empty() {
        members["errors"] = errors
            .into_iter()
            .map(|(pointer, detail)| json!({ "pointer": pointer, "detail": detail }))
            .collect();
    }
    problem_with(status, members)
}

/// An RFC 9457 problem document: `type`, `title` and `status`, plus `members` (`detail`,
/// `errors`, `rule`, `pointer`, `reasons`…).
pub fn problem_with(status: StatusCode, members: Value) -> Response<Body> {
    let mut doc = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
    });
    if let (Some(d), Value::Object(m)) = (doc.as_object_mut(), members) {
        d.extend(m);
    }
    let mut response = json_response(status, &doc);
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/problem+json"),
    );
    response
}
