//! Rescheduling (P28): an active booking moves to another date and time, re-verified for
//! the new date. Two are free; a third is refused or charged as configured.

use super::ExtraReschedule;
use super::accounts::debt_in_tx;
use super::engine::{BookingEngine, ledger, lock, view};
use super::model::{BookingView, Payment, RescheduleRequest};
use super::rules::BookingError;
use super::slots::{interval_bounds, release, reserve, ticket_number};

impl BookingEngine {
    /// P28: moves an active booking to another date and time. Two are free; a third is
    /// refused or charged as configured. Owner, vehicle and checkpoint stay (P36).
    pub async fn reschedule(
        &self,
        id: &str,
        request: RescheduleRequest,
    ) -> Result<BookingView, BookingError> {
        let booking = self.owned(id, &request.account).await?;
        if booking.status != "active" {
            return Err(BookingError::rule(
                "P28",
                409,
                format!("a {} booking cannot be rescheduled", booking.status),
            ));
        }
        let cp = self.checkpoint(&booking.checkpoint, "/checkpoint")?;
        let plan = self.plan(&cp, &request.slot, None)?;
        let charge = self.reschedule_charge(booking.reschedules_used, request.payment.as_ref())?;
        self.limits
            .check(
                &request.account,
                &booking.vehicle,
                self.clock.now().unix_timestamp(),
            )
            .await?;
        self.check_debt(&request.account).await?;
        // Re-verify for the new date: validity of insurance, permits… may end before it.
        let mut application = self.application(id).await?;
        application.travel_date = plan.day.to_string();
        let verification_id = self.verify(application.clone()).await?;
        let application_json = serde_json::to_string(&application).unwrap_or_default();
        let now = self.clock.now().unix_timestamp();
        let policy = self.policy.clone();
        let free = self.free_reschedules();
        let extra = self.config.extra_reschedule;
        let (id, account) = (id.to_owned(), request.account.clone());
        let payment = request.payment.clone();
        self.store
            .transact(move |tx| {
                let r = lock(tx, &id)?;
                if r.status != "active" {
                    return Err(BookingError::rule(
                        "P28",
                        409,
                        format!("a {} booking cannot be rescheduled", r.status),
                    ));
                }
                if r.reschedules >= free && extra == ExtraReschedule::Refuse {
                    return Err(BookingError::rule(
                        "P28",
                        409,
                        format!("only {free} reschedules are allowed"),
                    ));
                }
                debt_in_tx(tx, &account, now)?;
                release(tx, &r)?;
                // P6: on the new day, the quota of that day's edition (ADR 0013).
                let (day, hour, seq) = reserve(tx, &cp, plan, r.category()?, &policy, true)?;
                let (start, end) = interval_bounds(&cp, day, hour);
                let seq = seq.unwrap_or_default();
                tx.execute(
                    "UPDATE bookings SET day = $2, hour = $3, slot_start = $4, slot_end = $5, ticket_seq = $6, \
                     ticket = $7, reschedules = reschedules + 1, application = $8, verification_id = $9, \
                     updated_at = $10 WHERE id = $1",
                    &[
                        (&id).into(),
                        day.to_string().into(),
                        (hour as i64).into(),
                        start.into(),
                        end.into(),
                        seq.into(),
                        ticket_number(&cp.code, day, seq).into(),
                        (&application_json).into(),
                        (&verification_id).into(),
                        now.into(),
                    ],
                )?;
                if let (Some(amount), Some(p)) = (charge, &payment) {
                    ledger(tx, &account, &id, "reschedule-charge", amount, None, now)?;
                    ledger(tx, &account, &id, "payment", p.amount_kzt, Some(&p.reference), now)?;
                }
                view(tx, &id, free)
            })
            .await
    }

    /// P28: `None` while free reschedules are left, else the charge (or the refusal).
    fn reschedule_charge(
        &self,
        used: i64,
        payment: Option<&Payment>,
    ) -> Result<Option<i64>, BookingError> {
        if used < self.free_reschedules() {
            return Ok(None);
        }
        match self.config.extra_reschedule {
            ExtraReschedule::Refuse => Err(BookingError::rule(
                "P28",
                409,
                format!(
                    "a booking may be rescheduled {} times free of charge; this one has been",
                    self.config.free_reschedules
                ),
            )),
            ExtraReschedule::Charge => {
                let fee = self.config.extra_reschedule_fee_kzt;
                match payment {
                    Some(p) if p.amount_kzt >= fee => Ok(Some(fee)),
                    _ => Err(BookingError::at(
                        "P28",
                        402,
                        "/payment",
                        format!("past the free reschedules, a reschedule costs {fee} KZT"),
                    )),
                }
            }
        }
    }
}
