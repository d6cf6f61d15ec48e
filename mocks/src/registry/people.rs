//! People-centred registries behind the gateway: ГБД ФЛ / ГБД ЮЛ (P18.1), wanted persons
//! (P18.5), digital documents (P18.11), biometrics (P18.12), mobile citizens base (P18.13).
//! They return facts; the adapters decide the verdict.

use crate::scenario::Scenario;
use crate::xml::{Node, XmlOut};

fn flag(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// ГБД ФЛ person by IIN (the kdpToken was validated by the gateway layer).
pub(crate) fn person(s: &Scenario, data: &Node) -> Result<String, String> {
    let iin = data.required("iin")?;
    let mut out = XmlOut::new();
    out.open("PersonResponse");
    match s.persons.iter().find(|p| p.iin == iin) {
        None => {
            out.leaf("found", "false");
        }
        Some(p) => {
            let residency = match p.residency {
                crate::scenario::Residency::Resident => "resident",
                crate::scenario::Residency::NonResident => "non-resident",
            };
            out.leaf("found", "true")
                .open("person")
                .leaf("iin", &p.iin)
                .leaf("lastName", &p.last_name)
                .leaf("firstName", &p.first_name)
                .opt_leaf("middleName", p.middle_name.as_deref())
                .leaf("birthDate", &p.birth_date)
                .leaf("citizenship", &p.citizenship)
                .leaf("residency", residency)
                .leaf("status", &p.status)
                .close("person");
        }
    }
    out.close("PersonResponse");
    Ok(out.finish())
}

/// ГБД ЮЛ company by BIN.
pub(crate) fn company(s: &Scenario, data: &Node) -> Result<String, String> {
    let bin = data.required("bin")?;
    let mut out = XmlOut::new();
    out.open("CompanyResponse");
    match s.companies.iter().find(|c| c.bin == bin) {
        None => {
            out.leaf("found", "false");
        }
        Some(c) => {
            out.leaf("found", "true")
                .open("company")
                .leaf("bin", &c.bin)
                .leaf("name", &c.name)
                .leaf("registrationDate", &c.registration_date)
                .leaf("status", &c.status)
                .opt_leaf("headIin", c.head_iin.as_deref())
                .close("company");
        }
    }
    out.close("CompanyResponse");
    Ok(out.finish())
}

/// Wanted persons by IIN, by identity-document number, or by full name + birth date.
pub(crate) fn wanted(s: &Scenario, data: &Node) -> Result<String, String> {
    let iin = data.text_of("iin");
    let doc = data.text_of("documentNumber");
    let name = data.text_of("fullName");
    let birth = data.text_of("birthDate");
    if iin.is_none() && doc.is_none() && (name.is_none() || birth.is_none()) {
        return Err(
            "WantedPersonRequest needs iin, documentNumber, or fullName and birthDate".into(),
        );
    }
    let hits: Vec<_> = s
        .wanted_persons
        .iter()
        .filter(|w| {
            (iin.is_some() && w.iin == iin)
                || (doc.is_some() && w.document_number == doc)
                || (name
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase() == w.full_name.to_lowercase())
                    && birth.as_deref() == Some(w.birth_date.as_str()))
        })
        .collect();
    let mut out = XmlOut::new();
    out.open("WantedPersonResponse")
        .leaf("wanted", flag(!hits.is_empty()))
        .open("records");
    for w in hits {
        out.open("record")
            .opt_leaf("iin", w.iin.as_deref())
            .leaf("fullName", &w.full_name)
            .leaf("birthDate", &w.birth_date)
            .opt_leaf("documentNumber", w.document_number.as_deref())
            .leaf("since", &w.since)
            .leaf("reason", &w.reason)
            .close("record");
    }
    out.close("records").close("WantedPersonResponse");
    Ok(out.finish())
}

/// Digital documents of a person.
pub(crate) fn documents(s: &Scenario, data: &Node) -> Result<String, String> {
    let iin = data.required("iin")?;
    let docs: Vec<_> = s
        .digital_documents
        .iter()
        .filter(|d| d.iin == iin)
        .collect();
    let known = !docs.is_empty() || s.persons.iter().any(|p| p.iin == iin);
    let mut out = XmlOut::new();
    out.open("DigitalDocumentsResponse")
        .leaf("found", flag(known));
    if known {
        out.open("documents");
        for d in docs {
            out.open("document")
                .leaf("type", &d.doc_type)
                .leaf("number", &d.number)
                .leaf("issueDate", &d.issue_date)
                .opt_leaf("expiryDate", d.expiry_date.as_deref())
                .leaf("status", &d.status)
                .opt_leaf("vehiclePlate", d.vehicle_plate.as_deref())
                .close("document");
        }
        out.close("documents");
    }
    out.close("DigitalDocumentsResponse");
    Ok(out.finish())
}

/// Latest biometric identification of a person against the state reference photo.
pub(crate) fn biometrics(s: &Scenario, data: &Node) -> Result<String, String> {
    let iin = data.required("iin")?;
    let mut out = XmlOut::new();
    out.open("BiometricResponse");
    match s.biometrics.iter().find(|b| b.iin == iin) {
        None => {
            out.leaf("found", "false");
        }
        Some(b) => {
            out.leaf("found", "true")
                .leaf("hasReference", flag(b.has_reference));
            if let (true, Some(score)) = (b.has_reference, b.score) {
                out.open("identification")
                    .leaf("score", score)
                    .leaf("threshold", b.threshold)
                    .opt_leaf("verifiedAt", b.verified_at.as_deref())
                    .close("identification");
            }
        }
    }
    out.close("BiometricResponse");
    Ok(out.finish())
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Mobile citizens base: is this phone registered, and to this IIN?
pub(crate) fn phone(s: &Scenario, data: &Node) -> Result<String, String> {
    let iin = data.required("iin")?;
    let phone = digits(&data.required("phone")?);
    let reg = s.phones.iter().find(|p| digits(&p.phone) == phone);
    let mut out = XmlOut::new();
    out.open("PhoneCheckResponse")
        .leaf("phoneRegistered", flag(reg.is_some()))
        .leaf("matchesIin", flag(reg.is_some_and(|r| r.iin == iin)));
    if let Some(r) = reg {
        out.leaf("operator", &r.operator);
    }
    out.close("PhoneCheckResponse");
    Ok(out.finish())
}
