//! Cargo registries behind the gateway: e-Agriculture certificates (P18.15) and ASTANA-1
//! customs declarations (P18.16).

use super::norm;
use crate::scenario::Scenario;
use crate::xml::{Node, XmlOut};

/// Veterinary / phytosanitary certificates issued for a vehicle.
pub(crate) fn certificates(s: &Scenario, data: &Node) -> Result<String, String> {
    let plate = norm(&data.required("plate")?);
    let mut out = XmlOut::new();
    out.open("CertificateResponse").open("certificates");
    for c in s.certificates.iter().filter(|c| norm(&c.plate) == plate) {
        out.open("certificate")
            .leaf("number", &c.number)
            .leaf("type", &c.cert_type)
            .leaf("plate", &c.plate)
            .open("hsCodes");
        for h in &c.hs_codes {
            out.leaf("hsCode", h);
        }
        out.close("hsCodes")
            .leaf("issueDate", &c.issue_date)
            .leaf("validUntil", &c.valid_until)
            .leaf("status", &c.status)
            .close("certificate");
    }
    out.close("certificates").close("CertificateResponse");
    Ok(out.finish())
}

/// Declarations by number, or else by vehicle plate / VIN.
pub(crate) fn declarations(s: &Scenario, data: &Node) -> Result<String, String> {
    let number = data.text_of("declarationNumber");
    let plate = data.text_of("plate").map(|p| norm(&p));
    let vin = data.text_of("vin").map(|v| norm(&v));
    if number.is_none() && plate.is_none() && vin.is_none() {
        return Err("DeclarationRequest needs declarationNumber, plate or vin".into());
    }
    let hits = s.declarations.iter().filter(|d| match &number {
        Some(n) => &d.number == n,
        None => d.vehicles.iter().any(|v| {
            plate.as_deref() == Some(norm(&v.plate).as_str())
                || vin.as_deref() == Some(norm(&v.vin).as_str())
        }),
    });
    let mut out = XmlOut::new();
    out.open("DeclarationResponse").open("declarations");
    for d in hits {
        out.open("declaration")
            .leaf("number", &d.number)
            .leaf("procedure", &d.procedure)
            .leaf("status", &d.status)
            .leaf("registrationDate", &d.registration_date)
            .leaf("declarantIinBin", &d.declarant_iin_bin)
            .open("vehicles");
        for v in &d.vehicles {
            out.open("vehicle")
                .leaf("plate", &v.plate)
                .leaf("vin", &v.vin)
                .close("vehicle");
        }
        out.close("vehicles").open("hsCodes");
        for h in &d.hs_codes {
            out.leaf("hsCode", h);
        }
        out.close("hsCodes").close("declaration");
    }
    out.close("declarations").close("DeclarationResponse");
    Ok(out.finish())
}
