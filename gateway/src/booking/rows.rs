//! Typed rows: each struct reads the columns of its own SELECT list by name, and a NULL
//! where the schema says NOT NULL is an error (never a 0 or an empty text).

use super::model::{BookingView, Interval, Notification, Ticket};
use super::slots::{rfc3339, utc};
use crate::store::{Columns, DbError, Val};

/// Bookings show their interval in Kazakhstan's single time zone (+05:00 since 2024).
const SHOWN_OFFSET: time::UtcOffset = time::macros::offset!(+5);

/// A booking, as `bookings` stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BookingRow {
    pub id: String,
    pub account: String,
    pub checkpoint: String,
    pub plate_key: String,
    pub status: String,
    pub day: String,
    pub hour: i64,
    pub slot_start: i64,
    pub slot_end: i64,
    /// P20: set together with `ticket` when the booking is confirmed.
    pub ticket_seq: Option<i64>,
    pub ticket: Option<String>,
    /// P6: the out-of-turn category, if any.
    pub priority: Option<String>,
    pub drivers: i64,
    pub verification_id: String,
    pub fee_kzt: i64,
    pub paid_kzt: i64,
    pub reschedules: i64,
    pub moves: i64,
    pub created_at: i64,
    /// ADR 0006: booking order.
    pub created_order: String,
    pub hold_expires_at: Option<i64>,
}

impl BookingRow {
    pub const COLUMNS: &'static str = "id, account, checkpoint, plate_key, status, day, hour, \
         slot_start, slot_end, ticket_seq, ticket, priority, drivers, verification_id, fee_kzt, \
         paid_kzt, reschedules, moves, created_at, created_order, hold_expires_at";

    pub fn from_row(row: &[Val]) -> Result<Self, DbError> {
        let c = Columns::new(Self::COLUMNS, row)?;
        Ok(Self {
            id: c.text("id")?.to_owned(),
            account: c.text("account")?.to_owned(),
            checkpoint: c.text("checkpoint")?.to_owned(),
            plate_key: c.text("plate_key")?.to_owned(),
            status: c.text("status")?.to_owned(),
            day: c.text("day")?.to_owned(),
            hour: c.int("hour")?,
            slot_start: c.int("slot_start")?,
            slot_end: c.int("slot_end")?,
            ticket_seq: c.opt_int("ticket_seq")?,
            ticket: c.opt_text("ticket")?.map(str::to_owned),
            priority: c.opt_text("priority")?.map(str::to_owned),
            drivers: c.int("drivers")?,
            verification_id: c.text("verification_id")?.to_owned(),
            fee_kzt: c.int("fee_kzt")?,
            paid_kzt: c.int("paid_kzt")?,
            reschedules: c.int("reschedules")?,
            moves: c.int("moves")?,
            created_at: c.int("created_at")?,
            created_order: c.text("created_order")?.to_owned(),
            hold_expires_at: c.opt_int("hold_expires_at")?,
        })
    }

    /// Whether it counts against the P6 quota of its day.
    pub fn is_priority(&self) -> bool {
        self.priority.is_some()
    }

    /// The booking as its owner sees it; `free` is the number of free reschedules (P28).
    pub fn into_view(
        self,
        free: i64,
        notifications: Vec<NotificationRow>,
    ) -> Result<BookingView, DbError> {
        // The interval is stored as instants; it is shown in the checkpoint's offset.
        let slot = Interval {
            date: self.day,
            hour: self.hour,
            from: rfc3339(self.slot_start, SHOWN_OFFSET),
            to: rfc3339(self.slot_end, SHOWN_OFFSET),
        };
        // P20: a ticket number comes with its sequence; one without the other is a broken row.
        let ticket = match (self.ticket, self.ticket_seq) {
            (Some(number), Some(sequence)) => Some(Ticket {
                number,
                sequence,
                date: slot.date.clone(),
                interval: slot.clone(),
            }),
            (Some(_), None) => {
                return Err(DbError::Other(format!(
                    "booking {}: column ticket_seq: NULL beside a ticket",
                    self.id
                )));
            }
            (None, _) => None,
        };
        Ok(BookingView {
            id: self.id,
            status: self.status,
            account: self.account,
            checkpoint: self.checkpoint,
            vehicle: self.plate_key,
            priority: self.priority,
            trusted_drivers: self.drivers,
            ticket,
            slot,
            fee_kzt: self.fee_kzt,
            paid_kzt: self.paid_kzt,
            reschedules_used: self.reschedules,
            free_reschedules_left: (free - self.reschedules).max(0),
            moves: self.moves,
            hold_expires_at: self.hold_expires_at.map(utc),
            created_at: utc(self.created_at),
            verification_id: self.verification_id,
            notifications: notifications
                .into_iter()
                .map(|n| Notification {
                    kind: n.kind,
                    message: n.message,
                    at: utc(n.at),
                })
                .collect(),
        })
    }
}

/// A notification of the outbox, as its booking shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NotificationRow {
    pub kind: String,
    pub message: String,
    pub at: i64,
}

impl NotificationRow {
    pub const COLUMNS: &'static str = "kind, message, at";

    pub fn from_row(row: &[Val]) -> Result<Self, DbError> {
        let c = Columns::new(Self::COLUMNS, row)?;
        Ok(Self {
            kind: c.text("kind")?.to_owned(),
            message: c.text("message")?.to_owned(),
            at: c.int("at")?,
        })
    }
}

/// A checkpoint-day: its actual capacity (D13), bookings and P6 bookings counted against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DayRow {
    pub day: String,
    pub capacity: i64,
    pub booked: i64,
    pub priority_booked: i64,
}

impl DayRow {
    pub const COLUMNS: &'static str = "day, capacity, booked, priority_booked";

    pub fn from_row(row: &[Val]) -> Result<Self, DbError> {
        let c = Columns::new(Self::COLUMNS, row)?;
        Ok(Self {
            day: c.text("day")?.to_owned(),
            capacity: c.int("capacity")?,
            booked: c.int("booked")?,
            priority_booked: c.int("priority_booked")?,
        })
    }
}

/// One hour interval of a checkpoint-day (P16.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HourRow {
    pub day: String,
    pub hour: i64,
    pub capacity: i64,
    pub booked: i64,
}

impl HourRow {
    pub const COLUMNS: &'static str = "day, hour, capacity, booked";

    pub fn from_row(row: &[Val]) -> Result<Self, DbError> {
        let c = Columns::new(Self::COLUMNS, row)?;
        Ok(Self {
            day: c.text("day")?.to_owned(),
            hour: c.int("hour")?,
            capacity: c.int("capacity")?,
            booked: c.int("booked")?,
        })
    }
}

/// An idempotency key of a create: the request it was first used for and its booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KeyRow {
    pub request_hash: String,
    pub booking_id: String,
}

impl KeyRow {
    pub const COLUMNS: &'static str = "request_hash, booking_id";

    pub fn from_row(row: &[Val]) -> Result<Self, DbError> {
        let c = Columns::new(Self::COLUMNS, row)?;
        Ok(Self {
            request_hash: c.text("request_hash")?.to_owned(),
            booking_id: c.text("booking_id")?.to_owned(),
        })
    }
}

/// Reads every row of a query with `from_row`.
pub(super) fn all<T>(
    rows: Vec<Vec<Val>>,
    from_row: fn(&[Val]) -> Result<T, DbError>,
) -> Result<Vec<T>, DbError> {
    rows.iter().map(|r| from_row(r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn booking_values() -> Vec<Val> {
        vec![
            "b1".into(),
            "acc".into(),
            "RU-SMALL".into(),
            "KZ:001AAA01".into(),
            "active".into(),
            "2026-06-02".into(),
            Val::Int(10),
            Val::Int(1),
            Val::Int(2),
            Val::Int(1),
            "RU-SMALL-20260602-00001".into(),
            Val::NullText,
            Val::Int(1),
            "v1".into(),
            Val::Int(0),
            Val::Int(0),
            Val::Int(0),
            Val::Int(0),
            Val::Int(5),
            "0005-b1".into(),
            Val::NullText,
        ]
    }

    #[test]
    fn a_booking_row_reads_its_columns_by_name() {
        let b = BookingRow::from_row(&booking_values()).unwrap();
        assert_eq!((b.hour, b.ticket_seq, b.priority), (10, Some(1), None));
        assert_eq!(b.created_order, "0005-b1");
    }

    /// NULL is never read as 0: a NULL hour is a broken row, named by its column.
    #[test]
    fn null_in_a_not_null_column_is_an_error() {
        let mut v = booking_values();
        v[6] = Val::NullText;
        let e = BookingRow::from_row(&v).unwrap_err().to_string();
        assert!(e.contains("column hour"), "{e}");
        let e = DayRow::from_row(&["2026-06-02".into(), Val::NullInt, Val::Int(0), Val::Int(0)]);
        assert!(e.unwrap_err().to_string().contains("column capacity"));
    }
}
