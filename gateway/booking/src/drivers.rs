//! Adding trusted drivers (P16.2): verified like the rest (P18); nothing else may change
//! (P36).

use super::engine::{BookingEngine, view};
use super::model::BookingView;
use super::rules::BookingError;
use kezek_domain::Driver;

impl BookingEngine {
    /// P16.2: adds trusted drivers after verifying them (P18); nothing else may change
    /// (P36).
    pub async fn add_drivers(
        &self,
        id: &str,
        account: &str,
        drivers: Vec<Driver>,
    ) -> Result<BookingView, BookingError> {
        let booking = self.owned(id, account).await?;
        if !matches!(booking.status.as_str(), "held" | "active") {
            return Err(BookingError::rule(
                "P36",
                409,
                format!("a {} booking cannot change", booking.status),
            ));
        }
        let mut application = self.application(id).await?;
        application.drivers.extend(drivers);
        if application.drivers.len() > 10 {
            return Err(BookingError::at(
                "P16",
                422,
                "/drivers",
                "at most 10 trusted drivers",
            ));
        }
        self.limits
            .check(account, &booking.vehicle, self.clock.now().unix_timestamp())
            .await?;
        let verification_id = self.verify(application.clone()).await?;
        let json = serde_json::to_string(&application).unwrap_or_default();
        let n = application.drivers.len() as i64;
        let now = self.clock.now().unix_timestamp();
        let id = id.to_owned();
        let free = self.free_reschedules();
        self.store
            .transact(move |tx| {
                let changed = tx.execute(
                    "UPDATE bookings SET application = $2, drivers = $3, verification_id = $4, updated_at = $5 \
                     WHERE id = $1 AND status IN ('held', 'active')",
                    &[(&id).into(), (&json).into(), n.into(), (&verification_id).into(), now.into()],
                )?;
                if changed == 0 {
                    return Err(BookingError::rule("P36", 409, "the booking changed meanwhile"));
                }
                view(tx, &id, free)
            })
            .await
    }
}
