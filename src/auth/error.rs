use std::time::Duration;

use crate::store::StoreError;

/// What can go wrong in the user pool. Mapped to statuses in `grpc::errors`.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("email must be a valid address of at most 254 characters")]
    InvalidEmail,
    #[error("password must be 8 to 256 characters")]
    InvalidPassword,
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("incorrect email or password")]
    BadCredentials,
    #[error("too many failed sign-ins; try again later")]
    LockedOut { retry_after: Duration },
    #[error("too many requests from this address; try again later")]
    AddressLimited { retry_after: Duration },
    #[error("invalid or expired token")]
    InvalidToken,
    // Told apart for the metrics only: the client sees the same answer as for InvalidToken.
    #[error("invalid or expired token")]
    ExpiredToken,
    #[error("invalid or expired token")]
    RevokedToken,
    #[error("invalid or expired refresh token")]
    InvalidRefreshToken,
    #[error("no such active session")]
    SessionNotFound,
    #[error("password hashing failed")]
    Hashing,
    #[error("token signing failed")]
    Signing,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the service is busy; try again shortly")]
    Overloaded { retry_after: Duration },
    // Only the Cognito wire API reaches these (REST and gRPC name no app client and use no SRP).
    #[error("unable to verify the secret hash of the app client")]
    BadClientSecret,
    #[error("the sign-in session is invalid or expired")]
    SrpSessionInvalid,
    #[error("TIMESTAMP is too far from the service's clock")]
    SrpStaleTimestamp,
    #[error("{0}")]
    SrpBadParameter(&'static str),
}
