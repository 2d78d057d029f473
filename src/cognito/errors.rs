//! The Cognito API's errors: one table from the use cases' errors to Cognito's exception names
//! and messages, beside the one in `grpc/errors.rs`. Names and wording follow Cognito, so the
//! SDKs raise the exception classes their callers already catch.

use std::{borrow::Cow, time::Duration};

use http::StatusCode;

use crate::{auth::AuthError, authn::AuthnError, store::StoreError, telemetry::error_chain};

/// The exception names this API answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    NotAuthorized,
    UsernameExists,
    InvalidPassword,
    InvalidParameter,
    ResourceNotFound,
    TooManyRequests,
    UnknownOperation,
    Serialization,
    InternalError,
}

impl ErrorType {
    pub fn name(self) -> &'static str {
        match self {
            ErrorType::NotAuthorized => "NotAuthorizedException",
            ErrorType::UsernameExists => "UsernameExistsException",
            ErrorType::InvalidPassword => "InvalidPasswordException",
            ErrorType::InvalidParameter => "InvalidParameterException",
            ErrorType::ResourceNotFound => "ResourceNotFoundException",
            ErrorType::TooManyRequests => "TooManyRequestsException",
            ErrorType::UnknownOperation => "UnknownOperationException",
            ErrorType::Serialization => "SerializationException",
            ErrorType::InternalError => "InternalErrorException",
        }
    }

    /// Cognito answers every client error with 400; only its own failures are 500.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The gRPC code the metrics count it under, as for every other door.
    pub fn code(self) -> tonic::Code {
        match self {
            ErrorType::NotAuthorized => tonic::Code::Unauthenticated,
            ErrorType::UsernameExists => tonic::Code::AlreadyExists,
            ErrorType::InvalidPassword
            | ErrorType::InvalidParameter
            | ErrorType::UnknownOperation
            | ErrorType::Serialization => tonic::Code::InvalidArgument,
            ErrorType::ResourceNotFound => tonic::Code::NotFound,
            ErrorType::TooManyRequests => tonic::Code::ResourceExhausted,
            ErrorType::InternalError => tonic::Code::Internal,
        }
    }
}

/// An error answer: its exception, a message safe to show, and when to retry.
#[derive(Debug)]
pub struct CognitoError {
    pub kind: ErrorType,
    pub message: Cow<'static, str>,
    pub retry_after: Option<Duration>,
}

impl CognitoError {
    pub fn new(kind: ErrorType, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorType::InvalidParameter, message)
    }

    fn later(kind: ErrorType, message: &'static str, retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(kind, message)
        }
    }

    /// A failure of ours: logged here with its cause chain, once; the client learns nothing of
    /// it.
    fn internal(err: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %error_chain(err), "internal error");
        Self::new(ErrorType::InternalError, "Internal error")
    }
}

const BAD_CREDENTIALS: &str = "Incorrect username or password.";
const INVALID_ACCESS_TOKEN: &str = "Invalid Access Token";

impl From<StoreError> for CognitoError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(ref cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Self::later(
                    ErrorType::InternalError,
                    "The service is temporarily unavailable",
                    Duration::from_secs(1),
                )
            }
            StoreError::Other(_) => Self::internal(&err),
        }
    }
}

impl From<AuthError> for CognitoError {
    fn from(err: AuthError) -> Self {
        use ErrorType::*;
        match err {
            AuthError::InvalidEmail => Self::invalid("Username should be an email."),
            AuthError::InvalidPassword => Self::new(
                InvalidPassword,
                "Password did not conform with policy: Password must be 8 to 256 characters",
            ),
            AuthError::EmailTaken => Self::new(
                UsernameExists,
                "An account with the given email already exists.",
            ),
            AuthError::BadCredentials => Self::new(NotAuthorized, BAD_CREDENTIALS),
            // Not TooManyRequests: the SDKs retry that, and a retried guess extends the lock.
            AuthError::LockedOut { .. } => Self::new(NotAuthorized, "Password attempts exceeded"),
            AuthError::AddressLimited { retry_after } => Self::later(
                TooManyRequests,
                "Too many requests from this address; try again later",
                retry_after,
            ),
            AuthError::InvalidToken => Self::new(NotAuthorized, INVALID_ACCESS_TOKEN),
            AuthError::ExpiredToken => Self::new(NotAuthorized, "Access Token has expired"),
            AuthError::RevokedToken => Self::new(NotAuthorized, "Access Token has been revoked"),
            AuthError::InvalidRefreshToken => Self::new(NotAuthorized, "Invalid Refresh Token"),
            AuthError::SessionNotFound => Self::new(ResourceNotFound, "No such active session"),
            AuthError::BadClientSecret => {
                Self::new(NotAuthorized, "Unable to verify secret hash for client")
            }
            AuthError::SrpSessionInvalid => Self::new(
                NotAuthorized,
                "Invalid session for the user, session is expired.",
            ),
            AuthError::SrpStaleTimestamp => Self::new(
                NotAuthorized,
                "TIMESTAMP is more than 5 minutes away from the service's clock",
            ),
            AuthError::SrpBadParameter(message) => Self::invalid(message),
            AuthError::Hashing | AuthError::Signing => Self::internal(&err),
            AuthError::Store(err) => err.into(),
            AuthError::Overloaded { retry_after } => Self::later(
                TooManyRequests,
                "The service is busy; try again shortly",
                retry_after,
            ),
        }
    }
}

impl From<AuthnError> for CognitoError {
    fn from(err: AuthnError) -> Self {
        use ErrorType::*;
        match err {
            AuthnError::Bearer(_)
            | AuthnError::InvalidCredential
            | AuthnError::ApiKeyNotAllowed { .. }
            | AuthnError::TierWithoutKeys { .. }
            | AuthnError::InternalDisabled
            | AuthnError::BadServiceToken
            | AuthnError::Unavailable
            | AuthnError::NoGatewayRule => Self::new(NotAuthorized, INVALID_ACCESS_TOKEN),
            AuthnError::DailyLimitExceeded { budget } => Self::later(
                TooManyRequests,
                "The daily request limit is used up",
                budget.retry_after(),
            ),
            AuthnError::AccountRateExceeded { retry_after, .. } => Self::later(
                TooManyRequests,
                "Too many requests for this account; slow down",
                retry_after,
            ),
            AuthnError::AddressRateExceeded { retry_after } => Self::later(
                TooManyRequests,
                "Too many failed authentications from this address; try again later",
                retry_after,
            ),
            AuthnError::KeyChanging => Self::later(
                TooManyRequests,
                "The credential changed during the request; try again",
                Duration::from_secs(1),
            ),
            AuthnError::InvalidClientAddress | AuthnError::InvalidCheck(_) => {
                Self::invalid("The request is not valid")
            }
            AuthnError::Auth(err) => err.into(),
            AuthnError::Store(err) => err.into(),
        }
    }
}
