//! P18.10 — unpaid road-safety fines (ЕРАП, the unified register of administrative
//! proceedings, service `ERAP_UNPAID_FINES` via the e-government gateway;
//! mocks/PROTOCOLS.md §4, check 10).
//!
//! Asked once per IIN (a natural-person owner, every driver with an IIN) and once for the
//! vehicle plate. A found fine is a `notice`, never a `fail`: whether it blocks is the rule
//! set's call (P19 — residents are notified, the non-resident rule set blocks).

use kezek_adapter_sdk::xml::{self, Element};
use kezek_adapter_sdk::{
    Adapter, CheckError, CheckRequest, Descriptor, Finding, PartyKind, RequestFields, Residency,
    date, finding, gateway,
};

const SERVICE_ID: &str = "ERAP_UNPAID_FINES";

struct RoadFines;

impl Adapter for RoadFines {
    fn describe() -> Descriptor {
        Descriptor {
            id: "road-fines".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "ЕРАП (unified register of administrative proceedings)".into(),
            checks: vec![10],
            reads: RequestFields::OWNER | RequestFields::DRIVERS | RequestFields::VEHICLE,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        let mut found = Vec::new();
        for (subject, iin) in people(&req)? {
            let fines = lookup(&req.correlation_id, Key::Iin(&iin))?;
            found.push((subject, fines));
        }
        let fines = lookup(&req.correlation_id, Key::Plate(&req.vehicle.plate))?;
        found.push((format!("vehicle {}", req.vehicle.plate), fines));
        Ok(judge(&found))
    }
}

kezek_adapter_sdk::export_adapter!(RoadFines);

/// The people whose fines are asked for, each IIN once, with how the finding names them
/// ("the owner", "driver 2", "the owner and driver 1"). A resident without an IIN cannot be
/// looked up and is a `rejected-input`; a non-resident without one is asked by plate only.
fn people(req: &CheckRequest) -> Result<Vec<(String, String)>, CheckError> {
    let mut people: Vec<(String, String)> = Vec::new();
    let mut add = |label: String, iin: &str| match people.iter_mut().find(|(_, known)| known == iin)
    {
        Some((names, _)) => {
            names.push_str(" and ");
            names.push_str(&label);
        }
        None => people.push((label, iin.to_owned())),
    };
    if req.owner.kind == PartyKind::NaturalPerson {
        match present(req.owner.iin_bin.as_deref()) {
            Some(iin) => add("the owner".into(), iin),
            None if req.owner.residency == Residency::Resident => {
                return Err(CheckError::RejectedInput(
                    "the resident owner has no IIN".into(),
                ));
            }
            None => {}
        }
    }
    for (i, driver) in req.drivers.iter().enumerate() {
        match present(driver.iin.as_deref()) {
            Some(iin) => add(format!("driver {}", i + 1), iin),
            None if driver.residency == Residency::Resident => {
                return Err(CheckError::RejectedInput(format!(
                    "driver {} is a resident without an IIN",
                    i + 1
                )));
            }
            None => {}
        }
    }
    Ok(people)
}

fn present(id: Option<&str>) -> Option<&str> {
    id.filter(|s| !s.is_empty())
}

#[derive(Debug, Clone, Copy)]
enum Key<'a> {
    Iin(&'a str),
    Plate(&'a str),
}

fn lookup(correlation_id: &str, key: Key<'_>) -> Result<Vec<Fine>, CheckError> {
    let mut data = String::from("<FinesRequest>");
    match key {
        Key::Iin(iin) => xml::leaf(&mut data, "iin", iin),
        Key::Plate(plate) => xml::leaf(&mut data, "plate", plate),
    }
    data.push_str("</FinesRequest>");
    let answer = gateway::call(correlation_id, gateway::Call::new(SERVICE_ID, data))?;
    parse(&answer).map_err(CheckError::BadResponse)
}

/// One unpaid fine.
#[derive(Debug, Clone, PartialEq)]
struct Fine {
    protocol: String,
    amount: u64,
    due: String,
}

fn amount(e: &Element, name: &str) -> Result<u64, String> {
    e.required(name)?
        .parse()
        .map_err(|_| format!("<{name}> is not a non-negative KZT amount"))
}

fn parse(answer: &Element) -> Result<Vec<Fine>, String> {
    if answer.name != "FinesResponse" {
        return Err(format!("expected <FinesResponse>, got <{}>", answer.name));
    }
    let fines = answer
        .child("fines")
        .ok_or("answer has no <fines>")?
        .children_named("fine")
        .map(|f| {
            date::iso_date(f.required("offenceDate")?, "<offenceDate>")?;
            Ok(Fine {
                protocol: f.required("protocolNumber")?.to_owned(),
                amount: amount(f, "amount")?,
                due: date::iso_date(f.required("dueDate")?, "<dueDate>")?.to_owned(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let total = amount(answer, "totalAmount")?;
    let sum = fines
        .iter()
        .try_fold(0u64, |s, f| s.checked_add(f.amount))
        .ok_or("fine amounts overflow")?;
    if sum != total {
        return Err(format!(
            "<totalAmount> {total} differs from the sum of the fines {sum}"
        ));
    }
    Ok(fines)
}

/// Every unpaid fine is counted once (a fine on a driver's own vehicle is found by IIN and
/// by plate) and attributed to the first subject it was found for.
fn judge(found: &[(String, Vec<Fine>)]) -> Finding {
    let mut seen: Vec<&str> = Vec::new();
    let mut parts = Vec::new();
    let mut total = 0u64;
    for (subject, fines) in found {
        let new: Vec<&Fine> = fines
            .iter()
            .filter(|f| {
                let fresh = !seen.contains(&f.protocol.as_str());
                if fresh {
                    seen.push(&f.protocol);
                }
                fresh
            })
            .collect();
        if new.is_empty() {
            continue;
        }
        let sum: u64 = new.iter().map(|f| f.amount).sum();
        total = total.saturating_add(sum);
        let due = new.iter().map(|f| f.due.as_str()).min().unwrap_or_default();
        parts.push(format!(
            "{subject} {} ({} {}, earliest due {due})",
            kzt(sum),
            new.len(),
            if new.len() == 1 { "fine" } else { "fines" },
        ));
    }
    if seen.is_empty() {
        let who: Vec<&str> = found.iter().map(|(s, _)| s.as_str()).collect();
        return finding::pass(
            "no-unpaid-fines",
            format!("no unpaid road-safety fines for {}", who.join(", ")),
        );
    }
    finding::notice(
        "unpaid-fines",
        format!(
            "unpaid road-safety fines {}: {}",
            kzt(total),
            parts.join("; ")
        ),
    )
    .with_reference(Some(&seen.join(", ")))
}

fn kzt(amount: u64) -> String {
    date::kzt(i64::try_from(amount).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_adapter_sdk::Verdict;

    fn fines(xml: &str) -> Result<Vec<Fine>, String> {
        parse(&Element::parse(xml).unwrap())
    }

    const DRIVER_FINE: &str = "<FinesResponse><fines><fine><protocolNumber>ERAP-00000033</protocolNumber>\
        <article>KoAP 592-1</article><offenceDate>2026-10-11</offenceDate><amount>19660</amount>\
        <dueDate>2026-11-10</dueDate><subjectIin>940419303305</subjectIin></fine></fines>\
        <totalAmount>19660</totalAmount></FinesResponse>";
    const NONE: &str = "<FinesResponse><fines/><totalAmount>0</totalAmount></FinesResponse>";

    #[test]
    fn a_drivers_fine_is_a_notice_never_a_fail() {
        let found = vec![
            ("driver 1".to_owned(), fines(DRIVER_FINE).unwrap()),
            ("vehicle 133KEH02".to_owned(), fines(NONE).unwrap()),
        ];
        let f = judge(&found);
        assert_eq!(
            (f.verdict, f.reason_code.as_str()),
            (Verdict::Notice, "unpaid-fines")
        );
        assert_eq!(
            f.message,
            "unpaid road-safety fines 19 660 KZT: driver 1 19 660 KZT (1 fine, earliest due 2026-11-10)"
        );
        assert_eq!(f.registry_reference.as_deref(), Some("ERAP-00000033"));
        assert!(!f.message.contains("940419303305"));
    }

    #[test]
    fn a_fine_found_by_iin_and_by_plate_counts_once() {
        let found = vec![
            (
                "the owner and driver 1".to_owned(),
                fines(DRIVER_FINE).unwrap(),
            ),
            ("vehicle 133KEH02".to_owned(), fines(DRIVER_FINE).unwrap()),
        ];
        let f = judge(&found);
        assert!(
            f.message
                .starts_with("unpaid road-safety fines 19 660 KZT: the owner and driver 1")
        );
        assert!(!f.message.contains("vehicle"));
    }

    #[test]
    fn no_fines_pass() {
        let found = vec![
            ("driver 1".to_owned(), fines(NONE).unwrap()),
            ("vehicle 101KEB02".to_owned(), fines(NONE).unwrap()),
        ];
        let f = judge(&found);
        assert_eq!(
            (f.verdict, f.reason_code.as_str()),
            (Verdict::Pass, "no-unpaid-fines")
        );
        assert_eq!(f.registry_reference, None);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(fines("<Other/>").is_err());
        assert!(fines("<FinesResponse><totalAmount>0</totalAmount></FinesResponse>").is_err());
        assert!(fines("<FinesResponse><fines/></FinesResponse>").is_err());
        assert!(fines(&DRIVER_FINE.replace("<totalAmount>19660", "<totalAmount>0")).is_err());
        assert!(fines(&DRIVER_FINE.replace("<amount>19660", "<amount>lots")).is_err());
        assert!(fines(&DRIVER_FINE.replace("2026-11-10", "10.11.2026")).is_err());
    }
}
