//! The one place that decides status codes. Every error of every layer becomes a
//! `tonic::Status` here, carrying a `google.rpc.ErrorInfo` whose reason is the contract's error
//! code; the REST layer reads the code back from the status and never maps errors again.

use std::time::Duration;

use tonic::{Code, Status, metadata::MetadataValue};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{
    api_keys::ApiKeyError,
    audit::AuditError,
    auth::AuthError,
    authn::{AuthnError, Principal, budget_headers},
    quota::UsageError,
    store::StoreError,
};

/// The `domain` of every `ErrorInfo`.
pub const ERROR_DOMAIN: &str = "cloudsigma.a13e.com";

/// The error codes of CONTRACT §2, with their gRPC code and HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    ValidationError,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    RateLimitExceeded,
    TierLimitExceeded,
    InternalError,
    ServiceUnavailable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::ValidationError,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Conflict,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RateLimitExceeded,
        ErrorCode::TierLimitExceeded,
        ErrorCode::InternalError,
        ErrorCode::ServiceUnavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationError => "ValidationError",
            ErrorCode::Unauthorized => "Unauthorized",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::NotFound => "NotFound",
            ErrorCode::MethodNotAllowed => "MethodNotAllowed",
            ErrorCode::Conflict => "Conflict",
            ErrorCode::PayloadTooLarge => "PayloadTooLarge",
            ErrorCode::RateLimitExceeded => "RateLimitExceeded",
            ErrorCode::TierLimitExceeded => "TierLimitExceeded",
            ErrorCode::InternalError => "InternalError",
            ErrorCode::ServiceUnavailable => "ServiceUnavailable",
        }
    }

    pub fn grpc_code(self) -> Code {
        match self {
            ErrorCode::ValidationError => Code::InvalidArgument,
            ErrorCode::Unauthorized => Code::Unauthenticated,
            ErrorCode::Forbidden => Code::PermissionDenied,
            ErrorCode::NotFound => Code::NotFound,
            ErrorCode::MethodNotAllowed => Code::Unimplemented,
            ErrorCode::Conflict => Code::AlreadyExists,
            ErrorCode::PayloadTooLarge
            | ErrorCode::RateLimitExceeded
            | ErrorCode::TierLimitExceeded => Code::ResourceExhausted,
            ErrorCode::InternalError => Code::Internal,
            ErrorCode::ServiceUnavailable => Code::Unavailable,
        }
    }

    /// The HTTP status, derived from the gRPC code; RESOURCE_EXHAUSTED is 413 for an oversized
    /// body and 429 otherwise.
    pub fn http_status(self) -> u16 {
        match self.grpc_code() {
            Code::InvalidArgument => 400,
            Code::Unauthenticated => 401,
            Code::PermissionDenied => 403,
            Code::NotFound => 404,
            Code::Unimplemented => 405,
            Code::AlreadyExists => 409,
            Code::ResourceExhausted if self == ErrorCode::PayloadTooLarge => 413,
            Code::ResourceExhausted => 429,
            Code::Unavailable => 503,
            _ => 500,
        }
    }

    /// The code a status stands for: its `ErrorInfo` reason, or, for statuses raised outside
    /// this service's code (tonic's own UNIMPLEMENTED, a decode error), the closest code.
    pub fn of(status: &Status) -> ErrorCode {
        let reason = status.get_error_details().error_info().and_then(|info| {
            ErrorCode::ALL
                .into_iter()
                .find(|code| code.as_str() == info.reason)
        });
        reason.unwrap_or(match status.code() {
            Code::InvalidArgument | Code::FailedPrecondition => ErrorCode::ValidationError,
            // tonic's answer to a message over the decoding limit.
            Code::OutOfRange => ErrorCode::PayloadTooLarge,
            Code::Unauthenticated => ErrorCode::Unauthorized,
            Code::PermissionDenied => ErrorCode::Forbidden,
            Code::NotFound => ErrorCode::NotFound,
            Code::Unimplemented => ErrorCode::MethodNotAllowed,
            Code::AlreadyExists => ErrorCode::Conflict,
            Code::ResourceExhausted => ErrorCode::RateLimitExceeded,
            Code::Unavailable => ErrorCode::ServiceUnavailable,
            _ => ErrorCode::InternalError,
        })
    }
}

/// A status with the contract's code and a message that is safe to show to the client.
pub fn error(code: ErrorCode, message: impl Into<String>) -> Status {
    let details = ErrorDetails::with_error_info(code.as_str(), ERROR_DOMAIN, []);
    let mut status = Status::with_error_details(code.grpc_code(), message, details);
    if code == ErrorCode::Unauthorized {
        status
            .metadata_mut()
            .insert("www-authenticate", MetadataValue::from_static("Bearer"));
    }
    status
}

/// A 429-class status: `ErrorInfo`, `RetryInfo` and a `retry-after` of whole seconds (at
/// least 1).
pub fn retry_later(code: ErrorCode, message: impl Into<String>, retry_after: Duration) -> Status {
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut details = ErrorDetails::with_error_info(code.as_str(), ERROR_DOMAIN, []);
    details.set_retry_info(Some(Duration::from_secs(seconds)));
    let mut status = Status::with_error_details(code.grpc_code(), message, details);
    status
        .metadata_mut()
        .insert("retry-after", MetadataValue::from(seconds));
    status
}

/// An error the client cannot act on. The cause chain is logged here, once; the client gets a
/// message that says nothing about internals.
pub fn internal(err: &(dyn std::error::Error + 'static)) -> Status {
    tracing::error!(error = %crate::telemetry::error_chain(err), "internal error");
    error(ErrorCode::InternalError, "internal error")
}

impl From<StoreError> for Status {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(ref cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                // The pool reconnects on its own; a second is a fair first wait.
                retry_later(
                    ErrorCode::ServiceUnavailable,
                    "the service is temporarily unavailable",
                    Duration::from_secs(1),
                )
            }
            StoreError::Other(_) => internal(&err),
        }
    }
}

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Self {
        let message = err.to_string();
        match err {
            AuthError::InvalidEmail
            | AuthError::InvalidPassword
            | AuthError::SrpBadParameter(_) => error(ErrorCode::ValidationError, message),
            AuthError::EmailTaken => error(ErrorCode::Conflict, message),
            AuthError::SessionNotFound => error(ErrorCode::NotFound, message),
            AuthError::BadCredentials
            | AuthError::InvalidToken
            | AuthError::ExpiredToken
            | AuthError::RevokedToken
            | AuthError::InvalidRefreshToken
            | AuthError::BadClientSecret
            | AuthError::SrpSessionInvalid
            | AuthError::SrpStaleTimestamp => error(ErrorCode::Unauthorized, message),
            AuthError::LockedOut { retry_after } | AuthError::AddressLimited { retry_after } => {
                retry_later(ErrorCode::RateLimitExceeded, message, retry_after)
            }
            AuthError::Hashing | AuthError::Signing => internal(&err),
            AuthError::Store(err) => err.into(),
            AuthError::Overloaded { retry_after } => {
                retry_later(ErrorCode::ServiceUnavailable, message, retry_after)
            }
        }
    }
}

impl From<AuthnError> for Status {
    fn from(err: AuthnError) -> Self {
        let message = err.to_string();
        match err {
            AuthnError::Bearer(_) | AuthnError::InvalidCredential => {
                error(ErrorCode::Unauthorized, message)
            }
            AuthnError::ApiKeyNotAllowed { budget } | AuthnError::TierWithoutKeys { budget } => {
                with_budget(error(ErrorCode::Forbidden, message), budget.as_ref())
            }
            AuthnError::InternalDisabled
            | AuthnError::BadServiceToken
            | AuthnError::Unavailable => error(ErrorCode::Forbidden, message),
            AuthnError::DailyLimitExceeded { budget } => with_budget(
                retry_later(ErrorCode::RateLimitExceeded, message, budget.retry_after()),
                Some(&budget),
            ),
            AuthnError::AccountRateExceeded {
                retry_after,
                budget,
            } => with_budget(
                retry_later(ErrorCode::RateLimitExceeded, message, retry_after),
                budget.as_ref(),
            ),
            AuthnError::AddressRateExceeded { retry_after } => {
                retry_later(ErrorCode::RateLimitExceeded, message, retry_after)
            }
            AuthnError::InvalidClientAddress | AuthnError::InvalidCheck(_) => {
                error(ErrorCode::ValidationError, message)
            }
            AuthnError::NoGatewayRule => error(ErrorCode::Forbidden, message),
            AuthnError::KeyChanging => retry_later(
                ErrorCode::ServiceUnavailable,
                message,
                Duration::from_secs(1),
            ),
            AuthnError::Auth(err) => err.into(),
            AuthnError::Store(err) => err.into(),
        }
    }
}

/// Adds an API key's rate-limit headers to a refusal.
fn with_budget(mut status: Status, budget: Option<&crate::quota::Budget>) -> Status {
    if let Some(budget) = budget {
        super::insert_headers(status.metadata_mut(), &budget_headers(budget));
    }
    status
}

/// A status raised outside this service's code (tonic's UNIMPLEMENTED, a message over the size
/// limit) gets the same `ErrorInfo` as ours; statuses that have details are left alone.
pub fn normalize(status: Status) -> Status {
    if !status.details().is_empty() {
        return status;
    }
    let code = ErrorCode::of(&status);
    let message = match code {
        ErrorCode::PayloadTooLarge => "request message is over 64 KiB".to_owned(),
        ErrorCode::MethodNotAllowed if status.message().is_empty() => "no such method".to_owned(),
        _ => status.message().to_owned(),
    };
    error(code, message)
}

impl From<ApiKeyError> for Status {
    fn from(err: ApiKeyError) -> Self {
        let message = err.to_string();
        match err {
            ApiKeyError::TierWithoutKeys => error(ErrorCode::Forbidden, message),
            ApiKeyError::InvalidName
            | ApiKeyError::InvalidDailyLimit { .. }
            | ApiKeyError::NothingToUpdate
            | ApiKeyError::InvalidDays => error(ErrorCode::ValidationError, message),
            ApiKeyError::NotFound => error(ErrorCode::NotFound, message),
            ApiKeyError::PrefixesExhausted => internal(&err),
            ApiKeyError::Store(err) => err.into(),
        }
    }
}

impl From<AuditError> for Status {
    fn from(err: AuditError) -> Self {
        let message = err.to_string();
        match err {
            AuditError::Page(_) => error(ErrorCode::ValidationError, message),
            AuditError::UnknownUser(_) => error(ErrorCode::NotFound, message),
            AuditError::Store(err) => err.into(),
        }
    }
}

impl From<UsageError> for Status {
    fn from(err: UsageError) -> Self {
        let message = err.to_string();
        match err {
            UsageError::InvalidRules => error(ErrorCode::ValidationError, message),
            UsageError::UnknownUser => error(ErrorCode::NotFound, message),
            UsageError::TierLimitExceeded { retry_after } => {
                retry_later(ErrorCode::TierLimitExceeded, message, retry_after)
            }
            UsageError::Store(err) => err.into(),
        }
    }
}

/// The authenticated caller that the authentication layer put in the request.
pub fn principal<T>(request: &tonic::Request<T>) -> Result<&Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .ok_or_else(|| error(ErrorCode::Unauthorized, "missing bearer credential"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_survives_a_round_trip_through_a_status() {
        for code in ErrorCode::ALL {
            let status = error(code, "message");
            assert_eq!(ErrorCode::of(&status), code);
            assert_eq!(status.code(), code.grpc_code());
        }
    }

    #[test]
    fn http_statuses_match_the_contract() {
        let expected = [400, 401, 403, 404, 405, 409, 413, 429, 429, 500, 503];
        for (code, http) in ErrorCode::ALL.into_iter().zip(expected) {
            assert_eq!(code.http_status(), http, "{code:?}");
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let status = retry_later(
            ErrorCode::RateLimitExceeded,
            "slow down",
            Duration::from_millis(1500),
        );
        assert_eq!(status.metadata().get("retry-after").unwrap(), "2");
        let retry = status.get_error_details().retry_info().cloned().unwrap();
        assert_eq!(retry.retry_delay, Some(Duration::from_secs(2)));
    }
}
