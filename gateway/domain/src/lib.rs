//! Kezek's domain: typed values shared by the pipeline, the host and the booking engine;
//! the one [`clock`]; the rule sets and their plan ([`rules`], P19); the [`decision`] a
//! verification's answers amount to (P19, P20); plate and VIN identifiers ([`plate`], P21).
//!
//! JSON spellings are kebab-case, as in the WIT contract and the scenario files: one
//! spelling of every field everywhere.
//!
//! **Architecture invariant:** this crate depends on serde, time and thiserror only. Nothing
//! here does I/O or knows HTTP, SQL, JSON Schema or wasmtime: the API layer parses into these
//! types, the host converts them to and from the WIT bindings. `tests/e2e/layout.rs` fails if
//! the dependencies grow.

pub mod cargo;
pub mod clock;
pub mod decision;
pub mod parts;
pub mod plate;
pub mod residency;
pub mod rules;

pub use parts::{Part, Projection};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An application to book (Order 707 P16): who, what, where and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Application {
    pub owner: Owner,
    /// Trusted drivers (P16.2); every one is checked.
    pub drivers: Vec<Driver>,
    pub vehicle: Vehicle,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailer: Option<Trailer>,
    pub cargo: Cargo,
    /// Checkpoint code from the Order 707 appendix.
    pub checkpoint: String,
    /// ISO 8601 date of the planned crossing.
    pub travel_date: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Residency {
    Resident,
    NonResident,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartyKind {
    NaturalPerson,
    LegalEntity,
}

/// P16.3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Owner {
    pub residency: Residency,
    pub kind: PartyKind,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iin_bin: Option<String>,
    pub country: String,
}

/// P16.4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IdentityDocument {
    pub kind: String,
    pub issuing_country: String,
    pub number: String,
    pub expires: String,
}

/// P16.4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Driver {
    pub residency: Residency,
    pub full_name: String,
    pub birth_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iin: Option<String>,
    pub phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub document: IdentityDocument,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VehicleKind {
    Truck,
    TractorUnit,
    AgriculturalMachine,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Vehicle {
    pub kind: VehicleKind,
    pub country: String,
    pub plate: String,
    pub vin: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Trailer {
    pub country: String,
    pub plate: String,
    pub vin: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CargoClass {
    General,
    Animal,
    Plant,
    Perishable,
    Dangerous,
    Empty,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Cargo {
    pub classes: Vec<CargoClass>,
    #[serde(default)]
    pub hs_codes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declaration_number: Option<String>,
    #[serde(default)]
    pub description: String,
}

/// One of the 18 automatic checks of P18.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct CheckId(u8);

impl CheckId {
    pub const ALL: std::ops::RangeInclusive<u8> = 1..=18;

    pub fn new(n: u8) -> Option<Self> {
        Self::ALL.contains(&n).then_some(Self(n))
    }

    pub fn number(self) -> u8 {
        self.0
    }

    /// The rule behind the check, as REQUIREMENTS.md cites it: "P18.3".
    pub fn rule_id(self) -> String {
        format!("P18.{}", self.0)
    }
}

impl TryFrom<u8> for CheckId {
    type Error = String;
    fn try_from(n: u8) -> Result<Self, String> {
        Self::new(n).ok_or_else(|| format!("P18 has checks 1 to 18, not {n}"))
    }
}

impl From<CheckId> for u8 {
    fn from(c: CheckId) -> u8 {
        c.0
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P18.{}", self.0)
    }
}

/// Reads a check as the rules cite it ("P18.13"), the form the `kezek:registry@1.1.0`
/// contract carries; the inverse of `Display`.
impl std::str::FromStr for CheckId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let n = s
            .strip_prefix("P18.")
            .filter(|n| !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u8>().ok())
            .and_then(Self::new);
        n.ok_or_else(|| format!("{s:?} is not a P18 check (\"P18.1\" to \"P18.18\")"))
    }
}

/// Which parts of the application an adapter reads (it hashes into the cache key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RequestFields {
    pub owner: bool,
    pub drivers: bool,
    pub vehicle: bool,
    pub trailer: bool,
    pub cargo: bool,
    pub checkpoint: bool,
    pub travel_date: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    Notice,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Notice => "notice",
        }
    }
}

/// What a registry said, in words an officer and a driver both understand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Finding {
    pub verdict: Verdict,
    pub reason_code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
}

/// Why a check produced no finding. None of these is ever a pass (DESIGN.md: unknown is
/// never yes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum CheckError {
    /// Reported by the adapter: the registry could not be asked or said it is unavailable.
    #[error("registry unavailable: {0}")]
    Unavailable(String),
    /// Reported by the adapter: the registry's answer could not be understood.
    #[error("registry answer not understood: {0}")]
    BadResponse(String),
    /// Reported by the adapter: the application cannot be checked as given.
    #[error("application rejected by the adapter: {0}")]
    RejectedInput(String),
    /// The registry, or the whole call, took too long.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The adapter trapped (a panic, an out-of-bounds access, an unreachable).
    #[error("adapter trapped: {0}")]
    Trapped(String),
    /// The adapter used more CPU than its budget (epoch deadline).
    #[error("adapter exceeded its CPU budget of {0} ms")]
    CpuBudgetExceeded(u64),
    /// The adapter tried to grow past its memory cap.
    #[error("adapter exceeded its memory cap of {0} MiB")]
    MemoryCapExceeded(u64),
    /// No adapter serves this check.
    #[error("no adapter is loaded for {0}")]
    AdapterMissing(String),
    /// The gateway had no free sandbox for the call within its deadline: the gateway's own
    /// capacity, not the registry's or the adapter's fault (issue 10).
    #[error("gateway at capacity: {0}")]
    Overloaded(String),
}

impl CheckError {
    /// Whether the registry may answer if asked again soon (outages, timeouts), as opposed
    /// to a fault that repeats until someone fixes an adapter or the input. The gateway's
    /// own overload is not the registry's: see [`CheckError::is_overload`].
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Timeout(_))
    }

    /// Whether the failure is the gateway's own capacity: the verification is not decided
    /// at all (503 with Retry-After), rather than blamed on a registry.
    pub fn is_overload(&self) -> bool {
        matches!(self, Self::Overloaded(_))
    }
}

/// The pipeline's answer for one application (P20): may it book?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Every blocking check passed; notices may still be attached (P19).
    Approved,
    /// A blocking check failed: the reasons say which and under which rule (P20).
    Refused,
    /// A blocking check could not be answered: never approved; ask again later.
    Indeterminate,
}

/// How one check of a verification ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CheckResult {
    pub check: CheckId,
    /// "P18.3".
    pub rule_id: String,
    pub registry: String,
    /// "licence-category@1.0.0", or empty when no adapter serves the check.
    pub adapter: String,
    /// Whether a fail (and, per the rule set, a notice) refuses the application.
    pub blocking: bool,
    #[serde(flatten)]
    pub outcome: CheckOutcome,
    pub cached: bool,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum CheckOutcome {
    Finding(Finding),
    Error { error: CheckError },
}

/// A verification: the decision, the reasons behind it, every check, and the notices
/// for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Verification {
    pub id: String,
    pub decision: Decision,
    /// Rule set id, version and set that decided, e.g. "order-707@2023.1/resident".
    pub rule_set: String,
    /// Why it was refused: every blocking fail (P20).
    pub reasons: Vec<Reason>,
    /// What the user is told without being refused (P19: residents' fines and toll debt).
    pub notices: Vec<Reason>,
    /// Blocking checks that could not be answered: why the decision is indeterminate.
    pub unanswered: Vec<Unanswered>,
    /// For `indeterminate`: seconds after which asking again may succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
    pub checks: Vec<CheckResult>,
    /// RFC 3339 time of the decision.
    pub decided_at: String,
}

/// Roughly the bytes a value holds in memory — its own size plus the text it owns — so
/// caches can be bounded by bytes, not by count (issue 11). An estimate that grows with the
/// value; allocator overhead is not counted.
pub trait ApproxBytes {
    fn approx_bytes(&self) -> usize;
}

impl<T: ApproxBytes> ApproxBytes for Vec<T> {
    fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.iter().map(ApproxBytes::approx_bytes).sum::<usize>()
    }
}

impl ApproxBytes for Finding {
    fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.reason_code.len()
            + self.message.len()
            + self.registry_reference.as_ref().map_or(0, String::len)
            + self.valid_until.as_ref().map_or(0, String::len)
    }
}

impl ApproxBytes for CheckError {
    fn approx_bytes(&self) -> usize {
        let text = match self {
            CheckError::Unavailable(t)
            | CheckError::BadResponse(t)
            | CheckError::RejectedInput(t)
            | CheckError::Timeout(t)
            | CheckError::Trapped(t)
            | CheckError::AdapterMissing(t)
            | CheckError::Overloaded(t) => t.len(),
            CheckError::CpuBudgetExceeded(_) | CheckError::MemoryCapExceeded(_) => 0,
        };
        std::mem::size_of::<Self>() + text
    }
}

impl ApproxBytes for CheckResult {
    fn approx_bytes(&self) -> usize {
        let outcome = match &self.outcome {
            CheckOutcome::Finding(f) => f.approx_bytes(),
            CheckOutcome::Error { error } => error.approx_bytes(),
        };
        std::mem::size_of::<Self>()
            + self.rule_id.len()
            + self.registry.len()
            + self.adapter.len()
            + outcome
    }
}

impl ApproxBytes for Reason {
    fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.rule_id.len()
            + self.registry.len()
            + self.reason_code.len()
            + self.message.len()
    }
}

impl ApproxBytes for Unanswered {
    fn approx_bytes(&self) -> usize {
        self.rule_id.len() + self.registry.len() + self.error.approx_bytes()
    }
}

impl ApproxBytes for Verification {
    fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.id.len()
            + self.rule_set.len()
            + self.decided_at.len()
            + self.reasons.approx_bytes()
            + self.notices.approx_bytes()
            + self.unanswered.approx_bytes()
            + self.checks.approx_bytes()
    }
}

impl Verification {
    /// Whether this answer still stands at `now`, for a replay by its Idempotency-Key: an
    /// approval or a refusal does; an indeterminate answer only until its Retry-After has
    /// passed — after that, asking again is what the answer itself told the caller to do
    /// (issue 10). An unreadable stamp stands for nothing.
    pub fn stands_at(&self, now: time::OffsetDateTime) -> bool {
        if self.decision != Decision::Indeterminate {
            return true;
        }
        let Ok(decided) = time::OffsetDateTime::parse(
            &self.decided_at,
            &time::format_description::well_known::Rfc3339,
        ) else {
            return false;
        };
        let retry_after = time::Duration::seconds(self.retry_after_s.unwrap_or(0) as i64);
        now < decided + retry_after
    }
}

/// One finding that refuses or notifies, with the rule behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Reason {
    pub check: CheckId,
    /// "P18.3", or "P18.10, P19" where the rule set made a notice blocking.
    pub rule_id: String,
    pub registry: String,
    pub reason_code: String,
    pub message: String,
}

/// A check that produced no answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Unanswered {
    pub check: CheckId,
    pub rule_id: String,
    pub registry: String,
    pub error: CheckError,
}

/// Why a [`Verifier`] gave no decision: the applicant's mistake, or a verifier that could
/// not run. Never a decision: unknown is never yes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifierError {
    #[error(transparent)]
    Undatable(#[from] clock::Undatable),
    #[error("the verification could not run: {0}")]
    Unavailable(String),
    /// The gateway is at capacity; asking again after `retry_after_s` may succeed.
    #[error("the gateway is at capacity; retry in {retry_after_s} s")]
    Overloaded { retry_after_s: u64 },
}

/// A verification in flight.
pub type VerifyFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Verification, VerifierError>> + Send + 'a>,
>;

/// What the booking engine needs from the verification pipeline (P17, P20).
pub trait Verifier: Send + Sync + 'static {
    fn verify(&self, application: Application) -> VerifyFuture<'_>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// Issue 10: an Idempotency-Key replays an answer; an indeterminate one only until its
    /// Retry-After has passed, decided ones always.
    #[test]
    fn a_replayed_answer_stands_until_its_retry_after() {
        let decided_at = datetime!(2030-01-01 00:00 UTC);
        let check = |decision: Decision, retry_after_s: Option<u64>, later_s: i64, stands: bool| {
            let v = Verification {
                id: "v".into(),
                decision,
                rule_set: "r".into(),
                reasons: vec![],
                notices: vec![],
                unanswered: vec![],
                retry_after_s,
                checks: vec![],
                decided_at: decided_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap(),
            };
            let now = decided_at + time::Duration::seconds(later_s);
            assert_eq!(
                v.stands_at(now),
                stands,
                "{decision:?} {retry_after_s:?} +{later_s}s"
            );
        };
        check(Decision::Approved, None, 86_400, true);
        check(Decision::Refused, None, 86_400, true);
        check(Decision::Indeterminate, Some(30), 0, true);
        check(Decision::Indeterminate, Some(30), 29, true);
        check(Decision::Indeterminate, Some(30), 30, false);
        check(Decision::Indeterminate, Some(30), 3_600, false);
        check(Decision::Indeterminate, None, 0, false);
    }

    /// P18: the 1.1.0 contract names checks as the rules cite them; anything else is refused
    /// with the accepted form, never read as some other check.
    #[test]
    fn a_check_reads_as_the_rules_cite_it() {
        for (text, expect) in [
            ("P18.1", Some(1)),
            ("P18.13", Some(13)),
            ("P18.18", Some(18)),
            ("P18.0", None),
            ("P18.19", None),
            ("P18.013", None),
            ("P18.+3", None),
            ("p18.3", None),
            ("P19.3", None),
            ("13", None),
            ("", None),
        ] {
            let parsed = text.parse::<CheckId>();
            assert_eq!(parsed.as_ref().ok().map(|c| c.number()), expect, "{text:?}");
            if let Ok(check) = parsed {
                assert_eq!(check.to_string(), text);
            } else {
                assert!(parsed.unwrap_err().contains("P18.1"), "{text:?}");
            }
        }
    }
}
