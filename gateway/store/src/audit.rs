//! The audit log: each decision and each registry exchange, appended to a tamper-evident
//! SHA-256 hash chain in the store (issue: verification pipeline, item 7; issue 11 item 4).
//!
//! An entry's body is canonical JSON with no personal data: verification id, rule set,
//! decision, each check's adapter version, outcome and reason code; for an exchange, the
//! endpoint, the hashes of the request and response bodies, status and timing. `hash` =
//! SHA-256(`prev_hash` ‖ body). Changing, removing or reordering any entry breaks every
//! later link; `kezek audit verify` names the first broken one.
//!
//! **No decision without its durable record** (docs/adr/0015): one writer task per process
//! commits the records of many verifications in one transaction (group commit, the chain
//! head locked), and [`AuditLog::commit`] returns only after that transaction is durable.
//! Nothing is ever dropped: a full queue or a failing store refuses the *next* verification
//! ([`AuditLog::admit`], [`AuditUnavailable`]) instead. A decision made wholly from cached
//! findings whose own records are committed is only queued ([`AuditLog::enqueue`]); a
//! failed append keeps and retries it.
//!
//! **Anchors** (ADR 0015): every `anchor_every` entries or `anchor_interval_s` seconds the
//! writer signs the committed chain head (sequence number and hash) with an Ed25519 key and
//! appends it to a file outside the database. [`verify_anchors`] checks each anchor against
//! the chain, so rewriting entries and recomputing every later hash is found.

use crate::{DbError, Store, Val};
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use kezek_domain::clock::SharedClock;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// `[audit]` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Verifications whose records may wait for the writer; one more is refused (503).
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Most verifications' records committed together in one transaction (one fsync).
    #[serde(default = "default_max_group")]
    pub max_group: usize,
    /// After an append failed, new verifications are refused for this long before one is
    /// let through to try the store again.
    #[serde(default = "default_failure_backoff")]
    pub failure_backoff_s: u64,
    /// Sign an anchor after this many entries…
    #[serde(default = "default_anchor_every")]
    pub anchor_every: u64,
    /// …or this many seconds after the last one, whichever comes first (if anything new).
    #[serde(default = "default_anchor_interval")]
    pub anchor_interval_s: u64,
    /// Ed25519 private key (PKCS#8 PEM, as `kezek keygen` writes it) that signs anchors.
    /// Without it, no anchors are written (development only).
    #[serde(default)]
    pub anchor_key: Option<PathBuf>,
    /// Where anchors are appended, one JSON line each: a file, or an existing directory
    /// (then `audit-anchors.jsonl` in it). Keep it outside the database's reach (another disk, a
    /// WORM store, a log shipper). Required with `anchor_key`.
    #[serde(default)]
    pub anchor_out: Option<PathBuf>,
}

fn default_queue() -> usize {
    10_000
}
fn default_max_group() -> usize {
    1_024
}
fn default_failure_backoff() -> u64 {
    2
}
fn default_anchor_every() -> u64 {
    1_000
}
fn default_anchor_interval() -> u64 {
    60
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            queue: default_queue(),
            max_group: default_max_group(),
            failure_backoff_s: default_failure_backoff(),
            anchor_every: default_anchor_every(),
            anchor_interval_s: default_anchor_interval(),
            anchor_key: None,
            anchor_out: None,
        }
    }
}

impl AuditConfig {
    /// Relative paths are relative to the config file.
    pub fn resolve_paths(&mut self, base: &Path) {
        for path in [&mut self.anchor_key, &mut self.anchor_out]
            .into_iter()
            .flatten()
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    /// The anchors file `anchor_out` names (the file itself, or the one in its directory).
    pub fn anchors_file(&self) -> Option<PathBuf> {
        self.anchor_out.as_deref().map(anchors_file)
    }
}

/// The anchors file at `path`: the file itself, or `audit-anchors.jsonl` in a directory.
pub fn anchors_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("audit-anchors.jsonl")
    } else {
        path.to_owned()
    }
}

/// One thing to record: its kind and its JSON body, serialized once by whoever makes it (on
/// the caller's task, so the one writer only links and stores).
#[derive(Debug, Clone)]
pub struct Entry {
    /// "decision" or "exchange".
    pub kind: &'static str,
    body: String,
}

impl Entry {
    pub fn new(kind: &'static str, body: &impl Serialize) -> Self {
        Self {
            kind,
            body: serde_json::to_string(body).expect("an audit body serializes"),
        }
    }

    /// The body as it is stored and hashed.
    pub fn body(&self) -> &str {
        &self.body
    }
}

/// Why a verification is refused: its record could not be kept. Nothing was answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the audit log is unavailable ({reason}); nothing was decided, retry in {retry_after_s} s")]
pub struct AuditUnavailable {
    pub reason: String,
    pub retry_after_s: u64,
}

/// Anchoring settings, with the key already read (by the assembly, which owns key files).
#[derive(Debug)]
pub struct Anchoring {
    pub key: SigningKey,
    /// The anchors file ([`anchors_file`]).
    pub out: PathBuf,
    pub every: u64,
    pub interval: Duration,
}

/// The handle the pipeline appends through.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Pending>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    backoff: Duration,
    /// Set after a failed append: new verifications are refused until then.
    failing_until: std::sync::Mutex<Option<Instant>>,
    /// Verifications refused because the log was full or failing.
    refused: AtomicU64,
    /// Anchors written, and anchors that could not be written.
    anchors: AtomicU64,
    anchor_failures: AtomicU64,
}

/// One verification's records, and whom to tell when they are committed (`None`: queued
/// only, see [`AuditLog::enqueue`]).
struct Pending {
    entries: Vec<Entry>,
    done: Option<oneshot::Sender<Result<(), AuditUnavailable>>>,
}

impl AuditLog {
    /// Starts the writer task on `store`; entries are stamped by `clock`. With `anchoring`,
    /// the head is anchored at once (if the chain is not empty) and then as configured; the
    /// anchors file must be writable now, or the gateway does not start.
    pub async fn start(
        store: Arc<Store>,
        clock: SharedClock,
        config: &AuditConfig,
        anchoring: Option<Anchoring>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(config.queue > 0, "[audit] queue must be at least 1");
        anyhow::ensure!(config.max_group > 0, "[audit] max_group must be at least 1");
        let shared = Arc::new(Shared {
            backoff: Duration::from_secs(config.failure_backoff_s.max(1)),
            failing_until: std::sync::Mutex::new(None),
            refused: AtomicU64::new(0),
            anchors: AtomicU64::new(0),
            anchor_failures: AtomicU64::new(0),
        });
        let anchorer = match anchoring {
            Some(a) => {
                anyhow::ensure!(a.every > 0, "[audit] anchor_every must be at least 1");
                anyhow::ensure!(
                    !a.interval.is_zero(),
                    "[audit] anchor_interval_s must be at least 1"
                );
                crate::owner_only(&a.out)
                    .map_err(|e| anyhow::anyhow!("[audit] anchor_out {}: {e}", a.out.display()))?;
                let mut anchorer = Anchorer::new(a);
                anchorer.head = Some(head(&store).await?).filter(|(seq, _)| *seq > 0);
                anchorer.write(&clock, &shared).await;
                Some(anchorer)
            }
            None => None,
        };
        let (tx, rx) = mpsc::channel::<Pending>(config.queue);
        let writer = Writer {
            store,
            clock,
            shared: shared.clone(),
            max_group: config.max_group,
            anchorer,
            carried: Vec::new(),
        };
        tokio::spawn(writer.run(rx));
        Ok(Self { tx, shared })
    }

    /// Whether a new verification may start: refused while the queue is full or the store
    /// failed within the back-off, so no registry is asked for a decision nobody could
    /// record.
    pub fn admit(&self) -> Result<(), AuditUnavailable> {
        if let Some(until) = *self.shared.failing_until.lock().expect("audit state") {
            let left = until.saturating_duration_since(Instant::now());
            if !left.is_zero() {
                return Err(self.refuse("its store failed", left));
            }
        }
        if self.tx.capacity() == 0 {
            return Err(self.refuse("its queue is full", self.shared.backoff));
        }
        Ok(())
    }

    /// Appends one verification's records and returns once they are committed (durable).
    pub async fn commit(&self, entries: Vec<Entry>) -> Result<(), AuditUnavailable> {
        let (done, committed) = oneshot::channel();
        self.send(Pending {
            entries,
            done: Some(done),
        })?;
        committed
            .await
            .unwrap_or_else(|_| Err(self.refuse("its writer stopped", self.shared.backoff)))
    }

    /// Queues one verification's records without waiting for the commit (a decision made
    /// wholly from findings whose records are committed, ADR 0015). Kept and retried if an
    /// append fails; refused, never dropped, when the queue is full.
    pub fn enqueue(&self, entries: Vec<Entry>) -> Result<(), AuditUnavailable> {
        self.send(Pending {
            entries,
            done: None,
        })
    }

    fn send(&self, pending: Pending) -> Result<(), AuditUnavailable> {
        self.tx.try_send(pending).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                self.refuse("its queue is full", self.shared.backoff)
            }
            mpsc::error::TrySendError::Closed(_) => {
                self.refuse("its writer stopped", self.shared.backoff)
            }
        })
    }

    fn refuse(&self, reason: &str, retry_after: Duration) -> AuditUnavailable {
        self.shared.refused.fetch_add(1, Ordering::Relaxed);
        AuditUnavailable {
            reason: reason.to_owned(),
            retry_after_s: retry_after.as_secs_f64().ceil().max(1.0) as u64,
        }
    }

    /// Verifications refused because the audit log was full or failing.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// Verifications whose records wait for the writer.
    pub fn pending(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Anchors written, and anchors that could not be written.
    pub fn anchors(&self) -> (u64, u64) {
        (
            self.shared.anchors.load(Ordering::Relaxed),
            self.shared.anchor_failures.load(Ordering::Relaxed),
        )
    }
}

/// The one writer of this process: group commit, anchors, retries of queued-only records.
struct Writer {
    store: Arc<Store>,
    clock: SharedClock,
    shared: Arc<Shared>,
    max_group: usize,
    anchorer: Option<Anchorer>,
    /// Queued-only records of a failed append, appended first next time.
    carried: Vec<Entry>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Pending>) {
        let mut group = Vec::with_capacity(self.max_group);
        loop {
            let wake = self.next_wake();
            let received = match wake {
                Some(at) => tokio::time::timeout_at(at, rx.recv_many(&mut group, self.max_group))
                    .await
                    .ok(),
                None => Some(rx.recv_many(&mut group, self.max_group).await),
            };
            if received == Some(0) {
                // Every handle is gone: the process is shutting down.
                if !self.carried.is_empty() {
                    self.commit(Vec::new()).await;
                }
                break;
            }
            if !group.is_empty() || !self.carried.is_empty() {
                self.commit(std::mem::take(&mut group)).await;
            }
            if let Some(anchorer) = &mut self.anchorer
                && anchorer.due()
            {
                anchorer.write(&self.clock, &self.shared).await;
            }
        }
        if let Some(anchorer) = &mut self.anchorer {
            anchorer.write(&self.clock, &self.shared).await;
        }
    }

    /// When to wake without a new record: to retry carried records, or to anchor.
    fn next_wake(&self) -> Option<Instant> {
        let retry = (!self.carried.is_empty()).then(|| Instant::now() + self.shared.backoff);
        let anchor = self.anchorer.as_ref().and_then(Anchorer::due_at);
        match (retry, anchor) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    async fn commit(&mut self, group: Vec<Pending>) {
        // Carried (queued-only, oldest) first, then this group's queued-only records, then the
        // awaited ones: on failure the first `keep` entries are carried again.
        let mut entries = std::mem::take(&mut self.carried);
        let mut awaited = Vec::new();
        let mut waiting = Vec::new();
        for pending in group {
            match pending.done {
                Some(done) => {
                    awaited.extend(pending.entries);
                    waiting.push(done);
                }
                None => entries.extend(pending.entries),
            }
        }
        let keep = entries.len();
        entries.extend(awaited);
        if entries.is_empty() {
            for done in waiting {
                let _ = done.send(Ok(()));
            }
            return;
        }
        let entries = Arc::new(entries);
        match append(&self.store, self.clock.now(), entries.clone()).await {
            Ok(head) => {
                *self.shared.failing_until.lock().expect("audit state") = None;
                for done in waiting {
                    let _ = done.send(Ok(()));
                }
                if let Some(anchorer) = &mut self.anchorer {
                    anchorer.committed(head, entries.len() as u64);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "audit append failed: new verifications are refused until one succeeds");
                let until = Instant::now() + self.shared.backoff;
                *self.shared.failing_until.lock().expect("audit state") = Some(until);
                let refused = AuditUnavailable {
                    reason: "its store failed".into(),
                    retry_after_s: self.shared.backoff.as_secs().max(1),
                };
                self.shared
                    .refused
                    .fetch_add(waiting.len() as u64, Ordering::Relaxed);
                for done in waiting {
                    let _ = done.send(Err(refused.clone()));
                }
                let mut entries = Arc::unwrap_or_clone(entries);
                entries.truncate(keep);
                self.carried = entries;
            }
        }
    }
}

/// Signs the committed head every `every` entries or `interval`, whichever comes first.
struct Anchorer {
    key: SigningKey,
    out: PathBuf,
    every: u64,
    interval: Duration,
    /// The committed head not yet anchored, and how many entries since the last anchor.
    head: Option<(i64, String)>,
    since: u64,
    last: Instant,
}

impl Anchorer {
    fn new(a: Anchoring) -> Self {
        Self {
            key: a.key,
            out: a.out,
            every: a.every,
            interval: a.interval,
            head: None,
            since: 0,
            last: Instant::now(),
        }
    }

    fn committed(&mut self, head: (i64, String), entries: u64) {
        self.head = Some(head);
        self.since += entries;
    }

    /// When the interval runs out, if anything is waiting to be anchored.
    fn due_at(&self) -> Option<Instant> {
        self.head.as_ref().map(|_| self.last + self.interval)
    }

    fn due(&self) -> bool {
        self.head.is_some()
            && (self.since >= self.every || Instant::now() >= self.last + self.interval)
    }

    /// Signs and appends the waiting head (if any). A failure is logged and counted, and the
    /// head stays waiting for the next turn: the records themselves are committed already.
    async fn write(&mut self, clock: &SharedClock, shared: &Shared) {
        let Some((seq, hash)) = self.head.clone() else {
            return;
        };
        self.last = Instant::now();
        let anchor = Anchor::sign(&self.key, seq, hash, rfc3339(clock.now()));
        let (out, line) = (self.out.clone(), anchor.line());
        let written = tokio::task::spawn_blocking(move || append_line(&out, &line))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
        match written {
            Ok(()) => {
                self.head = None;
                self.since = 0;
                shared.anchors.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                shared.anchor_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, file = %self.out.display(), "audit anchor not written");
            }
        }
    }
}

/// Appends one line and syncs it: an anchor the operator relies on is on disk.
fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = crate::owner_only(path)?;
    file.write_all(line.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_data()
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A signed checkpoint of the chain: "entry `seq` had hash `hash` at `at`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
    pub at: String,
    /// Ed25519 over [`Anchor::message`], base64.
    pub signature: String,
}

impl Anchor {
    const DOMAIN: &'static str = "kezek-audit-anchor-v1";

    fn message(seq: i64, hash: &str, at: &str) -> Vec<u8> {
        format!("{}\n{seq}\n{hash}\n{at}\n", Self::DOMAIN).into_bytes()
    }

    pub fn sign(key: &SigningKey, seq: i64, hash: String, at: String) -> Self {
        let signature = key.sign(&Self::message(seq, &hash, &at));
        Self {
            seq,
            signature: base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
            hash,
            at,
        }
    }

    /// Whether `key` signed exactly this anchor.
    pub fn signed_by(&self, key: &VerifyingKey) -> bool {
        base64::engine::general_purpose::STANDARD
            .decode(&self.signature)
            .ok()
            .and_then(|bytes| Signature::from_slice(&bytes).ok())
            .is_some_and(|signature| {
                key.verify_strict(&Self::message(self.seq, &self.hash, &self.at), &signature)
                    .is_ok()
            })
    }

    fn line(&self) -> String {
        serde_json::to_string(self).expect("an anchor serialises")
    }
}

/// An entry's hash: SHA-256(`prev_hash` ‖ `body`), hex.
pub fn link(prev_hash: &str, body: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

/// The chain head: the last entry's sequence number and hash.
async fn head(store: &Store) -> anyhow::Result<(i64, String)> {
    store
        .transact(|tx| -> Result<_, DbError> {
            let head = tx.query("SELECT seq, hash FROM audit_head WHERE id = 1", &[])?;
            let head = head
                .first()
                .ok_or_else(|| DbError::Other("audit_head is missing".into()))?;
            Ok((head[0].int()?, head[1].text()?.to_owned()))
        })
        .await
        .map_err(|e| anyhow::anyhow!("reading the audit chain head: {e}"))
}

/// Appends `entries` in one transaction, the head locked; returns the new head.
async fn append(
    store: &Store,
    now: time::OffsetDateTime,
    entries: Arc<Vec<Entry>>,
) -> Result<(i64, String), DbError> {
    let now = rfc3339(now);
    store
        .transact(move |tx| {
            let head = tx.query("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE", &[])?;
            let head = head.first().ok_or_else(|| DbError::Other("audit_head is missing".into()))?;
            let (mut seq, mut hash) = (head[0].int()?, head[1].text()?.to_owned());
            for Entry { kind, body } in entries.iter() {
                let next = link(&hash, body);
                seq += 1;
                tx.execute(
                    "INSERT INTO audit_log (seq, recorded_at, kind, body, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6)",
                    &[Val::Int(seq), Val::from(now.as_str()), Val::from(*kind), Val::from(body.as_str()), Val::from(hash.as_str()), Val::from(next.as_str())],
                )?;
                hash = next;
            }
            tx.execute("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", &[Val::Int(seq), Val::from(hash.as_str())])?;
            Ok((seq, hash))
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

/// Entries read per query while walking the chain.
const PAGE: i64 = 5_000;

/// Walks the chain up to the head as it was when the walk began (a running gateway may
/// append meanwhile); returns the number of entries, or the first broken link.
pub async fn verify(store: &Store) -> anyhow::Result<Result<i64, BrokenLink>> {
    let (head_seq, head_hash) = head(store).await?;
    let mut expected_prev = "0".repeat(64);
    let mut expected_seq = 1;
    loop {
        let after = expected_seq - 1;
        let rows = store
            .transact(move |tx| {
                tx.query(
                    "SELECT seq, body, prev_hash, hash FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
                    &[Val::Int(after), Val::Int(head_seq), Val::Int(PAGE)],
                )
            })
            .await
            .map_err(|e| anyhow::anyhow!("reading the audit log: {e}"))?;
        if rows.is_empty() {
            break;
        }
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
    }
    if head_seq != expected_seq - 1 || head_hash != expected_prev {
        return Ok(Err(BrokenLink {
            seq: expected_seq,
            reason:
                "the chain head does not match the last entry (entries were removed from the end)"
                    .into(),
        }));
    }
    Ok(Ok(expected_seq - 1))
}

/// An anchor the chain does not match: a rewrite, a truncation or a forged anchor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("anchor {line} of {file} (entry {seq}, signed {at}): {reason}")]
pub struct BrokenAnchor {
    pub file: String,
    /// 1-based line of the anchors file.
    pub line: usize,
    pub seq: i64,
    pub at: String,
    pub reason: String,
}

/// Checks every anchor of `anchors` (a file or a directory, as `anchor_out`) against the
/// chain in `store`: signed by `key`, and the entry it names has the hash it names. Returns
/// the number of anchors checked, or the first that fails. Run [`verify`] too: anchors
/// pin the entries they name, links pin the rest.
pub async fn verify_anchors(
    store: &Store,
    anchors: &Path,
    key: &VerifyingKey,
) -> anyhow::Result<Result<usize, BrokenAnchor>> {
    let file = anchors_file(anchors);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| anyhow::anyhow!("reading anchors {}: {e}", file.display()))?;
    let mut checked = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let anchor: Anchor = serde_json::from_str(line).map_err(|e| {
            anyhow::anyhow!("{} line {}: not an anchor: {e}", file.display(), i + 1)
        })?;
        let broken = |reason: String| BrokenAnchor {
            file: file.display().to_string(),
            line: i + 1,
            seq: anchor.seq,
            at: anchor.at.clone(),
            reason,
        };
        if !anchor.signed_by(key) {
            return Ok(Err(broken(
                "the signature does not verify with this key (a forged or altered anchor)".into(),
            )));
        }
        let seq = anchor.seq;
        let found = store
            .transact(move |tx| {
                tx.query(
                    "SELECT hash FROM audit_log WHERE seq = $1",
                    &[Val::Int(seq)],
                )
            })
            .await
            .map_err(|e| anyhow::anyhow!("reading the audit log: {e}"))?;
        let stored = found.first().map(|row| row[0].text()).transpose()?;
        match stored {
            None => {
                return Ok(Err(broken(
                    "the chain has no such entry (entries were removed)".into(),
                )));
            }
            Some(hash) if hash != anchor.hash => {
                return Ok(Err(broken(
                    "the entry's hash differs from the signed one (the chain was rewritten)".into(),
                )));
            }
            Some(_) => checked += 1,
        }
    }
    Ok(Ok(checked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreConfig;

    /// An anchor verifies with its key only, and only exactly as signed (ADR 0015).
    #[test]
    fn an_anchor_verifies_only_as_signed() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let signed = Anchor::sign(&key, 42, "ab".repeat(32), "at".into());
        let check = |anchor: Anchor, by: &SigningKey, expect: bool| {
            assert_eq!(anchor.signed_by(&by.verifying_key()), expect, "{anchor:?}");
        };
        check(signed.clone(), &key, true);
        let other = SigningKey::from_bytes(&[8; 32]);
        check(signed.clone(), &other, false);
        check(
            Anchor {
                seq: 43,
                ..signed.clone()
            },
            &key,
            false,
        );
        check(
            Anchor {
                hash: "cd".repeat(32),
                ..signed.clone()
            },
            &key,
            false,
        );
        check(
            Anchor {
                at: "later".into(),
                ..signed.clone()
            },
            &key,
            false,
        );
        check(
            Anchor {
                signature: "not base64!".into(),
                ..signed.clone()
            },
            &key,
            false,
        );
        let line: Anchor = serde_json::from_str(&signed.line()).unwrap();
        check(line, &key, true);
    }

    #[test]
    fn audit_config_denies_unknown_fields() {
        let err = toml::from_str::<AuditConfig>("anchor_evry = 5").unwrap_err();
        assert!(err.to_string().contains("anchor_evry"), "{err}");
        let c: AuditConfig = toml::from_str("anchor_every = 5").unwrap();
        assert_eq!((c.anchor_every, c.queue), (5, 10_000));
    }

    async fn bodies(store: &Store) -> String {
        store
            .transact(|tx| tx.query("SELECT body FROM audit_log ORDER BY seq", &[]))
            .await
            .unwrap()
            .iter()
            .map(|r| r[0].text().unwrap().to_owned())
            .collect()
    }

    /// A failed append answers nobody who waited for it and refuses new verifications for
    /// the back-off; the queued-only records are kept and committed once the store heals,
    /// and the gate opens again (ADR 0015: refused, never dropped).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_append_refuses_the_waiting_and_keeps_the_queued() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            Store::open(&StoreConfig::Sqlite {
                path: dir.path().join("a.sqlite3"),
                max_group: 8,
            })
            .await
            .unwrap(),
        );
        let config = AuditConfig {
            failure_backoff_s: 1,
            ..AuditConfig::default()
        };
        let clock: SharedClock = Arc::new(kezek_domain::clock::SystemClock);
        let log = AuditLog::start(store.clone(), clock, &config, None)
            .await
            .unwrap();
        let entry = |v: &str| Entry::new("decision", &serde_json::json!({ "verification": v }));
        let sql = |sql: &'static str| {
            let store = store.clone();
            async move {
                store
                    .transact(move |tx| tx.execute(sql, &[]))
                    .await
                    .unwrap()
            }
        };
        sql("CREATE TRIGGER down BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END").await;
        log.enqueue(vec![entry("queued")]).unwrap();
        let refused = log.commit(vec![entry("waited")]).await.unwrap_err();
        assert!(refused.reason.contains("store failed"), "{refused}");
        assert!(log.admit().is_err(), "admitted while the store fails");

        sql("DROP TRIGGER down").await;
        let mut all = String::new();
        for _ in 0..60 {
            all = bodies(&store).await;
            if all.contains("queued") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(all.contains("queued"), "a queued record was lost");
        assert!(
            !all.contains("waited"),
            "a refused verification's record was kept"
        );
        assert_eq!(log.admit(), Ok(()));
        assert_eq!(verify(&store).await.unwrap(), Ok(1));
    }
}
