//! P18.3 — every driver holds a valid driver licence of the category the vehicle needs
//! ("Automobile" database, service `AUTO_DRIVER_LICENCE` via the e-government gateway;
//! mocks/PROTOCOLS.md §4, check 3).
//!
//! Required category: `C` for a truck or tractor unit alone, `CE` when a trailer is
//! present (every trailer here is a freight trailer over 750 kg). Categories match
//! literally: `CE` does not imply `C`. Drivers are checked in request order and the first
//! failing one decides; a driver without an IIN cannot be looked up (`rejected-input`).

use kezek_adapter_sdk::xml::{self, Element};
use kezek_adapter_sdk::{
    Adapter, CheckError, CheckRequest, Descriptor, Finding, RequestFields, VehicleKind, Verdict,
    date, finding, flag, gateway,
};

const SERVICE_ID: &str = "AUTO_DRIVER_LICENCE";

struct LicenceCategory;

impl Adapter for LicenceCategory {
    fn describe() -> Descriptor {
        Descriptor {
            id: "licence-category".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "Automobile (driver licences)".into(),
            checks: vec![3],
            reads: RequestFields::DRIVERS
                | RequestFields::VEHICLE
                | RequestFields::TRAILER
                | RequestFields::TRAVEL_DATE,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        let travel = date::iso_date(&req.travel_date, "the travel date")
            .map_err(CheckError::RejectedInput)?;
        let need = Need::of(req.vehicle.kind, req.trailer.is_some())?;
        if req.drivers.is_empty() {
            return Err(CheckError::RejectedInput(
                "the request has no drivers".into(),
            ));
        }
        let mut earliest_expiry: Option<String> = None;
        for (i, driver) in req.drivers.iter().enumerate() {
            let n = i + 1;
            let iin = driver
                .iin
                .as_deref()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    CheckError::RejectedInput(format!(
                        "driver {n} has no IIN: the licence cannot be looked up"
                    ))
                })?;
            let licence = lookup(&req.correlation_id, iin)?;
            let f = judge(n, need, travel, licence.as_ref());
            if f.verdict != Verdict::Pass {
                return Ok(f);
            }
            if let Some(l) = &licence
                && earliest_expiry
                    .as_deref()
                    .is_none_or(|e| l.expiry_date.as_str() < e)
            {
                earliest_expiry = Some(l.expiry_date.clone());
            }
        }
        let who = if req.drivers.len() == 1 {
            "the driver holds".to_owned()
        } else {
            format!("all {} drivers hold", req.drivers.len())
        };
        Ok(finding::pass(
            "licence-category-ok",
            format!(
                "{who} a valid licence of category {} required for {}",
                need.category,
                need.vehicle()
            ),
        )
        .valid_until(earliest_expiry.as_deref()))
    }
}

kezek_adapter_sdk::export_adapter!(LicenceCategory);

/// The category the vehicle needs, and what it is for the message.
#[derive(Debug, Clone, Copy)]
struct Need {
    category: &'static str,
    kind: VehicleKind,
    trailer: bool,
}

impl Need {
    fn of(kind: VehicleKind, trailer: bool) -> Result<Need, CheckError> {
        match kind {
            VehicleKind::Truck | VehicleKind::TractorUnit => Ok(Need {
                category: if trailer { "CE" } else { "C" },
                kind,
                trailer,
            }),
            VehicleKind::AgriculturalMachine => Err(CheckError::RejectedInput(
                "check 3 applies to trucks and tractor units, not to agricultural machinery".into(),
            )),
        }
    }

    fn vehicle(self) -> String {
        let kind = match self.kind {
            VehicleKind::TractorUnit => "a tractor unit",
            _ => "a truck",
        };
        if self.trailer {
            format!("{kind} with trailer")
        } else {
            kind.to_owned()
        }
    }
}

/// What the "Automobile" database holds about one driver's licence.
#[derive(Debug, PartialEq)]
struct Licence {
    number: String,
    categories: Vec<String>,
    expiry_date: String,
    revoked: bool,
}

fn lookup(correlation_id: &str, iin: &str) -> Result<Option<Licence>, CheckError> {
    let data = xml::element("LicenceRequest", &[("iin", iin)]);
    let answer = gateway::call(correlation_id, gateway::Call::new(SERVICE_ID, data))?;
    parse(&answer, iin).map_err(CheckError::BadResponse)
}

fn parse(answer: &Element, iin: &str) -> Result<Option<Licence>, String> {
    if answer.name != "LicenceResponse" {
        return Err(format!("expected <LicenceResponse>, got <{}>", answer.name));
    }
    if !flag(answer.text_of("found"), "found")
        .map_err(|_| "<found> is not true/false".to_owned())?
    {
        return Ok(None);
    }
    let licence = answer
        .child("licence")
        .ok_or("found=true without <licence>")?;
    if licence.required("iin")? != iin {
        return Err("the licence belongs to another IIN".into());
    }
    let categories: Vec<String> = licence
        .child("categories")
        .ok_or("<licence> has no <categories>")?
        .children_named("category")
        .map(|c| c.text.trim().to_owned())
        .collect();
    let revoked = match licence.required("status")? {
        "valid" => false,
        "revoked" => true,
        other => return Err(format!("unexpected licence status {other:?}")),
    };
    Ok(Some(Licence {
        number: licence.required("number")?.to_owned(),
        categories,
        expiry_date: date::iso_date(licence.required("expiryDate")?, "<expiryDate>")?.to_owned(),
        revoked,
    }))
}

/// The first failing rule decides: found, not revoked, not expired on T, right category.
fn judge(driver: usize, need: Need, travel: &str, licence: Option<&Licence>) -> Finding {
    let Some(licence) = licence else {
        return finding::fail(
            "licence-not-found",
            format!("driver {driver} has no driver licence in the Automobile database"),
        );
    };
    let f = if licence.revoked {
        finding::fail(
            "licence-revoked",
            format!("the driver licence of driver {driver} is revoked"),
        )
    } else if licence.expiry_date.as_str() < travel {
        finding::fail(
            "licence-expired",
            format!(
                "the driver licence of driver {driver} expired on {}, before the travel date {travel}",
                licence.expiry_date
            ),
        )
    } else if !licence.categories.iter().any(|c| c == need.category) {
        let held = if licence.categories.is_empty() {
            "none".to_owned()
        } else {
            licence.categories.join(", ")
        };
        finding::fail(
            "licence-category-missing",
            format!(
                "licence category {} required for {}, driver {driver} has {held}",
                need.category,
                need.vehicle()
            ),
        )
    } else {
        finding::pass(
            "licence-category-ok",
            format!(
                "driver {driver} holds category {} valid until {}",
                need.category, licence.expiry_date
            ),
        )
        .valid_until(Some(&licence.expiry_date))
    };
    f.with_reference(Some(&licence.number))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IIN: &str = "730404300107";
    const T: &str = "2026-12-01";

    fn licence(categories: &str, expiry: &str, status: &str) -> Result<Option<Licence>, String> {
        let xml = format!(
            "<LicenceResponse><found>true</found><licence><iin>{IIN}</iin>\
             <number>KZ000105319L</number><categories>{categories}</categories>\
             <issueDate>2021-03-01</issueDate><expiryDate>{expiry}</expiryDate>\
             <status>{status}</status></licence></LicenceResponse>"
        );
        parse(&Element::parse(&xml).unwrap(), IIN)
    }

    fn need(trailer: bool) -> Need {
        Need::of(VehicleKind::TractorUnit, trailer).unwrap()
    }

    const C_CE: &str = "<category>B</category><category>C</category><category>CE</category>";

    #[test]
    fn ce_holder_with_a_trailer_passes() {
        let l = licence(C_CE, "2031-03-01", "valid").unwrap();
        let f = judge(1, need(true), T, l.as_ref());
        assert_eq!(
            (f.verdict, f.reason_code.as_str()),
            (Verdict::Pass, "licence-category-ok")
        );
        assert_eq!(f.valid_until.as_deref(), Some("2031-03-01"));
    }

    #[test]
    fn c_holder_with_a_trailer_lacks_ce() {
        let l = licence(
            "<category>B</category><category>C</category>",
            "2031-03-01",
            "valid",
        )
        .unwrap();
        assert_eq!(judge(1, need(false), T, l.as_ref()).verdict, Verdict::Pass);
        let f = judge(2, need(true), T, l.as_ref());
        assert_eq!(
            (f.verdict, f.reason_code.as_str()),
            (Verdict::Fail, "licence-category-missing")
        );
        assert_eq!(
            f.message,
            "licence category CE required for a tractor unit with trailer, driver 2 has B, C"
        );
    }

    #[test]
    fn ce_does_not_imply_c() {
        let l = licence("<category>CE</category>", "2031-03-01", "valid").unwrap();
        let f = judge(1, need(false), T, l.as_ref());
        assert_eq!(f.reason_code, "licence-category-missing");
    }

    #[test]
    fn revoked_expired_and_not_found_fail() {
        let l = licence(C_CE, "2031-03-01", "revoked").unwrap();
        assert_eq!(
            judge(1, need(true), T, l.as_ref()).reason_code,
            "licence-revoked"
        );
        let l = licence(C_CE, "2026-11-30", "valid").unwrap();
        assert_eq!(
            judge(1, need(true), T, l.as_ref()).reason_code,
            "licence-expired"
        );
        let l = licence(C_CE, T, "valid").unwrap();
        assert_eq!(judge(1, need(true), T, l.as_ref()).verdict, Verdict::Pass);
        let none = parse(
            &Element::parse("<LicenceResponse><found>false</found></LicenceResponse>").unwrap(),
            IIN,
        )
        .unwrap();
        assert_eq!(
            judge(1, need(true), T, none.as_ref()).reason_code,
            "licence-not-found"
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(licence(C_CE, "2031-03-01", "suspended").is_err());
        assert!(licence(C_CE, "01.03.2031", "valid").is_err());
        let parse_str = |s: &str| parse(&Element::parse(s).unwrap(), IIN);
        assert!(parse_str("<LicenceResponse><found>true</found></LicenceResponse>").is_err());
        assert!(parse_str("<LicenceResponse><found>1</found></LicenceResponse>").is_err());
        assert!(parse_str("<Other/>").is_err());
        let other_iin = "<LicenceResponse><found>true</found><licence><iin>1</iin>\
            <number>N</number><categories/><expiryDate>2031-01-01</expiryDate>\
            <status>valid</status></licence></LicenceResponse>";
        assert!(parse_str(other_iin).is_err());
        assert!(Need::of(VehicleKind::AgriculturalMachine, false).is_err());
    }
}
