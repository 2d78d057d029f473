//! Sign-up, sign-in with lockout, refresh with rotation and reuse detection, sign-out, and the
//! session check behind every bearer JWT.

use std::{collections::HashMap, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    AuthError, PasswordHasher, Tokens,
    tokens::{AccessClaims, Subject, TOKEN_LIFETIME_SECS},
};
use crate::{
    domain::{clock::SharedClock, email::Email, password::Password, tier::Tier},
    store::{
        entities::sessions,
        users::{self as store, InsertUserError, UserRow},
    },
};

/// Absolute lifetime of a sign-in session's refresh tokens.
const REFRESH_LIFETIME_SECS: i64 = 30 * 24 * 3600;
/// A rotated refresh token presented again within this many seconds is a concurrent refresh
/// (two tabs), not a replay.
const REUSE_GRACE_SECS: i64 = 5;
/// Consecutive failures that start the lockout.
const LOCKOUT_AFTER: i32 = 5;
/// The lockout doubles from 1 s up to this.
const MAX_LOCKOUT_SECS: i64 = 15 * 60;

pub struct NewUser {
    pub user_id: String,
    pub email: String,
    pub tier: Tier,
}

/// Tokens of a sign-in or refresh.
pub struct TokenSet {
    pub access_token: String,
    pub id_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
}

/// The user behind a verified access token, as the database has it now.
pub struct SessionUser {
    pub claims: AccessClaims,
    pub user: UserRow,
}

pub struct Accounts {
    db: DatabaseConnection,
    clock: SharedClock,
    hasher: Arc<PasswordHasher>,
    tokens: Arc<Tokens>,
    email_turns: Turns,
}

/// One async lock per key, created on demand and dropped when nobody waits for it.
#[derive(Default)]
struct Turns {
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

struct Turn<'a> {
    turns: &'a Turns,
    key: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Turns {
    async fn turn(&self, key: &str) -> Turn<'_> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.entry(key.to_owned()).or_default().clone()
        };
        Turn {
            turns: self,
            key: key.to_owned(),
            guard: Some(lock.lock_owned().await),
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut locks = self.turns.locks.lock().unwrap_or_else(|e| e.into_inner());
        if locks
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            locks.remove(&self.key);
        }
    }
}

fn new_refresh_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let digest = digest(&token);
    (token, digest)
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Lock duration after `failures` consecutive failures: 0 below the threshold, then 1 s
/// doubling per further failure, capped.
fn lockout_secs(failures: i32) -> i64 {
    if failures < LOCKOUT_AFTER {
        return 0;
    }
    let doublings = u32::try_from(failures - LOCKOUT_AFTER)
        .unwrap_or(u32::MAX)
        .min(20);
    (1_i64 << doublings).min(MAX_LOCKOUT_SECS)
}

impl Accounts {
    pub fn new(
        db: DatabaseConnection,
        clock: SharedClock,
        hasher: Arc<PasswordHasher>,
        tokens: Arc<Tokens>,
    ) -> Self {
        Self {
            db,
            clock,
            hasher,
            tokens,
            email_turns: Turns::default(),
        }
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    pub async fn sign_up(&self, email: &str, password: String) -> Result<NewUser, AuthError> {
        let email = Email::parse(email).map_err(|_| AuthError::InvalidEmail)?;
        let password = Password::parse(password).map_err(|_| AuthError::InvalidPassword)?;
        if store::find_by_email(&self.db, email.as_str())
            .await?
            .is_some()
        {
            return Err(AuthError::EmailTaken);
        }
        let password_hash = self.hasher.hash(password).await?;
        let user = UserRow {
            id: Uuid::new_v4().to_string(),
            email: email.into_string(),
            password_hash,
            tier: Tier::Free.as_str().to_owned(),
            team_id: None,
            created_at: self.now(),
            monthly_rule_allowance: None,
        };
        let created = NewUser {
            user_id: user.id.clone(),
            email: user.email.clone(),
            tier: Tier::Free,
        };
        store::insert_user(&self.db, user)
            .await
            .map_err(|e| match e {
                InsertUserError::EmailTaken => AuthError::EmailTaken,
                InsertUserError::Store(e) => AuthError::Store(e),
            })?;
        Ok(created)
    }

    pub async fn sign_in(&self, email: &str, password: String) -> Result<TokenSet, AuthError> {
        let email = Email::parse(email).map_err(|_| AuthError::InvalidEmail)?;
        // A password of impossible length cannot match; it still goes through the same path
        // (and the same hashing time) as a wrong one.
        let password = Password::parse(password).ok();
        // Attempts for one email take turns on this instance, so parallel guesses meet the
        // lock as soon as the fifth failure is recorded instead of all racing past the check.
        let _turn = self.email_turns.turn(email.as_str()).await;
        let now = self.now();
        if let Some(failures) = store::sign_in_failures(&self.db, email.as_str()).await?
            && failures.locked_until > now
        {
            let wait = u64::try_from(failures.locked_until - now).unwrap_or(1);
            return Err(AuthError::LockedOut {
                retry_after: Duration::from_secs(wait),
            });
        }
        let user = store::find_by_email(&self.db, email.as_str()).await?;
        let matched = match password {
            Some(password) => {
                let stored = user.as_ref().map(|u| u.password_hash.clone());
                self.hasher.verify(password, stored).await
            }
            None => {
                let filler = Password::parse("x".repeat(16)).map_err(|_| AuthError::Hashing)?;
                self.hasher.verify(filler, None).await
            }
        };
        let (Some(user), true) = (user, matched) else {
            store::record_sign_in_failure(&self.db, email.as_str(), now, lockout_secs).await?;
            return Err(AuthError::BadCredentials);
        };
        store::clear_sign_in_failures(&self.db, email.as_str()).await?;

        let session = sessions::Model {
            id: Uuid::new_v4().to_string(),
            user_id: user.id.clone(),
            auth_time: now,
            expires_at: now + REFRESH_LIFETIME_SECS,
            revoked_at: None,
        };
        let (refresh_token, refresh_digest) = new_refresh_token();
        store::create_session(&self.db, session.clone(), refresh_digest).await?;
        self.token_set(&user, &session, refresh_token).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, AuthError> {
        let now = self.now();
        if refresh_token.is_empty() || refresh_token.len() > 128 {
            return Err(AuthError::InvalidRefreshToken);
        }
        let old_digest = digest(refresh_token);
        let (token, session) = store::find_refresh_token(&self.db, &old_digest)
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        if session.revoked_at.is_some() || session.expires_at <= now {
            return Err(AuthError::InvalidRefreshToken);
        }
        if let Some(rotated_at) = token.rotated_at
            && now - rotated_at > REUSE_GRACE_SECS
        {
            // A replayed refresh token: whoever holds it, the session is no longer trusted.
            store::revoke_session(&self.db, &session.id, now).await?;
            return Err(AuthError::InvalidRefreshToken);
        }
        let user = store::find_by_id(&self.db, &session.user_id)
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        let (new_token, new_digest) = new_refresh_token();
        store::rotate_refresh_token(&self.db, &old_digest, new_digest, session.id.clone(), now)
            .await?;
        self.token_set(&user, &session, new_token).await
    }

    async fn token_set(
        &self,
        user: &UserRow,
        session: &sessions::Model,
        refresh_token: String,
    ) -> Result<TokenSet, AuthError> {
        let issued = self
            .tokens
            .issue(&Subject {
                user_id: &user.id,
                email: &user.email,
                tier: &user.tier,
                team_id: user.team_id.as_deref(),
                session_id: &session.id,
                auth_time: session.auth_time,
            })
            .await?;
        Ok(TokenSet {
            access_token: issued.access_token,
            id_token: issued.id_token,
            refresh_token,
            expires_in: TOKEN_LIFETIME_SECS,
        })
    }

    /// Ends the session (or every session of the user): its refresh and access tokens stop
    /// working.
    pub async fn sign_out(
        &self,
        user_id: &str,
        session_id: &str,
        global: bool,
    ) -> Result<(), AuthError> {
        let now = self.now();
        if global {
            store::revoke_all_sessions(&self.db, user_id, now).await?;
        } else {
            store::revoke_session(&self.db, session_id, now).await?;
        }
        Ok(())
    }

    /// A bearer JWT: a valid access token of a live session, with the user's current record.
    pub async fn authenticate_jwt(&self, token: &str) -> Result<SessionUser, AuthError> {
        let claims = self.tokens.verify_access(token).await?;
        let (session, user) = store::session_with_user(&self.db, &claims.origin_jti)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if session.revoked_at.is_some() || session.user_id != claims.sub {
            return Err(AuthError::InvalidToken);
        }
        Ok(SessionUser { claims, user })
    }

    pub async fn jwks(&self) -> Result<serde_json::Value, AuthError> {
        Ok(self.tokens.keys().jwks(self.now()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lockout_starts_at_five_failures_and_doubles_to_fifteen_minutes() {
        assert_eq!(lockout_secs(4), 0);
        assert_eq!(lockout_secs(5), 1);
        assert_eq!(lockout_secs(6), 2);
        assert_eq!(lockout_secs(7), 4);
        assert_eq!(lockout_secs(14), 512);
        assert_eq!(lockout_secs(15), 900);
        assert_eq!(lockout_secs(1000), 900);
    }

    #[test]
    fn refresh_tokens_are_256_random_bits_stored_as_digests() {
        let (token, stored) = new_refresh_token();
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), 32);
        assert_eq!(stored, digest(&token));
        assert!(!stored.contains(&token));
    }
}
