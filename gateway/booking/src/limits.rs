//! Anti-abuse rate limits (issue 5 item 7): token buckets per account and per vehicle.
//!
//! In memory, per gateway instance: they blunt bots and retry storms; the guarantees that
//! must hold across instances (capacity, P21) are enforced by the database.

use super::RateLimitConfig;
use super::rules::BookingError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    account_per_minute: f64,
    vehicle_per_minute: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            account_per_minute: config.account_per_minute as f64,
            vehicle_per_minute: config.vehicle_per_minute as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from the account's bucket and one from the vehicle's.
    pub fn check(&self, account: &str, vehicle: &str) -> Result<(), BookingError> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        if buckets.len() > 100_000 {
            // Forget full buckets, so the map does not grow without bound.
            buckets
                .retain(|_, (tokens, at)| now.duration_since(*at).as_secs() < 120 || *tokens < 1.0);
        }
        let a = format!("a:{account}");
        let v = format!("v:{vehicle}");
        let ok_a = Self::peek(&mut buckets, &a, self.account_per_minute, now);
        let ok_v = Self::peek(&mut buckets, &v, self.vehicle_per_minute, now);
        if !ok_a || !ok_v {
            let which = if !ok_a { "account" } else { "vehicle" };
            return Err(BookingError::rule(
                "anti-abuse",
                429,
                format!("too many booking operations for this {which}; try again in a minute"),
            ));
        }
        for key in [a, v] {
            if let Some(b) = buckets.get_mut(&key) {
                b.0 -= 1.0;
            }
        }
        Ok(())
    }

    fn peek(
        buckets: &mut HashMap<String, (f64, Instant)>,
        key: &str,
        per_minute: f64,
        now: Instant,
    ) -> bool {
        let bucket = buckets.entry(key.to_owned()).or_insert((per_minute, now));
        let refill = now.duration_since(bucket.1).as_secs_f64() * per_minute / 60.0;
        bucket.0 = (bucket.0 + refill).min(per_minute);
        bucket.1 = now;
        bucket.0 >= 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anti_abuse_limits_per_account_and_per_vehicle() {
        let l = RateLimiter::new(&RateLimitConfig {
            account_per_minute: 3,
            vehicle_per_minute: 2,
        });
        assert!(l.check("acc", "KZ:1").is_ok());
        assert!(l.check("acc", "KZ:1").is_ok());
        let err = l.check("acc", "KZ:1").unwrap_err();
        assert_eq!(err.rule_id(), Some("anti-abuse"));
        assert!(l.check("acc", "KZ:2").is_ok());
        assert!(
            l.check("acc", "KZ:3").is_err(),
            "the account's bucket is empty"
        );
        assert!(l.check("other", "KZ:3").is_ok());
    }
}
