//! API keys and their daily counters.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryResult, Set, SqlErr, sea_query::Expr,
};

use super::{
    StoreError,
    entities::{api_keys, users},
    sql::{integer_or_zero, statement},
    users::UserRow,
};

pub use api_keys::Model as ApiKeyRow;

use crate::domain::tier::Tier;

/// A key as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyView {
    pub prefix: String,
    pub name: String,
    pub daily_limit: i32,
    pub used_today: i32,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

pub struct NewKey {
    pub prefix: String,
    pub digest: String,
    pub user_id: String,
    pub name: String,
    pub daily_limit: i32,
    pub created_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum InsertKeyError {
    #[error("the prefix or digest is taken")]
    Taken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn insert(db: &DatabaseConnection, key: NewKey) -> Result<(), InsertKeyError> {
    let row = api_keys::ActiveModel {
        prefix: Set(key.prefix),
        digest: Set(key.digest),
        user_id: Set(key.user_id),
        name: Set(key.name),
        daily_limit: Set(key.daily_limit),
        created_at: Set(key.created_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    };
    match row.insert(db).await {
        Ok(_) => Ok(()),
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(InsertKeyError::Taken)
        }
        Err(err) => Err(InsertKeyError::Store(err.into())),
    }
}

/// The key with this digest and its owner, revoked or not.
pub async fn find_by_digest(
    db: &DatabaseConnection,
    digest: &str,
) -> Result<Option<(ApiKeyRow, UserRow)>, StoreError> {
    let found = api_keys::Entity::find()
        .filter(api_keys::Column::Digest.eq(digest))
        .find_also_related(users::Entity)
        .one(db)
        .await?;
    Ok(found.and_then(|(key, user)| user.map(|user| (key, user))))
}

const VIEW_SELECT: &str = "SELECT k.prefix, k.name, k.daily_limit, COALESCE(u.count, 0), \
     k.created_at, k.last_used_at \
     FROM api_keys k LEFT JOIN api_key_usage u ON u.key_id = k.id AND u.day = ? \
     WHERE k.user_id = ? AND k.revoked_at IS NULL";

fn view(row: &QueryResult) -> Result<KeyView, StoreError> {
    Ok(KeyView {
        prefix: row.try_get_by_index(0)?,
        name: row.try_get_by_index(1)?,
        daily_limit: row.try_get_by_index(2)?,
        used_today: row.try_get_by_index(3)?,
        created_at: row.try_get_by_index(4)?,
        last_used_at: row.try_get_by_index(5)?,
    })
}

/// The user's keys that are not revoked, newest first, with today's counts.
pub async fn list(
    db: &DatabaseConnection,
    user_id: &str,
    day: i64,
) -> Result<Vec<KeyView>, StoreError> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &format!("{VIEW_SELECT} ORDER BY k.created_at DESC, k.id DESC"),
            vec![day.into(), user_id.into()],
        ))
        .await?;
    rows.iter().map(view).collect()
}

/// One of the user's keys that is not revoked.
pub async fn find_owned(
    db: &DatabaseConnection,
    user_id: &str,
    prefix: &str,
    day: i64,
) -> Result<Option<KeyView>, StoreError> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!("{VIEW_SELECT} AND k.prefix = ?"),
            vec![day.into(), user_id.into(), prefix.into()],
        ))
        .await?;
    row.as_ref().map(view).transpose()
}

/// Changes the name and/or limit of one of the user's live keys; false when there is none.
pub async fn update(
    db: &DatabaseConnection,
    user_id: &str,
    prefix: &str,
    name: Option<String>,
    daily_limit: Option<i32>,
) -> Result<bool, StoreError> {
    let mut update = api_keys::Entity::update_many()
        .filter(api_keys::Column::UserId.eq(user_id))
        .filter(api_keys::Column::Prefix.eq(prefix))
        .filter(api_keys::Column::RevokedAt.is_null());
    if let Some(name) = name {
        update = update.col_expr(api_keys::Column::Name, Expr::value(name));
    }
    if let Some(limit) = daily_limit {
        update = update.col_expr(api_keys::Column::DailyLimit, Expr::value(limit));
    }
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// Revokes one of the user's live keys; false when there is none.
pub async fn revoke(
    db: &DatabaseConnection,
    user_id: &str,
    prefix: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let result = api_keys::Entity::update_many()
        .col_expr(api_keys::Column::RevokedAt, Expr::value(now))
        .filter(api_keys::Column::UserId.eq(user_id))
        .filter(api_keys::Column::Prefix.eq(prefix))
        .filter(api_keys::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// One key's share of a counting statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyCount {
    pub key_id: i64,
    /// The day's count after the statement.
    pub count: i32,
    /// How many of the requested requests the statement granted (0 when the day is used up).
    pub granted: i32,
    /// The key's daily limit as the statement read it.
    pub limit: i32,
}

/// Largest number of keys counted by one statement (PostgreSQL takes at most 65,535
/// parameters, SQLite 32,766).
pub const MAX_KEYS_PER_STATEMENT: usize = 1024;

/// Counts `requests` (key id, number of requests) against `day` in one statement, each key
/// never past its limit. The statement itself decides with the database's state when it runs:
/// a key counts only while it is not revoked and its owner's tier allows keys, against the
/// key's current `daily_limit`. Keys refused that way have no entry in the answer; every other
/// key has one, with `granted` 0 when its day is used up.
///
/// Concurrent statements (on any instance) serialise on each key's row, so no more than the
/// limit is ever granted. Rows are written in key order, so two statements never wait for
/// each other's rows crosswise. The right-hand sides of the update read the row as it was
/// before it (SQL semantics): `last_grant` is exactly what this statement added, and a count
/// already above a lowered limit stays as it is.
pub async fn count_requests(
    db: &impl ConnectionTrait,
    day: i64,
    requests: &[(i64, i32)],
) -> Result<Vec<KeyCount>, StoreError> {
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    debug_assert!(requests.len() <= MAX_KEYS_PER_STATEMENT);
    let backend = db.get_database_backend();
    let (min, max) = match backend {
        sea_orm::DbBackend::Postgres => ("LEAST", "GREATEST"),
        _ => ("MIN", "MAX"),
    };
    // Padded to a power of two with ids no key has, so a handful of statement shapes serve
    // every batch size and stay in the connections' prepared-statement caches.
    let rows = requests.len().next_power_of_two();
    let mut values = Vec::with_capacity(rows * 2 + 1);
    let mut listed = String::with_capacity(rows * 48);
    for i in 0..rows {
        let (key_id, n) = requests.get(i).copied().unwrap_or((-1, 0));
        if i > 0 {
            listed.push_str(", ");
        }
        listed.push_str("(CAST(? AS BIGINT), CAST(? AS INTEGER))");
        values.push(key_id.into());
        values.push(n.into());
    }
    values.push(day.into());
    let granted =
        format!("{max}(0, {min}(excluded.count, excluded.daily_limit - api_key_usage.count))");
    let sql = format!(
        "WITH requested (key_id, n) AS (VALUES {listed}) \
         INSERT INTO api_key_usage (key_id, day, count, last_grant, daily_limit) \
         SELECT k.id, CAST(? AS BIGINT), {min}(r.n, k.daily_limit), {min}(r.n, k.daily_limit), k.daily_limit \
         FROM requested r JOIN api_keys k ON k.id = r.key_id JOIN users u ON u.id = k.user_id \
         WHERE r.n > 0 AND k.revoked_at IS NULL AND u.tier IN ({tiers}) \
         ORDER BY k.id \
         ON CONFLICT (key_id, day) DO UPDATE SET \
         count = api_key_usage.count + {granted}, \
         last_grant = {granted}, \
         daily_limit = excluded.daily_limit \
         RETURNING key_id, count, last_grant, daily_limit",
        tiers = *KEY_TIERS_SQL,
    );
    let rows = db.query_all_raw(statement(backend, &sql, values)).await?;
    rows.iter()
        .map(|row| {
            Ok(KeyCount {
                key_id: row.try_get_by_index(0)?,
                count: row.try_get_by_index(1)?,
                granted: row.try_get_by_index(2)?,
                limit: row.try_get_by_index(3)?,
            })
        })
        .collect()
}

/// The tiers whose users' keys are accepted, as an SQL list of literals (built once, not per
/// counting statement).
static KEY_TIERS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    Tier::ALL
        .iter()
        .filter(|tier| tier.allows_api_keys())
        .map(|tier| format!("'{}'", tier.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
});

/// The id of one of the user's live keys.
pub async fn owned_key_id(
    db: &DatabaseConnection,
    user_id: &str,
    prefix: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(api_keys::Entity::find()
        .filter(api_keys::Column::UserId.eq(user_id))
        .filter(api_keys::Column::Prefix.eq(prefix))
        .filter(api_keys::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .map(|key| key.id))
}

/// A key's counts of the days `from..=to` that have one, oldest first.
pub async fn daily_counts(
    db: &DatabaseConnection,
    key_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i32)>, StoreError> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            "SELECT day, count FROM api_key_usage WHERE key_id = ? AND day >= ? AND day <= ? \
             ORDER BY day",
            vec![key_id.into(), from.into(), to.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect()
}

/// Today's count of a key (0 when it has not been used today).
pub async fn count_of(db: &DatabaseConnection, key_id: i64, day: i64) -> Result<i32, StoreError> {
    integer_or_zero(
        db,
        "SELECT count FROM api_key_usage WHERE key_id = ? AND day = ?",
        vec![key_id.into(), day.into()],
    )
    .await
}

/// Gives back a counted request whose answer turned out to be an error.
pub async fn uncount_request(
    db: &DatabaseConnection,
    key_id: i64,
    day: i64,
) -> Result<(), StoreError> {
    db.execute_raw(statement(
        db.get_database_backend(),
        "UPDATE api_key_usage SET count = count - 1 WHERE key_id = ? AND day = ? AND count > 0",
        vec![key_id.into(), day.into()],
    ))
    .await?;
    Ok(())
}

/// Records a use; callers skip it while the stored time is less than a minute old.
pub async fn touch(db: &DatabaseConnection, key_id: i64, now: i64) -> Result<(), StoreError> {
    api_keys::Entity::update_many()
        .col_expr(api_keys::Column::LastUsedAt, Expr::value(now))
        .filter(api_keys::Column::Id.eq(key_id))
        .exec(db)
        .await?;
    Ok(())
}
