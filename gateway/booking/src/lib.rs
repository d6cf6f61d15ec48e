//! The booking engine (issue 5): checkpoints, capacity, slots and tickets.
//!
//! Architecture invariant: no HTTP and no wasmtime. Booking verifies through the domain's
//! `Verifier` contract (the pipeline, in the gateway) and stores through `kezek-store`; its
//! HTTP face is `kezek-api`'s, its command line `kezek bookings`.
//!
//! An approved verification becomes a booking with a ticket (Order 707 P16–P22), with the
//! priority quota (P6), payments and account state (P23–P28), no-show annulment (P35) and no
//! transfer (P36). Storage is [`kezek_store`]: every rule that must hold across gateway
//! instances and crashes (capacity, quota, one active booking per vehicle) is enforced by
//! the database inside one transaction, never by an in-process lock alone.
//!
//! * [`engine`] — the engine and what its operations share; each operation has its file:
//!   `create` (P16–P22, P6, P23), `pay` (P23), `reschedule` (P28), `cancel` (P28),
//!   `drivers` (P16.2), `capacity` (availability, D13 changes), `move_policy` (ADR 0006 as
//!   a pure function), `arrival` (P30, P35), `sweeps` (expired holds, no-shows),
//!   `retention` (personal fields of ended bookings erased after the retention period),
//!   `accounts` (P27 debts, P6.1/P6.2 lists); `slots` (P16, P22, P20 tickets) and `rows`
//!   (typed rows) serve them all.
//! * [`policy`] — the P6 quotas as effective-dated editions (Order 707, Order 505; ADR 0013).
//! * [`limits`] — anti-abuse rate limits.
//! * [`checkpoints`] — the 48 checkpoints of the Order 707 appendix, as data.
//! * `testing` — a scripted verifier for tests and benchmarks (feature `test-util`).

mod accounts;
mod arrival;
mod cancel;
mod capacity;
pub mod checkpoints;
mod create;
mod drivers;
pub mod engine;
pub mod limits;
mod model;
mod move_policy;
mod pay;
pub mod policy;
mod reschedule;
mod retention;
mod rows;
pub mod rules;
mod slots;
mod sweeps;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use engine::BookingEngine;
pub use policy::PriorityPolicy;

pub use rules::{BookingError, PriorityCategory};

use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

/// Builds the gateway's booking engine from the config (`None` when `booking.enabled` is
/// off), governed by the P6 policy the config names (or the one compiled in), and starts
/// its sweeper. Every booking verifies through `verifier`, the pipeline, before a slot is
/// held (P20).
pub async fn start(
    config: &BookingConfig,
    checkpoints: Arc<checkpoints::Catalogue>,
    store: Arc<kezek_store::Store>,
    verifier: Arc<dyn kezek_domain::Verifier>,
    clock: kezek_domain::clock::SharedClock,
) -> anyhow::Result<Option<Arc<BookingEngine>>> {
    if !config.enabled {
        return Ok(None);
    }
    let policy = PriorityPolicy::open(config.priority.editions.as_deref())?;
    let engine = BookingEngine::new(config.clone(), checkpoints, store, verifier, clock)
        .with_policy(Arc::new(policy));
    let engine = Arc::new(engine);
    engine.spawn_sweeper();
    Ok(Some(engine))
}

/// `[booking]` in the config. Every amount is in tenge (P26).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingConfig {
    /// Serve the booking API. Default: yes.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Checkpoint catalogue (JSON, `schemas/checkpoints.schema.json`). Default: the
    /// catalogue compiled in from `deploy/checkpoints.json`.
    #[serde(default)]
    pub checkpoints: Option<PathBuf>,
    /// How far ahead bookings open, in calendar days (P22: at most 90).
    #[serde(default = "default_horizon")]
    pub horizon_days: u32,
    /// Fee per booking, KZT (P23–P26; sizes per order No. 538). 0 = confirmed without
    /// payment.
    #[serde(default)]
    pub fee_kzt: i64,
    /// Extra fee for paid priority (P6.4), KZT.
    #[serde(default)]
    pub priority_fee_kzt: i64,
    /// Free reschedules per booking (P28: 2).
    #[serde(default = "default_free_reschedules")]
    pub free_reschedules: u32,
    /// What happens to a reschedule past the free ones (P28).
    #[serde(default)]
    pub extra_reschedule: ExtraReschedule,
    /// Fee of a reschedule past the free ones when `extra_reschedule = "charge"`, KZT.
    #[serde(default)]
    pub extra_reschedule_fee_kzt: i64,
    /// How long an unpaid booking holds its slot (anti-abuse; issue 5 item 7).
    #[serde(default = "default_hold_ttl")]
    pub hold_ttl_s: u64,
    /// Minutes after the end of the booked interval before a booking with no arrival is
    /// annulled (P35).
    #[serde(default = "default_grace")]
    pub no_show_grace_min: u64,
    /// Out-of-turn bookings (P6).
    #[serde(default)]
    pub priority: PriorityConfig,
    /// Anti-abuse rate limits (issue 5 item 7).
    #[serde(default)]
    pub rate_limits: RateLimitConfig,
    /// Seconds between sweeps of expired holds, no-shows and retention.
    #[serde(default = "default_sweep")]
    pub sweep_interval_s: u64,
    /// Days an ended booking (cancelled, annulled, completed, expired) keeps its personal
    /// fields before the sweeper erases them (issue 11 item 5, ADR 0015).
    #[serde(default = "default_retention")]
    pub personal_data_retention_days: u32,
}

/// P28: a reschedule past the free ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtraReschedule {
    /// Refused (the default).
    #[default]
    Refuse,
    /// Allowed when paid: `extra_reschedule_fee_kzt`.
    Charge,
}

/// P6: which categories are served out of turn, and the quotas that cap them, edition by
/// edition (ADR 0013).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityConfig {
    /// The P6 editions (JSON, `schemas/priority-policy.schema.json`): each edition's quotas —
    /// categories and cap in percent of a day's actual capacity — from its in-force date.
    /// Default: the policy compiled in from `deploy/priority-policy.json` (Order 707 as
    /// published, 15 % together; Order 505 from 2025-09-23, 5 % out of turn and 1 % paid).
    /// The one way to set the caps; relative to the config file.
    #[serde(default)]
    pub editions: Option<PathBuf>,
    /// Categories served out of turn at all; a category must also be covered by a quota of
    /// the booked day's edition.
    #[serde(default = "default_categories")]
    pub categories: Vec<PriorityCategory>,
}

impl Default for PriorityConfig {
    fn default() -> Self {
        Self {
            editions: None,
            categories: default_categories(),
        }
    }
}

/// Anti-abuse rate limits, per minute, counted in the store so every instance sharing a
/// PostgreSQL database enforces the same limit (issue 11); the hard guarantees (capacity,
/// P21) are the database's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Booking operations per account per minute (burst = the same number).
    #[serde(default = "default_account_rate")]
    pub account_per_minute: u32,
    /// Booking operations per vehicle (plate) per minute.
    #[serde(default = "default_vehicle_rate")]
    pub vehicle_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            account_per_minute: default_account_rate(),
            vehicle_per_minute: default_vehicle_rate(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_horizon() -> u32 {
    90
}
fn default_free_reschedules() -> u32 {
    2
}
fn default_hold_ttl() -> u64 {
    900
}
fn default_grace() -> u64 {
    60
}
fn default_sweep() -> u64 {
    5
}
fn default_retention() -> u32 {
    90
}
fn default_categories() -> Vec<PriorityCategory> {
    PriorityCategory::ALL.to_vec()
}
fn default_account_rate() -> u32 {
    30
}
fn default_vehicle_rate() -> u32 {
    10
}

impl BookingConfig {
    /// Relative catalogue and policy paths are relative to the config file.
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        for p in [&mut self.checkpoints, &mut self.priority.editions]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

impl Default for BookingConfig {
    fn default() -> Self {
        toml::from_str("").expect("every booking setting has a default")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p22_p28_p6_defaults_follow_the_order() {
        let c = BookingConfig::default();
        assert_eq!(c.horizon_days, 90);
        assert_eq!(c.free_reschedules, 2);
        assert_eq!(c.priority.editions, None, "P6: the compiled-in editions");
        assert_eq!(c.priority.categories.len(), 7);
        assert_eq!(c.extra_reschedule, ExtraReschedule::Refuse);
    }

    #[test]
    fn booking_config_denies_unknown_fields() {
        let err = toml::from_str::<BookingConfig>("horizon_dayz = 3").unwrap_err();
        assert!(err.to_string().contains("horizon_dayz"));
        let mut c: BookingConfig =
            toml::from_str("[priority]\neditions = \"p6.json\"\ncategories = [\"paid\", \"aeo\"]")
                .unwrap();
        c.resolve_paths(std::path::Path::new("/etc/kezek"));
        assert_eq!(
            c.priority.editions.as_deref(),
            Some(std::path::Path::new("/etc/kezek/p6.json"))
        );
    }

    /// P6, ADR 0013: the caps are the editions' — one way to set them; a config still
    /// carrying the old single cap is refused at start, naming it.
    #[test]
    fn p6_cap_percent_is_gone_from_the_config() {
        let err = toml::from_str::<BookingConfig>("[priority]\ncap_percent = 15").unwrap_err();
        assert!(err.to_string().contains("cap_percent"), "{err}");
    }

    /// The README's `[booking]` example is a config the gateway starts with (issue 10).
    #[test]
    fn the_readme_booking_example_parses() {
        let readme = include_str!("../../../README.md");
        let example = readme
            .split("```toml")
            .filter_map(|block| block.split("```").next())
            .find(|block| block.contains("[booking.priority]"))
            .expect("README shows [booking.priority]");
        let booking = example
            .split_once("[booking]")
            .map(|(_, rest)| format!("[booking]{rest}"))
            .unwrap();
        let parsed: toml::Table = toml::from_str(&booking).unwrap();
        let config: BookingConfig = parsed["booking"].clone().try_into().unwrap();
        assert!(config.priority.editions.is_some());
    }
}

#[cfg(test)]
mod rule_tests;
