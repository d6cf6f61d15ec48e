//! P18.12 — biometric identification matches: every driver's latest identification (done
//! in the registrar's app at booking) against the state reference photo (service
//! `BIO_IDENTIFICATION` via the e-government gateway; mocks/PROTOCOLS.md §4, check 12).
//!
//! Drivers are asked in order and the first one who does not match decides. A score equal
//! to the threshold matches.

use kezek_adapter_sdk::xml::{self, Element};
use kezek_adapter_sdk::{
    Adapter, CheckError, CheckRequest, Descriptor, Finding, RequestFields, finding, flag, gateway,
    require_iin,
};

const SERVICE_ID: &str = "BIO_IDENTIFICATION";

struct BiometricMatch;

impl Adapter for BiometricMatch {
    fn describe() -> Descriptor {
        Descriptor {
            id: "biometric-match".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "Biometric identification".into(),
            checks: vec![12],
            reads: RequestFields::DRIVERS,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        let mut passes = Vec::new();
        for (i, driver) in req.drivers.iter().enumerate() {
            let who = format!("driver {}", i + 1);
            let iin = require_iin(driver.iin.as_ref(), &who)?;
            let record = lookup(&req.correlation_id, iin)?;
            let f = judge(&who, &record);
            if f.verdict != kezek_adapter_sdk::Verdict::Pass {
                return Ok(f);
            }
            passes.push(f);
        }
        match passes.len() {
            0 => Err(CheckError::RejectedInput(
                "the application has no driver".into(),
            )),
            1 => Ok(passes.remove(0)),
            n => Ok(finding::pass(
                "biometric-match",
                format!(
                    "biometric identification of all {n} drivers matches their reference photos"
                ),
            )),
        }
    }
}

kezek_adapter_sdk::export_adapter!(BiometricMatch);

fn lookup(correlation_id: &str, iin: &str) -> Result<Record, CheckError> {
    let data = xml::element("BiometricRequest", &[("iin", iin)]);
    let answer = gateway::call(correlation_id, gateway::Call::new(SERVICE_ID, data))?;
    parse(&answer).map_err(CheckError::BadResponse)
}

/// What the biometric system holds about one person.
#[derive(Debug, PartialEq)]
enum Record {
    NotFound,
    NoReference,
    NotIdentified,
    Identified { score: u8, threshold: u8 },
}

fn percent(e: &Element, name: &str) -> Result<u8, String> {
    e.required(name)?
        .parse()
        .ok()
        .filter(|v| *v <= 100)
        .ok_or_else(|| format!("<{name}> is not an integer 0-100"))
}

fn parse(answer: &Element) -> Result<Record, String> {
    if answer.name != "BiometricResponse" {
        return Err(format!(
            "expected <BiometricResponse>, got <{}>",
            answer.name
        ));
    }
    let yes_no = |name: &str| {
        flag(answer.text_of(name), name).map_err(|_| format!("<{name}> is not true/false"))
    };
    if !yes_no("found")? {
        return Ok(Record::NotFound);
    }
    if !yes_no("hasReference")? {
        return Ok(Record::NoReference);
    }
    Ok(match answer.child("identification") {
        None => Record::NotIdentified,
        Some(id) => Record::Identified {
            score: percent(id, "score")?,
            threshold: percent(id, "threshold")?,
        },
    })
}

fn judge(who: &str, record: &Record) -> Finding {
    match *record {
        Record::NotFound => finding::fail(
            "biometric-subject-not-found",
            format!("{who} is not known to the biometric identification system"),
        ),
        Record::NoReference => finding::fail(
            "no-reference-photo",
            format!(
                "the state holds no reference photo for {who}, so biometric identification is impossible"
            ),
        ),
        Record::NotIdentified => finding::fail(
            "biometric-not-performed",
            format!("{who} has not passed biometric identification in the registrar's app"),
        ),
        Record::Identified { score, threshold } if score >= threshold => finding::pass(
            "biometric-match",
            format!(
                "biometric identification of {who} matches the reference photo (score {score}, threshold {threshold})"
            ),
        ),
        Record::Identified { score, threshold } => finding::fail(
            "biometric-mismatch",
            format!(
                "biometric identification of {who} does not match the reference photo (score {score}, below the threshold {threshold})"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_adapter_sdk::Verdict;

    fn record(xml: &str) -> Result<Record, String> {
        parse(&Element::parse(xml).unwrap())
    }

    fn verdict(xml: &str) -> (Verdict, String) {
        let f = judge("driver 1", &record(xml).unwrap());
        (f.verdict, f.reason_code)
    }

    fn identified(score: u8) -> String {
        format!(
            "<BiometricResponse><found>true</found><hasReference>true</hasReference><identification>\
             <score>{score}</score><threshold>80</threshold><verifiedAt>2026-11-25T09:14:00+05:00</verifiedAt>\
             </identification></BiometricResponse>"
        )
    }

    #[test]
    fn score_at_or_above_threshold_matches() {
        assert_eq!(
            verdict(&identified(93)),
            (Verdict::Pass, "biometric-match".into())
        );
        assert_eq!(
            verdict(&identified(80)),
            (Verdict::Pass, "biometric-match".into())
        );
        let f = judge("driver 2", &record(&identified(41)).unwrap());
        assert_eq!(
            (f.verdict, f.reason_code.as_str()),
            (Verdict::Fail, "biometric-mismatch")
        );
        assert!(f.message.contains("driver 2") && f.message.contains("41"));
    }

    #[test]
    fn missing_reference_identification_or_person_fail() {
        assert_eq!(
            verdict("<BiometricResponse><found>true</found><hasReference>false</hasReference></BiometricResponse>").1,
            "no-reference-photo"
        );
        assert_eq!(
            verdict("<BiometricResponse><found>true</found><hasReference>true</hasReference></BiometricResponse>").1,
            "biometric-not-performed"
        );
        assert_eq!(
            verdict("<BiometricResponse><found>false</found></BiometricResponse>").1,
            "biometric-subject-not-found"
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(record("<Other/>").is_err());
        assert!(record("<BiometricResponse><found>true</found></BiometricResponse>").is_err());
        assert!(record(&identified(93).replace("<score>93", "<score>high")).is_err());
        assert!(record(&identified(93).replace("<score>93", "<score>930")).is_err());
        assert!(record(&identified(93).replace("<threshold>80</threshold>", "")).is_err());
    }
}
