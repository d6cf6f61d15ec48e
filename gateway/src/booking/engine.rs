//! The booking engine. Every operation that changes bookings is one store transaction; the
//! rules that must hold across instances and crashes are the database's: capacity and the
//! P6 quota by conditional `UPDATE`s on the day and hour rows (`… WHERE booked < capacity`),
//! P21 by partial unique indexes on the plate and VIN keys, P20 ticket numbers by a counter
//! on the day row. Verification runs *before* any slot is held (P20, anti-bot).

use super::limits::RateLimiter;
use super::rows::{self, BookingRow, DayRow, HourRow, KeyRow, NotificationRow};
use super::rules::{BookingError, PriorityCategory};
use super::{BookingConfig, ExtraReschedule};
use crate::checkpoints::{Catalogue, Checkpoint};
use crate::domain::clock::{self, SharedClock};
use crate::domain::plate::{plate_key, vin_key};
use crate::domain::{Application, Decision, Driver, Verifier, VerifierError};
use crate::store::{Columns, DbError, Store, Tx};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use time::{
    Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset,
    format_description::well_known::Rfc3339,
};

/// The slot a user asks for (P16.1): a date and hour interval, or the first free one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SlotRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_free: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
}

/// A payment by bank transfer to the registrar (P23), in KZT (P26).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Payment {
    pub reference: String,
    pub amount_kzt: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CreateRequest {
    pub account: String,
    pub application: Application,
    pub slot: SlotRequest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<PriorityCategory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<Payment>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RescheduleRequest {
    pub account: String,
    pub slot: SlotRequest,
    #[serde(default)]
    pub payment: Option<Payment>,
}

/// A booking as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BookingView {
    pub id: String,
    pub status: String,
    pub account: String,
    pub checkpoint: String,
    /// Normalised `country:plate` (P21).
    pub vehicle: String,
    pub priority: Option<String>,
    pub trusted_drivers: i64,
    /// P20: issued when the booking is confirmed.
    pub ticket: Option<Ticket>,
    pub slot: Interval,
    pub fee_kzt: i64,
    pub paid_kzt: i64,
    pub reschedules_used: i64,
    pub free_reschedules_left: i64,
    /// Moves by ops after a capacity change (D13); not counted as reschedules.
    pub moves: i64,
    pub hold_expires_at: Option<String>,
    pub created_at: String,
    pub verification_id: String,
    pub notifications: Vec<Notification>,
}

/// P20: the sequential booking number with the date and approximate time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Ticket {
    pub number: String,
    pub sequence: i64,
    pub date: String,
    pub interval: Interval,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Interval {
    pub date: String,
    pub hour: i64,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Notification {
    pub kind: String,
    pub message: String,
    pub at: String,
}

/// The answer to a create: the booking, and whether it was an idempotent replay.
#[derive(Debug, Clone)]
pub struct Created {
    pub booking: BookingView,
    pub replayed: bool,
}

/// What a capacity change did (D13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CapacityReport {
    pub checkpoint: String,
    pub date: String,
    pub old_capacity: i64,
    pub new_capacity: i64,
    pub kept: i64,
    pub moved: Vec<Moved>,
    /// Bookings for which no slot was left within the horizon: cancelled, fee refund due.
    pub cancelled: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Moved {
    pub booking: String,
    pub priority: bool,
    pub from: String,
    pub to: String,
}

/// Availability of one checkpoint-day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DayAvailability {
    pub date: String,
    pub capacity: i64,
    pub booked: i64,
    pub free: i64,
    pub priority_cap: i64,
    pub priority_free: i64,
    pub hours: Vec<HourAvailability>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HourAvailability {
    pub hour: i64,
    pub from: String,
    pub to: String,
    pub capacity: i64,
    pub free: i64,
}

/// Where a reservation starts looking.
#[derive(Debug, Clone, Copy)]
struct Plan {
    day: Date,
    hour: u8,
    exact: bool,
    last: Date,
}

/// The engine.
pub struct BookingEngine {
    config: Arc<BookingConfig>,
    catalogue: Arc<Catalogue>,
    store: Arc<Store>,
    verifier: Arc<dyn Verifier>,
    clock: SharedClock,
    limits: RateLimiter,
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
    pub fn new(
        config: BookingConfig,
        catalogue: Arc<Catalogue>,
        store: Arc<Store>,
        verifier: Arc<dyn Verifier>,
        clock: SharedClock,
    ) -> Self {
        let limits = RateLimiter::new(&config.rate_limits);
        Self {
            config: Arc::new(config),
            catalogue,
            store,
            verifier,
            clock,
            limits,
        }
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    pub fn config(&self) -> &BookingConfig {
        &self.config
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

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
            }
        });
    }

    fn checkpoint(&self, code: &str, pointer: &str) -> Result<Checkpoint, BookingError> {
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
    fn today(&self, cp: &Checkpoint) -> (Date, u8) {
        let local = clock::local_now(&*self.clock, cp.offset());
        (local.date(), local.hour())
    }

    /// Turns a slot request into a plan, checking P16 and P22.
    fn plan(
        &self,
        cp: &Checkpoint,
        slot: &SlotRequest,
        travel_date: Option<&str>,
    ) -> Result<Plan, BookingError> {
        let (today, hour_now) = self.today(cp);
        let last = today
            .checked_add(time::Duration::days(self.config.horizon_days as i64))
            .unwrap_or(today);
        let parse = |s: &str, pointer: &str| {
            Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
                .map_err(|_| BookingError::at("P16", 422, pointer, format!("{s} is not a date")))
        };
        if slot.first_free == Some(true) {
            let from = match slot.not_before.as_deref().or(travel_date) {
                Some(s) => parse(s, "/slot/not-before")?.max(today),
                None => today,
            };
            if from > last {
                return Err(BookingError::at(
                    "P22",
                    422,
                    "/slot/not-before",
                    format!(
                        "bookings open at most {} days ahead",
                        self.config.horizon_days
                    ),
                ));
            }
            let hour = if from == today { hour_now + 1 } else { 0 };
            return Ok(Plan {
                day: from,
                hour,
                exact: false,
                last,
            });
        }
        let (Some(date), Some(hour)) = (slot.date.as_deref(), slot.hour) else {
            return Err(BookingError::at(
                "P16",
                422,
                "/slot",
                "give a date and an hour, or ask for the first free slot",
            ));
        };
        let day = parse(date, "/slot/date")?;
        if let Some(travel) = travel_date
            && travel != date
        {
            return Err(BookingError::at(
                "P16",
                422,
                "/application/travel-date",
                "the travel date must be the booked date",
            ));
        }
        if day < today || (day == today && hour <= hour_now) {
            return Err(BookingError::at(
                "P16",
                422,
                "/slot",
                "that interval has already begun",
            ));
        }
        if day > last {
            return Err(BookingError::at(
                "P22",
                422,
                "/slot/date",
                format!(
                    "bookings open at most {} calendar days ahead (until {last})",
                    self.config.horizon_days
                ),
            ));
        }
        if !cp.hours().contains(&hour) {
            return Err(BookingError::at(
                "P16",
                422,
                "/slot/hour",
                format!(
                    "{} works {:?}: hours {}–{}",
                    cp.code,
                    cp.mode,
                    cp.hours().start,
                    cp.hours().end
                ),
            ));
        }
        Ok(Plan {
            day,
            hour,
            exact: true,
            last,
        })
    }

    async fn verify(&self, application: Application) -> Result<String, BookingError> {
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
                e => {
                    tracing::warn!(error = %e, "verification failed to run");
                    BookingError::Indeterminate {
                        detail: "the verification pipeline could not run".into(),
                        retry_after_s: Some(30),
                    }
                }
            })?;
        match verification.decision {
            Decision::Approved => Ok(verification.id),
            Decision::Refused => Err(BookingError::Refused(Box::new(verification))),
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

    fn due(&self, priority: Option<PriorityCategory>) -> i64 {
        self.config.fee_kzt
            + if priority == Some(PriorityCategory::Paid) {
                self.config.priority_fee_kzt
            } else {
                0
            }
    }

    /// P16–P22, P6, P23, P27: verify, then hold a slot; confirm at once when paid (or free).
    pub async fn create(
        &self,
        request: CreateRequest,
        idempotency_key: Option<String>,
    ) -> Result<Created, BookingError> {
        let app = &request.application;
        let cp = self.checkpoint(&app.checkpoint, "/application/checkpoint")?;
        if cp.suspended {
            return Err(BookingError::rule(
                "D13",
                409,
                format!("{} is temporarily closed to new bookings", cp.code),
            ));
        }
        let plan = self.plan(&cp, &request.slot, Some(&app.travel_date))?;
        let plate = plate_key(&app.vehicle.country, &app.vehicle.plate);
        let vin = vin_key(&app.vehicle.vin);
        if let Some(category) = request.priority {
            if !self.config.priority.categories.contains(&category) {
                return Err(BookingError::at(
                    "P6",
                    422,
                    "/priority",
                    format!("{} is not an out-of-turn category here", category.as_str()),
                ));
            }
            category.evidence(app)?;
        }
        let due = self.due(request.priority);
        if let Some(p) = &request.payment
            && p.amount_kzt < due
        {
            return Err(BookingError::at(
                "P23",
                402,
                "/payment/amount-kzt",
                format!("the fee is {due} KZT (P25, P26)"),
            ));
        }
        let request_hash = hex::encode(Sha256::digest(
            serde_json::to_vec(&request).unwrap_or_default(),
        ));
        // A replay answers before any limit or verification.
        if let Some(key) = &idempotency_key
            && let Some(existing) = self.replay(&request.account, key, &request_hash).await?
        {
            return Ok(Created {
                booking: existing,
                replayed: true,
            });
        }
        self.limits.check(&request.account, &plate)?;
        self.check_debt(&request.account).await?;
        // P20: verification before any slot is held.
        let verification_id = self.verify(request.application.clone()).await?;

        let now = self.clock.now();
        let id = uuid::Uuid::new_v4().to_string();
        let created_order = format!("{:020}-{id}", now.unix_timestamp_nanos());
        let application_json = serde_json::to_string(&request.application).unwrap_or_default();
        let drivers = request.application.drivers.len() as i64;
        let priority = request.priority;
        let payment = request.payment.clone();
        let account = request.account.clone();
        let bp = self.config.priority.cap_basis_points();
        let hold_ttl = self.config.hold_ttl_s as i64;
        let fee = self.config.fee_kzt;
        let free = self.config.free_reschedules as i64;
        let key = idempotency_key.clone();
        let booking = self
            .store
            .transact(move |tx| {
                let now_s = now.unix_timestamp();
                if let Some(key) = &key {
                    let n = tx.execute(
                        "INSERT INTO idempotency_keys (account, key, request_hash, booking_id, created_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                        &[(&account).into(), key.into(), (&request_hash).into(), (&id).into(), now_s.into()],
                    )?;
                    if n == 0 {
                        let existing = idempotent(tx, &account, key, &request_hash)?;
                        return Ok((view(tx, &existing, free)?, true));
                    }
                }
                debt_in_tx(tx, &account, now_s)?;
                if let Some(category) = priority
                    && category.needs_list()
                {
                    let listed = tx.query(
                        "SELECT plate_key FROM priority_vehicles WHERE category = $1 AND plate_key = $2",
                        &[category.as_str().into(), (&plate).into()],
                    )?;
                    if listed.is_empty() {
                        return Err(BookingError::at(
                            "P6",
                            403,
                            "/priority",
                            format!(
                                "the vehicle is not on the {} list sent in advance",
                                category.as_str()
                            ),
                        ));
                    }
                }
                // P21: the unique indexes refuse a second held/active booking of the vehicle.
                tx.execute(
                    "INSERT INTO bookings (id, account, checkpoint, plate_key, vin_key, status, day, hour, \
                     slot_start, slot_end, priority, drivers, application, verification_id, fee_kzt, \
                     created_at, created_order, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, 'held', $6, -1, 0, 0, $7, $8, $9, $10, $11, $12, $13, $12)",
                    &[
                        (&id).into(),
                        (&account).into(),
                        (&cp.code).into(),
                        (&plate).into(),
                        (&vin).into(),
                        plan.day.to_string().into(),
                        priority.map(|p| p.as_str().to_owned()).into(),
                        drivers.into(),
                        (&application_json).into(),
                        (&verification_id).into(),
                        fee.into(),
                        now_s.into(),
                        (&created_order).into(),
                    ],
                )
                .map_err(p21)?;
                let confirming = due == 0 || payment.is_some();
                if confirming {
                    ledger(tx, &account, &id, "charge", fee, None, now_s)?;
                    if let Some(p) = &payment {
                        ledger(tx, &account, &id, "payment", p.amount_kzt, Some(&p.reference), now_s)?;
                    }
                }
                // Last: the checkpoint-day row (the lock every booking of the day waits for).
                let (day, hour, seq) = reserve(tx, &cp, plan, priority.is_some(), bp, confirming)?;
                let (start, end) = interval_bounds(&cp, day, hour);
                let ticket = seq.map(|seq| ticket_number(&cp.code, day, seq));
                let hold_expires = (!confirming).then_some(now_s + hold_ttl);
                let paid = payment.as_ref().map_or(0, |p| p.amount_kzt);
                let status = if confirming { "active" } else { "held" };
                tx.execute(
                    "UPDATE bookings SET day = $2, hour = $3, slot_start = $4, slot_end = $5, status = $6, \
                     ticket_seq = $7, ticket = $8, paid_kzt = $9, hold_expires_at = $10 WHERE id = $1",
                    &[(&id).into(), day.to_string().into(), (hour as i64).into(), start.into(), end.into(),
                      status.into(), seq.into(), ticket.clone().into(), paid.into(), hold_expires.into()],
                )?;
                let slot = Interval {
                    date: day.to_string(),
                    hour: hour as i64,
                    from: rfc3339(start, cp.offset()),
                    to: rfc3339(end, cp.offset()),
                };
                Ok((BookingView {
                    id: id.clone(),
                    status: status.into(),
                    account: account.clone(),
                    checkpoint: cp.code.clone(),
                    vehicle: plate.clone(),
                    priority: priority.map(|p| p.as_str().to_owned()),
                    trusted_drivers: drivers,
                    ticket: ticket.map(|number| Ticket {
                        number,
                        sequence: seq.unwrap_or_default(),
                        date: slot.date.clone(),
                        interval: slot.clone(),
                    }),
                    slot,
                    fee_kzt: fee,
                    paid_kzt: paid,
                    reschedules_used: 0,
                    free_reschedules_left: free,
                    moves: 0,
                    hold_expires_at: hold_expires.map(utc),
                    created_at: utc(now_s),
                    verification_id: verification_id.clone(),
                    notifications: Vec::new(),
                }, false))
            })
            .await?;
        if !booking.1 {
            tracing::info!(
                checkpoint = %booking.0.checkpoint,
                status = %booking.0.status,
                ticket = booking.0.ticket.as_ref().map(|t| t.number.as_str()).unwrap_or("-"),
                "booking created"
            );
        }
        Ok(Created {
            booking: booking.0,
            replayed: booking.1,
        })
    }

    async fn replay(
        &self,
        account: &str,
        key: &str,
        hash: &str,
    ) -> Result<Option<BookingView>, BookingError> {
        let (account, key, hash) = (account.to_owned(), key.to_owned(), hash.to_owned());
        let free = self.config.free_reschedules as i64;
        self.store
            .transact(move |tx| {
                let rows = tx.query(
                    "SELECT booking_id FROM idempotency_keys WHERE account = $1 AND key = $2",
                    &[(&account).into(), (&key).into()],
                )?;
                if rows.is_empty() {
                    return Ok(None);
                }
                let id = idempotent(tx, &account, &key, &hash)?;
                Ok(Some(view(tx, &id, free)?))
            })
            .await
    }

    async fn check_debt(&self, account: &str) -> Result<(), BookingError> {
        let account = account.to_owned();
        self.store
            .transact(move |tx| match debt(tx, &account)? {
                Some(d) if d > 0 => Err(debt_error(d)),
                _ => Ok(()),
            })
            .await
    }

    /// The booking, if `account` owns it (P36: only the owner sees or acts on it).
    pub async fn get(&self, id: &str) -> Result<BookingView, BookingError> {
        let id = id.to_owned();
        let free = self.config.free_reschedules as i64;
        self.store.transact(move |tx| view(tx, &id, free)).await
    }

    async fn owned(&self, id: &str, account: &str) -> Result<BookingView, BookingError> {
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

    async fn application(&self, id: &str) -> Result<Application, BookingError> {
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
        let (id, account) = (id.to_owned(), account.to_owned());
        let fee = self.config.fee_kzt;
        let free = self.config.free_reschedules as i64;
        let expired = self
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
                let day = parse_day(&r.day)?;
                confirm(tx, &cp, &id, &account, day, Some(&payment), fee, now)?;
                Ok(Some(view(tx, &id, free)?))
            })
            .await?;
        expired.ok_or_else(|| {
            BookingError::rule(
                "anti-abuse",
                410,
                "the hold expired before payment; the slot was released — book again",
            )
        })
    }

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
        self.limits.check(&request.account, &booking.vehicle)?;
        self.check_debt(&request.account).await?;
        // Re-verify for the new date: validity of insurance, permits… may end before it.
        let mut application = self.application(id).await?;
        application.travel_date = plan.day.to_string();
        let verification_id = self.verify(application.clone()).await?;
        let application_json = serde_json::to_string(&application).unwrap_or_default();
        let now = self.clock.now().unix_timestamp();
        let bp = self.config.priority.cap_basis_points();
        let free = self.config.free_reschedules as i64;
        let extra = self.config.extra_reschedule;
        let (id, account) = (id.to_owned(), request.account.clone());
        let payment = request.payment.clone();
        self.store
            .transact(move |tx| {
                let r = lock(tx, &id)?;
                if r.status != "active" {
                    return Err(BookingError::rule("P28", 409, format!("a {} booking cannot be rescheduled", r.status)));
                }
                if r.reschedules >= free && extra == ExtraReschedule::Refuse {
                    return Err(BookingError::rule("P28", 409, format!("only {free} reschedules are allowed")));
                }
                debt_in_tx(tx, &account, now)?;
                let priority = r.is_priority();
                release(tx, &r)?;
                let (day, hour, seq) = reserve(tx, &cp, plan, priority, bp, true)?;
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

    fn reschedule_charge(
        &self,
        used: i64,
        payment: Option<&Payment>,
    ) -> Result<Option<i64>, BookingError> {
        if used < self.config.free_reschedules as i64 {
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

    /// P28: the user cancels; the fee is kept (no refund). The vehicle may book again.
    pub async fn cancel(&self, id: &str, account: &str) -> Result<BookingView, BookingError> {
        self.owned(id, account).await?;
        let now = self.clock.now().unix_timestamp();
        let id = id.to_owned();
        let free = self.config.free_reschedules as i64;
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
                notify(tx, &id, "cancelled", "Cancelled at your request; the fee is not refunded (P28).", now)?;
                view(tx, &id, free)
            })
            .await
    }

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
        self.limits.check(account, &booking.vehicle)?;
        let verification_id = self.verify(application.clone()).await?;
        let json = serde_json::to_string(&application).unwrap_or_default();
        let n = application.drivers.len() as i64;
        let now = self.clock.now().unix_timestamp();
        let id = id.to_owned();
        let free = self.config.free_reschedules as i64;
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

    /// P35: the vehicle did not arrive: the booking is annulled and the vehicle may book
    /// again. The fee is kept (P28: late arrival).
    pub async fn no_show(&self, id: &str) -> Result<BookingView, BookingError> {
        let now = self.clock.now().unix_timestamp();
        let id = id.to_owned();
        let free = self.config.free_reschedules as i64;
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

    /// P30: the vehicle entered the checkpoint; the booking is completed.
    pub async fn arrived(&self, id: &str) -> Result<BookingView, BookingError> {
        let now = self.clock.now().unix_timestamp();
        let id = id.to_owned();
        let free = self.config.free_reschedules as i64;
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

    /// Releases holds that were not paid in time. Returns how many.
    pub async fn expire_holds(&self) -> Result<usize, BookingError> {
        let now = self.clock.now().unix_timestamp();
        self.store
            .transact(move |tx| {
                let rows = tx.query(
                    &format!("SELECT {} FROM bookings WHERE status = 'held' AND hold_expires_at <= $1 LIMIT 500", BookingRow::COLUMNS),
                    &[now.into()],
                )?;
                let mut n = 0;
                for r in rows::all(rows, BookingRow::from_row)? {
                    if expire_one(tx, &r, now)? {
                        n += 1;
                    }
                }
                Ok(n)
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

    /// P27: the registrar's billing sets an account's debt; any debt blocks booking.
    pub async fn set_debt(&self, account: &str, debt_kzt: i64) -> Result<(), BookingError> {
        let account = account.to_owned();
        let now = self.clock.now().unix_timestamp();
        self.store
            .transact(move |tx| {
                tx.execute(
                    "INSERT INTO accounts (id, debt_kzt, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO UPDATE SET debt_kzt = $2, updated_at = $3",
                    &[(&account).into(), debt_kzt.into(), now.into()],
                )?;
                Ok(())
            })
            .await
    }

    /// P6.1, P6.2: replaces the list of vehicles sent in advance for a category.
    pub async fn set_priority_list(
        &self,
        category: PriorityCategory,
        plates: Vec<(String, String)>,
    ) -> Result<usize, BookingError> {
        let keys: Vec<String> = plates.iter().map(|(c, p)| plate_key(c, p)).collect();
        self.store
            .transact(move |tx| {
                tx.execute(
                    "DELETE FROM priority_vehicles WHERE category = $1",
                    &[category.as_str().into()],
                )?;
                for k in &keys {
                    tx.execute(
                        "INSERT INTO priority_vehicles (category, plate_key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[category.as_str().into(), k.into()],
                    )?;
                }
                Ok(keys.len())
            })
            .await
    }

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
        let last = today + time::Duration::days(self.config.horizon_days as i64);
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
        let last = today + time::Duration::days(self.config.horizon_days as i64);
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

// ---- transaction steps (run inside `Store::transact`) ----

fn parse_day(s: &str) -> Result<Date, BookingError> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|e| BookingError::Store(DbError::Other(format!("bad day {s}: {e}"))))
}

fn p21(e: DbError) -> BookingError {
    match &e {
        DbError::Unique(what) if what.contains("plate_key") => BookingError::at(
            "P21",
            409,
            "/application/vehicle/plate",
            "this vehicle (plate) already has an active booking",
        ),
        DbError::Unique(what) if what.contains("vin_key") => BookingError::at(
            "P21",
            409,
            "/application/vehicle/vin",
            "this vehicle (VIN) already has an active booking",
        ),
        _ => BookingError::Store(e),
    }
}

fn debt_error(debt: i64) -> BookingError {
    BookingError::rule(
        "P27",
        403,
        format!("the account owes {debt} KZT; booking resumes once the debt is paid in full"),
    )
}

fn debt_in_tx(tx: &mut dyn Tx, account: &str, now: i64) -> Result<(), BookingError> {
    tx.execute(
        "INSERT INTO accounts (id, debt_kzt, updated_at) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING",
        &[account.into(), now.into()],
    )?;
    match debt(tx, account)? {
        Some(d) if d > 0 => Err(debt_error(d)),
        _ => Ok(()),
    }
}

/// P27: the account's debt, if it has a row.
fn debt(tx: &mut dyn Tx, account: &str) -> Result<Option<i64>, BookingError> {
    let rows = tx.query(
        "SELECT debt_kzt FROM accounts WHERE id = $1",
        &[account.into()],
    )?;
    match rows.first() {
        Some(r) => Ok(Some(Columns::new("debt_kzt", r)?.int("debt_kzt")?)),
        None => Ok(None),
    }
}

fn idempotent(
    tx: &mut dyn Tx,
    account: &str,
    key: &str,
    hash: &str,
) -> Result<String, BookingError> {
    let rows = tx.query(
        &format!(
            "SELECT {} FROM idempotency_keys WHERE account = $1 AND key = $2",
            KeyRow::COLUMNS
        ),
        &[account.into(), key.into()],
    )?;
    let r = rows
        .first()
        .ok_or_else(|| BookingError::Store(DbError::Retry("idempotency key vanished".into())))?;
    let r = KeyRow::from_row(r)?;
    if r.request_hash != hash {
        return Err(BookingError::rule(
            "idempotency",
            422,
            "this Idempotency-Key was used for a different request",
        ));
    }
    Ok(r.booking_id)
}

/// Creates the day's rows from the catalogue on first use.
fn ensure_day(tx: &mut dyn Tx, cp: &Checkpoint, day: Date) -> Result<bool, BookingError> {
    let ds = day.to_string();
    let n = tx.execute(
        "INSERT INTO cp_days (checkpoint, day, capacity, booked, priority_booked, next_ticket) \
         VALUES ($1, $2, $3, 0, 0, 1) ON CONFLICT DO NOTHING",
        &[(&cp.code).into(), (&ds).into(), cp.day_capacity().into()],
    )?;
    if n == 1 {
        let open = cp.hours();
        for h in 0..24u8 {
            let cap = if open.contains(&h) {
                cp.hourly_capacity
            } else {
                0
            };
            tx.execute(
                "INSERT INTO cp_slots (checkpoint, day, hour, capacity, booked) VALUES ($1, $2, $3, $4, 0) \
                 ON CONFLICT DO NOTHING",
                &[(&cp.code).into(), (&ds).into(), (h as i64).into(), cap.into()],
            )?;
        }
    }
    Ok(n == 1)
}

/// Takes one place: the day (capacity and, for priority, the P6 quota), then an hour. The
/// conditional updates are atomic in both databases: no overbooking under concurrency.
fn reserve(
    tx: &mut dyn Tx,
    cp: &Checkpoint,
    plan: Plan,
    priority: bool,
    bp: i64,
    ticket: bool,
) -> Result<(Date, u8, Option<i64>), BookingError> {
    let mut day = plan.day;
    let mut min_hour = plan.hour;
    let p = priority as i64;
    let t = ticket as i64;
    loop {
        if day > plan.last {
            return Err(BookingError::rule(
                "P22",
                409,
                "no free slot is left within the booking horizon",
            ));
        }
        let ds = day.to_string();
        // The day row is the hot spot (one lock per checkpoint-day): it is taken as late as
        // possible, and the ticket number comes with it (P20).
        let take_day = |tx: &mut dyn Tx| {
            tx.query(
                "UPDATE cp_days SET booked = booked + 1, priority_booked = priority_booked + CAST($3 AS BIGINT), \
                 next_ticket = next_ticket + CAST($5 AS BIGINT) \
                 WHERE checkpoint = $1 AND day = $2 AND booked < capacity \
                 AND (CAST($3 AS BIGINT) = 0 OR priority_booked < (capacity * CAST($4 AS BIGINT)) / 10000) \
                 RETURNING next_ticket",
                &[(&cp.code).into(), (&ds).into(), p.into(), bp.into(), t.into()],
            )
        };
        let mut took_day = take_day(tx)?;
        if took_day.is_empty() {
            // The day's rows may not exist yet (or another transaction was creating them and
            // has just committed): make sure, then try once more.
            ensure_day(tx, cp, day)?;
            took_day = take_day(tx)?;
        }
        let seq = match took_day.first() {
            Some(r) => Some(Columns::new("next_ticket", r)?.int("next_ticket")? - 1),
            None => None,
        };
        let mut failure = None;
        if !took_day.is_empty() {
            loop {
                let hour = if plan.exact {
                    Some(min_hour as i64)
                } else {
                    tx.query(
                        "SELECT MIN(hour) FROM cp_slots WHERE checkpoint = $1 AND day = $2 AND hour >= $3 \
                         AND booked < capacity",
                        &[(&cp.code).into(), (&ds).into(), (min_hour as i64).into()],
                    )?
                    .first()
                    .map(|r| Columns::new("MIN(hour)", r)?.opt_int("MIN(hour)"))
                    .transpose()?
                    .flatten()
                };
                let Some(hour) = hour else { break };
                let took = tx.execute(
                    "UPDATE cp_slots SET booked = booked + 1 WHERE checkpoint = $1 AND day = $2 AND hour = $3 \
                     AND booked < capacity",
                    &[(&cp.code).into(), (&ds).into(), hour.into()],
                )?;
                if took == 1 {
                    return Ok((day, hour as u8, seq.filter(|_| ticket)));
                }
                if plan.exact {
                    break;
                }
            }
            tx.execute(
                "UPDATE cp_days SET booked = booked - 1, priority_booked = priority_booked - $3, \
                 next_ticket = next_ticket - $4 WHERE checkpoint = $1 AND day = $2",
                &[(&cp.code).into(), (&ds).into(), p.into(), t.into()],
            )?;
            failure = Some(BookingError::rule(
                "P22",
                409,
                format!("the {ds} {min_hour}:00 interval is fully booked"),
            ));
        } else if priority {
            let r = tx.query(
                &format!(
                    "SELECT {} FROM cp_days WHERE checkpoint = $1 AND day = $2",
                    DayRow::COLUMNS
                ),
                &[(&cp.code).into(), (&ds).into()],
            )?;
            let room = match r.first() {
                Some(r) => {
                    let d = DayRow::from_row(r)?;
                    d.booked < d.capacity
                }
                None => false,
            };
            if room {
                failure = Some(BookingError::rule(
                    "P6",
                    409,
                    format!(
                        "the out-of-turn quota of {ds} is used up (15 % of the day's capacity)"
                    ),
                ));
            }
        }
        if plan.exact {
            return Err(failure.unwrap_or_else(|| {
                BookingError::rule("P22", 409, format!("{ds} is fully booked"))
            }));
        }
        day = day
            .next_day()
            .ok_or_else(|| BookingError::rule("P22", 409, "no day left"))?;
        min_hour = 0;
    }
}

/// Gives back the place a booking holds on its day and hour.
fn release(tx: &mut dyn Tx, b: &BookingRow) -> Result<(), BookingError> {
    let (code, day, hour, priority) = (&b.checkpoint, &b.day, b.hour, b.is_priority());
    if hour < 0 {
        return Ok(());
    }
    tx.execute(
        "UPDATE cp_days SET booked = booked - 1, priority_booked = priority_booked - $3 \
         WHERE checkpoint = $1 AND day = $2",
        &[code.into(), day.into(), (priority as i64).into()],
    )?;
    tx.execute(
        "UPDATE cp_slots SET booked = booked - 1 WHERE checkpoint = $1 AND day = $2 AND hour = $3",
        &[code.into(), day.into(), hour.into()],
    )?;
    Ok(())
}

fn next_ticket(tx: &mut dyn Tx, code: &str, day: Date) -> Result<i64, BookingError> {
    let rows = tx.query(
        "UPDATE cp_days SET next_ticket = next_ticket + 1 WHERE checkpoint = $1 AND day = $2 RETURNING next_ticket",
        &[code.into(), day.to_string().into()],
    )?;
    match rows.first() {
        Some(r) => Ok(Columns::new("next_ticket", r)?.int("next_ticket")? - 1),
        None => Ok(1),
    }
}

/// P20: `<checkpoint>-<yyyymmdd>-<sequence>`.
pub fn ticket_number(code: &str, day: Date, seq: i64) -> String {
    format!(
        "{code}-{:04}{:02}{:02}-{seq:05}",
        day.year(),
        day.month() as u8,
        day.day()
    )
}

#[allow(clippy::too_many_arguments)]
fn confirm(
    tx: &mut dyn Tx,
    cp: &Checkpoint,
    id: &str,
    account: &str,
    day: Date,
    payment: Option<&Payment>,
    fee: i64,
    now: i64,
) -> Result<(), BookingError> {
    let seq = next_ticket(tx, &cp.code, day)?;
    let paid = payment.map_or(0, |p| p.amount_kzt);
    tx.execute(
        "UPDATE bookings SET status = 'active', ticket_seq = $2, ticket = $3, paid_kzt = $4, \
         hold_expires_at = NULL, updated_at = $5 WHERE id = $1",
        &[
            id.into(),
            seq.into(),
            ticket_number(&cp.code, day, seq).into(),
            paid.into(),
            now.into(),
        ],
    )?;
    ledger(tx, account, id, "charge", fee, None, now)?;
    if let Some(p) = payment {
        ledger(
            tx,
            account,
            id,
            "payment",
            p.amount_kzt,
            Some(&p.reference),
            now,
        )?;
    }
    Ok(())
}

fn ledger(
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

fn notify(
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

/// Expires a held booking `r` read in this transaction; false if it is no longer held.
fn expire_one(tx: &mut dyn Tx, r: &BookingRow, now: i64) -> Result<bool, BookingError> {
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

fn annul(tx: &mut dyn Tx, id: &str, now: i64) -> Result<bool, BookingError> {
    let rows = tx.query(
        &format!(
            "SELECT {} FROM bookings WHERE id = $1 AND status = 'active' FOR UPDATE",
            BookingRow::COLUMNS
        ),
        &[id.into()],
    )?;
    let Some(r) = rows.first() else {
        return Ok(false);
    };
    let r = BookingRow::from_row(r)?;
    tx.execute(
        "UPDATE bookings SET status = 'annulled', updated_at = $2 WHERE id = $1",
        &[id.into(), now.into()],
    )?;
    release(tx, &r)?;
    notify(
        tx,
        id,
        "annulled",
        "The vehicle did not arrive on the booked day and time: the booking is annulled (P35); the vehicle may book again. The fee is not refunded (P28).",
        now,
    )?;
    Ok(true)
}

fn interval_bounds(cp: &Checkpoint, day: Date, hour: u8) -> (i64, i64) {
    let start = PrimitiveDateTime::new(day, Time::from_hms(hour, 0, 0).unwrap_or(Time::MIDNIGHT))
        .assume_offset(cp.offset())
        .unix_timestamp();
    (start, start + 3600)
}

fn interval_strings(cp: &Checkpoint, day: Date, hour: u8) -> (String, String) {
    let (s, e) = interval_bounds(cp, day, hour);
    (rfc3339(s, cp.offset()), rfc3339(e, cp.offset()))
}

pub(super) fn rfc3339(t: i64, offset: UtcOffset) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .map(|d| d.to_offset(offset))
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub(super) fn utc(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The booking `id`, locked until the transaction ends.
fn lock(tx: &mut dyn Tx, id: &str) -> Result<BookingRow, BookingError> {
    let rows = tx.query(
        &format!(
            "SELECT {} FROM bookings WHERE id = $1 FOR UPDATE",
            BookingRow::COLUMNS
        ),
        &[id.into()],
    )?;
    let r = rows
        .first()
        .ok_or_else(|| BookingError::NotFound(id.to_owned()))?;
    Ok(BookingRow::from_row(r)?)
}

fn view(tx: &mut dyn Tx, id: &str, free: i64) -> Result<BookingView, BookingError> {
    let rows = tx.query(
        &format!("SELECT {} FROM bookings WHERE id = $1", BookingRow::COLUMNS),
        &[id.into()],
    )?;
    let r = rows
        .first()
        .ok_or_else(|| BookingError::NotFound(id.to_owned()))?;
    let r = BookingRow::from_row(r)?;
    let notifications = rows::all(
        tx.query(
            &format!(
                "SELECT {} FROM notifications WHERE booking_id = $1 ORDER BY at, id",
                NotificationRow::COLUMNS
            ),
            &[id.into()],
        )?,
        NotificationRow::from_row,
    )?;
    Ok(r.into_view(free, notifications)?)
}
