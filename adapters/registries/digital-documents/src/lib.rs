//! P18.11 — digital documents (identity, driving licence, vehicle ownership) in the
//! "Digital documents" service of Mobile government (service `MGOV_DIGITAL_DOCUMENTS` via
//! the e-government gateway; mocks/PROTOCOLS.md §4, check 11).
//!
//! Every driver, in order, then a natural-person owner (a legal entity's vehicle documents
//! are not in a person's wallet). A document is valid on the travel date T when it is
//! `active` and has no `expiryDate` or one on or after T.

use kezek_adapter_sdk::xml::{self, Element};
use kezek_adapter_sdk::{
    Adapter, CheckError, CheckRequest, Descriptor, Finding, PartyKind, RequestFields, date,
    finding, flag, gateway, require_iin, same_id,
};

const SERVICE_ID: &str = "MGOV_DIGITAL_DOCUMENTS";

struct DigitalDocuments;

impl Adapter for DigitalDocuments {
    fn describe() -> Descriptor {
        Descriptor {
            id: "digital-documents".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "Digital documents (Mobile government)".into(),
            checks: vec![11],
            reads: RequestFields::OWNER
                | RequestFields::DRIVERS
                | RequestFields::VEHICLE
                | RequestFields::TRAVEL_DATE,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        let t =
            date::iso_date(&req.travel_date, "travel date").map_err(CheckError::RejectedInput)?;
        if req.drivers.is_empty() {
            return Err(CheckError::RejectedInput(
                "the application has no driver".into(),
            ));
        }
        let mut asked: Vec<(String, Option<Wallet>)> = Vec::new();
        let mut ask = |iin: &str| -> Result<Option<Wallet>, CheckError> {
            if let Some((_, known)) = asked.iter().find(|(i, _)| i == iin) {
                return Ok(known.clone());
            }
            let wallet = lookup(&req.correlation_id, iin)?;
            asked.push((iin.to_owned(), wallet.clone()));
            Ok(wallet)
        };
        let mut valid_until: Vec<String> = Vec::new();
        for (i, driver) in req.drivers.iter().enumerate() {
            let who = format!("driver {}", i + 1);
            let iin = require_iin(driver.iin.as_ref(), &who)?;
            let wallet = ask(iin)?;
            match judge_driver(&who, &driver.document.number, t, wallet.as_ref()) {
                Ok(mut until) => valid_until.append(&mut until),
                Err(fail) => return Ok(fail),
            }
        }
        let mut owner_part = String::new();
        if req.owner.kind == PartyKind::NaturalPerson {
            let iin = require_iin(req.owner.iin_bin.as_ref(), "the owner")?;
            let wallet = ask(iin)?;
            match judge_owner(&req.vehicle.plate, t, wallet.as_ref()) {
                Ok(mut until) => valid_until.append(&mut until),
                Err(fail) => return Ok(fail),
            }
            owner_part = format!(
                ", and the owner's vehicle registration for {}",
                req.vehicle.plate
            );
        }
        let drivers = if req.drivers.len() == 1 {
            "driver 1".to_owned()
        } else {
            format!("all {} drivers", req.drivers.len())
        };
        Ok(finding::pass(
            "documents-confirmed",
            format!(
                "digital identity documents and driving licences of {drivers}{owner_part} \
                 are valid on the travel date {t}"
            ),
        )
        .valid_until(valid_until.iter().min().map(String::as_str)))
    }
}

kezek_adapter_sdk::export_adapter!(DigitalDocuments);

fn lookup(correlation_id: &str, iin: &str) -> Result<Option<Wallet>, CheckError> {
    let data = xml::element("DigitalDocumentsRequest", &[("iin", iin)]);
    let answer = gateway::call(correlation_id, gateway::Call::new(SERVICE_ID, data))?;
    parse(&answer).map_err(CheckError::BadResponse)
}

/// A person's digital documents; `None` when the service does not know the person.
type Wallet = Vec<Document>;

#[derive(Debug, Clone, PartialEq)]
struct Document {
    kind: String,
    number: String,
    expires: Option<String>,
    active: bool,
    plate: Option<String>,
}

impl Document {
    fn valid_on(&self, t: &str) -> bool {
        self.active && self.expires.as_deref().is_none_or(|e| e >= t)
    }

    fn is_identity(&self) -> bool {
        self.kind == "identity-card" || self.kind == "passport"
    }
}

fn parse(answer: &Element) -> Result<Option<Wallet>, String> {
    if answer.name != "DigitalDocumentsResponse" {
        return Err(format!(
            "expected <DigitalDocumentsResponse>, got <{}>",
            answer.name
        ));
    }
    if !flag(answer.text_of("found"), "found")
        .map_err(|_| "<found> is not true/false".to_owned())?
    {
        return Ok(None);
    }
    answer
        .child("documents")
        .ok_or("found=true without <documents>")?
        .children_named("document")
        .map(|d| {
            date::iso_date(d.required("issueDate")?, "<issueDate>")?;
            let active = match d.required("status")? {
                "active" => true,
                "revoked" => false,
                other => return Err(format!("unknown document <status> {other:?}")),
            };
            let expires = match d.text_of("expiryDate") {
                Some(e) => Some(date::iso_date(e, "<expiryDate>")?.to_owned()),
                None => None,
            };
            Ok(Document {
                kind: d.required("type")?.to_owned(),
                number: d.required("number")?.to_owned(),
                expires,
                active,
                plate: d.text_of("vehiclePlate").map(str::to_owned),
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Some)
}

/// A driver's identity document (the one the application names) and driving licence.
/// `Ok` carries the expiry dates the answer rests on; `Err` the failing finding.
fn judge_driver(
    who: &str,
    document_number: &str,
    t: &str,
    wallet: Option<&Wallet>,
) -> Result<Vec<String>, Finding> {
    let Some(docs) = wallet else {
        return Err(finding::fail(
            "documents-not-found",
            format!("{who} has no digital documents in Mobile government"),
        ));
    };
    let identities: Vec<&Document> = docs.iter().filter(|d| d.is_identity()).collect();
    if identities.is_empty() {
        return Err(finding::fail(
            "identity-document-missing",
            format!("{who} has no digital identity card or passport"),
        ));
    }
    let named: Vec<&Document> = identities
        .iter()
        .copied()
        .filter(|d| same_id(&d.number, document_number))
        .collect();
    if named.is_empty() {
        return Err(finding::fail(
            "identity-document-mismatch",
            format!(
                "the identity document number given for {who} differs from the digital identity documents"
            ),
        ));
    }
    let Some(identity) = named.iter().find(|d| d.valid_on(t)) else {
        let why = match named[0] {
            d if !d.active => "has been revoked".to_owned(),
            d => format!(
                "expires on {}, before the travel date {t}",
                d.expires.as_deref().unwrap_or_default()
            ),
        };
        return Err(finding::fail(
            "identity-document-invalid",
            format!("the digital identity document of {who} {why}"),
        ));
    };
    let Some(licence) = docs
        .iter()
        .find(|d| d.kind == "driver-licence" && d.valid_on(t))
    else {
        return Err(finding::fail(
            "licence-document-missing",
            format!("{who} has no digital driving licence valid on the travel date {t}"),
        ));
    };
    Ok([identity, licence]
        .iter()
        .filter_map(|d| d.expires.clone())
        .collect())
}

/// A natural-person owner's vehicle registration for the vehicle of the application.
fn judge_owner(plate: &str, t: &str, wallet: Option<&Wallet>) -> Result<Vec<String>, Finding> {
    let Some(docs) = wallet else {
        return Err(finding::fail(
            "documents-not-found",
            "the owner has no digital documents in Mobile government",
        ));
    };
    match docs.iter().find(|d| {
        d.kind == "vehicle-registration"
            && d.plate.as_deref().is_some_and(|p| same_id(p, plate))
            && d.valid_on(t)
    }) {
        Some(d) => Ok(d.expires.iter().cloned().collect()),
        None => Err(finding::fail(
            "vehicle-document-missing",
            format!(
                "the owner has no digital vehicle registration for {plate} valid on the travel date {t}"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_adapter_sdk::Verdict;

    const T: &str = "2026-12-01";

    fn wallet(xml: &str) -> Result<Option<Wallet>, String> {
        parse(&Element::parse(xml).unwrap())
    }

    fn answer(docs: &str) -> Option<Wallet> {
        wallet(&format!(
            "<DigitalDocumentsResponse><found>true</found><documents>{docs}</documents>\
             </DigitalDocumentsResponse>"
        ))
        .unwrap()
    }

    const ID: &str = "<document><type>identity-card</type><number>000205628</number>\
        <issueDate>2020-01-10</issueDate><expiryDate>2030-01-09</expiryDate><status>active</status></document>";
    const LICENCE: &str = "<document><type>driver-licence</type><number>KZ000205628L</number>\
        <issueDate>2021-03-01</issueDate><expiryDate>2031-03-01</expiryDate><status>active</status></document>";
    const REGISTRATION: &str = "<document><type>vehicle-registration</type><number>VR0000002</number>\
        <issueDate>2019-05-20</issueDate><status>active</status><vehiclePlate>102KEC02</vehiclePlate></document>";

    fn reason(r: Result<Vec<String>, Finding>) -> String {
        match r {
            Ok(_) => "ok".into(),
            Err(f) => {
                assert_eq!(f.verdict, Verdict::Fail);
                f.reason_code
            }
        }
    }

    #[test]
    fn identity_licence_and_registration_confirm() {
        let w = answer(&[ID, LICENCE, REGISTRATION].concat());
        assert_eq!(
            judge_driver("driver 1", "000205628", T, w.as_ref()).unwrap(),
            vec!["2030-01-09".to_owned(), "2031-03-01".to_owned()]
        );
        assert_eq!(
            judge_owner("102 KEC 02", T, w.as_ref()).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn driver_rules_in_order() {
        assert_eq!(
            reason(judge_driver("driver 1", "000205628", T, None)),
            "documents-not-found"
        );
        let only_licence = answer(LICENCE);
        assert_eq!(
            reason(judge_driver(
                "driver 1",
                "000205628",
                T,
                only_licence.as_ref()
            )),
            "identity-document-missing"
        );
        let w = answer(&[ID, LICENCE].concat());
        let f = judge_driver("driver 1", "000205629", T, w.as_ref()).unwrap_err();
        assert_eq!(f.reason_code, "identity-document-mismatch");
        assert!(!f.message.contains("000205"));
        let revoked = answer(&[&ID.replace("active", "revoked"), LICENCE].concat());
        assert_eq!(
            reason(judge_driver("driver 1", "000205628", T, revoked.as_ref())),
            "identity-document-invalid"
        );
        let expired = answer(&[&ID.replace("2030-01-09", "2026-11-30"), LICENCE].concat());
        let f = judge_driver("driver 1", "000205628", T, expired.as_ref()).unwrap_err();
        assert_eq!(f.reason_code, "identity-document-invalid");
        assert!(f.message.contains("2026-11-30"));
        let no_licence = answer(ID);
        assert_eq!(
            reason(judge_driver(
                "driver 1",
                "000205628",
                T,
                no_licence.as_ref()
            )),
            "licence-document-missing"
        );
        let expiring_today = answer(&[ID, &LICENCE.replace("2031-03-01", T)].concat());
        assert_eq!(
            reason(judge_driver(
                "driver 1",
                "000205628",
                T,
                expiring_today.as_ref()
            )),
            "ok"
        );
    }

    #[test]
    fn owner_needs_the_registration_of_this_vehicle() {
        let w = answer(&[ID, LICENCE, REGISTRATION].concat());
        assert_eq!(
            reason(judge_owner("999KEZ02", T, w.as_ref())),
            "vehicle-document-missing"
        );
        assert_eq!(
            reason(judge_owner("102KEC02", T, None)),
            "documents-not-found"
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(wallet("<Other/>").is_err());
        assert!(
            wallet("<DigitalDocumentsResponse><found>1</found></DigitalDocumentsResponse>")
                .is_err()
        );
        assert!(
            wallet("<DigitalDocumentsResponse><found>true</found></DigitalDocumentsResponse>")
                .is_err()
        );
        assert!(
            wallet(&format!(
                "<DigitalDocumentsResponse><found>true</found><documents>{}</documents></DigitalDocumentsResponse>",
                ID.replace("active", "suspended")
            ))
            .is_err()
        );
        assert!(
            wallet(&format!(
                "<DigitalDocumentsResponse><found>true</found><documents>{}</documents></DigitalDocumentsResponse>",
                ID.replace("2030-01-09", "09.01.2030")
            ))
            .is_err()
        );
        assert_eq!(
            wallet("<DigitalDocumentsResponse><found>false</found></DigitalDocumentsResponse>"),
            Ok(None)
        );
    }
}
