//! `Authorization` header parsing on arbitrary header values (one or several headers).
//!
//! Properties: never a panic; a header that is absent, repeated or over 8 KiB is refused; an
//! accepted API key is exactly the text after the scheme and re-parses to itself; an accepted
//! JWT is the text after the scheme, without whitespace or control characters, and not shaped
//! like an API key; `classify` agrees with `parse_token`.
#![no_main]

use cloudsigma_auth::{
    authn::bearer::{
        Bearer, BearerError, MAX_AUTHORIZATION_BYTES, classify, parse_authorization, parse_token,
    },
    domain::api_key::{ApiKeySecret, looks_like_api_key},
};
use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Each line is one `Authorization` header; bytes HTTP cannot carry in a header are dropped
    // the way hyper would refuse them, before this parser sees anything.
    let values: Vec<HeaderValue> = data
        .split(|b| *b == b'\n')
        .filter_map(|line| HeaderValue::from_bytes(line).ok())
        .collect();
    let mut headers = HeaderMap::new();
    for value in &values {
        headers.append(header::AUTHORIZATION, value.clone());
    }

    let parsed = parse_authorization(&headers);
    match values.as_slice() {
        [] => assert_eq!(parsed.unwrap_err(), BearerError::Missing),
        [value] => check_single(value, parsed),
        _ => assert_eq!(parsed.unwrap_err(), BearerError::Malformed),
    }

    if let Ok(text) = std::str::from_utf8(data) {
        let direct = classify(text);
        let via_scheme = parse_token(&format!("Bearer {text}"));
        assert_eq!(summary(&direct), summary(&via_scheme), "{text:?}");
    }
});

fn check_single(value: &HeaderValue, parsed: Result<Bearer, BearerError>) {
    if value.len() > MAX_AUTHORIZATION_BYTES {
        assert_eq!(parsed.unwrap_err(), BearerError::Malformed);
        return;
    }
    let Ok(bearer) = parsed else { return };
    let text = value.to_str().expect("an accepted header is visible ASCII");
    let (scheme, token) = text
        .split_once(' ')
        .expect("an accepted header has a scheme");
    assert!(scheme.eq_ignore_ascii_case("bearer"), "{text:?}");
    match bearer {
        Bearer::ApiKey(key) => {
            assert_eq!(key.expose(), token);
            assert_eq!(ApiKeySecret::parse(key.expose()).as_ref(), Ok(&key));
        }
        Bearer::Jwt(jwt) => {
            assert_eq!(jwt.0, token);
            assert!(!jwt.0.is_empty());
            assert!(!jwt.0.chars().any(|c| c.is_whitespace() || c.is_control()));
            assert!(!looks_like_api_key(&jwt.0));
        }
    }
}

/// A comparable outcome (the credential types do not implement `PartialEq` on purpose).
fn summary(result: &Result<Bearer, BearerError>) -> Result<(&'static str, String), &BearerError> {
    match result {
        Ok(Bearer::ApiKey(key)) => Ok(("key", key.expose().to_owned())),
        Ok(Bearer::Jwt(jwt)) => Ok(("jwt", jwt.0.clone())),
        Err(err) => Err(err),
    }
}
