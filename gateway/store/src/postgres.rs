//! PostgreSQL backend: a small pool of connections; each transaction runs on a blocking
//! thread that drives the async client (so the engine's logic is written once, against the
//! synchronous [`Tx`]). `READ COMMITTED`; arbitration by conditional `UPDATE`s (row locks,
//! re-checked after waiting) and unique indexes; deadlocks and serialization failures retried.

use super::{DbError, Row, Tx, TxError, Val};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

pub(super) struct PgStore {
    config: tokio_postgres::Config,
    schema: Option<String>,
    idle: Mutex<Vec<Conn>>,
    permits: Semaphore,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

const ATTEMPTS: usize = 8;

impl PgStore {
    pub(super) async fn connect(
        url: &str,
        password: Option<&str>,
        schema: Option<&str>,
        pool_size: usize,
    ) -> anyhow::Result<Self> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| anyhow::anyhow!("store url: {e}"))?;
        if let Some(p) = password {
            config.password(p);
        }
        if let Some(schema) = schema {
            anyhow::ensure!(
                !schema.is_empty()
                    && schema
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "store schema must be letters, digits and _"
            );
        }
        let store = PgStore {
            config,
            schema: schema.map(str::to_owned),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(pool_size),
        };
        // Fail fast on a wrong URL, and create the schema.
        let conn = store.open_conn().await?;
        store.idle.lock().expect("pool lock").push(conn);
        Ok(store)
    }

    async fn open_conn(&self) -> anyhow::Result<Conn> {
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| anyhow::anyhow!("connecting to PostgreSQL: {e}"))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection ended");
            }
        });
        if let Some(schema) = &self.schema {
            client
                .batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}"
                ))
                .await
                .map_err(|e| anyhow::anyhow!("PostgreSQL schema {schema}: {e}"))?;
        }
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    pub(super) async fn transact<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: TxError,
        F: Fn(&mut dyn Tx) -> Result<T, E> + Send + Sync + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| E::from(DbError::Other("pool closed".into())))?;
        let pooled = self.idle.lock().expect("pool lock").pop();
        let mut conn = match pooled {
            Some(c) if !c.client.is_closed() => c,
            _ => self
                .open_conn()
                .await
                .map_err(|e| E::from(DbError::Other(e.to_string())))?,
        };
        let f = std::sync::Arc::new(f);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let job = f.clone();
            let (back, result) = tokio::task::spawn_blocking(move || {
                let handle = Handle::current();
                let result = run_once(&handle, &mut conn, &*job);
                (conn, result)
            })
            .await
            .map_err(|e| E::from(DbError::Other(format!("transaction thread: {e}"))))?;
            conn = back;
            match result {
                Err(e) if e.is_retryable() && attempt < ATTEMPTS => {
                    tokio::time::sleep(std::time::Duration::from_millis(attempt as u64 * 2)).await;
                    continue;
                }
                result => {
                    if !conn.client.is_closed() {
                        self.idle.lock().expect("pool lock").push(conn);
                    }
                    return result;
                }
            }
        }
    }
}

fn run_once<T, E: TxError>(
    handle: &Handle,
    conn: &mut Conn,
    f: &(dyn Fn(&mut dyn Tx) -> Result<T, E> + Send + Sync),
) -> Result<T, E> {
    handle
        .block_on(conn.client.batch_execute("BEGIN"))
        .map_err(map_err)?;
    let result = {
        let mut tx = PgTx { handle, conn };
        f(&mut tx)
    };
    match result {
        Ok(v) => match handle.block_on(conn.client.batch_execute("COMMIT")) {
            Ok(()) => Ok(v),
            Err(e) => {
                let _ = handle.block_on(conn.client.batch_execute("ROLLBACK"));
                Err(E::from(map_err(e)))
            }
        },
        Err(e) => {
            let _ = handle.block_on(conn.client.batch_execute("ROLLBACK"));
            Err(e)
        }
    }
}

struct PgTx<'a> {
    handle: &'a Handle,
    conn: &'a mut Conn,
}

impl PgTx<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, DbError> {
        if let Some(s) = self.conn.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self
            .handle
            .block_on(self.conn.client.prepare(sql))
            .map_err(map_err)?;
        self.conn.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

fn params(values: &[Val]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    values
        .iter()
        .map(|v| -> Box<dyn ToSql + Sync + Send> {
            match v {
                Val::Int(i) => Box::new(*i),
                Val::Text(s) => Box::new(s.clone()),
                Val::NullInt => Box::new(None::<i64>),
                Val::NullText => Box::new(None::<String>),
            }
        })
        .collect()
}

impl Tx for PgTx<'_> {
    fn execute(&mut self, sql: &str, values: &[Val]) -> Result<u64, DbError> {
        let statement = self.statement(sql)?;
        let owned = params(values);
        let refs: Vec<&(dyn ToSql + Sync)> =
            owned.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect();
        self.handle
            .block_on(self.conn.client.execute(&statement, &refs))
            .map_err(map_err)
    }

    fn query(&mut self, sql: &str, values: &[Val]) -> Result<Vec<Row>, DbError> {
        let statement = self.statement(sql)?;
        let owned = params(values);
        let refs: Vec<&(dyn ToSql + Sync)> =
            owned.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect();
        let rows = self
            .handle
            .block_on(self.conn.client.query(&statement, &refs))
            .map_err(map_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut r = Vec::with_capacity(row.len());
            for (i, column) in row.columns().iter().enumerate() {
                let ty = column.type_();
                let v = if *ty == Type::INT8 {
                    row.try_get::<_, Option<i64>>(i)
                        .map(|v| v.map_or(Val::NullInt, Val::Int))
                } else if *ty == Type::INT4 {
                    row.try_get::<_, Option<i32>>(i)
                        .map(|v| v.map_or(Val::NullInt, |v| Val::Int(v as i64)))
                } else if *ty == Type::BOOL {
                    row.try_get::<_, Option<bool>>(i)
                        .map(|v| v.map_or(Val::NullInt, |v| Val::Int(v as i64)))
                } else if *ty == Type::VOID {
                    Ok(Val::NullText)
                } else {
                    row.try_get::<_, Option<String>>(i)
                        .map(|v| v.map_or(Val::NullText, Val::Text))
                };
                r.push(v.map_err(map_err)?);
            }
            out.push(r);
        }
        Ok(out)
    }

    fn dialect(&self) -> &'static str {
        "postgres"
    }
}

fn map_err(e: tokio_postgres::Error) -> DbError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION {
            return DbError::Unique(db.constraint().unwrap_or(db.message()).to_owned());
        }
        if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
        {
            return DbError::Retry(db.message().to_owned());
        }
        return DbError::Other(format!("{}: {}", code.code(), db.message()));
    }
    DbError::Other(e.to_string())
}
