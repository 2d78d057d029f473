//! Access and ID tokens shaped like a Cognito user pool's (CONTRACT §4), and the explicit checks
//! a bearer JWT must pass. Expiry is checked against the injected clock, not the system's.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AuthError, KeyRing, issuers::ExternalKey};
use crate::domain::{app_client::AppClients, clock::SharedClock};

/// Lifetime of access and ID tokens.
pub const TOKEN_LIFETIME_SECS: i64 = 3600;
/// The `scope` of every access token, as a Cognito user pool states it for tokens that can
/// call the user-pool API itself.
pub const SCOPE: &str = "aws.cognito.signin.user.admin";
/// Clock skew tolerated on `exp` (CONTRACT §4: a few seconds at most).
pub const LEEWAY_SECS: i64 = 5;
/// A `kid` longer than this is refused without a key lookup.
pub const MAX_KID_LEN: usize = 128;

#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub auth_time: i64,
    pub token_use: String,
    pub client_id: String,
    pub origin_jti: String,
    /// The sign-in or refresh that issued the token (shared by its access and ID token).
    #[serde(default)]
    pub event_id: String,
    #[serde(default)]
    pub scope: String,
    pub username: String,
    #[serde(rename = "custom:tier")]
    pub tier: String,
    #[serde(rename = "custom:teamId")]
    pub team_id: String,
    /// For a token of a trusted external issuer, the key that verified it.
    #[serde(skip)]
    pub signed_by: Option<ExternalKey>,
}

#[derive(Debug, Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    auth_time: i64,
    token_use: &'static str,
    origin_jti: &'a str,
    event_id: &'a str,
    #[serde(rename = "cognito:username")]
    username: &'a str,
    email: &'a str,
    email_verified: bool,
    #[serde(rename = "custom:tier")]
    tier: &'a str,
    #[serde(rename = "custom:teamId")]
    team_id: &'a str,
}

/// What a pair of tokens states about the user.
pub struct Subject<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
    pub tier: &'a str,
    pub team_id: Option<&'a str>,
    pub session_id: &'a str,
    pub auth_time: i64,
    /// The app client the tokens are for (`client_id` / `aud`).
    pub client_id: &'a str,
}

pub struct IssuedTokens {
    pub access_token: String,
    pub id_token: String,
}

pub struct Tokens {
    issuer: String,
    keys: Arc<KeyRing>,
    clock: SharedClock,
    clients: Arc<AppClients>,
}

impl Tokens {
    pub fn new(
        issuer: String,
        keys: Arc<KeyRing>,
        clock: SharedClock,
        clients: Arc<AppClients>,
    ) -> Self {
        Self {
            issuer,
            keys,
            clock,
            clients,
        }
    }

    /// The pool's app clients; tokens are issued to and accepted from these only.
    pub fn clients(&self) -> &AppClients {
        &self.clients
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    pub async fn issue(&self, subject: &Subject<'_>) -> Result<IssuedTokens, AuthError> {
        let now = self.clock.now().timestamp();
        let (kid, key) = self.keys.signing_key(now).await?;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid);
        let team_id = subject.team_id.unwrap_or("");
        let event_id = Uuid::new_v4().to_string();
        let access = AccessClaims {
            iss: self.issuer.clone(),
            sub: subject.user_id.to_owned(),
            iat: now,
            exp: now + TOKEN_LIFETIME_SECS,
            jti: Uuid::new_v4().to_string(),
            auth_time: subject.auth_time,
            token_use: "access".to_owned(),
            client_id: subject.client_id.to_owned(),
            origin_jti: subject.session_id.to_owned(),
            event_id: event_id.clone(),
            scope: SCOPE.to_owned(),
            username: subject.user_id.to_owned(),
            tier: subject.tier.to_owned(),
            team_id: team_id.to_owned(),
            signed_by: None,
        };
        let id = IdClaims {
            iss: &self.issuer,
            sub: subject.user_id,
            aud: subject.client_id,
            iat: now,
            exp: now + TOKEN_LIFETIME_SECS,
            jti: Uuid::new_v4().to_string(),
            auth_time: subject.auth_time,
            token_use: "id",
            origin_jti: subject.session_id,
            event_id: &event_id,
            username: subject.user_id,
            email: subject.email,
            email_verified: false,
            tier: subject.tier,
            team_id,
        };
        Ok(IssuedTokens {
            access_token: jsonwebtoken::encode(&header, &access, &key)
                .map_err(|_| AuthError::Signing)?,
            id_token: jsonwebtoken::encode(&header, &id, &key).map_err(|_| AuthError::Signing)?,
        })
    }

    /// Whether verified claims are still within their lifetime (and the leeway).
    pub fn unexpired(&self, claims: &AccessClaims) -> bool {
        // Saturating: `exp` is whatever the signed token says, up to i64::MAX.
        claims.exp.saturating_add(LEEWAY_SECS) > self.clock.now().timestamp()
    }

    /// Verifies a bearer JWT as an access token of this pool. Session state is checked by the
    /// caller (it needs the database).
    pub async fn verify_access(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let kid = rs256_kid(token)?;
        let now = self.clock.now().timestamp();
        let key = self
            .keys
            .decoding_key(&kid, now)
            .await?
            .ok_or(AuthError::InvalidToken)?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_aud = false;
        // Expiry is checked below against the service clock.
        validation.validate_exp = false;
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
            .map_err(|_| AuthError::InvalidToken)?
            .claims;

        if !self.unexpired(&claims) {
            return Err(AuthError::ExpiredToken);
        }
        let valid = claims.iss == self.issuer
            && claims.token_use == "access"
            && self.clients.contains(&claims.client_id)
            && !claims.origin_jti.is_empty();
        if valid {
            Ok(claims)
        } else {
            Err(AuthError::InvalidToken)
        }
    }
}

/// The `kid` of an RS256 token whose header refers to no key elsewhere: what every bearer JWT,
/// ours or a trusted issuer's, must have before a key is looked up. The algorithm is pinned and
/// a key reference carried by the token itself is never followed.
pub fn rs256_kid(token: &str) -> Result<String, AuthError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken)?;
    let refers_elsewhere = header.jku.is_some()
        || header.jwk.is_some()
        || header.x5u.is_some()
        || header.x5c.is_some();
    if header.alg != Algorithm::RS256 || refers_elsewhere {
        return Err(AuthError::InvalidToken);
    }
    header
        .kid
        .filter(|kid| !kid.is_empty() && kid.len() <= MAX_KID_LEN)
        .ok_or(AuthError::InvalidToken)
}
