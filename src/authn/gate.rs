//! Admission of one request: the access rule of its RPC, the credential it carries, and the
//! counting that goes with it.

use std::{collections::HashMap, sync::Arc};

use http::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tonic::Status;

use super::{
    AuthMethod, Principal,
    bearer::{Bearer, BearerError, classify, parse_authorization},
};
use crate::{
    auth::{Accounts, AuthError},
    domain::tier::Tier,
    grpc::errors::{ErrorCode, error},
    proto::cloudsigma::v1::Access,
};

/// Metadata that internal callers authenticate with.
pub const SERVICE_TOKEN_HEADER: &str = "x-cloudsigma-service-token";

pub struct Gate {
    rules: HashMap<String, Access>,
    service_token: Option<SecretString>,
    accounts: Arc<Accounts>,
}

/// The daily budget of an API key after counting a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitInfo {
    pub limit: i32,
    pub remaining: i32,
    /// Unix seconds of the next 00:00 UTC.
    pub reset: i64,
    /// Seconds from now until `reset`.
    pub reset_in: i64,
}

impl RateLimitInfo {
    /// The CONTRACT §2 headers (also sent as gRPC metadata under the same names).
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        };
        put("x-ratelimit-limit", self.limit.to_string());
        put("x-ratelimit-remaining", self.remaining.to_string());
        put("x-ratelimit-reset", self.reset.to_string());
        put(
            "ratelimit-policy",
            format!("\"daily\";q={};w=86400", self.limit),
        );
        put(
            "ratelimit",
            format!("\"daily\";r={};t={}", self.remaining, self.reset_in),
        );
        headers
    }
}

/// A request let through, with what the services and the response need to know.
#[derive(Debug, Default)]
pub struct Admission {
    pub principal: Option<Principal>,
    pub rate_limit: Option<RateLimitInfo>,
}

impl Admission {
    fn of(principal: Principal) -> Self {
        Self {
            principal: Some(principal),
            rate_limit: None,
        }
    }

    /// Headers added to the response: the rate-limit state of an API key.
    pub fn response_headers(&self) -> HeaderMap {
        self.rate_limit
            .map(|info| info.headers())
            .unwrap_or_default()
    }
}

fn unauthorized(err: BearerError) -> Status {
    error(ErrorCode::Unauthorized, err.to_string())
}

impl Gate {
    pub fn new(
        rules: HashMap<String, Access>,
        service_token: Option<SecretString>,
        accounts: Arc<Accounts>,
    ) -> Self {
        Self {
            rules,
            service_token,
            accounts,
        }
    }

    pub async fn admit(&self, path: &str, headers: &HeaderMap) -> Result<Admission, Status> {
        // Paths outside our package (reflection, health) are public; an unknown path of ours
        // falls through to tonic's UNIMPLEMENTED.
        let Some(access) = self.rules.get(path) else {
            return Ok(Admission::default());
        };
        match access {
            Access::Public => Ok(Admission::default()),
            Access::Internal => {
                self.check_service_token(headers)?;
                Ok(Admission::default())
            }
            Access::Jwt | Access::JwtOrApiKey => {
                let bearer = parse_authorization(headers).map_err(unauthorized)?;
                self.authenticate(bearer, *access == Access::JwtOrApiKey)
                    .await
            }
            Access::Unspecified => Err(error(ErrorCode::Forbidden, "this RPC is not available")),
        }
    }

    /// The internal `Authenticate` RPC: a bare token, judged as a request to an endpoint that
    /// takes a JWT or an API key.
    pub async fn authenticate_token(&self, token: &str) -> Result<Admission, Status> {
        let bearer = classify(token).map_err(unauthorized)?;
        self.authenticate(bearer, true).await
    }

    async fn authenticate(&self, bearer: Bearer, keys_allowed: bool) -> Result<Admission, Status> {
        match bearer {
            Bearer::Jwt(token) => {
                let found = self.accounts.authenticate_jwt(&token.0).await?;
                let user = found.user;
                let tier = user.tier.parse().unwrap_or(Tier::Free);
                Ok(Admission::of(Principal {
                    user_id: user.id,
                    email: user.email,
                    tier,
                    team_id: user.team_id,
                    method: AuthMethod::Jwt {
                        session_id: found.claims.origin_jti,
                    },
                }))
            }
            Bearer::ApiKey(_) if !keys_allowed => Err(error(
                ErrorCode::Forbidden,
                "API keys cannot be used here; sign in and use an access token",
            )),
            Bearer::ApiKey(_) => Err(AuthError::InvalidToken.into()),
        }
    }

    fn check_service_token(&self, headers: &HeaderMap) -> Result<(), Status> {
        let Some(expected) = &self.service_token else {
            return Err(error(
                ErrorCode::Forbidden,
                "internal RPCs are disabled on this instance",
            ));
        };
        let given = headers
            .get(SERVICE_TOKEN_HEADER)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        if bool::from(given.ct_eq(expected.expose_secret().as_bytes())) {
            Ok(())
        } else {
            Err(error(
                ErrorCode::Forbidden,
                "a valid service token is required",
            ))
        }
    }
}
