//! The audit trail's table: events are inserted (inside the transaction of the change they
//! describe, or right after it) and read back a page at a time; only the purge deletes them.

use sea_orm::{ConnectionTrait, DatabaseConnection, QueryResult, Value};

use super::{StoreError, sql::statement};
use crate::domain::audit::AuditEvent;

/// A recorded event as it is read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: i64,
    /// Unix seconds of the service clock.
    pub at: i64,
    pub event_type: String,
    pub user_id: Option<String>,
    /// The user's email (as their issuer states it, for an external user), when the user still
    /// exists.
    pub email: Option<String>,
    pub key_prefix: Option<String>,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
}

/// Records `event` as of `at`; call it with the transaction of the change where there is one.
pub async fn record(
    db: &impl ConnectionTrait,
    event: &AuditEvent,
    at: i64,
) -> Result<(), StoreError> {
    let origin = &event.origin;
    db.execute_raw(statement(
        db.get_database_backend(),
        "INSERT INTO audit_events (at, event_type, user_id, key_prefix, client_address, \
         user_agent, request_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        vec![
            at.into(),
            event.event_type.as_str().into(),
            event.user_id.clone().into(),
            event.key_prefix.clone().into(),
            origin.client_address.clone().into(),
            origin.user_agent.clone().into(),
            origin.request_id.clone().into(),
            event.detail.clone().into(),
        ],
    ))
    .await?;
    Ok(())
}

const COLUMNS: &str = "e.id, e.at, e.event_type, e.user_id, COALESCE(u.external_email, u.email), \
     e.key_prefix, e.client_address, e.user_agent, e.request_id, e.detail";

/// The user's events with an id below `before_id` (all when `None`), newest first, at most
/// `limit`.
pub async fn page_of_user(
    db: &DatabaseConnection,
    user_id: &str,
    before_id: Option<i64>,
    limit: u32,
) -> Result<Vec<EventRow>, StoreError> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &format!(
                "SELECT {COLUMNS} FROM audit_events e LEFT JOIN users u ON u.id = e.user_id \
                 WHERE e.user_id = ? AND e.id < ? ORDER BY e.id DESC LIMIT ?"
            ),
            vec![
                user_id.into(),
                before_id.unwrap_or(i64::MAX).into(),
                i64::from(limit).into(),
            ],
        ))
        .await?;
    rows.iter().map(event_row).collect()
}

/// What an operator's export selects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportFilter {
    pub user_id: Option<String>,
    /// Unix seconds; events at or after it.
    pub since: Option<i64>,
}

/// Events matching `filter` with an id above `after_id`, oldest first, at most `limit`: one
/// batch of an export, which walks the table in batches instead of holding it in memory.
pub async fn export_batch(
    db: &DatabaseConnection,
    filter: &ExportFilter,
    after_id: i64,
    limit: u32,
) -> Result<Vec<EventRow>, StoreError> {
    let mut sql = format!(
        "SELECT {COLUMNS} FROM audit_events e LEFT JOIN users u ON u.id = e.user_id \
         WHERE e.id > ?"
    );
    let mut values: Vec<Value> = vec![after_id.into()];
    if let Some(user_id) = &filter.user_id {
        sql.push_str(" AND e.user_id = ?");
        values.push(user_id.clone().into());
    }
    if let Some(since) = filter.since {
        sql.push_str(" AND e.at >= ?");
        values.push(since.into());
    }
    sql.push_str(" ORDER BY e.id LIMIT ?");
    values.push(i64::from(limit).into());
    let rows = db
        .query_all_raw(statement(db.get_database_backend(), &sql, values))
        .await?;
    rows.iter().map(event_row).collect()
}

fn event_row(row: &QueryResult) -> Result<EventRow, StoreError> {
    Ok(EventRow {
        id: row.try_get_by_index(0)?,
        at: row.try_get_by_index(1)?,
        event_type: row.try_get_by_index(2)?,
        user_id: row.try_get_by_index(3)?,
        email: row.try_get_by_index(4)?,
        key_prefix: row.try_get_by_index(5)?,
        client_address: row.try_get_by_index(6)?,
        user_agent: row.try_get_by_index(7)?,
        request_id: row.try_get_by_index(8)?,
        detail: row.try_get_by_index(9)?,
    })
}
