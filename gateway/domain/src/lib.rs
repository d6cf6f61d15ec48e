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
pub mod device;
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

/// A registry check, named by a string id: `P18.3` for the third automatic check of Order
/// 707 P18, or a later amendment's own (`O505.ADR`). What a check is — its title, the rule it
/// cites, its registry — is data in the rule-set file's catalogue (ADR 0018); this is only
/// its name. Cheap to clone (one `Arc`).
///
/// An id is a capital letter, then letters and digits, then one or more `.`-separated
/// segments of letters, digits and `-`; at most [`CheckId::MAX_LEN`] bytes
/// (`^[A-Z][A-Za-z0-9]*(\.[A-Za-z0-9-]+)+$`, as in the schemas). Ordered naturally:
/// `P18.2` before `P18.10`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CheckId(std::sync::Arc<str>);

/// Why a text is not a check id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a check id: {why} (a check id looks like \"P18.3\" or \"O505.ADR\")")]
pub struct BadCheckId {
    text: String,
    why: &'static str,
}

impl CheckId {
    pub const MAX_LEN: usize = 64;

    /// The check P18.n of Order 707, for n in 1..=18: the only checks the frozen WIT
    /// `kezek:registry@1.0.0` can name (it speaks `u8` P18 numbers).
    pub fn p18(n: u8) -> Option<Self> {
        (1..=18)
            .contains(&n)
            .then(|| Self(format!("P18.{n}").into()))
    }

    /// n for P18.n, the number a `kezek:registry@1.0.0` adapter speaks; `None` for any
    /// other check, which such an adapter cannot serve.
    pub fn p18_number(&self) -> Option<u8> {
        let n: u8 = self.0.strip_prefix("P18.")?.parse().ok()?;
        // "P18.03" is a check of its own, not P18.3.
        (Self::p18(n)? == *self).then_some(n)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn validate(text: &str) -> Result<(), &'static str> {
        if text.is_empty() {
            return Err("it is empty");
        }
        if text.len() > Self::MAX_LEN {
            return Err("it is longer than 64 bytes");
        }
        let mut segments = text.split('.');
        let head = segments.next().unwrap_or_default();
        if !head.starts_with(|c: char| c.is_ascii_uppercase()) {
            return Err("it must start with a capital letter A-Z");
        }
        if !head.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err("before the first '.' only letters and digits may follow");
        }
        let mut rest = 0;
        for segment in segments {
            rest += 1;
            if segment.is_empty() {
                return Err("a '.' must be followed by letters, digits or '-'");
            }
            if !segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err("after a '.' only letters, digits and '-' may follow");
            }
        }
        if rest == 0 {
            return Err("it needs a '.' and a segment after it, as in P18.3");
        }
        Ok(())
    }
}

impl std::str::FromStr for CheckId {
    type Err = BadCheckId;
    fn from_str(text: &str) -> Result<Self, BadCheckId> {
        Self::validate(text).map_err(|why| BadCheckId {
            text: text.chars().take(Self::MAX_LEN + 1).collect(),
            why,
        })?;
        Ok(Self(text.into()))
    }
}

impl TryFrom<String> for CheckId {
    type Error = BadCheckId;
    fn try_from(text: String) -> Result<Self, BadCheckId> {
        text.parse()
    }
}

impl From<CheckId> for String {
    fn from(c: CheckId) -> String {
        c.0.as_ref().to_owned()
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Ord for CheckId {
    /// Segment by segment, numbers as numbers: P18.2 < P18.10 < P19.1. Ties (P18.03 and
    /// P18.3) fall back to the text, so the order agrees with equality.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let (mut a, mut b) = (self.0.split('.'), other.0.split('.'));
        loop {
            let order = match (a.next(), b.next()) {
                (None, None) => return self.0.cmp(&other.0),
                (None, Some(_)) => Less,
                (Some(_), None) => Greater,
                (Some(x), Some(y)) => match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    _ => x.cmp(y),
                },
            };
            if order != Equal {
                return order;
            }
        }
    }
}

impl PartialOrd for CheckId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Adapter manifests written before issue 12 name their checks by P18 number: `9` for
/// `P18.9`. Signed packages carry those bytes (ADR 0002), so a manifest may still say `9`
/// (ADR 0018); everything else names a check by its id. Use with
/// `#[serde(deserialize_with = "kezek_domain::p18_or_id::seq")]`.
pub mod p18_or_id {
    use super::CheckId;
    use serde::de::{self, Deserializer, Visitor};
    use std::fmt;

    struct OneCheck(CheckId);

    impl<'de> serde::Deserialize<'de> for OneCheck {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = CheckId;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a check id such as \"P18.3\", or a P18 number 1 to 18")
                }
                fn visit_u64<E: de::Error>(self, n: u64) -> Result<CheckId, E> {
                    u8::try_from(n)
                        .ok()
                        .and_then(CheckId::p18)
                        .ok_or_else(|| E::custom(format!("P18 has checks 1 to 18, not {n}")))
                }
                fn visit_i64<E: de::Error>(self, n: i64) -> Result<CheckId, E> {
                    Err(E::custom(format!("P18 has checks 1 to 18, not {n}")))
                }
                fn visit_str<E: de::Error>(self, text: &str) -> Result<CheckId, E> {
                    text.parse().map_err(E::custom)
                }
            }
            d.deserialize_any(V).map(OneCheck)
        }
    }

    /// A list of checks, each an id or a P18 number.
    pub fn seq<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<CheckId>, D::Error> {
        let checks: Vec<OneCheck> = serde::Deserialize::deserialize(d)?;
        Ok(checks.into_iter().map(|c| c.0).collect())
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
    Box<
        dyn std::future::Future<Output = Result<std::sync::Arc<Verification>, VerifierError>>
            + Send
            + 'a,
    >,
>;

/// What the booking engine needs from the verification pipeline (P17, P20).
pub trait Verifier: Send + Sync + 'static {
    fn verify(&self, application: Application) -> VerifyFuture<'_>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// Issue 12, ADR 0018: a check id is a string of the documented pattern; P18.n maps to
    /// the `u8` of WIT 1.0.0 and back, nothing else does.
    #[test]
    fn check_ids_parse_by_the_documented_pattern() {
        let check = |text: &str, ok: bool, p18: Option<u8>| {
            let parsed = text.parse::<CheckId>();
            assert_eq!(parsed.is_ok(), ok, "{text:?}: {parsed:?}");
            if let Ok(id) = parsed {
                assert_eq!(id.as_str(), text);
                assert_eq!(id.to_string(), text);
                assert_eq!(id.p18_number(), p18, "{text:?}");
                if let Some(n) = p18 {
                    assert_eq!(CheckId::p18(n), Some(id));
                }
            }
        };
        check("P18.1", true, Some(1));
        check("P18.3", true, Some(3));
        check("P18.18", true, Some(18));
        check("P18.19", true, None);
        check("P18.0", true, None);
        check("P18.03", true, None);
        check("P18.3.a", true, None);
        check("O505.ADR", true, None);
        check("O505.dangerous-cargo", true, None);
        check("P1.2.3-b", true, None);
        check("", false, None);
        check("P18", false, None);
        check("p18.3", false, None);
        check("18.3", false, None);
        check("P18.", false, None);
        check("P18..3", false, None);
        check(".3", false, None);
        check("P-18.3", false, None);
        check("P18.3 ", false, None);
        check("P18.3/x", false, None);
        check("P18.ß", false, None);
        check(&format!("P18.{}", "9".repeat(60)), true, None);
        check(&format!("P18.{}", "9".repeat(61)), false, None);
        assert_eq!(CheckId::p18(0), None);
        assert_eq!(CheckId::p18(19), None);
    }

    /// The error names the text and what is wrong with it.
    #[test]
    fn a_bad_check_id_says_why() {
        let err = "p18.3".parse::<CheckId>().unwrap_err().to_string();
        assert!(
            err.contains("\"p18.3\"") && err.contains("capital letter"),
            "{err}"
        );
        let err = "P18".parse::<CheckId>().unwrap_err().to_string();
        assert!(err.contains("needs a '.'"), "{err}");
    }

    /// Natural order: P18.2 before P18.10, so lists read as the law numbers them.
    #[test]
    fn check_ids_sort_naturally() {
        let mut ids: Vec<CheckId> = ["P18.10", "O505.ADR", "P18.2", "P18.1", "P18.03", "P18.3"]
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        ids.sort();
        let texts: Vec<&str> = ids.iter().map(CheckId::as_str).collect();
        assert_eq!(
            texts,
            ["O505.ADR", "P18.1", "P18.2", "P18.03", "P18.3", "P18.10"]
        );
    }

    /// Serde speaks the id as a string; a manifest's list also takes a P18 number (ADR 0018).
    #[test]
    fn check_ids_are_strings_in_json_and_numbers_only_where_kept() {
        let id: CheckId = serde_json::from_str("\"O505.ADR\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"O505.ADR\"");
        assert!(serde_json::from_str::<CheckId>("3").is_err());
        assert!(serde_json::from_str::<CheckId>("\"p18\"").is_err());

        #[derive(serde::Deserialize)]
        struct Listed {
            #[serde(deserialize_with = "p18_or_id::seq")]
            checks: Vec<CheckId>,
        }
        let check = |json: &str, expect: Result<&[&str], &str>| {
            let got = serde_json::from_str::<Listed>(json);
            match (got, expect) {
                (Ok(l), Ok(ids)) => {
                    let texts: Vec<&str> = l.checks.iter().map(CheckId::as_str).collect();
                    assert_eq!(texts, ids, "{json}");
                }
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{json}: {e}"),
                (got, _) => panic!("{json}: {:?}", got.map(|l| l.checks)),
            }
        };
        check(r#"{"checks": [9]}"#, Ok(&["P18.9"]));
        check(r#"{"checks": [9, "O505.ADR"]}"#, Ok(&["P18.9", "O505.ADR"]));
        check(r#"{"checks": ["P18.9"]}"#, Ok(&["P18.9"]));
        check(r#"{"checks": [19]}"#, Err("not 19"));
        check(r#"{"checks": [0]}"#, Err("not 0"));
        check(r#"{"checks": [-1]}"#, Err("not -1"));
        check(r#"{"checks": [300]}"#, Err("not 300"));
        check(r#"{"checks": ["adr"]}"#, Err("capital letter"));
        check(r#"{"checks": [true]}"#, Err("a check id"));
    }

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
}
