//! The one clock (issue 8). Everything that reads the time — verification's travel-date
//! rules, booking intervals, holds and sweeps, P35 no-shows, the audit log, the sandbox's
//! wall clock — asks the [`Clock`] injected at gateway start (`server::StartOptions`).
//! [`SystemClock`] is the only reader of the system wall time in the gateway; a test
//! (`tests/e2e/clock.rs`) fails if any other source file of the gateway reads it.
//!
//! Dates are judged on the checkpoint's local calendar (P16, P22): "today" at a checkpoint
//! is [`local_today`] with the catalogue's UTC offset, never the UTC date.

use super::Application;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use time::{Date, OffsetDateTime, UtcOffset};

/// Where "now" comes from.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> OffsetDateTime;
}

/// The clock every part of one gateway shares.
pub type SharedClock = Arc<dyn Clock>;

/// Kazakhstan keeps one time zone, UTC+05:00, since 2024-03-01; the checkpoint catalogue
/// carries each checkpoint's offset, and this is the offset of a date with no checkpoint.
pub const KAZAKHSTAN: UtcOffset = time::macros::offset!(+05:00);

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        // The one place the gateway reads the system wall time (see the module docs).
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until a test moves it.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(now: OffsetDateTime) -> Self {
        Self(Mutex::new(now))
    }

    pub fn advance(&self, by: time::Duration) {
        *self.0.lock().expect("clock lock") += by;
    }

    pub fn set(&self, now: OffsetDateTime) {
        *self.0.lock().expect("clock lock") = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().expect("clock lock")
    }
}

/// Now, on the local clock of a place `offset` from UTC.
pub fn local_now(clock: &dyn Clock, offset: UtcOffset) -> OffsetDateTime {
    clock.now().to_offset(offset)
}

/// Today's date at a place `offset` from UTC.
pub fn local_today(clock: &dyn Clock, offset: UtcOffset) -> Date {
    local_now(clock, offset).date()
}

/// Why a travel date cannot be verified or booked today (P16: not in the past; P22: at most
/// `horizon_days` calendar days ahead), judged on the checkpoint's local `today`.
/// Returns the rule broken and why.
pub fn travel_date_problem(
    travel: Date,
    today: Date,
    horizon_days: u32,
) -> Option<(&'static str, String)> {
    if travel < today {
        return Some((
            "P16",
            format!("the travel date is in the past (today is {today} at the checkpoint)"),
        ));
    }
    let last = today.checked_add(time::Duration::days(horizon_days.into()))?;
    (travel > last).then(|| {
        (
            "P22",
            format!("bookings open at most {horizon_days} calendar days ahead (until {last})"),
        )
    })
}

/// One reason an application cannot be verified as given: a date, a document or a cargo
/// class to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateProblem {
    /// "P5", "P16", "P16.4", "P18.15", "P22".
    pub rule: &'static str,
    /// JSON pointer into the application.
    pub pointer: String,
    pub detail: String,
}

/// Why an application cannot be verified today: each date, document, cargo class or
/// checkpoint to blame. The caller's to fix, never the registries': no retry helps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the application cannot be verified today: {}", .0.iter().map(|p| format!("{} {}: {}", p.rule, p.pointer, p.detail)).collect::<Vec<_>>().join("; "))]
pub struct Undatable(pub Vec<DateProblem>);

/// The checkpoints' local calendars on the shared clock: what "today" is at each checkpoint,
/// and whether an application's dates can be verified today.
#[derive(Debug, Clone)]
pub struct Calendar {
    clock: SharedClock,
    offsets: BTreeMap<String, UtcOffset>,
    horizon_days: u32,
}

impl Calendar {
    /// `offsets`: each checkpoint code of the catalogue with its UTC offset; `horizon_days`:
    /// how far ahead bookings open (P22).
    pub fn new(
        clock: SharedClock,
        offsets: impl IntoIterator<Item = (String, UtcOffset)>,
        horizon_days: u32,
    ) -> Self {
        Self {
            clock,
            offsets: offsets.into_iter().collect(),
            horizon_days,
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Today in Kazakhstan, for what belongs to no one checkpoint (which rule set is in
    /// effect for readiness).
    pub fn national_today(&self) -> Date {
        local_today(&*self.clock, KAZAKHSTAN)
    }

    /// Checks an application's dates at instant `now` and returns the date it is then at its
    /// checkpoint. Refused: a checkpoint outside the Order 707 appendix (P5), a travel date
    /// in the past there (P16) or beyond the horizon (P22), a birth date not in the past or
    /// more than a lifetime ago, an identity document that expires before the travel date
    /// (P16.4), cargo classes that contradict the HS codes (P18.15), and a declared
    /// residency that the application's own facts contradict (P16.3, P16.4, P19).
    pub fn check_dates(&self, app: &Application, now: OffsetDateTime) -> Result<Date, Undatable> {
        let mut problems = Vec::new();
        let Some(today) = self
            .offsets
            .get(&app.checkpoint)
            .map(|offset| now.to_offset(*offset).date())
        else {
            problems.push(DateProblem {
                rule: "P5",
                pointer: "/checkpoint".to_owned(),
                detail: format!(
                    "{} is not a checkpoint of the Order 707 appendix",
                    app.checkpoint
                ),
            });
            return Err(Undatable(problems));
        };
        let mut problem = |rule, pointer: String, detail: String| {
            problems.push(DateProblem {
                rule,
                pointer,
                detail,
            })
        };
        let travel_pointer = || "/travel-date".to_owned();
        match parse_date(&app.travel_date) {
            None => problem("P16", travel_pointer(), not_a_date(&app.travel_date)),
            Some(travel) => {
                if let Some((rule, detail)) = travel_date_problem(travel, today, self.horizon_days)
                {
                    problem(rule, travel_pointer(), detail);
                }
            }
        }
        for (i, driver) in app.drivers.iter().enumerate() {
            let pointer = format!("/drivers/{i}/birth-date");
            match parse_date(&driver.birth_date) {
                None => problem("P16", pointer, not_a_date(&driver.birth_date)),
                Some(birth) if birth >= today => problem(
                    "P16",
                    pointer,
                    "the birth date is not in the past".to_owned(),
                ),
                Some(birth) if today.year() - birth.year() > OLDEST_DRIVER_YEARS => problem(
                    "P16.4",
                    pointer,
                    format!(
                        "a birth date more than {OLDEST_DRIVER_YEARS} years ago is not plausible"
                    ),
                ),
                Some(_) => {}
            }
            let expires = &driver.document.expires;
            let pointer = format!("/drivers/{i}/document/expires");
            match (parse_date(expires), parse_date(&app.travel_date)) {
                (None, _) => problem("P16.4", pointer, not_a_date(expires)),
                (Some(expires), Some(travel)) if expires < travel => problem(
                    "P16.4",
                    pointer,
                    format!(
                        "driver {}'s identity document expires on {expires}, before the travel date {travel}",
                        i + 1
                    ),
                ),
                _ => {}
            }
        }
        problems.extend(crate::cargo::contradictions(app));
        problems.extend(crate::residency::contradictions(app));
        if problems.is_empty() {
            Ok(today)
        } else {
            Err(Undatable(problems))
        }
    }
}

/// No driver is older than this: an earlier birth date is a typing error (`0001-01-01`).
const OLDEST_DRIVER_YEARS: i32 = 100;

/// An ISO 8601 calendar date (`YYYY-MM-DD`), or `None`.
pub fn parse_date(s: &str) -> Option<Date> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

fn not_a_date(value: &str) -> String {
    format!("{value} is not a calendar date")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    /// P16, P22 and local midnight: the same instant is one date in UTC and the next at a
    /// checkpoint five hours east.
    #[test]
    fn travel_dates_are_judged_on_the_checkpoint_calendar() {
        /// `expect`: the rule broken, or `None` when the date is fine.
        fn check(now_utc: OffsetDateTime, travel: Date, expect: Option<&str>) {
            let clock = ManualClock::new(now_utc);
            let today = local_today(&clock, KAZAKHSTAN);
            let problem = travel_date_problem(travel, today, 90);
            assert_eq!(
                problem.as_ref().map(|(rule, _)| *rule),
                expect,
                "now {now_utc}, travel {travel}: {problem:?}"
            );
        }
        // 18:59 UTC is 23:59 at the checkpoint: still 2026-12-01.
        check(
            datetime!(2026-12-01 18:59:59 UTC),
            date!(2026 - 12 - 01),
            None,
        );
        // 19:00 UTC is local midnight: 2026-12-01 has passed, though UTC still says it is.
        check(
            datetime!(2026-12-01 19:00 UTC),
            date!(2026 - 12 - 01),
            Some("P16"),
        );
        check(
            datetime!(2026-12-01 20:23 UTC),
            date!(2026 - 12 - 01),
            Some("P16"),
        );
        check(datetime!(2026-12-01 20:23 UTC), date!(2026 - 12 - 02), None);
        // Just after UTC midnight it has long been the same day locally.
        check(datetime!(2026-12-01 00:01 UTC), date!(2026 - 12 - 01), None);
        check(datetime!(2026-11-30 18:59 UTC), date!(2026 - 12 - 01), None);
        // P22: today + 90 is the last bookable day, on the local calendar.
        check(datetime!(2026-12-01 12:00 UTC), date!(2027 - 03 - 01), None);
        check(
            datetime!(2026-12-01 12:00 UTC),
            date!(2027 - 03 - 02),
            Some("P22"),
        );
        // At 19:00 UTC the local day, and with it the horizon, has moved on.
        check(datetime!(2026-12-01 19:00 UTC), date!(2027 - 03 - 02), None);
    }

    /// P5, P16, P22: an application is dated on its checkpoint's calendar; a checkpoint
    /// outside the catalogue has none and is refused before anything else.
    #[test]
    fn an_application_is_dated_at_its_checkpoint() {
        // 00:30 on 2026-12-02 at a +05:00 checkpoint, still 2026-12-01 in UTC.
        let clock: SharedClock = Arc::new(ManualClock::new(datetime!(2026-12-01 19:30 UTC)));
        let calendar = Calendar::new(clock, [("KZ-A".to_owned(), KAZAKHSTAN)], 90);
        let check = |checkpoint: &str, travel: &str, birth: &str, expect: &[(&str, &str)]| {
            let app: Application = serde_json::from_value(serde_json::json!({
                "owner": {"residency": "resident", "kind": "legal-entity", "name": "n", "country": "KZ"},
                "drivers": [{"residency": "resident", "full-name": "n", "birth-date": birth, "phone": "+77010000000",
                             "document": {"kind": "passport", "issuing-country": "KZ", "number": "N1", "expires": "2030-01-01"}}],
                "vehicle": {"kind": "truck", "country": "KZ", "plate": "1", "vin": "1"},
                "cargo": {"classes": ["empty"]},
                "checkpoint": checkpoint,
                "travel-date": travel
            }))
            .unwrap();
            let got: Vec<(&str, String)> = match calendar.check_dates(&app, calendar.now()) {
                Ok(today) => {
                    assert_eq!(today, time::macros::date!(2026 - 12 - 02));
                    Vec::new()
                }
                Err(Undatable(problems)) => {
                    problems.into_iter().map(|p| (p.rule, p.pointer)).collect()
                }
            };
            let expect: Vec<(&str, String)> =
                expect.iter().map(|(r, p)| (*r, (*p).to_owned())).collect();
            assert_eq!(got, expect, "{checkpoint} {travel} {birth}");
        };
        check("KZ-A", "2026-12-02", "1980-01-01", &[]);
        check(
            "KZ-A",
            "2026-12-01",
            "1980-01-01",
            &[("P16", "/travel-date")],
        );
        check("KZ-A", "2027-03-02", "1980-01-01", &[]);
        check(
            "KZ-A",
            "2027-03-03",
            "1980-01-01",
            &[("P22", "/travel-date")],
        );
        check(
            "KZ-A",
            "2026-12-02",
            "2026-12-02",
            &[("P16", "/drivers/0/birth-date")],
        );
        check(
            "XX-NOWHERE",
            "2026-12-02",
            "1980-01-01",
            &[("P5", "/checkpoint")],
        );
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(datetime!(2026-12-01 10:00 UTC));
        assert_eq!(clock.now(), datetime!(2026-12-01 10:00 UTC));
        clock.advance(time::Duration::hours(9));
        assert_eq!(local_today(&clock, KAZAKHSTAN), date!(2026 - 12 - 02));
        clock.set(datetime!(2030-01-01 00:00 UTC));
        assert_eq!(clock.now(), datetime!(2030-01-01 00:00 UTC));
    }
}
