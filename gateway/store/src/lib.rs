//! The store (bookings and the audit log): one SQL dialect subset, two databases.
//!
//! * **SQLite** (embedded, the default): one file, readable by its owner only (0600), WAL
//!   journal, `synchronous = FULL`, so a committed transaction survives a power cut. All writes go through one writer thread that
//!   commits *groups* of transactions (each one in its own savepoint): one fsync serves many
//!   bookings, and nobody is answered before the fsync returned (docs/adr/0005).
//! * **PostgreSQL** for several gateway instances sharing one database: a small connection
//!   pool, `READ COMMITTED` transactions, conditional `UPDATE`s and unique indexes do the
//!   arbitration (never an in-process lock), serialization failures and deadlocks are retried.
//!
//! Business logic is written once, against [`Tx`]: `$1`-style parameters, `INTEGER`/`BIGINT`
//! and `TEXT` columns, `ON CONFLICT`, `RETURNING`, partial unique indexes — the subset both
//! databases speak. `FOR UPDATE` is dropped on SQLite, whose writer is already exclusive.
//! One set of migrations (`gateway/store/migrations/`) serves both. The audit log's hash
//! chain lives here too ([`audit`]): it is written in the same store.
//!
//! **Architecture invariant:** this crate knows SQL and the audit chain, nothing of HTTP or
//! wasmtime; business rules (booking) are its callers', written against [`Tx`].

pub mod audit;
pub mod limits;
mod postgres;
mod sqlite;
#[cfg(feature = "test-util")]
pub mod testing;

use serde::Deserialize;
use std::path::PathBuf;

/// Opens `path` for appending, creating it readable and writable by its owner only (0600),
/// and tightens an existing file to that: the store holds personal data and the audit
/// trail (issue 11 item 5).
#[cfg(unix)]
pub(crate) fn owner_only(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(not(unix))]
pub(crate) fn owner_only(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
}

/// Where bookings are kept (`[store]` in the config).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", tag = "kind")]
pub enum StoreConfig {
    /// Embedded SQLite file (created if missing). One gateway process per file.
    Sqlite {
        /// Database file; a relative path is relative to the config file.
        #[serde(default = "default_sqlite_path")]
        path: PathBuf,
        /// Most transactions committed together under one fsync.
        #[serde(default = "default_group")]
        max_group: usize,
    },
    /// PostgreSQL shared by several gateway instances.
    Postgres {
        /// libpq-style URL, e.g. `postgres://kezek@127.0.0.1:5432/kezek`. Put the password in
        /// the environment variable named by `password_env`, not here.
        url: String,
        /// Environment variable holding the password, if any.
        #[serde(default)]
        password_env: Option<String>,
        /// Schema to use (created if missing); default `public`.
        #[serde(default)]
        schema: Option<String>,
        /// Connections per gateway instance.
        #[serde(default = "default_pool")]
        pool_size: usize,
    },
}

fn default_sqlite_path() -> PathBuf {
    PathBuf::from("kezek-bookings.sqlite3")
}
fn default_group() -> usize {
    256
}
fn default_pool() -> usize {
    16
}

impl StoreConfig {
    /// A relative SQLite path is relative to the config file (like every path of the config).
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        if let StoreConfig::Sqlite { path, .. } = self
            && path.is_relative()
        {
            *path = base.join(&*path);
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig::Sqlite {
            path: default_sqlite_path(),
            max_group: default_group(),
        }
    }
}

/// A value bound to or read from SQL. Only what the booking schema uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    Int(i64),
    Text(String),
    /// A NULL in an integer column.
    NullInt,
    /// A NULL in a text column.
    NullText,
}

/// Typed reads: a value of the wrong kind is an error, and NULL is only ever `None`, never a
/// silent 0 or "" (a NULL where the schema says NOT NULL is a broken row, not a zero).
impl Val {
    /// An integer; NULL or text is an error.
    pub fn int(&self) -> Result<i64, DbError> {
        match self {
            Val::Int(i) => Ok(*i),
            other => Err(other.mismatch("an integer")),
        }
    }
    /// A text; NULL or an integer is an error.
    pub fn text(&self) -> Result<&str, DbError> {
        match self {
            Val::Text(s) => Ok(s),
            other => Err(other.mismatch("a text")),
        }
    }
    /// An integer or NULL (SQLite reports every NULL as [`Val::NullText`]).
    pub fn opt_int(&self) -> Result<Option<i64>, DbError> {
        match self {
            Val::Int(i) => Ok(Some(*i)),
            Val::NullInt | Val::NullText => Ok(None),
            other => Err(other.mismatch("an integer or NULL")),
        }
    }
    /// A text or NULL.
    pub fn opt_text(&self) -> Result<Option<&str>, DbError> {
        match self {
            Val::Text(s) => Ok(Some(s)),
            Val::NullInt | Val::NullText => Ok(None),
            other => Err(other.mismatch("a text or NULL")),
        }
    }
    fn mismatch(&self, wanted: &str) -> DbError {
        let found = match self {
            Val::Int(i) => format!("the integer {i}"),
            Val::Text(_) => "a text".to_owned(),
            Val::NullInt | Val::NullText => "NULL".to_owned(),
        };
        DbError::Other(format!("expected {wanted}, found {found}"))
    }
}

/// A row read by column name. `select` is the column list of the query the row came from
/// (`"id, day, hour"`), so names and positions cannot drift apart, and a NULL or a wrong
/// kind is reported with the column it was found in.
#[derive(Debug, Clone, Copy)]
pub struct Columns<'r> {
    select: &'static str,
    row: &'r [Val],
}

impl<'r> Columns<'r> {
    /// Fails when the row does not have one value per name of `select`.
    pub fn new(select: &'static str, row: &'r [Val]) -> Result<Self, DbError> {
        let names = select.split(',').count();
        if names != row.len() {
            return Err(DbError::Other(format!(
                "a row of {} values for the {names} columns {select}",
                row.len()
            )));
        }
        Ok(Self { select, row })
    }

    fn get(&self, name: &str) -> Result<&'r Val, DbError> {
        self.select
            .split(',')
            .position(|c| c.trim() == name)
            .map(|i| &self.row[i])
            .ok_or_else(|| DbError::Other(format!("no column {name} in {}", self.select)))
    }

    fn named<T>(
        &self,
        name: &str,
        read: impl FnOnce(&'r Val) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        read(self.get(name)?).map_err(|e| DbError::Other(format!("column {name}: {e}")))
    }

    pub fn int(&self, name: &str) -> Result<i64, DbError> {
        self.named(name, Val::int)
    }
    pub fn text(&self, name: &str) -> Result<&'r str, DbError> {
        self.named(name, Val::text)
    }
    pub fn opt_int(&self, name: &str) -> Result<Option<i64>, DbError> {
        self.named(name, Val::opt_int)
    }
    pub fn opt_text(&self, name: &str) -> Result<Option<&'r str>, DbError> {
        self.named(name, Val::opt_text)
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_owned())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Val::Text(v.clone())
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        v.map_or(Val::NullText, Val::Text)
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Val::NullInt, Val::Int)
    }
}

pub type Row = Vec<Val>;

/// Database errors, classified for the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// A unique constraint refused the write; the text names the index or the columns.
    #[error("unique constraint: {0}")]
    Unique(String),
    /// A serialization failure or deadlock: the whole transaction may be retried.
    #[error("transient conflict: {0}")]
    Retry(String),
    /// Anything else (I/O, connection, SQL).
    #[error("database: {0}")]
    Other(String),
}

/// One transaction. Statements use `$1, $2…` parameters.
pub trait Tx {
    /// Runs a statement; returns the number of rows changed.
    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError>;
    /// Runs a query; returns every row.
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, DbError>;
    /// Which database this is ("sqlite" or "postgres").
    fn dialect(&self) -> &'static str;
}

/// What a transaction's error type must tell the store: was it a retryable conflict?
pub trait TxError: From<DbError> + Send + 'static {
    fn is_retryable(&self) -> bool;
}

impl TxError for DbError {
    fn is_retryable(&self) -> bool {
        matches!(self, DbError::Retry(_))
    }
}

/// The migrations, in order. Written once for both databases.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "booking", include_str!("../migrations/0001_booking.sql")),
    (2, "audit", include_str!("../migrations/0002_audit.sql")),
    (
        3,
        "priority_by_category",
        include_str!("../migrations/0003_priority_by_category.sql"),
    ),
    (
        4,
        "personal-data-retention",
        include_str!("../migrations/0004_personal_data_retention.sql"),
    ),
];

/// The open store.
#[derive(Debug)]
pub struct Store {
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(Box<postgres::PgStore>),
}

impl Store {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub async fn open(config: &StoreConfig) -> anyhow::Result<Self> {
        let backend = match config {
            StoreConfig::Sqlite { path, max_group } => {
                Backend::Sqlite(sqlite::SqliteStore::open(path, *max_group)?)
            }
            StoreConfig::Postgres {
                url,
                password_env,
                schema,
                pool_size,
            } => {
                let password =
                    match password_env {
                        Some(var) => Some(std::env::var(var).map_err(|_| {
                            anyhow::anyhow!("environment variable {var} is not set")
                        })?),
                        None => None,
                    };
                Backend::Postgres(Box::new(
                    postgres::PgStore::connect(
                        url,
                        password.as_deref(),
                        schema.as_deref(),
                        (*pool_size).max(1),
                    )
                    .await?,
                ))
            }
        };
        let store = Store { backend };
        store.migrate().await?;
        Ok(store)
    }

    /// "sqlite" or "postgres".
    pub fn dialect(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Runs `f` in one transaction and commits it; the result is returned only after the
    /// commit is durable. An `Err` from `f` rolls its writes back. Retryable conflicts
    /// (PostgreSQL serialization failures, deadlocks) run `f` again, a few times.
    pub async fn transact<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: TxError,
        F: Fn(&mut dyn Tx) -> Result<T, E> + Send + Sync + 'static,
    {
        match &self.backend {
            Backend::Sqlite(s) => s.transact(f).await,
            Backend::Postgres(p) => p.transact(f).await,
        }
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        self.transact(|tx| -> Result<(), DbError> {
            if tx.dialect() == "postgres" {
                // Several instances may start at once: one migrates, the others wait.
                tx.query("SELECT pg_advisory_xact_lock(707707)", &[])?;
            }
            tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL)",
                &[],
            )?;
            for (version, name, sql) in MIGRATIONS {
                let done = tx.query(
                    "SELECT version FROM schema_migrations WHERE version = $1",
                    &[Val::Int(*version)],
                )?;
                if !done.is_empty() {
                    continue;
                }
                for statement in split_statements(sql) {
                    tx.execute(&statement, &[])?;
                }
                tx.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    &[Val::Int(*version), Val::from(*name)],
                )?;
            }
            Ok(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("migrating the booking store: {e}"))
    }
}

/// Splits a migration file into statements: `;` at the end of a line ends one; `--` lines
/// are comments.
fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("--") || trimmed.is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(';') {
            let statement = current.trim().trim_end_matches(';').to_owned();
            out.push(statement);
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_split_into_statements() {
        let statements = split_statements(MIGRATIONS[0].2);
        assert!(statements.len() > 5);
        assert!(statements.iter().all(|s| !s.ends_with(';')));
    }

    /// A booking answered as confirmed survives a power cut: WAL, synchronous = FULL (2).
    #[tokio::test]
    async fn sqlite_is_wal_with_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig::Sqlite {
            path: dir.path().join("d.sqlite3"),
            max_group: 8,
        })
        .await
        .unwrap();
        let (sync, mode) = store
            .transact(|tx| -> Result<(i64, String), DbError> {
                let sync = tx.query("PRAGMA synchronous", &[])?[0][0].int()?;
                let mode = tx.query("PRAGMA journal_mode", &[])?[0][0]
                    .text()?
                    .to_owned();
                Ok((sync, mode))
            })
            .await
            .unwrap();
        assert_eq!((sync, mode.as_str()), (2, "wal"));
    }

    /// A failing transaction in a group rolls back alone; the others commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_group_commit_isolates_a_failed_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(
            Store::open(&StoreConfig::Sqlite {
                path: dir.path().join("g.sqlite3"),
                max_group: 64,
            })
            .await
            .unwrap(),
        );
        let mut tasks = Vec::new();
        for i in 0..50i64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .transact(move |tx| -> Result<(), DbError> {
                        tx.execute(
                            "INSERT INTO accounts (id, debt_kzt, updated_at) VALUES ($1, $2, 0)",
                            &[Val::Text(format!("a{i}")), Val::Int(i)],
                        )?;
                        if i % 5 == 0 {
                            return Err(DbError::Other("refused".into()));
                        }
                        Ok(())
                    })
                    .await
            }));
        }
        for t in tasks {
            let _ = t.await.unwrap();
        }
        let n = store
            .transact(|tx| -> Result<i64, DbError> {
                tx.query("SELECT COUNT(*) FROM accounts", &[])?[0][0].int()
            })
            .await
            .unwrap();
        assert_eq!(n, 40);
    }

    /// NULL is never read as 0 or "": it is `None` where the column may be NULL and an error
    /// where it may not; a wrong kind is an error too.
    #[test]
    fn null_is_never_read_as_zero() {
        assert_eq!(Val::Int(7).int(), Ok(7));
        assert!(Val::NullInt.int().is_err());
        assert!(Val::NullText.int().is_err());
        assert!(Val::NullText.text().is_err());
        assert!(Val::Text("7".into()).int().is_err());
        assert_eq!(Val::NullText.opt_int(), Ok(None));
        assert_eq!(Val::NullInt.opt_text(), Ok(None));
        assert!(Val::Int(1).opt_text().is_err());
    }

    #[test]
    fn columns_are_read_by_the_name_in_their_select() {
        let row = vec![Val::from("a"), Val::Int(3), Val::NullText];
        let c = Columns::new("id, hour, priority", &row).unwrap();
        assert_eq!((c.text("id"), c.int("hour")), (Ok("a"), Ok(3)));
        assert_eq!(c.opt_text("priority"), Ok(None));
        let e = c.int("priority").unwrap_err().to_string();
        assert!(e.contains("column priority") && e.contains("NULL"), "{e}");
        assert!(c.int("ticket").is_err());
        assert!(Columns::new("id, hour", &row).is_err());
    }

    #[test]
    fn store_config_defaults_to_embedded_sqlite() {
        let cfg: StoreConfig = toml::from_str("kind = \"sqlite\"").unwrap();
        assert!(matches!(cfg, StoreConfig::Sqlite { max_group: 256, .. }));
        let err = toml::from_str::<StoreConfig>("kind = \"sqlite\"\npaht = \"x\"").unwrap_err();
        assert!(err.to_string().contains("paht"));
    }
}
