//! Email parsing on arbitrary text.
//!
//! Properties: never a panic; an accepted address is at most 254 bytes (so at most 254
//! characters), trimmed and lower-cased, has exactly one `@` with a local part of 1 to 64 bytes
//! and a dotted domain, contains no whitespace or control character, and parses to itself
//! again (so the stored form is a fixed point); ASCII case never changes the result.
#![no_main]

use cloudsigma_auth::domain::email::Email;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(email) = Email::parse(text) else {
        return;
    };
    let stored = email.as_str();
    assert!(stored.len() <= 254, "{stored:?}");
    assert_eq!(stored, stored.trim());
    assert_eq!(stored, stored.to_lowercase());
    assert_eq!(stored.matches('@').count(), 1);
    let (local, domain) = stored.split_once('@').expect("one @");
    assert!((1..=64).contains(&local.len()));
    assert!(domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'));
    assert!(!stored.chars().any(|c| c.is_whitespace() || c.is_control()));
    assert_eq!(Email::parse(stored).as_ref(), Ok(&email), "{text:?}");
    if text.is_ascii() {
        // ASCII case never matters: `Alice@Example.COM` is `alice@example.com`.
        assert_eq!(
            Email::parse(&text.to_ascii_uppercase()).as_ref(),
            Ok(&email)
        );
    }
});
