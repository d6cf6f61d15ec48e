//! The verification pipeline (P17–P20): pick the rule set (P19), plan the checks that
//! apply, run them concurrently behind the cache and the upstream protection, and decide.
//!
//! The decision itself is pure domain (`kezek_domain::decision`, table-tested there); the
//! pipeline adds when to retry an indeterminate one, from the registries' breakers.
//!
//! Architecture invariant: unknown is never yes — an error, a timeout, an open breaker or a
//! missing adapter on a blocking check makes the verification indeterminate. No decision is
//! answered before its audit record is committed (ADR 0015; [`Record`] says the one
//! exception). No HTTP server.

pub mod cache;
pub mod metrics;
pub mod upstream;

use crate::metrics::Metrics;
use cache::{Evidence, FindingCache, Lookup};
use kezek_catalogue::rules::CheckRule;
use kezek_catalogue::{AdapterSet, Catalogue};
use kezek_domain::clock::{Calendar, Undatable};
use kezek_domain::decision::{Decided, decide};
use kezek_domain::rules::DriverScope;
use kezek_domain::{
    Application, ApproxBytes, CheckError, CheckOutcome, CheckResult, Decision, Verification,
    Verifier, VerifierError, VerifyFuture,
};
use kezek_host::AdapterHost;
use kezek_store::audit::{AuditUnavailable, Entry};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tracing::Instrument;
use upstream::{UpstreamSettings, Upstreams};

/// Retry advice when a registry failed but its breaker is closed.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);
/// When to come back after the gateway was at capacity: slots free within a registry
/// round trip, so soon.
const OVERLOAD_RETRY_AFTER: Duration = Duration::from_secs(2);
/// Memory for cached findings (issue 11: caches bounded by bytes, so memory plateaus under
/// any number of distinct applications). A finding is a few hundred bytes: about 200 000.
pub const FINDING_CACHE_BYTES: u64 = 64 << 20;
/// Memory for recent verifications kept for `GET /v1/verifications/{id}` (a day at most):
/// a verification is a few kilobytes, so the last 20 000–40 000 under a burst.
pub const RECENT_BYTES: u64 = 128 << 20;
/// How long past its deadline a call may take to report why it stopped.
const REPORT_GRACE: Duration = Duration::from_millis(50);

pub struct Pipeline {
    catalogue: Arc<Catalogue>,
    host: Arc<AdapterHost>,
    pub cache: FindingCache,
    upstreams: Upstreams,
    /// Recent verifications for `GET /v1/verifications/{id}`.
    recent: moka::sync::Cache<String, Arc<Verification>>,
    metrics: Arc<Metrics>,
    audit: Option<kezek_store::audit::AuditLog>,
    calendar: Arc<Calendar>,
    /// The adapter set generation the cache was last pruned for.
    pruned_for: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("no rule set is in effect on {0}")]
    NoRuleSet(String),
    #[error(transparent)]
    Undatable(#[from] Undatable),
    /// A blocking check found no free sandbox within its deadline: nothing was decided.
    #[error("the gateway is at capacity; retry in {retry_after_s} s")]
    Overloaded { retry_after_s: u64 },
    /// The audit log cannot take the record (full, or its store failing): the decision, if
    /// one was made, is not answered (ADR 0015).
    #[error(transparent)]
    AuditUnavailable(#[from] AuditUnavailable),
}

/// When a decision may be answered, relative to its audit record (ADR 0015).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// Once the record is committed. The booking engine's verifications: a booking rests
    /// on the decision.
    Committed,
    /// Once committed too, unless the decision was made wholly from cached findings whose
    /// own exchanges are committed already: such a decision adds no evidence, so its record
    /// is only queued (in order, never dropped; a crash can lose the last instants of them).
    CommittedUnlessCached,
}

impl Pipeline {
    pub fn with(
        catalogue: Arc<Catalogue>,
        host: Arc<AdapterHost>,
        metrics: Arc<Metrics>,
        upstream: UpstreamSettings,
        calendar: Arc<Calendar>,
    ) -> Self {
        Self {
            catalogue,
            host,
            cache: FindingCache::new(FINDING_CACHE_BYTES),
            upstreams: Upstreams::new(upstream),
            recent: moka::sync::Cache::builder()
                .max_capacity(RECENT_BYTES)
                .weigher(|id: &String, v: &Arc<Verification>| {
                    let bytes = cache::ENTRY_OVERHEAD + id.len() + v.approx_bytes();
                    u32::try_from(bytes).unwrap_or(u32::MAX)
                })
                .time_to_live(Duration::from_secs(24 * 3600))
                .build(),
            metrics,
            audit: None,
            calendar,
            pruned_for: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Records every decision and registry exchange in this audit log.
    pub fn with_audit(mut self, audit: Option<kezek_store::audit::AuditLog>) -> Self {
        self.audit = audit;
        self
    }

    /// The checkpoints' calendars on the gateway's clock.
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// A verification decided earlier, by id.
    pub fn get(&self, id: &str) -> Option<Arc<Verification>> {
        self.recent.get(id)
    }

    /// Verifies for a caller of the API: see [`Record::CommittedUnlessCached`].
    pub async fn verify(&self, application: Application) -> Result<Arc<Verification>, VerifyError> {
        self.verify_recorded(application, Record::CommittedUnlessCached)
            .await
    }

    pub async fn verify_recorded(
        &self,
        application: Application,
        record: Record,
    ) -> Result<Arc<Verification>, VerifyError> {
        let started = Instant::now();
        let set = self.catalogue.snapshot();
        self.prune_cache(&set);
        // One reading of the clock decides the dates, the rule set and the decision's stamp.
        let now = self.calendar.now();
        self.calendar.check_dates(&application, now)?;
        // The edition in force on the day of the crossing applies (issue 12 item 4): an
        // amendment that takes effect before the truck travels is the law it crosses under.
        // The travel date is a calendar date by now (check_dates), so it compares as ISO text.
        let rules = set
            .rules
            .in_effect(&application.travel_date)
            .ok_or_else(|| VerifyError::NoRuleSet(application.travel_date.clone()))?;
        // No registry is asked for a decision that could not be recorded.
        if let Some(audit) = &self.audit {
            audit.admit()?;
        }
        let id = uuid::Uuid::new_v4().to_string();
        let label = rules.label(application.owner.residency);
        let span = tracing::info_span!("verification", id = %id, rule_set = %label, checks = tracing::field::Empty, decision = tracing::field::Empty);
        let mut plan = rules.plan(&application);
        span.record("checks", plan.len());

        let deadline = tokio::time::Instant::now() + Duration::from_millis(rules.deadline_ms);
        let job = Job {
            deadline,
            fingerprint: cache::Fingerprint::of(&application),
            app: Arc::new(application),
            rule_set: format!("{}@{}", rules.id, rules.version),
            set: set.clone(),
            exchanges: Exchanges::default(),
            residents_only: Default::default(),
        };
        // The gate first (P18.1: consent, existence, residency), alone; the rest only once
        // every gate check passed, so nothing else is asked about a person who has not
        // consented or who claims a residency the registries deny (P16, P19, ADR 0011).
        let (gate, rest): (Vec<&CheckRule>, Vec<&CheckRule>) =
            plan.iter().partition(|rule| rule.gate);
        let mut results = self
            .run_checks(&job, &gate, deadline)
            .instrument(span.clone())
            .await;
        let gate_passed = results.iter().all(|(r, _)| {
            matches!(&r.outcome, CheckOutcome::Finding(f) if f.verdict == kezek_domain::Verdict::Pass)
        });
        if gate_passed {
            results.extend(
                self.run_checks(&job, &rest, deadline)
                    .instrument(span.clone())
                    .await,
            );
        } else {
            // Decided on the gate alone: the rest were never asked.
            plan = gate;
        }
        // The gateway's own lack of capacity decides nothing about the application: the
        // caller is told to come back, and no registry is blamed (issue 10).
        let overloaded = results.iter().any(|(r, _)| {
            r.blocking && matches!(&r.outcome, CheckOutcome::Error { error } if error.is_overload())
        });
        if overloaded {
            self.metrics.overloaded();
            tracing::warn!(parent: &span, "verification not decided: the gateway is at capacity");
            return Err(VerifyError::Overloaded {
                retry_after_s: OVERLOAD_RETRY_AFTER.as_secs(),
            });
        }

        let (results, evidence): (Vec<CheckResult>, Vec<Evidence>) = results.into_iter().unzip();
        let verification = self.decision(id, label, &plan, results, now);
        span.record("decision", tracing::field::debug(verification.decision));
        if let Err(e) = self
            .record(&verification, job.exchanges, &evidence, record)
            .await
        {
            tracing::warn!(parent: &span, error = %e, "verification decided but not answered: its audit record was not committed");
            return Err(e.into());
        }
        self.metrics
            .verification(verification.decision, started.elapsed());
        tracing::info!(parent: &span, decision = ?verification.decision, duration_ms = started.elapsed().as_millis() as u64, "verification decided");
        // Shared with the recent-verifications cache, not copied: a copy of every check's
        // result was a tenth of a cached verification's cost.
        let verification = Arc::new(verification);
        self.recent
            .insert(verification.id.clone(), verification.clone());
        Ok(verification)
    }

    /// Runs `rules` concurrently under the verification's deadline. A check that only
    /// notifies (P19) also keeps to its own, shorter deadline, so a slow notice registry
    /// never holds up a decision; late, it is reported not checked.
    async fn run_checks(
        &self,
        job: &Job,
        rules: &[&CheckRule],
        deadline: tokio::time::Instant,
    ) -> Vec<(CheckResult, Evidence)> {
        let checks = rules.iter().map(|&rule| async move {
            // The call itself keeps to the deadline and says why it stopped (a registry too
            // slow, or no sandbox free); this bound only catches what overruns it, such as
            // a retry, so it allows the call a moment to report first.
            let (deadline, why) = if rule.blocking {
                (
                    deadline + REPORT_GRACE,
                    "the verification's deadline passed",
                )
            } else {
                (
                    deadline.min(tokio::time::Instant::now() + rule.deadline()),
                    "a notice-only check keeps to its own deadline",
                )
            };
            match tokio::time::timeout_at(deadline, self.run_check(job, rule)).await {
                Ok(result) => result,
                Err(_) => (
                    self.unanswered(&job.set, rule, CheckError::Timeout(why.into())),
                    Evidence::default(),
                ),
            }
        });
        futures::future::join_all(checks).await
    }

    async fn run_check(&self, job: &Job, rule: &CheckRule) -> (CheckResult, Evidence) {
        let Job {
            set,
            rule_set,
            exchanges,
            ..
        } = job;
        let (app, fingerprint) = job.as_seen_by(rule);
        let started = Instant::now();
        let check = &rule.check;
        let Some(adapter) = set.for_check(check) else {
            return (
                self.unanswered(set, rule, CheckError::AdapterMissing(check.to_string())),
                Evidence::default(),
            );
        };
        let registry = adapter.descriptor.registry.clone();
        let adapter_id = adapter.descriptor.id.as_str();
        let adapter_label = &format!("{}@{}", adapter.descriptor.id, adapter.descriptor.version);
        let span = tracing::info_span!(
            "check",
            check = %check,
            adapter = %adapter.descriptor.id,
            version = %adapter.descriptor.version,
            registry = %registry,
            outcome = tracing::field::Empty,
            cached = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let key = self.cache.key(
            check,
            &adapter.component_sha256,
            rule_set,
            &app.project(adapter.descriptor.reads),
            fingerprint,
        );
        // A miss runs the adapter on a task of its own, so the adapters of one verification
        // use every core; a hit costs no task at all.
        let call = self.upstreams.call(&adapter.descriptor.id, || {
            let (host, adapter, app) = (self.host.clone(), adapter.clone(), app.clone());
            let check = check.clone();
            // Every adapter call gets a correlation id of its own: the gateway requires a
            // unique messageId per message, and a fresh instance cannot remember the last.
            let remaining = job
                .deadline
                .saturating_duration_since(tokio::time::Instant::now());
            let (id, deadline) = (
                uuid::Uuid::new_v4().to_string(),
                rule.deadline().min(remaining),
            );
            async move {
                let outcome =
                    tokio::spawn(
                        async move { host.check(&adapter, &check, &app, &id, deadline).await },
                    )
                    .await
                    .map(|o| {
                        exchanges.record(&rule.check, adapter_label, &o.exchanges);
                        o.result
                    })
                    .unwrap_or_else(|e| Err(CheckError::Trapped(format!("internal error: {e}"))));
                self.metrics.registry_call(adapter_id, outcome.is_ok());
                outcome
            }
        });
        let (result, lookup, evidence) = self
            .cache
            .get_or_call(
                key,
                rule.cache_ttl(),
                &adapter.component_sha256,
                Evidence::default(),
                call,
            )
            .instrument(span.clone())
            .await;
        let cached = lookup == Lookup::Hit;
        let outcome = match result {
            Ok(finding) => CheckOutcome::Finding(finding),
            Err(error) => CheckOutcome::Error { error },
        };
        let label = match &outcome {
            CheckOutcome::Finding(f) => f.verdict.as_str(),
            CheckOutcome::Error { .. } => "error",
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        span.record("outcome", label);
        span.record("cached", cached);
        span.record("duration_ms", duration_ms);
        tracing::debug!(parent: &span, "check done");
        self.metrics.check(check, label, cached);
        let result = CheckResult {
            check: check.clone(),
            rule_id: rule.rule_id(),
            registry,
            adapter: format!("{}@{}", adapter.descriptor.id, adapter.descriptor.version),
            blocking: rule.blocking,
            outcome,
            cached,
            duration_ms,
        };
        (result, evidence)
    }

    fn unanswered(&self, set: &AdapterSet, rule: &CheckRule, error: CheckError) -> CheckResult {
        let adapter = set.for_check(&rule.check);
        CheckResult {
            check: rule.check.clone(),
            rule_id: rule.rule_id(),
            // Without an adapter, the registry the rule set names for the check.
            registry: adapter.map_or_else(
                || rule.definition.registry.clone(),
                |a| a.descriptor.registry.clone(),
            ),
            adapter: adapter
                .map(|a| format!("{}@{}", a.descriptor.id, a.descriptor.version))
                .unwrap_or_default(),
            blocking: rule.blocking,
            outcome: CheckOutcome::Error { error },
            cached: false,
            duration_ms: 0,
        }
    }

    /// The decision (`domain::decision`), with when to retry and when it was made.
    fn decision(
        &self,
        id: String,
        rule_set: String,
        plan: &[&CheckRule],
        checks: Vec<CheckResult>,
        now: time::OffsetDateTime,
    ) -> Verification {
        let Decided {
            decision,
            reasons,
            notices,
            unanswered,
        } = decide(plan, &checks);
        let retry_after_s = (decision == Decision::Indeterminate).then(|| {
            unanswered
                .iter()
                .map(|u| {
                    let adapter = checks
                        .iter()
                        .find(|c| c.check == u.check)
                        .map(|c| c.adapter.split('@').next().unwrap_or("").to_owned());
                    adapter
                        .and_then(|a| self.upstreams.open_for(&a))
                        .unwrap_or(DEFAULT_RETRY_AFTER)
                        .as_secs()
                        .max(1)
                })
                .max()
                .unwrap_or(DEFAULT_RETRY_AFTER.as_secs())
        });
        Verification {
            id,
            decision,
            rule_set,
            reasons,
            notices,
            unanswered,
            retry_after_s,
            checks,
            decided_at: now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        }
    }

    /// Records the decision and the exchanges behind it in the audit log, and returns once
    /// the record may be relied on ([`Record`]). Then the findings this verification asked
    /// a registry for become evidence that later cache-only decisions may rest on.
    async fn record(
        &self,
        v: &Verification,
        exchanges: Exchanges,
        evidence: &[Evidence],
        record: Record,
    ) -> Result<(), AuditUnavailable> {
        let Some(audit) = &self.audit else {
            return Ok(());
        };
        let entries = audit_entries(v, exchanges);
        let cache_only =
            v.checks.iter().all(|c| c.cached) && evidence.iter().all(|e| e.load(Ordering::Acquire));
        if record == Record::CommittedUnlessCached && cache_only {
            audit.enqueue(entries)?;
            // A cache-only verification never waits on anything: give the writer its turn,
            // or callers in a tight loop starve it and fill the queue.
            tokio::task::yield_now().await;
            return Ok(());
        }
        audit.commit(entries).await?;
        for (check, evidence) in v.checks.iter().zip(evidence) {
            if !check.cached {
                evidence.store(true, Ordering::Release);
            }
        }
        Ok(())
    }

    /// After a reload, drop cached findings of adapter builds that no longer run.
    fn prune_cache(&self, set: &AdapterSet) {
        use std::sync::atomic::Ordering;
        if self.pruned_for.swap(set.generation, Ordering::Relaxed) != set.generation {
            let keep: Vec<String> = set
                .adapters
                .values()
                .map(|a| a.component_sha256.clone())
                .collect();
            self.cache.retain_builds(&keep);
        }
    }
}

/// The booking engine's way in: its decisions are answered only once recorded.
impl Verifier for Pipeline {
    fn verify(&self, application: Application) -> VerifyFuture<'_> {
        Box::pin(async move {
            self.verify_recorded(application, Record::Committed)
                .await
                .map_err(|e| match e {
                    VerifyError::Undatable(problems) => VerifierError::Undatable(problems),
                    other @ (VerifyError::NoRuleSet(_) | VerifyError::AuditUnavailable(_)) => {
                        VerifierError::Unavailable(other.to_string())
                    }
                    VerifyError::Overloaded { retry_after_s } => {
                        VerifierError::Overloaded { retry_after_s }
                    }
                })
        })
    }
}

/// The decision and the exchanges behind it, as audit entries: ids, versions, outcomes,
/// reason codes and hashes — no personal data. Serialized here, on the verification's own
/// task, from borrowed fields.
fn audit_entries(v: &Verification, exchanges: Exchanges) -> Vec<Entry> {
    #[derive(serde::Serialize)]
    struct CheckRecord<'a> {
        adapter: &'a str,
        cached: bool,
        check: &'a kezek_domain::CheckId,
        outcome: &'a str,
        reason: std::borrow::Cow<'a, str>,
    }
    #[derive(serde::Serialize)]
    #[serde(rename_all = "kebab-case")]
    struct DecisionRecord<'a> {
        checks: Vec<CheckRecord<'a>>,
        decided_at: &'a str,
        decision: Decision,
        rule_set: &'a str,
        verification: &'a str,
    }
    #[derive(serde::Serialize)]
    struct ExchangeRecord<'a> {
        exchange: &'a serde_json::Value,
        verification: &'a str,
    }
    let checks = v
        .checks
        .iter()
        .map(|c| {
            let (outcome, reason) = match &c.outcome {
                CheckOutcome::Finding(f) => (f.verdict.as_str(), f.reason_code.as_str().into()),
                CheckOutcome::Error { error } => ("error", error.to_string().into()),
            };
            CheckRecord {
                adapter: &c.adapter,
                cached: c.cached,
                check: &c.check,
                outcome,
                reason,
            }
        })
        .collect();
    let mut entries: Vec<Entry> = exchanges
        .0
        .into_inner()
        .unwrap_or_default()
        .iter()
        .map(|exchange| {
            Entry::new(
                "exchange",
                &ExchangeRecord {
                    exchange,
                    verification: &v.id,
                },
            )
        })
        .collect();
    entries.push(Entry::new(
        "decision",
        &DecisionRecord {
            checks,
            decided_at: &v.decided_at,
            decision: v.decision,
            rule_set: &v.rule_set,
            verification: &v.id,
        },
    ));
    entries
}

/// What every check of one verification shares.
struct Job {
    /// When the verification must be decided; no call runs (or waits for a sandbox) past it.
    deadline: tokio::time::Instant,
    set: Arc<AdapterSet>,
    app: Arc<Application>,
    fingerprint: cache::Fingerprint,
    /// "order-707@2023.1": part of every cache key.
    rule_set: String,
    exchanges: Exchanges,
    /// The application without its non-resident drivers, made once for every check whose
    /// rule is for residents only.
    residents_only: std::sync::OnceLock<Option<(Arc<Application>, cache::Fingerprint)>>,
}

impl Job {
    /// The application as `rule`'s check sees it, and its fingerprint: a check made only for
    /// some drivers sees only them (P19, ADR 0016) and is cached under what it saw.
    fn as_seen_by(&self, rule: &CheckRule) -> (&Arc<Application>, &cache::Fingerprint) {
        let narrowed = match rule.drivers {
            DriverScope::All => None,
            DriverScope::Residents => self
                .residents_only
                .get_or_init(|| {
                    rule.narrowed(&self.app).map(|narrow| {
                        let fingerprint = cache::Fingerprint::of(&narrow);
                        (Arc::new(narrow), fingerprint)
                    })
                })
                .as_ref(),
        };
        match narrowed {
            Some((app, fingerprint)) => (app, fingerprint),
            None => (&self.app, &self.fingerprint),
        }
    }
}

/// Registry exchanges made during one verification, for the audit log.
#[derive(Debug, Default)]
struct Exchanges(std::sync::Mutex<Vec<serde_json::Value>>);

impl Exchanges {
    fn record(
        &self,
        check: &kezek_domain::CheckId,
        adapter: &str,
        exchanges: &[kezek_egress::Exchange],
    ) {
        let mut all = self.0.lock().expect("exchanges");
        for e in exchanges {
            all.push(serde_json::json!({
                "check": check,
                "adapter": adapter,
                "endpoint": e.endpoint,
                "request-sha256": e.request_sha256,
                "response-sha256": e.response_sha256,
                "status": e.status,
                "duration-us": e.duration.as_micros() as u64,
            }));
        }
    }
}
