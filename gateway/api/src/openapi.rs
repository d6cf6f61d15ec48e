//! The OpenAPI 3.1 document of both listeners, generated from the handlers' `#[utoipa::path]`
//! attributes. Served at `GET /openapi.json` and checked in as `schemas/openapi.json`
//! (regenerate: `cargo run --release -p kezek -- openapi > schemas/openapi.json`).
//!
//! Bodies that a JSON Schema of `schemas/` validates are documented *as* that schema (copied
//! into `components/schemas`), so the document and the validation cannot disagree. The
//! answers the rooms serialise (a verification, a booking…) are described by the types below;
//! `tests/e2e/api.rs` validates real answers against them.
//!
//! Which listener serves an operation is its tag: `admin` is the admin listener,
//! `device-push` the device push listener, `health` both public and admin, anything else the
//! public one ([`surfaces_of`]).

use crate::routes::{ADMIN, BOTH, DEVICE_PUSH, PUBLIC, Surface};
use crate::{adapters, booking, devices, health, lanes, verifications};
use axum::http::header;
use axum::response::IntoResponse;
use kezek_schema::Schema;
use serde_json::{Value, json};
use std::sync::OnceLock;
use utoipa::{OpenApi, ToSchema};

/// The media type of every error.
pub const PROBLEM: &str = "application/problem+json";

const PUBLIC_SERVER: &str = "https://localhost:8443";
const ADMIN_SERVER: &str = "http://127.0.0.1:8444";
const DEVICE_PUSH_SERVER: &str = "http://127.0.0.1:8450";

/// The JSON Schemas of `schemas/` that request (and some response) bodies are, by their
/// component name.
const SCHEMA_FILES: &[(&str, Schema)] = &[
    ("Application", Schema::Application),
    ("BookingCreate", Schema::BookingCreate),
    ("BookingPayment", Schema::BookingPayment),
    ("BookingReschedule", Schema::BookingReschedule),
    ("BookingCancel", Schema::BookingCancel),
    ("BookingDrivers", Schema::BookingDrivers),
    ("BookingCapacity", Schema::BookingCapacity),
    ("BookingAccount", Schema::BookingAccount),
    ("BookingPriorityList", Schema::BookingPriorityList),
    ("Checkpoints", Schema::Checkpoints),
];

/// What any booking operation may answer instead of its success.
#[derive(Debug, utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum Refusals {
    #[response(status = "4XX", description = REFUSED, content_type = PROBLEM)]
    Refused(Problem),
    #[response(status = 503, description = UNDECIDED, content_type = PROBLEM)]
    Undecided(Problem),
}

const REFUSED: &str = "A rule refuses it: a problem document whose `rule` names the rule and \
`pointer` the field to blame. 402 payment missing or short (P23, P28); 403 a debtor (P27), \
or a priority category without evidence (P6); 404 no such booking (or not the caller's) \
or checkpoint; 409 the vehicle already booked (P21), no capacity or outside the horizon \
(P22, P6), no reschedules left (P28), a transfer (P36); 410 a hold that expired; 422 the body \
does not match its schema, or the application was refused by the registries (P20: `reasons`, \
`verification-id`), or a date or checkpoint no calendar allows (P5, P16, D13); 429 too many \
attempts (anti-abuse); 400 a body that is not JSON, 413 one over 64 KiB.";

/// What a public operation answers a caller it does not serve (ADR 0014).
#[derive(Debug, utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum CallerRefusals {
    #[response(status = 401, description = UNAUTHENTICATED, content_type = PROBLEM)]
    Unauthenticated(Problem),
    #[response(status = 403, description = FORBIDDEN, content_type = PROBLEM)]
    Forbidden(Problem),
}

const UNAUTHENTICATED: &str = "No bearer token, or one that does not verify: a bad signature, an \
algorithm not accepted, an unknown key, another issuer or audience, expired or not yet valid, or \
claims that name no caller. `WWW-Authenticate: Bearer realm=\"kezek\"` says so, with \
`error=\"invalid_token\"` when a token was sent.";

const FORBIDDEN: &str = "The token's role may not do this: officers read, applicants and the \
registrar verify and book; operator tokens are for the admin listener. Also: an applicant whose \
token carries its IIN/BIN (`iin`) asking about an application that does not name it.";

const UNDECIDED: &str = "Nothing was booked: the verification could not decide (P20, with \
`Retry-After`; unknown is never yes) or the booking store is unavailable.";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kezek gateway",
        version = "1.0.0",
        description = "Verification of applications for the paid electronic queue at Kazakhstan's \
road checkpoints (Order 707), and booking of slots. Field names are kebab-case. Errors are RFC \
9457 problem documents (`application/problem+json`); `pointer` and `errors[].pointer` are JSON \
pointers of the bad fields, `rule` the rule a refusal cites.\n\nTwo listeners: the public one \
(TLS) serves every operation not tagged `admin`; the admin one (plain HTTP, loopback unless a \
token is set) serves those tagged `admin`, where `/admin/*` needs the admin bearer token. \
`health` is on both. Every public operation but health and this document needs the bearer JWT \
of the registrar's identity provider (`caller`); the account a booking or verification belongs \
to is the token's, never a body field. Every response carries `x-request-id` (the client's, or \
a new one).",
    ),
    servers((url = "https://localhost:8443", description = "The public listener")),
    paths(
        verifications::create,
        verifications::get,
        booking::catalogue,
        booking::checkpoint,
        booking::availability,
        booking::create,
        booking::get,
        booking::pay,
        booking::reschedule,
        booking::cancel,
        booking::drivers,
        health::live,
        health::ready,
        serve,
        adapters::list,
        adapters::reload,
        adapters::rollback,
        adapters::trial,
        adapters::metrics,
        devices::list,
        devices::get,
        lanes::list,
        lanes::push,
        booking::capacity,
        booking::debt,
        booking::priority_list,
        booking::no_show,
        booking::arrived,
    ),
    tags(
        (name = "verifications", description = "Registry checks of an application (P17–P20)"),
        (name = "bookings", description = "Slots at a checkpoint (P16–P36)"),
        (name = "checkpoints", description = "The Order 707 appendix and free capacity"),
        (name = "health", description = "Liveness and readiness, on both listeners"),
        (name = "meta", description = "This document"),
        (name = "admin", description = "The admin listener: adapters, device drivers, lanes, metrics, booking operations"),
        (name = "device-push", description = "The device push listener: cameras post their events here, each only from its provisioned address"),
    ),
)]
struct ApiDoc;

/// The document, as served and checked in.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
    let server = |url: &str, description: &str| json!({ "url": url, "description": description });
    let public = server(PUBLIC_SERVER, "The public listener");
    let admin = server(ADMIN_SERVER, "The admin listener");
    let device_push = server(DEVICE_PUSH_SERVER, "The device push listener");
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            let tags: Vec<&str> = operations(item).flat_map(|(_, op)| tags(op)).collect();
            let servers = match surfaces_of(&tags) {
                s if s == ADMIN => json!([admin]),
                s if s == DEVICE_PUSH => json!([device_push]),
                s if s == BOTH => json!([public, admin]),
                _ => continue,
            };
            item["servers"] = servers;
        }
    }
    let components = &mut doc["components"];
    for (name, schema) in SCHEMA_FILES {
        let file: Value = serde_json::from_str(schema.source()).expect("schemas/ holds valid JSON");
        components["schemas"][*name] = file;
    }
    components["securitySchemes"]["caller"] = json!({
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT of the registrar's identity provider (api.auth: issuer, audience, \
    JWKS). Claims: `sub`; `role` = applicant (acts on its own account, `sub`; with `iin`, its \
    IIN/BIN, only on applications naming it), registrar (acts for the account in `account`), \
    officer (reads at the checkpoints in `checkpoints`, P4) or operator (admin listener only); \
    `exp`, `iss`, `aud` required. Instead of a token, the registrar's back end may present a \
    client certificate (mTLS) and name the account in `Kezek-Account`.",
    });
    components["securitySchemes"]["admin-token"] = json!({
        "type": "http",
        "scheme": "bearer",
        "description": "api.admin_token of the gateway's config (or an operator JWT when \
    api.auth.operator_tokens_on_admin); without a token the admin listener must be on loopback \
    and takes none",
    });
    doc
}

/// The listeners that serve an operation with these tags.
pub fn surfaces_of(tags: &[&str]) -> &'static [Surface] {
    if tags.contains(&"device-push") {
        DEVICE_PUSH
    } else if tags.contains(&"admin") {
        ADMIN
    } else if tags.contains(&"health") {
        BOTH
    } else {
        PUBLIC
    }
}

/// A path item's operations by method (`get`, `post`, …), without its other members.
fn operations(item: &Value) -> impl Iterator<Item = (&'static str, &Value)> {
    [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ]
    .into_iter()
    .filter_map(|method| Some((method, item.get(method)?)))
}

fn tags(operation: &Value) -> impl Iterator<Item = &str> {
    operation["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// This document
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 description of both listeners.", body = Object)),
)]
pub(crate) async fn serve() -> impl IntoResponse {
    static DOC: OnceLock<bytes::Bytes> = OnceLock::new();
    let doc = DOC.get_or_init(|| rendered().into());
    ([(header::CONTENT_TYPE, "application/json")], doc.clone())
}

/// The document as text, exactly as `schemas/openapi.json` holds it.
pub fn rendered() -> String {
    let mut text = serde_json::to_string_pretty(&document()).expect("JSON serialises");
    text.push('\n');
    text
}

// What the rooms answer, described for the document only (they serialise their own types).
// Field for field as `kezek_domain`, `kezek_booking` and `kezek_catalogue` write them.

/// An RFC 9457 problem document.
#[derive(Debug, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)]
pub struct Problem {
    #[schema(example = "about:blank")]
    r#type: String,
    title: String,
    status: u16,
    detail: String,
    /// The rule the request violates, where one does (`P21`, `P20`…).
    rule: Option<String>,
    /// The JSON pointer of the field to blame, where one is.
    pointer: Option<String>,
    /// Every bad field.
    errors: Option<Vec<FieldError>>,
    /// P20, a booking refused: why, rule by rule.
    reasons: Option<Vec<BookingReason>>,
    /// P20, a booking refused: the verification that refused it.
    verification_id: Option<String>,
    /// P20, no booking because the verification could not decide: when to ask again.
    retry_after_s: Option<u64>,
}

#[derive(Debug, ToSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[allow(dead_code)]
pub struct BookingReason {
    #[schema(example = "P18.3")]
    rule: String,
    registry: String,
    reason_code: String,
    message: String,
}

#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct FieldError {
    #[schema(example = "/travel-date")]
    pointer: String,
    detail: String,
}

/// A verification: the decision, the reasons behind it, every check, and the notices for the
/// user (P19, P20).
#[derive(Debug, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Verification {
    #[schema(format = "uuid")]
    id: String,
    decision: Decision,
    #[schema(example = "order-707@2023.1/resident")]
    rule_set: String,
    /// Why it was refused: every blocking fail.
    reasons: Vec<Reason>,
    /// What the user is told without being refused (P19).
    notices: Vec<Reason>,
    /// Blocking checks that could not be answered.
    unanswered: Vec<Unanswered>,
    /// For `indeterminate`: seconds after which asking again may succeed.
    retry_after_s: Option<u64>,
    checks: Vec<CheckResult>,
    #[schema(format = DateTime)]
    decided_at: String,
}

#[derive(Debug, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)]
pub enum Decision {
    Approved,
    Refused,
    Indeterminate,
}

/// A finding that refuses or notifies, with the rule behind it.
#[derive(Debug, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Reason {
    /// The check's id (ADR 0018).
    #[schema(example = "P18.3")]
    check: String,
    #[schema(example = "P18.3")]
    rule_id: String,
    registry: String,
    reason_code: String,
    message: String,
}

/// A blocking check that produced no answer.
#[derive(Debug, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Unanswered {
    #[schema(example = "P18.8")]
    check: String,
    rule_id: String,
    registry: String,
    error: CheckError,
}

/// Why a check produced no finding; never a pass.
#[derive(Debug, ToSchema)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
#[allow(dead_code)]
pub enum CheckError {
    Unavailable(String),
    BadResponse(String),
    RejectedInput(String),
    Timeout(String),
    Trapped(String),
    CpuBudgetExceeded(u64),
    MemoryCapExceeded(u64),
    AdapterMissing(String),
}

/// How one check ended: a finding (`verdict`, `reason-code`, `message`) or an `error`.
#[derive(Debug, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CheckResult {
    #[schema(example = "P18.3")]
    check: String,
    rule_id: String,
    registry: String,
    /// Empty when no adapter serves the check.
    #[schema(example = "licence-category@1.0.0")]
    adapter: String,
    blocking: bool,
    outcome: Outcome,
    verdict: Option<Verdict>,
    reason_code: Option<String>,
    message: Option<String>,
    registry_reference: Option<String>,
    valid_until: Option<String>,
    error: Option<CheckError>,
    cached: bool,
    duration_ms: u64,
}

#[derive(Debug, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)]
pub enum Outcome {
    Finding,
    Error,
}

#[derive(Debug, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)]
pub enum Verdict {
    Pass,
    Fail,
    Notice,
}

/// A booking as its owner sees it.
#[derive(Debug, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Booking {
    id: String,
    #[schema(example = "active")]
    status: String,
    account: String,
    #[schema(example = "CN-DOSTYK")]
    checkpoint: String,
    /// Normalised `country:plate` (P21).
    vehicle: String,
    priority: Option<String>,
    trusted_drivers: i64,
    /// Issued when the booking is confirmed (P20).
    ticket: Option<Ticket>,
    slot: Interval,
    fee_kzt: i64,
    paid_kzt: i64,
    reschedules_used: i64,
    free_reschedules_left: i64,
    /// Moves by ops after a capacity change (D13); not counted as reschedules.
    moves: i64,
    hold_expires_at: Option<String>,
    created_at: String,
    verification_id: String,
    notifications: Vec<Notification>,
}

/// The sequential booking number with the date and approximate time (P20).
#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Ticket {
    #[schema(example = "CN-DOSTYK-20260301-0001")]
    number: String,
    sequence: i64,
    date: String,
    interval: Interval,
}

#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Interval {
    date: String,
    hour: i64,
    #[schema(format = DateTime)]
    from: String,
    #[schema(format = DateTime)]
    to: String,
}

#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Notification {
    kind: String,
    message: String,
    at: String,
}

/// Free capacity of one checkpoint.
#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Availability {
    checkpoint: String,
    days: Vec<DayAvailability>,
}

#[derive(Debug, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct DayAvailability {
    date: String,
    capacity: i64,
    booked: i64,
    free: i64,
    /// P6: the out-of-turn places of the day, all quotas of its edition together.
    priority_cap: i64,
    priority_free: i64,
    /// P6: the edition of the law in force on the day, which sets its quotas (ADR 0013);
    /// null before the first.
    #[schema(example = "order-505")]
    priority_edition: Option<String>,
    /// P6: each quota of that edition.
    priority_quotas: Vec<QuotaAvailability>,
    hours: Vec<HourAvailability>,
}

/// P6: one quota of a day's edition — the categories it covers, its cap (percent of the
/// day's actual capacity, rounded down) and what is left of it.
#[derive(Debug, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct QuotaAvailability {
    #[schema(example = "out-of-turn")]
    id: String,
    categories: Vec<String>,
    #[schema(example = 5)]
    cap_percent: f64,
    cap: i64,
    free: i64,
}

#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct HourAvailability {
    hour: i64,
    from: String,
    to: String,
    capacity: i64,
    free: i64,
}

/// What a capacity change did (D13).
#[derive(Debug, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CapacityReport {
    checkpoint: String,
    date: String,
    old_capacity: i64,
    new_capacity: i64,
    kept: i64,
    moved: Vec<Moved>,
    /// Bookings with no slot left within the horizon: cancelled, fee refund due.
    cancelled: Vec<String>,
}

#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Moved {
    booking: String,
    priority: bool,
    from: String,
    to: String,
}

/// An account's debt (P27).
#[derive(Debug, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Debt {
    account: String,
    debt_kzt: i64,
    /// A debtor cannot book.
    blocked: bool,
}

/// A P6.1/P6.2 vehicle list, replaced.
#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct PriorityList {
    #[schema(example = "aeo")]
    category: String,
    vehicles: u64,
}

/// What a reload or rollback did to the adapter set.
#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ReloadReport {
    generation: u64,
    /// (id, version) newly loaded or replaced.
    loaded: Vec<(String, String)>,
    unchanged: Vec<String>,
    removed: Vec<String>,
    refused: Vec<Refusal>,
    /// What refused nothing but matters: a set restored on a cold start, `[egress]`
    /// reloaded, a record of the set in force that could not be written.
    notes: Option<Vec<String>>,
}

/// One check of one running adapter (`kezek check --url`).
#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Trial {
    adapter: String,
    version: String,
    /// The P18 check run.
    #[schema(value_type = u8)]
    check: u8,
    exchanges: Vec<TrialExchange>,
    /// The adapter's finding, as a verification's findings spell it.
    #[schema(value_type = Option<Object>)]
    finding: Option<serde_json::Value>,
    /// Why there is no finding (`kind`, `detail`).
    #[schema(value_type = Option<Object>)]
    error: Option<serde_json::Value>,
}

/// One registry exchange of a trial.
#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct TrialExchange {
    endpoint: String,
    status: Option<u16>,
    duration_ms: u64,
}

/// A package that was not (re)loaded, and why.
#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Refusal {
    package: String,
    version: Option<String>,
    reason: String,
}

#[cfg(test)]
mod tests;
