//! One check of one adapter, outside the pipeline: what `kezek check` runs, on the adapters
//! on disk or through a running gateway's admin API (issue 12). No cache, no rule book, no
//! decision: the adapter's finding or error and its exchanges, in words. When the adapter is
//! not running, the answer says why — the refusal of its package included.

use crate::{Catalogue, Refusal};
use kezek_domain::{Application, CheckError, CheckId, Finding};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// What one check of one adapter gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trial {
    pub adapter: String,
    pub version: String,
    pub check: CheckId,
    pub exchanges: Vec<TrialExchange>,
    /// The finding, or the error, never both.
    pub finding: Option<Finding>,
    pub error: Option<CheckError>,
}

/// One registry exchange of a trial: where, the HTTP status, how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialExchange {
    pub endpoint: String,
    pub status: Option<u16>,
    pub duration_ms: u64,
}

/// Why a trial could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotRunning {
    #[error("adapter {adapter} is not running: its package{} was refused: {reason}", in_parens(.version))]
    Refused {
        adapter: String,
        version: Option<String>,
        reason: String,
    },
    #[error(
        "adapter {adapter} is not running: {dir} has no package folder of that name (running: {running})"
    )]
    Missing {
        adapter: String,
        dir: String,
        running: String,
    },
    #[error("adapter {adapter} does not serve {check}; it serves {serves}")]
    NotServed {
        adapter: String,
        check: String,
        serves: String,
    },
}

impl Catalogue {
    /// Runs one check of a running adapter (its first check unless `check` names one).
    pub async fn trial(
        &self,
        adapter_id: &str,
        check: Option<CheckId>,
        application: &Application,
        deadline: Duration,
    ) -> Result<Trial, NotRunning> {
        let set = self.snapshot();
        let Some(adapter) = set.adapters.get(adapter_id) else {
            return Err(self.why_not_running(adapter_id, &set));
        };
        let serves = &adapter.descriptor.checks;
        let check = match check {
            Some(check) if !serves.contains(&check) => {
                return Err(NotRunning::NotServed {
                    adapter: adapter_id.to_owned(),
                    check: check.to_string(),
                    serves: list(serves),
                });
            }
            Some(check) => check,
            None => serves[0].clone(),
        };
        let correlation = uuid::Uuid::new_v4().to_string();
        let outcome = self
            .host
            .check(adapter, &check, application, &correlation, deadline)
            .await;
        let (finding, error) = match outcome.result {
            Ok(finding) => (Some(finding), None),
            Err(e) => (None, Some(e)),
        };
        Ok(Trial {
            adapter: adapter.descriptor.id.clone(),
            version: adapter.descriptor.version.clone(),
            check,
            exchanges: outcome
                .exchanges
                .iter()
                .map(|e| TrialExchange {
                    endpoint: e.endpoint.clone(),
                    status: e.status,
                    duration_ms: e.duration.as_millis() as u64,
                })
                .collect(),
            finding,
            error,
        })
    }

    fn why_not_running(&self, adapter_id: &str, set: &crate::AdapterSet) -> NotRunning {
        let refused: Option<Refusal> = self.refusal(adapter_id);
        match refused {
            Some(r) => NotRunning::Refused {
                adapter: adapter_id.to_owned(),
                version: r.version,
                reason: r.reason,
            },
            None => NotRunning::Missing {
                adapter: adapter_id.to_owned(),
                dir: self.dir.display().to_string(),
                running: if set.adapters.is_empty() {
                    "none".into()
                } else {
                    set.adapters.keys().cloned().collect::<Vec<_>>().join(", ")
                },
            },
        }
    }
}

/// A check as an operator writes it on a command line or in a query: as the application's
/// JSON spells check ids (`3` now).
pub fn parse_check(text: &str) -> Result<CheckId, String> {
    match text.parse::<u8>() {
        // A bare P18 number, as the flag took before checks were data (ADR 0018).
        Ok(n) => CheckId::p18(n).ok_or_else(|| format!("P18 has checks 1 to 18, not {n}")),
        Err(_) => text
            .parse()
            .map_err(|e: kezek_domain::BadCheckId| e.to_string()),
    }
}

fn in_parens(version: &Option<String>) -> String {
    version
        .as_deref()
        .map(|v| format!(" ({v})"))
        .unwrap_or_default()
}

fn list(checks: &[CheckId]) -> String {
    checks
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// As `kezek check` prints it, in both modes.
impl fmt::Display for Trial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {} — {}", self.adapter, self.version, self.check)?;
        for exchange in &self.exchanges {
            let status = exchange
                .status
                .map_or("no answer".to_owned(), |s| format!("HTTP {s}"));
            writeln!(
                f,
                "  exchange  {} {status} in {} ms",
                exchange.endpoint, exchange.duration_ms
            )?;
        }
        if let Some(finding) = &self.finding {
            let verdict = match finding.verdict {
                kezek_domain::Verdict::Pass => "PASS",
                kezek_domain::Verdict::Fail => "FAIL",
                kezek_domain::Verdict::Notice => "NOTICE",
            };
            writeln!(
                f,
                "  {verdict}: {} ({})",
                finding.message, finding.reason_code
            )?;
        }
        if let Some(error) = &self.error {
            writeln!(f, "  ERROR: {error}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_is_read_as_json_spells_it() {
        assert_eq!(parse_check("3"), Ok(CheckId::p18(3).unwrap()));
        assert_eq!(parse_check("O505.ADR").unwrap().as_str(), "O505.ADR");
        for (bad, says) in [
            ("0", "1 to 18"),
            ("19", "1 to 18"),
            ("x", "check id"),
            ("", "check id"),
        ] {
            let err = parse_check(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn a_refusal_is_said_in_words() {
        let refused = NotRunning::Refused {
            adapter: "tax-debt".into(),
            version: Some("1.2.0".into()),
            reason: "the signature does not match".into(),
        };
        assert_eq!(
            refused.to_string(),
            "adapter tax-debt is not running: its package (1.2.0) was refused: the signature does not match"
        );
    }

    #[test]
    fn a_trial_prints_its_verdict_and_exchanges() {
        let trial = Trial {
            adapter: "a".into(),
            version: "1.0.0".into(),
            check: CheckId::p18(3).unwrap(),
            exchanges: vec![TrialExchange {
                endpoint: "egov-gateway".into(),
                status: Some(200),
                duration_ms: 12,
            }],
            finding: Some(Finding {
                verdict: kezek_domain::Verdict::Fail,
                reason_code: "DEBT".into(),
                message: "has a debt".into(),
                registry_reference: None,
                valid_until: None,
            }),
            error: None,
        };
        let text = trial.to_string();
        assert!(text.contains("a 1.0.0 — P18.3"), "{text}");
        assert!(text.contains("egov-gateway HTTP 200 in 12 ms"), "{text}");
        assert!(text.contains("FAIL: has a debt (DEBT)"), "{text}");
    }
}
