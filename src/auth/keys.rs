//! The RSA keys that sign tokens. The newest key that is not retired signs; retired keys keep
//! verifying (and stay in the JWKS) until every token they signed has expired. Keys live in the
//! database so every instance signs and verifies with the same set; each instance caches them
//! and reloads when it meets an unknown `kid` or when its copy is a minute old.

use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration, Instant},
};

use aws_lc_rs::{
    encoding::AsDer,
    rsa::{KeyPair, KeySize, PublicKeyComponents},
    signature::KeyPair as _,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use sea_orm::DatabaseConnection;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{AuthError, tokens::TOKEN_LIFETIME_SECS};
use crate::store::{
    StoreError,
    signing_keys::{self, SigningKeyRow},
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
    loaded_at: Instant,
}

pub struct KeyRing {
    db: DatabaseConnection,
    cache: RwLock<Cached>,
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

fn build_cache(rows: &[SigningKeyRow], now: i64) -> Cached {
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
        loaded_at: Instant::now(),
    }
}

impl KeyRing {
    /// Loads the keys, generating the first one when the database has none.
    pub async fn load_or_create(db: DatabaseConnection, now: i64) -> Result<Self, AuthError> {
        let mut rows = signing_keys::all(&db).await?;
        if !rows.iter().any(|k| k.retired_at.is_none()) {
            let key = generate(now)?;
            signing_keys::activate(&db, key, now).await?;
            rows = signing_keys::all(&db).await?;
        }
        let cache = RwLock::new(build_cache(&rows, now));
        Ok(Self { db, cache })
    }

    /// Adds a new active key; the previous one retires and keeps verifying.
    pub async fn rotate(db: &DatabaseConnection, now: i64) -> Result<String, AuthError> {
        let key = generate(now)?;
        let kid = key.kid.clone();
        signing_keys::activate(db, key, now).await?;
        Ok(kid)
    }

    async fn reload(&self, now: i64) -> Result<(), StoreError> {
        let rows = signing_keys::all(&self.db).await?;
        let fresh = build_cache(&rows, now);
        *self.cache.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    fn age(&self) -> Duration {
        self.cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .loaded_at
            .elapsed()
    }

    async fn refresh_if_stale(&self, now: i64) -> Result<(), StoreError> {
        if self.age() > CACHE_TTL {
            self.reload(now).await?;
        }
        Ok(())
    }

    /// The active key's id and signing key.
    pub async fn signing_key(&self, now: i64) -> Result<(String, EncodingKey), AuthError> {
        self.refresh_if_stale(now).await?;
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        cache.signing.clone().ok_or(AuthError::Signing)
    }

    /// The verifying key for `kid`, reloading once (throttled) when it is not known yet.
    pub async fn decoding_key(
        &self,
        kid: &str,
        now: i64,
    ) -> Result<Option<DecodingKey>, StoreError> {
        self.refresh_if_stale(now).await?;
        if let Some(key) = self.lookup(kid) {
            return Ok(Some(key));
        }
        if self.age() > MISS_RELOAD_INTERVAL {
            self.reload(now).await?;
            return Ok(self.lookup(kid));
        }
        Ok(None)
    }

    fn lookup(&self, kid: &str) -> Option<DecodingKey> {
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        cache.verifying.get(kid).cloned()
    }

    /// The JWKS document: every key that still verifies, public members only.
    pub async fn jwks(&self, now: i64) -> Result<serde_json::Value, StoreError> {
        self.refresh_if_stale(now).await?;
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
