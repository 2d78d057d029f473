//! The SRP values a Cognito client sends, on arbitrary text: `SRP_A`, `TIMESTAMP` and
//! `PASSWORD_CLAIM_SIGNATURE`.
//!
//! Properties: never a panic; an accepted `SRP_A` is 1 to 2048 hex digits and not zero; an
//! accepted `TIMESTAMP` formats back to itself (or to itself without the zero of a padded day)
//! and parses again to the same instant; a claimed signature matches exactly when it is the
//! base64 of the signature the server computes.
#![no_main]

use base64::{Engine, engine::general_purpose::STANDARD};
use cloudsigma_auth::domain::srp;
use libfuzzer_sys::fuzz_target;

const KEY: [u8; 16] = *b"fuzz session key";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\n');
    let (a, timestamp, claimed) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );

    if srp::parse_client_public(a).is_ok() {
        assert!((1..=2048).contains(&a.len()), "{a:?}");
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()), "{a:?}");
        assert!(a.bytes().any(|b| b != b'0'), "{a:?}");
    }

    if let Some(at) = srp::parse_timestamp(timestamp) {
        let written = srp::format_timestamp(at);
        let unpadded = timestamp.replacen(" 0", " ", 1);
        assert!(written == timestamp || written == unpadded, "{timestamp:?} → {written:?}");
        assert_eq!(srp::parse_timestamp(&written), Some(at));
    }

    let block = a.as_bytes();
    let expected = STANDARD.encode(srp::signature(&KEY, "Pool", "user", block, timestamp));
    let matches = srp::signature_matches(&KEY, "Pool", "user", block, timestamp, claimed);
    assert_eq!(matches, claimed == expected, "{claimed:?}");
});
