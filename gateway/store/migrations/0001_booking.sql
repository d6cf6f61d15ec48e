-- Booking engine schema (issue 5). One file for SQLite and PostgreSQL: only BIGINT and TEXT
-- columns, partial unique indexes, no engine-specific types. Times are Unix seconds (UTC);
-- `day` is the checkpoint's local date (YYYY-MM-DD), `hour` its local hour (0..23).

-- A user account of the registrar (P15). Debt blocks booking (P27).
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    debt_kzt BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL DEFAULT 0
);

-- One checkpoint-day: its actual capacity (D13 may lower it), bookings held against it, the
-- P6 priority bookings among them and the next ticket number (P20: sequential per day).
CREATE TABLE cp_days (
    checkpoint TEXT NOT NULL,
    day TEXT NOT NULL,
    capacity BIGINT NOT NULL,
    booked BIGINT NOT NULL DEFAULT 0,
    priority_booked BIGINT NOT NULL DEFAULT 0,
    next_ticket BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (checkpoint, day)
);

-- One hour interval of a checkpoint-day (P16.1, P20: the approximate time).
CREATE TABLE cp_slots (
    checkpoint TEXT NOT NULL,
    day TEXT NOT NULL,
    hour BIGINT NOT NULL,
    capacity BIGINT NOT NULL,
    booked BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (checkpoint, day, hour)
);

-- Bookings. status: held (slot reserved, awaiting payment, expires), active (confirmed,
-- ticket issued), cancelled (P28), annulled (no-show, P35), completed (entered, P30),
-- expired (hold not completed).
CREATE TABLE bookings (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    plate_key TEXT NOT NULL,
    vin_key TEXT NOT NULL,
    status TEXT NOT NULL,
    day TEXT NOT NULL,
    hour BIGINT NOT NULL,
    slot_start BIGINT NOT NULL,
    slot_end BIGINT NOT NULL,
    ticket_seq BIGINT,
    ticket TEXT,
    priority TEXT,
    drivers BIGINT NOT NULL,
    application TEXT NOT NULL,
    verification_id TEXT NOT NULL,
    fee_kzt BIGINT NOT NULL,
    paid_kzt BIGINT NOT NULL DEFAULT 0,
    reschedules BIGINT NOT NULL DEFAULT 0,
    moves BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    created_order TEXT NOT NULL,
    hold_expires_at BIGINT,
    updated_at BIGINT NOT NULL
);

-- P21: one active booking per vehicle, by plate and by VIN. Held bookings count: a hold is
-- a reservation. Enforced by the database, so it holds across gateway instances.
CREATE UNIQUE INDEX bookings_active_plate_key ON bookings (plate_key) WHERE status IN ('held', 'active');
CREATE UNIQUE INDEX bookings_active_vin_key ON bookings (vin_key) WHERE status IN ('held', 'active');
-- P20: a ticket number is issued once per checkpoint-day.
CREATE UNIQUE INDEX bookings_ticket ON bookings (checkpoint, day, ticket_seq) WHERE ticket_seq IS NOT NULL;
CREATE INDEX bookings_day ON bookings (checkpoint, day, status);
CREATE INDEX bookings_hold ON bookings (status, hold_expires_at);
CREATE INDEX bookings_account ON bookings (account);

-- Idempotency keys of create requests: one booking per (account, key).
CREATE TABLE idempotency_keys (
    account TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    booking_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account, key)
);

-- Money (P23-P28), in KZT (P26): charges, payments, refunds due. Never updated, only added.
CREATE TABLE ledger (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    booking_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount_kzt BIGINT NOT NULL,
    reference TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX ledger_booking ON ledger (booking_id);

-- Outbox of user notifications (moves after a capacity change, no-show, hold expiry). A
-- push/SMS sender drains it; the booking's GET shows them.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    booking_id TEXT NOT NULL,
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX notifications_booking ON notifications (booking_id);

-- P6.1, P6.2: vehicle lists sent in advance by the postal operator and by AEOs.
CREATE TABLE priority_vehicles (
    category TEXT NOT NULL,
    plate_key TEXT NOT NULL,
    PRIMARY KEY (category, plate_key)
);

-- Ops changes of a day's capacity (D13), for the record.
CREATE TABLE capacity_changes (
    id TEXT PRIMARY KEY,
    checkpoint TEXT NOT NULL,
    day TEXT NOT NULL,
    old_capacity BIGINT NOT NULL,
    new_capacity BIGINT NOT NULL,
    closed_from BIGINT,
    closed_to BIGINT,
    reason TEXT NOT NULL,
    moved BIGINT NOT NULL,
    at BIGINT NOT NULL
);
