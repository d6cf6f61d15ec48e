//! The tower layers around both routers (DESIGN.md "Trust": every listener bounds body size
//! and read time), and the admin token, a layer of the admin router alone.
//!
//! Outermost first: a request id (`x-request-id`, kept when the client sent one) → tracing
//! (method, route template, status, latency; never the URI, query or body: they carry
//! personal data) → the id copied onto the response → the layers' own refusals made problem
//! documents → the request timeout → the body's read time → the body limit → a panic made a
//! 500 problem → the route.

use crate::problem::{self, Problem};
use crate::{MAX_BODY, Services};
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use kezek_pipeline::metrics::Metrics;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::{RequestBodyDeadlineLayer, TimeoutLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// Longest a request may take, body and answer included. Above the rule sets' verification
/// deadline (8 s), so a verification answers `indeterminate` before this trips.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a client may take to send its body once the headers are in.
pub(crate) const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The layers both listeners share, around a router whose routes are all in place.
pub(crate) fn shared(router: Router, metrics: &Arc<Metrics>) -> Router {
    let metrics = metrics.clone();
    router
        .layer(CatchPanicLayer::custom(move |_panic| {
            // A bug answered, not a dropped connection: a 500 problem, counted. What
            // panicked stays out of the answer and the log (it may quote personal data).
            metrics.handler_panicked();
            tracing::error!("a request handler panicked");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the gateway failed to answer this request; it has been counted for the operators",
            )
            .into_response()
        }))
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(RequestBodyDeadlineLayer::new(BODY_READ_TIMEOUT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(map_response(problem::fill_in))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The request's span: what was asked and of which route, never by whom or about whom.
fn span(req: &Request) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("(no route)", MatchedPath::as_str);
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!("request", method = %req.method(), route, request_id = id)
}

/// The admin token on every admin route but health (`/metrics` included: it tells who is
/// busy and when); without a configured token the admin listener is loopback-only (checked at
/// start-up). Unknown paths are refused too, so they reveal nothing. An operator JWT is taken
/// instead when `api.auth.operator_tokens_on_admin` says so (ADR 0014).
pub(crate) fn admin_token(router: Router<Services>, services: &Services) -> Router<Services> {
    router.layer(from_fn_with_state(services.clone(), require_admin_token))
}

async fn require_admin_token(
    State(gateway): State<Services>,
    req: Request,
    next: Next,
) -> Response {
    let open = matches!(req.uri().path(), "/healthz" | "/readyz");
    if !open && !admin_allowed(&gateway, req.headers()).await {
        return Problem::new(
            StatusCode::UNAUTHORIZED,
            "admin endpoints need the admin bearer token",
        )
        .into_response();
    }
    next.run(req).await
}

async fn admin_allowed(gateway: &Services, headers: &axum::http::HeaderMap) -> bool {
    match &gateway.admin_token {
        Some(token) => {
            crate::auth::bearer(headers)
                .is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes()))
                || gateway.auth.is_operator(headers).await
        }
        None => true,
    }
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    /// Issue 11: a handler that panics is answered — a 500 problem, counted — and the
    /// connection is not dropped.
    #[tokio::test]
    async fn a_panicking_handler_is_a_counted_500_problem() {
        let metrics = Arc::new(Metrics::default());
        let boom = Router::new().route(
            "/boom",
            axum::routing::get(|| async {
                if true {
                    panic!("overflow adding duration to date");
                }
            }),
        );
        let answer = shared(boom, &metrics)
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            answer.headers()[axum::http::header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert!(answer.headers().contains_key("x-request-id"));
        assert!(
            metrics
                .render(&[])
                .contains("kezek_http_handler_panics_total 1"),
            "counted"
        );
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret!"));
    }
}
