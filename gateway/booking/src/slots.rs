//! Slots: where a request may book (P16, P22), taking and giving back a place on a
//! checkpoint-day and hour, ticket numbers (P20), and how intervals are written.

use super::engine::BookingEngine;
use super::model::SlotRequest;
use super::rows::{BookingRow, CategoryRow};
use super::rules::{BookingError, PriorityCategory};
use crate::checkpoints::Checkpoint;
use crate::policy::{ByCategory, Edition, PriorityPolicy, Quota};
use kezek_store::{Columns, DbError, Tx};
use time::{
    Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset,
    format_description::well_known::Rfc3339,
};

/// Where a reservation starts looking.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    pub day: Date,
    pub hour: u8,
    /// This day and hour only, or the first free slot from there on.
    pub exact: bool,
    /// The last day a first-free search may reach: the planned day itself, since a booking's
    /// day is a verified day (P20); within P22's horizon.
    pub last: Date,
}

impl BookingEngine {
    /// Turns a slot request into a plan, checking P16 and P22.
    pub(super) fn plan(
        &self,
        cp: &Checkpoint,
        slot: &SlotRequest,
        travel_date: Option<&str>,
    ) -> Result<Plan, BookingError> {
        let (today, hour_now) = self.today(cp);
        let last = self.last_day(today);
        let parse = |s: &str, pointer: &str| {
            Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
                .map_err(|_| BookingError::at("P16", 422, pointer, format!("{s} is not a date")))
        };
        if slot.first_free == Some(true) {
            // A booking's day is a verified day (P20, issue 10): the first free hour is
            // searched on one day only — the travel date the application was verified for,
            // or, when rescheduling, the not-before date it is re-verified for — never
            // spilling into a day no verification was made for.
            let from = match (travel_date, slot.not_before.as_deref()) {
                (Some(travel), not_before) => {
                    let travel = parse(travel, "/application/travel-date")?;
                    if let Some(not_before) = not_before
                        && parse(not_before, "/slot/not-before")? > travel
                    {
                        return Err(BookingError::at(
                            "P20",
                            422,
                            "/slot/not-before",
                            format!(
                                "the booking is for the travel date {travel}, the day verified;                                  to travel later, change the travel date"
                            ),
                        ));
                    }
                    travel.max(today)
                }
                (None, Some(not_before)) => parse(not_before, "/slot/not-before")?.max(today),
                (None, None) => today,
            };
            if from > last {
                return Err(BookingError::at(
                    "P22",
                    422,
                    "/slot/not-before",
                    format!(
                        "bookings open at most {} days ahead",
                        self.config.horizon_days
                    ),
                ));
            }
            let hour = if from == today { hour_now + 1 } else { 0 };
            return Ok(Plan {
                day: from,
                hour,
                exact: false,
                last: from,
            });
        }
        let (Some(date), Some(hour)) = (slot.date.as_deref(), slot.hour) else {
            return Err(BookingError::at(
                "P16",
                422,
                "/slot",
                "give a date and an hour, or ask for the first free slot",
            ));
        };
        let day = parse(date, "/slot/date")?;
        if let Some(travel) = travel_date
            && travel != date
        {
            return Err(BookingError::at(
                "P16",
                422,
                "/application/travel-date",
                "the travel date must be the booked date",
            ));
        }
        if day < today || (day == today && hour <= hour_now) {
            return Err(BookingError::at(
                "P16",
                422,
                "/slot",
                "that interval has already begun",
            ));
        }
        if day > last {
            return Err(BookingError::at(
                "P22",
                422,
                "/slot/date",
                format!(
                    "bookings open at most {} calendar days ahead (until {last})",
                    self.config.horizon_days
                ),
            ));
        }
        if !cp.hours().contains(&hour) {
            return Err(BookingError::at(
                "P16",
                422,
                "/slot/hour",
                format!(
                    "{} works {:?}: hours {}–{}",
                    cp.code,
                    cp.mode,
                    cp.hours().start,
                    cp.hours().end
                ),
            ));
        }
        Ok(Plan {
            day,
            hour,
            exact: true,
            last,
        })
    }
}

// ---- transaction steps (run inside `Store::transact`) ----

pub(super) fn parse_day(s: &str) -> Result<Date, BookingError> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|e| BookingError::Store(DbError::Other(format!("bad day {s}: {e}"))))
}

/// Creates the day's rows from the catalogue on first use.
pub(super) fn ensure_day(
    tx: &mut dyn Tx,
    cp: &Checkpoint,
    day: Date,
) -> Result<bool, BookingError> {
    let ds = day.to_string();
    let n = tx.execute(
        "INSERT INTO cp_days (checkpoint, day, capacity, booked, next_ticket) \
         VALUES ($1, $2, $3, 0, 1) ON CONFLICT DO NOTHING",
        &[(&cp.code).into(), (&ds).into(), cp.day_capacity().into()],
    )?;
    if n == 1 {
        let open = cp.hours();
        for h in 0..24u8 {
            let cap = if open.contains(&h) {
                cp.hourly_capacity
            } else {
                0
            };
            tx.execute(
                "INSERT INTO cp_slots (checkpoint, day, hour, capacity, booked) VALUES ($1, $2, $3, $4, 0) \
                 ON CONFLICT DO NOTHING",
                &[(&cp.code).into(), (&ds).into(), (h as i64).into(), cap.into()],
            )?;
        }
    }
    Ok(n == 1)
}

/// Takes one place: the day (capacity and, for an out-of-turn booking, the P6 quota of the
/// day's edition that covers its category), then an hour. The day row is locked first and
/// everything else is read and written under that lock, in both databases: no overbooking
/// under concurrency. Returns the day, the hour and, when `ticket`, the P20 ticket sequence.
pub(super) fn reserve(
    tx: &mut dyn Tx,
    cp: &Checkpoint,
    plan: Plan,
    priority: Option<PriorityCategory>,
    policy: &PriorityPolicy,
    ticket: bool,
) -> Result<(Date, u8, Option<i64>), BookingError> {
    let mut day = plan.day;
    let mut min_hour = plan.hour;
    // A P6 refusal of the day searched last: more telling than "no free slot".
    let mut refused: Option<BookingError> = None;
    loop {
        if day > plan.last {
            return Err(match refused {
                Some(e) if plan.last == plan.day => e,
                _ if plan.last == plan.day => BookingError::rule(
                    "P22",
                    409,
                    format!(
                        "{} has no free slot left; a booking is for the day it was verified \
                         for (P20): verify and book for another day",
                        plan.day
                    ),
                ),
                _ => BookingError::rule(
                    "P22",
                    409,
                    "no free slot is left within the booking horizon",
                ),
            });
        }
        let ds = day.to_string();
        let failure = match take_day(tx, cp, day, priority, policy, ticket)? {
            DayTake::Taken(seq) => match take_hour(tx, &cp.code, &ds, min_hour, plan.exact)? {
                Some(hour) => return Ok((day, hour, ticket.then_some(seq))),
                None => {
                    give_back_day(tx, &cp.code, &ds, priority, ticket)?;
                    Some(BookingError::rule(
                        "P22",
                        409,
                        format!("the {ds} {min_hour}:00 interval is fully booked"),
                    ))
                }
            },
            DayTake::Refused(e) => Some(e),
            DayTake::Full => None,
        };
        if plan.exact {
            return Err(failure.unwrap_or_else(|| {
                BookingError::rule("P22", 409, format!("{ds} is fully booked"))
            }));
        }
        refused = failure.filter(|e| e.rule_id() == Some("P6"));
        day = day
            .next_day()
            .ok_or_else(|| BookingError::rule("P22", 409, "no day left"))?;
        min_hour = 0;
    }
}

/// What [`take_day`] did.
enum DayTake {
    /// Counted against the day (and its quota); the ticket sequence.
    Taken(i64),
    /// The day is fully booked.
    Full,
    /// P6 refuses: the quota is used up, or the day's edition does not serve the category.
    Refused(BookingError),
}

/// Counts one booking against the day if it has room and, out of turn, against the quota
/// of the day's edition covering its category (P6, ADR 0013). The day row is the hot spot
/// (one lock per checkpoint-day): it is taken as late as possible, the ticket number comes
/// with it (P20), and the quota's use is read only once it is held — every booking of the
/// day waits for that lock, so the count read is the count at commit.
fn take_day(
    tx: &mut dyn Tx,
    cp: &Checkpoint,
    day: Date,
    priority: Option<PriorityCategory>,
    policy: &PriorityPolicy,
    ticket: bool,
) -> Result<DayTake, BookingError> {
    let quota = match priority {
        Some(category) => match policy.quota_on(day, category) {
            Ok((edition, quota)) => Some((category, edition, quota)),
            Err(detail) => return Ok(DayTake::Refused(BookingError::rule("P6", 409, detail))),
        },
        None => None,
    };
    let ds = day.to_string();
    let take = |tx: &mut dyn Tx| {
        tx.query(
            "UPDATE cp_days SET booked = booked + 1, next_ticket = next_ticket + CAST($3 AS BIGINT) \
             WHERE checkpoint = $1 AND day = $2 AND booked < capacity RETURNING next_ticket, capacity",
            &[(&cp.code).into(), (&ds).into(), (ticket as i64).into()],
        )
    };
    let mut took = take(tx)?;
    if took.is_empty() {
        // The day's rows may not exist yet (or another transaction was creating them and
        // has just committed): make sure, then try once more.
        ensure_day(tx, cp, day)?;
        took = take(tx)?;
    }
    let Some(row) = took.first() else {
        return Ok(DayTake::Full);
    };
    let columns = Columns::new("next_ticket, capacity", row)?;
    let (next, capacity) = (columns.int("next_ticket")?, columns.int("capacity")?);
    if let Some((category, edition, quota)) = quota {
        let used = priority_counts(tx, &cp.code, &ds, &ds)?
            .pop()
            .map_or(0, |(_, counts)| counts.used(quota));
        if used >= quota.cap(capacity) {
            give_back_day(tx, &cp.code, &ds, None, ticket)?;
            return Ok(DayTake::Refused(quota_used_up(
                &ds, edition, quota, capacity,
            )));
        }
        tx.execute(
            "INSERT INTO cp_day_priority (checkpoint, day, category, booked) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (checkpoint, day, category) DO UPDATE SET booked = cp_day_priority.booked + 1",
            &[(&cp.code).into(), (&ds).into(), category.as_str().into()],
        )?;
    }
    Ok(DayTake::Taken(next - 1))
}

/// P6: the refusal when a quota is used up, naming the quota, its cap and the edition.
fn quota_used_up(ds: &str, edition: &Edition, quota: &Quota, capacity: i64) -> BookingError {
    BookingError::rule(
        "P6",
        409,
        format!(
            "the {} quota of {ds} is used up: {} % of the day's capacity of {capacity}, {} \
             bookings, under {} ({})",
            quota.id,
            quota.percent(),
            quota.cap(capacity),
            edition.id,
            edition.act
        ),
    )
}

/// P6: the out-of-turn bookings of the checkpoint's days `from..=until`, by category, for
/// the days that have any.
pub(super) fn priority_counts(
    tx: &mut dyn Tx,
    code: &str,
    from: &str,
    until: &str,
) -> Result<Vec<(String, ByCategory)>, BookingError> {
    let rows = CategoryRow::select(
        tx,
        "FROM cp_day_priority WHERE checkpoint = $1 AND day >= $2 AND day <= $3 ORDER BY day",
        &[code.into(), from.into(), until.into()],
    )?;
    let mut days: Vec<(String, ByCategory)> = Vec::new();
    for r in rows {
        let category = r.category()?;
        match days.last_mut() {
            Some((day, counts)) if *day == r.day => counts.add(category, r.booked),
            _ => {
                let mut counts = ByCategory::default();
                counts.add(category, r.booked);
                days.push((r.day, counts));
            }
        }
    }
    Ok(days)
}

/// Takes an hour of a day already taken: `hour` itself when `exact`, else the first with
/// room at or after it (again, if another transaction took it first).
fn take_hour(
    tx: &mut dyn Tx,
    code: &str,
    ds: &str,
    hour: u8,
    exact: bool,
) -> Result<Option<u8>, BookingError> {
    loop {
        let candidate = if exact {
            Some(hour as i64)
        } else {
            match tx
                .query(
                    "SELECT MIN(hour) FROM cp_slots WHERE checkpoint = $1 AND day = $2 AND hour >= $3 \
                     AND booked < capacity",
                    &[code.into(), ds.into(), (hour as i64).into()],
                )?
                .first()
            {
                Some(r) => Columns::new("MIN(hour)", r)?.opt_int("MIN(hour)")?,
                None => None,
            }
        };
        let Some(candidate) = candidate else {
            return Ok(None);
        };
        let took = tx.execute(
            "UPDATE cp_slots SET booked = booked + 1 WHERE checkpoint = $1 AND day = $2 AND hour = $3 \
             AND booked < capacity",
            &[code.into(), ds.into(), candidate.into()],
        )?;
        if took == 1 {
            return Ok(Some(candidate as u8));
        }
        if exact {
            return Ok(None);
        }
    }
}

/// Undoes [`take_day`]: the day's place, the ticket number and the category's count.
fn give_back_day(
    tx: &mut dyn Tx,
    code: &str,
    ds: &str,
    priority: Option<PriorityCategory>,
    ticket: bool,
) -> Result<(), BookingError> {
    tx.execute(
        "UPDATE cp_days SET booked = booked - 1, next_ticket = next_ticket - $3 \
         WHERE checkpoint = $1 AND day = $2",
        &[code.into(), ds.into(), (ticket as i64).into()],
    )?;
    give_back_category(tx, code, ds, priority)
}

/// P6: one booking of `priority` less on the day (after its day row was locked).
fn give_back_category(
    tx: &mut dyn Tx,
    code: &str,
    ds: &str,
    priority: Option<PriorityCategory>,
) -> Result<(), BookingError> {
    if let Some(category) = priority {
        tx.execute(
            "UPDATE cp_day_priority SET booked = booked - 1 \
             WHERE checkpoint = $1 AND day = $2 AND category = $3",
            &[code.into(), ds.into(), category.as_str().into()],
        )?;
    }
    Ok(())
}

/// Gives back the place a booking holds on its day and hour (and its category's count, P6).
pub(super) fn release(tx: &mut dyn Tx, b: &BookingRow) -> Result<(), BookingError> {
    if b.hour < 0 {
        return Ok(());
    }
    tx.execute(
        "UPDATE cp_days SET booked = booked - 1 WHERE checkpoint = $1 AND day = $2",
        &[(&b.checkpoint).into(), (&b.day).into()],
    )?;
    give_back_category(tx, &b.checkpoint, &b.day, b.category()?)?;
    tx.execute(
        "UPDATE cp_slots SET booked = booked - 1 WHERE checkpoint = $1 AND day = $2 AND hour = $3",
        &[(&b.checkpoint).into(), (&b.day).into(), b.hour.into()],
    )?;
    Ok(())
}

/// P20: the next ticket sequence of a day, for a hold confirmed after its slot was taken.
pub(super) fn next_ticket(tx: &mut dyn Tx, code: &str, day: Date) -> Result<i64, BookingError> {
    let rows = tx.query(
        "UPDATE cp_days SET next_ticket = next_ticket + 1 WHERE checkpoint = $1 AND day = $2 RETURNING next_ticket",
        &[code.into(), day.to_string().into()],
    )?;
    match rows.first() {
        Some(r) => Ok(Columns::new("next_ticket", r)?.int("next_ticket")? - 1),
        None => Ok(1),
    }
}

/// P20: `<checkpoint>-<yyyymmdd>-<sequence>`.
pub fn ticket_number(code: &str, day: Date, seq: i64) -> String {
    format!(
        "{code}-{:04}{:02}{:02}-{seq:05}",
        day.year(),
        day.month() as u8,
        day.day()
    )
}

// ---- intervals ----

/// The hour interval as Unix instants, in the checkpoint's local time.
pub(super) fn interval_bounds(cp: &Checkpoint, day: Date, hour: u8) -> (i64, i64) {
    let start = PrimitiveDateTime::new(day, Time::from_hms(hour, 0, 0).unwrap_or(Time::MIDNIGHT))
        .assume_offset(cp.offset())
        .unix_timestamp();
    (start, start + 3600)
}

pub(super) fn interval_strings(cp: &Checkpoint, day: Date, hour: u8) -> (String, String) {
    let (s, e) = interval_bounds(cp, day, hour);
    (rfc3339(s, cp.offset()), rfc3339(e, cp.offset()))
}

pub(super) fn rfc3339(t: i64, offset: UtcOffset) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .map(|d| d.to_offset(offset))
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub(super) fn utc(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_default()
}
