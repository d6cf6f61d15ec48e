//! The sweeper: holds not paid in time are expired (anti-abuse, issue 5 item 7), no-shows
//! annulled (P35) and the personal fields of long-ended bookings erased (`retention`), every
//! `sweep_interval_s`.

use super::engine::{BookingEngine, notify};
use super::rows::BookingRow;
use super::rules::BookingError;
use super::slots::release;
use kezek_store::Tx;
use std::sync::Arc;

impl BookingEngine {
    /// Sweeps expired holds and no-shows every `sweep_interval_s` until the engine is
    /// dropped.
    pub fn spawn_sweeper(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let every = std::time::Duration::from_secs(self.config.sweep_interval_s.max(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(engine) = weak.upgrade() else { break };
                if let Err(e) = engine.expire_holds().await {
                    tracing::warn!(error = %e, "hold sweep failed");
                }
                if let Err(e) = engine.annul_no_shows().await {
                    tracing::warn!(error = %e, "no-show sweep failed");
                }
                if let Err(e) = engine.erase_personal_data().await {
                    tracing::warn!(error = %e, "retention sweep failed");
                }
            }
        });
    }

    /// Releases holds that were not paid in time. Returns how many.
    pub async fn expire_holds(&self) -> Result<usize, BookingError> {
        let now = self.clock.now().unix_timestamp();
        self.store
            .transact(move |tx| {
                let held = BookingRow::select(
                    tx,
                    "FROM bookings WHERE status = 'held' AND hold_expires_at <= $1 LIMIT 500",
                    &[now.into()],
                )?;
                let mut n = 0;
                for r in &held {
                    if expire_one(tx, r, now)? {
                        n += 1;
                    }
                }
                Ok(n)
            })
            .await
    }
}

/// Expires a held booking `r` read in this transaction; false if it is no longer held.
pub(super) fn expire_one(tx: &mut dyn Tx, r: &BookingRow, now: i64) -> Result<bool, BookingError> {
    let n = tx.execute(
        "UPDATE bookings SET status = 'expired', updated_at = $2 WHERE id = $1 AND status = 'held'",
        &[(&r.id).into(), now.into()],
    )?;
    if n == 1 {
        release(tx, r)?;
        notify(
            tx,
            &r.id,
            "hold-expired",
            "The booking was not paid in time; the slot was released.",
            now,
        )?;
    }
    Ok(n == 1)
}
