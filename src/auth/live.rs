//! What the answer to a bearer JWT depends on, kept in memory so that a request with a known
//! token costs no database round trip: tokens already verified, sessions (revoked or not) and
//! users (tier, team). Whatever changes one of them is logged in the database (`store::changes`)
//! in the transaction of the change; this instance drops its copy at once when it made the
//! change, and every instance tails the log (`follow`) and drops what another one changed.
//!
//! A copy is taken only if no change was applied while it was read, so a read that raced a
//! change never puts a stale copy back. Copies older than [`MAX_AGE`] are read again, and while
//! the database cannot be reached a copy of any age answers (stale-if-error), so signed-in
//! users keep working through an outage.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::tokens::AccessClaims;
use crate::{
    domain::clock::SharedClock,
    metrics::Metrics,
    store::{
        StoreError,
        changes::{Change, ChangeKind},
        users::{self as store, UserRow},
    },
};

/// Copies older than this are read again (a safety net: changes are pushed).
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// Verified tokens remembered at most; past it the expired ones go, then all of them.
const MAX_VERIFIED: usize = 100_000;
/// Sessions and users remembered at most; past it all are dropped.
const MAX_ENTRIES: usize = 200_000;

/// The SHA-256 of a bearer token: the key of the verified-token cache, so the cache holds no
/// token and a lookup compares digests, not secrets.
pub type TokenDigest = [u8; 32];

pub fn token_digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

#[derive(Clone)]
struct CachedSession {
    user_id: String,
    revoked: bool,
    loaded_at: DateTime<Utc>,
}

#[derive(Clone)]
struct CachedUser {
    user: UserRow,
    loaded_at: DateTime<Utc>,
}

#[derive(Default)]
struct Copies {
    sessions: HashMap<String, CachedSession>,
    users: HashMap<String, CachedUser>,
    /// Changes applied so far; a read that started at another value may be stale.
    epoch: u64,
}

/// A session as a bearer token needs it.
pub struct SessionState {
    pub revoked: bool,
    pub user: UserRow,
}

pub struct LiveState {
    db: DatabaseConnection,
    clock: SharedClock,
    verified: Mutex<HashMap<TokenDigest, Arc<AccessClaims>>>,
    copies: Mutex<Copies>,
    /// The highest change-log sequence number applied by the follower.
    applied: watch::Sender<i64>,
    metrics: Metrics,
}

impl LiveState {
    pub fn new(db: DatabaseConnection, clock: SharedClock, applied_from: i64) -> Self {
        Self {
            db,
            clock,
            verified: Mutex::default(),
            copies: Mutex::default(),
            applied: watch::Sender::new(applied_from),
            metrics: Metrics::disabled(),
        }
    }

    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    fn copies(&self) -> MutexGuard<'_, Copies> {
        self.copies.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn verified_map(&self) -> MutexGuard<'_, HashMap<TokenDigest, Arc<AccessClaims>>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims of a token verified before (the caller still checks `exp`).
    pub fn verified(&self, digest: &TokenDigest) -> Option<Arc<AccessClaims>> {
        let found = self.verified_map().get(digest).cloned();
        self.metrics.cache("verified_tokens", found.is_some());
        found
    }

    pub fn remember_verified(&self, digest: TokenDigest, claims: Arc<AccessClaims>) {
        let now = self.clock.now().timestamp();
        let mut verified = self.verified_map();
        if verified.len() >= MAX_VERIFIED {
            verified.retain(|_, claims| claims.exp > now);
            if verified.len() >= MAX_VERIFIED {
                verified.clear();
            }
        }
        verified.insert(digest, claims);
    }

    /// The session and its user; `None` when there is no such session.
    pub async fn session(&self, session_id: &str) -> Result<Option<SessionState>, StoreError> {
        let now = self.clock.now();
        let fresh = |at: DateTime<Utc>| (now - at).to_std().is_ok_and(|age| age < MAX_AGE);
        let (epoch, stale) = {
            let copies = self.copies();
            let found = copies.sessions.get(session_id).and_then(|session| {
                let user = copies.users.get(&session.user_id)?;
                Some((session.clone(), user.clone()))
            });
            if let Some((session, user)) = &found
                && fresh(session.loaded_at)
                && fresh(user.loaded_at)
            {
                self.metrics.cache("sessions", true);
                return Ok(Some(SessionState {
                    revoked: session.revoked,
                    user: user.user.clone(),
                }));
            }
            (copies.epoch, found)
        };
        self.metrics.cache("sessions", false);
        let read = match store::session_with_user(&self.db, session_id).await {
            Ok(read) => read,
            Err(StoreError::Unavailable(err)) => {
                return match stale {
                    Some((session, user)) => Ok(Some(SessionState {
                        revoked: session.revoked,
                        user: user.user,
                    })),
                    None => Err(StoreError::Unavailable(err)),
                };
            }
            Err(err) => return Err(err),
        };
        let Some((session, user)) = read else {
            return Ok(None);
        };
        let revoked = session.revoked_at.is_some();
        let mut copies = self.copies();
        if copies.epoch == epoch {
            if copies.sessions.len() >= MAX_ENTRIES || copies.users.len() >= MAX_ENTRIES {
                copies.sessions.clear();
                copies.users.clear();
            }
            copies.sessions.insert(
                session.id,
                CachedSession {
                    user_id: user.id.clone(),
                    revoked,
                    loaded_at: now,
                },
            );
            copies.users.insert(
                user.id.clone(),
                CachedUser {
                    user: user.clone(),
                    loaded_at: now,
                },
            );
        }
        Ok(Some(SessionState { revoked, user }))
    }

    /// Drops what a change made stale. Idempotent: a change applied twice (here, then again
    /// from the log) only costs a read.
    pub fn apply(&self, kind: &ChangeKind, subject: &str) {
        let mut copies = self.copies();
        match kind {
            ChangeKind::Session => {
                copies.sessions.remove(subject);
            }
            ChangeKind::UserSessions => copies.sessions.retain(|_, s| s.user_id != subject),
            ChangeKind::User => {
                copies.users.remove(subject);
            }
        }
        copies.epoch += 1;
    }

    /// Applies changes read from the log and notes how far the log has been read.
    pub fn apply_logged(&self, changes: &[Change], read_up_to: i64) {
        for change in changes {
            self.apply(&change.kind, &change.subject);
        }
        self.applied.send_if_modified(|applied| {
            let moved = read_up_to > *applied;
            *applied = (*applied).max(read_up_to);
            moved
        });
    }

    /// Waits until the follower has read the change log up to `seq`.
    pub async fn applied(&self, seq: i64) {
        let mut applied = self.applied.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we borrow it.
        let _ = applied.wait_for(|applied| *applied >= seq).await;
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }
}
