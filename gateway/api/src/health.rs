//! `/healthz` and `/readyz`, on both listeners: liveness, and whether the gateway can decide.

use crate::Services;
use crate::openapi::{PROBLEM, Problem as ProblemDoc};
use crate::problem::Problem;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Status {
    #[schema(example = "ok")]
    status: &'static str,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Ready {
    #[schema(example = "ready")]
    status: &'static str,
    /// The adapter set serving now.
    generation: u64,
}

/// Liveness
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "liveness",
    tag = "health",
    responses((status = 200, description = "Alive.", body = Status)),
)]
pub(crate) async fn live() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// Readiness: adapters loaded and a rule set in effect
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readiness",
    tag = "health",
    responses(
        (status = 200, description = "Ready to decide.", body = Ready),
        (status = 503, description = "No adapters are loaded, or no rule set is in effect.", body = ProblemDoc, content_type = PROBLEM),
    ),
)]
pub(crate) async fn ready(State(gateway): State<Services>) -> Result<Json<Ready>, Problem> {
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
        Ok(Json(Ready {
            status: "ready",
            generation: set.generation,
        }))
    } else {
        Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            missing.join("; "),
        ))
    }
}
