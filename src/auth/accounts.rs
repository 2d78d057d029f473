//! Sign-up, sign-in with lockout, refresh with rotation and reuse detection, sign-out, and the
//! session check behind every bearer JWT.

use std::sync::Arc;

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
pub(super) const REFRESH_LIFETIME_SECS: i64 = 30 * 24 * 3600;

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
    pub(super) db: DatabaseConnection,
    pub(super) clock: SharedClock,
    pub(super) hasher: Arc<PasswordHasher>,
    pub(super) tokens: Arc<Tokens>,
    pub(super) email_turns: Turns,
    pub(super) refresh: RefreshRules,
    pub(super) live: Arc<LiveState>,
    pub(super) issuers: Option<Arc<TrustedIssuers>>,
    pub(super) srp: Option<SrpVerifiers>,
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
        let for_srp = self.srp.as_ref().map(|_| super::sign_in::copy(&password));
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

    pub(super) async fn token_set(
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
    use std::time::{Duration, Instant};

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
}
