//! P18.18 — movement and weighing records: no open weight violation in the 90 days up to
//! the travel date (intelligent transport system, weigh stations, JSON REST
//! `GET /v1/vehicles/{plate}/weighings?from=&to=`; mocks/PROTOCOLS.md §4, check 18).
//! P19: residents and non-residents alike.
//!
//! The registry filters the window (inclusive, on the date of `measuredAt`); every record it
//! returns counts, and any with `violationStatus = open` fails. Parsing never guesses: a
//! missing or unexpected field is a `bad-response`.

use kezek_adapter_sdk::{
    Adapter, CheckError, CheckRequest, Descriptor, Finding, RequestFields, date, finding, same_id,
};
use kezek_adapter_sdk::{plate, rest};
use serde_json::Value;

const ENDPOINT: &str = "its-weighing";
/// The window looked at: T−90 days .. T.
const WINDOW_DAYS: i64 = 90;

struct WeighingRecords;

impl Adapter for WeighingRecords {
    fn describe() -> Descriptor {
        Descriptor {
            id: "weighing-records".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "Intelligent transport system (weigh stations)".into(),
            checks: vec![18],
            reads: RequestFields::VEHICLE | RequestFields::TRAVEL_DATE,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        let to = date::iso_date(&req.travel_date, "the travel date")
            .map_err(CheckError::RejectedInput)?;
        let from = window_start(to).ok_or_else(|| {
            CheckError::RejectedInput(format!("travel date {to} is out of range"))
        })?;
        let plate = plate::normalise(&req.vehicle.plate);
        if plate.is_empty() {
            return Err(CheckError::RejectedInput("the vehicle has no plate".into()));
        }
        let path = format!(
            "/v1/vehicles/{}/weighings?from={from}&to={to}",
            rest::segment(&plate)
        );
        let answer = rest::call(ENDPOINT, "GET", &path, None, &req.correlation_id)?
            // An unweighed plate is `"found": false`; a 404 is not that answer.
            .ok_or_else(|| finding::bad_response("ITS answered HTTP 404"))?;
        let records = parse(&answer, &plate)?;
        Ok(judge(&req.vehicle.plate, &from, to, &records))
    }
}

kezek_adapter_sdk::export_adapter!(WeighingRecords);

/// `YYYY-MM-DD` of `to` minus [`WINDOW_DAYS`].
fn window_start(to: &str) -> Option<String> {
    let days = date::days(to)? - WINDOW_DAYS;
    Some(iso_from_days(days))
}

/// ISO date of a day count since 1970-01-01 (proleptic Gregorian; the inverse of
/// `date::days`).
fn iso_from_days(z: i64) -> String {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Violation {
    None,
    Open,
    Paid,
}

#[derive(Debug, PartialEq)]
struct Axle {
    index: i64,
    load_kg: i64,
    limit_kg: i64,
}

/// One weighing in the window.
#[derive(Debug, PartialEq)]
struct Weighing {
    id: String,
    station: String,
    /// Date part of `measuredAt`.
    day: String,
    gross_kg: i64,
    gross_limit_kg: i64,
    axles: Vec<Axle>,
    violation: Violation,
}

fn bad(what: impl std::fmt::Display) -> CheckError {
    finding::bad_response(what)
}

fn parse(answer: &Value, plate: &str) -> Result<Vec<Weighing>, CheckError> {
    let found = rest::field(answer, "found")?
        .as_bool()
        .ok_or_else(|| bad("\"found\" is not true/false"))?;
    if !same_id(rest::str_field(answer, "plate")?, plate) {
        return Err(bad("ITS answered about another plate"));
    }
    let records = rest::field(answer, "records")?
        .as_array()
        .ok_or_else(|| bad("\"records\" is not a list"))?;
    if !found && !records.is_empty() {
        return Err(bad(
            "ITS lists weighings of a plate it says it never weighed",
        ));
    }
    records.iter().map(record).collect()
}

fn record(r: &Value) -> Result<Weighing, CheckError> {
    let violation = match rest::str_field(r, "violationStatus")? {
        "none" => Violation::None,
        "open" => Violation::Open,
        "paid" => Violation::Paid,
        other => return Err(bad(format!("violationStatus is {other:?}"))),
    };
    rest::field(r, "overweight")?
        .as_bool()
        .ok_or_else(|| bad("\"overweight\" is not true/false"))?;
    let axles = rest::field(r, "axles")?
        .as_array()
        .ok_or_else(|| bad("\"axles\" is not a list"))?
        .iter()
        .map(|a| {
            Ok(Axle {
                index: rest::int_field(a, "index")?,
                load_kg: rest::int_field(a, "loadKg")?,
                limit_kg: rest::int_field(a, "limitKg")?,
            })
        })
        .collect::<Result<Vec<_>, CheckError>>()?;
    Ok(Weighing {
        id: rest::str_field(r, "id")?.to_owned(),
        station: rest::str_field(r, "station")?.to_owned(),
        day: date::iso_date(rest::str_field(r, "measuredAt")?, "measuredAt")
            .map_err(bad)?
            .to_owned(),
        gross_kg: rest::int_field(r, "grossMassKg")?,
        gross_limit_kg: rest::int_field(r, "grossLimitKg")?,
        axles,
        violation,
    })
}

/// "44 800 kg": masses grouped like amounts (`date::kzt`), in kilograms.
fn kg(mass: i64) -> String {
    date::kzt(mass).replace(" KZT", " kg")
}

/// What was over the limit, in words.
fn excess(w: &Weighing) -> String {
    if w.gross_kg > w.gross_limit_kg {
        return format!(
            "gross mass {} over the {} limit",
            kg(w.gross_kg),
            kg(w.gross_limit_kg)
        );
    }
    match w.axles.iter().find(|a| a.load_kg > a.limit_kg) {
        Some(a) => format!(
            "axle {} load {} over the {} limit",
            a.index,
            kg(a.load_kg),
            kg(a.limit_kg)
        ),
        None => "overweight".to_owned(),
    }
}

fn judge(plate: &str, from: &str, to: &str, records: &[Weighing]) -> Finding {
    let open: Vec<&Weighing> = records
        .iter()
        .filter(|w| w.violation == Violation::Open)
        .collect();
    let latest = open.iter().fold(None::<&Weighing>, |best, w| match best {
        Some(b) if b.day >= w.day => Some(b),
        _ => Some(w),
    });
    if let Some(w) = latest {
        let more = match open.len() {
            1 => String::new(),
            n => format!(" ({n} open violations in all)"),
        };
        return finding::fail(
            "weight-violation-open",
            format!(
                "vehicle {plate} has an unsettled weight violation: {} at {} on {}{more}",
                excess(w),
                w.station,
                w.day
            ),
        )
        .with_reference(Some(&w.id));
    }
    finding::pass(
        "no-open-weight-violations",
        format!(
            "vehicle {plate} has no open weight violation from {from} to {to} ({} weighing{})",
            records.len(),
            if records.len() == 1 { "" } else { "s" }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_adapter_sdk::Verdict;

    fn records(json: &str) -> Result<Vec<Weighing>, CheckError> {
        parse(&serde_json::from_str(json).unwrap(), "129KED02")
    }

    fn weighing(id: &str, at: &str, gross: i64, axle2: i64, status: &str) -> String {
        format!(
            r#"{{"id": "{id}", "station": "ASP Kapshagay km 54", "measuredAt": "{at}",
                "grossMassKg": {gross}, "grossLimitKg": 40000,
                "axles": [{{"index": 1, "loadKg": 8000, "limitKg": 10000}},
                          {{"index": 2, "loadKg": {axle2}, "limitKg": 11500}}],
                "overweight": true, "violationStatus": "{status}"}}"#
        )
    }

    fn answer(found: bool, rs: &[String]) -> String {
        format!(
            r#"{{"found": {found}, "plate": "129KED02", "records": [{}]}}"#,
            rs.join(",")
        )
    }

    fn verdict(f: &Finding) -> (Verdict, &str) {
        (f.verdict, f.reason_code.as_str())
    }

    #[test]
    fn an_open_violation_fails_with_the_facts() {
        let r = records(&answer(
            true,
            &[
                weighing("W-1", "2026-10-01T09:00:00+05:00", 41000, 9000, "open"),
                weighing("W-2", "2026-11-24T11:30:00+05:00", 44800, 13100, "open"),
            ],
        ))
        .unwrap();
        let f = judge("129KED02", "2026-09-02", "2026-12-01", &r);
        assert_eq!(verdict(&f), (Verdict::Fail, "weight-violation-open"));
        assert_eq!(f.registry_reference.as_deref(), Some("W-2"));
        assert!(f.message.contains("44 800 kg") && f.message.contains("2026-11-24"));
        // Axle overload under the gross limit is named as such.
        let r = records(&answer(
            true,
            &[weighing(
                "W-3",
                "2026-11-24T11:30:00+05:00",
                39000,
                13100,
                "open",
            )],
        ))
        .unwrap();
        let f = judge("129KED02", "2026-09-02", "2026-12-01", &r);
        assert!(f.message.contains("axle 2 load 13 100 kg"), "{}", f.message);
    }

    #[test]
    fn paid_or_no_violations_and_no_records_pass() {
        let r = records(&answer(
            true,
            &[weighing(
                "W-1",
                "2026-11-20T14:02:00+05:00",
                42100,
                10500,
                "paid",
            )],
        ))
        .unwrap();
        assert_eq!(
            verdict(&judge("130KEE02", "2026-09-02", "2026-12-01", &r)),
            (Verdict::Pass, "no-open-weight-violations")
        );
        let none = records(&answer(false, &[])).unwrap();
        assert_eq!(
            verdict(&judge("129KED02", "2026-09-02", "2026-12-01", &none)),
            (Verdict::Pass, "no-open-weight-violations")
        );
    }

    #[test]
    fn the_window_is_ninety_days_before_the_travel_date() {
        assert_eq!(window_start("2026-12-01").as_deref(), Some("2026-09-02"));
        assert_eq!(window_start("2024-03-01").as_deref(), Some("2023-12-02"));
        assert_eq!(iso_from_days(0), "1970-01-01");
        for day in ["2024-02-29", "2000-12-31", "2026-01-01"] {
            assert_eq!(iso_from_days(date::days(day).unwrap()), day);
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(records(r#"{"plate": "129KED02", "records": []}"#).is_err());
        assert!(records(r#"{"found": true, "plate": "129KED02"}"#).is_err());
        assert!(records(r#"{"found": true, "plate": "999ZZZ02", "records": []}"#).is_err());
        let w = weighing("W-1", "2026-11-24T11:30:00+05:00", 44800, 13100, "open");
        assert!(records(&answer(false, std::slice::from_ref(&w))).is_err());
        assert!(records(&answer(true, &[w.replace("\"open\"", "\"disputed\"")])).is_err());
        assert!(records(&answer(true, &[w.replace("2026-11-24T", "24.11.2026 ")])).is_err());
        assert!(records(&answer(true, &[w.replace("44800", "\"heavy\"")])).is_err());
        assert!(
            records(&answer(
                true,
                &[r#"{"id": "W-1", "violationStatus": "none"}"#.into()]
            ))
            .is_err()
        );
    }
}
