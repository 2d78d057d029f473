//! Trusted external issuers (e.g. an existing Cognito user pool): their configuration, their
//! key sets and the checks their tokens pass before they are taken as our own.

pub mod config;
pub mod jwks;
mod trusted;

pub use config::{IssuerConfig, TokenUse};
pub use jwks::{FetchError, FetchLimits, Fetcher, KeySet};
pub use trusted::{ExternalKey, ExternalToken, REFETCH_INTERVAL, TrustedIssuers};
