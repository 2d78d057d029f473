//! `Authorization: Bearer <token>` parsing. Strict: one header, scheme `Bearer` in any case,
//! one token without spaces, at most 8 KiB. A string shaped like an API key is checked as one
//! before any database work.

use http::{HeaderMap, header};

use crate::domain::api_key::{ApiKeySecret, looks_like_api_key};

/// Largest Authorization header considered; larger ones are refused unread.
pub const MAX_AUTHORIZATION_BYTES: usize = 8 * 1024;

/// A credential taken from a request.
#[derive(Debug)]
pub enum Bearer {
    /// A string that is not an API key: checked as a JWT access token.
    Jwt(JwtText),
    ApiKey(ApiKeySecret),
}

/// The text of a bearer JWT. `Debug` is redacted.
pub struct JwtText(pub String);

impl std::fmt::Debug for JwtText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtText(..)")
    }
}

/// Why a request carries no usable credential; the message is safe to return.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BearerError {
    #[error("missing bearer credential")]
    Missing,
    #[error("malformed Authorization header")]
    Malformed,
    #[error("malformed API key")]
    MalformedApiKey,
}

pub fn parse_authorization(headers: &HeaderMap) -> Result<Bearer, BearerError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or(BearerError::Missing)?;
    if values.next().is_some() || value.len() > MAX_AUTHORIZATION_BYTES {
        return Err(BearerError::Malformed);
    }
    let value = value.to_str().map_err(|_| BearerError::Malformed)?;
    parse_token(value)
}

/// Parses `Bearer <token>` (the scheme is case-insensitive).
pub fn parse_token(value: &str) -> Result<Bearer, BearerError> {
    let (scheme, token) = value.split_once(' ').ok_or(BearerError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::Malformed);
    }
    classify(token)
}

/// Decides whether a bare token is an API key or a JWT.
pub fn classify(token: &str) -> Result<Bearer, BearerError> {
    if token.is_empty() || token.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(BearerError::Malformed);
    }
    if looks_like_api_key(token) {
        ApiKeySecret::parse(token)
            .map(Bearer::ApiKey)
            .map_err(|_| BearerError::MalformedApiKey)
    } else {
        Ok(Bearer::Jwt(JwtText(token.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn parse(value: &str) -> Result<Bearer, BearerError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        parse_authorization(&headers)
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        let key = ApiKeySecret::generate();
        for scheme in ["Bearer", "bearer", "BEARER"] {
            assert!(matches!(
                parse(&format!("{scheme} {}", key.expose())),
                Ok(Bearer::ApiKey(_))
            ));
        }
        assert!(matches!(parse("Bearer eyJ.a.b"), Ok(Bearer::Jwt(_))));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let key = ApiKeySecret::generate();
        for bad in [
            "Bearer".to_owned(),
            "Bearer ".to_owned(),
            format!("Bearer Bearer {}", key.expose()),
            format!("Bearer  {}", key.expose()),
            format!("Basic {}", key.expose()),
            format!("Bearer {} x", key.expose()),
        ] {
            assert_eq!(parse(&bad).unwrap_err(), BearerError::Malformed, "{bad:?}");
        }
        assert_eq!(
            parse(&format!(
                "Bearer {}",
                key.expose()
                    .to_uppercase()
                    .replace("CSK_LIVE_", "csk_live_")
            ))
            .unwrap_err(),
            BearerError::MalformedApiKey
        );
        assert_eq!(
            parse_authorization(&HeaderMap::new()).unwrap_err(),
            BearerError::Missing
        );
        let huge = format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_BYTES));
        assert_eq!(parse(&huge).unwrap_err(), BearerError::Malformed);
    }
}
