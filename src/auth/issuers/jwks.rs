//! Fetching an external issuer's JWKS so that a hostile or broken endpoint cannot hurt us: a
//! connect and a total timeout, no redirects, a size cap read chunk by chunk (a missing or false
//! `Content-Length` changes nothing), and only keys usable for RS256 signatures are taken.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use jsonwebtoken::DecodingKey;
use reqwest::{Client, Url, header};
use serde::Deserialize;

use crate::auth::tokens::MAX_KID_LEN;

/// Largest JWKS document read; a real one is a few kilobytes.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// A key set is kept at least this long, whatever `Cache-Control` says.
const MIN_MAX_AGE: Duration = Duration::from_secs(60);
/// ... and re-read at least this often.
const MAX_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Without a `max-age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot reach the JWKS endpoint: {0}")]
    Unreachable(String),
    #[error("the JWKS endpoint did not answer within {0:?}")]
    TimedOut(Duration),
    #[error("the JWKS endpoint answered HTTP {0}")]
    Status(u16),
    #[error("the JWKS is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("the JWKS is not a JSON key set")]
    NotJson,
    #[error("the JWKS has no usable key (RSA, use \"sig\", alg RS256, with a kid)")]
    NoUsableKeys,
}

/// What a fetch found.
pub struct KeySet {
    /// Usable keys by `kid`.
    pub keys: BTreeMap<String, Arc<DecodingKey>>,
    /// How long the set may be used before it is read again.
    pub max_age: Duration,
    /// Keys in the document that were not usable.
    pub skipped: usize,
}

pub struct Fetcher {
    client: Client,
    limits: FetchLimits,
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

impl Fetcher {
    pub fn new(limits: FetchLimits) -> Result<Self, String> {
        let client = Client::builder()
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.total_timeout)
            // A JWKS address is configured, not discovered: following a redirect would let the
            // endpoint send us anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("cloudsigma-auth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the JWKS client: {e}"))?;
        Ok(Self { client, limits })
    }

    pub async fn fetch(&self, uri: &Url) -> Result<KeySet, FetchError> {
        let failed = |err: reqwest::Error| {
            if err.is_timeout() {
                FetchError::TimedOut(self.limits.total_timeout)
            } else {
                FetchError::Unreachable(short(err))
            }
        };
        let mut response = self
            .client
            .get(uri.clone())
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(failed)?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
        {
            return Err(FetchError::TooLarge);
        }
        let max_age = max_age(response.headers().get(header::CACHE_CONTROL));
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let mut set = parse(&body)?;
        set.max_age = max_age;
        Ok(set)
    }
}

/// The usable keys of a JWKS document.
pub fn parse(body: &[u8]) -> Result<KeySet, FetchError> {
    let document: Document = serde_json::from_slice(body).map_err(|_| FetchError::NotJson)?;
    let mut keys = BTreeMap::new();
    let mut skipped = 0;
    for value in document.keys {
        match serde_json::from_value::<Jwk>(value).ok().and_then(usable) {
            Some((kid, key)) => {
                keys.insert(kid, Arc::new(key));
            }
            None => skipped += 1,
        }
    }
    if keys.is_empty() {
        return Err(FetchError::NoUsableKeys);
    }
    Ok(KeySet {
        keys,
        max_age: DEFAULT_MAX_AGE,
        skipped,
    })
}

fn usable(jwk: Jwk) -> Option<(String, DecodingKey)> {
    let kid = jwk
        .kid
        .filter(|kid| !kid.is_empty() && kid.len() <= MAX_KID_LEN)?;
    let signing = jwk.use_.as_deref().is_none_or(|u| u == "sig");
    let rs256 = jwk.alg.as_deref().is_none_or(|a| a == "RS256");
    if jwk.kty != "RSA" || !signing || !rs256 {
        return None;
    }
    let key = DecodingKey::from_rsa_components(jwk.n.as_deref()?, jwk.e.as_deref()?).ok()?;
    Some((kid, key))
}

/// `max-age` of a `Cache-Control` header, within bounds; `no-store`/`no-cache` mean the least.
fn max_age(value: Option<&header::HeaderValue>) -> Duration {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return DEFAULT_MAX_AGE;
    };
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return MIN_MAX_AGE;
        }
        if let Some(secs) = lower.strip_prefix("max-age=") {
            age = secs
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age.unwrap_or(DEFAULT_MAX_AGE)
        .clamp(MIN_MAX_AGE, MAX_MAX_AGE)
}

/// A transport error in one line, without the URL's query (there is none, but the habit holds).
fn short(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &str) -> header::HeaderValue {
        header::HeaderValue::from_str(value).unwrap()
    }

    #[test]
    fn cache_control_is_honoured_within_bounds() {
        assert_eq!(max_age(None), DEFAULT_MAX_AGE);
        assert_eq!(
            max_age(Some(&header("public, max-age=600"))),
            Duration::from_secs(600)
        );
        assert_eq!(max_age(Some(&header("max-age=1"))), MIN_MAX_AGE);
        assert_eq!(max_age(Some(&header("max-age=99999999"))), MAX_MAX_AGE);
        assert_eq!(max_age(Some(&header("no-store"))), MIN_MAX_AGE);
        assert_eq!(max_age(Some(&header("max-age=abc"))), DEFAULT_MAX_AGE);
    }

    #[test]
    fn only_rs256_signing_keys_with_a_kid_are_taken() {
        let body = serde_json::json!({ "keys": [
            { "kty": "oct", "kid": "a", "k": "c2VjcmV0" },
            { "kty": "RSA", "kid": "b", "use": "enc", "n": "AQAB", "e": "AQAB" },
            { "kty": "RSA", "kid": "c", "alg": "RS512", "n": "AQAB", "e": "AQAB" },
            { "kty": "RSA", "n": "AQAB", "e": "AQAB" },
            { "kty": "EC", "kid": "d", "crv": "P-256", "x": "AQAB", "y": "AQAB" },
            "not a key"
        ]});
        let err = parse(body.to_string().as_bytes()).err().unwrap();
        assert!(matches!(err, FetchError::NoUsableKeys));
        assert!(matches!(
            parse(b"<html></html>").err().unwrap(),
            FetchError::NotJson
        ));
    }
}
