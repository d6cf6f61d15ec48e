//! Verification rate limits (issue 11 item 2): how many verifications a caller may ask for,
//! and how many may name one person (an IIN/BIN, or a foreign document), per minute —
//! counted in the store's shared counters ([`kezek_store::limits`]), so every instance on
//! PostgreSQL enforces one limit. The per-person limit is what keeps the verification API
//! from being an oracle on somebody else's registry records.

use crate::problem::Problem;
use axum::http::StatusCode;
use kezek_domain::Application;
use kezek_store::Store;
use kezek_store::limits::{Limited, Quota, RateLimits};
use serde::Deserialize;
use std::sync::Arc;

/// `[api.rate_limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationRateLimits {
    /// Verifications one caller may ask for per minute.
    #[serde(default = "default_per_caller")]
    pub per_caller_per_minute: u32,
    /// Verifications that may name one person (owner or driver) per minute.
    #[serde(default = "default_per_person")]
    pub per_person_per_minute: u32,
}

impl Default for VerificationRateLimits {
    fn default() -> Self {
        Self {
            per_caller_per_minute: default_per_caller(),
            per_person_per_minute: default_per_person(),
        }
    }
}

fn default_per_caller() -> u32 {
    120
}
fn default_per_person() -> u32 {
    30
}

/// The counters and the two quotas.
#[derive(Debug)]
pub struct VerificationLimits {
    counters: RateLimits,
    per_caller: Quota,
    per_person: Quota,
}

impl VerificationLimits {
    pub fn new(config: &VerificationRateLimits, store: Arc<Store>) -> Self {
        Self {
            counters: RateLimits::new(store),
            per_caller: Quota {
                what: "verifications asked for by this caller",
                per_minute: config.per_caller_per_minute,
            },
            per_person: Quota {
                what: "verifications naming one of these persons",
                per_minute: config.per_person_per_minute,
            },
        }
    }

    /// Counts one verification by `caller` (the verified account it is made for) of
    /// `application`; a 429 problem with Retry-After
    /// when the caller or any person it names is over the limit.
    pub(crate) async fn check(
        &self,
        caller: Option<&str>,
        application: &Application,
        now_unix: i64,
    ) -> Result<(), Problem> {
        let persons = persons(application);
        let events: Vec<(Quota, &str)> = caller
            .map(|c| (self.per_caller, c))
            .into_iter()
            .chain(persons.iter().map(|p| (self.per_person, p.as_str())))
            .collect();
        self.counters
            .take(&events, now_unix)
            .await
            .map_err(|limited| match limited {
                Limited::Exceeded { retry_after_s, .. } => {
                    Problem::new(StatusCode::TOO_MANY_REQUESTS, limited.to_string())
                        .retry_after(Some(retry_after_s))
                }
                Limited::Unavailable(e) => {
                    tracing::error!(error = %e, "rate-limit counters unavailable");
                    Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the rate-limit counters are unavailable; nothing was verified",
                    )
                    .retry_after(Some(5))
                }
            })
    }
}

/// Each person the application names, once: the owner's IIN/BIN and each driver's IIN, or
/// a foreign driver's document (issuing country and number).
fn persons(app: &Application) -> Vec<String> {
    let mut persons: Vec<String> = app.owner.iin_bin.iter().cloned().collect();
    for driver in &app.drivers {
        let person = match &driver.iin {
            Some(iin) => iin.clone(),
            None => format!(
                "{}:{}",
                driver.document.issuing_country, driver.document.number
            ),
        };
        if !persons.contains(&person) {
            persons.push(person);
        }
    }
    persons
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11: the persons a verification counts against — each once.
    #[test]
    fn persons_named_by_an_application() {
        let check = |owner: Option<&str>, drivers: &[(Option<&str>, &str)], expect: &[&str]| {
            let drivers: Vec<serde_json::Value> = drivers
                .iter()
                .map(|(iin, passport)| {
                    let mut d = serde_json::json!({
                        "residency": "resident", "full-name": "n", "birth-date": "1980-01-01",
                        "phone": "+1", "document": {"kind": "passport", "issuing-country": "UZ",
                        "number": passport, "expires": "2099-01-01"}
                    });
                    if let Some(iin) = iin {
                        d["iin"] = (*iin).into();
                    }
                    d
                })
                .collect();
            let mut owner_json = serde_json::json!({
                "residency": "resident", "kind": "natural-person", "name": "n", "country": "KZ"
            });
            if let Some(bin) = owner {
                owner_json["iin-bin"] = bin.into();
            }
            let app: Application = serde_json::from_value(serde_json::json!({
                "owner": owner_json, "drivers": drivers,
                "vehicle": {"kind": "truck", "country": "KZ", "plate": "1", "vin": "1"},
                "cargo": {"classes": ["general"]}, "checkpoint": "KZ-A", "travel-date": "2099-01-01"
            }))
            .unwrap();
            assert_eq!(persons(&app), expect, "{owner:?} {drivers:?}");
        };
        check(Some("1"), &[(Some("2"), "P")], &["1", "2"]);
        // The owner driving their own truck is one person.
        check(Some("1"), &[(Some("1"), "P")], &["1"]);
        check(
            None,
            &[(None, "N1"), (Some("2"), "P"), (None, "N1")],
            &["UZ:N1", "2"],
        );
    }
}
