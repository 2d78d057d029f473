//! Database errors, split into "unreachable" (503) and everything else (500).

use std::ops::Deref;

use sea_orm::{DbErr, RuntimeErr, sqlx};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("the database cannot be reached")]
    Unavailable(#[source] DbErr),
    #[error("database error")]
    Other(#[source] DbErr),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if is_unavailable(&err) {
            StoreError::Unavailable(err)
        } else {
            StoreError::Other(err)
        }
    }
}

fn is_unavailable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(
                e.deref(),
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::WorkerCrashed
            )
        }
        _ => false,
    }
}

/// A one-line description of a connection or migration failure that names the kind of
/// failure but never the URL, credentials or SQL.
pub(super) fn describe(err: &DbErr) -> String {
    let sqlx_err = match err {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => Some(e.deref()),
        _ => None,
    };
    match sqlx_err {
        Some(sqlx::Error::Io(io)) => format!("{} (is the server running?)", io.kind()),
        Some(sqlx::Error::Configuration(_)) => "the database URL is invalid".to_owned(),
        Some(sqlx::Error::Database(db)) => match db.code() {
            Some(code) => format!("the server refused (code {code})"),
            None => "the server refused the connection".to_owned(),
        },
        Some(sqlx::Error::PoolTimedOut) => "timed out".to_owned(),
        Some(sqlx::Error::Tls(_)) => "TLS negotiation failed".to_owned(),
        _ => match err {
            DbErr::ConnectionAcquire(_) => "timed out".to_owned(),
            DbErr::Migration(_) => "a migration did not apply".to_owned(),
            _ => "unexpected database error".to_owned(),
        },
    }
}
