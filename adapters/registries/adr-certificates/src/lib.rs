//! O505.ADR, the worked example of an amendment (issue 12, README "Adding a check"): every
//! driver of dangerous goods holds an ADR certificate valid on the travel date, in the
//! Ministry of transport's register behind the e-government gateway. A driver is found by
//! identity document, which residents and non-residents both have; when the check runs
//! (cargo class `dangerous`) is the rule set's call, not this adapter's.

use kezek_adapter_sdk_1_1::xml::{self, Element};
use kezek_adapter_sdk_1_1::{
    Adapter, CheckError, CheckRequest, Descriptor, Finding, RequestFields, date, declared, finding,
    flag, gateway,
};

struct AdrCertificates;

impl Adapter for AdrCertificates {
    fn describe() -> Descriptor {
        Descriptor {
            id: "adr-certificates".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "Register of drivers' ADR certificates (Ministry of transport)".into(),
            checks: vec!["O505.ADR".into()],
            reads: RequestFields::DRIVERS | RequestFields::TRAVEL_DATE,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        let travel = declared(req.travel_date.as_ref(), "travel date")?;
        let drivers = declared(req.drivers.as_ref(), "drivers")?;
        let mut findings = Vec::new();
        for (i, driver) in drivers.iter().enumerate() {
            let document = [
                ("documentCountry", driver.document.issuing_country.as_str()),
                ("documentNumber", driver.document.number.as_str()),
            ];
            let data = xml::element("AdrCertificateRequest", &document);
            let call = gateway::Call::new("MTI_ADR_CERTIFICATES", data);
            let answer = gateway::call(&req.correlation_id, call)?;
            findings.push(judge(&format!("driver {}", i + 1), &answer, travel)?);
        }
        finding::worst(findings)
    }
}

kezek_adapter_sdk_1_1::export_adapter!(AdrCertificates);

/// The register's answer for one driver, against the travel date; unreadable is an error.
fn judge(who: &str, answer: &Element, travel: &str) -> Result<Finding, CheckError> {
    let says = |what: String| format!("{who}'s ADR certificate for dangerous goods {what}");
    if !flag(answer.text_of("found"), "<found>")? {
        let missing = says("is not found".into());
        return Ok(finding::fail("adr-certificate-missing", missing));
    }
    let certificate = answer.child("certificate");
    let until = (certificate.and_then(|c| c.text_of("validUntil")))
        .ok_or_else(|| "no <certificate> with a <validUntil>".to_owned())
        .and_then(|until| date::iso_date(until, "<validUntil>"))
        .map_err(finding::bad_response)?;
    Ok(match certificate.and_then(|c| c.text_of("status")) {
        Some("valid") if until >= travel => {
            let valid = says(format!("is valid to {until}"));
            finding::pass("adr-certificate-valid", valid).valid_until(Some(until))
        }
        Some("valid") => finding::fail("adr-certificate-expired", says(format!("expired {until}"))),
        _ => finding::fail("adr-certificate-revoked", says("is not in force".into())),
    })
}

#[cfg(test)]
mod tests;
