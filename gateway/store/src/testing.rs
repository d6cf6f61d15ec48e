//! The PostgreSQL database that tests run against (issue 8: no silent skips).
//!
//! A test that needs PostgreSQL carries `#[ignore = "needs PostgreSQL: KEZEK_TEST_POSTGRES_URL
//! and --include-ignored"]`, so a run without a database reports it as *ignored*, never as
//! passed. `make test` adds `--include-ignored` when `KEZEK_TEST_POSTGRES_URL` is set (`.ci/run`
//! sets it, and fails if any test is still reported ignored); an included PostgreSQL test then
//! cannot pass without its database, because [`postgres`] panics.

use super::StoreConfig;
use std::path::Path;

/// The variable naming the test database.
pub const POSTGRES_URL_VAR: &str = "KEZEK_TEST_POSTGRES_URL";

/// A store on the test database in a schema of its own, so tests share one database without
/// meeting. Panics when no test database is configured.
pub fn postgres(pool_size: usize) -> StoreConfig {
    let url = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
        panic!("this test runs against PostgreSQL: set {POSTGRES_URL_VAR} (make test does it under .ci/run)")
    });
    StoreConfig::Postgres {
        url,
        password_env: None,
        schema: Some(format!("t{}", uuid::Uuid::new_v4().simple())),
        pool_size,
    }
}

/// The two databases a store test runs on, as twin tests (`…_on_sqlite` and an ignored
/// `…_on_postgres`, or a `sqlite` / `postgres` pair).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// A fresh store on this backend: the SQLite file `<tag>.sqlite3` in `dir`, or a schema
    /// of its own on the test database ([`postgres`]).
    pub fn store(self, dir: &Path, tag: &str) -> StoreConfig {
        match self {
            Backend::Sqlite => StoreConfig::Sqlite {
                path: dir.join(format!("{tag}.sqlite3")),
                max_group: 256,
            },
            Backend::Postgres => postgres(8),
        }
    }
}
