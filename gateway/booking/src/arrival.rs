//! Did the vehicle come? It entered (P30), or it did not and the booking is annulled
//! (P35) — by ops, or by the sweeper once the grace after the interval is over.

use super::engine::{BookingEngine, notify, view};
use super::model::BookingView;
use super::rows::BookingRow;
use super::rules::BookingError;
use super::slots::release;
use kezek_store::{Columns, Tx};

impl BookingEngine {
    /// P30: the vehicle entered the checkpoint; the booking is completed.
    pub async fn arrived(&self, id: &str) -> Result<BookingView, BookingError> {
        let now = self.clock.now().unix_timestamp();
        let id = id.to_owned();
        let free = self.free_reschedules();
        self.store
            .transact(move |tx| {
                let n = tx.execute(
                    "UPDATE bookings SET status = 'completed', updated_at = $2 WHERE id = $1 AND status = 'active'",
                    &[(&id).into(), now.into()],
                )?;
                if n == 0 {
                    return Err(BookingError::rule("P30", 409, "only an active booking can enter"));
                }
                view(tx, &id, free)
            })
            .await
    }

    /// P35: the vehicle did not arrive: the booking is annulled and the vehicle may book
    /// again. The fee is kept (P28: late arrival).
    pub async fn no_show(&self, id: &str) -> Result<BookingView, BookingError> {
        let now = self.clock.now().unix_timestamp();
        let id = id.to_owned();
        let free = self.free_reschedules();
        self.store
            .transact(move |tx| {
                if !annul(tx, &id, now)? {
                    return Err(BookingError::rule(
                        "P35",
                        409,
                        "only an active booking can be annulled",
                    ));
                }
                view(tx, &id, free)
            })
            .await
    }

    /// P35: annuls active bookings whose interval ended `no_show_grace_min` ago with no
    /// arrival. Returns how many.
    pub async fn annul_no_shows(&self) -> Result<usize, BookingError> {
        let now = self.clock.now().unix_timestamp();
        let cutoff = now - self.config.no_show_grace_min as i64 * 60;
        self.store
            .transact(move |tx| {
                let rows = tx.query(
                    "SELECT id FROM bookings WHERE status = 'active' AND slot_end <= $1 LIMIT 500",
                    &[cutoff.into()],
                )?;
                let mut n = 0;
                for r in &rows {
                    if annul(tx, Columns::new("id", r)?.text("id")?, now)? {
                        n += 1;
                    }
                }
                Ok(n)
            })
            .await
    }
}

/// P35: annuls the booking if it is still active; false if it is not.
fn annul(tx: &mut dyn Tx, id: &str, now: i64) -> Result<bool, BookingError> {
    let active = BookingRow::select(
        tx,
        "FROM bookings WHERE id = $1 AND status = 'active' FOR UPDATE",
        &[id.into()],
    )?;
    let Some(r) = active.first() else {
        return Ok(false);
    };
    tx.execute(
        "UPDATE bookings SET status = 'annulled', updated_at = $2 WHERE id = $1",
        &[id.into(), now.into()],
    )?;
    release(tx, r)?;
    notify(
        tx,
        id,
        "annulled",
        "The vehicle did not arrive on the booked day and time: the booking is annulled (P35); the vehicle may book again. The fee is not refunded (P28).",
        now,
    )?;
    Ok(true)
}
