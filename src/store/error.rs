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
            match e.deref() {
                sqlx::Error::Io(_)
                | sqlx::Error::PoolClosed
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(db) => db.code().is_some_and(|code| unavailable_code(&code)),
                _ => false,
            }
        }
        _ => false,
    }
}

/// Server error codes that mean "not now" rather than "this request is wrong": the client
/// should retry later (503), not report a bug (500).
fn unavailable_code(code: &str) -> bool {
    // PostgreSQL SQLSTATE: class 08 (connection exception), 53 (insufficient resources:
    // too many connections, disk full), 57P01-57P03 (shutdown, crash, starting up) and 57014
    // (statement timeout or cancel).
    if code.len() == 5 {
        return code.starts_with("08")
            || code.starts_with("53")
            || matches!(code, "57P01" | "57P02" | "57P03" | "57014");
    }
    // SQLite result codes (sqlx reports the extended code; its low byte is the primary one):
    // BUSY and LOCKED (another writer held the lock past the busy timeout), IOERR, CANTOPEN
    // and FULL (the file cannot be read or written right now).
    code.parse::<i32>()
        .is_ok_and(|code| matches!(code & 0xff, 5 | 6 | 10 | 13 | 14))
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

#[cfg(test)]
mod tests {
    use super::unavailable_code;

    #[test]
    fn lock_timeouts_and_shutdowns_are_unavailable_and_constraint_errors_are_not() {
        for code in [
            "5", "517", "6", "10", "14", "57P01", "57P03", "08006", "53300", "57014",
        ] {
            assert!(unavailable_code(code), "{code}");
        }
        for code in ["19", "2067", "1", "23505", "42P01", "22001"] {
            assert!(!unavailable_code(code), "{code}");
        }
    }
}
