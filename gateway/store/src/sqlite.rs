//! SQLite backend: one writer thread, group commit, WAL + `synchronous = FULL`.
//!
//! Every transaction of the engine runs on the writer thread inside a `SAVEPOINT` of a
//! shared `BEGIN IMMEDIATE … COMMIT`. A transaction whose closure fails is rolled back to its
//! savepoint; the others commit together. Results are handed back only after `COMMIT`
//! returned, i.e. after the WAL was fsynced: an answered booking survives a power cut.

use super::{DbError, Row, Tx, TxError, Val};
use rusqlite::{Connection, ErrorCode, types::ValueRef};
use std::path::Path;
use std::sync::mpsc;

/// What a job leaves behind for after the commit: whether it succeeded (savepoint kept) and
/// how to deliver its result once the fate of the group is known.
struct Outcome {
    ok: bool,
    deliver: Box<dyn FnOnce(Option<DbError>) + Send>,
}

type Job = Box<dyn FnOnce(&mut dyn Tx) -> Outcome + Send>;

pub(super) struct SqliteStore {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

impl SqliteStore {
    pub(super) fn open(path: &Path, max_group: usize) -> anyhow::Result<Self> {
        // 0600 before SQLite first writes: it gives its WAL and shared-memory files the
        // database file's mode. Files an older version left readable are tightened.
        super::owner_only(path).map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            if Path::new(&side).exists() {
                super::owner_only(Path::new(&side))
                    .map_err(|e| anyhow::anyhow!("opening {}: {e}", Path::new(&side).display()))?;
            }
        }
        let conn = Connection::open(path)
            .map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        anyhow::ensure!(
            mode.eq_ignore_ascii_case("wal"),
            "{}: could not switch to WAL (got {mode})",
            path.display()
        );
        // FULL: the WAL is fsynced at every commit, so a commit is durable (ADR 0005).
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        let (tx, rx) = mpsc::channel::<Job>();
        let max_group = max_group.max(1);
        std::thread::Builder::new()
            .name("kezek-sqlite-writer".into())
            .spawn(move || writer(conn, rx, max_group))?;
        Ok(Self { jobs: tx })
    }

    pub(super) async fn transact<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: TxError,
        F: Fn(&mut dyn Tx) -> Result<T, E> + Send + Sync + 'static,
    {
        let (send, recv) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |tx: &mut dyn Tx| {
            let result = f(tx);
            Outcome {
                ok: result.is_ok(),
                deliver: Box::new(move |commit_error| {
                    let result = match (commit_error, result) {
                        (Some(e), Ok(_)) => Err(E::from(e)),
                        (_, r) => r,
                    };
                    let _ = send.send(result);
                }),
            }
        });
        self.jobs
            .send(job)
            .map_err(|_| E::from(DbError::Other("the SQLite writer has stopped".into())))?;
        recv.await.map_err(|_| {
            E::from(DbError::Other(
                "the SQLite writer dropped a transaction".into(),
            ))
        })?
    }
}

fn writer(mut conn: Connection, jobs: mpsc::Receiver<Job>, max_group: usize) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < max_group {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_group(&mut conn, batch);
    }
}

fn run_group(conn: &mut Connection, batch: Vec<Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let e = map_err(e);
        for job in batch {
            fail_unrun(job, &e);
        }
        return;
    }
    let mut delivered: Vec<Outcome> = Vec::with_capacity(batch.len());
    let mut broken: Option<DbError> = None;
    for job in batch {
        if let Some(e) = &broken {
            fail_unrun(job, e);
            continue;
        }
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            let e = map_err(e);
            fail_unrun(job, &e);
            broken = Some(e);
            continue;
        }
        let outcome = {
            let mut tx = SqliteTx { conn };
            job(&mut tx)
        };
        let ended = if outcome.ok {
            conn.execute_batch("RELEASE job")
        } else {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")
        };
        if conn.is_autocommit() || ended.is_err() {
            // SQLite rolled the whole transaction back (I/O error, disk full…): nothing of
            // this group is committed.
            let e = ended
                .err()
                .map(map_err)
                .unwrap_or_else(|| DbError::Other("transaction rolled back by SQLite".into()));
            broken = Some(e);
        }
        delivered.push(outcome);
    }
    let commit_error = match broken {
        Some(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Some(e)
        }
        None => conn.execute_batch("COMMIT").err().map(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            map_err(e)
        }),
    };
    for outcome in delivered {
        (outcome.deliver)(commit_error.clone());
    }
}

/// A job that never ran still owes its caller an answer: run it against a transaction that
/// refuses every statement, so it fails with `e` and delivers that failure.
fn fail_unrun(job: Job, e: &DbError) {
    let mut dead = DeadTx(e.clone());
    let outcome = job(&mut dead);
    (outcome.deliver)(Some(e.clone()));
}

struct DeadTx(DbError);

impl Tx for DeadTx {
    fn execute(&mut self, _: &str, _: &[Val]) -> Result<u64, DbError> {
        Err(self.0.clone())
    }
    fn query(&mut self, _: &str, _: &[Val]) -> Result<Vec<Row>, DbError> {
        Err(self.0.clone())
    }
    fn dialect(&self) -> &'static str {
        "sqlite"
    }
}

struct SqliteTx<'c> {
    conn: &'c Connection,
}

/// `$1` → `?1`, and `FOR UPDATE` dropped (the writer is exclusive already).
fn translate(sql: &str) -> String {
    sql.replace('$', "?").replace(" FOR UPDATE", "")
}

fn to_sql(v: &Val) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match v {
        Val::Int(i) => Value::Integer(*i),
        Val::Text(s) => Value::Text(s.clone()),
        Val::NullInt | Val::NullText => Value::Null,
    }
}

impl Tx for SqliteTx<'_> {
    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError> {
        let mut stmt = self.conn.prepare_cached(&translate(sql)).map_err(map_err)?;
        let values: Vec<_> = params.iter().map(to_sql).collect();
        let n = stmt
            .execute(rusqlite::params_from_iter(values))
            .map_err(map_err)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, DbError> {
        let mut stmt = self.conn.prepare_cached(&translate(sql)).map_err(map_err)?;
        let columns = stmt.column_count();
        let values: Vec<_> = params.iter().map(to_sql).collect();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(values))
            .map_err(map_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(map_err)? {
            let mut r = Vec::with_capacity(columns);
            for i in 0..columns {
                r.push(match row.get_ref(i).map_err(map_err)? {
                    ValueRef::Integer(i) => Val::Int(i),
                    ValueRef::Real(f) => Val::Int(f as i64),
                    ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Val::Text(String::from_utf8_lossy(b).into_owned()),
                    ValueRef::Null => Val::NullText,
                });
            }
            out.push(r);
        }
        Ok(out)
    }

    fn dialect(&self) -> &'static str {
        "sqlite"
    }
}

fn map_err(e: rusqlite::Error) -> DbError {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) if f.code == ErrorCode::ConstraintViolation => {
            DbError::Unique(msg.clone().unwrap_or_else(|| e.to_string()))
        }
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
        {
            DbError::Retry(e.to_string())
        }
        _ => DbError::Other(e.to_string()),
    }
}
