//! The constraints written in the protos against the rules the domain types enforce: the
//! description may not promise what the service refuses, nor refuse what it accepts.

use super::{rules::Rules, schemas::Schemas};
use crate::{
    api_keys::MAX_HISTORY_DAYS,
    descriptors,
    domain::{
        api_key::{DailyLimit, KEY_TAG, KeyName, KeyPrefix},
        email::Email,
        password,
    },
};

fn rules(message: &str, field: &str) -> Rules {
    let pool = descriptors::pool();
    let desc = pool
        .get_message_by_name(&format!("{}.{message}", descriptors::PACKAGE))
        .unwrap();
    Schemas::new(&pool).rules(&desc.get_field_by_name(field).unwrap())
}

fn length(rules: &Rules) -> (usize, usize) {
    let min = rules.min_length.unwrap_or(u32::from(rules.required));
    (min as usize, rules.max_length.unwrap() as usize)
}

#[test]
fn password_and_email_constraints_are_the_domain_rules() {
    let (min, max) = length(&rules("SignUpRequest", "password"));
    assert_eq!((min, max), (password::MIN_CHARS, password::MAX_CHARS));
    for message in ["SignUpRequest", "SignInRequest"] {
        let email = rules(message, "email");
        assert!(email.required && email.format.as_deref() == Some("email"));
        let (_, max) = length(&email);
        let address = |len: usize| format!("{}@example.com", "a".repeat(len - 12));
        // The local part is capped at 64 characters; the whole address at `max`.
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(max - 69));
        assert_eq!(long.len(), max);
        assert!(Email::parse(&long).is_ok() && Email::parse(&address(20)).is_ok());
        assert!(Email::parse(&format!("{long}m")).is_err());
    }
}

#[test]
fn key_name_limit_and_prefix_constraints_are_the_domain_rules() {
    for message in ["CreateApiKeyRequest", "UpdateApiKeyRequest"] {
        let name = rules(message, "name");
        let (min, max) = length(&name);
        assert!(KeyName::parse(&"n".repeat(min)).is_ok());
        assert!(KeyName::parse(&"n".repeat(max)).is_ok());
        assert!(KeyName::parse(&"n".repeat(max + 1)).is_err());
        assert!(KeyName::parse(&" ".repeat(min)).is_err());
        assert!(name.pattern.is_some(), "control characters are refused");

        let limit = rules(message, "daily_limit");
        let lowest = i32::try_from(limit.minimum.unwrap()).unwrap();
        assert!(DailyLimit::parse(lowest, i32::MAX).is_ok());
        assert!(DailyLimit::parse(lowest - 1, i32::MAX).is_err());
    }
    for message in [
        "UpdateApiKeyRequest",
        "RevokeApiKeyRequest",
        "GetApiKeyUsageRequest",
    ] {
        let pattern = rules(message, "prefix").pattern.unwrap();
        assert_eq!(pattern, format!("^{KEY_TAG}[0-9a-f]{{8}}$"));
        assert!(KeyPrefix::parse(&format!("{KEY_TAG}0123abcd")).is_ok());
    }
    let days = rules("GetApiKeyUsageRequest", "days");
    assert_eq!(days.maximum, Some(i64::from(MAX_HISTORY_DAYS)));
}
