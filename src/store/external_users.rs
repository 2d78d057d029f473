//! Users of trusted external issuers, created on first sight of one of their tokens, and their
//! sign-ins there, kept as sessions so that sign-out and session revocation work on them as on
//! ours.

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, SqlErr,
    TransactionTrait, sea_query::Expr,
};
use sha2::{Digest, Sha256};

use super::{
    StoreError,
    changes::{self, ChangeKind},
    entities::users,
    sql::statement,
    users::UserRow,
};

/// Ids of sessions that stand for a sign-in at an external issuer start with this.
pub const SESSION_PREFIX: &str = "ext-";

/// What an external token states about its user.
pub struct Profile<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub email: Option<&'a str>,
    /// Tier and team when the issuer is authoritative for them.
    pub tier_and_team: Option<(&'a str, Option<&'a str>)>,
}

/// The unique `users.email` of an external user: a name of our own that no sign-in can reach
/// (it is not an email address).
fn account_name(iss: &str, sub: &str) -> String {
    let digest = Sha256::digest(format!("{iss}\n{sub}").as_bytes());
    format!("ext:{}", &hex::encode(digest)[..40])
}

/// The session id of a sign-in (`origin_jti`) at an external issuer.
pub fn session_id(iss: &str, origin: &str) -> String {
    let digest = Sha256::digest(format!("{iss}\n{origin}").as_bytes());
    format!("{SESSION_PREFIX}{}", &hex::encode(digest)[..32])
}

pub async fn find(
    db: &DatabaseConnection,
    iss: &str,
    sub: &str,
) -> Result<Option<UserRow>, StoreError> {
    Ok(users::Entity::find()
        .filter(users::Column::Issuer.eq(iss))
        .filter(users::Column::Subject.eq(sub))
        .one(db)
        .await?)
}

/// The user of `profile`, created on first sight with the tier `new_tier`, and brought up to
/// date with what the token states (email; tier and team when authoritative). Returns the row
/// and whether an existing user changed (the caller drops its copies).
pub async fn adopt(
    db: &DatabaseConnection,
    profile: &Profile<'_>,
    new_id: String,
    new_tier: &str,
    now: i64,
) -> Result<(UserRow, bool), StoreError> {
    let found = match find(db, profile.iss, profile.sub).await? {
        Some(user) => user,
        None => {
            let (tier, team_id) = profile.tier_and_team.unwrap_or((new_tier, None));
            let row = UserRow {
                id: new_id,
                email: account_name(profile.iss, profile.sub),
                // No password: these users sign in at their issuer only.
                password_hash: String::new(),
                tier: tier.to_owned(),
                team_id: team_id.map(str::to_owned),
                created_at: now,
                monthly_rule_allowance: None,
                issuer: Some(profile.iss.to_owned()),
                subject: Some(profile.sub.to_owned()),
                external_email: profile.email.map(str::to_owned),
            };
            let active: users::ActiveModel = row.clone().into();
            match users::Entity::insert(active).exec(db).await {
                Ok(_) => return Ok((row, false)),
                // Another request (or instance) created it first.
                Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    find(db, profile.iss, profile.sub)
                        .await?
                        .ok_or(StoreError::Other(err))?
                }
                Err(err) => return Err(err.into()),
            }
        }
    };
    let email_changed = profile
        .email
        .is_some_and(|email| found.external_email.as_deref() != Some(email));
    let tier_changed = profile
        .tier_and_team
        .is_some_and(|(tier, team)| found.tier != tier || found.team_id.as_deref() != team);
    if !email_changed && !tier_changed {
        return Ok((found, false));
    }
    let txn = db.begin().await?;
    let mut update = users::Entity::update_many().filter(users::Column::Id.eq(&found.id));
    if let Some(email) = profile.email.filter(|_| email_changed) {
        update = update.col_expr(users::Column::ExternalEmail, Expr::value(email));
    }
    if let Some((tier, team)) = profile.tier_and_team.filter(|_| tier_changed) {
        update = update
            .col_expr(users::Column::Tier, Expr::value(tier))
            .col_expr(users::Column::TeamId, Expr::value(team));
    }
    update.exec(&txn).await?;
    changes::record(&txn, ChangeKind::User, &found.id, now).await?;
    txn.commit().await?;
    let user = users::Entity::find_by_id(&found.id)
        .one(db)
        .await?
        .unwrap_or(found);
    Ok((user, true))
}

/// Records a sign-in at an external issuer as a session (once), and keeps it at least until
/// `expires_at`: a revoked one must outlive every token of its sign-in we may still see.
/// Never brings a revoked session back.
pub async fn ensure_session(
    db: &DatabaseConnection,
    id: &str,
    user_id: &str,
    auth_time: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    db.execute_raw(statement(
        db.get_database_backend(),
        "INSERT INTO sessions (id, user_id, auth_time, expires_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at \
         WHERE sessions.expires_at < excluded.expires_at",
        vec![
            id.into(),
            user_id.into(),
            auth_time.into(),
            expires_at.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Users of `iss` whose email or subject is `who` (for the command line).
pub async fn find_for_admin(
    db: &DatabaseConnection,
    iss: &str,
    who: &str,
) -> Result<Vec<UserRow>, StoreError> {
    Ok(users::Entity::find()
        .filter(users::Column::Issuer.eq(iss))
        .filter(
            Condition::any()
                .add(users::Column::ExternalEmail.eq(who))
                .add(users::Column::Subject.eq(who)),
        )
        .all(db)
        .await?)
}
