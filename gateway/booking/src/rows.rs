//! Typed rows: each struct reads the columns of its own SELECT list by name, and a NULL
//! where the schema says NOT NULL is an error (never a 0 or an empty text). `row!` makes
//! the SELECT list from the fields, so names and positions cannot drift apart.

use super::model::{BookingView, Interval, Notification, Ticket};
use super::rules::PriorityCategory;
use super::slots::{rfc3339, utc};
use kezek_store::{Columns, DbError, Tx, Val};

/// Bookings show their interval in Kazakhstan's single time zone (+05:00 since 2024).
const SHOWN_OFFSET: time::UtcOffset = time::macros::offset!(+5);

/// A typed row: the struct (each field `name: kind`, kind one of `text`, `int`,
/// `opt_text`, `opt_int`), `COLUMNS` (its SELECT list: the field names in order),
/// `from_row` and `select`.
macro_rules! row {
    (@type text) => { String };
    (@type int) => { i64 };
    (@type opt_text) => { Option<String> };
    (@type opt_int) => { Option<i64> };
    (
        $(#[$meta:meta])*
        $name:ident {
            $(#[$m0:meta])* $f0:ident: $k0:ident
            $(, $(#[$m:meta])* $f:ident: $k:ident)* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub(super) struct $name {
            $(#[$m0])* pub $f0: row!(@type $k0),
            $($(#[$m])* pub $f: row!(@type $k),)*
        }

        impl $name {
            pub const COLUMNS: &'static str = concat!(stringify!($f0) $(, ", ", stringify!($f))*);

            pub fn from_row(row: &[Val]) -> Result<Self, DbError> {
                let c = Columns::new(Self::COLUMNS, row)?;
                Ok(Self {
                    $f0: read::$k0(&c, stringify!($f0))?,
                    $($f: read::$k(&c, stringify!($f))?,)*
                })
            }

            /// `SELECT <COLUMNS> <rest>`, e.g. `rest` = `"FROM bookings WHERE id = $1"`.
            pub fn select(tx: &mut dyn Tx, rest: &str, params: &[Val]) -> Result<Vec<Self>, DbError> {
                tx.query(&format!("SELECT {} {rest}", Self::COLUMNS), params)?
                    .iter()
                    .map(|r| Self::from_row(r))
                    .collect()
            }
        }
    };
}

/// What `row!` reads a column of each kind as.
mod read {
    use kezek_store::{Columns, DbError};

    pub fn text(c: &Columns<'_>, name: &str) -> Result<String, DbError> {
        Ok(c.text(name)?.to_owned())
    }
    pub fn int(c: &Columns<'_>, name: &str) -> Result<i64, DbError> {
        c.int(name)
    }
    pub fn opt_text(c: &Columns<'_>, name: &str) -> Result<Option<String>, DbError> {
        Ok(c.opt_text(name)?.map(str::to_owned))
    }
    pub fn opt_int(c: &Columns<'_>, name: &str) -> Result<Option<i64>, DbError> {
        c.opt_int(name)
    }
}

row! {
    /// A booking, as `bookings` stores it.
    BookingRow {
        id: text,
        account: text,
        checkpoint: text,
        plate_key: text,
        status: text,
        day: text,
        hour: int,
        slot_start: int,
        slot_end: int,
        /// P20: set together with `ticket` when the booking is confirmed.
        ticket_seq: opt_int,
        ticket: opt_text,
        /// P6: the out-of-turn category, if any.
        priority: opt_text,
        drivers: int,
        verification_id: text,
        fee_kzt: int,
        paid_kzt: int,
        reschedules: int,
        moves: int,
        created_at: int,
        /// ADR 0006: booking order.
        created_order: text,
        hold_expires_at: opt_int,
    }
}

row! {
    /// A notification of the outbox, as its booking shows it.
    NotificationRow {
        kind: text,
        message: text,
        at: int,
    }
}

row! {
    /// A checkpoint-day: its actual capacity (D13) and the bookings counted against it.
    DayRow {
        day: text,
        capacity: int,
        booked: int,
    }
}

row! {
    /// P6: the out-of-turn bookings of a checkpoint-day in one category (ADR 0013).
    CategoryRow {
        day: text,
        category: text,
        booked: int,
    }
}

impl CategoryRow {
    /// The category, as `PriorityCategory::as_str` wrote it; anything else is a broken row.
    pub fn category(&self) -> Result<PriorityCategory, DbError> {
        category(&self.category)
    }
}

fn category(text: &str) -> Result<PriorityCategory, DbError> {
    PriorityCategory::parse(text)
        .ok_or_else(|| DbError::Other(format!("{text} is not a P6 category")))
}

row! {
    /// One hour interval of a checkpoint-day (P16.1).
    HourRow {
        day: text,
        hour: int,
        capacity: int,
        booked: int,
    }
}

row! {
    /// An idempotency key of a create: the request it was first used for and its booking.
    KeyRow {
        request_hash: text,
        booking_id: text,
    }
}

impl BookingRow {
    /// The P6 category whose quota it counts against on its day, if any.
    pub fn category(&self) -> Result<Option<PriorityCategory>, DbError> {
        self.priority.as_deref().map(category).transpose()
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
    fn a_row_selects_its_fields_by_name() {
        assert_eq!(DayRow::COLUMNS, "day, capacity, booked");
        assert_eq!(CategoryRow::COLUMNS, "day, category, booked");
        assert!(BookingRow::COLUMNS.starts_with("id, account, checkpoint, plate_key, status"));
    }

    #[test]
    fn a_booking_row_reads_its_columns_by_name() {
        let b = BookingRow::from_row(&booking_values()).unwrap();
        assert_eq!(b.category(), Ok(None));
        assert_eq!((b.hour, b.ticket_seq, b.priority), (10, Some(1), None));
        assert_eq!(b.created_order, "0005-b1");
    }

    /// P6: a stored category is one of ours, or the row is broken (never "no category").
    #[test]
    fn a_stored_category_is_read_strictly() {
        let mut b = BookingRow::from_row(&booking_values()).unwrap();
        b.priority = Some("paid".into());
        assert_eq!(b.category(), Ok(Some(PriorityCategory::Paid)));
        b.priority = Some("vip".into());
        assert!(b.category().unwrap_err().to_string().contains("vip"));
    }

    /// NULL is never read as 0: a NULL hour is a broken row, named by its column.
    #[test]
    fn null_in_a_not_null_column_is_an_error() {
        let mut v = booking_values();
        v[6] = Val::NullText;
        let e = BookingRow::from_row(&v).unwrap_err().to_string();
        assert!(e.contains("column hour"), "{e}");
        let e = DayRow::from_row(&["2026-06-02".into(), Val::NullInt, Val::Int(0)]);
        assert!(e.unwrap_err().to_string().contains("column capacity"));
    }
}
