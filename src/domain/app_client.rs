//! The user pool as Cognito SDKs name it: its pool id and its app clients, each with an optional
//! secret that the client proves with a `SECRET_HASH` (or sends as `ClientSecret`).

use std::{fmt, str::FromStr};

use aws_lc_rs::hmac;
use base64::{Engine, engine::general_purpose::STANDARD};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// Longest client id, secret and pool id accepted (Cognito's own limits are 128 and 55).
const MAX_CLIENT_ID_CHARS: usize = 128;
const MAX_SECRET_CHARS: usize = 128;
/// Shortest secret: a guessable one protects nothing, and botocore refuses a `ClientSecret`
/// under 24 characters, so a shorter one would lock boto3 out of the token calls.
const MIN_SECRET_CHARS: usize = 24;
const MAX_POOL_ID_CHARS: usize = 55;

/// A user pool id in Cognito's form `<region>_<id>`, e.g. `eu-west-1_AbC123xyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a user pool id is <region>_<id>, e.g. eu-west-1_AbC123xyz")]
pub struct InvalidPoolId;

impl FromStr for PoolId {
    type Err = InvalidPoolId;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let (region, id) = raw.split_once('_').ok_or(InvalidPoolId)?;
        let region_ok = !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let id_ok = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric());
        if region_ok && id_ok && raw.len() <= MAX_POOL_ID_CHARS {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidPoolId)
        }
    }
}

impl fmt::Display for PoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PoolId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the region, which SRP hashes into every verifier.
    pub fn name(&self) -> &str {
        self.0.split_once('_').map_or("", |(_, name)| name)
    }
}

/// One app client. `Debug` never shows the secret.
#[derive(Clone)]
pub struct AppClient {
    pub id: String,
    secret: Option<SecretString>,
}

impl fmt::Debug for AppClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppClient")
            .field("id", &self.id)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl AppClient {
    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// Whether `claimed` is the `SECRET_HASH` of `username` for this client:
    /// base64(HMAC-SHA256(secret, username ‖ client id)), compared in constant time. A client
    /// without a secret needs none (and ignores one, as Cognito does).
    pub fn secret_hash_matches(&self, username: &str, claimed: Option<&str>) -> bool {
        let Some(secret) = &self.secret else {
            return true;
        };
        let Some(tag) = claimed.and_then(|c| STANDARD.decode(c).ok()) else {
            return false;
        };
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose_secret().as_bytes());
        let message = [username.as_bytes(), self.id.as_bytes()].concat();
        hmac::verify(&key, &message, &tag).is_ok()
    }

    /// Whether `claimed` is this client's secret itself (`ClientSecret` of the token calls).
    pub fn secret_matches(&self, claimed: Option<&str>) -> bool {
        match (&self.secret, claimed) {
            (None, _) => true,
            (Some(secret), Some(claimed)) => {
                let secret = secret.expose_secret().as_bytes();
                secret.len() == claimed.len() && bool::from(secret.ct_eq(claimed.as_bytes()))
            }
            (Some(_), None) => false,
        }
    }
}

/// The pool's app clients; the first is the one REST sign-in issues tokens to.
#[derive(Clone, Debug)]
pub struct AppClients(Vec<AppClient>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidAppClients {
    #[error("at least one app client is required")]
    Empty,
    #[error("app client ids are 1 to 128 of [A-Za-z0-9_+]")]
    BadId,
    #[error("an app client secret is 24 to 128 characters")]
    BadSecret,
    #[error("app client {0} is listed twice")]
    Duplicate(String),
}

impl FromStr for AppClients {
    type Err = InvalidAppClients;

    /// `id` or `id:secret`, comma-separated.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let mut clients: Vec<AppClient> = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, secret) = match entry.split_once(':') {
                Some((id, secret)) => (id, Some(secret)),
                None => (entry, None),
            };
            let id_ok = (1..=MAX_CLIENT_ID_CHARS).contains(&id.len())
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '+');
            if !id_ok {
                return Err(InvalidAppClients::BadId);
            }
            if secret.is_some_and(|s| {
                !(MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&s.chars().count())
            }) {
                return Err(InvalidAppClients::BadSecret);
            }
            if clients.iter().any(|c| c.id == id) {
                return Err(InvalidAppClients::Duplicate(id.to_owned()));
            }
            clients.push(AppClient {
                id: id.to_owned(),
                secret: secret.map(|s| SecretString::from(s.to_owned())),
            });
        }
        if clients.is_empty() {
            return Err(InvalidAppClients::Empty);
        }
        Ok(Self(clients))
    }
}

impl AppClients {
    /// The client of REST sign-in (the first listed).
    pub fn default_client(&self) -> &AppClient {
        &self.0[0]
    }

    pub fn get(&self, id: &str) -> Option<&AppClient> {
        self.0.iter().find(|c| c.id == id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.get(id).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_ids_have_cognitos_form() {
        let pool: PoolId = "eu-west-1_AbC123xyz".parse().unwrap();
        assert_eq!(pool.name(), "AbC123xyz");
        assert_eq!(pool.to_string(), "eu-west-1_AbC123xyz");
        for bad in [
            "",
            "eu-west-1",
            "_abc",
            "eu-west-1_",
            "eu west_1",
            "eu-west-1_a-b",
            // The JS SDKs split on every `_`: a second one would give SRP another pool name.
            "us-east-1_a_b",
        ] {
            assert_eq!(bad.parse::<PoolId>(), Err(InvalidPoolId), "{bad}");
        }
    }

    #[test]
    fn app_clients_are_ids_or_ids_with_secrets_and_the_first_is_the_default() {
        let clients: AppClients = "web1, bot+2:s3cret-s3cret-s3cret-s3cret".parse().unwrap();
        assert_eq!(clients.default_client().id, "web1");
        assert!(!clients.get("web1").unwrap().has_secret());
        assert!(clients.get("bot+2").unwrap().has_secret());
        assert!(!clients.contains("other"));
        assert!(!format!("{clients:?}").contains("s3cret"));
        assert_eq!(
            "".parse::<AppClients>().unwrap_err(),
            InvalidAppClients::Empty
        );
        assert_eq!(
            "a-b".parse::<AppClients>().unwrap_err(),
            InvalidAppClients::BadId
        );
        for short in ["a:", "a:twenty-three-characters"] {
            assert_eq!(
                short.parse::<AppClients>().unwrap_err(),
                InvalidAppClients::BadSecret
            );
        }
        assert_eq!(
            "a,a:a-secret-of-24-characters"
                .parse::<AppClients>()
                .unwrap_err(),
            InvalidAppClients::Duplicate("a".into())
        );
    }

    #[test]
    fn a_secret_hash_is_the_hmac_of_username_and_client_id() {
        let clients: AppClients = "bot:secret-of-24-characters!".parse().unwrap();
        let client = clients.get("bot").unwrap();
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"secret-of-24-characters!");
        let good = STANDARD.encode(hmac::sign(&key, b"alicebot").as_ref());
        assert!(client.secret_hash_matches("alice", Some(&good)));
        assert!(!client.secret_hash_matches("bob", Some(&good)));
        assert!(!client.secret_hash_matches("alice", None));
        assert!(!client.secret_hash_matches("alice", Some("not base64!")));
        assert!(client.secret_matches(Some("secret-of-24-characters!")));
        assert!(!client.secret_matches(Some("secret-of-24-characterS!")));
        assert!(!client.secret_matches(None));
    }
}
