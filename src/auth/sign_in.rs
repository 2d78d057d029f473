//! Password sign-in: the username (an email, or a user id of which the email is an alias), the
//! lockout of five failures doubling to fifteen minutes, the turns that keep parallel guesses
//! from racing past it, and the session a sign-in starts. SRP sign-in shares all but the
//! password check.

use std::time::Duration;

use uuid::Uuid;

use super::{
    AuthError, TokenSet,
    accounts::{Accounts, Login, REFRESH_LIFETIME_SECS},
    refresh,
};
use crate::{
    domain::{
        app_client::AppClient,
        audit::{AuditEvent, EventType},
        email::Email,
        origin::RequestOrigin,
        password::Password,
    },
    store::{
        entities::sessions,
        users::{self as store, UserRow},
    },
};

/// Consecutive failures that start the lockout.
const LOCKOUT_AFTER: i32 = 5;
/// The lockout doubles from 1 s up to this.
const MAX_LOCKOUT_SECS: i64 = 15 * 60;
/// Longest username (a user id) looked up.
const MAX_USERNAME_LEN: usize = 128;

/// A password checked against nothing, so an attempt that cannot match takes the time of one
/// that could.
fn filler() -> Result<Password, AuthError> {
    Password::parse("x".repeat(16)).map_err(|_| AuthError::Hashing)
}

/// A second copy of a password, for the SRP verifier made beside its hash.
pub(super) fn copy(password: &Password) -> Password {
    Password::parse(password.expose().to_owned()).expect("a parsed password parses again")
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
    /// Signs in with a password and starts a session whose tokens are issued to `client` (the
    /// default client when None).
    pub async fn sign_in(
        &self,
        login: Login<'_>,
        password: String,
        client: Option<&AppClient>,
        origin: RequestOrigin,
    ) -> Result<TokenSet, AuthError> {
        if let Login::Email(email) = login {
            Email::parse(email).map_err(|_| AuthError::InvalidEmail)?;
        }
        // A password of impossible length cannot match; it still goes through the same path
        // (and the same hashing time) as a wrong one.
        let password = Password::parse(password).ok();
        // The place in the hashing queue comes first: when the queue is full, the answer is
        // immediate and costs no database work.
        let admission = self.hasher.admit()?;
        let Some(key) = self.lock_key(login).await? else {
            // A username that names nobody takes as long as a wrong password, and fails alike.
            admission.verify(filler()?, None).await?;
            self.audit(AuditEvent::new(EventType::SignInFailed, origin))
                .await;
            return Err(AuthError::BadCredentials);
        };
        // Attempts for one login take turns on this instance, so parallel guesses meet the
        // lock as soon as the fifth failure is recorded instead of all racing past the check.
        // The wait for a turn counts against the same bound as the wait for hashing.
        let _turn = admission.within(self.email_turns.turn(&key)).await?;
        self.refuse_if_locked(&key, &origin).await?;
        let user = store::find_by_email(&self.db, &key).await?;
        let for_srp = match (&self.srp, &password) {
            (Some(_), Some(password)) => Some(copy(password)),
            _ => None,
        };
        let matched = match password {
            Some(password) => {
                let stored = user.as_ref().map(|u| u.password_hash.clone());
                admission.verify(password, stored).await?
            }
            None => admission.verify(filler()?, None).await?,
        };
        let (Some(user), true) = (user, matched) else {
            self.record_failure(&key, origin).await?;
            return Err(AuthError::BadCredentials);
        };
        store::clear_sign_in_failures(&self.db, &key).await?;
        // A user who signed up before SRP was on gets a verifier the first time the password
        // is seen again.
        if let (Some(srp), Some(password)) = (&self.srp, for_srp) {
            srp.store_if_missing(&self.db, &user.id, password, self.now())
                .await?;
        }
        self.start_session(&user, client, origin).await
    }

    /// What the lockout of `login` is counted under: the email of the account it names.
    /// None for a username that names no local user (nothing to lock).
    pub(super) async fn lock_key(&self, login: Login<'_>) -> Result<Option<String>, AuthError> {
        let username = match login {
            Login::Email(email) | Login::Username(email) if email.contains('@') => {
                return Ok(Email::parse(email).ok().map(Email::into_string));
            }
            Login::Email(_) => return Err(AuthError::InvalidEmail),
            Login::Username(username) => username,
        };
        if username.is_empty() || username.len() > MAX_USERNAME_LEN {
            return Ok(None);
        }
        let user = store::find_by_id(&self.db, username).await?;
        // A user of an external issuer signs in there, never here.
        Ok(user.filter(|u| u.issuer.is_none()).map(|u| u.email))
    }

    /// Refuses a sign-in while its login is locked out.
    pub(super) async fn refuse_if_locked(
        &self,
        key: &str,
        origin: &RequestOrigin,
    ) -> Result<(), AuthError> {
        let now = self.now();
        let Some(failures) = store::sign_in_failures(&self.db, key).await? else {
            return Ok(());
        };
        if failures.locked_until <= now {
            return Ok(());
        }
        let wait = u64::try_from(failures.locked_until - now).unwrap_or(1);
        let user = store::find_by_email(&self.db, key).await?;
        let mut event = AuditEvent::new(EventType::SignInLockedOut, origin.clone())
            .detail(format!("refused: locked for {wait} more s"));
        event.user_id = user.map(|u| u.id);
        self.audit(event).await;
        Err(AuthError::LockedOut {
            retry_after: Duration::from_secs(wait),
        })
    }

    /// Counts a failed sign-in of `key`. The check may have waited for its turn at hashing; a
    /// lock it sets runs from now, not from when the attempt arrived (else under load it could
    /// be over when written).
    pub(super) async fn record_failure(
        &self,
        key: &str,
        origin: RequestOrigin,
    ) -> Result<(), AuthError> {
        let failures =
            store::record_sign_in_failure(&self.db, key, self.now(), lockout_secs).await?;
        let mut event = match lockout_secs(failures) {
            0 => AuditEvent::new(EventType::SignInFailed, origin),
            lock => AuditEvent::new(EventType::SignInLockedOut, origin)
                .detail(format!("locked for {lock} s after {failures} failures")),
        };
        event.user_id = store::find_by_email(&self.db, key).await?.map(|u| u.id);
        self.audit(event).await;
        Ok(())
    }

    /// Takes the turn of `key` for a sign-in that does no hashing (SRP).
    pub(super) async fn turn(&self, key: &str) -> super::turns::Turn<'_> {
        self.email_turns.turn(key).await
    }

    /// A new session of `user` with its first tokens.
    pub(super) async fn start_session(
        &self,
        user: &UserRow,
        client: Option<&AppClient>,
        origin: RequestOrigin,
    ) -> Result<TokenSet, AuthError> {
        let now = self.now();
        let session = sessions::Model {
            id: Uuid::new_v4().to_string(),
            user_id: user.id.clone(),
            auth_time: now,
            expires_at: now + REFRESH_LIFETIME_SECS,
            revoked_at: None,
            client_address: origin.client_address.clone(),
            user_agent: origin.user_agent.clone(),
            client_id: client.map(|c| c.id.clone()),
        };
        let (refresh_token, refresh_digest) = refresh::first_token();
        store::create_session(&self.db, session.clone(), refresh_digest).await?;
        let tokens = self.token_set(user, &session, Some(refresh_token)).await?;
        self.audit(AuditEvent::new(EventType::SignIn, origin).user(&user.id))
            .await;
        Ok(tokens)
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
}
