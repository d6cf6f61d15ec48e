//! The booking engine. Every operation that changes bookings is one store transaction; the
//! rules that must hold across instances and crashes are the database's: capacity by
//! conditional `UPDATE`s on the day and hour rows (`… WHERE booked < capacity`), the P6
//! quotas of the day's edition by per-category counts read and written under that day row's
//! lock (ADR 0013), P21 by partial unique indexes on the plate and VIN keys, P20 ticket
//! numbers by a counter on the day row. Verification runs *before* any slot is held (P20,
//! anti-bot).
//!
//! This file keeps the engine and what its operations share; each operation has its own
//! file beside it (`create`, `pay`, `reschedule`, `cancel`, `drivers`, `capacity`,
//! `arrival`, `sweeps`, `accounts`).

use super::BookingConfig;
use super::limits::RateLimiter;
use super::policy::PriorityPolicy;
use super::rows::{BookingRow, NotificationRow};
use super::rules::{BookingError, PriorityCategory};
use crate::checkpoints::{Catalogue, Checkpoint};
use kezek_domain::clock::{self, SharedClock};
use kezek_domain::{Application, Decision, Verifier, VerifierError};
use kezek_store::{Columns, DbError, Store, Tx};
use std::sync::Arc;
use time::Date;

pub use super::model::{
    BookingView, CapacityReport, CreateRequest, Created, DayAvailability, HourAvailability,
    Interval, Moved, Notification, Payment, QuotaAvailability, RescheduleRequest, SlotRequest,
    Ticket,
};
pub use super::slots::ticket_number;

/// The engine.
pub struct BookingEngine {
    pub(super) config: Arc<BookingConfig>,
    pub(super) catalogue: Arc<Catalogue>,
    /// P6: the quotas of each edition; a day takes the edition in force on it.
    pub(super) policy: Arc<PriorityPolicy>,
    pub(super) store: Arc<Store>,
    pub(super) verifier: Arc<dyn Verifier>,
    pub(super) clock: SharedClock,
    pub(super) limits: RateLimiter,
}

impl std::fmt::Debug for BookingEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BookingEngine")
            .field("store", &self.store.dialect())
            .field("checkpoints", &self.catalogue.checkpoints.len())
            .finish_non_exhaustive()
    }
}

impl BookingEngine {
    /// An engine under the compiled-in P6 policy; [`Self::with_policy`] replaces it (as
    /// [`crate::start`] does with `[booking.priority] editions`).
    pub fn new(
        config: BookingConfig,
        catalogue: Arc<Catalogue>,
        store: Arc<Store>,
        verifier: Arc<dyn Verifier>,
        clock: SharedClock,
    ) -> Self {
        let limits = RateLimiter::new(&config.rate_limits, store.clone());
        Self {
            config: Arc::new(config),
            catalogue,
            policy: Arc::new(PriorityPolicy::embedded()),
            store,
            verifier,
            clock,
            limits,
        }
    }

    /// The engine under another P6 policy (ADR 0013).
    pub fn with_policy(mut self, policy: Arc<PriorityPolicy>) -> Self {
        self.policy = policy;
        self
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    pub fn policy(&self) -> &PriorityPolicy {
        &self.policy
    }

    pub fn config(&self) -> &BookingConfig {
        &self.config
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub(super) fn checkpoint(&self, code: &str, pointer: &str) -> Result<Checkpoint, BookingError> {
        self.catalogue.get(code).cloned().ok_or_else(|| {
            BookingError::at(
                "P5",
                422,
                pointer,
                format!("{code} is not a checkpoint of the Order 707 appendix"),
            )
        })
    }

    /// The checkpoint's local date and hour (P16, P22 are judged on its calendar).
    pub(super) fn today(&self, cp: &Checkpoint) -> (Date, u8) {
        let local = clock::local_now(&*self.clock, cp.offset());
        (local.date(), local.hour())
    }

    /// Today at a checkpoint, on its calendar; `None` outside the catalogue.
    pub fn today_at(&self, code: &str) -> Option<Date> {
        self.catalogue.get(code).map(|cp| self.today(cp).0)
    }

    /// P22: the last day bookings are open for, on the checkpoint's calendar.
    pub(super) fn last_day(&self, today: Date) -> Date {
        today
            .checked_add(time::Duration::days(self.config.horizon_days as i64))
            .unwrap_or(today)
    }

    /// P28: free reschedules per booking, as the views count them.
    pub(super) fn free_reschedules(&self) -> i64 {
        self.config.free_reschedules as i64
    }

    /// P20: the verification pipeline's decision; only an approval lets a slot be held.
    pub(super) async fn verify(&self, application: Application) -> Result<String, BookingError> {
        let verification = self
            .verifier
            .verify(application)
            .await
            .map_err(|e| match e {
                VerifierError::Undatable(clock::Undatable(problems)) if !problems.is_empty() => {
                    let p = &problems[0];
                    let pointer = format!("/application{}", p.pointer);
                    BookingError::at(p.rule, 422, &pointer, p.detail.clone())
                }
                VerifierError::Overloaded { retry_after_s } => BookingError::Indeterminate {
                    detail: "the gateway is at capacity; nothing was verified".into(),
                    retry_after_s: Some(retry_after_s),
                },
                e => {
                    tracing::warn!(error = %e, "verification failed to run");
                    BookingError::Indeterminate {
                        detail: "the verification pipeline could not run".into(),
                        retry_after_s: Some(30),
                    }
                }
            })?;
        match verification.decision {
            Decision::Approved => Ok(verification.id.clone()),
            Decision::Refused => Err(BookingError::Refused(verification)),
            Decision::Indeterminate => {
                let unanswered: Vec<String> = verification
                    .unanswered
                    .iter()
                    .map(|u| format!("{} ({})", u.rule_id, u.registry))
                    .collect();
                Err(BookingError::Indeterminate {
                    detail: format!("not answered: {}", unanswered.join(", ")),
                    retry_after_s: verification.retry_after_s,
                })
            }
        }
    }

    /// P25, P26, P6.4: the fee of a booking.
    pub(super) fn due(&self, priority: Option<PriorityCategory>) -> i64 {
        self.config.fee_kzt
            + if priority == Some(PriorityCategory::Paid) {
                self.config.priority_fee_kzt
            } else {
                0
            }
    }

    /// The booking, if `account` owns it (P36: only the owner sees or acts on it).
    pub async fn get(&self, id: &str) -> Result<BookingView, BookingError> {
        let id = id.to_owned();
        let free = self.free_reschedules();
        self.store.transact(move |tx| view(tx, &id, free)).await
    }

    pub(super) async fn owned(&self, id: &str, account: &str) -> Result<BookingView, BookingError> {
        let booking = self.get(id).await?;
        if booking.account != account {
            return Err(BookingError::rule(
                "P36",
                403,
                "a booking belongs to its owner's account and cannot be used by another",
            ));
        }
        Ok(booking)
    }

    /// The application a booking was verified with.
    pub(super) async fn application(&self, id: &str) -> Result<Application, BookingError> {
        let id = id.to_owned();
        let text = self
            .store
            .transact(move |tx| -> Result<String, BookingError> {
                let rows = tx.query(
                    "SELECT application FROM bookings WHERE id = $1",
                    &[(&id).into()],
                )?;
                let r = rows
                    .first()
                    .ok_or_else(|| BookingError::NotFound(id.clone()))?;
                Ok(Columns::new("application", r)?
                    .text("application")?
                    .to_owned())
            })
            .await?;
        serde_json::from_str(&text)
            .map_err(|e| BookingError::Store(DbError::Other(format!("stored application: {e}"))))
    }
}

// ---- shared transaction steps (run inside `Store::transact`) ----

/// The booking `id`, locked until the transaction ends.
pub(super) fn lock(tx: &mut dyn Tx, id: &str) -> Result<BookingRow, BookingError> {
    BookingRow::select(tx, "FROM bookings WHERE id = $1 FOR UPDATE", &[id.into()])?
        .pop()
        .ok_or_else(|| BookingError::NotFound(id.to_owned()))
}

/// The booking as its owner sees it, notifications included.
pub(super) fn view(tx: &mut dyn Tx, id: &str, free: i64) -> Result<BookingView, BookingError> {
    let r = BookingRow::select(tx, "FROM bookings WHERE id = $1", &[id.into()])?
        .pop()
        .ok_or_else(|| BookingError::NotFound(id.to_owned()))?;
    let notifications = NotificationRow::select(
        tx,
        "FROM notifications WHERE booking_id = $1 ORDER BY at, id",
        &[id.into()],
    )?;
    Ok(r.into_view(free, notifications)?)
}

/// Money (P23–P28): entries are only ever added.
pub(super) fn ledger(
    tx: &mut dyn Tx,
    account: &str,
    booking: &str,
    kind: &str,
    amount: i64,
    reference: Option<&str>,
    now: i64,
) -> Result<(), BookingError> {
    tx.execute(
        "INSERT INTO ledger (id, account, booking_id, kind, amount_kzt, reference, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            uuid::Uuid::new_v4().to_string().into(),
            account.into(),
            booking.into(),
            kind.into(),
            amount.into(),
            reference.map(str::to_owned).into(),
            now.into(),
        ],
    )?;
    Ok(())
}

/// The notifications outbox: what a sender pushes to the booking's owner.
pub(super) fn notify(
    tx: &mut dyn Tx,
    booking: &str,
    kind: &str,
    message: &str,
    now: i64,
) -> Result<(), BookingError> {
    tx.execute(
        "INSERT INTO notifications (id, booking_id, account, kind, message, at) \
         SELECT $1, id, account, $3, $4, $5 FROM bookings WHERE id = $2",
        &[
            uuid::Uuid::new_v4().to_string().into(),
            booking.into(),
            kind.into(),
            message.into(),
            now.into(),
        ],
    )?;
    Ok(())
}
