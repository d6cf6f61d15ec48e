//! The audit log: each decision and each registry exchange, appended to a tamper-evident
//! SHA-256 hash chain in the store (issue: verification pipeline, item 7).
//!
//! An entry's body is canonical JSON with no personal data: verification id, rule set,
//! decision, each check's adapter version, outcome and reason code; for an exchange, the
//! endpoint, the hashes of the request and response bodies, status and timing. `hash` =
//! SHA-256(`prev_hash` ‖ body). Changing, removing or reordering any entry breaks every
//! later link; `kezek audit verify` names the first broken one.
//!
//! Appends are batched by one writer task per process (one transaction per batch, the
//! chain head locked), so the verification path never waits on the disk. The price: entries
//! of the last instants before a crash may be missing — never forged (docs/adr/0008).

use crate::{DbError, Store, Val};
use kezek_domain::clock::SharedClock;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Entries buffered before appends apply back-pressure by dropping (counted).
const QUEUE: usize = 100_000;
/// Most entries appended in one transaction.
const BATCH: usize = 512;

/// One thing to record.
#[derive(Debug, Clone)]
pub struct Entry {
    /// "decision" or "exchange".
    pub kind: &'static str,
    pub body: serde_json::Value,
}

/// The handle the pipeline appends through.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Entry>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl AuditLog {
    /// Starts the writer task on `store`; entries are stamped by `clock`.
    pub fn start(store: Arc<Store>, clock: SharedClock) -> Self {
        let (tx, mut rx) = mpsc::channel::<Entry>(QUEUE);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                let entries = std::mem::take(&mut batch);
                if let Err(e) = append(&store, clock.now(), entries).await {
                    tracing::error!(error = %e, "audit append failed");
                }
            }
        });
        Self {
            tx,
            dropped: Arc::default(),
        }
    }

    pub fn record(&self, entry: Entry) {
        if self.tx.try_send(entry).is_err() {
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!("audit queue full: an entry was dropped");
        }
    }

    /// Entries that could not be queued (the queue was full).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn link(prev_hash: &str, body: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

async fn append(
    store: &Store,
    now: time::OffsetDateTime,
    entries: Vec<Entry>,
) -> Result<(), DbError> {
    let now = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let rows: Arc<Vec<(String, String)>> = Arc::new(
        entries
            .into_iter()
            .map(|e| (e.kind.to_owned(), e.body.to_string()))
            .collect(),
    );
    store
        .transact(move |tx| {
            let head = tx.query("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE", &[])?;
            let head = head.first().ok_or_else(|| DbError::Other("audit_head is missing".into()))?;
            let (mut seq, mut hash) = (head[0].int()?, head[1].text()?.to_owned());
            for (kind, body) in rows.iter() {
                let next = link(&hash, body);
                seq += 1;
                tx.execute(
                    "INSERT INTO audit_log (seq, recorded_at, kind, body, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6)",
                    &[Val::Int(seq), Val::from(now.as_str()), Val::from(kind.as_str()), Val::from(body.as_str()), Val::from(hash.as_str()), Val::from(next.as_str())],
                )?;
                hash = next;
            }
            tx.execute("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", &[Val::Int(seq), Val::from(hash.as_str())])?;
            Ok(())
        })
        .await
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the audit chain breaks at entry {seq}: {reason}")]
pub struct BrokenLink {
    pub seq: i64,
    pub reason: String,
}

/// Walks the whole chain; returns the number of entries, or the first broken link.
pub async fn verify(store: &Store) -> anyhow::Result<Result<i64, BrokenLink>> {
    let rows = store
        .transact(|tx| -> Result<_, DbError> {
            let rows = tx.query(
                "SELECT seq, body, prev_hash, hash FROM audit_log ORDER BY seq",
                &[],
            )?;
            let head = tx.query("SELECT seq, hash FROM audit_head WHERE id = 1", &[])?;
            Ok((rows, head))
        })
        .await
        .map_err(|e| anyhow::anyhow!("reading the audit log: {e}"))?;
    let (rows, head) = rows;
    let mut expected_prev = "0".repeat(64);
    let mut expected_seq = 1;
    for row in &rows {
        let (seq, body, prev, hash) = (
            row[0].int()?,
            row[1].text()?,
            row[2].text()?,
            row[3].text()?,
        );
        let broken = |reason: &str| {
            Ok(Err(BrokenLink {
                seq,
                reason: reason.to_owned(),
            }))
        };
        if seq != expected_seq {
            return broken(&format!(
                "expected entry {expected_seq} here (an entry was removed or inserted)"
            ));
        }
        if prev != expected_prev {
            return broken("its prev_hash is not the hash of the entry before it");
        }
        if link(prev, body) != hash {
            return broken("its body does not match its hash (the entry was altered)");
        }
        expected_prev = hash.to_owned();
        expected_seq += 1;
    }
    if let Some(h) = head.first()
        && (h[0].int()? != expected_seq - 1 || h[1].text()? != expected_prev)
    {
        return Ok(Err(BrokenLink {
            seq: expected_seq,
            reason:
                "the chain head does not match the last entry (entries were removed from the end)"
                    .into(),
        }));
    }
    Ok(Ok(expected_seq - 1))
}
