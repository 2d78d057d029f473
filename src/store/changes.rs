//! The change log: one row per change that alters how a bearer token is answered, written in
//! the transaction of the change itself, so a change is logged exactly when it commits. On
//! PostgreSQL the transaction also notifies [`CHANNEL`] (delivered at commit), so listeners
//! read the log at once instead of at their next poll.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};

use super::{StoreError, sql::statement};

/// The PostgreSQL notification channel of the change log.
pub const CHANNEL: &str = "cloudsigma_auth_changes";

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// One session was revoked (sign-out, refresh-token reuse); the subject is its id.
    Session,
    /// Every session of a user was revoked (global sign-out); the subject is the user id.
    UserSessions,
    /// A user's record changed (tier, team, rule allowance); the subject is the user id.
    User,
}

impl ChangeKind {
    fn as_str(&self) -> &'static str {
        match self {
            ChangeKind::Session => "session",
            ChangeKind::UserSessions => "user_sessions",
            ChangeKind::User => "user",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "session" => Some(ChangeKind::Session),
            "user_sessions" => Some(ChangeKind::UserSessions),
            "user" => Some(ChangeKind::User),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub kind: ChangeKind,
    pub subject: String,
}

/// Logs a change; call it inside the transaction that makes the change.
pub async fn record(
    db: &impl ConnectionTrait,
    kind: ChangeKind,
    subject: &str,
    now: i64,
) -> Result<(), StoreError> {
    let backend = db.get_database_backend();
    db.execute_raw(statement(
        backend,
        "INSERT INTO auth_changes (kind, subject, at) VALUES (?, ?, ?)",
        vec![kind.as_str().into(), subject.into(), now.into()],
    ))
    .await?;
    if backend == DbBackend::Postgres {
        db.execute_raw(statement(
            backend,
            "SELECT pg_notify(?, '')",
            vec![CHANNEL.into()],
        ))
        .await?;
    }
    Ok(())
}

/// The newest sequence number in the log (0 when it is empty).
pub async fn latest(db: &DatabaseConnection) -> Result<i64, StoreError> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT COALESCE(MAX(seq), 0) FROM auth_changes",
            vec![],
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get_by_index(0)?,
        None => 0,
    })
}

/// Changes with a sequence number above `after`, oldest first, at most `limit`.
pub async fn since(
    db: &DatabaseConnection,
    after: i64,
    limit: u32,
) -> Result<Vec<Change>, StoreError> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            "SELECT seq, kind, subject FROM auth_changes WHERE seq > ? ORDER BY seq LIMIT ?",
            vec![after.into(), i64::from(limit).into()],
        ))
        .await?;
    let mut changes = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: String = row.try_get_by_index(1)?;
        // A kind this version does not know (written by a newer one) changes nothing here.
        if let Some(kind) = ChangeKind::parse(&kind) {
            changes.push(Change {
                seq: row.try_get_by_index(0)?,
                kind,
                subject: row.try_get_by_index(2)?,
            });
        }
    }
    Ok(changes)
}
