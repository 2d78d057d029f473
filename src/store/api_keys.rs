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

/// Counts up to `requests` requests against the key's day in one statement, never past
/// `limit`: concurrent statements (on any instance) serialise on the row, so no more than
/// `limit` requests are ever granted. Returns the count after the statement and how many of
/// the `requests` it granted (0 when the day is used up).
///
/// Both right-hand sides of the update read the row as it was before it (SQL semantics), so
/// `last_grant` records exactly how much this statement added.
pub async fn count_requests(
    db: &DatabaseConnection,
    key_id: i64,
    day: i64,
    requests: i32,
    limit: i32,
) -> Result<(i32, i32), StoreError> {
    let backend = db.get_database_backend();
    let min = match backend {
        sea_orm::DbBackend::Postgres => "LEAST",
        _ => "MIN",
    };
    let sql = format!(
        "INSERT INTO api_key_usage (key_id, day, count, last_grant) VALUES (?, ?, ?, ?) \
         ON CONFLICT (key_id, day) DO UPDATE SET \
         count = {min}(api_key_usage.count + ?, ?), \
         last_grant = {min}(?, ? - api_key_usage.count) \
         WHERE api_key_usage.count < ? \
         RETURNING count, last_grant"
    );
    let first = requests.min(limit);
    let row = db
        .query_one_raw(statement(
            backend,
            &sql,
            vec![
                key_id.into(),
                day.into(),
                first.into(),
                first.into(),
                requests.into(),
                limit.into(),
                requests.into(),
                limit.into(),
                limit.into(),
            ],
        ))
        .await?;
    match row {
        Some(row) => Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)),
        None => Ok((limit, 0)),
    }
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
