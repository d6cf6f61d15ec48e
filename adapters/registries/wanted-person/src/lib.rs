//! P18.5 — no driver is wanted (legal statistics and special records, service
//! `KPSISU_WANTED_PERSONS` via the e-government gateway; mocks/PROTOCOLS.md §4, check 5).
//!
//! Every driver is looked up with everything the request knows — IIN (residents),
//! full name, birth date, identity-document number — since the registry matches on IIN, on
//! the document number, or on name and birth date (non-residents usually have no IIN).
//! Drivers go in request order; the first wanted one decides.
//!
//! The message names the driver by position only and leaves out the registry's reason:
//! the applicant may be a company, and the grounds of a search are not theirs to read.

use kezek_adapter_sdk::xml::{self, Element};
use kezek_adapter_sdk::{
    Adapter, CheckError, CheckRequest, Descriptor, Driver, Finding, RequestFields, finding, flag,
    gateway,
};

const SERVICE_ID: &str = "KPSISU_WANTED_PERSONS";

struct WantedPerson;

impl Adapter for WantedPerson {
    fn describe() -> Descriptor {
        Descriptor {
            id: "wanted-person".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "Legal statistics special records (wanted persons)".into(),
            checks: vec![5],
            reads: RequestFields::DRIVERS,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        if req.drivers.is_empty() {
            return Err(CheckError::RejectedInput(
                "the request has no drivers".into(),
            ));
        }
        for (i, driver) in req.drivers.iter().enumerate() {
            let wanted = lookup(&req.correlation_id, driver)?;
            let f = judge(i + 1, wanted);
            if f.verdict != kezek_adapter_sdk::Verdict::Pass {
                return Ok(f);
            }
        }
        Ok(finding::pass(
            "driver-not-wanted",
            if req.drivers.len() == 1 {
                "the driver is not on the wanted persons list".to_owned()
            } else {
                format!(
                    "none of the {} drivers is on the wanted persons list",
                    req.drivers.len()
                )
            },
        ))
    }
}

kezek_adapter_sdk::export_adapter!(WantedPerson);

/// The business request: every key the request knows about the driver.
fn request(driver: &Driver) -> Result<String, CheckError> {
    let mut data = String::from("<WantedPersonRequest>");
    if let Some(iin) = driver.iin.as_deref().filter(|s| !s.is_empty()) {
        xml::leaf(&mut data, "iin", iin);
    }
    let name = driver.full_name.trim();
    let birth = driver.birth_date.trim();
    let document = driver.document.number.trim();
    if !name.is_empty() {
        xml::leaf(&mut data, "fullName", name);
    }
    if !birth.is_empty() {
        xml::leaf(&mut data, "birthDate", birth);
    }
    if !document.is_empty() {
        xml::leaf(&mut data, "documentNumber", document);
    }
    let has_iin = driver.iin.as_deref().is_some_and(|s| !s.is_empty());
    if !has_iin && document.is_empty() && (name.is_empty() || birth.is_empty()) {
        return Err(CheckError::RejectedInput(
            "a driver has neither IIN, document number, nor full name and birth date".into(),
        ));
    }
    data.push_str("</WantedPersonRequest>");
    Ok(data)
}

fn lookup(correlation_id: &str, driver: &Driver) -> Result<bool, CheckError> {
    let answer = gateway::call(
        correlation_id,
        gateway::Call::new(SERVICE_ID, request(driver)?),
    )?;
    parse(&answer).map_err(CheckError::BadResponse)
}

/// Whether the person is wanted; `wanted` must agree with the records returned.
fn parse(answer: &Element) -> Result<bool, String> {
    if answer.name != "WantedPersonResponse" {
        return Err(format!(
            "expected <WantedPersonResponse>, got <{}>",
            answer.name
        ));
    }
    let wanted = flag(answer.text_of("wanted"), "wanted")
        .map_err(|_| "<wanted> is not true/false".to_owned())?;
    let records = answer
        .child("records")
        .ok_or("<WantedPersonResponse> has no <records>")?;
    let mut count = 0;
    for record in records.children_named("record") {
        record.required("since")?;
        count += 1;
    }
    if wanted != (count > 0) {
        return Err(format!(
            "wanted={wanted} contradicts {count} wanted-list record(s)"
        ));
    }
    Ok(wanted)
}

fn judge(driver: usize, wanted: bool) -> Finding {
    if wanted {
        finding::fail(
            "driver-wanted",
            format!(
                "driver {driver} is on the wanted persons list (legal statistics special records)"
            ),
        )
    } else {
        finding::pass(
            "driver-not-wanted",
            format!("driver {driver} is not on the wanted persons list"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_adapter_sdk::Verdict;

    fn wanted(xml: &str) -> Result<bool, String> {
        parse(&Element::parse(xml).unwrap())
    }

    const WANTED: &str = "<WantedPersonResponse><wanted>true</wanted><records><record>\
        <fullName>Akhmetov Aibek</fullName><birthDate>1985-04-19</birthDate>\
        <documentNumber>N10505550</documentNumber><since>2026-07-01</since>\
        <reason>interstate search</reason></record></records></WantedPersonResponse>";

    #[test]
    fn the_wanted_second_driver_fails_without_personal_data() {
        let f = judge(2, wanted(WANTED).unwrap());
        assert_eq!(
            (f.verdict, f.reason_code.as_str()),
            (Verdict::Fail, "driver-wanted")
        );
        assert!(f.message.starts_with("driver 2 "));
        assert!(!f.message.contains("Akhmetov") && !f.message.contains("N105"));
    }

    #[test]
    fn not_wanted_passes() {
        let w =
            wanted("<WantedPersonResponse><wanted>false</wanted><records/></WantedPersonResponse>")
                .unwrap();
        assert_eq!(judge(1, w).reason_code, "driver-not-wanted");
    }

    #[test]
    fn garbage_and_contradictions_are_errors() {
        assert!(
            wanted("<WantedPersonResponse><wanted>true</wanted><records/></WantedPersonResponse>")
                .is_err()
        );
        assert!(wanted(&WANTED.replace("<wanted>true", "<wanted>false")).is_err());
        assert!(wanted(&WANTED.replace("<wanted>true", "<wanted>maybe")).is_err());
        assert!(
            wanted("<WantedPersonResponse><wanted>false</wanted></WantedPersonResponse>").is_err()
        );
        assert!(wanted("<Other/>").is_err());
    }
}
