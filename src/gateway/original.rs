//! The original request a gateway check is about, and the normal form of its path.

use http::{Method, request::Parts};
use percent_encoding::percent_decode_str;

use crate::authn::AuthnError;

use super::CHECK_PREFIX;

/// Longest original request target accepted.
const MAX_TARGET_BYTES: usize = 8 * 1024;
/// Longest method accepted (the longest registered HTTP methods have 17 letters).
const MAX_METHOD_BYTES: usize = 20;

/// The headers that name the original request.
const ORIGINAL_HEADERS: [&str; 4] = [
    "x-original-uri",
    "x-original-method",
    "x-forwarded-uri",
    "x-forwarded-method",
];

pub struct Original {
    pub method: Method,
    /// Percent-decoded, with repeated slashes merged; no dot segments.
    pub path: String,
}

/// The original request of an HTTP check: from `X-Original-Method`/`X-Original-URI` (nginx) or
/// `X-Forwarded-Method`/`X-Forwarded-Uri` (Traefik, Caddy) when the peer is a trusted proxy,
/// else the path after the prefix with the check's own method (Envoy's HTTP mode). Forwarded
/// headers from anyone else are ignored, so they cannot turn a refusal into an allow. Both pairs
/// at once are refused: a proxy sets one and may pass a client's other one on.
pub fn from_http(parts: &Parts, trusted_peer: bool) -> Result<Original, AuthnError> {
    let header = |name: &str| -> Result<Option<&str>, AuthnError> {
        match parts.headers.get(name) {
            None => Ok(None),
            Some(value) => value
                .to_str()
                .map(Some)
                .map_err(|_| AuthnError::InvalidCheck("the original request headers are not text")),
        }
    };
    let forwarded = if trusted_peer {
        // A proxy sets one pair and passes the client's other headers on, so a check that
        // carries both pairs (or one header twice) may be a client naming its own path: it is
        // refused rather than guessed at.
        for name in ORIGINAL_HEADERS {
            if parts.headers.get_all(name).iter().count() > 1 {
                return Err(AuthnError::InvalidCheck(
                    "the check carries an original-request header twice",
                ));
            }
        }
        match (header("x-original-uri")?, header("x-forwarded-uri")?) {
            (Some(_), Some(_)) => {
                return Err(AuthnError::InvalidCheck(
                    "the check carries both X-Original-URI and X-Forwarded-Uri",
                ));
            }
            (Some(uri), None) => Some((header("x-original-method")?, uri)),
            (None, Some(uri)) => Some((header("x-forwarded-method")?, uri)),
            (None, None) => None,
        }
    } else {
        None
    };
    let (method, target) = match forwarded {
        Some((method, uri)) => (method, uri.to_owned()),
        None => {
            let target = parts
                .uri
                .path_and_query()
                .map(|pq| pq.as_str())
                .unwrap_or_default();
            let after = target.strip_prefix(CHECK_PREFIX).unwrap_or_default();
            if after.is_empty() || after.starts_with('?') {
                return Err(AuthnError::InvalidCheck(
                    "the check names no original request: send X-Original-URI or put the path after /authz/check",
                ));
            }
            (None, after.to_owned())
        }
    };
    let method = match method {
        Some(method) => parse_method(method)?,
        None => parts.method.clone(),
    };
    Ok(Original {
        method,
        path: normalize_target(&target)?,
    })
}

pub fn parse_method(method: &str) -> Result<Method, AuthnError> {
    let bad = AuthnError::InvalidCheck("the original method is not an HTTP method");
    if method.is_empty()
        || method.len() > MAX_METHOD_BYTES
        || !method.bytes().all(|b| b.is_ascii_uppercase())
    {
        return Err(bad);
    }
    Method::from_bytes(method.as_bytes()).map_err(|_| bad)
}

/// The path of a request target (`/a/b?q`), percent-decoded with repeated slashes merged, so
/// that every spelling an upstream may treat as one path is judged as that path. Targets that
/// are not absolute paths, do not decode to text, or hold dot segments are refused.
pub fn normalize_target(target: &str) -> Result<String, AuthnError> {
    if target.len() > MAX_TARGET_BYTES {
        return Err(AuthnError::InvalidCheck(
            "the original request target is too long",
        ));
    }
    if !target.starts_with('/') {
        return Err(AuthnError::InvalidCheck(
            "the original request target must be an absolute path",
        ));
    }
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| AuthnError::InvalidCheck("the original path does not decode to text"))?;
    if decoded.chars().any(|c| c.is_control()) {
        return Err(AuthnError::InvalidCheck(
            "the original path holds control characters",
        ));
    }
    let segments: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(AuthnError::InvalidCheck(
            "the original path holds . or .. segments",
        ));
    }
    Ok(format!("/{}", segments.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_judged_as_an_upstream_would_see_them() {
        assert_eq!(normalize_target("/api/usage?x=1").unwrap(), "/api/usage");
        assert_eq!(
            normalize_target("/api//api-keys/").unwrap(),
            "/api/api-keys"
        );
        assert_eq!(
            normalize_target("/api/api%2Dkeys").unwrap(),
            "/api/api-keys"
        );
        assert_eq!(
            normalize_target("/api%2Fapi-keys").unwrap(),
            "/api/api-keys"
        );
        assert_eq!(normalize_target("/").unwrap(), "/");
        for bad in [
            "v1/usage",
            "",
            "http://evil/api/usage",
            "/api/../admin",
            "/api/%2e%2e/admin",
            "/api/./usage",
            "/api/%00",
            "/api/%ff",
        ] {
            assert!(normalize_target(bad).is_err(), "{bad}");
        }
        assert!(normalize_target(&format!("/{}", "a".repeat(MAX_TARGET_BYTES))).is_err());
    }

    #[test]
    fn only_plain_methods_are_accepted() {
        assert_eq!(parse_method("DELETE").unwrap(), Method::DELETE);
        for bad in ["", "get", "G ET", "GET\r\n", &"X".repeat(30)] {
            assert!(parse_method(bad).is_err(), "{bad:?}");
        }
    }
}
