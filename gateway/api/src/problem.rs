//! The one way the edge says no: an RFC 9457 problem document (`application/problem+json`)
//! with `type`, `title`, `status`, a `detail`, and where fields are to blame their JSON
//! pointers (`pointer`, `errors[].pointer`). Handlers, extractors, fallbacks and the shared
//! layers all answer through [`Problem`], so a client parses one error shape.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An RFC 9457 problem document, rendered by [`IntoResponse`].
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    members: Map<String, Value>,
    retry_after_s: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let mut members = Map::new();
        members.insert("detail".into(), Value::String(detail.into()));
        Self {
            status,
            members,
            retry_after_s: None,
        }
    }

    /// What a request for a route neither listener serves gets.
    pub fn no_route(method: &Method, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("no route for {method} {path}"),
        )
    }

    /// `errors`: each bad field as (JSON pointer, what is wrong); nothing when empty.
    pub fn errors(mut self, errors: impl IntoIterator<Item = (String, String)>) -> Self {
        let errors: Vec<Value> = errors
            .into_iter()
            .map(|(pointer, detail)| json!({ "pointer": pointer, "detail": detail }))
            .collect();
        if !errors.is_empty() {
            self.members.insert("errors".into(), errors.into());
        }
        self
    }

    /// Another member: `rule`, `pointer`, `reasons`, `verification-id`…
    pub fn with(mut self, member: &str, value: impl Into<Value>) -> Self {
        self.members.insert(member.into(), value.into());
        self
    }

    /// Also sets `Retry-After`: when asking again may succeed.
    pub fn retry_after(mut self, seconds: Option<u64>) -> Self {
        self.retry_after_s = seconds;
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut doc = Map::new();
        doc.insert("type".into(), "about:blank".into());
        doc.insert(
            "title".into(),
            self.status.canonical_reason().unwrap_or("error").into(),
        );
        doc.insert("status".into(), self.status.as_u16().into());
        doc.extend(self.members);
        let mut response = (self.status, axum::Json(Value::Object(doc))).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.retry_after_s {
            headers.insert(header::RETRY_AFTER, s.into());
        }
        response
    }
}

/// The shared layers' own refusals (tower-http's body limit and timeout answer with a bare
/// status) become problem documents too. Runs outside them, on both listeners.
pub(crate) async fn fill_in(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/problem+json"));
    let is_error = status.is_client_error() || status.is_server_error();
    if !is_error || is_problem {
        return response;
    }
    let detail = match status {
        StatusCode::PAYLOAD_TOO_LARGE => crate::body::too_large(),
        StatusCode::SERVICE_UNAVAILABLE => format!(
            "no answer within {} s; ask again (with the same Idempotency-Key)",
            crate::layers::REQUEST_TIMEOUT.as_secs()
        ),
        other => other.canonical_reason().unwrap_or("error").to_owned(),
    };
    let mut problem = Problem::new(status, detail).into_response();
    // Headers such as x-request-id stay; the body and its type are replaced.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().append(name.clone(), value.clone());
        }
    }
    problem
}
