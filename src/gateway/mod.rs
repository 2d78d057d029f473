//! The service as a gateway's external authorizer: it judges a request meant for another
//! CloudSigma service with the same credentials, limits and daily counts as its own
//! endpoints, and tells the gateway who the caller is.
//!
//! - HTTP: any method under [`CHECK_PREFIX`] (nginx `auth_request`, Caddy `forward_auth`,
//!   Traefik ForwardAuth, Envoy's HTTP ext_authz): exactly 200 with identity headers, or the
//!   REST error envelope with its status and headers. The request body is never read.
//! - gRPC: `envoy.service.auth.v3.Authorization/Check` (Envoy's gRPC ext_authz).
//!
//! Which credential a path needs comes from [`Rules`]. Every allowed API-key request counts
//! once against the key's day.

mod envoy;
mod original;
pub mod rules;

use std::{net::SocketAddr, sync::Arc};

use axum::{body::Body as AxumBody, extract::ConnectInfo};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use serde_json::json;
use tonic::Status;

pub use envoy::EnvoyAuthorization;
pub use rules::{Requirement, Rules};

use crate::{
    authn::{Admission, AuthMethod, AuthnError, Gate},
    grpc::client_address::ClientAddresses,
    proto::cloudsigma::v1::Access,
    rest::render_error,
};

/// Where the HTTP check is served.
pub const CHECK_PREFIX: &str = "/authz/check";

/// The identity headers set on the request to the upstream (CONTRACT §6). Each is always
/// written or removed by the gateway, so a client cannot send its own.
pub const IDENTITY_HEADERS: [&str; 6] = [
    "x-cloudsigma-user-id",
    "x-cloudsigma-email",
    "x-cloudsigma-tier",
    "x-cloudsigma-team-id",
    "x-cloudsigma-auth-method",
    "x-cloudsigma-key-prefix",
];

/// Whether a request path is the HTTP check.
pub fn is_check(path: &str) -> bool {
    path.strip_prefix(CHECK_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

pub struct Gateway {
    gate: Arc<Gate>,
    rules: Rules,
    addresses: Arc<ClientAddresses>,
}

impl Gateway {
    pub fn new(gate: Arc<Gate>, rules: Rules, addresses: ClientAddresses) -> Self {
        Self {
            gate,
            rules,
            addresses: Arc::new(addresses),
        }
    }

    /// Judges `method` on `path` (normalized) with the credential in `headers`.
    async fn judge(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        client: impl FnOnce() -> Option<std::net::IpAddr>,
    ) -> Result<Admission, AuthnError> {
        let access = match self.rules.requirement(method, path) {
            Requirement::Public => Access::Public,
            Requirement::Jwt => Access::Jwt,
            Requirement::JwtOrApiKey => Access::JwtOrApiKey,
            Requirement::Deny => return Err(AuthnError::NoGatewayRule),
        };
        self.gate.admit_access(access, headers, client).await
    }

    /// The HTTP check. The body is dropped unread.
    pub async fn handle_http(&self, request: Request<AxumBody>) -> Response<AxumBody> {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0);
        let (parts, _unread_body) = request.into_parts();
        let trusted = self.addresses.peer_is_trusted(peer);
        let judged = match original::from_http(&parts, trusted) {
            Ok(original) => {
                let client = || self.addresses.client_ip(peer, &parts.headers);
                self.judge(&original.method, &original.path, &parts.headers, client)
                    .await
            }
            Err(err) => Err(err),
        };
        match judged {
            Ok(admission) => allowed(&admission),
            Err(err) => render_error(&Status::from(err), None),
        }
    }
}

/// The identity of an admitted request as (header, value) pairs, in [`IDENTITY_HEADERS`]
/// order; values are empty for a public path.
fn identity(admission: &Admission) -> [(&'static str, String); 6] {
    let principal = admission.principal.as_ref();
    let (method, prefix) = match principal.map(|p| &p.method) {
        Some(AuthMethod::Jwt { .. }) => ("JWT", String::new()),
        Some(AuthMethod::ApiKey { prefix, .. }) => ("API_KEY", prefix.as_str().to_owned()),
        None => ("", String::new()),
    };
    [
        (
            IDENTITY_HEADERS[0],
            principal.map(|p| p.user_id.clone()).unwrap_or_default(),
        ),
        (
            IDENTITY_HEADERS[1],
            principal.map(|p| p.email.clone()).unwrap_or_default(),
        ),
        (
            IDENTITY_HEADERS[2],
            principal
                .map(|p| p.tier.as_str().to_owned())
                .unwrap_or_default(),
        ),
        (
            IDENTITY_HEADERS[3],
            principal
                .and_then(|p| p.team_id.clone())
                .unwrap_or_default(),
        ),
        (IDENTITY_HEADERS[4], method.to_owned()),
        (IDENTITY_HEADERS[5], prefix),
    ]
}

/// Exactly 200 (Envoy's HTTP mode allows nothing else), the identity headers (empty ones too,
/// so a proxy that copies them overwrites whatever the client sent), the key's rate-limit
/// headers, and the envelope with the same identity.
fn allowed(admission: &Admission) -> Response<AxumBody> {
    let identity = identity(admission);
    let data = json!({
        "userId": identity[0].1,
        "email": identity[1].1,
        "tier": identity[2].1,
        "teamId": identity[3].1,
        "authMethod": identity[4].1,
        "keyPrefix": identity[5].1,
    });
    let body = json!({"success": true, "data": data});
    let mut response = Response::new(AxumBody::from(body.to_string()));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in identity {
        let value = HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(""));
        headers.insert(HeaderName::from_static(name), value);
    }
    headers.extend(admission.response_headers());
    response
}
