//! Capacity: what is free (availability), and ops changing a day's capacity (D13), whose
//! displaced bookings move by the policy of ADR 0006 ([`super::move_policy`]).

use super::engine::{BookingEngine, ledger, notify};
use super::model::{CapacityReport, DayAvailability, HourAvailability, Moved, QuotaAvailability};
use super::move_policy::{self, Change, DayLoad, HourLoad, Move, Plan, Ranked};
use super::rows::{BookingRow, DayRow, HourRow};
use super::rules::BookingError;
use super::slots::{
    self, ensure_day, interval_bounds, interval_strings, parse_day, priority_counts, reserve,
};
use crate::checkpoints::Checkpoint;
use crate::policy::{ByCategory, PriorityPolicy};
use kezek_store::{DbError, Tx};
use std::collections::HashMap;
use std::sync::Arc;
use time::Date;

impl BookingEngine {
    /// Free capacity of a checkpoint for `days` days from `from`; out of turn, the quotas of
    /// each day's edition (P6, ADR 0013).
    pub async fn availability(
        &self,
        code: &str,
        from: Option<&str>,
        days: u32,
    ) -> Result<Vec<DayAvailability>, BookingError> {
        let cp = self.checkpoint(code, "/checkpoint")?;
        let (today, hour_now) = self.today(&cp);
        let from = match from {
            Some(s) => parse_day(s)
                .map_err(|_| BookingError::at("P16", 422, "/from", format!("{s} is not a date")))?,
            None => today,
        }
        .max(today);
        let last = self.last_day(today);
        if from > last {
            return Err(BookingError::at(
                "P22",
                422,
                "/from",
                format!("{from} is beyond the booking horizon, which ends on {last}"),
            ));
        }
        let until = from
            .checked_add(time::Duration::days(days.clamp(1, 31) as i64 - 1))
            .map_or(last, |end| end.min(last));
        let reading = cp.clone();
        let loads = self
            .store
            .transact(move |tx| read_days(tx, &reading, from, until))
            .await?;
        Ok(loads
            .into_iter()
            .map(|load| {
                let hours = (0..24u8)
                    .filter(|&h| load.hours[h as usize].capacity > 0)
                    .filter(|&h| !(load.day == today && h <= hour_now))
                    .map(|h| {
                        let HourLoad { capacity, booked } = load.hours[h as usize];
                        let (from, to) = interval_strings(&cp, load.day, h);
                        HourAvailability {
                            hour: h as i64,
                            from,
                            to,
                            capacity,
                            free: (capacity - booked).max(0),
                        }
                    })
                    .collect();
                let edition = self.policy.in_force(load.day);
                let quotas: Vec<QuotaAvailability> = edition
                    .into_iter()
                    .flat_map(|e| &e.quotas)
                    .map(|q| {
                        let cap = q.cap(load.capacity);
                        QuotaAvailability {
                            id: q.id.clone(),
                            categories: q.categories.iter().map(|c| c.as_str().into()).collect(),
                            cap_percent: q.percent_value(),
                            cap,
                            free: (cap - load.priority.used(q)).max(0),
                        }
                    })
                    .collect();
                DayAvailability {
                    date: load.day.to_string(),
                    capacity: load.capacity,
                    booked: load.booked,
                    free: (load.capacity - load.booked).max(0),
                    priority_cap: quotas.iter().map(|q| q.cap).sum(),
                    priority_free: quotas.iter().map(|q| q.free).sum(),
                    priority_edition: edition.map(|e| e.id.clone()),
                    priority_quotas: quotas,
                    hours,
                }
            })
            .collect())
    }

    /// D13: ops change a checkpoint-day's capacity (a temporary closure lowers it, and may
    /// close an hour range). Bookings that no longer fit are moved by the fair policy of
    /// ADR 0006: rank by priority first (P6), then booking order; the best-ranked keep their
    /// places, the rest move, in rank order, to the first free slot at or after their hour —
    /// each day's P6 quotas those of the edition in force on it.
    /// Every moved user is notified; a booking with no slot left within the horizon is
    /// cancelled with its fee refunded (not the user's fault, P28 does not apply).
    pub async fn change_capacity(
        &self,
        code: &str,
        date: &str,
        capacity: i64,
        closed_hours: Option<(u8, u8)>,
        reason: &str,
    ) -> Result<CapacityReport, BookingError> {
        let cp = self.checkpoint(code, "/checkpoint")?;
        let day = parse_day(date)
            .map_err(|_| BookingError::at("D13", 422, "/date", format!("{date} is not a date")))?;
        let (today, _) = self.today(&cp);
        let request = CapacityChange {
            cp,
            day,
            capacity,
            closed_hours,
            last: self.last_day(today),
            policy: self.policy.clone(),
            reason: reason.to_owned(),
            now: self.clock.now().unix_timestamp(),
        };
        self.store
            .transact(move |tx| {
                let before = request.read(tx)?;
                let plan = move_policy::plan(&before.change);
                request.write(tx, &before, &plan)
            })
            .await
    }
}

/// A capacity change as ops asked for it (D13).
struct CapacityChange {
    cp: Checkpoint,
    day: Date,
    capacity: i64,
    closed_hours: Option<(u8, u8)>,
    /// P22: moves go no further.
    last: Date,
    /// P6: each day's quotas are its edition's.
    policy: Arc<PriorityPolicy>,
    reason: String,
    now: i64,
}

/// The day before the change, as read (and locked) for the policy.
struct Before {
    old_capacity: i64,
    /// The day's held and active bookings, by id.
    bookings: HashMap<String, BookingRow>,
    change: Change,
}

impl CapacityChange {
    /// Locks the day and its bookings, and reads what the policy needs: the day's hours,
    /// the bookings ranked, and the following days within the horizon.
    fn read(&self, tx: &mut dyn Tx) -> Result<Before, BookingError> {
        let (cp, ds) = (&self.cp, self.day.to_string());
        ensure_day(tx, cp, self.day)?;
        let here = [(&cp.code).into(), (&ds).into()];
        let old_capacity = DayRow::select(
            tx,
            "FROM cp_days WHERE checkpoint = $1 AND day = $2 FOR UPDATE",
            &here,
        )?
        .pop()
        .ok_or_else(|| DbError::Other(format!("no day row {ds}")))?
        .capacity;
        let bookings = BookingRow::select(
            tx,
            "FROM bookings WHERE checkpoint = $1 AND day = $2 AND status IN ('held', 'active') \
             ORDER BY CASE WHEN priority IS NULL THEN 1 ELSE 0 END, created_order FOR UPDATE",
            &here,
        )?;
        let mut days = read_days(tx, cp, self.day, self.last.max(self.day))?.into_iter();
        let this_day = days
            .next()
            .ok_or_else(|| DbError::Other(format!("no day {ds}")))?;
        let ranked = bookings
            .iter()
            .map(|b| {
                Ok(Ranked {
                    id: b.id.clone(),
                    priority: b.category()?,
                    hour: hour_of(b.hour).ok_or_else(|| {
                        DbError::Other(format!("booking {}: hour {} is not an hour", b.id, b.hour))
                    })?,
                    order: b.created_order.clone(),
                })
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        Ok(Before {
            old_capacity,
            bookings: bookings.into_iter().map(|b| (b.id.clone(), b)).collect(),
            change: Change {
                day: self.day,
                capacity: self.capacity,
                hour_capacity: this_day.hours.map(|h| h.capacity),
                closed: self.closed_hours,
                policy: self.policy.clone(),
                bookings: ranked,
                last: self.last,
                following: days.collect(),
            },
        })
    }

    /// Writes the plan: the day's capacity, closed hours and the bookings that stay; then
    /// each move (a new slot and ticket, notified) and each cancellation (refund due); then
    /// the record of the change.
    fn write(
        &self,
        tx: &mut dyn Tx,
        before: &Before,
        plan: &Plan,
    ) -> Result<CapacityReport, BookingError> {
        let (cp, ds) = (&self.cp, self.day.to_string());
        let kept = &plan.kept;
        tx.execute(
            "UPDATE cp_days SET capacity = $3 WHERE checkpoint = $1 AND day = $2",
            &[(&cp.code).into(), (&ds).into(), self.capacity.into()],
        )?;
        if let Some((from, to)) = self.closed_hours {
            tx.execute(
                "UPDATE cp_slots SET capacity = 0 WHERE checkpoint = $1 AND day = $2 AND hour >= $3 AND hour < $4",
                &[(&cp.code).into(), (&ds).into(), (from as i64).into(), (to as i64).into()],
            )?;
        }
        tx.execute(
            "UPDATE cp_days SET booked = $3 WHERE checkpoint = $1 AND day = $2",
            &[(&cp.code).into(), (&ds).into(), kept.booked.into()],
        )?;
        // P6: the day's counts by category are those of the bookings that stay.
        tx.execute(
            "DELETE FROM cp_day_priority WHERE checkpoint = $1 AND day = $2",
            &[(&cp.code).into(), (&ds).into()],
        )?;
        for (category, n) in kept.priority.counted() {
            tx.execute(
                "INSERT INTO cp_day_priority (checkpoint, day, category, booked) VALUES ($1, $2, $3, $4)",
                &[(&cp.code).into(), (&ds).into(), category.as_str().into(), n.into()],
            )?;
        }
        tx.execute(
            "UPDATE cp_slots SET booked = 0 WHERE checkpoint = $1 AND day = $2",
            &[(&cp.code).into(), (&ds).into()],
        )?;
        for (h, load) in kept.hours.iter().enumerate().filter(|(_, l)| l.booked > 0) {
            tx.execute(
                "UPDATE cp_slots SET booked = $4 WHERE checkpoint = $1 AND day = $2 AND hour = $3",
                &[
                    (&cp.code).into(),
                    (&ds).into(),
                    (h as i64).into(),
                    load.booked.into(),
                ],
            )?;
        }
        let moved = plan
            .moves
            .iter()
            .map(|m| self.move_one(tx, m))
            .collect::<Result<Vec<_>, _>>()?;
        for id in &plan.cancel {
            let b = before
                .bookings
                .get(id)
                .ok_or_else(|| DbError::Other(format!("planned booking {id} was not read")))?;
            self.cancel_one(tx, b)?;
        }
        tx.execute(
            "INSERT INTO capacity_changes (id, checkpoint, day, old_capacity, new_capacity, closed_from, closed_to, reason, moved, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                uuid::Uuid::new_v4().to_string().into(),
                (&cp.code).into(),
                (&ds).into(),
                before.old_capacity.into(),
                self.capacity.into(),
                self.closed_hours.map(|c| c.0 as i64).into(),
                self.closed_hours.map(|c| c.1 as i64).into(),
                (&self.reason).into(),
                (moved.len() as i64).into(),
                self.now.into(),
            ],
        )?;
        Ok(CapacityReport {
            checkpoint: cp.code.clone(),
            date: ds,
            old_capacity: before.old_capacity,
            new_capacity: self.capacity,
            kept: kept.booked,
            moved,
            cancelled: plan.cancel.clone(),
        })
    }

    /// Takes the planned slot (a new ticket of its day when active) and tells the user. A
    /// move is not the user's doing: not counted as a reschedule (P28).
    fn move_one(&self, tx: &mut dyn Tx, m: &Move) -> Result<Moved, BookingError> {
        let cp = &self.cp;
        let target = slots::Plan {
            day: m.day,
            hour: m.hour,
            exact: true,
            last: self.last,
        };
        // The planned slot was free when read; if another instance took it since, the
        // whole change runs again on fresh rows.
        let (day, hour, seq) =
            reserve(tx, cp, target, m.priority, &self.policy, true).map_err(|e| match e {
                BookingError::Rule { .. } => BookingError::Store(DbError::Retry(format!(
                    "the slot planned for {} was taken meanwhile: {e}",
                    m.id
                ))),
                e => e,
            })?;
        let (start, end) = interval_bounds(cp, day, hour);
        let seq = seq.unwrap_or_default();
        let ticket = slots::ticket_number(&cp.code, day, seq);
        tx.execute(
            "UPDATE bookings SET day = $2, hour = $3, slot_start = $4, slot_end = $5, \
             ticket_seq = CASE WHEN status = 'active' THEN CAST($6 AS BIGINT) ELSE NULL END, \
             ticket = CASE WHEN status = 'active' THEN CAST($7 AS TEXT) ELSE NULL END, \
             moves = moves + 1, updated_at = $8 WHERE id = $1",
            &[
                (&m.id).into(),
                day.to_string().into(),
                (hour as i64).into(),
                start.into(),
                end.into(),
                seq.into(),
                (&ticket).into(),
                self.now.into(),
            ],
        )?;
        let (from, _) = interval_strings(cp, self.day, m.from_hour);
        let (to, _) = interval_strings(cp, day, hour);
        notify(
            tx,
            &m.id,
            "moved",
            &format!(
                "{}: capacity lowered ({}); your booking moved from {from} to {to}, ticket {ticket}. Not counted as a reschedule.",
                cp.code, self.reason
            ),
            self.now,
        )?;
        Ok(Moved {
            booking: m.id.clone(),
            priority: m.priority.is_some(),
            from,
            to,
        })
    }

    /// ADR 0006 step 5: no slot left within the horizon; cancelled, the fee refund due.
    fn cancel_one(&self, tx: &mut dyn Tx, b: &BookingRow) -> Result<(), BookingError> {
        tx.execute(
            "UPDATE bookings SET status = 'cancelled', updated_at = $2 WHERE id = $1",
            &[(&b.id).into(), self.now.into()],
        )?;
        ledger(
            tx,
            &b.account,
            &b.id,
            "refund-due",
            b.paid_kzt,
            None,
            self.now,
        )?;
        notify(
            tx,
            &b.id,
            "cancelled-by-checkpoint",
            &format!(
                "{}: capacity lowered ({}) and no slot is free within the booking horizon; the booking is cancelled and the fee refunded.",
                self.cp.code, self.reason
            ),
            self.now,
        )
    }
}

/// An hour of the day (0..23) as the policy indexes it.
fn hour_of(hour: i64) -> Option<u8> {
    u8::try_from(hour).ok().filter(|h| *h < 24)
}

/// Checkpoint-days `from..=until` as they are now. A day with no rows yet is as
/// [`ensure_day`] would make it from the catalogue.
fn read_days(
    tx: &mut dyn Tx,
    cp: &Checkpoint,
    from: Date,
    until: Date,
) -> Result<Vec<DayLoad>, BookingError> {
    let range = [
        (&cp.code).into(),
        from.to_string().into(),
        until.to_string().into(),
    ];
    let day_rows = DayRow::select(
        tx,
        "FROM cp_days WHERE checkpoint = $1 AND day >= $2 AND day <= $3",
        &range,
    )?;
    let hour_rows = HourRow::select(
        tx,
        "FROM cp_slots WHERE checkpoint = $1 AND day >= $2 AND day <= $3",
        &range,
    )?;
    let counts = priority_counts(tx, &cp.code, &from.to_string(), &until.to_string())?;
    let mut loads: Vec<DayLoad> = Vec::new();
    let mut day = from;
    while day <= until {
        loads.push(day_load(cp, day, &day_rows));
        match day.next_day() {
            Some(next) => day = next,
            None => break,
        }
    }
    let index: HashMap<String, usize> = loads
        .iter()
        .enumerate()
        .map(|(i, l)| (l.day.to_string(), i))
        .collect();
    for r in &hour_rows {
        let h = hour_of(r.hour).ok_or_else(|| {
            DbError::Other(format!(
                "cp_slots {}: hour {} is not an hour",
                r.day, r.hour
            ))
        })?;
        if let Some(&i) = index.get(&r.day) {
            loads[i].hours[h as usize] = HourLoad {
                capacity: r.capacity,
                booked: r.booked,
            };
        }
    }
    for (day, priority) in counts {
        if let Some(&i) = index.get(&day) {
            loads[i].priority = priority;
        }
    }
    Ok(loads)
}

/// One day from its row, or from the catalogue when it has none yet (its hours are then
/// the catalogue's; a day with a row has the hours of its own rows, 0 where none).
fn day_load(cp: &Checkpoint, day: Date, day_rows: &[DayRow]) -> DayLoad {
    let ds = day.to_string();
    match day_rows.iter().find(|r| r.day == ds) {
        Some(r) => DayLoad {
            day,
            capacity: r.capacity,
            booked: r.booked,
            priority: ByCategory::default(),
            hours: [HourLoad::default(); 24],
        },
        None => DayLoad {
            day,
            capacity: cp.day_capacity(),
            booked: 0,
            priority: ByCategory::default(),
            hours: std::array::from_fn(|h| HourLoad {
                capacity: if cp.hours().contains(&(h as u8)) {
                    cp.hourly_capacity
                } else {
                    0
                },
                booked: 0,
            }),
        },
    }
}
