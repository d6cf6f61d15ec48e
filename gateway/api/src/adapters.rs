//! The admin listener's own routes: the adapters serving now, reload and rollback of the
//! adapter set, one check through a running adapter, and Prometheus metrics.

use crate::Services;
use crate::body::Checked;
use crate::openapi::{PROBLEM, Problem as ProblemDoc};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use kezek_catalogue::ReloadReport;
use kezek_catalogue::trial::{NotRunning, Trial};
use kezek_domain::{Application, RequestFields};
use serde::Serialize;

/// The adapters and rule sets serving now, as `kezek adapters list` prints them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AdapterList {
    generation: u64,
    adapters: Vec<Adapter>,
    rules: Vec<RuleSetEntry>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Adapter {
    #[schema(example = "licence-category")]
    id: String,
    version: String,
    registry: String,
    /// The checks it serves, by id (ADR 0018).
    checks: Vec<String>,
    /// The parts of the application it reads (they key the finding cache).
    #[schema(value_type = Object)]
    reads: RequestFields,
    component_sha256: String,
    /// The package's manifest.json (`schemas/adapter-manifest.schema.json`).
    #[schema(value_type = Object)]
    manifest: serde_json::Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RuleSetEntry {
    #[schema(example = "order-707")]
    id: String,
    version: String,
    #[serde(rename = "effective-from")]
    effective_from: String,
}

/// The adapters and rule sets serving now
#[utoipa::path(
    get,
    path = "/admin/adapters",
    operation_id = "list_adapters",
    tag = "admin",
    security(("admin-token" = [])),
    responses(
        (status = 200, description = "The current adapter set.", body = AdapterList),
        (status = 401, description = "The admin bearer token is missing or wrong.", body = ProblemDoc, content_type = PROBLEM),
    ),
)]
pub(crate) async fn list(State(gateway): State<Services>) -> Json<AdapterList> {
    let set = gateway.catalogue.snapshot();
    let adapters = set
        .adapters
        .values()
        .map(|a| Adapter {
            id: a.descriptor.id.clone(),
            version: a.descriptor.version.clone(),
            registry: a.descriptor.registry.clone(),
            checks: a.descriptor.checks.iter().map(|c| c.to_string()).collect(),
            reads: a.descriptor.reads,
            component_sha256: a.component_sha256.clone(),
            manifest: serde_json::to_value(&a.manifest).unwrap_or_default(),
        })
        .collect();
    let rules = set
        .rules
        .sets()
        .iter()
        .map(|r| RuleSetEntry {
            id: r.id.clone(),
            version: r.version.clone(),
            effective_from: r.effective_from.clone(),
        })
        .collect();
    Json(AdapterList {
        generation: set.generation,
        adapters,
        rules,
    })
}

/// Re-read the adapters directory and swap in what changed
///
/// All or keep-old per package: a package that fails its signature, compilation, WIT
/// type-check or self-test is refused and the running one keeps serving.
#[utoipa::path(
    post,
    path = "/admin/adapters/reload",
    operation_id = "reload_adapters",
    tag = "admin",
    security(("admin-token" = [])),
    responses(
        (status = 200, description = "What was loaded, kept, removed and refused.", body = crate::openapi::ReloadReport),
        (status = 401, description = "The admin bearer token is missing or wrong.", body = ProblemDoc, content_type = PROBLEM),
        (status = 500, description = "The adapters directory could not be read.", body = ProblemDoc, content_type = PROBLEM),
    ),
)]
pub(crate) async fn reload(State(gateway): State<Services>) -> Result<Json<ReloadReport>, Problem> {
    gateway
        .catalogue
        .reload()
        .await
        .map(Json)
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Restore the previous adapter set
#[utoipa::path(
    post,
    path = "/admin/adapters/rollback",
    operation_id = "rollback_adapters",
    tag = "admin",
    security(("admin-token" = [])),
    responses(
        (status = 200, description = "The set now serving.", body = crate::openapi::ReloadReport),
        (status = 401, description = "The admin bearer token is missing or wrong.", body = ProblemDoc, content_type = PROBLEM),
        (status = 409, description = "There is no previous set to restore.", body = ProblemDoc, content_type = PROBLEM),
    ),
)]
pub(crate) async fn rollback(
    State(gateway): State<Services>,
) -> Result<Json<ReloadReport>, Problem> {
    gateway
        .catalogue
        .rollback()
        .await
        .map(Json)
        .map_err(|e| Problem::new(StatusCode::CONFLICT, e.to_string()))
}

/// How long a trial may take: a registry's slowest answer, with room to spare.
const TRIAL_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// Run one check of a posted application through a running adapter
///
/// What `kezek check --url` calls (issue 12): the adapter serving now, not the package on
/// disk. No finding cache, no rule book, no decision, nothing recorded: the adapter's finding
/// or error and its registry exchanges. An adapter that is not running is a 404 saying why,
/// with the refusal of its package from the last reload.
#[utoipa::path(
    post,
    path = "/admin/adapters/{id}/check",
    operation_id = "trial_check",
    tag = "admin",
    security(("admin-token" = [])),
    params(
        ("id" = String, Path, description = "Adapter id, as `GET /admin/adapters` lists it"),
        ("check" = Option<String>, Query, description = "The P18 check to run; default: the adapter's first"),
    ),
    request_body(content = ref("#/components/schemas/Application"), content_type = "application/json",
        description = "The P16 application: schemas/application.schema.json."),
    responses(
        (status = 200, description = "The adapter's finding or error, and its exchanges.", body = crate::openapi::Trial),
        (status = 400, description = "The body is not JSON, or `check` names no check.", body = ProblemDoc, content_type = PROBLEM),
        (status = 401, description = "The admin bearer token is missing or wrong.", body = ProblemDoc, content_type = PROBLEM),
        (status = 404, description = "The adapter is not running (refused, or no such package), or does not serve that check; `detail` says which and why.", body = ProblemDoc, content_type = PROBLEM),
        (status = 422, description = "The application does not match its schema.", body = ProblemDoc, content_type = PROBLEM),
    ),
)]
pub(crate) async fn trial(
    State(gateway): State<Services>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    application: Checked<Application>,
) -> Result<Json<Trial>, Problem> {
    let check = crate::booking::query_param(query.as_deref().unwrap_or_default(), "check")
        .map(|text| kezek_catalogue::trial::parse_check(&text))
        .transpose()
        .map_err(|detail| Problem::new(StatusCode::BAD_REQUEST, detail))?;
    // An operator's action on a running adapter: logged without the application's contents.
    tracing::info!(adapter = %id, "trial check through the admin API");
    gateway
        .catalogue
        .trial(&id, check, &application.value, TRIAL_DEADLINE)
        .await
        .map(Json)
        .map_err(|e: NotRunning| Problem::new(StatusCode::NOT_FOUND, e.to_string()))
}

/// Prometheus metrics
///
/// Verifications by decision, checks, the finding cache, the adapter set and the audit queue.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "admin",
    security(("admin-token" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4.", body = String,
         content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "The admin bearer token is missing or wrong.", body = ProblemDoc, content_type = PROBLEM),
    ),
)]
pub(crate) async fn metrics(State(gateway): State<Services>) -> impl IntoResponse {
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
            "kezek_audit_refused",
            "Verifications refused (503) because the audit log was full or failing.",
            gateway.audit.refused() as f64,
        ),
        (
            "kezek_audit_pending",
            "Verifications whose audit records wait for the writer.",
            gateway.audit.pending() as f64,
        ),
        (
            "kezek_audit_anchors",
            "Signed anchors of the audit chain written.",
            gateway.audit.anchors().0 as f64,
        ),
        (
            "kezek_audit_anchor_failures",
            "Anchors that could not be written.",
            gateway.audit.anchors().1 as f64,
        ),
    ]);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
