//! P18.13 — every driver's phone number is registered to that driver in the Mobile citizens
//! base (service `MGOV_MOBILE_CITIZENS` via the e-government gateway; mocks/PROTOCOLS.md §4,
//! check 13). The registry compares phones by digits only.
//!
//! Drivers are asked in order and the first one whose phone does not match decides. The
//! phone number itself is never repeated in a finding.
//!
//! Built against `kezek:registry@1.1.0` (ADR 0019): it is handed the drivers and nothing
//! else of the application.

use kezek_adapter_sdk_1_1::xml::{self, Element};
use kezek_adapter_sdk_1_1::{
    Adapter, CheckError, CheckRequest, Descriptor, Finding, RequestFields, declared, finding, flag,
    gateway, require_iin,
};

const SERVICE_ID: &str = "MGOV_MOBILE_CITIZENS";

struct PhoneMatch;

impl Adapter for PhoneMatch {
    fn describe() -> Descriptor {
        Descriptor {
            id: "phone-match".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "Mobile citizens base (Mobile government)".into(),
            checks: vec!["P18.13".into()],
            reads: RequestFields::DRIVERS,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        let mut passes = Vec::new();
        for (i, driver) in declared(req.drivers.as_ref(), "drivers")?
            .iter()
            .enumerate()
        {
            let who = format!("driver {}", i + 1);
            let iin = require_iin(driver.iin.as_ref(), &who)?;
            if !driver.phone.chars().any(|c| c.is_ascii_digit()) {
                return Err(CheckError::RejectedInput(format!(
                    "{who} has no phone number"
                )));
            }
            let record = lookup(&req.correlation_id, iin, &driver.phone)?;
            let f = judge(&who, &record);
            if f.verdict != kezek_adapter_sdk_1_1::Verdict::Pass {
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
                "phone-match",
                format!(
                    "the phone numbers of all {n} drivers are registered to them in the Mobile citizens base"
                ),
            )),
        }
    }
}

kezek_adapter_sdk_1_1::export_adapter!(PhoneMatch);

fn lookup(correlation_id: &str, iin: &str, phone: &str) -> Result<Registration, CheckError> {
    let data = xml::element("PhoneCheckRequest", &[("iin", iin), ("phone", phone)]);
    let answer = gateway::call(correlation_id, gateway::Call::new(SERVICE_ID, data))?;
    parse(&answer).map_err(CheckError::BadResponse)
}

/// What the Mobile citizens base says about one phone number and one IIN.
#[derive(Debug, PartialEq)]
enum Registration {
    NotRegistered,
    ToSomeoneElse,
    ToThePerson { operator: Option<String> },
}

fn parse(answer: &Element) -> Result<Registration, String> {
    if answer.name != "PhoneCheckResponse" {
        return Err(format!(
            "expected <PhoneCheckResponse>, got <{}>",
            answer.name
        ));
    }
    let yes_no = |name: &str| {
        flag(answer.text_of(name), name).map_err(|_| format!("<{name}> is not true/false"))
    };
    Ok(match (yes_no("phoneRegistered")?, yes_no("matchesIin")?) {
        (false, false) => Registration::NotRegistered,
        (false, true) => {
            return Err("<matchesIin> is true for a phone that is not registered".into());
        }
        (true, false) => Registration::ToSomeoneElse,
        (true, true) => Registration::ToThePerson {
            operator: answer
                .text_of("operator")
                .filter(|o| !o.is_empty())
                .map(str::to_owned),
        },
    })
}

fn judge(who: &str, registration: &Registration) -> Finding {
    match registration {
        Registration::NotRegistered => finding::fail(
            "phone-not-registered",
            format!("the phone number given for {who} is not in the Mobile citizens base"),
        ),
        Registration::ToSomeoneElse => finding::fail(
            "phone-mismatch",
            format!(
                "the phone number given for {who} is registered in the Mobile citizens base to another person"
            ),
        ),
        Registration::ToThePerson { operator } => finding::pass(
            "phone-match",
            format!(
                "the phone number given for {who} is registered to {who} in the Mobile citizens base{}",
                operator
                    .as_deref()
                    .map(|o| format!(" ({o})"))
                    .unwrap_or_default()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_adapter_sdk_1_1::Verdict;

    fn registration(xml: &str) -> Result<Registration, String> {
        parse(&Element::parse(xml).unwrap())
    }

    fn verdict(xml: &str) -> (Verdict, String) {
        let f = judge("driver 1", &registration(xml).unwrap());
        (f.verdict, f.reason_code)
    }

    #[test]
    fn registered_to_the_driver_matches() {
        let xml = "<PhoneCheckResponse><phoneRegistered>true</phoneRegistered><matchesIin>true</matchesIin>\
                   <operator>Kcell</operator></PhoneCheckResponse>";
        assert_eq!(verdict(xml), (Verdict::Pass, "phone-match".into()));
        assert!(
            judge("driver 1", &registration(xml).unwrap())
                .message
                .ends_with("(Kcell)")
        );
    }

    #[test]
    fn another_person_or_no_registration_fails() {
        assert_eq!(
            verdict(
                "<PhoneCheckResponse><phoneRegistered>true</phoneRegistered><matchesIin>false</matchesIin>\
                     <operator>Beeline</operator></PhoneCheckResponse>"
            ),
            (Verdict::Fail, "phone-mismatch".into())
        );
        assert_eq!(
            verdict(
                "<PhoneCheckResponse><phoneRegistered>false</phoneRegistered><matchesIin>false</matchesIin></PhoneCheckResponse>"
            ),
            (Verdict::Fail, "phone-not-registered".into())
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(registration("<Other/>").is_err());
        assert!(
            registration(
                "<PhoneCheckResponse><phoneRegistered>true</phoneRegistered></PhoneCheckResponse>"
            )
            .is_err()
        );
        assert!(registration("<PhoneCheckResponse><phoneRegistered>yes</phoneRegistered><matchesIin>true</matchesIin></PhoneCheckResponse>").is_err());
        assert!(registration("<PhoneCheckResponse><phoneRegistered>false</phoneRegistered><matchesIin>true</matchesIin></PhoneCheckResponse>").is_err());
    }
}
