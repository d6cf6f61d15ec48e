//! Paying a held booking (P23): confirmed with its ticket (P20), unless the hold expired.

use super::engine::{BookingEngine, ledger, lock, view};
use super::model::{BookingView, Payment};
use super::rows::BookingRow;
use super::rules::{BookingError, PriorityCategory};
use super::slots::{next_ticket, parse_day, ticket_number};
use super::sweeps::expire_one;
use crate::checkpoints::Checkpoint;
use kezek_store::Tx;

impl BookingEngine {
    /// P23: pays a held booking and confirms it (ticket issued, P20).
    pub async fn pay(
        &self,
        id: &str,
        account: &str,
        payment: Payment,
    ) -> Result<BookingView, BookingError> {
        let booking = self.owned(id, account).await?;
        let cp = self.checkpoint(&booking.checkpoint, "/checkpoint")?;
        let priority = booking
            .priority
            .as_deref()
            .and_then(PriorityCategory::parse);
        let due = self.due(priority);
        if payment.amount_kzt < due {
            return Err(BookingError::at(
                "P23",
                402,
                "/amount-kzt",
                format!("the fee is {due} KZT (P25, P26)"),
            ));
        }
        let now = self.clock.now().unix_timestamp();
        let id = id.to_owned();
        let fee = self.config.fee_kzt;
        let free = self.free_reschedules();
        let paid = self
            .store
            .transact(move |tx| {
                let r = lock(tx, &id)?;
                if r.status != "held" {
                    return Err(BookingError::rule(
                        "P23",
                        409,
                        format!("the booking is {}, not awaiting payment", r.status),
                    ));
                }
                if r.hold_expires_at.is_some_and(|t| t <= now) {
                    expire_one(tx, &r, now)?;
                    return Ok(None);
                }
                confirm(tx, &cp, &r, &payment, fee, now)?;
                Ok(Some(view(tx, &id, free)?))
            })
            .await?;
        paid.ok_or_else(|| {
            BookingError::rule(
                "anti-abuse",
                410,
                "the hold expired before payment; the slot was released — book again",
            )
        })
    }
}

/// Confirms a held booking `r` read in this transaction: its day's next ticket, the fee
/// charged and the payment recorded.
fn confirm(
    tx: &mut dyn Tx,
    cp: &Checkpoint,
    r: &BookingRow,
    payment: &Payment,
    fee: i64,
    now: i64,
) -> Result<(), BookingError> {
    let day = parse_day(&r.day)?;
    let seq = next_ticket(tx, &cp.code, day)?;
    tx.execute(
        "UPDATE bookings SET status = 'active', ticket_seq = $2, ticket = $3, paid_kzt = $4, \
         hold_expires_at = NULL, updated_at = $5 WHERE id = $1",
        &[
            (&r.id).into(),
            seq.into(),
            ticket_number(&cp.code, day, seq).into(),
            payment.amount_kzt.into(),
            now.into(),
        ],
    )?;
    ledger(tx, &r.account, &r.id, "charge", fee, None, now)?;
    ledger(
        tx,
        &r.account,
        &r.id,
        "payment",
        payment.amount_kzt,
        Some(&payment.reference),
        now,
    )
}
