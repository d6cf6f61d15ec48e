//! The finding cache: moka, with a TTL per check from the rule set, single-flight loading,
//! and keys that hold no personal data.

use kezek_domain::{Application, ApproxBytes, CheckError, CheckId, Finding, Projection};
use moka::Expiry;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A keyed hash: check, adapter build, rule-set version and the fields the adapter reads,
/// under a per-process random salt. It identifies an answer without revealing (or letting
/// anyone brute-force) the IIN, plate or name behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

/// Digests of the seven parts of an application (in [`kezek_domain::Part::ALL`] order), computed once per
/// verification and combined per check into that check's key.
#[derive(Debug, Clone)]
pub struct Fingerprint([[u8; 32]; 7]);

impl Fingerprint {
    pub fn of(app: &Application) -> Self {
        fn digest(value: serde_json::Result<Vec<u8>>) -> [u8; 32] {
            Sha256::digest(value.unwrap_or_default()).into()
        }
        // In Part::ALL order.
        Self([
            digest(serde_json::to_vec(&app.owner)),
            digest(serde_json::to_vec(&app.drivers)),
            digest(serde_json::to_vec(&app.vehicle)),
            digest(serde_json::to_vec(&app.trailer)),
            digest(serde_json::to_vec(&app.cargo)),
            digest(Ok(app.checkpoint.as_bytes().to_vec())),
            digest(Ok(app.travel_date.as_bytes().to_vec())),
        ])
    }
}

/// What one moka entry costs besides its value: the key, the TTL, a shared hash and moka's
/// per-entry bookkeeping, roughly. Every cache weighed in bytes adds it to each entry.
pub const ENTRY_OVERHEAD: usize = 160;

#[derive(Debug, Clone)]
struct Entry {
    finding: Finding,
    ttl: Duration,
    /// The adapter build that produced it, so a reload can drop what it replaced.
    adapter_sha: Arc<str>,
    evidence: Evidence,
}

/// Whether the audit record of the registry exchange behind a finding is committed: set by
/// the verification that called the registry once its records are durable (ADR 0015). Until
/// then a decision resting on the cached finding waits for its own commit.
pub type Evidence = Arc<AtomicBool>;

struct PerEntryTtl;

impl Expiry<CacheKey, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &CacheKey, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// What a lookup did, for metrics and the verification's `cached` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Served from the cache, or by another caller's call in flight (single-flight).
    Hit,
    /// This caller called the adapter.
    Miss,
    /// Not cacheable (TTL 0): called the adapter.
    Bypass,
}

pub struct FindingCache {
    entries: moka::future::Cache<CacheKey, Entry>,
    salt: [u8; 32],
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

impl std::fmt::Debug for FindingCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FindingCache")
            .field("entries", &self.entries.entry_count())
            .finish_non_exhaustive()
    }
}

impl FindingCache {
    /// A cache holding at most about `max_bytes` of findings (keys and moka's own
    /// bookkeeping included in each entry's weight), least recently used evicted first.
    pub fn new(max_bytes: u64) -> Self {
        let mut salt = [0u8; 32];
        getrandom::fill(&mut salt).expect("the operating system provides randomness");
        Self {
            entries: moka::future::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_: &CacheKey, entry: &Entry| {
                    let bytes = ENTRY_OVERHEAD + entry.finding.approx_bytes();
                    u32::try_from(bytes).unwrap_or(u32::MAX)
                })
                .expire_after(PerEntryTtl)
                .support_invalidation_closures()
                .build(),
            salt,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The key of a check's answer on `seen`: the application as the host hands it to the
    /// adapter ([`Application::project`] of the adapter's `reads`, ADR 0019), whose
    /// fingerprint is `parts`. Only the parts the adapter is handed are hashed, so the
    /// others cannot split the cache and what it is handed cannot go stale.
    pub fn key(
        &self,
        check: &CheckId,
        adapter_sha: &str,
        rule_set: &str,
        seen: &Projection<'_>,
        parts: &Fingerprint,
    ) -> CacheKey {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(check.as_str().as_bytes());
        h.update([0]);
        h.update(adapter_sha.as_bytes());
        h.update([0]);
        h.update(rule_set.as_bytes());
        h.update([0]);
        for part in seen.present() {
            h.update([part.index() as u8]);
            h.update(parts.0[part.index()]);
        }
        CacheKey(h.finalize().into())
    }

    /// Returns the cached finding, or runs `call` — once for all concurrent callers with the
    /// same key. Findings are cached for `ttl`; errors are never cached. Also returns the
    /// finding's [`Evidence`]: the cached entry's, or `evidence` when this caller called.
    pub async fn get_or_call<F>(
        &self,
        key: CacheKey,
        ttl: Duration,
        adapter_sha: &str,
        evidence: Evidence,
        call: F,
    ) -> (Result<Finding, CheckError>, Lookup, Evidence)
    where
        F: std::future::Future<Output = Result<Finding, CheckError>>,
    {
        if ttl.is_zero() {
            return (call.await, Lookup::Bypass, evidence);
        }
        let called = AtomicBool::new(false);
        let result = self
            .entries
            .try_get_with(key, async {
                called.store(true, Ordering::Relaxed);
                call.await.map(|finding| Entry {
                    finding,
                    ttl,
                    adapter_sha: adapter_sha.into(),
                    evidence: evidence.clone(),
                })
            })
            .await;
        let lookup = if called.load(Ordering::Relaxed) {
            Lookup::Miss
        } else {
            Lookup::Hit
        };
        let counter = if lookup == Lookup::Hit {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(entry) => (Ok(entry.finding), lookup, entry.evidence),
            Err(e) => (Err((*e).clone()), lookup, evidence),
        }
    }

    /// Drops every finding made by an adapter build not in `keep` (after a reload).
    pub fn retain_builds(&self, keep: &[String]) {
        let keep: Vec<Arc<str>> = keep.iter().map(|s| Arc::from(s.as_str())).collect();
        let _ = self
            .entries
            .invalidate_entries_if(move |_, e| !keep.contains(&e.adapter_sha));
    }

    pub fn invalidate_all(&self) {
        self.entries.invalidate_all();
    }

    pub fn entry_count(&self) -> u64 {
        self.entries.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_domain::RequestFields;

    fn application() -> Application {
        serde_json::from_value(serde_json::json!({
            "owner": { "residency": "resident", "kind": "legal-entity", "name": "O",
                       "iin-bin": "123456789012", "country": "KZ" },
            "drivers": [{ "residency": "resident", "full-name": "D", "birth-date": "b",
                          "iin": "800101300123", "phone": "+77010000000",
                          "document": { "kind": "id-card", "issuing-country": "KZ",
                                        "number": "1", "expires": "e" } }],
            "vehicle": { "kind": "truck", "country": "KZ", "plate": "123ABC02", "vin": "V1" },
            "trailer": { "country": "KZ", "plate": "45AB02", "vin": "V2" },
            "cargo": { "classes": ["general"] },
            "checkpoint": "CP",
            "travel-date": "T"
        }))
        .unwrap()
    }

    /// ADR 0019: the key hashes exactly the parts the adapter is handed, so two applications
    /// share a cached answer exactly when the adapter would be handed the same thing.
    #[test]
    fn the_key_follows_what_the_adapter_is_handed() {
        let cache = FindingCache::new(1 << 20);
        let check = CheckId::p18(4).unwrap();
        let key = |app: &Application, reads: RequestFields| {
            cache.key(
                &check,
                "sha",
                "rules@1",
                &app.project(reads),
                &Fingerprint::of(app),
            )
        };
        let vehicle = RequestFields {
            vehicle: true,
            ..Default::default()
        };
        let trailer = RequestFields {
            trailer: true,
            ..Default::default()
        };
        type Edit = (&'static str, fn(&mut Application));
        let edits: [Edit; 4] = [
            ("owner", |a| a.owner.name.push('x')),
            ("vehicle", |a| a.vehicle.plate.push('X')),
            ("trailer", |a| a.trailer = None),
            ("travel date", |a| a.travel_date.push('x')),
        ];
        for (reads, name) in [(vehicle, "vehicle"), (trailer, "trailer")] {
            for (edited, edit) in edits {
                let before = application();
                let mut after = application();
                edit(&mut after);
                let handed_alike = before.project(reads) == after.project(reads);
                assert_eq!(
                    key(&before, reads) == key(&after, reads),
                    handed_alike,
                    "an adapter reading the {name}, the {edited} edited"
                );
                assert_eq!(handed_alike, edited != name, "{name} / {edited}");
            }
        }
    }
}
