//! Capacity: what is free (availability), and ops changing a day's capacity (D13), whose
//! displaced bookings move by the policy of ADR 0006.

use super::engine::{BookingEngine, ledger, notify};
use super::model::{CapacityReport, DayAvailability, HourAvailability, Moved};
use super::rows::{self, BookingRow, DayRow, HourRow};
use super::rules::BookingError;
use super::slots::{
    Plan, ensure_day, interval_bounds, interval_strings, parse_day, reserve, ticket_number,
};
use crate::store::DbError;
use time::Date;

impl BookingEngine {
    /// Free capacity of a checkpoint for `days` days from `from`.
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
        let until = (from + time::Duration::days(days.clamp(1, 31) as i64 - 1)).min(last);
        let bp = self.config.priority.cap_basis_points();
        let (code, f, u) = (cp.code.clone(), from.to_string(), until.to_string());
        let (day_rows, slot_rows) = self
            .store
            .transact(move |tx| -> Result<_, BookingError> {
                let d = tx.query(
                    &format!(
                        "SELECT {} FROM cp_days WHERE checkpoint = $1 AND day >= $2 AND day <= $3",
                        DayRow::COLUMNS
                    ),
                    &[(&code).into(), (&f).into(), (&u).into()],
                )?;
                let s = tx.query(
                    &format!(
                        "SELECT {} FROM cp_slots WHERE checkpoint = $1 AND day >= $2 AND day <= $3",
                        HourRow::COLUMNS
                    ),
                    &[(&code).into(), (&f).into(), (&u).into()],
                )?;
                Ok((
                    rows::all(d, DayRow::from_row)?,
                    rows::all(s, HourRow::from_row)?,
                ))
            })
            .await?;
        let mut out = Vec::new();
        let mut day = from;
        while day <= until {
            let ds = day.to_string();
            let row = day_rows.iter().find(|r| r.day == ds);
            let (capacity, booked, pbooked) = row.map_or((cp.day_capacity(), 0, 0), |r| {
                (r.capacity, r.booked, r.priority_booked)
            });
            let pcap = capacity * bp / 10_000;
            let mut hours = Vec::new();
            for h in 0..24u8 {
                let slot = slot_rows.iter().find(|r| r.day == ds && r.hour == h as i64);
                let (cap, b) = match slot {
                    Some(r) => (r.capacity, r.booked),
                    None if row.is_none() && cp.hours().contains(&h) => (cp.hourly_capacity, 0),
                    None => (0, 0),
                };
                let begun = day == today && h <= hour_now;
                if cap > 0 && !begun {
                    let (from, to) = interval_strings(&cp, day, h);
                    hours.push(HourAvailability {
                        hour: h as i64,
                        from,
                        to,
                        capacity: cap,
                        free: (cap - b).max(0),
                    });
                }
            }
            out.push(DayAvailability {
                date: ds,
                capacity,
                booked,
                free: (capacity - booked).max(0),
                priority_cap: pcap,
                priority_free: (pcap - pbooked).max(0),
                hours,
            });
            day = day.next_day().unwrap_or(day);
            if day == Date::MAX {
                break;
            }
        }
        Ok(out)
    }

    /// D13: ops change a checkpoint-day's capacity (a temporary closure lowers it, and may
    /// close an hour range). Bookings that no longer fit are moved by the fair policy of
    /// ADR 0006: rank by priority first (P6), then booking order; the best-ranked keep their
    /// places, the rest move, in rank order, to the first free slot at or after their hour.
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
        let last = self.last_day(today);
        let now = self.clock.now().unix_timestamp();
        let bp = self.config.priority.cap_basis_points();
        let reason = reason.to_owned();
        self.store
            .transact(move |tx| {
                ensure_day(tx, &cp, day)?;
                let ds = day.to_string();
                let old = tx.query(
                    &format!("SELECT {} FROM cp_days WHERE checkpoint = $1 AND day = $2 FOR UPDATE", DayRow::COLUMNS),
                    &[(&cp.code).into(), (&ds).into()],
                )?;
                let old = DayRow::from_row(old.first().ok_or_else(|| DbError::Other(format!("no day row {ds}")))?)?.capacity;
                tx.execute(
                    "UPDATE cp_days SET capacity = $3 WHERE checkpoint = $1 AND day = $2",
                    &[(&cp.code).into(), (&ds).into(), capacity.into()],
                )?;
                if let Some((from, to)) = closed_hours {
                    tx.execute(
                        "UPDATE cp_slots SET capacity = 0 WHERE checkpoint = $1 AND day = $2 AND hour >= $3 AND hour < $4",
                        &[(&cp.code).into(), (&ds).into(), (from as i64).into(), (to as i64).into()],
                    )?;
                }
                let hour_caps: std::collections::HashMap<i64, i64> = rows::all(
                    tx.query(
                        &format!("SELECT {} FROM cp_slots WHERE checkpoint = $1 AND day = $2", HourRow::COLUMNS),
                        &[(&cp.code).into(), (&ds).into()],
                    )?,
                    HourRow::from_row,
                )?
                .iter()
                .map(|r| (r.hour, r.capacity))
                .collect();
                let rows = rows::all(tx.query(
                    &format!("SELECT {} FROM bookings WHERE checkpoint = $1 AND day = $2 \
                     AND status IN ('held', 'active') \
                     ORDER BY CASE WHEN priority IS NULL THEN 1 ELSE 0 END, created_order FOR UPDATE", BookingRow::COLUMNS),
                    &[(&cp.code).into(), (&ds).into()],
                )?, BookingRow::from_row)?;
                let pcap = capacity * bp / 10_000;
                let (mut kept, mut kept_p) = (0i64, 0i64);
                let mut per_hour: std::collections::HashMap<i64, i64> = Default::default();
                let mut displaced = Vec::new();
                for r in &rows {
                    let (h, prio) = (r.hour, r.is_priority());
                    let hour_cap = hour_caps.get(&h).copied().unwrap_or(0);
                    let in_hour = per_hour.get(&h).copied().unwrap_or(0);
                    if kept < capacity && in_hour < hour_cap && (!prio || kept_p < pcap) {
                        kept += 1;
                        kept_p += prio as i64;
                        *per_hour.entry(h).or_default() += 1;
                    } else {
                        displaced.push((r.id.clone(), h, prio, r.account.clone(), r.paid_kzt));
                    }
                }
                tx.execute(
                    "UPDATE cp_days SET booked = $3, priority_booked = $4 WHERE checkpoint = $1 AND day = $2",
                    &[(&cp.code).into(), (&ds).into(), kept.into(), kept_p.into()],
                )?;
                tx.execute(
                    "UPDATE cp_slots SET booked = 0 WHERE checkpoint = $1 AND day = $2",
                    &[(&cp.code).into(), (&ds).into()],
                )?;
                for (h, n) in &per_hour {
                    tx.execute(
                        "UPDATE cp_slots SET booked = $4 WHERE checkpoint = $1 AND day = $2 AND hour = $3",
                        &[(&cp.code).into(), (&ds).into(), (*h).into(), (*n).into()],
                    )?;
                }
                let mut moved = Vec::new();
                let mut cancelled = Vec::new();
                for (id, h, prio, account, paid) in displaced {
                    let plan = Plan { day, hour: h as u8, exact: false, last };
                    let (from_s, _) = interval_strings(&cp, day, h as u8);
                    match reserve(tx, &cp, plan, prio, bp, true) {
                        Ok((nd, nh, seq)) => {
                            let (start, end) = interval_bounds(&cp, nd, nh);
                            let seq = seq.unwrap_or_default();
                            let ticket = ticket_number(&cp.code, nd, seq);
                            tx.execute(
                                "UPDATE bookings SET day = $2, hour = $3, slot_start = $4, slot_end = $5, \
                                 ticket_seq = CASE WHEN status = 'active' THEN CAST($6 AS BIGINT) ELSE NULL END, \
                                 ticket = CASE WHEN status = 'active' THEN CAST($7 AS TEXT) ELSE NULL END, \
                                 moves = moves + 1, updated_at = $8 WHERE id = $1",
                                &[(&id).into(), nd.to_string().into(), (nh as i64).into(), start.into(),
                                  end.into(), seq.into(), (&ticket).into(), now.into()],
                            )?;
                            let (to_s, _) = interval_strings(&cp, nd, nh);
                            notify(tx, &id, "moved", &format!(
                                "{}: capacity lowered ({reason}); your booking moved from {from_s} to {to_s}, ticket {ticket}. Not counted as a reschedule.",
                                cp.code), now)?;
                            moved.push(Moved { booking: id, priority: prio, from: from_s, to: to_s });
                        }
                        Err(BookingError::Rule { .. }) => {
                            tx.execute(
                                "UPDATE bookings SET status = 'cancelled', updated_at = $2 WHERE id = $1",
                                &[(&id).into(), now.into()],
                            )?;
                            ledger(tx, &account, &id, "refund-due", paid, None, now)?;
                            notify(tx, &id, "cancelled-by-checkpoint", &format!(
                                "{}: capacity lowered ({reason}) and no slot is free within the booking horizon; the booking is cancelled and the fee refunded.",
                                cp.code), now)?;
                            cancelled.push(id);
                        }
                        Err(e) => return Err(e),
                    }
                }
                tx.execute(
                    "INSERT INTO capacity_changes (id, checkpoint, day, old_capacity, new_capacity, closed_from, closed_to, reason, moved, at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    &[uuid::Uuid::new_v4().to_string().into(), (&cp.code).into(), (&ds).into(), old.into(), capacity.into(),
                      closed_hours.map(|c| c.0 as i64).into(), closed_hours.map(|c| c.1 as i64).into(),
                      (&reason).into(), (moved.len() as i64).into(), now.into()],
                )?;
                Ok(CapacityReport {
                    checkpoint: cp.code.clone(),
                    date: ds,
                    old_capacity: old,
                    new_capacity: capacity,
                    kept,
                    moved,
                    cancelled,
                })
            })
            .await
    }
}
