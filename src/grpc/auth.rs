//! `cloudsigma.v1.AuthService` over the user pool.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::extract::ConnectInfo;
use tonic::{Request, Response, Status, metadata::MetadataValue};

use super::{client_address::ClientAddresses, errors::principal, origin, timestamp};
use crate::{
    auth::{Accounts, AuthError, ClientProof, Login, Rotate, TokenSet},
    authn::{AuthMethod, AuthnError, Gate},
    domain::client_address::{AddressBucket, bucket},
    proto::{
        cloudsigma::v1::{
            AuthenticateRequest, AuthenticateResponse, GetJwksRequest, ListSessionsRequest,
            ListSessionsResponse, RateLimitState, RefreshTokenRequest, RefreshTokenResponse,
            RevokeSessionRequest, RevokeSessionResponse, Session, SignInRequest, SignInResponse,
            SignOutRequest, SignOutResponse, SignUpRequest, SignUpResponse, auth_service_server,
        },
        google::api::HttpBody,
    },
    quota::KeyedLimiter,
};

pub struct AuthApi {
    accounts: Arc<Accounts>,
    gate: Arc<Gate>,
    addresses: ClientAddresses,
    per_address: Arc<KeyedLimiter<AddressBucket>>,
}

impl AuthApi {
    pub fn new(
        accounts: Arc<Accounts>,
        gate: Arc<Gate>,
        addresses: ClientAddresses,
        per_address: Arc<KeyedLimiter<AddressBucket>>,
    ) -> Self {
        Self {
            accounts,
            gate,
            addresses,
            per_address,
        }
    }

    /// The client address of a request, as the per-address limits see it.
    fn client<T>(&self, request: &Request<T>) -> Option<IpAddr> {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0);
        self.addresses.client_ip(peer, request.metadata().as_ref())
    }

    /// Sign-up, sign-in and refresh are limited per client address, so one address cannot
    /// spray passwords over many emails.
    fn limit_address<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let Some(address) = self.client(request) else {
            return Ok(());
        };
        self.per_address
            .check(&bucket(address, self.gate.ipv6_prefix_length))
            .map_err(|retry_after| AuthError::AddressLimited { retry_after }.into())
    }
}

/// Responses that carry tokens must not be cached by anything between us and the client.
fn no_store<T>(message: T) -> Response<T> {
    let mut response = Response::new(message);
    response
        .metadata_mut()
        .insert("cache-control", MetadataValue::from_static("no-store"));
    response
}

fn i32_of(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

impl From<TokenSet> for SignInResponse {
    fn from(tokens: TokenSet) -> Self {
        Self {
            access_token: tokens.access_token,
            id_token: tokens.id_token,
            refresh_token: tokens.refresh_token.unwrap_or_default(),
            expires_in: i32_of(tokens.expires_in),
            token_type: "Bearer".to_owned(),
        }
    }
}

impl From<TokenSet> for RefreshTokenResponse {
    fn from(tokens: TokenSet) -> Self {
        Self {
            access_token: tokens.access_token,
            id_token: tokens.id_token,
            refresh_token: tokens.refresh_token.unwrap_or_default(),
            expires_in: i32_of(tokens.expires_in),
            token_type: "Bearer".to_owned(),
        }
    }
}

#[tonic::async_trait]
impl auth_service_server::AuthService for AuthApi {
    async fn sign_up(
        &self,
        request: Request<SignUpRequest>,
    ) -> Result<Response<SignUpResponse>, Status> {
        self.limit_address(&request)?;
        let origin = origin(&request);
        let SignUpRequest { email, password } = request.into_inner();
        let user = self.accounts.sign_up(&email, password, origin).await?;
        Ok(Response::new(SignUpResponse {
            user_id: user.user_id,
            email: user.email,
            tier: user.tier.as_str().to_owned(),
        }))
    }

    async fn sign_in(
        &self,
        request: Request<SignInRequest>,
    ) -> Result<Response<SignInResponse>, Status> {
        self.limit_address(&request)?;
        let origin = origin(&request);
        let SignInRequest { email, password } = request.into_inner();
        let tokens = self
            .accounts
            .sign_in(Login::Email(&email), password, None, origin)
            .await?;
        Ok(no_store(tokens.into()))
    }

    async fn refresh_token(
        &self,
        request: Request<RefreshTokenRequest>,
    ) -> Result<Response<RefreshTokenResponse>, Status> {
        self.limit_address(&request)?;
        let origin = origin(&request);
        let tokens = self
            .accounts
            .refresh(
                &request.into_inner().refresh_token,
                ClientProof::Session,
                Rotate::Yes,
                origin,
            )
            .await?;
        Ok(no_store(tokens.into()))
    }

    async fn sign_out(
        &self,
        request: Request<SignOutRequest>,
    ) -> Result<Response<SignOutResponse>, Status> {
        let caller = principal(&request)?;
        let AuthMethod::Jwt { session_id } = &caller.method else {
            return Err(AuthError::InvalidToken.into());
        };
        let global = request.get_ref().global;
        self.accounts
            .sign_out(&caller.user_id, session_id, global, origin(&request))
            .await?;
        Ok(Response::new(SignOutResponse {
            message: "Signed out".to_owned(),
        }))
    }

    async fn list_sessions(
        &self,
        request: Request<ListSessionsRequest>,
    ) -> Result<Response<ListSessionsResponse>, Status> {
        let caller = principal(&request)?;
        let AuthMethod::Jwt { session_id } = &caller.method else {
            return Err(AuthError::InvalidToken.into());
        };
        let sessions = self.accounts.sessions(&caller.user_id).await?;
        Ok(Response::new(ListSessionsResponse {
            sessions: sessions
                .into_iter()
                .map(|s| Session {
                    current: &s.id == session_id,
                    id: s.id,
                    created_at: Some(timestamp(s.created_at)),
                    last_refreshed_at: s.last_refreshed_at.map(timestamp),
                    client_address: s.client_address.unwrap_or_default(),
                    user_agent: s.user_agent.unwrap_or_default(),
                })
                .collect(),
        }))
    }

    async fn revoke_session(
        &self,
        request: Request<RevokeSessionRequest>,
    ) -> Result<Response<RevokeSessionResponse>, Status> {
        let caller = principal(&request)?;
        self.accounts
            .revoke_session(&caller.user_id, &request.get_ref().id, origin(&request))
            .await?;
        Ok(Response::new(RevokeSessionResponse {
            message: "Session revoked".to_owned(),
        }))
    }

    async fn get_jwks(
        &self,
        _request: Request<GetJwksRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        let jwks = self.accounts.jwks().await?;
        Ok(Response::new(HttpBody {
            content_type: "application/json".to_owned(),
            data: jwks.to_string().into_bytes(),
            extensions: Vec::new(),
        }))
    }

    async fn authenticate(
        &self,
        request: Request<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        let AuthenticateRequest {
            token,
            client_address,
        } = request.get_ref();
        let client = match client_address.trim() {
            "" => None,
            text => Some(
                text.parse::<IpAddr>()
                    .map_err(|_| AuthnError::InvalidClientAddress)?,
            ),
        };
        let admission = self.gate.authenticate_token(token, client).await?;
        let headers = admission.response_headers();
        let Some(caller) = admission.principal else {
            return Err(AuthError::InvalidToken.into());
        };
        let (method, key_prefix) = match &caller.method {
            AuthMethod::Jwt { .. } => ("JWT", String::new()),
            AuthMethod::ApiKey { prefix, .. } => ("API_KEY", prefix.as_str().to_owned()),
        };
        let mut response = Response::new(AuthenticateResponse {
            user_id: caller.user_id,
            email: caller.email,
            tier: caller.tier.as_str().to_owned(),
            team_id: caller.team_id.unwrap_or_default(),
            method: method.to_owned(),
            key_prefix,
            rate_limit: admission.budget.map(|budget| RateLimitState {
                limit: budget.limit,
                remaining: budget.remaining,
                reset: budget.reset,
            }),
        });
        super::insert_headers(response.metadata_mut(), &headers);
        Ok(response)
    }
}
