//! API-key, key-prefix and key-name parsing on arbitrary text.
//!
//! Properties: never a panic; `ApiKeySecret::parse` accepts exactly `csk_live_` and 32
//! lowercase hex characters (checked against an independent spelling of the rule), and an
//! accepted key re-serialises to the input, names itself by its first 17 characters, has a
//! 64-hex digest and never shows more than its prefix in `Debug`; `KeyPrefix::parse` accepts
//! exactly `csk_live_` and 8 lowercase hex characters; an accepted key name is trimmed, 1 to
//! 100 characters without control characters, and re-parses to itself.
#![no_main]

use cloudsigma_auth::domain::api_key::{ApiKeySecret, KeyName, KeyPrefix, looks_like_api_key};
use libfuzzer_sys::fuzz_target;

fn tagged_lower_hex(text: &str, hex_len: usize) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 9 + hex_len
        && &bytes[..9] == b"csk_live_"
        && bytes[9..]
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    let key = ApiKeySecret::parse(text);
    assert_eq!(key.is_ok(), tagged_lower_hex(text, 32), "{text:?}");
    if let Ok(key) = key {
        assert_eq!(key.expose(), text);
        assert!(looks_like_api_key(key.expose()));
        assert_eq!(key.prefix().as_str(), &text[..17]);
        assert_eq!(KeyPrefix::parse(key.prefix().as_str()), Ok(key.prefix()));
        let digest = key.digest();
        assert_eq!(digest.len(), 64);
        assert!(
            digest
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        );
        let shown = format!("{key:?}");
        assert!(!shown.contains(&text[17..]), "Debug shows the secret part");
    }

    let prefix = KeyPrefix::parse(text);
    assert_eq!(prefix.is_ok(), tagged_lower_hex(text, 8), "{text:?}");
    if let Ok(prefix) = prefix {
        assert_eq!(prefix.as_str(), text);
    }

    if let Ok(name) = KeyName::parse(text) {
        let name = name.as_str();
        assert_eq!(name, name.trim());
        assert!((1..=100).contains(&name.chars().count()));
        assert!(!name.chars().any(char::is_control));
        assert_eq!(
            KeyName::parse(name).map(|n| n.as_str().to_owned()),
            Ok(name.to_owned())
        );
    }
});
