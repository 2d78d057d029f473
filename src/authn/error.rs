use std::time::Duration;

use super::bearer::BearerError;
use crate::{api_keys::ApiKeyError, auth::AuthError, quota::Budget, store::StoreError};

/// Why the authentication layer refuses a request. Mapped to statuses in `grpc::errors`.
#[derive(Debug, thiserror::Error)]
pub enum AuthnError {
    #[error(transparent)]
    Bearer(#[from] BearerError),
    #[error("invalid, revoked or expired credential")]
    InvalidCredential,
    // Refusals of an identified API key carry its budget, for the rate-limit headers that
    // every API-key response has.
    #[error("API keys cannot be used here; sign in and use an access token")]
    ApiKeyNotAllowed { budget: Option<Budget> },
    #[error("API keys work on the pro, team and enterprise tiers only")]
    TierWithoutKeys { budget: Option<Budget> },
    #[error("the daily request limit of this API key is used up")]
    DailyLimitExceeded { budget: Budget },
    #[error("too many requests for this account; slow down")]
    AccountRateExceeded {
        retry_after: Duration,
        budget: Option<Budget>,
    },
    #[error("internal RPCs are disabled on this instance")]
    InternalDisabled,
    #[error("a valid service token is required")]
    BadServiceToken,
    #[error("this RPC is not available")]
    Unavailable,
    /// The key was revoked or its owner's tier changed, and changed back, while this request
    /// was being counted: try again.
    #[error("the API key changed during the request; try again")]
    KeyChanging,
    #[error("too many failed authentications from this address; try again later")]
    AddressRateExceeded { retry_after: Duration },
    #[error("clientAddress must be an IPv4 or IPv6 address")]
    InvalidClientAddress,
    /// A gateway check that does not say what it checks, or says it unreadably.
    #[error("{0}")]
    InvalidCheck(&'static str),
    /// A gateway check of a path that no gateway rule allows.
    #[error("no gateway rule allows this request")]
    NoGatewayRule,
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthnError {
    /// Whether the request presented a credential that is not valid (unknown or revoked key,
    /// bad, expired or revoked token, malformed credential): what the per-address limit of
    /// failed authentications counts. Refusals of a valid credential and outages do not count.
    pub fn is_failed_authentication(&self) -> bool {
        matches!(
            self,
            AuthnError::Bearer(BearerError::Malformed | BearerError::MalformedApiKey)
                | AuthnError::InvalidCredential
                | AuthnError::Auth(
                    AuthError::InvalidToken | AuthError::ExpiredToken | AuthError::RevokedToken
                )
        )
    }
}

impl From<ApiKeyError> for AuthnError {
    fn from(err: ApiKeyError) -> Self {
        match err {
            ApiKeyError::Store(err) => AuthnError::Store(err),
            _ => AuthnError::InvalidCredential,
        }
    }
}
