//! Constructors for findings, so every adapter words them the same way.

use crate::{CheckError, Finding, Verdict};

pub fn pass(reason_code: &str, message: impl Into<String>) -> Finding {
    make(Verdict::Pass, reason_code, message.into())
}

pub fn fail(reason_code: &str, message: impl Into<String>) -> Finding {
    make(Verdict::Fail, reason_code, message.into())
}

/// A finding the user is told about; the rule set decides whether it blocks (P19).
pub fn notice(reason_code: &str, message: impl Into<String>) -> Finding {
    make(Verdict::Notice, reason_code, message.into())
}

fn make(verdict: Verdict, reason_code: &str, message: String) -> Finding {
    Finding {
        verdict,
        reason_code: reason_code.to_owned(),
        message,
        registry_reference: None,
        valid_until: None,
    }
}

impl Finding {
    pub fn with_reference(mut self, reference: Option<&str>) -> Self {
        self.registry_reference = reference.filter(|r| !r.is_empty()).map(str::to_owned);
        self
    }

    pub fn valid_until(mut self, date: Option<&str>) -> Self {
        self.valid_until = date.filter(|d| !d.is_empty()).map(str::to_owned);
        self
    }
}

/// Combines per-subject findings (one per driver, or vehicle and trailer): the first fail
/// wins, then the first notice, else the first pass. An empty list is an error, not a pass.
pub fn worst(findings: Vec<Finding>) -> Result<Finding, CheckError> {
    let rank = |f: &Finding| match f.verdict {
        Verdict::Fail => 0,
        Verdict::Notice => 1,
        Verdict::Pass => 2,
    };
    findings
        .into_iter()
        .min_by_key(rank)
        .ok_or_else(|| CheckError::RejectedInput("nothing to check".into()))
}

/// A registry answer that could not be read: never a pass.
pub fn bad_response(what: impl std::fmt::Display) -> CheckError {
    CheckError::BadResponse(what.to_string())
}
