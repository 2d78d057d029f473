//! Monthly rule counts.

use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::{
    StoreError,
    sql::{integer_or_zero, statement},
};

/// Rules recorded for `user_id` in the period starting at `period_start`.
pub async fn used(
    db: &DatabaseConnection,
    user_id: &str,
    period_start: i64,
) -> Result<i32, StoreError> {
    integer_or_zero(
        db,
        "SELECT used FROM monthly_usage WHERE user_id = ? AND period_start = ?",
        vec![user_id.into(), period_start.into()],
    )
    .await
}

/// Adds `rules` to the period in one statement, only if the total stays within `limit`
/// (`None`: unlimited). Returns the new total, or `None` when the limit would be passed (and
/// nothing was recorded).
pub async fn add(
    db: &DatabaseConnection,
    user_id: &str,
    period_start: i64,
    rules: i32,
    limit: Option<i32>,
) -> Result<Option<i32>, StoreError> {
    if limit.is_some_and(|limit| rules > limit) {
        return Ok(None);
    }
    let ceiling = limit.map_or(i64::from(i32::MAX), i64::from);
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "INSERT INTO monthly_usage (user_id, period_start, used) VALUES (?, ?, ?) \
             ON CONFLICT (user_id, period_start) DO UPDATE SET used = monthly_usage.used + excluded.used \
             WHERE monthly_usage.used + excluded.used <= ? \
             RETURNING used",
            vec![user_id.into(), period_start.into(), rules.into(), ceiling.into()],
        ))
        .await?;
    Ok(match row {
        Some(row) => Some(row.try_get_by_index::<i32>(0)?),
        None => None,
    })
}
