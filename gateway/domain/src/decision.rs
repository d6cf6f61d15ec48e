//! The decision of one verification from its checks' answers (Order 707 P19, P20). Pure:
//! the pipeline gathers the answers, this says what they amount to.
//!
//! In order: any blocking fail (or a notice the rule set makes blocking) → refused; else any
//! blocking check without an answer → indeterminate; else approved, with the notices. A
//! non-blocking check without an answer is a `not-checked` notice. Unknown is never yes.

use crate::rules::CheckRule;
use crate::{CheckOutcome, CheckResult, Decision, Finding, Reason, Unanswered, Verdict};

/// What a verification's answers amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub decision: Decision,
    /// Every blocking fail, with its rule (P20: the reasons of a refusal).
    pub reasons: Vec<Reason>,
    /// Findings that do not block, and non-blocking checks that could not be made.
    pub notices: Vec<Reason>,
    /// Blocking checks without an answer.
    pub unanswered: Vec<Unanswered>,
}

/// `plan[i]` is the rule `checks[i]` was made under.
pub fn decide(plan: &[&CheckRule], checks: &[CheckResult]) -> Decided {
    let mut reasons = Vec::new();
    let mut notices = Vec::new();
    let mut unanswered = Vec::new();
    for (rule, result) in plan.iter().zip(checks) {
        let reason = |f: &Finding| Reason {
            check: result.check.clone(),
            rule_id: result.rule_id.clone(),
            registry: result.registry.clone(),
            reason_code: f.reason_code.clone(),
            message: f.message.clone(),
        };
        match &result.outcome {
            CheckOutcome::Finding(f) => match f.verdict {
                Verdict::Pass => {}
                Verdict::Fail if rule.blocking => reasons.push(reason(f)),
                Verdict::Notice if rule.blocking && rule.notice_blocks => reasons.push(reason(f)),
                Verdict::Fail | Verdict::Notice => notices.push(reason(f)),
            },
            CheckOutcome::Error { error } if rule.blocking => unanswered.push(Unanswered {
                check: result.check.clone(),
                rule_id: result.rule_id.clone(),
                registry: result.registry.clone(),
                error: error.clone(),
            }),
            CheckOutcome::Error { error } => notices.push(Reason {
                check: result.check.clone(),
                rule_id: result.rule_id.clone(),
                registry: result.registry.clone(),
                reason_code: "not-checked".into(),
                message: format!(
                    "this could not be checked now ({error}); it does not stop the booking"
                ),
            }),
        }
    }
    let decision = if !reasons.is_empty() {
        Decision::Refused
    } else if !unanswered.is_empty() {
        Decision::Indeterminate
    } else {
        Decision::Approved
    };
    Decided {
        decision,
        reasons,
        notices,
        unanswered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CheckError, CheckId};

    /// How a check counts and what it answered.
    #[derive(Clone, Copy)]
    enum Answer {
        Pass,
        Fail,
        Notice,
        Error,
    }

    fn rule(check: u8, blocking: bool, notice_blocks: bool) -> CheckRule {
        serde_json::from_value(serde_json::json!({
            "check": format!("P18.{check}"), "blocking": blocking, "notice-blocks": notice_blocks, "cache-ttl-s": 0
        }))
        .unwrap()
    }

    fn result(check: u8, answer: Answer) -> CheckResult {
        let finding = |verdict| {
            CheckOutcome::Finding(Finding {
                verdict,
                reason_code: format!("code-{check}"),
                message: String::new(),
                registry_reference: None,
                valid_until: None,
            })
        };
        CheckResult {
            check: CheckId::p18(check).unwrap(),
            rule_id: format!("P18.{check}"),
            registry: format!("registry-{check}"),
            adapter: format!("adapter-{check}@1.0.0"),
            blocking: true,
            outcome: match answer {
                Answer::Pass => finding(Verdict::Pass),
                Answer::Fail => finding(Verdict::Fail),
                Answer::Notice => finding(Verdict::Notice),
                Answer::Error => CheckOutcome::Error {
                    error: CheckError::Timeout("late".into()),
                },
            },
            cached: false,
            duration_ms: 0,
        }
    }

    /// P19/P20 as a table: (check, blocking, notice blocks, answer) rows → the decision and
    /// how many reasons, notices and unanswered checks it carries.
    #[test]
    fn p19_p20_decisions() {
        use Answer::*;
        use Decision::*;
        fn check(rows: &[(u8, bool, bool, Answer)], expect: (Decision, usize, usize, usize)) {
            let rules: Vec<CheckRule> = rows.iter().map(|r| rule(r.0, r.1, r.2)).collect();
            let plan: Vec<&CheckRule> = rules.iter().collect();
            let results: Vec<CheckResult> = rows.iter().map(|r| result(r.0, r.3)).collect();
            let d = decide(&plan, &results);
            let got = (
                d.decision,
                d.reasons.len(),
                d.notices.len(),
                d.unanswered.len(),
            );
            assert_eq!(
                got,
                expect,
                "rows {:?}",
                rows.iter().map(|r| r.0).collect::<Vec<_>>()
            );
        }
        check(
            &[(1, true, false, Pass), (2, true, false, Pass)],
            (Approved, 0, 0, 0),
        );
        check(
            &[(1, true, false, Fail), (2, true, false, Pass)],
            (Refused, 1, 0, 0),
        );
        // A fail refuses even when another blocking check is unanswered.
        check(
            &[(1, true, false, Fail), (2, true, false, Error)],
            (Refused, 1, 0, 1),
        );
        check(
            &[(1, true, false, Error), (2, true, false, Pass)],
            (Indeterminate, 0, 0, 1),
        );
        // Residents' fines and tolls (P19): a finding notifies, an error does not block.
        check(
            &[(10, false, false, Fail), (17, false, false, Notice)],
            (Approved, 0, 2, 0),
        );
        check(&[(10, false, false, Error)], (Approved, 0, 1, 0));
        // Non-residents' (P19): a notice blocks like a fail.
        check(&[(10, true, true, Notice)], (Refused, 1, 0, 0));
        check(&[(10, true, false, Notice)], (Approved, 0, 1, 0));
        // No checks planned: nothing refuses, nothing is unknown.
        check(&[], (Approved, 0, 0, 0));
    }

    #[test]
    fn an_unanswered_non_blocking_check_says_it_was_not_checked() {
        let rules = [rule(10, false, false)];
        let plan: Vec<&CheckRule> = rules.iter().collect();
        let d = decide(&plan, &[result(10, Answer::Error)]);
        assert_eq!(d.notices[0].reason_code, "not-checked");
    }
}
