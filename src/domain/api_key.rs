//! API keys: `csk_live_` and 32 lowercase hex characters (128 bits from the OS CSPRNG). The
//! prefix (`csk_live_` and the first 8 hex characters) names a key; only the SHA-256 digest of
//! the whole key is stored.

use std::fmt;

use sha2::{Digest, Sha256};

use super::tier::Tier;

pub const KEY_TAG: &str = "csk_live_";
const SECRET_HEX: usize = 32;
const PREFIX_HEX: usize = 8;

/// Whether a bearer string is meant to be an API key (as opposed to a JWT); decides which
/// verifier runs. A string with the tag that is malformed is still an (invalid) API key.
pub fn looks_like_api_key(bearer: &str) -> bool {
    bearer.starts_with("csk_")
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A well-formed API key. `Debug` shows only the prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a well-formed API key")]
pub struct MalformedApiKey;

impl ApiKeySecret {
    /// Draws a new key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_HEX / 2];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        Self(format!("{KEY_TAG}{}", hex::encode(bytes)))
    }

    pub fn parse(raw: &str) -> Result<Self, MalformedApiKey> {
        let hex = raw.strip_prefix(KEY_TAG).ok_or(MalformedApiKey)?;
        if hex.len() == SECRET_HEX && is_lower_hex(hex) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(MalformedApiKey)
        }
    }

    pub fn prefix(&self) -> KeyPrefix {
        KeyPrefix(self.0[..KEY_TAG.len() + PREFIX_HEX].to_owned())
    }

    /// Hex SHA-256 of the whole key: what the database stores and looks keys up by.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeySecret({}…)", self.prefix().as_str())
    }
}

/// `csk_live_` and 8 lowercase hex characters: the public name of a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    pub fn parse(raw: &str) -> Result<Self, MalformedApiKey> {
        let hex = raw.strip_prefix(KEY_TAG).ok_or(MalformedApiKey)?;
        if hex.len() == PREFIX_HEX && is_lower_hex(hex) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(MalformedApiKey)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key's name: 1 to 100 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("name must be 1 to 100 characters without control characters")]
pub struct InvalidKeyName;

impl KeyName {
    pub fn parse(raw: &str) -> Result<Self, InvalidKeyName> {
        let name = raw.trim();
        let chars = name.chars().count();
        if (1..=100).contains(&chars) && !name.chars().any(char::is_control) {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidKeyName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub const DEFAULT_DAILY_LIMIT: i32 = 250;

/// The highest daily limit a key may have on each paid tier (configurable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyLimitCeilings {
    pub pro: i32,
    pub team: i32,
    pub enterprise: i32,
}

impl DailyLimitCeilings {
    /// `None` on a tier without API keys.
    pub fn ceiling(&self, tier: Tier) -> Option<i32> {
        match tier {
            Tier::Free => None,
            Tier::Pro => Some(self.pro),
            Tier::Team => Some(self.team),
            Tier::Enterprise => Some(self.enterprise),
        }
    }
}

/// A key's daily limit: 1 to the tier's ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyLimit(i32);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("dailyLimit must be an integer from 1 to {max}")]
pub struct InvalidDailyLimit {
    pub max: i32,
}

impl DailyLimit {
    pub fn parse(value: i32, ceiling: i32) -> Result<Self, InvalidDailyLimit> {
        if (1..=ceiling).contains(&value) {
            Ok(Self(value))
        } else {
            Err(InvalidDailyLimit { max: ceiling })
        }
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn generated_keys_have_the_documented_format() {
        let key = ApiKeySecret::generate();
        assert_eq!(key.expose().len(), 41);
        assert_eq!(ApiKeySecret::parse(key.expose()).unwrap(), key);
        assert_eq!(key.prefix().as_str(), &key.expose()[..17]);
        assert!(KeyPrefix::parse(key.prefix().as_str()).is_ok());
    }

    #[test]
    fn ten_thousand_keys_are_distinct_with_distinct_prefixes() {
        let keys: Vec<_> = (0..10_000).map(|_| ApiKeySecret::generate()).collect();
        let distinct: HashSet<_> = keys.iter().map(|k| k.expose().to_owned()).collect();
        assert_eq!(distinct.len(), keys.len());
        for key in &keys {
            assert!(ApiKeySecret::parse(key.expose()).is_ok());
        }
    }

    #[test]
    fn malformed_keys_are_rejected() {
        let hex31 = "a".repeat(31);
        let hex33 = "a".repeat(33);
        for bad in [
            format!("csk_live_{hex31}"),
            format!("csk_live_{hex33}"),
            format!("csk_live_{}", "A".repeat(32)),
            format!("csk_test_{}", "a".repeat(32)),
            format!("csk_live_{} ", "a".repeat(31)),
            format!("csk_live_%61{}", "a".repeat(29)),
            String::new(),
        ] {
            assert_eq!(ApiKeySecret::parse(&bad), Err(MalformedApiKey), "{bad:?}");
        }
    }

    #[test]
    fn debug_shows_only_the_prefix() {
        let key = ApiKeySecret::generate();
        let shown = format!("{key:?}");
        assert!(!shown.contains(key.expose()));
        assert!(shown.contains(key.prefix().as_str()));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            KeyName::parse("  CI Pipeline ").unwrap().as_str(),
            "CI Pipeline"
        );
        assert!(KeyName::parse("   ").is_err());
        assert!(KeyName::parse(&"n".repeat(101)).is_err());
        assert!(KeyName::parse(&"n".repeat(100)).is_ok());
        assert!(KeyName::parse("tab\there").is_err());
    }

    #[test]
    fn daily_limits_stay_within_the_ceiling() {
        assert!(DailyLimit::parse(1, 10).is_ok());
        assert!(DailyLimit::parse(10, 10).is_ok());
        assert_eq!(DailyLimit::parse(0, 10), Err(InvalidDailyLimit { max: 10 }));
        assert!(DailyLimit::parse(-5, 10).is_err());
        assert!(DailyLimit::parse(11, 10).is_err());
    }

    #[test]
    fn prefixes_must_be_exact() {
        for bad in [
            "../",
            "\0",
            "csk_live_ABCDEF12",
            "csk_live_abc",
            "csk_live_abcdef123",
        ] {
            assert!(KeyPrefix::parse(bad).is_err(), "{bad:?}");
        }
    }
}
