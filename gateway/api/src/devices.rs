//! The admin listener's device driver routes (issue 13, ADR 0020): the drivers of the
//! current set, as `describe()` said at load. Drivers are packages of the one catalogue:
//! `POST /admin/adapters/reload` and `rollback` load and restore them with the adapters.

use crate::Services;
use crate::openapi::{PROBLEM, Problem as ProblemDoc};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kezek_domain::device::{ConfigField, DriverDescriptor};
use serde::Serialize;

/// The device drivers loaded now, as `kezek devices list` prints them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DriverList {
    generation: u64,
    drivers: Vec<Driver>,
}

/// One loaded driver: what its `describe()` said, and exactly which build runs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Driver {
    #[schema(example = "hikvision-barrier")]
    id: String,
    version: String,
    /// camera, barrier or board.
    #[schema(example = "barrier")]
    kind: String,
    protocol: String,
    /// http-push, http-request or tcp-stream.
    #[schema(example = "http-request")]
    transport: String,
    /// What it can do, in the contract's words (read-plates, open-barrier, …).
    capabilities: Vec<String>,
    /// The configuration an operator gives each device it drives.
    #[schema(value_type = Vec<Object>)]
    config: Vec<ConfigField>,
    poll_interval_ms: Option<u32>,
    silence_ms: u32,
    component_sha256: String,
    /// The package's manifest.json (`schemas/adapter-manifest.schema.json`, device branch).
    #[schema(value_type = Object)]
    manifest: serde_json::Value,
}

impl Driver {
    fn of(d: &DriverDescriptor, component_sha256: &str, manifest: &impl Serialize) -> Self {
        Self {
            id: d.id.clone(),
            version: d.version.clone(),
            kind: d.kind.to_string(),
            protocol: d.protocol.clone(),
            transport: d.transport.as_str().to_owned(),
            capabilities: d
                .capabilities
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            config: d.config.clone(),
            poll_interval_ms: d.poll_interval_ms,
            silence_ms: d.silence_ms,
            component_sha256: component_sha256.to_owned(),
            manifest: serde_json::to_value(manifest).unwrap_or_default(),
        }
    }
}

/// The device drivers loaded now
#[utoipa::path(
    get,
    path = "/admin/devices",
    operation_id = "list_devices",
    tag = "admin",
    security(("admin-token" = [])),
    responses(
        (status = 200, description = "The drivers of the current set.", body = DriverList),
        (status = 401, description = "The admin bearer token is missing or wrong.", body = ProblemDoc, content_type = PROBLEM),
    ),
)]
pub(crate) async fn list(State(gateway): State<Services>) -> Json<DriverList> {
    let set = gateway.catalogue.snapshot();
    let drivers = set
        .drivers
        .values()
        .map(|d| Driver::of(&d.descriptor, &d.component_sha256, &d.manifest))
        .collect();
    Json(DriverList {
        generation: set.generation,
        drivers,
    })
}

/// One device driver loaded now
#[utoipa::path(
    get,
    path = "/admin/devices/{id}",
    operation_id = "get_device",
    tag = "admin",
    security(("admin-token" = [])),
    params(("id" = String, Path, description = "Driver id, as `GET /admin/devices` lists it")),
    responses(
        (status = 200, description = "The driver.", body = Driver),
        (status = 401, description = "The admin bearer token is missing or wrong.", body = ProblemDoc, content_type = PROBLEM),
        (status = 404, description = "No driver with this id is loaded; `detail` says why when its package was refused.", body = ProblemDoc, content_type = PROBLEM),
    ),
)]
pub(crate) async fn get(
    State(gateway): State<Services>,
    Path(id): Path<String>,
) -> Result<Json<Driver>, Problem> {
    let set = gateway.catalogue.snapshot();
    set.driver(&id)
        .map(|d| Json(Driver::of(&d.descriptor, &d.component_sha256, &d.manifest)))
        .ok_or_else(|| {
            let why = gateway
                .catalogue
                .refusal(&id)
                .map(|r| format!(": its package was refused at the last reload: {}", r.reason))
                .unwrap_or_default();
            Problem::new(
                StatusCode::NOT_FOUND,
                format!("no device driver {id} is loaded{why}"),
            )
        })
}
