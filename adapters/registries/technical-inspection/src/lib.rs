//! P18.14 — the vehicle has a technical inspection valid on the travel date (unified system
//! of mandatory technical inspection, service `TO_INSPECTIONS` via the e-government
//! gateway; mocks/PROTOCOLS.md §4, check 14). Foreign vehicles' international inspection
//! certificates are held in the same system (P19: non-residents run check 14 too).
//!
//! The latest record (by inspection date) decides: no record, a failed inspection, or a pass
//! that ends before the travel date all fail. Parsing never guesses: a missing or unexpected
//! field is a `bad-response`.

use kezek_adapter_sdk::xml::{self, Element};
use kezek_adapter_sdk::{
    Adapter, CheckError, CheckRequest, Descriptor, Finding, RequestFields, date, finding, gateway,
};

const SERVICE_ID: &str = "TO_INSPECTIONS";

struct TechnicalInspection;

impl Adapter for TechnicalInspection {
    fn describe() -> Descriptor {
        Descriptor {
            id: "technical-inspection".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "Unified technical inspection system".into(),
            checks: vec![14],
            reads: RequestFields::VEHICLE | RequestFields::TRAVEL_DATE,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        let travel = date::iso_date(&req.travel_date, "the travel date")
            .map_err(CheckError::RejectedInput)?;
        let data = xml::element(
            "InspectionRequest",
            &[("plate", &req.vehicle.plate), ("vin", &req.vehicle.vin)],
        );
        let answer = gateway::call(&req.correlation_id, gateway::Call::new(SERVICE_ID, data))?;
        let records = parse(&answer).map_err(CheckError::BadResponse)?;
        Ok(judge(&req.vehicle.plate, travel, &records))
    }
}

kezek_adapter_sdk::export_adapter!(TechnicalInspection);

/// One inspection record of the vehicle.
#[derive(Debug, PartialEq)]
struct Inspection {
    number: String,
    date: String,
    valid_until: String,
    passed: bool,
}

fn parse(answer: &Element) -> Result<Vec<Inspection>, String> {
    if answer.name != "InspectionResponse" {
        return Err(format!(
            "expected <InspectionResponse>, got <{}>",
            answer.name
        ));
    }
    let list = answer
        .child("inspections")
        .ok_or("<InspectionResponse> has no <inspections>")?;
    list.children
        .iter()
        .map(|record| {
            if record.name != "inspection" {
                return Err(format!("unexpected <{}> in <inspections>", record.name));
            }
            let passed = match record.required("result")? {
                "passed" => true,
                "failed" => false,
                other => return Err(format!("inspection result is {other:?}")),
            };
            Ok(Inspection {
                number: record.required("number")?.to_owned(),
                date: date::iso_date(record.required("date")?, "inspection date")?.to_owned(),
                valid_until: date::iso_date(record.required("validUntil")?, "validUntil")?
                    .to_owned(),
                passed,
            })
        })
        .collect()
}

/// The latest record decides; on equal dates the registry's order (newest first) does.
fn judge(plate: &str, travel: &str, records: &[Inspection]) -> Finding {
    let latest = records
        .iter()
        .fold(None::<&Inspection>, |best, r| match best {
            Some(b) if b.date >= r.date => Some(b),
            _ => Some(r),
        });
    let Some(latest) = latest else {
        return finding::fail(
            "no-inspection",
            format!("there is no technical inspection record for vehicle {plate}"),
        );
    };
    let reference = Some(latest.number.as_str());
    if !latest.passed {
        return finding::fail(
            "inspection-failed",
            format!(
                "vehicle {plate} failed its latest technical inspection on {}",
                latest.date
            ),
        )
        .with_reference(reference);
    }
    if latest.valid_until.as_str() < travel {
        return finding::fail(
            "inspection-expired",
            format!(
                "technical inspection of vehicle {plate} ends {}, before the travel date {travel}",
                latest.valid_until
            ),
        )
        .with_reference(reference);
    }
    finding::pass(
        "inspection-valid",
        format!(
            "vehicle {plate} passed technical inspection on {}, valid until {}",
            latest.date, latest.valid_until
        ),
    )
    .with_reference(reference)
    .valid_until(Some(&latest.valid_until))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_adapter_sdk::Verdict;

    fn records(xml: &str) -> Result<Vec<Inspection>, String> {
        parse(&Element::parse(xml).unwrap())
    }

    fn record(number: &str, date: &str, until: &str, result: &str) -> String {
        format!(
            "<inspection><number>{number}</number><plate>101KEB02</plate>\
             <vin>XTC65115000000001</vin><date>{date}</date><validUntil>{until}</validUntil>\
             <result>{result}</result><operator>Astana TO-1</operator></inspection>"
        )
    }

    fn answer(records: &[String]) -> String {
        format!(
            "<InspectionResponse><inspections>{}</inspections></InspectionResponse>",
            records.concat()
        )
    }

    fn verdict(f: &Finding) -> (Verdict, &str) {
        (f.verdict, f.reason_code.as_str())
    }

    #[test]
    fn a_pass_valid_on_the_travel_date_passes() {
        let r = records(&answer(&[record(
            "TO-1",
            "2026-06-10",
            "2027-06-09",
            "passed",
        )]))
        .unwrap();
        let f = judge("101KEB02", "2026-12-01", &r);
        assert_eq!(verdict(&f), (Verdict::Pass, "inspection-valid"));
        assert_eq!(f.registry_reference.as_deref(), Some("TO-1"));
        assert_eq!(f.valid_until.as_deref(), Some("2027-06-09"));
        // Valid up to and including the travel date.
        let r = records(&answer(&[record(
            "TO-1",
            "2025-12-01",
            "2026-12-01",
            "passed",
        )]))
        .unwrap();
        assert_eq!(
            verdict(&judge("101KEB02", "2026-12-01", &r)),
            (Verdict::Pass, "inspection-valid")
        );
    }

    #[test]
    fn the_latest_record_decides() {
        // A newer failed inspection beats an older pass, whatever the order in the answer.
        let r = records(&answer(&[
            record("TO-22", "2026-05-01", "2027-04-30", "passed"),
            record("TO-22-R", "2026-11-15", "2027-11-14", "failed"),
        ]))
        .unwrap();
        let f = judge("122KEW02", "2026-12-01", &r);
        assert_eq!(verdict(&f), (Verdict::Fail, "inspection-failed"));
        assert_eq!(f.registry_reference.as_deref(), Some("TO-22-R"));
        assert!(f.message.contains("2026-11-15"));
    }

    #[test]
    fn an_expired_pass_and_no_record_fail() {
        let r = records(&answer(&[record(
            "TO-21",
            "2025-10-31",
            "2026-10-31",
            "passed",
        )]))
        .unwrap();
        let f = judge("121KEV02", "2026-12-01", &r);
        assert_eq!(verdict(&f), (Verdict::Fail, "inspection-expired"));
        assert!(f.message.contains("2026-10-31") && f.message.contains("2026-12-01"));
        let none = records("<InspectionResponse><inspections/></InspectionResponse>").unwrap();
        assert_eq!(
            verdict(&judge("XJ00107", "2026-12-01", &none)),
            (Verdict::Fail, "no-inspection")
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(records("<InspectionResponse/>").is_err());
        assert!(records("<Other><inspections/></Other>").is_err());
        assert!(
            records(&answer(&[record(
                "TO-1",
                "2026-06-10",
                "2027-06-09",
                "maybe"
            )]))
            .is_err()
        );
        assert!(
            records(&answer(&[record(
                "TO-1",
                "10.06.2026",
                "2027-06-09",
                "passed"
            )]))
            .is_err()
        );
        assert!(
            records(
                "<InspectionResponse><inspections><inspection><number>TO-1</number>\
                 <date>2026-06-10</date><result>passed</result></inspection></inspections>\
                 </InspectionResponse>"
            )
            .is_err()
        );
        assert!(
            records(
                "<InspectionResponse><inspections><record/></inspections></InspectionResponse>"
            )
            .is_err()
        );
    }
}
