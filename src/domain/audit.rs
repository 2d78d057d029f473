//! The audit trail's rules: which security events are recorded and under what stable name, what
//! a recorded event holds (never a secret: an API key appears by its prefix only), and the
//! paging of a user's events (Google AIP-158: a page size with a default and a maximum, and an
//! opaque token naming where the next page starts).

use super::origin::RequestOrigin;

/// What happened. The names are part of the API (REST, gRPC, the CLI): never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    SignUp,
    SignIn,
    SignInFailed,
    /// The failure that locked the account, or a sign-in refused because it is locked.
    SignInLockedOut,
    /// A rotated refresh token came back after the grace period; its session was revoked.
    RefreshReuseDetected,
    SignOut,
    SignOutEverywhere,
    SessionRevoked,
    /// The user changed their password (Cognito's ChangePassword).
    PasswordChanged,
    ApiKeyCreated,
    ApiKeyUpdated,
    ApiKeyRevoked,
    /// Tier or team changed by an operator (`users set-tier`).
    TierChanged,
    /// A new active signing key (`signing-keys rotate`); no user.
    SigningKeyRotated,
}

impl EventType {
    pub const ALL: [EventType; 14] = [
        EventType::SignUp,
        EventType::SignIn,
        EventType::SignInFailed,
        EventType::SignInLockedOut,
        EventType::RefreshReuseDetected,
        EventType::SignOut,
        EventType::SignOutEverywhere,
        EventType::SessionRevoked,
        EventType::PasswordChanged,
        EventType::ApiKeyCreated,
        EventType::ApiKeyUpdated,
        EventType::ApiKeyRevoked,
        EventType::TierChanged,
        EventType::SigningKeyRotated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::SignUp => "sign_up",
            EventType::SignIn => "sign_in",
            EventType::SignInFailed => "sign_in_failed",
            EventType::SignInLockedOut => "sign_in_locked_out",
            EventType::RefreshReuseDetected => "refresh_reuse_detected",
            EventType::SignOut => "sign_out",
            EventType::SignOutEverywhere => "sign_out_everywhere",
            EventType::SessionRevoked => "session_revoked",
            EventType::PasswordChanged => "password_changed",
            EventType::ApiKeyCreated => "api_key_created",
            EventType::ApiKeyUpdated => "api_key_updated",
            EventType::ApiKeyRevoked => "api_key_revoked",
            EventType::TierChanged => "tier_changed",
            EventType::SigningKeyRotated => "signing_key_rotated",
        }
    }
}

/// An event to record. The time and the id are given by the store when it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub event_type: EventType,
    /// None when no account is known (a failed sign-in for an unknown email, a key rotation).
    pub user_id: Option<String>,
    /// The API key concerned, by its public prefix.
    pub key_prefix: Option<String>,
    pub origin: RequestOrigin,
    /// A short, secret-free note (the new tier, what a key update changed).
    pub detail: Option<String>,
}

impl AuditEvent {
    pub fn new(event_type: EventType, origin: RequestOrigin) -> Self {
        Self {
            event_type,
            user_id: None,
            key_prefix: None,
            origin,
            detail: None,
        }
    }

    pub fn user(mut self, user_id: &str) -> Self {
        self.user_id = Some(user_id.to_owned());
        self
    }

    pub fn key(mut self, prefix: &str) -> Self {
        self.key_prefix = Some(prefix.to_owned());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// Events per page when the caller names no size.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page; a larger request is served this many (AIP-158 coerces rather than refuses).
pub const MAX_PAGE_SIZE: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("pageSize must not be negative")]
    NegativeSize,
    #[error("pageToken is not a token from a previous page")]
    BadToken,
}

/// A page size as requested: 0 is the default, above the maximum is the maximum.
pub fn page_size(requested: i32) -> Result<u32, PageError> {
    match u32::try_from(requested) {
        Err(_) => Err(PageError::NegativeSize),
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(n) => Ok(n.min(MAX_PAGE_SIZE)),
    }
}

/// Where a page starts: below the id of the last event of the previous page. The token is that
/// id after a `p` (`p1234`): opaque to clients, but simple enough for the API description to
/// give its exact pattern, so that every token the description allows is one the service
/// accepts. It needs no signature, because the listing filters by the caller anyway: a forged
/// token only moves within the caller's own events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageToken {
    pub before_id: i64,
}

impl PageToken {
    /// An empty token is the first page.
    pub fn parse(token: &str) -> Result<Option<PageToken>, PageError> {
        if token.is_empty() {
            return Ok(None);
        }
        // The pattern of `page_token` in audit.proto: `p`, then 1 to 18 digits without a
        // leading zero (18 digits always fit an i64).
        let digits = token
            .strip_prefix('p')
            .filter(|d| (1..=18).contains(&d.len()) && !d.starts_with('0'))
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(PageError::BadToken)?;
        let before_id = digits.parse::<i64>().map_err(|_| PageError::BadToken)?;
        Ok(Some(PageToken { before_id }))
    }

    pub fn encode(self) -> String {
        format!("p{}", self.before_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_names_are_distinct_snake_case() {
        let names: std::collections::HashSet<_> =
            EventType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(names.len(), EventType::ALL.len());
        for name in names {
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }

    #[test]
    fn page_sizes_default_to_50_and_are_capped_at_100() {
        assert_eq!(page_size(0), Ok(50));
        assert_eq!(page_size(2), Ok(2));
        assert_eq!(page_size(1000), Ok(100));
        assert_eq!(page_size(-1), Err(PageError::NegativeSize));
    }

    #[test]
    fn a_page_token_round_trips_and_garbage_is_refused() {
        let token = PageToken { before_id: 42 };
        assert_eq!(PageToken::parse(&token.encode()), Ok(Some(token)));
        assert_eq!(PageToken::parse(""), Ok(None));
        for bad in [
            "!!",
            "p",
            "p0",
            "p-5",
            "p01",
            "q12",
            "p1234567890123456789",
            "NDI",
        ] {
            assert_eq!(PageToken::parse(bad), Err(PageError::BadToken), "{bad}");
        }
    }
}
