//! The external issuers we trust and their key sets. A token names its issuer; only that
//! issuer's keys can verify it, so one trusted issuer's key cannot vouch for another's tokens.
//!
//! Key sets are fetched in the background at start-up and re-read when `Cache-Control` says so
//! (in the background, the old set answering meanwhile). A `kid` not in the set causes one
//! fetch per issuer per [`REFETCH_INTERVAL`] whatever the number of such tokens: the fetches are
//! single-flight and rate-limited, so a flood of made-up key ids costs one request to the issuer.
//! A failed fetch keeps the last good set.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, RwLock},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    config::{IssuerConfig, TokenUse},
    jwks::{FetchError, Fetcher, KeySet},
};
use crate::{
    auth::{
        AuthError,
        tokens::{LEEWAY_SECS, rs256_kid},
    },
    domain::clock::SharedClock,
};

/// At most one fetch per issuer this often for a `kid` it does not know.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Tokens longer than this are not looked at.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The key of an external issuer that verified a token (checked again on every use, so a key
/// the issuer dropped stops working at the next refresh of its set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalKey {
    pub iss: String,
    pub kid: String,
}

/// What a verified external token says about its user.
#[derive(Debug)]
pub struct ExternalToken {
    pub key: ExternalKey,
    pub sub: String,
    /// The sign-in the token belongs to (`origin_jti`, else `jti`): what sign-out revokes.
    pub origin: String,
    pub email: Option<String>,
    pub tier: Option<String>,
    pub team_id: Option<String>,
    pub iat: i64,
    pub exp: i64,
    pub auth_time: i64,
    pub authoritative: bool,
}

struct Keys {
    keys: BTreeMap<String, Arc<DecodingKey>>,
    /// When the set should be read again.
    stale_at: Option<DateTime<Utc>>,
    /// When a fetch was last started (successful or not).
    last_fetch: Option<DateTime<Utc>>,
}

struct Issuer {
    config: IssuerConfig,
    keys: RwLock<Keys>,
    /// Held while fetching: concurrent misses wait for the one fetch instead of adding theirs.
    fetching: tokio::sync::Mutex<()>,
}

pub struct TrustedIssuers {
    by_iss: HashMap<String, Arc<Issuer>>,
    fetcher: Arc<Fetcher>,
    clock: SharedClock,
}

impl TrustedIssuers {
    pub fn new(configs: Vec<IssuerConfig>, fetcher: Fetcher, clock: SharedClock) -> Self {
        let by_iss = configs
            .into_iter()
            .map(|config| {
                let issuer = Issuer {
                    config,
                    keys: RwLock::new(Keys {
                        keys: BTreeMap::new(),
                        stale_at: None,
                        last_fetch: None,
                    }),
                    fetching: tokio::sync::Mutex::new(()),
                };
                (issuer.config.iss.clone(), Arc::new(issuer))
            })
            .collect();
        Self {
            by_iss,
            fetcher: Arc::new(fetcher),
            clock,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_iss.is_empty()
    }

    /// Whether the token claims one of the trusted external issuers (read before verifying, only
    /// to choose the keys; the signature check decides).
    pub fn claims_trusted_issuer(&self, token: &str) -> Option<&str> {
        if self.by_iss.is_empty() {
            return None;
        }
        let iss = unverified_issuer(token)?;
        self.by_iss.get_key_value(&iss).map(|(iss, _)| iss.as_str())
    }

    /// Fetches every issuer's key set once; run in the background at start-up.
    pub async fn fetch_all(self: Arc<Self>) {
        for issuer in self.by_iss.values() {
            self.refresh(issuer, None).await;
        }
    }

    /// Fetches every issuer's key set now (for `issuers check`).
    pub async fn check(&self) -> Vec<(String, Result<KeySet, FetchError>)> {
        let mut found = Vec::new();
        for issuer in self.by_iss.values() {
            let result = self.fetcher.fetch(&issuer.config.jwks_uri).await;
            found.push((issuer.config.iss.clone(), result));
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// Whether the key that verified a token is still in its issuer's set (asked on every use of
    /// a token verified before; a stale set is read again in the background meanwhile).
    pub fn still_trusts(&self, key: &ExternalKey) -> bool {
        let Some(issuer) = self.by_iss.get(&key.iss) else {
            return false;
        };
        let (present, stale) = {
            let keys = read(&issuer.keys);
            (
                keys.keys.contains_key(&key.kid),
                keys.stale_at.is_some_and(|stale| self.clock.now() >= stale),
            )
        };
        if stale {
            self.refresh_in_background(issuer);
        }
        present
    }

    /// Verifies a token of the trusted issuer `iss`.
    pub async fn verify(&self, iss: &str, token: &str) -> Result<ExternalToken, AuthError> {
        let issuer = self.by_iss.get(iss).ok_or(AuthError::InvalidToken)?;
        let kid = rs256_kid(token)?;
        let key = self
            .key(issuer, &kid)
            .await
            .ok_or(AuthError::InvalidToken)?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[iss]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_aud = false;
        // Times are checked below against the service clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|_| AuthError::InvalidToken)?
            .claims;
        let now = self.clock.now().timestamp();
        let key = ExternalKey {
            iss: iss.to_owned(),
            kid,
        };
        accept(&issuer.config, &claims, now, key).ok_or(AuthError::InvalidToken)
    }

    /// The issuer's key `kid`, fetching the set when the key is unknown (at most once per
    /// [`REFETCH_INTERVAL`]) or in the background when the set is stale.
    async fn key(&self, issuer: &Arc<Issuer>, kid: &str) -> Option<Arc<DecodingKey>> {
        let now = self.clock.now();
        {
            let keys = read(&issuer.keys);
            if let Some(key) = keys.keys.get(kid) {
                if keys.stale_at.is_some_and(|stale| now >= stale) {
                    self.refresh_in_background(issuer);
                }
                return Some(key.clone());
            }
        }
        self.refresh(issuer, Some(kid)).await;
        read(&issuer.keys).keys.get(kid).cloned()
    }

    fn refresh_in_background(&self, issuer: &Arc<Issuer>) {
        let issuer = issuer.clone();
        let fetcher = self.fetcher.clone();
        let clock = self.clock.clone();
        tokio::spawn(async move {
            let Ok(_fetching) = issuer.fetching.try_lock() else {
                return;
            };
            let now = clock.now();
            if !fetched_recently(&read(&issuer.keys), now) {
                fetch_into(&issuer, &fetcher, now).await;
            }
        });
    }

    /// One fetch for all who wait; skipped when the set already has `kid` by the time it is our
    /// turn, or when the last fetch was under [`REFETCH_INTERVAL`] ago.
    async fn refresh(&self, issuer: &Issuer, kid: Option<&str>) {
        let _fetching = issuer.fetching.lock().await;
        let now = self.clock.now();
        {
            let keys = read(&issuer.keys);
            if kid.is_some_and(|kid| keys.keys.contains_key(kid)) {
                return;
            }
            if fetched_recently(&keys, now) {
                return;
            }
        }
        fetch_into(issuer, &self.fetcher, now).await;
    }
}

/// A fetch started under [`REFETCH_INTERVAL`] ago (a clock that went back counts as recent).
fn fetched_recently(keys: &Keys, now: DateTime<Utc>) -> bool {
    keys.last_fetch.is_some_and(|at| {
        (now - at)
            .to_std()
            .map_or(true, |since| since < REFETCH_INTERVAL)
    })
}

async fn fetch_into(issuer: &Issuer, fetcher: &Fetcher, now: DateTime<Utc>) {
    write(&issuer.keys).last_fetch = Some(now);
    match fetcher.fetch(&issuer.config.jwks_uri).await {
        Ok(set) => {
            let stale_at = chrono::Duration::from_std(set.max_age)
                .ok()
                .map(|age| now + age);
            tracing::info!(
                issuer = %issuer.config.iss,
                keys = set.keys.len(),
                skipped = set.skipped,
                "fetched the issuer's signing keys"
            );
            let mut keys = write(&issuer.keys);
            keys.keys = set.keys;
            keys.stale_at = stale_at;
        }
        Err(err) => {
            // The last good set stays, and is tried again no sooner than a refetch would be.
            let retry = chrono::Duration::from_std(REFETCH_INTERVAL).ok();
            write(&issuer.keys).stale_at = retry.map(|retry| now + retry);
            tracing::warn!(issuer = %issuer.config.iss, error = %err, "cannot fetch the issuer's signing keys");
        }
    }
}

fn read(keys: &RwLock<Keys>) -> std::sync::RwLockReadGuard<'_, Keys> {
    keys.read().unwrap_or_else(|e| e.into_inner())
}

fn write(keys: &RwLock<Keys>) -> std::sync::RwLockWriteGuard<'_, Keys> {
    keys.write().unwrap_or_else(|e| e.into_inner())
}

/// The `iss` of a token, unverified.
fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Issued {
        iss: String,
    }
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Issued>(&bytes).ok().map(|i| i.iss)
}

/// The claims checks of CONTRACT-shaped Cognito tokens: the kind of token, the app client, the
/// times (with the same leeway as our own tokens), and the claims we need.
fn accept(
    config: &IssuerConfig,
    claims: &Map<String, Value>,
    now: i64,
    key: ExternalKey,
) -> Option<ExternalToken> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    let token_use = match text("token_use")? {
        "access" => TokenUse::Access,
        "id" => TokenUse::Id,
        _ => return None,
    };
    if !config.token_use.contains(&token_use) {
        return None;
    }
    let client_allowed = |id: &str| config.client_ids.iter().any(|allowed| allowed == id);
    let client_ok = match token_use {
        TokenUse::Access => text("client_id").is_some_and(client_allowed),
        TokenUse::Id => match claims.get("aud") {
            Some(Value::String(aud)) => client_allowed(aud),
            Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(client_allowed),
            _ => false,
        },
    };
    if !client_ok {
        return None;
    }
    let exp = number("exp")?;
    let iat = number("iat")?;
    let on_time = exp.saturating_add(LEEWAY_SECS) > now
        && iat.saturating_sub(LEEWAY_SECS) <= now
        && number("nbf").is_none_or(|nbf| nbf.saturating_sub(LEEWAY_SECS) <= now);
    if !on_time {
        return None;
    }
    let sub = text("sub").filter(|sub| !sub.is_empty() && sub.len() <= 255)?;
    let origin = text("origin_jti")
        .or_else(|| text("jti"))
        .filter(|origin| !origin.is_empty() && origin.len() <= 255)?;
    let optional = |name: &str| {
        text(name)
            .map(str::trim)
            .filter(|value| !value.is_empty() && value.len() <= 254)
            .map(str::to_owned)
    };
    Some(ExternalToken {
        key,
        sub: sub.to_owned(),
        origin: origin.to_owned(),
        email: optional(&config.email_claim),
        tier: optional(&config.tier_claim),
        team_id: optional(&config.team_claim),
        iat,
        exp,
        auth_time: number("auth_time").unwrap_or(iat),
        authoritative: config.authoritative,
    })
}
