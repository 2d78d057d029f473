//! Storage: sea-orm entities and queries. The only module that knows SQL or sea-orm.

pub mod api_keys;
pub mod audit;
pub mod changes;
pub mod entities;
mod error;
pub mod external_users;
pub mod purge;
pub mod signing_keys;
mod sql;
pub mod srp;
pub mod usage;
pub mod users;

use std::{path::Path, time::Duration};

use migration::MigratorTrait;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

pub use error::StoreError;

/// Where the data lives when `DATABASE_URL` is not given.
pub const DEFAULT_SQLITE_FILE: &str = "./data/cloudsigma-auth.db";

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("DATABASE_URL must start with sqlite: or postgres://")]
    UnsupportedUrl,
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("database migration failed: {0}")]
    Migrate(String),
}

/// How long the service waits on the database before it answers 503 instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest wait for a pooled connection (and for SQLite's write lock).
    pub acquire: Duration,
    /// Longest run of one statement on PostgreSQL; `None` for no limit.
    pub statement: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            acquire: Duration::from_millis(1_500),
            statement: Some(Duration::from_secs(5)),
        }
    }
}

/// Opens the database named by `url` (or the default SQLite file) and applies migrations.
pub async fn connect(url: Option<&str>) -> Result<DatabaseConnection, ConnectError> {
    connect_with(url, Timeouts::default()).await
}

/// [`connect`] with the given timeouts.
pub async fn connect_with(
    url: Option<&str>,
    timeouts: Timeouts,
) -> Result<DatabaseConnection, ConnectError> {
    let url = match url {
        Some(url) => url.to_owned(),
        None => {
            let dir = Path::new(DEFAULT_SQLITE_FILE)
                .parent()
                .unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir)
                .map_err(|e| ConnectError::DataDir(dir.display().to_string(), e))?;
            format!("sqlite://{DEFAULT_SQLITE_FILE}?mode=rwc")
        }
    };
    let is_sqlite = url.starts_with("sqlite:");
    if !is_sqlite && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        return Err(ConnectError::UnsupportedUrl);
    }

    let mut options = ConnectOptions::new(url);
    // While the server is down, sqlx keeps retrying a refused connection until the acquire
    // deadline; that deadline is what bounds a request's wait in an outage, so it is short.
    // Idle connections are pinged before use, so ones broken by a restart are replaced.
    options
        .sqlx_logging(false)
        .connect_timeout(timeouts.acquire)
        .acquire_timeout(timeouts.acquire)
        .test_before_acquire(true);
    if is_sqlite {
        // WAL lets readers proceed during a write; NORMAL sync is durable across a process
        // crash (the WAL is fsynced at checkpoints), which is what a daily counter needs.
        // A write lock held longer than the acquire timeout is an outage too (503).
        options.max_connections(8).map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(timeouts.acquire)
                .foreign_keys(true)
        });
    } else {
        options.max_connections(32);
        // A statement stuck on a lock or a slow plan ends server-side instead of holding
        // its connection (and the request) for ever.
        if let Some(statement) = timeouts.statement {
            options.statement_timeout(statement);
        }
    }
    // The driver's message can carry the URL (and its password); report only the kind.
    let db = Database::connect(options)
        .await
        .map_err(|e| ConnectError::Connect(error::describe(&e)))?;
    migrate(&db).await?;
    Ok(db)
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), ConnectError> {
    migration::Migrator::up(db, None)
        .await
        .map_err(|e| ConnectError::Migrate(error::describe(&e)))
}

/// Whether the database answers within `within`; what health checks report. A hung server
/// counts as down.
pub async fn ping(db: &DatabaseConnection, within: Duration) -> Result<(), StoreError> {
    match tokio::time::timeout(within, db.ping()).await {
        Ok(answer) => answer.map_err(StoreError::from),
        Err(_) => Err(StoreError::Unavailable(sea_orm::DbErr::Custom(
            "the database did not answer a ping in time".to_owned(),
        ))),
    }
}

/// The connection pool as the metrics report it: connections in use and idle, and how long one
/// acquire took (a sample of what a request waits for).
pub async fn sample_pool(db: &DatabaseConnection) -> (u32, u32, Option<Duration>) {
    async fn sample<DB: sea_orm::sqlx::Database>(
        pool: &sea_orm::sqlx::Pool<DB>,
    ) -> (u32, u32, Option<Duration>) {
        let started = std::time::Instant::now();
        let acquired = pool.acquire().await.ok().map(|connection| {
            drop(connection);
            started.elapsed()
        });
        let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
        (pool.size().saturating_sub(idle), idle, acquired)
    }
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => sample(db.get_postgres_connection_pool()).await,
        _ => sample(db.get_sqlite_connection_pool()).await,
    }
}
