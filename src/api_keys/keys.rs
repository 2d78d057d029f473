//! Key management use cases. Keys are shown once, stored as digests, and addressed by prefix.

use std::{collections::HashMap, sync::Mutex};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use subtle::ConstantTimeEq;

use crate::{
    audit::record_after,
    authn::Principal,
    domain::{
        api_key::{
            ApiKeySecret, DEFAULT_DAILY_LIMIT, DailyLimit, DailyLimitCeilings, KeyName, KeyPrefix,
        },
        audit::{AuditEvent, EventType},
        clock::{SharedClock, utc_day},
        origin::RequestOrigin,
    },
    metrics::Metrics,
    store::{
        StoreError,
        api_keys::{self as store, ApiKeyRow, InsertKeyError, KeyView, NewKey},
        users::UserRow,
    },
};

/// Attempts at drawing a key whose prefix was never issued before giving up (a collision of
/// 32 random bits is rare; several in a row mean something else is wrong).
const MAX_DRAWS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("API keys are available on the pro, team and enterprise tiers")]
    TierWithoutKeys,
    #[error("name must be 1 to 100 characters without control characters")]
    InvalidName,
    #[error("dailyLimit must be an integer from 1 to {max}")]
    InvalidDailyLimit { max: i32 },
    #[error("give a name or a dailyLimit to change")]
    NothingToUpdate,
    #[error("API key not found")]
    NotFound,
    #[error("days must be an integer from 1 to {max}", max = MAX_HISTORY_DAYS)]
    InvalidDays,
    #[error("could not draw an unused key prefix")]
    PrefixesExhausted,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Longest history of a key's daily counts (what retention keeps by default).
pub const MAX_HISTORY_DAYS: i32 = 400;
/// History length when the caller names none.
const DEFAULT_HISTORY_DAYS: i32 = 30;

/// One UTC day of a key's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub count: i32,
}

pub struct CreatedKey {
    pub key: ApiKeySecret,
    pub view: KeyView,
}

/// How long an instance may answer from its copy of a key and its owner. The copy never decides
/// whether a request counts (the counting statement reads the key, its limit and its owner's
/// tier as they are), so this bounds only how stale a refusal's details or an upgrade can be.
const KEY_CACHE_TTL_MS: i64 = 500;
/// Entries kept before expired ones are swept.
const KEY_CACHE_SWEEP_AT: usize = 10_000;
/// How long a digest that matched no live key is answered from memory. A digest cannot turn
/// into a live key (keys are 256 random bits drawn at creation, and revocation is final), so the
/// time bounds memory, not correctness; a few seconds absorb a flood of one stolen or made-up key.
const MISS_CACHE_TTL_MS: i64 = 5_000;
/// Unknown digests remembered at most; past it the expired ones go, then all of them.
const MISS_CACHE_MAX: usize = 10_000;
/// `last_used_at` is written at most this often per key (the contract asks for a minute).
const LAST_USED_RESOLUTION_SECS: i64 = 60;

struct CachedKey {
    loaded_at: DateTime<Utc>,
    key: ApiKeyRow,
    owner: UserRow,
}

pub struct ApiKeys {
    db: DatabaseConnection,
    clock: SharedClock,
    ceilings: DailyLimitCeilings,
    /// Live keys by digest.
    cache: Mutex<HashMap<String, CachedKey>>,
    /// Digests that matched no live key, with when they were looked up.
    misses: Mutex<HashMap<String, DateTime<Utc>>>,
    /// When this instance last wrote `last_used_at`, by key id.
    last_written: Mutex<HashMap<i64, i64>>,
    metrics: Metrics,
}

impl ApiKeys {
    pub fn new(db: DatabaseConnection, clock: SharedClock, ceilings: DailyLimitCeilings) -> Self {
        Self {
            db,
            clock,
            ceilings,
            cache: Mutex::default(),
            misses: Mutex::default(),
            last_written: Mutex::default(),
            metrics: Metrics::disabled(),
        }
    }

    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedKey>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn misses(&self) -> std::sync::MutexGuard<'_, HashMap<String, DateTime<Utc>>> {
        self.misses.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `digest` matched no live key a moment ago.
    fn recently_missed(&self, digest: &str, now: DateTime<Utc>) -> bool {
        self.misses()
            .get(digest)
            .is_some_and(|at| (now - *at).num_milliseconds() < MISS_CACHE_TTL_MS)
    }

    fn remember_miss(&self, digest: String, now: DateTime<Utc>) {
        let mut misses = self.misses();
        if misses.len() >= MISS_CACHE_MAX {
            misses.retain(|_, at| (now - *at).num_milliseconds() < MISS_CACHE_TTL_MS);
            if misses.len() >= MISS_CACHE_MAX {
                misses.clear();
            }
        }
        misses.insert(digest, now);
    }

    /// Forgets this instance's copy of a key after it changed.
    fn forget(&self, prefix: &KeyPrefix) {
        self.cache()
            .retain(|_, cached| cached.key.prefix != prefix.as_str());
    }

    fn ceiling(&self, caller: &Principal) -> Result<i32, ApiKeyError> {
        self.ceilings
            .ceiling(caller.tier)
            .ok_or(ApiKeyError::TierWithoutKeys)
    }

    fn limit(&self, caller: &Principal, value: i32) -> Result<DailyLimit, ApiKeyError> {
        let max = self.ceiling(caller)?;
        DailyLimit::parse(value, max).map_err(|e| ApiKeyError::InvalidDailyLimit { max: e.max })
    }

    pub async fn create(
        &self,
        caller: &Principal,
        name: &str,
        daily_limit: Option<i32>,
        origin: RequestOrigin,
    ) -> Result<CreatedKey, ApiKeyError> {
        self.ceiling(caller)?;
        let name = KeyName::parse(name).map_err(|_| ApiKeyError::InvalidName)?;
        let daily_limit = self.limit(caller, daily_limit.unwrap_or(DEFAULT_DAILY_LIMIT))?;
        let now = self.clock.now().timestamp();
        for _ in 0..MAX_DRAWS {
            let key = ApiKeySecret::generate();
            let prefix = key.prefix().as_str().to_owned();
            let row = NewKey {
                prefix: prefix.clone(),
                digest: key.digest(),
                user_id: caller.user_id.clone(),
                name: name.as_str().to_owned(),
                daily_limit: daily_limit.get(),
                created_at: now,
            };
            match store::insert(&self.db, row).await {
                Ok(()) => {
                    let view = KeyView {
                        prefix,
                        name: name.as_str().to_owned(),
                        daily_limit: daily_limit.get(),
                        used_today: 0,
                        created_at: now,
                        last_used_at: None,
                    };
                    let event = AuditEvent::new(EventType::ApiKeyCreated, origin)
                        .user(&caller.user_id)
                        .key(&view.prefix)
                        .detail(format!("dailyLimit {}", view.daily_limit));
                    // After the insert and never failing: the key is shown only in this answer.
                    record_after(&self.db, &self.clock, event).await;
                    return Ok(CreatedKey { key, view });
                }
                // Prefixes are never reused: draw again.
                Err(InsertKeyError::Taken) => continue,
                Err(InsertKeyError::Store(err)) => return Err(err.into()),
            }
        }
        Err(ApiKeyError::PrefixesExhausted)
    }

    /// The live key with this secret and its owner, from this instance's copy when it is
    /// fresh. The copy may miss a change made on another instance a moment ago; the counting
    /// statement decides with the database's state, and a key it refuses is read again with
    /// [`ApiKeys::reload`].
    pub async fn authenticate(
        &self,
        secret: &ApiKeySecret,
    ) -> Result<Option<(ApiKeyRow, UserRow)>, ApiKeyError> {
        let digest = secret.digest();
        let now = self.clock.now();
        if let Some(cached) = self.cache().get(&digest)
            && (now - cached.loaded_at).num_milliseconds() < KEY_CACHE_TTL_MS
        {
            self.metrics.cache("api_keys", true);
            return Ok(Some((cached.key.clone(), cached.owner.clone())));
        }
        // A remembered miss answers from memory too.
        if self.recently_missed(&digest, now) {
            self.metrics.cache("api_keys", true);
            return Ok(None);
        }
        self.metrics.cache("api_keys", false);
        self.load(digest, now).await
    }

    /// The live key with this secret and its owner as the database has them now.
    pub async fn reload(
        &self,
        secret: &ApiKeySecret,
    ) -> Result<Option<(ApiKeyRow, UserRow)>, ApiKeyError> {
        self.load(secret.digest(), self.clock.now()).await
    }

    /// Reads a key from the database (the digest is compared in constant time after the
    /// indexed lookup) and keeps the answer.
    async fn load(
        &self,
        digest: String,
        now: DateTime<Utc>,
    ) -> Result<Option<(ApiKeyRow, UserRow)>, ApiKeyError> {
        let found = store::find_by_digest(&self.db, &digest)
            .await?
            .filter(|(key, _)| {
                key.revoked_at.is_none()
                    && bool::from(key.digest.as_bytes().ct_eq(digest.as_bytes()))
            });
        let mut cache = self.cache();
        match &found {
            Some((key, owner)) => {
                if cache.len() >= KEY_CACHE_SWEEP_AT {
                    cache.retain(|_, c| (now - c.loaded_at).num_milliseconds() < KEY_CACHE_TTL_MS);
                }
                cache.insert(
                    digest,
                    CachedKey {
                        loaded_at: now,
                        key: key.clone(),
                        owner: owner.clone(),
                    },
                );
            }
            None => {
                cache.remove(&digest);
                drop(cache);
                self.remember_miss(digest, now);
            }
        }
        Ok(found)
    }

    /// Notes a successful use of `key` (at most once a minute per key). Best effort: the request
    /// was already counted and succeeds even if this write fails.
    pub async fn record_use(&self, key: &ApiKeyRow) {
        let now = self.clock.now().timestamp();
        {
            let mut written = self.last_written.lock().unwrap_or_else(|e| e.into_inner());
            let last = written.get(&key.id).copied().or(key.last_used_at);
            if last.is_some_and(|t| now - t < LAST_USED_RESOLUTION_SECS) {
                return;
            }
            if written.len() >= KEY_CACHE_SWEEP_AT {
                written.retain(|_, t| now - *t < LAST_USED_RESOLUTION_SECS);
            }
            written.insert(key.id, now);
        }
        if let Err(err) = store::touch(&self.db, key.id, now).await {
            tracing::warn!(error = %err, "could not record the last use of an API key");
        }
    }

    pub async fn list(&self, caller: &Principal) -> Result<Vec<KeyView>, ApiKeyError> {
        let day = utc_day(self.clock.now());
        Ok(store::list(&self.db, &caller.user_id, day).await?)
    }

    pub async fn update(
        &self,
        caller: &Principal,
        prefix: &str,
        name: Option<&str>,
        daily_limit: Option<i32>,
        origin: RequestOrigin,
    ) -> Result<KeyView, ApiKeyError> {
        let prefix = KeyPrefix::parse(prefix).map_err(|_| ApiKeyError::NotFound)?;
        if name.is_none() && daily_limit.is_none() {
            return Err(ApiKeyError::NothingToUpdate);
        }
        let name = name
            .map(KeyName::parse)
            .transpose()
            .map_err(|_| ApiKeyError::InvalidName)?;
        let daily_limit = daily_limit
            .map(|value| self.limit(caller, value))
            .transpose()?;
        // What changed, without the new name itself (user text that an audit row need not hold).
        let detail = match (&name, daily_limit) {
            (Some(_), Some(limit)) => format!("name, dailyLimit {}", limit.get()),
            (Some(_), None) => "name".to_owned(),
            (None, Some(limit)) => format!("dailyLimit {}", limit.get()),
            (None, None) => String::new(),
        };
        let updated = store::update(
            &self.db,
            &caller.user_id,
            prefix.as_str(),
            name.map(|n| n.as_str().to_owned()),
            daily_limit.map(DailyLimit::get),
        )
        .await?;
        self.forget(&prefix);
        if !updated {
            return Err(ApiKeyError::NotFound);
        }
        let event = AuditEvent::new(EventType::ApiKeyUpdated, origin)
            .user(&caller.user_id)
            .key(prefix.as_str())
            .detail(detail);
        record_after(&self.db, &self.clock, event).await;
        let day = utc_day(self.clock.now());
        store::find_owned(&self.db, &caller.user_id, prefix.as_str(), day)
            .await?
            .ok_or(ApiKeyError::NotFound)
    }

    /// The key's count of each of the last `days` UTC days (0 or absent: 30), oldest first,
    /// days without requests as 0.
    pub async fn history(
        &self,
        caller: &Principal,
        prefix: &str,
        days: i32,
    ) -> Result<Vec<DayCount>, ApiKeyError> {
        let days = match days {
            0 => DEFAULT_HISTORY_DAYS,
            1..=MAX_HISTORY_DAYS => days,
            _ => return Err(ApiKeyError::InvalidDays),
        };
        let prefix = KeyPrefix::parse(prefix).map_err(|_| ApiKeyError::NotFound)?;
        let key_id = store::owned_key_id(&self.db, &caller.user_id, prefix.as_str())
            .await?
            .ok_or(ApiKeyError::NotFound)?;
        let today = utc_day(self.clock.now());
        let from = today - i64::from(days) + 1;
        let counted: HashMap<i64, i32> = store::daily_counts(&self.db, key_id, from, today)
            .await?
            .into_iter()
            .collect();
        Ok((from..=today)
            .map(|day| DayCount {
                date: DateTime::from_timestamp(day * 86_400, 0)
                    .map(|at| at.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
                count: counted.get(&day).copied().unwrap_or(0),
            })
            .collect())
    }

    pub async fn revoke(
        &self,
        caller: &Principal,
        prefix: &str,
        origin: RequestOrigin,
    ) -> Result<(), ApiKeyError> {
        let prefix = KeyPrefix::parse(prefix).map_err(|_| ApiKeyError::NotFound)?;
        let now = self.clock.now().timestamp();
        let revoked = store::revoke(&self.db, &caller.user_id, prefix.as_str(), now).await?;
        self.forget(&prefix);
        if revoked {
            let event = AuditEvent::new(EventType::ApiKeyRevoked, origin)
                .user(&caller.user_id)
                .key(prefix.as_str());
            record_after(&self.db, &self.clock, event).await;
            Ok(())
        } else {
            Err(ApiKeyError::NotFound)
        }
    }
}
