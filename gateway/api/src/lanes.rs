//! The device runtime at the edge (issue 13 items 3 and 4, ADR 0021): the push listener that
//! cameras post their alerts to, and the admin view of every lane's health.
//!
//! A push carries no authentication (Hikvision's listening mode has none): it is accepted
//! only from the device's provisioned address, which the listener takes from the
//! connection, never from a header.

use crate::Services;
use crate::openapi::{PROBLEM, Problem as ProblemDoc};
use crate::problem::Problem;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use kezek_devices::{LaneHealth, PushAnswer};
use kezek_domain::device::HttpRequest;
use serde::Serialize;
use std::net::IpAddr;

/// The address a connection came from, as the listener accepted it.
#[derive(Debug, Clone, Copy)]
pub struct PeerIp(pub IpAddr);

/// Every lane of every checkpoint in the lane profiles, with its devices' health.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct LaneList {
    /// False when the gateway runs no devices (`[devices]` not configured).
    enabled: bool,
    #[schema(value_type = Vec<Object>)]
    lanes: Vec<LaneHealth>,
}

/// The lanes and their devices' health
#[utoipa::path(
    get,
    path = "/admin/lanes",
    operation_id = "list_lanes",
    tag = "admin",
    security(("admin-token" = [])),
    responses(
        (status = 200, description = "Each lane: ready, or degraded with the reasons (a degraded lane opens no barrier), and each device's health, restarts and their gaps.", body = LaneList),
        (status = 401, description = "The admin bearer token is missing or wrong.", body = ProblemDoc, content_type = PROBLEM),
    ),
)]
pub(crate) async fn list(State(gateway): State<Services>) -> Json<LaneList> {
    Json(match &gateway.devices {
        Some(runtime) => LaneList {
            enabled: true,
            lanes: runtime.lanes(),
        },
        None => LaneList {
            enabled: false,
            lanes: Vec::new(),
        },
    })
}

/// A device pushes an event (camera listening mode)
#[utoipa::path(
    post,
    path = "/devices/{id}/push",
    operation_id = "device_push",
    tag = "device-push",
    params(("id" = String, Path, description = "Device id, as the lane profile names it")),
    request_body(content = Vec<u8>, description = "Whatever the device's protocol pushes: ISAPI multipart, JSON", content_type = "*/*"),
    responses(
        (status = 200, description = "The device's driver took it."),
        (status = 400, description = "The driver could not read it.", body = ProblemDoc, content_type = PROBLEM),
        (status = 403, description = "Not from the device's provisioned address.", body = ProblemDoc, content_type = PROBLEM),
        (status = 404, description = "No device that pushes has this id.", body = ProblemDoc, content_type = PROBLEM),
        (status = 503, description = "The driver did not take it in time; the device sends it again.", body = ProblemDoc, content_type = PROBLEM),
    ),
)]
pub(crate) async fn push(
    State(gateway): State<Services>,
    Path(id): Path<String>,
    peer: axum::Extension<PeerIp>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, Problem> {
    let Some(runtime) = &gateway.devices else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "this gateway runs no devices",
        ));
    };
    let request = HttpRequest {
        tag: String::new(),
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), ToString::to_string),
        headers: headers
            .iter()
            .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: body.to_vec(),
    };
    match runtime.push(&id, peer.0.0, request).await {
        PushAnswer::Accepted => Ok(StatusCode::OK),
        PushAnswer::Malformed => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            format!("the driver of {id} could not read this push"),
        )),
        PushAnswer::WrongSource => Err(Problem::new(
            StatusCode::FORBIDDEN,
            format!("{id} pushes only from its provisioned address"),
        )),
        PushAnswer::UnknownDevice => Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("no device {id} pushes to this gateway"),
        )),
        PushAnswer::Busy => Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the driver of {id} did not take the push in time"),
        )
        .retry_after(Some(1))),
    }
}
