//! The user cancels (P28): the place is released, the fee kept.

use super::engine::{BookingEngine, lock, notify, view};
use super::model::BookingView;
use super::rules::BookingError;
use super::slots::release;

impl BookingEngine {
    /// P28: the user cancels; the fee is kept (no refund). The vehicle may book again.
    pub async fn cancel(&self, id: &str, account: &str) -> Result<BookingView, BookingError> {
        self.owned(id, account).await?;
        let now = self.clock.now().unix_timestamp();
        let id = id.to_owned();
        let free = self.free_reschedules();
        self.store
            .transact(move |tx| {
                let r = lock(tx, &id)?;
                if !matches!(r.status.as_str(), "held" | "active") {
                    return Err(BookingError::rule(
                        "P28",
                        409,
                        format!("the booking is already {}", r.status),
                    ));
                }
                tx.execute(
                    "UPDATE bookings SET status = 'cancelled', hold_expires_at = NULL, updated_at = $2 WHERE id = $1",
                    &[(&id).into(), now.into()],
                )?;
                release(tx, &r)?;
                notify(
                    tx,
                    &id,
                    "cancelled",
                    "Cancelled at your request; the fee is not refunded (P28).",
                    now,
                )?;
                view(tx, &id, free)
            })
            .await
    }
}
