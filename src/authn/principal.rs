//! Who a request acts for, as the authentication layer established it.

use crate::domain::{api_key::KeyPrefix, tier::Tier};

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// A JWT access token of the sign-in session `session_id` (its `origin_jti`).
    Jwt { session_id: String },
    /// An API key.
    ApiKey { key_id: i64, prefix: KeyPrefix },
}

/// The authenticated caller, placed in the request extensions for the services.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub email: String,
    /// The user's tier now (for a JWT, as the token states it; for a key, from the database).
    pub tier: Tier,
    pub team_id: Option<String>,
    /// The enterprise allowance of rules per month set for this user (`None`: unlimited).
    pub monthly_rule_allowance: Option<i32>,
    pub method: AuthMethod,
}
