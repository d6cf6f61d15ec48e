//! Creating a booking (P16–P22, P6, P23, P27): check the request, replay an idempotent
//! repeat, verify (P20), then hold the slot in one transaction — confirmed at once when
//! paid or free.

use super::accounts::{check_listed, debt_in_tx};
use super::engine::{BookingEngine, ledger, view};
use super::model::{BookingView, CreateRequest, Created, Interval, Payment, Ticket};
use super::rows::KeyRow;
use super::rules::{BookingError, PriorityCategory};
use super::slots::{Plan, interval_bounds, reserve, rfc3339, ticket_number, utc};
use crate::checkpoints::Checkpoint;
use crate::policy::PriorityPolicy;
use kezek_domain::plate::{plate_key, vin_key};
use kezek_store::{DbError, Tx};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use time::Date;

/// A request that passed the checks made before anything is held.
struct Checked {
    cp: Checkpoint,
    plan: Plan,
    /// P21: the vehicle's keys.
    plate: String,
    vin: String,
}

/// What the create transaction writes. The transaction may run more than once (retried
/// conflicts), so it only reads from here.
struct NewBooking {
    id: String,
    created_order: String,
    account: String,
    cp: Checkpoint,
    plan: Plan,
    plate: String,
    vin: String,
    priority: Option<PriorityCategory>,
    drivers: i64,
    application_json: String,
    verification_id: String,
    payment: Option<Payment>,
    /// The fee with any priority fee (P25, P26, P6.4); 0 = confirmed without payment.
    due: i64,
    fee: i64,
    /// P6: the day's edition decides which quota a priority booking counts against.
    policy: Arc<PriorityPolicy>,
    hold_ttl: i64,
    free_reschedules: i64,
    now: i64,
    /// The Idempotency-Key and the hash of the request it came with.
    key: Option<(String, String)>,
}

impl BookingEngine {
    /// P16–P22, P6, P23, P27: verify, then hold a slot; confirm at once when paid (or free).
    pub async fn create(
        &self,
        request: CreateRequest,
        idempotency_key: Option<String>,
    ) -> Result<Created, BookingError> {
        let checked = self.check_create(&request)?;
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
        let now = self.clock.now().unix_timestamp();
        self.limits
            .check(&request.account, &checked.plate, now)
            .await?;
        self.check_debt(&request.account).await?;
        // P20: verification before any slot is held.
        let verification_id = self.verify(request.application.clone()).await?;
        let key = idempotency_key.map(|k| (k, request_hash));
        let new = self.new_booking(request, checked, verification_id, key);
        let (booking, replayed) = self.store.transact(move |tx| new.hold(tx)).await?;
        if !replayed {
            tracing::info!(
                checkpoint = %booking.checkpoint,
                status = %booking.status,
                ticket = booking.ticket.as_ref().map(|t| t.number.as_str()).unwrap_or("-"),
                "booking created"
            );
        }
        Ok(Created { booking, replayed })
    }

    /// What is checked before anything is held: the checkpoint (P5, D13), the slot (P16,
    /// P22), the priority category and its evidence (P6), the payment's amount (P23).
    fn check_create(&self, request: &CreateRequest) -> Result<Checked, BookingError> {
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
            // P6: the booked day's edition must serve the category at all (ADR 0013); its
            // quota is checked when the place is taken.
            self.policy
                .quota_on(plan.day, category)
                .map_err(|detail| BookingError::at("P6", 422, "/priority", detail))?;
            category.evidence(app)?;
            // P6.4: paid priority is the priority fee actually paid; without a fee set,
            // it would be granted free.
            if category == PriorityCategory::Paid && self.config.priority_fee_kzt <= 0 {
                return Err(BookingError::at(
                    "P6",
                    422,
                    "/priority",
                    "paid priority is not offered here: no priority fee is configured",
                ));
            }
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
        Ok(Checked {
            cp,
            plan,
            plate,
            vin,
        })
    }

    fn new_booking(
        &self,
        request: CreateRequest,
        checked: Checked,
        verification_id: String,
        key: Option<(String, String)>,
    ) -> NewBooking {
        let now = self.clock.now();
        let id = uuid::Uuid::new_v4().to_string();
        NewBooking {
            created_order: format!("{:020}-{id}", now.unix_timestamp_nanos()),
            id,
            account: request.account,
            cp: checked.cp,
            plan: checked.plan,
            plate: checked.plate,
            vin: checked.vin,
            priority: request.priority,
            drivers: request.application.drivers.len() as i64,
            application_json: serde_json::to_string(&request.application).unwrap_or_default(),
            verification_id,
            payment: request.payment,
            due: self.due(request.priority),
            fee: self.config.fee_kzt,
            policy: self.policy.clone(),
            hold_ttl: self.config.hold_ttl_s as i64,
            free_reschedules: self.free_reschedules(),
            now: now.unix_timestamp(),
            key,
        }
    }

    /// The booking an Idempotency-Key already made, if any.
    async fn replay(
        &self,
        account: &str,
        key: &str,
        hash: &str,
    ) -> Result<Option<BookingView>, BookingError> {
        let (account, key, hash) = (account.to_owned(), key.to_owned(), hash.to_owned());
        let free = self.free_reschedules();
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
}

impl NewBooking {
    /// The create transaction, step by step. `true` with an earlier booking when the key
    /// was claimed meanwhile.
    fn hold(&self, tx: &mut dyn Tx) -> Result<(BookingView, bool), BookingError> {
        if let Some(existing) = self.claim_key(tx)? {
            return Ok((existing, true));
        }
        debt_in_tx(tx, &self.account, self.now)?;
        if let Some(category) = self.priority {
            check_listed(tx, category, &self.plate)?;
        }
        self.insert(tx)?;
        let confirming = self.due == 0 || self.payment.is_some();
        if confirming {
            self.charge(tx)?;
        }
        // Last: the checkpoint-day row (the lock every booking of the day waits for).
        let (day, hour, seq) = reserve(
            tx,
            &self.cp,
            self.plan,
            self.priority,
            &self.policy,
            confirming,
        )?;
        Ok((self.place(tx, day, hour, seq, confirming)?, false))
    }

    /// Claims the Idempotency-Key; if another request claimed it first, its booking.
    fn claim_key(&self, tx: &mut dyn Tx) -> Result<Option<BookingView>, BookingError> {
        let Some((key, hash)) = &self.key else {
            return Ok(None);
        };
        let n = tx.execute(
            "INSERT INTO idempotency_keys (account, key, request_hash, booking_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[
                (&self.account).into(),
                key.into(),
                hash.into(),
                (&self.id).into(),
                self.now.into(),
            ],
        )?;
        if n == 1 {
            return Ok(None);
        }
        let existing = idempotent(tx, &self.account, key, hash)?;
        Ok(Some(view(tx, &existing, self.free_reschedules)?))
    }

    /// The booking row, held with no slot yet. P21: the unique indexes refuse a second
    /// held/active booking of the vehicle.
    fn insert(&self, tx: &mut dyn Tx) -> Result<(), BookingError> {
        tx.execute(
            "INSERT INTO bookings (id, account, checkpoint, plate_key, vin_key, status, day, hour, \
             slot_start, slot_end, priority, drivers, application, verification_id, fee_kzt, \
             created_at, created_order, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'held', $6, -1, 0, 0, $7, $8, $9, $10, $11, $12, $13, $12)",
            &[
                (&self.id).into(),
                (&self.account).into(),
                (&self.cp.code).into(),
                (&self.plate).into(),
                (&self.vin).into(),
                self.plan.day.to_string().into(),
                self.priority.map(|p| p.as_str().to_owned()).into(),
                self.drivers.into(),
                (&self.application_json).into(),
                (&self.verification_id).into(),
                self.fee.into(),
                self.now.into(),
                (&self.created_order).into(),
            ],
        )
        .map_err(p21)?;
        Ok(())
    }

    /// P23: the fee charged and the payment recorded.
    fn charge(&self, tx: &mut dyn Tx) -> Result<(), BookingError> {
        ledger(
            tx,
            &self.account,
            &self.id,
            "charge",
            self.fee,
            None,
            self.now,
        )?;
        if let Some(p) = &self.payment {
            ledger(
                tx,
                &self.account,
                &self.id,
                "payment",
                p.amount_kzt,
                Some(&p.reference),
                self.now,
            )?;
        }
        Ok(())
    }

    /// Writes the slot taken: active with its ticket (P20), or held until `hold_ttl`.
    fn place(
        &self,
        tx: &mut dyn Tx,
        day: Date,
        hour: u8,
        seq: Option<i64>,
        confirming: bool,
    ) -> Result<BookingView, BookingError> {
        let cp = &self.cp;
        let (start, end) = interval_bounds(cp, day, hour);
        let ticket = seq.map(|seq| ticket_number(&cp.code, day, seq));
        let hold_expires = (!confirming).then_some(self.now + self.hold_ttl);
        let paid = self.payment.as_ref().map_or(0, |p| p.amount_kzt);
        let status = if confirming { "active" } else { "held" };
        tx.execute(
            "UPDATE bookings SET day = $2, hour = $3, slot_start = $4, slot_end = $5, status = $6, \
             ticket_seq = $7, ticket = $8, paid_kzt = $9, hold_expires_at = $10 WHERE id = $1",
            &[
                (&self.id).into(),
                day.to_string().into(),
                (hour as i64).into(),
                start.into(),
                end.into(),
                status.into(),
                seq.into(),
                ticket.clone().into(),
                paid.into(),
                hold_expires.into(),
            ],
        )?;
        let slot = Interval {
            date: day.to_string(),
            hour: hour as i64,
            from: rfc3339(start, cp.offset()),
            to: rfc3339(end, cp.offset()),
        };
        Ok(BookingView {
            id: self.id.clone(),
            status: status.into(),
            account: self.account.clone(),
            checkpoint: cp.code.clone(),
            vehicle: self.plate.clone(),
            priority: self.priority.map(|p| p.as_str().to_owned()),
            trusted_drivers: self.drivers,
            ticket: ticket.map(|number| Ticket {
                number,
                sequence: seq.unwrap_or_default(),
                date: slot.date.clone(),
                interval: slot.clone(),
            }),
            slot,
            fee_kzt: self.fee,
            paid_kzt: paid,
            reschedules_used: 0,
            free_reschedules_left: self.free_reschedules,
            moves: 0,
            hold_expires_at: hold_expires.map(utc),
            created_at: utc(self.now),
            verification_id: self.verification_id.clone(),
            notifications: Vec::new(),
        })
    }
}

/// The booking an Idempotency-Key made; refused if the key came with another request.
fn idempotent(
    tx: &mut dyn Tx,
    account: &str,
    key: &str,
    hash: &str,
) -> Result<String, BookingError> {
    let r = KeyRow::select(
        tx,
        "FROM idempotency_keys WHERE account = $1 AND key = $2",
        &[account.into(), key.into()],
    )?
    .pop()
    .ok_or_else(|| BookingError::Store(DbError::Retry("idempotency key vanished".into())))?;
    if r.request_hash != hash {
        return Err(BookingError::rule(
            "idempotency",
            422,
            "this Idempotency-Key was used for a different request",
        ));
    }
    Ok(r.booking_id)
}

/// P21: which vehicle key the unique index refused.
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
