//! The booking routes. JSON is kebab-case (ADR 0003); bodies are validated against
//! `schemas/booking-*.schema.json`; every rule violation is a problem document carrying
//! `"rule"` (e.g. `"P21"`) and, when a field is to blame, its JSON pointer.
//!
//! Whose booking it is comes from the verified caller (ADR 0014), never from the body: the
//! applicant's own account, or the one the registrar acts for. A booking is read by its
//! account and by officers at its checkpoint (P4), changed by its account only; to anyone
//! else it is the 404 of a booking that does not exist.
//!
//! ```text
//! GET  /v1/checkpoints                                   the catalogue
//! GET  /v1/checkpoints/{code}
//! GET  /v1/checkpoints/{code}/availability?from=&days=   free capacity
//! POST /v1/bookings                  (Idempotency-Key)   verify, hold, confirm when paid
//! GET  /v1/bookings/{id}
//! POST /v1/bookings/{id}/payment | /reschedule | /cancel | /drivers
//! POST /admin/checkpoints/{code}/days/{date}/capacity    D13       (admin listener)
//! POST /admin/accounts/{account}/debt                    P27
//! POST /admin/priority-lists/{category}                  P6.1, P6.2
//! POST /admin/bookings/{id}/no-show | /arrived           P35, P30
//! ```

use crate::auth::{Account, Caller};
use crate::body::{Checkable, Checked, IdempotencyKey};
use crate::openapi::{self as doc, PROBLEM, Problem as ProblemDoc};
use crate::problem::Problem;
use crate::routes::{ADMIN, PUBLIC, Route, route};
use crate::verifications::VerificationOwners;
use axum::Json;
use axum::extract::{FromRef, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use kezek_booking::engine::{
    BookingEngine, BookingView, CreateRequest, Payment, RescheduleRequest, SlotRequest,
};
use kezek_booking::rules::{BookingError, PriorityCategory};
use kezek_domain::clock::parse_date;
use kezek_domain::{Application, Driver};
use kezek_schema::Schema;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// What the booking routes need of the state: the engine, unless booking is disabled, and
/// where the verifications a booking runs are bound to its account (ADR 0014).
#[derive(Debug, Clone)]
pub struct Bookings(pub Option<Arc<BookingEngine>>, pub VerificationOwners);

impl FromRef<crate::Services> for Bookings {
    fn from_ref(services: &crate::Services) -> Self {
        Self(services.booking.clone(), services.owners.clone())
    }
}

/// The engine; with booking disabled its routes answer as routes that do not exist.
pub(crate) struct Engine(Arc<BookingEngine>);

impl<S: Send + Sync> FromRequestParts<S> for Engine
where
    Bookings: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Bookings::from_ref(state)
            .0
            .map(Engine)
            .ok_or_else(|| Problem::no_route(&parts.method, parts.uri.path()))
    }
}

/// The booking rows of the route table ([`crate::routes::table`]).
pub(crate) fn routes<S>() -> Vec<Route<S>>
where
    S: Clone + Send + Sync + 'static,
    Bookings: FromRef<S>,
{
    use Method as M;
    vec![
        route(PUBLIC, M::GET, "/v1/checkpoints", catalogue),
        route(PUBLIC, M::GET, "/v1/checkpoints/{code}", checkpoint),
        route(
            PUBLIC,
            M::GET,
            "/v1/checkpoints/{code}/availability",
            availability,
        ),
        route(PUBLIC, M::POST, "/v1/bookings", create),
        route(PUBLIC, M::GET, "/v1/bookings/{id}", get),
        route(PUBLIC, M::POST, "/v1/bookings/{id}/payment", pay),
        route(PUBLIC, M::POST, "/v1/bookings/{id}/reschedule", reschedule),
        route(PUBLIC, M::POST, "/v1/bookings/{id}/cancel", cancel),
        route(PUBLIC, M::POST, "/v1/bookings/{id}/drivers", drivers),
        route(
            ADMIN,
            M::POST,
            "/admin/checkpoints/{code}/days/{date}/capacity",
            capacity,
        ),
        route(ADMIN, M::POST, "/admin/accounts/{account}/debt", debt),
        route(
            ADMIN,
            M::POST,
            "/admin/priority-lists/{category}",
            priority_list,
        ),
        route(ADMIN, M::POST, "/admin/bookings/{id}/no-show", no_show),
        route(ADMIN, M::POST, "/admin/bookings/{id}/arrived", arrived),
    ]
}

/// Serves one booking request in-process — public and operator routes alike, without the
/// listeners' layers or the admin token — for tests and tools that hold an engine.
pub async fn handle<B>(engine: Arc<BookingEngine>, request: axum::http::Request<B>) -> Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    use tower::ServiceExt;
    let state = Bookings(Some(engine), VerificationOwners::new());
    let router = crate::routes::router(routes()).with_state(state);
    let request = request.map(axum::body::Body::new);
    match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

impl From<BookingError> for Problem {
    fn from(e: BookingError) -> Self {
        match e {
            BookingError::Rule {
                rule,
                status,
                detail,
                pointer,
            } => {
                let problem = Problem::new(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::CONFLICT),
                    detail,
                )
                .with("rule", rule);
                match pointer {
                    Some(p) => problem.with("pointer", p),
                    None => problem,
                }
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
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "booking refused: the application was not confirmed by the state information systems; book again once the causes are removed",
                )
                .with("rule", "P20")
                .with("verification-id", v.id.clone())
                .with("reasons", reasons)
            }
            BookingError::Indeterminate {
                detail,
                retry_after_s,
            } => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "no booking: the verification could not decide ({detail}); unknown is never yes"
                ),
            )
            .with("rule", "P20")
            .with("retry-after-s", retry_after_s)
            .retry_after(retry_after_s),
            BookingError::Limited {
                detail,
                retry_after_s,
            } => Problem::new(StatusCode::TOO_MANY_REQUESTS, detail)
                .with("rule", "anti-abuse")
                .retry_after(Some(retry_after_s)),
            BookingError::NotFound(what) => Problem::new(
                StatusCode::NOT_FOUND,
                format!("no such booking or checkpoint: {what}"),
            ),
            BookingError::Store(e) => {
                tracing::error!(error = %e, "booking store error");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the booking store is unavailable; nothing was booked",
                )
            }
        }
    }
}

/// P36: a body that tries to change the owner, the vehicle or the checkpoint is a transfer,
/// named as such before the schema would call it an unknown field.
fn transfer_attempt(body: &Value) -> Option<Problem> {
    let field = [
        "owner",
        "vehicle",
        "checkpoint",
        "new-account",
        "transfer-to",
        "trailer",
    ]
    .into_iter()
    .find(|field| body.get(field).is_some())?;
    Some(
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the owner, vehicle and checkpoint of a booking cannot be changed or transferred",
        )
        .with("rule", "P36")
        .with("pointer", format!("/{field}")),
    )
}

/// ADR 0014: naming an account in a body is refused by name, so a client written for the
/// old API learns why (the account is the verified caller's).
fn account_in_body(body: &Value) -> Option<Problem> {
    body.get("account")?;
    Some(
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the account is the verified caller's (the bearer token), never a body field",
        )
        .with("pointer", "/account"),
    )
}

/// `POST /v1/bookings`: what to book; the account is the caller's.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) struct CreateBody {
    application: Application,
    slot: SlotRequest,
    #[serde(default)]
    priority: Option<PriorityCategory>,
    #[serde(default)]
    payment: Option<Payment>,
}

impl Checkable for CreateBody {
    const SCHEMA: Schema = Schema::BookingCreate;
    fn refuse(body: &Value) -> Option<Problem> {
        account_in_body(body)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) struct RescheduleBody {
    slot: SlotRequest,
    #[serde(default)]
    payment: Option<Payment>,
}

impl Checkable for RescheduleBody {
    const SCHEMA: Schema = Schema::BookingReschedule;
    fn refuse(body: &Value) -> Option<Problem> {
        account_in_body(body).or_else(|| transfer_attempt(body))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct PaymentBody {
    reference: String,
    amount_kzt: i64,
}

impl Checkable for PaymentBody {
    const SCHEMA: Schema = Schema::BookingPayment;
    fn refuse(body: &Value) -> Option<Problem> {
        account_in_body(body)
    }
}

/// Nothing to say: who cancels is the caller.
#[derive(Debug, Deserialize)]
pub(crate) struct CancelBody {}

impl Checkable for CancelBody {
    const SCHEMA: Schema = Schema::BookingCancel;
    fn refuse(body: &Value) -> Option<Problem> {
        account_in_body(body)
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct DriversBody {
    /// Typed by the handler: a driver the schema passes but the domain refuses is P16's.
    drivers: Value,
}

impl Checkable for DriversBody {
    const SCHEMA: Schema = Schema::BookingDrivers;
    fn refuse(body: &Value) -> Option<Problem> {
        account_in_body(body).or_else(|| transfer_attempt(body))
    }
}

/// The booking, if `caller` may read it: its account (or the registrar acting for it), or an
/// officer at its checkpoint (P4). Anyone else gets the 404 of an unknown booking, so a
/// guessed id confirms nothing.
async fn readable(
    engine: &BookingEngine,
    caller: &Caller,
    id: &str,
) -> Result<BookingView, Problem> {
    let booking = engine.get(id).await?;
    if caller.account() == Some(booking.account.as_str()) || caller.reads_at(&booking.checkpoint) {
        Ok(booking)
    } else {
        Err(BookingError::NotFound(id.to_owned()).into())
    }
}

/// Changes are the account's own (P36: no transfer): anyone else's booking is a 404.
async fn own(engine: &BookingEngine, account: &str, id: &str) -> Result<BookingView, Problem> {
    let booking = engine.get(id).await?;
    if booking.account == account {
        Ok(booking)
    } else {
        Err(BookingError::NotFound(id.to_owned()).into())
    }
}

/// A booking's answer, its verification bound to the account: approved (in the view) or
/// refused (in the error), the account reads the verification back by id.
fn bound<T>(
    owners: &VerificationOwners,
    account: &str,
    checkpoint: &str,
    answer: Result<T, BookingError>,
    verification_of: impl Fn(&T) -> &str,
) -> Result<T, Problem> {
    match answer {
        Ok(done) => {
            owners.bind(verification_of(&done), account, checkpoint);
            Ok(done)
        }
        Err(BookingError::Refused(v)) => {
            owners.bind(&v.id, account, checkpoint);
            Err(BookingError::Refused(v).into())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct CapacityBody {
    capacity: i64,
    closed_hours: Option<Hours>,
    reason: String,
}

#[derive(Debug, Deserialize)]
struct Hours {
    from: u8,
    to: u8,
}

impl Checkable for CapacityBody {
    const SCHEMA: Schema = Schema::BookingCapacity;

    /// D13: closed hours are an interval, `from` before `to` (the schema bounds each).
    fn invalid_values(&self) -> Vec<(String, String)> {
        match &self.closed_hours {
            Some(Hours { from, to }) if from >= to => vec![(
                "/closed-hours".to_owned(),
                format!("closed hours run from an hour to a later one: {from} is not before {to}"),
            )],
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct DebtBody {
    debt_kzt: i64,
}

impl Checkable for DebtBody {
    const SCHEMA: Schema = Schema::BookingAccount;
}

#[derive(Debug, Deserialize)]
pub(crate) struct PriorityListBody {
    plates: Vec<String>,
}

impl Checkable for PriorityListBody {
    const SCHEMA: Schema = Schema::BookingPriorityList;
}

/// The checkpoint catalogue (Order 707 appendix, P1, P5)
#[utoipa::path(
    get,
    path = "/v1/checkpoints",
    operation_id = "list_checkpoints",
    tag = "checkpoints",
    security(("caller" = [])),
    responses(
        (status = 200, description = "The 48 checkpoints: schemas/checkpoints.schema.json.",
         body = ref("#/components/schemas/Checkpoints")),
        doc::CallerRefusals,
    ),
)]
pub(crate) async fn catalogue(Engine(engine): Engine) -> Json<Value> {
    Json(json!({
        "version": engine.catalogue().version,
        "checkpoints": engine.catalogue().checkpoints.values().collect::<Vec<_>>(),
    }))
}

/// One checkpoint
#[utoipa::path(
    get,
    path = "/v1/checkpoints/{code}",
    operation_id = "get_checkpoint",
    tag = "checkpoints",
    security(("caller" = [])),
    params(("code" = String, Path, example = "CN-DOSTYK")),
    responses(
        (status = 200, description = "The checkpoint.",
         body = ref("#/components/schemas/Checkpoints/$defs/checkpoint")),
        (status = 404, description = "No such checkpoint.", body = ProblemDoc, content_type = PROBLEM),
        doc::CallerRefusals,
    ),
)]
pub(crate) async fn checkpoint(
    Engine(engine): Engine,
    Path(code): Path<String>,
) -> Result<Response, Problem> {
    match engine.catalogue().get(&code) {
        Some(cp) => Ok(Json(cp).into_response()),
        None => Err(BookingError::NotFound(code).into()),
    }
}

/// Free capacity of a checkpoint, day by day and hour by hour (P6, P22)
#[utoipa::path(
    get,
    path = "/v1/checkpoints/{code}/availability",
    operation_id = "checkpoint_availability",
    tag = "checkpoints",
    security(("caller" = [])),
    params(
        ("code" = String, Path, example = "CN-DOSTYK"),
        ("from" = Option<String>, Query, description = "First day, YYYY-MM-DD; default: today at the checkpoint"),
        ("days" = Option<u32>, Query, description = "How many days; default 7"),
    ),
    responses(
        (status = 200, description = "Capacity, bookings and what is free.", body = doc::Availability),
        (status = 404, description = "No such checkpoint.", body = ProblemDoc, content_type = PROBLEM),
        (status = 422, description = "A checkpoint outside the Order 707 appendix (P5) or days outside the horizon (P22).", body = ProblemDoc, content_type = PROBLEM),
        doc::CallerRefusals,
    ),
)]
pub(crate) async fn availability(
    Engine(engine): Engine,
    Path(code): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let query = query.unwrap_or_default();
    let from = query_param(&query, "from");
    let days = query_param(&query, "days")
        .and_then(|d| d.parse().ok())
        .unwrap_or(7);
    let a = engine.availability(&code, from.as_deref(), days).await?;
    Ok(Json(json!({"checkpoint": code, "days": a})).into_response())
}

pub(crate) fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Book a slot: verify first (P20), then hold or confirm
///
/// The application is verified by the pipeline before any slot is held (P20); a refusal names
/// the reasons. Then, in one store transaction: capacity, the P6 quota, one active booking
/// per vehicle (P21) and a sequential ticket.
#[utoipa::path(
    post,
    path = "/v1/bookings",
    operation_id = "create_booking",
    tag = "bookings",
    security(("caller" = [])),
    params(("Idempotency-Key" = Option<String>, Header,
            description = "Replays the booking made with this key (200 instead of 201)")),
    request_body(content = ref("#/components/schemas/BookingCreate"), content_type = "application/json",
        description = "schemas/booking-create.schema.json"),
    responses(
        (status = 201, description = "Booked: held until paid, or confirmed with its ticket.", body = doc::Booking),
        (status = 200, description = "An idempotent replay of an earlier create.", body = doc::Booking),
        doc::Refusals,
        doc::CallerRefusals,
    ),
)]
pub(crate) async fn create(
    Engine(engine): Engine,
    State(Bookings(_, owners)): State<Bookings>,
    caller: Account,
    IdempotencyKey(key): IdempotencyKey,
    body: Checked<CreateBody>,
) -> Result<Response, Problem> {
    caller.may_apply_for(&body.value.application)?;
    let account = caller.account;
    let CreateBody {
        application,
        slot,
        priority,
        payment,
    } = body.value;
    let checkpoint = application.checkpoint.clone();
    let request = CreateRequest {
        account: account.clone(),
        application,
        slot,
        priority,
        payment,
    };
    let created = bound(
        &owners,
        &account,
        &checkpoint,
        engine.create(request, key).await,
        |c| c.booking.verification_id.as_str(),
    )?;
    let status = if created.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(created.booking)).into_response())
}

/// A booking, as its account sees it (officers: at their checkpoints, P4)
#[utoipa::path(
    get,
    path = "/v1/bookings/{id}",
    operation_id = "get_booking",
    tag = "bookings",
    security(("caller" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The booking, its ticket and notifications.", body = doc::Booking),
        (status = 404, description = "No such booking for this caller.", body = ProblemDoc, content_type = PROBLEM),
        doc::CallerRefusals,
    ),
)]
pub(crate) async fn get(
    Engine(engine): Engine,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    Ok(Json(readable(&engine, &caller, &id).await?).into_response())
}

/// Pay for a held booking (P23–P26)
#[utoipa::path(
    post,
    path = "/v1/bookings/{id}/payment",
    operation_id = "pay_booking",
    tag = "bookings",
    security(("caller" = [])),
    params(("id" = String, Path)),
    request_body(content = ref("#/components/schemas/BookingPayment"), content_type = "application/json",
        description = "schemas/booking-payment.schema.json"),
    responses(
        (status = 200, description = "Paid and confirmed, with its ticket.", body = doc::Booking),
        doc::Refusals,
        doc::CallerRefusals,
    ),
)]
pub(crate) async fn pay(
    Engine(engine): Engine,
    Account { account, .. }: Account,
    Path(id): Path<String>,
    body: Checked<PaymentBody>,
) -> Result<Response, Problem> {
    own(&engine, &account, &id).await?;
    let PaymentBody {
        reference,
        amount_kzt,
    } = body.value;
    let payment = Payment {
        reference,
        amount_kzt,
    };
    Ok(Json(engine.pay(&id, &account, payment).await?).into_response())
}

/// Move a booking to another date and time (P28); owner, vehicle and checkpoint stay (P36)
#[utoipa::path(
    post,
    path = "/v1/bookings/{id}/reschedule",
    operation_id = "reschedule_booking",
    tag = "bookings",
    security(("caller" = [])),
    params(("id" = String, Path)),
    request_body(content = ref("#/components/schemas/BookingReschedule"), content_type = "application/json",
        description = "schemas/booking-reschedule.schema.json"),
    responses(
        (status = 200, description = "Moved, with its new ticket.", body = doc::Booking),
        doc::Refusals,
        doc::CallerRefusals,
    ),
)]
pub(crate) async fn reschedule(
    Engine(engine): Engine,
    State(Bookings(_, owners)): State<Bookings>,
    Account { account, .. }: Account,
    Path(id): Path<String>,
    body: Checked<RescheduleBody>,
) -> Result<Response, Problem> {
    let booking = own(&engine, &account, &id).await?;
    let RescheduleBody { slot, payment } = body.value;
    let request = RescheduleRequest {
        account: account.clone(),
        slot,
        payment,
    };
    let moved = engine.reschedule(&id, request).await;
    let moved = bound(&owners, &account, &booking.checkpoint, moved, |v| {
        v.verification_id.as_str()
    })?;
    Ok(Json(moved).into_response())
}

/// Cancel a booking (P28: the fee is kept)
#[utoipa::path(
    post,
    path = "/v1/bookings/{id}/cancel",
    operation_id = "cancel_booking",
    tag = "bookings",
    security(("caller" = [])),
    params(("id" = String, Path)),
    request_body(content = ref("#/components/schemas/BookingCancel"), content_type = "application/json",
        description = "schemas/booking-cancel.schema.json"),
    responses(
        (status = 200, description = "Cancelled.", body = doc::Booking),
        doc::Refusals,
        doc::CallerRefusals,
    ),
)]
pub(crate) async fn cancel(
    Engine(engine): Engine,
    Account { account, .. }: Account,
    Path(id): Path<String>,
    _body: Checked<CancelBody>,
) -> Result<Response, Problem> {
    own(&engine, &account, &id).await?;
    Ok(Json(engine.cancel(&id, &account).await?).into_response())
}

/// Add trusted drivers to a booking, verified first (P16.2)
#[utoipa::path(
    post,
    path = "/v1/bookings/{id}/drivers",
    operation_id = "add_drivers",
    tag = "bookings",
    security(("caller" = [])),
    params(("id" = String, Path)),
    request_body(content = ref("#/components/schemas/BookingDrivers"), content_type = "application/json",
        description = "schemas/booking-drivers.schema.json"),
    responses(
        (status = 200, description = "The booking with its drivers.", body = doc::Booking),
        doc::Refusals,
        doc::CallerRefusals,
    ),
)]
pub(crate) async fn drivers(
    Engine(engine): Engine,
    State(Bookings(_, owners)): State<Bookings>,
    Account { account, .. }: Account,
    Path(id): Path<String>,
    body: Checked<DriversBody>,
) -> Result<Response, Problem> {
    let booking = own(&engine, &account, &id).await?;
    let DriversBody { drivers } = body.value;
    let drivers: Vec<Driver> = serde_json::from_value(drivers)
        .map_err(|e| BookingError::at("P16", 422, "/drivers", e.to_string()))?;
    let added = engine.add_drivers(&id, &account, drivers).await;
    let added = bound(&owners, &account, &booking.checkpoint, added, |v| {
        v.verification_id.as_str()
    })?;
    Ok(Json(added).into_response())
}

/// Change a checkpoint-day's capacity (Decree 977 D13)
///
/// Bookings beyond the new capacity are moved to the nearest free slots, priority first; those
/// with no slot left within the horizon are cancelled with their fee due back.
#[utoipa::path(
    post,
    path = "/admin/checkpoints/{code}/days/{date}/capacity",
    operation_id = "change_capacity",
    tag = "admin",
    security(("admin-token" = [])),
    params(("code" = String, Path, example = "CN-DOSTYK"), ("date" = String, Path, description = "YYYY-MM-DD")),
    request_body(content = ref("#/components/schemas/BookingCapacity"), content_type = "application/json",
        description = "schemas/booking-capacity.schema.json"),
    responses(
        (status = 200, description = "What was kept, moved and cancelled.", body = doc::CapacityReport),
        doc::Refusals,
    ),
)]
pub(crate) async fn capacity(
    Engine(engine): Engine,
    Path((code, date)): Path<(String, String)>,
    body: Checked<CapacityBody>,
) -> Result<Response, Problem> {
    // D13 changes what is still to come: today at the checkpoint or later.
    if let (Some(day), Some(today)) = (parse_date(&date), engine.today_at(&code))
        && day < today
    {
        return Err(BookingError::at(
            "D13",
            422,
            "/date",
            format!("{date} is past: capacity changes from today ({today} at the checkpoint) on"),
        )
        .into());
    }
    let CapacityBody {
        capacity,
        closed_hours,
        reason,
    } = body.value;
    let closed = closed_hours.map(|h| (h.from, h.to));
    let report = engine
        .change_capacity(&code, &date, capacity, closed, &reason)
        .await?;
    Ok(Json(report).into_response())
}

/// Set an account's debt as the registrar's billing reports it (P27)
#[utoipa::path(
    post,
    path = "/admin/accounts/{account}/debt",
    operation_id = "set_debt",
    tag = "admin",
    security(("admin-token" = [])),
    params(("account" = String, Path)),
    request_body(content = ref("#/components/schemas/BookingAccount"), content_type = "application/json",
        description = "schemas/booking-account.schema.json"),
    responses(
        (status = 200, description = "The account's debt; a debtor cannot book (P27).", body = doc::Debt),
        doc::Refusals,
    ),
)]
pub(crate) async fn debt(
    Engine(engine): Engine,
    Path(account): Path<String>,
    body: Checked<DebtBody>,
) -> Result<Response, Problem> {
    let debt = body.value.debt_kzt;
    engine.set_debt(&account, debt).await?;
    Ok(Json(json!({"account": account, "debt-kzt": debt, "blocked": debt > 0})).into_response())
}

/// Replace a P6.1/P6.2 vehicle list (postal operator, AEO)
#[utoipa::path(
    post,
    path = "/admin/priority-lists/{category}",
    operation_id = "set_priority_list",
    tag = "admin",
    security(("admin-token" = [])),
    params(("category" = String, Path, description = "`postal-operator` or `aeo`")),
    request_body(content = ref("#/components/schemas/BookingPriorityList"), content_type = "application/json",
        description = "schemas/booking-priority-list.schema.json; a plate is `country:plate`, or a Kazakh plate alone"),
    responses(
        (status = 200, description = "How many vehicles the list now holds.", body = doc::PriorityList),
        doc::Refusals,
    ),
)]
pub(crate) async fn priority_list(
    Engine(engine): Engine,
    Path(category): Path<String>,
    body: Checked<PriorityListBody>,
) -> Result<Response, Problem> {
    let Some(c) = PriorityCategory::parse(&category).filter(|c| c.needs_list()) else {
        return Err(BookingError::rule(
            "P6",
            404,
            "only postal-operator and aeo have vehicle lists (P6.1, P6.2)",
        )
        .into());
    };
    let plates = body
        .value
        .plates
        .into_iter()
        .map(|p| match p.split_once(':') {
            Some((country, plate)) => (country.to_owned(), plate.to_owned()),
            None => ("KZ".to_owned(), p),
        })
        .collect();
    let n = engine.set_priority_list(c, plates).await?;
    Ok(Json(json!({"category": category, "vehicles": n})).into_response())
}

/// Record a no-show (P35); no-shows are also swept automatically
#[utoipa::path(
    post,
    path = "/admin/bookings/{id}/no-show",
    operation_id = "record_no_show",
    tag = "admin",
    security(("admin-token" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The booking, annulled.", body = doc::Booking),
        doc::Refusals,
    ),
)]
pub(crate) async fn no_show(
    Engine(engine): Engine,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    Ok(Json(engine.no_show(&id).await?).into_response())
}

/// Record that the vehicle entered the checkpoint (P30)
#[utoipa::path(
    post,
    path = "/admin/bookings/{id}/arrived",
    operation_id = "record_arrival",
    tag = "admin",
    security(("admin-token" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The booking, used.", body = doc::Booking),
        doc::Refusals,
    ),
)]
pub(crate) async fn arrived(
    Engine(engine): Engine,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    Ok(Json(engine.arrived(&id).await?).into_response())
}
