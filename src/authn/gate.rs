//! Admission of one request: the access rule of its RPC, the credential it carries, the
//! per-account rate and, for API keys, the daily count. Failed credential checks are limited
//! per client address bucket; a blocked bucket has every credential refused unchecked.

use std::{collections::HashMap, net::IpAddr, sync::Arc};

use http::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{
    AuthMethod, AuthnError, Principal,
    bearer::{Bearer, BearerError, classify, parse_authorization},
};
use crate::{
    api_keys::ApiKeys,
    auth::{Accounts, AuthError},
    domain::{
        api_key::{ApiKeySecret, KeyPrefix},
        client_address::{AddressBucket, bucket},
        tier::Tier,
    },
    metrics::{AuthOutcome, Metrics},
    proto::cloudsigma::v1::Access,
    quota::{Budget, Counted, DailyError, DailyMeter, FailureLimiter, KeyedLimiter},
};

/// Metadata that internal callers authenticate with.
pub const SERVICE_TOKEN_HEADER: &str = "x-cloudsigma-service-token";

pub struct Gate {
    pub rules: HashMap<String, Access>,
    pub service_token: Option<SecretString>,
    pub accounts: Arc<Accounts>,
    pub keys: Arc<ApiKeys>,
    pub meter: Arc<DailyMeter>,
    pub per_account: Arc<KeyedLimiter<String>>,
    /// Failed credential checks per client address bucket.
    pub failed_auth: Arc<FailureLimiter<AddressBucket>>,
    /// IPv6 clients are bucketed by this many leading bits.
    pub ipv6_prefix_length: u8,
    pub metrics: Metrics,
}

/// A request let through, with what the services and the response need to know.
#[derive(Debug, Default)]
pub struct Admission {
    pub principal: Option<Principal>,
    /// An API key's budget after this request.
    pub budget: Option<Budget>,
    /// The count to give back if the answer is an error.
    pub counted: Option<Counted>,
}

/// The CONTRACT §2 rate-limit headers of an API key's budget (also sent as gRPC metadata
/// under the same names).
pub fn budget_headers(budget: &Budget) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    put("x-ratelimit-limit", budget.limit.to_string());
    put("x-ratelimit-remaining", budget.remaining.to_string());
    put("x-ratelimit-reset", budget.reset.to_string());
    put(
        "ratelimit-policy",
        format!("\"daily\";q={};w=86400", budget.limit),
    );
    put(
        "ratelimit",
        format!("\"daily\";r={};t={}", budget.remaining, budget.reset_in),
    );
    headers
}

impl Admission {
    /// Headers added to the response.
    pub fn response_headers(&self) -> HeaderMap {
        self.budget.as_ref().map(budget_headers).unwrap_or_default()
    }
}

impl Gate {
    /// Admits a request to `path`. `client` gives the client's address; it is asked for only
    /// when the request carries a credential to check.
    pub async fn admit(
        &self,
        path: &str,
        headers: &HeaderMap,
        client: impl FnOnce() -> Option<IpAddr>,
    ) -> Result<Admission, AuthnError> {
        // Paths outside our package (reflection, health) are public; an unknown path of ours
        // falls through to tonic's UNIMPLEMENTED.
        let Some(access) = self.rules.get(path) else {
            return Ok(Admission::default());
        };
        self.admit_access(*access, headers, client).await
    }

    /// Admits a request that needs `access` (the gateway check judges other services' paths
    /// with its own rules).
    pub async fn admit_access(
        &self,
        access: Access,
        headers: &HeaderMap,
        client: impl FnOnce() -> Option<IpAddr>,
    ) -> Result<Admission, AuthnError> {
        match access {
            Access::Public => Ok(Admission::default()),
            Access::Internal => {
                self.check_service_token(headers)?;
                Ok(Admission::default())
            }
            Access::Jwt | Access::JwtOrApiKey => {
                let bearer = match parse_authorization(headers) {
                    // No credential, nothing to guess with: not counted, never blocked.
                    Err(BearerError::Missing) => return Err(BearerError::Missing.into()),
                    parsed => parsed,
                };
                let client = client().map(|ip| bucket(ip, self.ipv6_prefix_length));
                let method = bearer_method(&bearer);
                let result = self
                    .limited(client, async {
                        self.authenticate(bearer?, access == Access::JwtOrApiKey)
                            .await
                    })
                    .await;
                self.metrics.authentication(method, outcome(&result));
                result
            }
            Access::Unspecified => Err(AuthnError::Unavailable),
        }
    }

    /// The internal `Authenticate` RPC: a bare token, judged and counted exactly as a REST
    /// request to an endpoint that takes a JWT or an API key. Failures count against the end
    /// client's address the caller passes (never the caller's own, which fronts many clients);
    /// without one they are not address-limited.
    pub async fn authenticate_token(
        &self,
        token: &str,
        client: Option<IpAddr>,
    ) -> Result<Admission, AuthnError> {
        let client = client.map(|ip| bucket(ip, self.ipv6_prefix_length));
        let bearer = classify(token);
        let method = bearer_method(&bearer);
        let result = self
            .limited(client, async { self.authenticate(bearer?, true).await })
            .await;
        self.metrics.authentication(method, outcome(&result));
        result
    }

    /// An access token sent in a request body (the Cognito API's `AccessToken`): judged as the
    /// bearer JWT of an endpoint that takes JWTs only, its failures counted against `client`.
    pub async fn authenticate_access_token(
        &self,
        token: &str,
        client: Option<IpAddr>,
    ) -> Result<Principal, AuthnError> {
        let client = client.map(|ip| bucket(ip, self.ipv6_prefix_length));
        let bearer = classify(token);
        let method = bearer_method(&bearer);
        let result = self
            .limited(client, async {
                match bearer? {
                    jwt @ Bearer::Jwt(_) => self.authenticate(jwt, false).await,
                    // Never looked up: a key is not an access token whatever its state.
                    Bearer::ApiKey(_) => Err(AuthnError::InvalidCredential),
                }
            })
            .await;
        self.metrics.authentication(method, outcome(&result));
        result.and_then(|admission| admission.principal.ok_or(AuthnError::InvalidCredential))
    }

    /// Runs a credential check under the failed-authentication limit of `client`'s bucket:
    /// refused unchecked while the bucket is blocked, and a failure is counted.
    async fn limited(
        &self,
        client: Option<AddressBucket>,
        check: impl Future<Output = Result<Admission, AuthnError>>,
    ) -> Result<Admission, AuthnError> {
        let Some(client) = client else {
            return check.await;
        };
        self.failed_auth
            .admit(&client)
            .map_err(|retry_after| AuthnError::AddressRateExceeded { retry_after })?;
        let result = check.await;
        if let Err(err) = &result
            && err.is_failed_authentication()
        {
            self.failed_auth.fail(&client);
        }
        result
    }

    /// Gives back the daily count of a request whose answer was an error.
    pub async fn refund(&self, counted: Counted) {
        if let Err(err) = self.meter.refund(counted).await {
            tracing::warn!(error = %err, "could not give back a daily count");
        }
    }

    async fn authenticate(
        &self,
        bearer: Bearer,
        keys_allowed: bool,
    ) -> Result<Admission, AuthnError> {
        match bearer {
            Bearer::Jwt(token) => {
                let found = self.accounts.authenticate_jwt(&token.0).await?;
                let user = found.user;
                self.limit_account(&user.id)?;
                Ok(Admission {
                    principal: Some(Principal {
                        tier: user.tier.parse().unwrap_or(Tier::Free),
                        email: user.email_address().to_owned(),
                        user_id: user.id,
                        team_id: user.team_id,
                        monthly_rule_allowance: user.monthly_rule_allowance,
                        method: AuthMethod::Jwt {
                            session_id: found.claims.origin_jti.clone(),
                        },
                    }),
                    ..Admission::default()
                })
            }
            Bearer::ApiKey(secret) => self.authenticate_key(&secret, keys_allowed).await,
        }
    }

    async fn authenticate_key(
        &self,
        secret: &ApiKeySecret,
        keys_allowed: bool,
    ) -> Result<Admission, AuthnError> {
        let mut found = self.keys.authenticate(secret).await?;
        // The copy of the key may be stale; the counting statement is not. When it refuses a
        // key the copy accepted, the key is read again to say why (revoked: 401, tier: 403).
        // A second refusal after a fresh read means the key changed twice meanwhile.
        for fresh in [false, true] {
            let (key, user) = found.ok_or(AuthnError::InvalidCredential)?;
            let prefix =
                KeyPrefix::parse(&key.prefix).map_err(|_| AuthnError::InvalidCredential)?;
            // The owner's tier now, not when the key was made.
            let tier: Tier = user.tier.parse().unwrap_or(Tier::Free);
            let refusal = if !keys_allowed {
                Some(AuthnError::ApiKeyNotAllowed { budget: None })
            } else if !tier.allows_api_keys() {
                Some(AuthnError::TierWithoutKeys { budget: None })
            } else if !fresh {
                self.limit_account(&user.id).err()
            } else {
                None
            };
            if let Some(refusal) = refusal {
                // Refused, so not counted; the answer still shows the key's budget.
                let budget = self.meter.peek(key.id, key.daily_limit).await.ok();
                return Err(with_budget(refusal, budget));
            }
            match self.meter.count(key.id).await {
                Ok((budget, counted)) => {
                    self.keys.record_use(&key).await;
                    return Ok(Admission {
                        principal: Some(Principal {
                            email: user.email_address().to_owned(),
                            user_id: user.id,
                            tier,
                            team_id: user.team_id,
                            monthly_rule_allowance: user.monthly_rule_allowance,
                            method: AuthMethod::ApiKey {
                                key_id: key.id,
                                prefix,
                            },
                        }),
                        budget: Some(budget),
                        counted: Some(counted),
                    });
                }
                Err(DailyError::Exceeded { budget }) => {
                    return Err(AuthnError::DailyLimitExceeded { budget });
                }
                Err(DailyError::Store(err)) => return Err(AuthnError::Store(err)),
                Err(DailyError::NotCounted) => found = self.keys.reload(secret).await?,
            }
        }
        Err(AuthnError::KeyChanging)
    }

    /// One limiter per account, shared by its JWTs and all its keys.
    fn limit_account(&self, user_id: &str) -> Result<(), AuthnError> {
        self.per_account
            .check(&user_id.to_owned())
            .map_err(|retry_after| AuthnError::AccountRateExceeded {
                retry_after,
                budget: None,
            })
    }

    fn check_service_token(&self, headers: &HeaderMap) -> Result<(), AuthnError> {
        let expected = self
            .service_token
            .as_ref()
            .ok_or(AuthnError::InternalDisabled)?;
        let given = headers
            .get(SERVICE_TOKEN_HEADER)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        // Digests of equal length, so the comparison says nothing about the token's length.
        let given = Sha256::digest(given);
        let expected = Sha256::digest(expected.expose_secret().as_bytes());
        if bool::from(given.as_slice().ct_eq(expected.as_slice())) {
            Ok(())
        } else {
            Err(AuthnError::BadServiceToken)
        }
    }
}

/// The credential kind of a bearer, as the metrics label it.
fn bearer_method(bearer: &Result<Bearer, BearerError>) -> &'static str {
    match bearer {
        Ok(Bearer::Jwt(_)) => "jwt",
        Ok(Bearer::ApiKey(_)) => "api_key",
        Err(BearerError::MalformedApiKey) => "api_key",
        Err(_) => "none",
    }
}

/// How an admission ended, as the metrics count it.
fn outcome(result: &Result<Admission, AuthnError>) -> AuthOutcome {
    let Err(err) = result else {
        return AuthOutcome::Ok;
    };
    match err {
        AuthnError::Bearer(BearerError::Missing) => AuthOutcome::Missing,
        AuthnError::Auth(AuthError::ExpiredToken) => AuthOutcome::Expired,
        AuthnError::Auth(AuthError::RevokedToken) => AuthOutcome::Revoked,
        AuthnError::ApiKeyNotAllowed { .. } | AuthnError::TierWithoutKeys { .. } => {
            AuthOutcome::Forbidden
        }
        AuthnError::DailyLimitExceeded { .. } => AuthOutcome::DailyLimit,
        AuthnError::AccountRateExceeded { .. } => AuthOutcome::AccountRate,
        AuthnError::AddressRateExceeded { .. } => AuthOutcome::AddressRate,
        AuthnError::Store(_) | AuthnError::KeyChanging | AuthnError::Auth(AuthError::Store(_)) => {
            AuthOutcome::Unavailable
        }
        _ => AuthOutcome::Invalid,
    }
}

/// A refusal of an identified key, with the key's budget for the rate-limit headers.
fn with_budget(refusal: AuthnError, budget: Option<Budget>) -> AuthnError {
    match refusal {
        AuthnError::ApiKeyNotAllowed { .. } => AuthnError::ApiKeyNotAllowed { budget },
        AuthnError::TierWithoutKeys { .. } => AuthnError::TierWithoutKeys { budget },
        AuthnError::AccountRateExceeded { retry_after, .. } => AuthnError::AccountRateExceeded {
            retry_after,
            budget,
        },
        other => other,
    }
}
