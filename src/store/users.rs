//! Users and their sessions, refresh tokens (and the secret that derives their successors) and
//! sign-in failure counters.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, Set, SqlErr, TransactionTrait, sea_query::Expr,
};
use secrecy::{ExposeSecret, SecretSlice};

use super::{
    StoreError, audit,
    changes::{self, ChangeKind},
    entities::{refresh_tokens, sessions, sign_in_failures, users},
    sql::statement,
};

use crate::domain::audit::{AuditEvent, EventType};

pub use users::Model as UserRow;

#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    #[error("email already registered")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn insert_user(db: &DatabaseConnection, user: UserRow) -> Result<(), InsertUserError> {
    let row: users::ActiveModel = user.into();
    match users::Entity::insert(row).exec(db).await {
        Ok(_) => Ok(()),
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(InsertUserError::EmailTaken)
        }
        Err(err) => Err(InsertUserError::Store(err.into())),
    }
}

pub async fn find_by_email(
    db: &DatabaseConnection,
    email: &str,
) -> Result<Option<UserRow>, StoreError> {
    Ok(users::Entity::find()
        .filter(users::Column::Email.eq(email))
        .one(db)
        .await?)
}

pub async fn find_by_id(db: &DatabaseConnection, id: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(users::Entity::find_by_id(id).one(db).await?)
}

/// Changes a user's tier, and the team when `team_id` is given (`Some(None)` clears it), and
/// records the change in the audit trail in the same transaction; false when no user has that
/// email.
pub async fn set_tier(
    db: &DatabaseConnection,
    email: &str,
    tier: &str,
    team_id: Option<Option<String>>,
    now: i64,
) -> Result<bool, StoreError> {
    let txn = db.begin().await?;
    let mut update = users::Entity::update_many()
        .col_expr(users::Column::Tier, Expr::value(tier))
        .filter(users::Column::Email.eq(email));
    let mut detail = format!("tier {tier}");
    if let Some(team_id) = team_id {
        detail.push_str(&format!(", team {}", team_id.as_deref().unwrap_or("none")));
        update = update.col_expr(users::Column::TeamId, Expr::value(team_id));
    }
    update.exec(&txn).await?;
    let changed = user_changed(&txn, email, now).await?;
    if let Some(user_id) = &changed {
        let event = AuditEvent::new(EventType::TierChanged, Default::default())
            .user(user_id)
            .detail(detail);
        audit::record(&txn, &event, now).await?;
    }
    txn.commit().await?;
    Ok(changed.is_some())
}

/// Logs a change of the user with this email; the user's id, or none when there is no such
/// user.
async fn user_changed(
    txn: &sea_orm::DatabaseTransaction,
    email: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let user = users::Entity::find()
        .filter(users::Column::Email.eq(email))
        .one(txn)
        .await?;
    match user {
        Some(user) => {
            changes::record(txn, ChangeKind::User, &user.id, now).await?;
            Ok(Some(user.id))
        }
        None => Ok(None),
    }
}

/// Sets an enterprise user's monthly rule allowance (`None`: unlimited); false when no user has
/// that email.
pub async fn set_monthly_rule_allowance(
    db: &DatabaseConnection,
    email: &str,
    allowance: Option<i32>,
    now: i64,
) -> Result<bool, StoreError> {
    let txn = db.begin().await?;
    users::Entity::update_many()
        .col_expr(users::Column::MonthlyRuleAllowance, Expr::value(allowance))
        .filter(users::Column::Email.eq(email))
        .exec(&txn)
        .await?;
    let changed = user_changed(&txn, email, now).await?;
    txn.commit().await?;
    Ok(changed.is_some())
}

/// A new sign-in session with its first refresh token.
pub async fn create_session(
    db: &DatabaseConnection,
    session: sessions::Model,
    refresh_digest: String,
) -> Result<(), StoreError> {
    let txn = db.begin().await?;
    let created_at = session.auth_time;
    let session_id = session.id.clone();
    sessions::ActiveModel::from(session).insert(&txn).await?;
    insert_refresh_token(&txn, refresh_digest, session_id, created_at).await?;
    txn.commit().await?;
    Ok(())
}

async fn insert_refresh_token(
    db: &impl ConnectionTrait,
    digest: String,
    session_id: String,
    created_at: i64,
) -> Result<(), StoreError> {
    refresh_tokens::ActiveModel {
        digest: Set(digest),
        session_id: Set(session_id),
        created_at: Set(created_at),
        rotated_at: Set(None),
        successor_digest: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The session and its user, when the session exists.
pub async fn session_with_user(
    db: &DatabaseConnection,
    session_id: &str,
) -> Result<Option<(sessions::Model, UserRow)>, StoreError> {
    let found = sessions::Entity::find_by_id(session_id)
        .find_also_related(users::Entity)
        .one(db)
        .await?;
    Ok(found.and_then(|(session, user)| user.map(|user| (session, user))))
}

/// Revokes a session (a sign-out), logging the change and recording `event`.
pub async fn revoke_session(
    db: &DatabaseConnection,
    id: &str,
    now: i64,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let txn = db.begin().await?;
    sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::Id.eq(id))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    changes::record(&txn, ChangeKind::Session, id, now).await?;
    audit::record(&txn, event, now).await?;
    txn.commit().await?;
    Ok(())
}

/// Revokes every session of the user (a global sign-out), logging the change and recording
/// `event`.
pub async fn revoke_all_sessions(
    db: &DatabaseConnection,
    user_id: &str,
    now: i64,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let txn = db.begin().await?;
    sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    changes::record(&txn, ChangeKind::UserSessions, user_id, now).await?;
    audit::record(&txn, event, now).await?;
    txn.commit().await?;
    Ok(())
}

/// A session as its user sees it in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub id: String,
    pub created_at: i64,
    /// When its refresh token was last rotated.
    pub last_refreshed_at: Option<i64>,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

/// The user's sessions that are neither revoked nor expired at `now`, newest first.
pub async fn active_sessions(
    db: &DatabaseConnection,
    user_id: &str,
    now: i64,
) -> Result<Vec<SessionView>, StoreError> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            "SELECT s.id, s.auth_time, MAX(r.rotated_at), s.client_address, s.user_agent \
             FROM sessions s LEFT JOIN refresh_tokens r ON r.session_id = s.id \
             WHERE s.user_id = ? AND s.revoked_at IS NULL AND s.expires_at > ? \
             GROUP BY s.id, s.auth_time, s.client_address, s.user_agent \
             ORDER BY s.auth_time DESC, s.id",
            vec![user_id.into(), now.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(SessionView {
                id: row.try_get_by_index(0)?,
                created_at: row.try_get_by_index(1)?,
                last_refreshed_at: row.try_get_by_index(2)?,
                client_address: row.try_get_by_index(3)?,
                user_agent: row.try_get_by_index(4)?,
            })
        })
        .collect()
}

/// Revokes one of the user's live sessions, logging the change and recording `event`; false
/// when the user has no such session.
pub async fn revoke_own_session(
    db: &DatabaseConnection,
    user_id: &str,
    session_id: &str,
    now: i64,
    event: &AuditEvent,
) -> Result<bool, StoreError> {
    let txn = db.begin().await?;
    let revoked = sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::Id.eq(session_id))
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(sessions::Column::RevokedAt.is_null())
        .filter(sessions::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    if revoked {
        changes::record(&txn, ChangeKind::Session, session_id, now).await?;
        audit::record(&txn, event, now).await?;
    }
    txn.commit().await?;
    Ok(revoked)
}

/// A refresh token with its session and user.
pub async fn find_refresh_token(
    db: &DatabaseConnection,
    digest: &str,
) -> Result<Option<(refresh_tokens::Model, sessions::Model)>, StoreError> {
    let found = refresh_tokens::Entity::find_by_id(digest)
        .find_also_related(sessions::Entity)
        .one(db)
        .await?;
    Ok(found.and_then(|(token, session)| session.map(|session| (token, session))))
}

/// What presenting a refresh token did, decided in one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The token is now rotated into the given successor (by this call or by a concurrent one
    /// within the grace period), and the successor is stored: it may be handed out.
    Successor,
    /// The token was rotated before the grace period: a replay. The session is now revoked.
    Replayed,
    /// The token was rotated into another successor (before successors were derived): handing
    /// out this one would fork the session.
    Diverged,
}

/// Rotates the refresh token `parent_digest` into `successor_digest`, in one transaction:
/// marks the parent rotated (once: a concurrent call finds it marked), and then, if it was
/// rotated at or after `concurrent_since` into this very successor, stores the successor
/// (once: concurrent calls insert nothing). A parent rotated earlier revokes its session and
/// records `on_replay`.
pub async fn rotate_refresh_token(
    db: &DatabaseConnection,
    parent_digest: &str,
    successor_digest: &str,
    session_id: &str,
    now: i64,
    concurrent_since: i64,
    on_replay: &AuditEvent,
) -> Result<Rotation, StoreError> {
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    // The write comes first, so on SQLite the transaction holds the write lock from its first
    // statement, and on PostgreSQL concurrent callers queue on the row and then see it marked.
    refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RotatedAt, Expr::value(now))
        .col_expr(
            refresh_tokens::Column::SuccessorDigest,
            Expr::value(successor_digest),
        )
        .filter(refresh_tokens::Column::Digest.eq(parent_digest))
        .filter(refresh_tokens::Column::RotatedAt.is_null())
        .exec(&txn)
        .await?;
    let parent = refresh_tokens::Entity::find_by_id(parent_digest)
        .one(&txn)
        .await?;
    let Some(parent) = parent else {
        txn.commit().await?;
        return Ok(Rotation::Diverged);
    };
    let rotation = match parent.rotated_at {
        Some(rotated_at) if rotated_at < concurrent_since => {
            sessions::Entity::update_many()
                .col_expr(sessions::Column::RevokedAt, Expr::value(now))
                .filter(sessions::Column::Id.eq(session_id))
                .filter(sessions::Column::RevokedAt.is_null())
                .exec(&txn)
                .await?;
            changes::record(&txn, ChangeKind::Session, session_id, now).await?;
            audit::record(&txn, on_replay, now).await?;
            Rotation::Replayed
        }
        _ if parent.successor_digest.as_deref() != Some(successor_digest) => Rotation::Diverged,
        _ => {
            txn.execute_raw(statement(
                backend,
                "INSERT INTO refresh_tokens (digest, session_id, created_at) VALUES (?, ?, ?) \
                 ON CONFLICT (digest) DO NOTHING",
                vec![successor_digest.into(), session_id.into(), now.into()],
            ))
            .await?;
            Rotation::Successor
        }
    };
    txn.commit().await?;
    Ok(rotation)
}

/// Name of the secret that derives refresh-token successors.
const LINEAGE_SECRET: &str = "refresh_lineage";

/// The secret that derives refresh-token successors. The first instance to start stores
/// `candidate`; every instance then reads back the one stored, so all derive alike.
pub async fn lineage_secret(
    db: &DatabaseConnection,
    candidate: &SecretSlice<u8>,
    now: i64,
) -> Result<SecretSlice<u8>, StoreError> {
    let backend = db.get_database_backend();
    db.execute_raw(statement(
        backend,
        "INSERT INTO server_secrets (name, secret, created_at) VALUES (?, ?, ?) \
         ON CONFLICT (name) DO NOTHING",
        vec![
            LINEAGE_SECRET.into(),
            hex::encode(candidate.expose_secret()).into(),
            now.into(),
        ],
    ))
    .await?;
    let row = db
        .query_one_raw(statement(
            backend,
            "SELECT secret FROM server_secrets WHERE name = ?",
            vec![LINEAGE_SECRET.into()],
        ))
        .await?
        .ok_or_else(|| StoreError::Other(DbErr::RecordNotFound(LINEAGE_SECRET.to_owned())))?;
    let stored: String = row.try_get_by_index(0)?;
    let secret = hex::decode(stored)
        .map_err(|_| StoreError::Other(DbErr::Custom(format!("{LINEAGE_SECRET} is not hex"))))?;
    Ok(secret.into())
}

pub async fn sign_in_failures(
    db: &DatabaseConnection,
    email: &str,
) -> Result<Option<sign_in_failures::Model>, StoreError> {
    Ok(sign_in_failures::Entity::find_by_id(email).one(db).await?)
}

/// Counts one more failure for `email` in one statement (concurrent failures on any instance
/// all count) and, from the count it returns, sets the lock (`lock_for` maps the count to
/// seconds, 0 for none).
pub async fn record_sign_in_failure(
    db: &DatabaseConnection,
    email: &str,
    now: i64,
    lock_for: impl Fn(i32) -> i64,
) -> Result<i32, StoreError> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(statement(
            backend,
            "INSERT INTO sign_in_failures (email, failures, locked_until, last_failure_at) \
             VALUES (?, 1, 0, ?) \
             ON CONFLICT (email) DO UPDATE SET failures = sign_in_failures.failures + 1, \
             last_failure_at = excluded.last_failure_at \
             RETURNING failures",
            vec![email.into(), now.into()],
        ))
        .await?;
    let failures: i32 = match row {
        Some(row) => row.try_get_by_index(0)?,
        None => 1,
    };
    let lock = lock_for(failures);
    if lock > 0 {
        db.execute_raw(statement(
            backend,
            "UPDATE sign_in_failures SET locked_until = ? WHERE email = ?",
            vec![(now + lock).into(), email.into()],
        ))
        .await?;
    }
    Ok(failures)
}

pub async fn clear_sign_in_failures(
    db: &DatabaseConnection,
    email: &str,
) -> Result<(), StoreError> {
    sign_in_failures::Entity::delete_by_id(email)
        .exec(db)
        .await?;
    Ok(())
}

/// Replaces a user's password hash and records `event` in the same transaction.
pub async fn set_password_hash(
    db: &DatabaseConnection,
    user_id: &str,
    password_hash: String,
    event: &AuditEvent,
    now: i64,
) -> Result<(), StoreError> {
    let txn = db.begin().await?;
    users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(password_hash))
        .filter(users::Column::Id.eq(user_id))
        .exec(&txn)
        .await?;
    audit::record(&txn, event, now).await?;
    txn.commit().await?;
    Ok(())
}
