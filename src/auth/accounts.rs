//! Sign-up, sign-in with lockout, refresh with rotation and reuse detection, sign-out, and the
//! session check behind every bearer JWT.

use std::{sync::Arc, time::Duration};

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::{
    AuthError, LiveState, PasswordHasher, Tokens, external,
    issuers::TrustedIssuers,
    live::token_digest,
    refresh::{self, RefreshRules},
    srp::SrpVerifiers,
    tokens::{AccessClaims, Subject, TOKEN_LIFETIME_SECS},
    turns::Turns,
};
use crate::{
    audit::record_after,
    domain::{
        app_client::AppClient,
        audit::{AuditEvent, EventType},
        clock::SharedClock,
        email::Email,
        origin::RequestOrigin,
        password::Password,
        tier::Tier,
    },
    store::{
        changes::ChangeKind,
        entities::sessions,
        users::{self as store, InsertUserError, Rotation, SessionView, UserRow},
    },
};

/// Absolute lifetime of a sign-in session's refresh tokens.
const REFRESH_LIFETIME_SECS: i64 = 30 * 24 * 3600;
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
    /// None from a refresh that keeps its refresh token (Cognito's `REFRESH_TOKEN_AUTH`).
    pub refresh_token: Option<String>,
    pub expires_in: i64,
}

/// Who is signing in: REST names an email; a Cognito `USERNAME` is the user id or the email
/// (an alias, as in Cognito pools that sign in by email).
#[derive(Debug, Clone, Copy)]
pub enum Login<'a> {
    Email(&'a str),
    Username(&'a str),
}

/// How a client proves itself when it exchanges a refresh token.
#[derive(Debug, Clone, Copy)]
pub enum ClientProof<'a> {
    /// REST: no app client named; the session's own is used.
    Session,
    /// The app client, already checked (it sent no secret, or its `ClientSecret` matched).
    Checked(&'a AppClient),
    /// The app client and the `SECRET_HASH` it sent, checked against the canonical username
    /// (the user id) once the token names the user.
    SecretHash(&'a AppClient, Option<&'a str>),
}

/// Whether a refresh rotates its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotate {
    Yes,
    /// The token stays valid and no new one is issued.
    No,
}

/// The user behind a verified access token, as the database has it now (or as this instance
/// has been told it is: see `live`).
pub struct SessionUser {
    pub claims: Arc<AccessClaims>,
    pub user: UserRow,
}

pub struct Accounts {
    db: DatabaseConnection,
    clock: SharedClock,
    hasher: Arc<PasswordHasher>,
    tokens: Arc<Tokens>,
    email_turns: Turns,
    refresh: RefreshRules,
    live: Arc<LiveState>,
    issuers: Option<Arc<TrustedIssuers>>,
    pub(super) srp: Option<SrpVerifiers>,
}

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
    pub fn new(
        db: DatabaseConnection,
        clock: SharedClock,
        hasher: Arc<PasswordHasher>,
        tokens: Arc<Tokens>,
        refresh: RefreshRules,
        live: Arc<LiveState>,
    ) -> Self {
        Self {
            db,
            clock,
            hasher,
            tokens,
            email_turns: Turns::default(),
            refresh,
            live,
            issuers: None,
            srp: None,
        }
    }

    /// Keeps an SRP verifier for every password this pool learns (SRP sign-in is on).
    pub fn with_srp(mut self, verifiers: SrpVerifiers) -> Self {
        self.srp = Some(verifiers);
        self
    }

    pub(super) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(super) fn lineage(&self) -> &super::Lineage {
        &self.refresh.lineage
    }

    pub(super) fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Accepts the tokens of these external issuers beside our own.
    pub fn with_trusted_issuers(mut self, issuers: Arc<TrustedIssuers>) -> Self {
        self.issuers = (!issuers.is_empty()).then_some(issuers);
        self
    }

    pub(super) fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    /// Records an event after its change committed (see `audit` for why this cannot fail).
    pub(super) async fn audit(&self, event: AuditEvent) {
        record_after(&self.db, &self.clock, event).await;
    }

    pub async fn sign_up(
        &self,
        email: &str,
        password: String,
        origin: RequestOrigin,
    ) -> Result<NewUser, AuthError> {
        let email = Email::parse(email).map_err(|_| AuthError::InvalidEmail)?;
        let password = Password::parse(password).map_err(|_| AuthError::InvalidPassword)?;
        // The place in the hashing queue comes first: when the queue is full, the answer is
        // immediate and costs no database work.
        let admission = self.hasher.admit()?;
        if store::find_by_email(&self.db, email.as_str())
            .await?
            .is_some()
        {
            return Err(AuthError::EmailTaken);
        }
        let for_srp = self.srp.as_ref().map(|_| copy(&password));
        let password_hash = admission.hash(password).await?;
        let user = UserRow {
            id: Uuid::new_v4().to_string(),
            email: email.into_string(),
            password_hash,
            tier: Tier::Free.as_str().to_owned(),
            team_id: None,
            created_at: self.now(),
            monthly_rule_allowance: None,
            issuer: None,
            subject: None,
            external_email: None,
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
        if let (Some(srp), Some(password)) = (&self.srp, for_srp) {
            srp.store(&self.db, &created.user_id, password, self.now())
                .await?;
        }
        self.audit(AuditEvent::new(EventType::SignUp, origin).user(&created.user_id))
            .await;
        Ok(created)
    }

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

    /// Exchanges a refresh token for new tokens of its session. Every exchange of one token
    /// (concurrent, retried, or replayed within the grace period) gets the same successor, so
    /// a session never has more than one live refresh token; a rotated token presented after
    /// the grace period revokes the session. With `Rotate::No` the token stays the session's
    /// refresh token and no successor is made (a rotated one is judged the same way).
    pub async fn refresh(
        &self,
        refresh_token: &str,
        client: ClientProof<'_>,
        rotate: Rotate,
        origin: RequestOrigin,
    ) -> Result<TokenSet, AuthError> {
        let now = self.now();
        if refresh_token.is_empty() || refresh_token.len() > 128 {
            return Err(AuthError::InvalidRefreshToken);
        }
        let parent_digest = refresh::digest(refresh_token);
        let (parent, session) = store::find_refresh_token(&self.db, &parent_digest)
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        if session.revoked_at.is_some() || session.expires_at <= now {
            return Err(AuthError::InvalidRefreshToken);
        }
        let user = store::find_by_id(&self.db, &session.user_id)
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        self.check_client(&session, &user, client)?;
        let grace = self.refresh.grace.min(refresh::MAX_GRACE).as_secs();
        let grace = i64::try_from(grace).unwrap_or(0);
        let current = parent.rotated_at.is_none_or(|at| at >= now - grace);
        if rotate == Rotate::No && current {
            return self.token_set(&user, &session, None).await;
        }
        // A rotation, or a stale token presented without one: the store decides, and revokes
        // the session of a replayed token.
        let successor = self.refresh.lineage.successor(refresh_token);
        let reuse = AuditEvent::new(EventType::RefreshReuseDetected, origin).user(&user.id);
        let rotation = store::rotate_refresh_token(
            &self.db,
            &parent_digest,
            &refresh::digest(&successor),
            &session.id,
            now,
            now - grace,
            &reuse,
        )
        .await?;
        match rotation {
            Rotation::Successor => self.token_set(&user, &session, Some(successor)).await,
            // A replayed refresh token: whoever holds it, the session is no longer trusted (the
            // store revoked it in the same transaction).
            Rotation::Replayed => {
                self.live.apply(&ChangeKind::Session, &session.id);
                Err(AuthError::InvalidRefreshToken)
            }
            // Rotated into a token that is not its derived successor: answering would start a
            // second lineage.
            Rotation::Diverged => Err(AuthError::InvalidRefreshToken),
        }
    }

    /// A refresh token belongs to the app client its session was started for; a client with a
    /// secret proves it with the canonical username, which is the user id.
    fn check_client(
        &self,
        session: &sessions::Model,
        user: &UserRow,
        proof: ClientProof<'_>,
    ) -> Result<(), AuthError> {
        let client = match proof {
            ClientProof::Session => return Ok(()),
            ClientProof::Checked(client) => client,
            ClientProof::SecretHash(client, hash) => {
                if !client.secret_hash_matches(&user.id, hash) {
                    return Err(AuthError::BadClientSecret);
                }
                client
            }
        };
        if self.session_client(session) == client.id {
            Ok(())
        } else {
            Err(AuthError::InvalidRefreshToken)
        }
    }

    fn session_client<'s>(&'s self, session: &'s sessions::Model) -> &'s str {
        session
            .client_id
            .as_deref()
            .unwrap_or_else(|| &self.tokens.clients().default_client().id)
    }

    async fn token_set(
        &self,
        user: &UserRow,
        session: &sessions::Model,
        refresh_token: Option<String>,
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
                client_id: self.session_client(session),
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
        origin: RequestOrigin,
    ) -> Result<(), AuthError> {
        let now = self.now();
        if global {
            let event = AuditEvent::new(EventType::SignOutEverywhere, origin).user(user_id);
            store::revoke_all_sessions(&self.db, user_id, now, &event).await?;
            self.live.apply(&ChangeKind::UserSessions, user_id);
        } else {
            let event = AuditEvent::new(EventType::SignOut, origin).user(user_id);
            store::revoke_session(&self.db, session_id, now, &event).await?;
            self.live.apply(&ChangeKind::Session, session_id);
        }
        Ok(())
    }

    /// The user's active sessions, newest first.
    pub async fn sessions(&self, user_id: &str) -> Result<Vec<SessionView>, AuthError> {
        Ok(store::active_sessions(&self.db, user_id, self.now()).await?)
    }

    /// Revokes the session of a refresh token (Cognito's `RevokeToken`). A token that is
    /// unknown, expired or already revoked is not an error: what the client wants is so
    /// (RFC 7009).
    pub async fn revoke_refresh_token(
        &self,
        refresh_token: &str,
        client: ClientProof<'_>,
        origin: RequestOrigin,
    ) -> Result<(), AuthError> {
        if refresh_token.is_empty() || refresh_token.len() > 128 {
            return Ok(());
        }
        let digest = refresh::digest(refresh_token);
        let Some((_, session)) = store::find_refresh_token(&self.db, &digest).await? else {
            return Ok(());
        };
        if session.revoked_at.is_some() || session.expires_at <= self.now() {
            return Ok(());
        }
        let Some(user) = store::find_by_id(&self.db, &session.user_id).await? else {
            return Ok(());
        };
        self.check_client(&session, &user, client)?;
        self.sign_out(&user.id, &session.id, false, origin).await
    }

    /// Ends one of the user's sessions; its tokens fail from the next request on, on this
    /// instance at once and on the others through the change log.
    pub async fn revoke_session(
        &self,
        user_id: &str,
        session_id: &str,
        origin: RequestOrigin,
    ) -> Result<(), AuthError> {
        if session_id.is_empty() || session_id.len() > 64 {
            return Err(AuthError::SessionNotFound);
        }
        let event = AuditEvent::new(EventType::SessionRevoked, origin).user(user_id);
        if !store::revoke_own_session(&self.db, user_id, session_id, self.now(), &event).await? {
            return Err(AuthError::SessionNotFound);
        }
        self.live.apply(&ChangeKind::Session, session_id);
        Ok(())
    }

    /// A bearer JWT: a valid access token of a live session, with the user's current record.
    /// A token verified before is not verified again (its expiry is), and sessions and users
    /// come from memory while nothing changed them.
    pub async fn authenticate_jwt(&self, token: &str) -> Result<SessionUser, AuthError> {
        let digest = token_digest(token);
        let claims = match self.live.verified(&digest) {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(self.verify(token).await?);
                self.live.remember_verified(digest, claims.clone());
                claims
            }
        };
        // An external issuer's token holds only while its key is in the issuer's current set.
        if let (Some(key), Some(issuers)) = (&claims.signed_by, &self.issuers)
            && !issuers.still_trusts(key)
        {
            return Err(AuthError::InvalidToken);
        }
        if !self.tokens.unexpired(&claims) {
            return Err(AuthError::ExpiredToken);
        }
        let session = self
            .live
            .session(&claims.origin_jti)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if session.revoked {
            return Err(AuthError::RevokedToken);
        }
        if session.user.id != claims.sub {
            return Err(AuthError::InvalidToken);
        }
        Ok(SessionUser {
            claims,
            user: session.user,
        })
    }

    /// Verifies a token of ours or of a trusted external issuer (taken as one of ours).
    async fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        if let Some(issuers) = &self.issuers
            && let Some(iss) = issuers.claims_trusted_issuer(token)
        {
            let external = issuers.verify(iss, token).await?;
            return external::adopt(&self.live, external, self.now()).await;
        }
        self.tokens.verify_access(token).await
    }

    pub async fn jwks(&self) -> Result<serde_json::Value, AuthError> {
        Ok(self.tokens.keys().jwks(self.now()).await?)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::{
        auth::{HashingLimits, KeyRing, Lineage},
        domain::clock::{Clock, FakeClock},
    };

    const PASSWORD: &str = "correct horse battery";

    async fn accounts(dir: &tempfile::TempDir) -> (Accounts, Arc<FakeClock>, Arc<PasswordHasher>) {
        let start: DateTime<Utc> = "2026-02-14T10:00:00Z".parse().unwrap();
        let url = format!("sqlite://{}/auth.db?mode=rwc", dir.path().display());
        let db = crate::store::connect(Some(&url)).await.unwrap();
        let clock = Arc::new(FakeClock::new(start));
        let keys = KeyRing::load_or_create(db.clone(), clock.clone())
            .await
            .unwrap();
        let tokens = Arc::new(Tokens::new(
            "http://issuer.test".to_owned(),
            Arc::new(keys),
            clock.clone(),
            Arc::new("test_client".parse().unwrap()),
        ));
        let hasher = Arc::new(PasswordHasher::new(HashingLimits {
            concurrency: 1,
            queue_length: 4,
            max_wait: Duration::from_secs(60),
        }));
        let rules = RefreshRules {
            lineage: Lineage::load_or_create(&db, start.timestamp())
                .await
                .unwrap(),
            grace: Duration::from_secs(5),
        };
        let live = Arc::new(LiveState::new(db.clone(), clock.clone(), 0));
        let accounts = Accounts::new(db, clock.clone(), hasher.clone(), tokens, rules, live);
        (accounts, clock, hasher)
    }

    #[tokio::test]
    async fn a_lock_runs_from_the_end_of_the_password_check_not_from_the_arrival() {
        let dir = tempfile::tempdir().unwrap();
        let (accounts, clock, hasher) = accounts(&dir).await;
        let accounts = Arc::new(accounts);
        accounts
            .sign_up(
                "lock@example.com",
                PASSWORD.to_owned(),
                RequestOrigin::default(),
            )
            .await
            .unwrap();
        for _ in 0..4 {
            let failed = accounts
                .sign_in(
                    Login::Email("lock@example.com"),
                    "wrong password".to_owned(),
                    None,
                    RequestOrigin::default(),
                )
                .await;
            assert!(matches!(failed, Err(AuthError::BadCredentials)));
        }
        let arrived = clock.now().timestamp();

        // The fifth failure arrives while hashing is busy, and waits a minute for its turn.
        let busy = hasher.occupy().await;
        let fifth = tokio::spawn({
            let accounts = accounts.clone();
            async move {
                accounts
                    .sign_in(
                        Login::Email("lock@example.com"),
                        "wrong password".to_owned(),
                        None,
                        RequestOrigin::default(),
                    )
                    .await
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while hasher.waiting() == 0 {
            assert!(Instant::now() < deadline, "the sign-in never queued");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        clock.advance(Duration::from_secs(60));
        drop(busy);
        assert!(matches!(
            fifth.await.unwrap(),
            Err(AuthError::BadCredentials)
        ));

        let failures = store::sign_in_failures(&accounts.db, "lock@example.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(failures.failures, 5);
        assert_eq!(
            failures.locked_until,
            arrived + 60 + 1,
            "one second from now"
        );
        let locked = accounts
            .sign_in(
                Login::Email("lock@example.com"),
                PASSWORD.to_owned(),
                None,
                RequestOrigin::default(),
            )
            .await;
        let Err(AuthError::LockedOut { retry_after }) = locked else {
            panic!("the lock was already over when it was written");
        };
        assert_eq!(retry_after, Duration::from_secs(1));
    }

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
