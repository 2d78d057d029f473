//! Storage: sea-orm entities and queries. The only module that knows SQL or sea-orm.

pub mod api_keys;
pub mod entities;
mod error;
pub mod signing_keys;
mod sql;
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

/// Opens the database named by `url` (or the default SQLite file) and applies migrations.
pub async fn connect(url: Option<&str>) -> Result<DatabaseConnection, ConnectError> {
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
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5));
    if is_sqlite {
        // WAL lets readers proceed during a write; NORMAL sync is durable across a process
        // crash (the WAL is fsynced at checkpoints), which is what a daily counter needs.
        options.max_connections(8).map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    } else {
        options.max_connections(32);
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

/// Whether the database answers; what health checks report.
pub async fn ping(db: &DatabaseConnection) -> Result<(), StoreError> {
    db.ping().await.map_err(StoreError::from)
}
