//! Test support: a scripted verifier (the clock tests move is `domain::clock::ManualClock`). Used by the booking tests
//! and benchmarks; the gateway wires the real pipeline.

use kezek_domain::{
    Application, CheckError, CheckId, CheckOutcome, CheckResult, Decision, Finding, Verdict,
    Verification, Verifier, VerifyFuture,
};
use std::sync::Mutex;

/// What the scripted verifier answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Script {
    Approve,
    /// Refuse with these failing checks: (P18 check number, reason code).
    Refuse(Vec<(u8, String)>),
    /// A registry did not answer.
    Indeterminate,
}

/// Answers by plate: a plate listed in `overrides` gets its script, others the default.
#[derive(Debug)]
pub struct ScriptedVerifier {
    default: Mutex<Script>,
    overrides: Mutex<Vec<(String, Script)>>,
    calls: std::sync::atomic::AtomicU64,
}

impl ScriptedVerifier {
    pub fn new(default: Script) -> Self {
        Self {
            default: Mutex::new(default),
            overrides: Mutex::new(Vec::new()),
            calls: Default::default(),
        }
    }

    pub fn set_default(&self, script: Script) {
        *self.default.lock().expect("lock") = script;
    }

    pub fn script_plate(&self, plate: &str, script: Script) {
        self.overrides
            .lock()
            .expect("lock")
            .push((plate.to_owned(), script));
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Verifier for ScriptedVerifier {
    fn verify(&self, application: Application) -> VerifyFuture<'_> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let script = self
            .overrides
            .lock()
            .expect("lock")
            .iter()
            .rev()
            .find(|(p, _)| *p == application.vehicle.plate)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| self.default.lock().expect("lock").clone());
        Box::pin(async move { Ok(std::sync::Arc::new(verification(&script))) })
    }
}

fn verification(script: &Script) -> Verification {
    let check = |n: u8, outcome: CheckOutcome| CheckResult {
        check: CheckId::p18(n).expect("1..=18"),
        rule_id: format!("P18.{n}"),
        registry: format!("registry-{n}"),
        adapter: format!("scripted-{n}@1.0.0"),
        blocking: true,
        outcome,
        cached: true,
        duration_ms: 0,
    };
    let (decision, checks, retry) = match script {
        Script::Approve => (
            Decision::Approved,
            vec![check(
                1,
                CheckOutcome::Finding(Finding {
                    verdict: Verdict::Pass,
                    reason_code: "ok".into(),
                    message: "found".into(),
                    registry_reference: None,
                    valid_until: None,
                }),
            )],
            None,
        ),
        Script::Refuse(reasons) => (
            Decision::Refused,
            reasons
                .iter()
                .map(|(n, code)| {
                    check(
                        *n,
                        CheckOutcome::Finding(Finding {
                            verdict: Verdict::Fail,
                            reason_code: code.clone(),
                            message: format!("P18.{n} failed: {code}"),
                            registry_reference: None,
                            valid_until: None,
                        }),
                    )
                })
                .collect(),
            None,
        ),
        Script::Indeterminate => (
            Decision::Indeterminate,
            vec![check(
                8,
                CheckOutcome::Error {
                    error: CheckError::Timeout("ЕСБД did not answer in 3 s".into()),
                },
            )],
            Some(60),
        ),
    };
    let reasons = checks
        .iter()
        .filter_map(|c| match &c.outcome {
            CheckOutcome::Finding(f) if f.verdict == Verdict::Fail => Some(kezek_domain::Reason {
                check: c.check.clone(),
                rule_id: c.rule_id.clone(),
                registry: c.registry.clone(),
                reason_code: f.reason_code.clone(),
                message: f.message.clone(),
            }),
            _ => None,
        })
        .collect();
    let unanswered = checks
        .iter()
        .filter_map(|c| match &c.outcome {
            CheckOutcome::Error { error } => Some(kezek_domain::Unanswered {
                check: c.check.clone(),
                rule_id: c.rule_id.clone(),
                registry: c.registry.clone(),
                error: error.clone(),
            }),
            _ => None,
        })
        .collect();
    Verification {
        id: uuid::Uuid::new_v4().to_string(),
        decision,
        rule_set: "order-707@2023.1/scripted".into(),
        reasons,
        notices: Vec::new(),
        unanswered,
        checks,
        retry_after_s: retry,
        decided_at: "2026-01-01T00:00:00Z".into(),
    }
}

/// A valid application for tests: resident owner, one driver, a truck.
pub fn sample_application(checkpoint: &str, date: &str, plate: &str, vin: &str) -> Application {
    serde_json::from_value(serde_json::json!({
        "owner": {"residency": "resident", "kind": "legal-entity", "name": "ТОО Тест", "iin-bin": "990340000001", "country": "KZ"},
        "drivers": [{"residency": "resident", "full-name": "Тестов Тест", "birth-date": "1980-01-01",
                     "iin": "800101300001", "phone": "+77010000001",
                     "document": {"kind": "passport", "issuing-country": "KZ", "number": "N0000001", "expires": "2030-01-01"}}],
        "vehicle": {"kind": "truck", "country": "KZ", "plate": plate, "vin": vin},
        "cargo": {"classes": ["general"]},
        "checkpoint": checkpoint,
        "travel-date": date
    }))
    .expect("sample application is valid")
}
