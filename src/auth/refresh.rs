//! Refresh tokens and their lineage. A sign-in starts a session with 256 random bits; every
//! later token is the successor of the one it replaces, derived as
//! `base64url(HMAC-SHA256(secret, parent))` with a secret that every instance reads from the
//! database. The successor is a function of its parent, so every answer to one parent —
//! concurrent refreshes, a retry after a lost answer, a replay within the grace period —
//! carries the same token: a session has one lineage. Only SHA-256 digests are stored.

use std::time::Duration;

use aws_lc_rs::hmac;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};

use super::AuthError;
use crate::store::users as store;

/// Longest grace period the service allows: it is for requests that were in flight together.
pub const MAX_GRACE: Duration = Duration::from_secs(10);

/// Separates successor derivation from any other use the secret might get.
const SUCCESSOR_CONTEXT: &[u8] = b"cloudsigma-auth refresh successor v1\0";

/// How refresh tokens rotate.
#[derive(Debug)]
pub struct RefreshRules {
    pub lineage: Lineage,
    /// A rotated token presented again within this is a concurrent refresh and gets the same
    /// successor; later, it revokes the session. At most [`MAX_GRACE`].
    pub grace: Duration,
}

/// Derives successors. `Debug` shows nothing of the key.
pub struct Lineage {
    key: hmac::Key,
}

impl std::fmt::Debug for Lineage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lineage { key: [redacted] }")
    }
}

impl Lineage {
    /// The lineage secret of the database, created by the first instance to start.
    pub async fn load_or_create(db: &DatabaseConnection, now: i64) -> Result<Self, AuthError> {
        let mut candidate = vec![0u8; 32];
        getrandom::fill(&mut candidate).expect("the operating system's random source failed");
        let secret = store::lineage_secret(db, &SecretSlice::from(candidate), now).await?;
        Ok(Self::from_secret(&secret))
    }

    fn from_secret(secret: &SecretSlice<u8>) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.expose_secret()),
        }
    }

    /// A keyed digest of `input` under `context`, for other derivations that every instance
    /// must make alike (the SRP answer for unknown usernames).
    pub fn tag(&self, context: &[u8], input: &[u8]) -> [u8; 32] {
        let mut hmac = hmac::Context::with_key(&self.key);
        hmac.update(context);
        hmac.update(input);
        let mut tag = [0u8; 32];
        tag.copy_from_slice(hmac.sign().as_ref());
        tag
    }

    /// The one token that `parent` rotates into.
    pub fn successor(&self, parent: &str) -> String {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(SUCCESSOR_CONTEXT);
        context.update(parent.as_bytes());
        URL_SAFE_NO_PAD.encode(context.sign().as_ref())
    }
}

/// A new session's first token and its digest.
pub fn first_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let digest = digest(&token);
    (token, digest)
}

/// What the database keeps of a token.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lineage(secret: &[u8]) -> Lineage {
        Lineage::from_secret(&SecretSlice::from(secret.to_vec()))
    }

    #[test]
    fn first_tokens_are_256_random_bits_stored_as_digests() {
        let (token, stored) = first_token();
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), 32);
        assert_eq!(stored, digest(&token));
        assert!(!stored.contains(&token));
        assert_ne!(first_token().0, token);
    }

    #[test]
    fn a_parent_has_one_successor_per_secret() {
        let (parent, _) = first_token();
        let one = lineage(&[1; 32]);
        let successor = one.successor(&parent);
        assert_eq!(URL_SAFE_NO_PAD.decode(&successor).unwrap().len(), 32);
        assert_eq!(successor, lineage(&[1; 32]).successor(&parent));
        assert_ne!(successor, parent);
        assert_ne!(successor, lineage(&[2; 32]).successor(&parent));
        assert_ne!(successor, one.successor(&first_token().0));
        // A chain does not cycle back on itself.
        assert_ne!(one.successor(&successor), successor);
    }

    #[test]
    fn debug_shows_nothing_of_the_secret() {
        let rules = RefreshRules {
            lineage: lineage(&[0xab; 32]),
            grace: Duration::from_secs(5),
        };
        let printed = format!("{rules:?}");
        assert!(printed.contains("redacted"), "{printed}");
        assert!(!printed.to_lowercase().contains("abab"), "{printed}");
        assert!(!printed.contains("171"), "{printed}");
    }
}
