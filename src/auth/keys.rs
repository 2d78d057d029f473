//! The RSA keys that sign tokens. The newest key that is not retired signs; retired keys keep
//! verifying (and stay in the JWKS) until every token they signed has expired. Keys live in the
//! database so every instance signs and verifies with the same set; each instance caches them
//! and reloads when it meets an unknown `kid` or when its copy is a minute old. Reloads are
//! single-flight: concurrent requests share one, and unknown `kid`s cause at most one per
//! interval, so a flood of forged tokens costs at most one query a second.

use std::{
    collections::HashMap,
    sync::{
        RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use aws_lc_rs::{
    encoding::AsDer,
    rsa::{KeyPair, KeySize, PublicKeyComponents},
    signature::KeyPair as _,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};
use sea_orm::DatabaseConnection;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{AuthError, tokens::TOKEN_LIFETIME_SECS};
use crate::{
    domain::clock::SharedClock,
    store::{
        StoreError,
        signing_keys::{self, SigningKeyRow},
    },
};

/// How long a cached key set is trusted before it is read again (picks up rotations made by
/// another instance or the CLI).
const CACHE_TTL: Duration = Duration::from_secs(60);
/// Unknown `kid`s trigger at most one reload per this interval, so garbage tokens cannot turn
/// into a query each.
const MISS_RELOAD_INTERVAL: Duration = Duration::from_secs(1);
/// Slack after a retired key's last token expires before it leaves the JWKS.
const RETIREMENT_SLACK_SECS: i64 = 60;

struct Cached {
    signing: Option<(String, EncodingKey)>,
    verifying: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
    loaded_at: DateTime<Utc>,
}

pub struct KeyRing {
    db: DatabaseConnection,
    clock: SharedClock,
    cache: RwLock<Cached>,
    /// When a reload was last attempted. Held across the reload, so concurrent callers wait
    /// for the one in flight and then look again instead of querying themselves.
    last_attempt: tokio::sync::Mutex<DateTime<Utc>>,
    /// Reloads attempted since start (for tests and diagnostics).
    reloads: AtomicU64,
}

/// A freshly generated key, ready to store.
pub fn generate(now: i64) -> Result<SigningKeyRow, AuthError> {
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| AuthError::Signing)?;
    let pkcs8 = pair.as_der().map_err(|_| AuthError::Signing)?;
    let components = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    let n = URL_SAFE_NO_PAD.encode(&components.n);
    let e = URL_SAFE_NO_PAD.encode(&components.e);
    Ok(SigningKeyRow {
        kid: thumbprint(&n, &e),
        private_key_pem: pem(pkcs8.as_ref()),
        n,
        e,
        created_at: now,
        retired_at: None,
    })
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url): the members in lexical order, no spaces.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn pem(pkcs8_der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(pkcs8_der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

/// Whether a key still verifies at `now`.
fn in_service(key: &SigningKeyRow, now: i64) -> bool {
    key.retired_at
        .is_none_or(|retired| retired + TOKEN_LIFETIME_SECS + RETIREMENT_SLACK_SECS > now)
}

fn build_cache(rows: &[SigningKeyRow], loaded_at: DateTime<Utc>) -> Cached {
    let now = loaded_at.timestamp();
    let live: Vec<_> = rows.iter().filter(|k| in_service(k, now)).collect();
    let signing = live.iter().find(|k| k.retired_at.is_none()).and_then(|k| {
        EncodingKey::from_rsa_pem(k.private_key_pem.as_bytes())
            .ok()
            .map(|key| (k.kid.clone(), key))
    });
    let verifying = live
        .iter()
        .filter_map(|k| {
            DecodingKey::from_rsa_components(&k.n, &k.e)
                .ok()
                .map(|key| (k.kid.clone(), key))
        })
        .collect();
    let jwks = json!({
        "keys": live.iter().map(|k| json!({
            "kty": "RSA",
            "kid": k.kid,
            "use": "sig",
            "alg": "RS256",
            "n": k.n,
            "e": k.e,
        })).collect::<Vec<_>>()
    });
    Cached {
        signing,
        verifying,
        jwks,
        loaded_at,
    }
}

impl KeyRing {
    /// Loads the keys, generating the first one when the database has none.
    pub async fn load_or_create(
        db: DatabaseConnection,
        clock: SharedClock,
    ) -> Result<Self, AuthError> {
        let now = clock.now();
        let mut rows = signing_keys::all(&db).await?;
        if !rows.iter().any(|k| k.retired_at.is_none()) {
            let key = generate(now.timestamp())?;
            signing_keys::activate(&db, key, now.timestamp()).await?;
            rows = signing_keys::all(&db).await?;
        }
        let cache = RwLock::new(build_cache(&rows, now));
        Ok(Self {
            db,
            clock,
            cache,
            last_attempt: tokio::sync::Mutex::new(now),
            reloads: AtomicU64::new(0),
        })
    }

    /// Adds a new active key; the previous one retires and keeps verifying.
    pub async fn rotate(db: &DatabaseConnection, now: i64) -> Result<String, AuthError> {
        let key = generate(now)?;
        let kid = key.kid.clone();
        signing_keys::activate(db, key, now).await?;
        Ok(kid)
    }

    /// How many reloads this instance has attempted since it started.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    fn loaded_at(&self) -> DateTime<Utc> {
        self.cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .loaded_at
    }

    fn since(&self, then: DateTime<Utc>) -> Duration {
        (self.clock.now() - then).to_std().unwrap_or_default()
    }

    /// Reloads the set unless another caller did while this one waited or an attempt was made
    /// less than `min_gap` ago. `wanted` says whether the copy still needs a reload once the
    /// lock is held.
    async fn reload_once(
        &self,
        min_gap: Duration,
        wanted: impl Fn(&Self) -> bool,
    ) -> Result<(), StoreError> {
        let mut last_attempt = self.last_attempt.lock().await;
        if !wanted(self) || self.since(*last_attempt) < min_gap {
            return Ok(());
        }
        *last_attempt = self.clock.now();
        self.reloads.fetch_add(1, Ordering::Relaxed);
        let rows = signing_keys::all(&self.db).await?;
        let fresh = build_cache(&rows, self.clock.now());
        *self.cache.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// Picks up rotations made elsewhere once the copy is old. A failed reload keeps the copy:
    /// its keys stay valid (a retired key verifies for a token lifetime anyway), so tokens keep
    /// working while the database is away.
    async fn refresh_if_stale(&self) {
        if self.since(self.loaded_at()) <= CACHE_TTL {
            return;
        }
        let stale = |ring: &Self| ring.since(ring.loaded_at()) > CACHE_TTL;
        if let Err(err) = self.reload_once(MISS_RELOAD_INTERVAL, stale).await {
            tracing::warn!(error = %err, "could not reload the signing keys; using the loaded ones");
        }
    }

    // The `_now` parameters below are kept for callers; the ring reads its own clock, whose
    // sub-second resolution the one-second reload interval needs.

    /// The active key's id and signing key.
    pub async fn signing_key(&self, _now: i64) -> Result<(String, EncodingKey), AuthError> {
        self.refresh_if_stale().await;
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        cache.signing.clone().ok_or(AuthError::Signing)
    }

    /// The verifying key for `kid`, reloading (single-flight, at most once per interval) when
    /// it is not known yet.
    pub async fn decoding_key(
        &self,
        kid: &str,
        _now: i64,
    ) -> Result<Option<DecodingKey>, StoreError> {
        self.refresh_if_stale().await;
        if let Some(key) = self.lookup(kid) {
            return Ok(Some(key));
        }
        self.reload_once(MISS_RELOAD_INTERVAL, |ring| ring.lookup(kid).is_none())
            .await?;
        Ok(self.lookup(kid))
    }

    fn lookup(&self, kid: &str) -> Option<DecodingKey> {
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        cache.verifying.get(kid).cloned()
    }

    /// The JWKS document: every key that still verifies, public members only.
    pub async fn jwks(&self, _now: i64) -> Result<serde_json::Value, StoreError> {
        self.refresh_if_stale().await;
        Ok(self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .jwks
            .clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_signs_and_its_thumbprint_is_stable() {
        let key = generate(0).unwrap();
        assert_eq!(key.kid, thumbprint(&key.n, &key.e));
        assert_eq!(key.e, "AQAB");
        assert!(EncodingKey::from_rsa_pem(key.private_key_pem.as_bytes()).is_ok());
    }

    #[test]
    fn thumbprint_matches_the_rfc_7638_example() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
