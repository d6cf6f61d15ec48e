//! `POST /v1/verifications` and `GET /v1/verifications/{id}`: the application is checked
//! here (schema, IIN/BIN check digits, calendar dates), decided by the pipeline. A
//! verification is bound to the account that asked for it ([`VerificationOwners`]): nobody
//! else reads it back, so the endpoint is no registry oracle (ADR 0014).

use crate::Services;
use crate::auth::{Account, Caller};
use crate::body::{Checkable, Checked, IdempotencyKey};
use crate::openapi::{PROBLEM, Problem as ProblemDoc, Verification as VerificationDoc};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kezek_domain::clock::{Undatable, parse_date};
use kezek_domain::{Application, Decision, Verification};
use kezek_pipeline::VerifyError;
use kezek_schema::Schema;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// Who may read a verification again: the account it was asked for (the applicant, or the
/// registrar acting for them) and officers at its checkpoint (P4). Others get the 404 of an
/// unknown id. Accounts are kept as salted hashes, never as they are.
#[derive(Clone)]
pub struct VerificationOwners {
    salt: [u8; 32],
    bound: moka::sync::Cache<String, Arc<Binding>>,
}

struct Binding {
    account: [u8; 32],
    checkpoint: String,
}

impl std::fmt::Debug for VerificationOwners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationOwners")
            .field("bound", &self.bound.entry_count())
            .finish_non_exhaustive()
    }
}

impl Default for VerificationOwners {
    fn default() -> Self {
        Self::new()
    }
}

impl VerificationOwners {
    /// As long as the pipeline keeps verifications (a day, 200 000 of them).
    pub fn new() -> Self {
        let mut salt = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
            .expect("the system's random source");
        Self {
            salt,
            bound: moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(Duration::from_secs(24 * 3600))
                .build(),
        }
    }

    fn account_hash(&self, account: &str) -> [u8; 32] {
        Sha256::new()
            .chain_update(self.salt)
            .chain_update(account.as_bytes())
            .finalize()
            .into()
    }

    /// Binds verification `id` to the account that asked, at the application's checkpoint.
    pub fn bind(&self, id: &str, account: &str, checkpoint: &str) {
        let binding = Binding {
            account: self.account_hash(account),
            checkpoint: checkpoint.to_owned(),
        };
        self.bound.insert(id.to_owned(), Arc::new(binding));
    }

    /// Whether `caller` may read verification `id`.
    pub fn may_read(&self, id: &str, caller: &Caller) -> bool {
        let Some(binding) = self.bound.get(id) else {
            return false;
        };
        match caller.account() {
            Some(account) => self.account_hash(account) == binding.account,
            None => caller.reads_at(&binding.checkpoint),
        }
    }

    /// An Idempotency-Key as the account's own: another account's key replays nothing.
    fn scoped(&self, account: &str, key: &str) -> String {
        let hash = self.account_hash(account);
        let prefix: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("{prefix}:{key}")
    }
}

impl Checkable for Application {
    const SCHEMA: Schema = Schema::Application;
    const WHAT: &'static str = "the application";

    /// Whether the dates can be verified *today* is the pipeline's to judge, on the
    /// checkpoint's calendar (`Calendar::check_dates`); here only what any day would refuse.
    fn invalid_values(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        let mut iin = |pointer: String, value: &Option<String>| {
            if let Some(v) = value
                && !iin_check_digit_ok(v)
            {
                errors.push((pointer, "the IIN/BIN check digit is wrong".to_owned()));
            }
        };
        iin("/owner/iin-bin".into(), &self.owner.iin_bin);
        for (i, d) in self.drivers.iter().enumerate() {
            iin(format!("/drivers/{i}/iin"), &d.iin);
        }
        let mut date = |pointer: String, value: &str| {
            if parse_date(value).is_none() {
                errors.push((pointer, format!("{value} is not a calendar date")));
            }
        };
        date("/travel-date".into(), &self.travel_date);
        for (i, d) in self.drivers.iter().enumerate() {
            date(format!("/drivers/{i}/birth-date"), &d.birth_date);
            date(
                format!("/drivers/{i}/document/expires"),
                &d.document.expires,
            );
        }
        errors
    }
}

/// Verify an application against the rule set for the applicant (P17–P20)
///
/// The decision is `approved`, `refused` (with the reasons and their rules) or
/// `indeterminate` (a blocking check could not be answered; `Retry-After` says when to ask
/// again). The body is validated against `schemas/application.schema.json`.
#[utoipa::path(
    post,
    path = "/v1/verifications",
    operation_id = "create_verification",
    tag = "verifications",
    security(("caller" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, max_length = 200,
         description = "Replays the first verification made with this key and body (an indeterminate one only until its Retry-After has passed; then the application is verified again); the same key with another body is refused (422)."),
    ),
    request_body(content = ref("#/components/schemas/Application"), content_type = "application/json",
        description = "The P16 application: schemas/application.schema.json."),
    responses(
        (status = 200, description = "Decided. `indeterminate` carries a Retry-After header.",
         body = VerificationDoc,
         headers(
             ("location" = String, description = "Where to fetch this verification again"),
             ("retry-after" = Option<u64>, description = "For `indeterminate`: seconds after which asking again may succeed"),
             ("idempotent-replayed" = Option<String>, description = "`true` when this is the answer to an earlier request with the same Idempotency-Key"),
         )),
        (status = 400, description = "The body is not JSON.", body = ProblemDoc, content_type = PROBLEM),
        crate::openapi::CallerRefusals,
        (status = 413, description = "The body is larger than 64 KiB.", body = ProblemDoc, content_type = PROBLEM),
        (status = 429, description = "Too many verifications this minute by this caller, or naming one of its persons (owner or driver); Retry-After says when the minute turns.", body = ProblemDoc, content_type = PROBLEM),
        (status = 422, description = "The application does not match its schema, has invalid values (IIN/BIN check digits, calendar dates), or cannot be verified today: a checkpoint outside the Order 707 appendix (P5), a travel date in the past on the checkpoint's local calendar (P16) or more than 90 days ahead (P22). `errors` names each field by JSON pointer. Also: the Idempotency-Key was used with another body.",
         body = ProblemDoc, content_type = PROBLEM),
        (status = 503, description = "Nothing was decided: no rule set is in effect, the gateway is at capacity, or the audit log cannot record the decision (full or failing; ADR 0015). The last two carry Retry-After.", body = ProblemDoc, content_type = PROBLEM),
    ),
)]
pub(crate) async fn create(
    State(gateway): State<Services>,
    caller: Account,
    IdempotencyKey(idempotency_key): IdempotencyKey,
    body: Checked<Application>,
) -> Result<Response, Problem> {
    caller.may_apply_for(&body.value)?;
    let account = caller.account;
    let body_hash: [u8; 32] = Sha256::digest(&body.raw).into();
    let idempotency_key = idempotency_key.map(|key| gateway.owners.scoped(&account, &key));
    let checkpoint = body.value.checkpoint.clone();
    if let Some(key) = &idempotency_key
        && let Some((hash, id)) = gateway.idempotency.get(key)
    {
        if hash != body_hash {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "this Idempotency-Key was used with a different body",
            ));
        }
        // A replay answers what was answered, but never holds an indeterminate answer past
        // the Retry-After it gave: then the application is verified again (issue 10).
        if let Some(v) = gateway.pipeline.get(&id)
            && v.stands_at(gateway.pipeline.calendar().now())
        {
            let mut response = answer(&v);
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(response);
        }
    }
    // A replay above is free; a new verification counts against the caller and against
    // every person it names (issue 11).
    let now = gateway.pipeline.calendar().now().unix_timestamp();
    gateway
        .limits
        .check(Some(&account), &body.value, now)
        .await?;
    match gateway.pipeline.verify(body.value).await {
        Ok(v) => {
            gateway.owners.bind(&v.id, &account, &checkpoint);
            if let Some(key) = idempotency_key {
                gateway.idempotency.insert(key, (body_hash, v.id.clone()));
            }
            Ok(answer(&v))
        }
        Err(VerifyError::Undatable(Undatable(problems))) => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the application cannot be verified today",
        )
        .errors(
            problems
                .into_iter()
                .map(|p| (p.pointer, format!("{} ({})", p.detail, p.rule))),
        )),
        Err(e @ VerifyError::NoRuleSet(_)) => {
            Err(Problem::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
        }
        // The gateway's own capacity (ADR 0012): nothing was decided; come back soon.
        Err(e @ VerifyError::Overloaded { retry_after_s }) => {
            Err(Problem::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
                .retry_after(Some(retry_after_s)))
        }
        // No decision is answered before its audit record is committed (ADR 0015).
        Err(VerifyError::AuditUnavailable(e)) => {
            Err(Problem::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
                .retry_after(Some(e.retry_after_s)))
        }
    }
}

/// A verification decided earlier, for the account that asked for it
///
/// Readable by the account it was asked for (the applicant, or the registrar acting for it)
/// and by officers at its checkpoint (P4); to anyone else it does not exist.
#[utoipa::path(
    get,
    path = "/v1/verifications/{id}",
    operation_id = "get_verification",
    tag = "verifications",
    security(("caller" = [])),
    params(("id" = String, Path, format = "uuid", description = "The verification's id, as `POST /v1/verifications` answered it")),
    responses(
        (status = 200, description = "The verification as first returned.", body = VerificationDoc),
        (status = 404, description = "No verification with this id for this caller.", body = ProblemDoc, content_type = PROBLEM),
        crate::openapi::CallerRefusals,
    ),
)]
pub(crate) async fn get(
    State(gateway): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let readable = gateway.owners.may_read(&id, &caller);
    match gateway.pipeline.get(&id).filter(|_| readable) {
        Some(v) => Ok(Json(&*v).into_response()),
        // The same answer whether the id is unknown or someone else's: existence is not
        // confirmed.
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "no verification with this id",
        )),
    }
}

fn answer(v: &Verification) -> Response {
    let mut response = Json(v).into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/verifications/{}", v.id)) {
        headers.insert(header::LOCATION, location);
    }
    if v.decision == Decision::Indeterminate
        && let Some(s) = v.retry_after_s
    {
        headers.insert(header::RETRY_AFTER, s.into());
    }
    response
}

/// The check digit of a Kazakhstan IIN/BIN: weights 1..11 mod 11; if that gives 10, weights
/// 3..11,1,2 mod 11; 10 again means the number is never issued.
pub fn iin_check_digit_ok(iin: &str) -> bool {
    let digits: Vec<u32> = iin.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != 12 || iin.len() != 12 {
        return false;
    }
    let weighted = |weights: [u32; 11]| {
        digits[..11]
            .iter()
            .zip(weights)
            .map(|(d, w)| d * w)
            .sum::<u32>()
            % 11
    };
    let mut control = weighted([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    if control == 10 {
        control = weighted([3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]);
    }
    control != 10 && control == digits[11]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iin_check_digits() {
        // Built from the algorithm by hand: 1*9+2*0+3*0+4*2+5*1+6*0+7*3+8*0+9*0+10*0+11*1 = 54 → 54 mod 11 = 10
        // → second weights: 3*9+4*0+5*0+6*2+7*1+8*0+9*3+10*0+11*0+1*0+2*1 = 75 → 75 mod 11 = 9.
        assert!(iin_check_digit_ok("900210300019"));
        assert!(!iin_check_digit_ok("900210300018"));
        assert!(!iin_check_digit_ok("90021030001"));
        assert!(!iin_check_digit_ok("90021030001X"));
    }
}
