//! Deletes of data that has outlived its use: ended sessions with their refresh tokens, stale
//! sign-in failure records, old daily key usage, old change-log entries and old audit events.
//! Each is one statement per table, so a purge never holds a transaction across tables.

use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::{StoreError, sql::statement};

/// Rows removed by one purge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    pub refresh_tokens: u64,
    pub sign_in_failures: u64,
    pub key_usage_days: u64,
    pub changes: u64,
    pub audit_events: u64,
}

/// What a purge removes; all times are Unix seconds, the day is a UTC day number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// Sessions that expired or were revoked before this go, with their refresh tokens.
    pub session_ended_before: i64,
    /// Failure records whose last failure and lock both ended before this go.
    pub sign_in_failure_before: i64,
    /// Daily key counts of days before this go.
    pub key_usage_day_before: i64,
    /// Change-log entries written before this go (instances read them within a second).
    pub change_before: i64,
    /// Audit events recorded before this go.
    pub audit_event_before: i64,
}

/// A revoked session of an external sign-in stays until it expires: its issuer may still mint
/// tokens of that sign-in, and the row is what refuses them.
const ENDED_SESSIONS: &str = "((revoked_at IS NOT NULL AND revoked_at < ? AND id NOT LIKE 'ext-%') \
     OR expires_at < ?)";

pub async fn purge(db: &DatabaseConnection, cutoffs: Cutoffs) -> Result<Purged, StoreError> {
    let ended = cutoffs.session_ended_before;
    let run = async |sql: &str, values: Vec<sea_orm::Value>| -> Result<u64, StoreError> {
        Ok(db
            .execute_raw(statement(db.get_database_backend(), sql, values))
            .await?
            .rows_affected())
    };
    // Tokens first: the foreign key cascades too, but an explicit delete does not depend on
    // SQLite's per-connection foreign_keys setting.
    let refresh_tokens = run(
        &format!(
            "DELETE FROM refresh_tokens WHERE session_id IN \
             (SELECT id FROM sessions WHERE {ENDED_SESSIONS})"
        ),
        vec![ended.into(), ended.into()],
    )
    .await?;
    let sessions = run(
        &format!("DELETE FROM sessions WHERE {ENDED_SESSIONS}"),
        vec![ended.into(), ended.into()],
    )
    .await?;
    let failure = cutoffs.sign_in_failure_before;
    let sign_in_failures = run(
        "DELETE FROM sign_in_failures WHERE last_failure_at < ? AND locked_until < ?",
        vec![failure.into(), failure.into()],
    )
    .await?;
    let key_usage_days = run(
        "DELETE FROM api_key_usage WHERE day < ?",
        vec![cutoffs.key_usage_day_before.into()],
    )
    .await?;
    let changes = run(
        "DELETE FROM auth_changes WHERE at < ?",
        vec![cutoffs.change_before.into()],
    )
    .await?;
    let audit_events = run(
        "DELETE FROM audit_events WHERE at < ?",
        vec![cutoffs.audit_event_before.into()],
    )
    .await?;
    Ok(Purged {
        changes,
        audit_events,
        sessions,
        refresh_tokens,
        sign_in_failures,
        key_usage_days,
    })
}
