//! Anti-abuse rate limits of booking operations (issue 5 item 7, issue 11 item 2): per
//! account and per vehicle, per minute, counted in the store's shared counters
//! ([`kezek_store::limits`]) so several instances on PostgreSQL enforce one limit, not one
//! each. The guarantees that must hold whatever the rate (capacity, P21) are the
//! database's, not these.

use super::RateLimitConfig;
use super::rules::BookingError;
use kezek_store::Store;
use kezek_store::limits::{Limited, Quota, RateLimits};
use std::sync::Arc;

#[derive(Debug)]
pub struct RateLimiter {
    account: Quota,
    vehicle: Quota,
    counters: RateLimits,
}

impl RateLimiter {
    pub fn new(config: &RateLimitConfig, store: Arc<Store>) -> Self {
        Self {
            account: Quota {
                what: "booking operations for this account",
                per_minute: config.account_per_minute,
            },
            vehicle: Quota {
                what: "booking operations for this vehicle",
                per_minute: config.vehicle_per_minute,
            },
            counters: RateLimits::new(store),
        }
    }

    /// Counts one operation of the account on the vehicle; 429 with Retry-After when
    /// either has had too many this minute.
    pub async fn check(
        &self,
        account: &str,
        vehicle: &str,
        now_unix: i64,
    ) -> Result<(), BookingError> {
        self.counters
            .take(
                &[(self.account, account), (self.vehicle, vehicle)],
                now_unix,
            )
            .await
            .map_err(|limited| match limited {
                Limited::Exceeded { retry_after_s, .. } => BookingError::Limited {
                    detail: limited.to_string(),
                    retry_after_s,
                },
                Limited::Unavailable(e) => BookingError::Store(kezek_store::DbError::Other(e)),
            })
    }
}
