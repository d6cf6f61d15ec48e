//! Rate limits shared by every gateway instance (issue 11 item 2): counters per key in
//! fixed one-minute windows. A caller names the events of a request — "one more
//! verification by this subject, about this IIN" — and is refused with the seconds until
//! the window turns when any counter is over its limit.
//!
//! On PostgreSQL (several instances) the counters are rows of an `UNLOGGED` table, one
//! upsert per key in one transaction: shared by every instance, and no WAL to flush, so a
//! count costs a round trip, not an fsync. On SQLite (one instance per file, by design) they
//! are in memory. Keys are SHA-256 digests under a salt kept in the store: the IIN, BIN,
//! account or plate itself is never stored, and the salt makes the digests useless to
//! anyone who reads the table without it.

use crate::{DbError, Store, Val};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The window every limit counts in.
const WINDOW_S: i64 = 60;

/// One kind of event and how many of it a key may have per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// What is counted, said to the refused caller: "verifications by this caller".
    pub what: &'static str,
    pub per_minute: u32,
}

/// A refusal: which quota, and when the window turns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Limited {
    #[error("too many {what} this minute; try again in {retry_after_s} s")]
    Exceeded {
        what: &'static str,
        retry_after_s: u64,
    },
    /// The shared counters could not be read: not counted, so not allowed.
    #[error("the rate-limit counters are unavailable: {0}")]
    Unavailable(String),
}

/// The counters.
#[derive(Debug)]
pub struct RateLimits {
    store: Arc<Store>,
    salt: tokio::sync::OnceCell<[u8; 32]>,
    /// SQLite's counters: (key digest) → (window, count), only the current window kept.
    local: Mutex<(i64, HashMap<[u8; 32], u32>)>,
    /// The last window this instance swept old PostgreSQL rows for.
    swept: Mutex<i64>,
}

impl RateLimits {
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            salt: tokio::sync::OnceCell::new(),
            local: Mutex::new((0, HashMap::new())),
            swept: Mutex::new(0),
        }
    }

    /// Counts one event per `(quota, key)` at `now_unix` (seconds); refuses when any count
    /// is then over its quota. Every event is counted, refused or not, so hammering keeps
    /// a key refused until the window turns.
    pub async fn take(&self, events: &[(Quota, &str)], now_unix: i64) -> Result<(), Limited> {
        if events.is_empty() {
            return Ok(());
        }
        let window = now_unix.div_euclid(WINDOW_S) * WINDOW_S;
        let retry_after_s = (window + WINDOW_S - now_unix) as u64;
        let salt = self.salt().await?;
        let keys: Vec<[u8; 32]> = events
            .iter()
            .map(|(quota, key)| digest(&salt, quota.what, key))
            .collect();
        let counts = match self.store.dialect() {
            "postgres" => self.count_shared(keys, window).await?,
            _ => self.count_local(&keys, window),
        };
        match events
            .iter()
            .zip(counts)
            .find(|((quota, _), count)| *count > i64::from(quota.per_minute))
        {
            Some(((quota, _), _)) => Err(Limited::Exceeded {
                what: quota.what,
                retry_after_s,
            }),
            None => Ok(()),
        }
    }

    fn count_local(&self, keys: &[[u8; 32]], window: i64) -> Vec<i64> {
        let mut local = self.local.lock().expect("rate-limit counters");
        if local.0 != window {
            // A new minute: the old counters can never refuse again.
            *local = (window, HashMap::new());
        }
        keys.iter()
            .map(|key| {
                let count = local.1.entry(*key).or_insert(0);
                *count = count.saturating_add(1);
                i64::from(*count)
            })
            .collect()
    }

    async fn count_shared(&self, keys: Vec<[u8; 32]>, window: i64) -> Result<Vec<i64>, Limited> {
        let sweep = {
            let mut swept = self.swept.lock().expect("rate-limit sweep");
            std::mem::replace(&mut *swept, window) != window
        };
        self.store
            .transact(move |tx| -> Result<Vec<i64>, DbError> {
                if sweep {
                    tx.execute(
                        "DELETE FROM rate_windows WHERE window_start < $1",
                        &[Val::Int(window)],
                    )?;
                }
                keys.iter()
                    .map(|key| {
                        let row = tx.query(
                            "INSERT INTO rate_windows (key, window_start, count) VALUES ($1, $2, 1) \
                             ON CONFLICT (key, window_start) DO UPDATE SET count = rate_windows.count + 1 \
                             RETURNING count",
                            &[Val::Text(hex::encode(key)), Val::Int(window)],
                        )?;
                        row.first()
                            .and_then(|r| r.first())
                            .ok_or_else(|| DbError::Other("the upsert returned no count".into()))?
                            .int()
                    })
                    .collect()
            })
            .await
            .map_err(|e| Limited::Unavailable(e.to_string()))
    }

    /// The digests' salt: random per process on SQLite; on PostgreSQL one row every
    /// instance shares (the first to start writes it), read with the counters' table made.
    async fn salt(&self) -> Result<[u8; 32], Limited> {
        let store = self.store.clone();
        self.salt
            .get_or_try_init(|| async move {
                let mut fresh = [0u8; 32];
                getrandom::fill(&mut fresh).map_err(|e| Limited::Unavailable(e.to_string()))?;
                if store.dialect() != "postgres" {
                    return Ok(fresh);
                }
                let hex_salt = store
                    .transact(move |tx| -> Result<String, DbError> {
                        // Once per process, serialised across instances: `CREATE … IF NOT
                        // EXISTS` is not safe against itself run concurrently.
                        tx.query("SELECT pg_advisory_xact_lock(707708)", &[])?;
                        tx.execute(
                            "CREATE TABLE IF NOT EXISTS kezek_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
                            &[],
                        )?;
                        tx.execute(
                            "CREATE UNLOGGED TABLE IF NOT EXISTS rate_windows (key TEXT NOT NULL, \
                             window_start BIGINT NOT NULL, count BIGINT NOT NULL, \
                             PRIMARY KEY (key, window_start))",
                            &[],
                        )?;
                        tx.execute(
                            "INSERT INTO kezek_settings (name, value) VALUES ('rate-limit-salt', $1) \
                             ON CONFLICT (name) DO NOTHING",
                            &[Val::Text(hex::encode(fresh))],
                        )?;
                        let rows = tx.query(
                            "SELECT value FROM kezek_settings WHERE name = 'rate-limit-salt'",
                            &[],
                        )?;
                        Ok(rows
                            .first()
                            .and_then(|r| r.first())
                            .ok_or_else(|| DbError::Other("no rate-limit salt".into()))?
                            .text()?
                            .to_owned())
                    })
                    .await
                    .map_err(|e| Limited::Unavailable(e.to_string()))?;
                let mut salt = [0u8; 32];
                hex::decode_to_slice(hex_salt, &mut salt)
                    .map_err(|e| Limited::Unavailable(format!("the stored salt: {e}")))?;
                Ok(salt)
            })
            .await
            .copied()
    }
}

fn digest(salt: &[u8; 32], what: &str, key: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(what.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreConfig;

    const THREE: Quota = Quota {
        what: "verifications by this caller",
        per_minute: 3,
    };
    const ONE: Quota = Quota {
        what: "verifications about this person",
        per_minute: 1,
    };

    /// Issue 11 item 2: per key, per minute; refused with the seconds until the window
    /// turns; other keys and the next minute unaffected.
    #[tokio::test]
    async fn counts_per_key_per_minute_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig::Sqlite {
            path: dir.path().join("limits.sqlite3"),
            max_group: 8,
        })
        .await
        .unwrap();
        let limits = RateLimits::new(Arc::new(store));
        let minute = 1_800_000_000 / WINDOW_S * WINDOW_S;
        // (events, second of the minute) → refused by which quota, with the Retry-After.
        type Step<'a> = (&'a [(Quota, &'a str)], i64, Option<(&'a str, u64)>);
        let steps: &[Step] = &[
            (&[(THREE, "acc-1")], 0, None),
            (&[(THREE, "acc-1")], 10, None),
            (&[(THREE, "acc-1")], 20, None),
            (&[(THREE, "acc-1")], 45, Some((THREE.what, 15))),
            (&[(THREE, "acc-2")], 45, None),
            (&[(THREE, "acc-2"), (ONE, "iin-1")], 46, None),
            (
                &[(THREE, "acc-2"), (ONE, "iin-1")],
                47,
                Some((ONE.what, 13)),
            ),
            (&[(THREE, "acc-1")], 60, None),
            (&[(ONE, "iin-1")], 61, None),
        ];
        for (i, (events, second, expect)) in steps.iter().enumerate() {
            let got = limits.take(events, minute + second).await;
            let got = match got {
                Ok(()) => None,
                Err(Limited::Exceeded {
                    what,
                    retry_after_s,
                }) => Some((what, retry_after_s)),
                Err(e) => panic!("step {i}: {e}"),
            };
            assert_eq!(got, *expect, "step {i}");
        }
    }
}
