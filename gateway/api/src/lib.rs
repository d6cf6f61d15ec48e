//! The HTTP edge: the only crate that knows HTTP serving and JSON bodies. Everything below it
//! takes typed values.
//!
//! Architecture invariant: this is the only crate that depends on the HTTP server stack
//! (`tests/e2e/layout.rs`); it holds no business rule of its own — it parses, validates
//! against `schemas/`, calls the pipeline or the booking engine, and renders the answer.
//!
//! axum routes each listener's requests ([`routes`]: one table of every route, public and
//! admin); tower-http's layers, shared by both listeners, bound the body ([`MAX_BODY`]) and
//! the request's time, and trace and number every request ([`layers`]); the admin token is a
//! layer on the admin router, and every public route but health needs a verified caller
//! ([`auth`], ADR 0014): the account is the caller's, never a body field. Every error is one RFC 9457 document ([`Problem`]) naming the
//! bad field by JSON pointer. The OpenAPI document is generated from the handlers
//! ([`openapi`]) and served at `GET /openapi.json` (ADR 0010).

mod adapters;
pub mod auth;
mod body;
pub mod booking;
pub mod config;
mod devices;
mod health;
pub mod lanes;
mod layers;
pub mod limits;
pub mod openapi;
mod problem;
pub mod routes;
mod serve;
mod verifications;

pub use body::MAX_IDEMPOTENCY_KEY;
pub use problem::Problem;
pub use routes::{Routers, Surface, routers};
pub use serve::{HEADER_READ_TIMEOUT, Listeners, MAX_CONNECTIONS, TLS_HANDSHAKE_TIMEOUT, serve};
pub use verifications::{VerificationOwners, iin_check_digit_ok};

use kezek_booking::BookingEngine;
use kezek_catalogue::Catalogue;
use kezek_pipeline::Pipeline;
use kezek_pipeline::metrics::Metrics;
use kezek_store::audit::AuditLog;
use std::sync::Arc;

/// Largest request body read; an application is a few kilobytes.
pub const MAX_BODY: usize = 64 * 1024;

/// What the routes reach, built once per process by the gateway's assembly
/// (`kezek::server::Gateway`).
#[derive(Debug, Clone)]
pub struct Services {
    pub catalogue: Arc<Catalogue>,
    pub pipeline: Arc<Pipeline>,
    pub metrics: Arc<Metrics>,
    /// Idempotency-Key (scoped to the caller's account) → (SHA-256 of the body,
    /// verification id), for a day.
    pub idempotency: moka::sync::Cache<String, ([u8; 32], String)>,
    pub admin_token: Option<String>,
    /// Verifies the public API's bearer tokens.
    pub auth: auth::Authenticator,
    /// Which account each verification belongs to.
    pub owners: VerificationOwners,
    pub audit: AuditLog,
    /// Verification rate limits per caller and per person (issue 11).
    pub limits: Arc<limits::VerificationLimits>,
    /// The booking engine; `None` when `booking.enabled = false`.
    pub booking: Option<Arc<BookingEngine>>,
    /// The checkpoint devices of the lane profiles; `None` when `[devices]` is not set.
    pub devices: Option<Arc<kezek_devices::DeviceRuntime>>,
}
