//! Issue 8: data relative to today. A scenario declares the day it was written for (its
//! anchor); `Scenario::on(today)` moves every date but birth dates by `today − anchor` days,
//! so the hand-written expectations stay true on any day. Named examples point at personas.
//! (The admin routes are tested with the other HTTP tests in `registries.rs`.)

use kezek_mocks::Scenario;
use kezek_mocks::scenario::{ScenarioError, parse_day};
use time::macros::date;
use time::{Date, Duration};

/// The day every row of the shift table is put on.
const TODAY: Date = date!(2027 - 01 - 05);

/// Issue 8: the scenario `input` put on [`TODAY`] is the scenario `expect`, compared as JSON.
/// The shift of a row is `TODAY − anchor of input`.
fn check(input: &str, expect: &str) {
    let moved = Scenario::from_json_str(input, "input").unwrap().on(TODAY);
    let expect = Scenario::from_json_str(expect, "expect").unwrap();
    assert_eq!(
        serde_json::to_value(&moved).unwrap(),
        serde_json::to_value(&expect).unwrap(),
        "\ninput: {input}"
    );
}

/// Issue 8: what moves and what does not, row by row.
#[test]
fn issue_8_shift_table() {
    // A plain date (+5 days).
    check(
        r#"{"anchor": "2026-12-31", "taxpayers": [{"iin-bin": "1", "as-of": "2026-12-01"}]}"#,
        r#"{"anchor": "2027-01-05", "taxpayers": [{"iin-bin": "1", "as-of": "2026-12-06"}]}"#,
    );
    // Date-times: the date moves, time and offset stay as written (no conversion).
    check(
        r#"{"anchor": "2026-12-31", "biometrics": [
            {"iin": "1", "has-reference": true, "verified-at": "2026-11-25T09:14:00+05:00"},
            {"iin": "2", "has-reference": true, "verified-at": "2026-11-20T23:30:00-03:00"}]}"#,
        r#"{"anchor": "2027-01-05", "biometrics": [
            {"iin": "1", "has-reference": true, "verified-at": "2026-11-30T09:14:00+05:00"},
            {"iin": "2", "has-reference": true, "verified-at": "2026-11-25T23:30:00-03:00"}]}"#,
    );
    // Birth dates stay (the IIN encodes them); a date beside one moves.
    check(
        r#"{"anchor": "2026-12-31",
            "persons": [{"iin": "881231300605", "last-name": "K", "first-name": "Y",
                         "birth-date": "1988-12-31", "residency": "resident", "citizenship": "KZ"}],
            "wanted-persons": [{"full-name": "K Y", "birth-date": "1988-12-31",
                                "since": "2026-10-02", "reason": "r"}]}"#,
        r#"{"anchor": "2027-01-05",
            "persons": [{"iin": "881231300605", "last-name": "K", "first-name": "Y",
                         "birth-date": "1988-12-31", "residency": "resident", "citizenship": "KZ"}],
            "wanted-persons": [{"full-name": "K Y", "birth-date": "1988-12-31",
                                "since": "2026-10-07", "reason": "r"}]}"#,
    );
    // Not full dates: document numbers, a date with a suffix, a day that does not exist, and a
    // date inside a string that is not a description.
    check(
        r#"{"anchor": "2026-12-31",
            "wanted-persons": [{"full-name": "K Y", "birth-date": "1988-12-31",
                                "document-number": "50102/291126/0000114",
                                "since": "2026-10-02", "reason": "2026-10-02/1"}],
            "wanted-vehicles": [{"plate": "261130", "since": "2026-10-01",
                                 "reason": "stolen on 2026-10-01", "initiator": "x"}],
            "taxpayers": [{"iin-bin": "261130000001", "as-of": "2026-13-01"}]}"#,
        r#"{"anchor": "2027-01-05",
            "wanted-persons": [{"full-name": "K Y", "birth-date": "1988-12-31",
                                "document-number": "50102/291126/0000114",
                                "since": "2026-10-07", "reason": "2026-10-02/1"}],
            "wanted-vehicles": [{"plate": "261130", "since": "2026-10-06",
                                 "reason": "stolen on 2026-10-01", "initiator": "x"}],
            "taxpayers": [{"iin-bin": "261130000001", "as-of": "2026-13-01"}]}"#,
    );
    // Dates inside a description move, so it stays true; digits joined to them do not.
    check(
        r#"{"anchor": "2026-12-31",
            "description": "ЕСБД policy ended 2026-11-30, the day before travel (2026-12-01); refs 12026-11-30, 2026-11-301."}"#,
        r#"{"anchor": "2027-01-05",
            "description": "ЕСБД policy ended 2026-12-05, the day before travel (2026-12-06); refs 12026-11-30, 2026-11-301."}"#,
    );
    // Across month and year ends, and into a leap day (+1 day).
    check(
        r#"{"anchor": "2027-01-04",
            "licences": [{"iin": "1", "number": "L", "categories": ["C"],
                          "issue-date": "2026-12-31", "expiry-date": "2028-02-28"}],
            "permits": [{"number": "P", "carrier-iin-bin": "1", "plate": "p", "kind": "transit",
                         "country": "UZ", "valid-from": "2027-01-31", "valid-to": "2028-02-29"}]}"#,
        r#"{"anchor": "2027-01-05",
            "licences": [{"iin": "1", "number": "L", "categories": ["C"],
                          "issue-date": "2027-01-01", "expiry-date": "2028-02-29"}],
            "permits": [{"number": "P", "carrier-iin-bin": "1", "plate": "p", "kind": "transit",
                         "country": "UZ", "valid-from": "2027-02-01", "valid-to": "2028-03-01"}]}"#,
    );
    // The default population's shift size (+45 days) across the year end.
    check(
        r#"{"anchor": "2026-11-21", "taxpayers": [{"iin-bin": "1", "as-of": "2026-12-01"}]}"#,
        r#"{"anchor": "2027-01-05", "taxpayers": [{"iin-bin": "1", "as-of": "2027-01-15"}]}"#,
    );
    // A negative shift (−30 days), dates and date-times alike.
    check(
        r#"{"anchor": "2027-02-04",
            "permits": [{"number": "P", "carrier-iin-bin": "1", "plate": "p", "kind": "transit",
                         "country": "UZ", "valid-from": "2027-03-01", "valid-to": "2027-03-31"}],
            "biometrics": [{"iin": "1", "has-reference": true, "verified-at": "2027-01-01T00:00:00Z"}]}"#,
        r#"{"anchor": "2027-01-05",
            "permits": [{"number": "P", "carrier-iin-bin": "1", "plate": "p", "kind": "transit",
                         "country": "UZ", "valid-from": "2027-01-30", "valid-to": "2027-03-01"}],
            "biometrics": [{"iin": "1", "has-reference": true, "verified-at": "2026-12-02T00:00:00Z"}]}"#,
    );
}

/// Issue 8: a scenario put on its own anchor is the same scenario.
#[test]
fn issue_8_on_the_anchor_is_identity() {
    let s = Scenario::default_population();
    let anchor = s.anchor.expect("the default population has an anchor");
    assert_eq!(
        serde_json::to_value(s.on(anchor)).unwrap(),
        serde_json::to_value(&s).unwrap()
    );
}

/// Issue 8: 400 days later every persona still travels ten days after today, the data moved
/// with it (the ended policy still ended the day before travel), birth dates did not, and
/// the hand-written expectations are word for word the same.
#[test]
fn issue_8_default_population_moved_400_days_keeps_its_expectations() {
    let s = Scenario::default_population();
    let anchor = s.anchor.expect("the default population has an anchor");
    assert_eq!(anchor, date!(2026 - 11 - 21));
    let today = anchor + Duration::days(400);
    let moved = s.on(today);
    assert_eq!(moved.anchor, Some(today));
    assert_eq!(moved.personas.len(), s.personas.len());
    let travel = today + Duration::days(10);
    for (before, after) in s.personas.iter().zip(&moved.personas) {
        assert_eq!(after.id, before.id);
        assert_eq!(
            parse_day(&after.request.travel_date),
            Some(travel),
            "{}",
            after.id
        );
        assert_eq!(
            serde_json::to_value(&after.expect).unwrap(),
            serde_json::to_value(&before.expect).unwrap(),
            "{}",
            after.id
        );
        for (b, a) in before.request.drivers.iter().zip(&after.request.drivers) {
            assert_eq!(a.birth_date, b.birth_date, "{}", after.id);
        }
    }
    for (b, a) in s.persons.iter().zip(&moved.persons) {
        assert_eq!(a.birth_date, b.birth_date, "{}", a.iin);
    }

    let p = moved.example("r-policy-ended-day-before").unwrap();
    let day_before = (travel - Duration::days(1)).to_string();
    assert_eq!(
        p.description,
        format!("ЕСБД policy ended {day_before}, the day before travel.")
    );
    let policy = moved
        .policies
        .iter()
        .find(|x| x.plate == p.request.vehicle.plate)
        .expect("the persona's policy");
    assert_eq!(policy.end, day_before);
}

/// Issue 8: without an anchor the dates are served as written.
#[test]
fn issue_8_scenario_without_anchor_is_unchanged() {
    let s = Scenario::from_json_str(
        r#"{"description": "ended 2026-11-30", "taxpayers": [{"iin-bin": "1", "as-of": "2026-11-30"}]}"#,
        "no-anchor.json",
    )
    .unwrap();
    let moved = s.on(date!(2030 - 01 - 01));
    assert_eq!(moved.anchor, None);
    assert_eq!(
        serde_json::to_value(&moved).unwrap(),
        serde_json::to_value(&s).unwrap()
    );
    assert_eq!(moved.taxpayers[0].as_of, "2026-11-30");
}

/// Issue 8: the anchor is a `YYYY-MM-DD` date; anything else fails loading.
#[test]
fn issue_8_anchor_must_be_a_date() {
    let e = Scenario::from_json_str(r#"{"anchor": "21.11.2026"}"#, "anchor.json").unwrap_err();
    assert!(matches!(e, ScenarioError::Parse { .. }), "{e}");
    assert_eq!(parse_day("2026-11-21"), Some(date!(2026 - 11 - 21)));
    for bad in [
        "2026-11-31",
        "+2026-11-21",
        "2026-1-21",
        "2026-11-21T00:00:00Z",
        "",
    ] {
        assert_eq!(parse_day(bad), None, "{bad}");
    }
}

/// Issue 8: named examples resolve to personas, by name or by persona id; loading refuses an
/// example that names a persona which does not exist.
#[test]
fn issue_8_examples_name_existing_personas() {
    let s = Scenario::default_population();
    let named = [
        ("approved", "r-clean-company-truck-trailer"),
        ("indeterminate", "r-clean-individual-truck"),
        ("non-resident-toll-debt", "n-toll-debt"),
        ("notices", "r-unpaid-fine"),
        ("refused", "r-trailer-needs-ce"),
    ];
    assert_eq!(
        s.examples,
        named
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    );
    for (name, id) in named {
        assert_eq!(s.example(name).map(|p| p.id.as_str()), Some(id));
        assert_eq!(s.example(id).map(|p| p.id.as_str()), Some(id));
    }
    assert!(s.example("nope").is_none());
    assert_eq!(
        s.unknown_example("nope"),
        "unknown example \"nope\"; known examples: approved, indeterminate, \
         non-resident-toll-debt, notices, refused"
    );

    let e = Scenario::from_json_str(r#"{"examples": {"approved": "r-nobody"}}"#, "ex.json")
        .unwrap_err();
    assert!(matches!(e, ScenarioError::Invalid { .. }), "{e}");
    let e = e.to_string();
    assert!(
        e.contains("ex.json") && e.contains("\"approved\"") && e.contains("\"r-nobody\""),
        "{e}"
    );
}
