//! Envoy's gRPC ext_authz: `envoy.service.auth.v3.Authorization/Check`.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::extract::ConnectInfo;
use http::{HeaderMap, HeaderName, HeaderValue};
use tonic::{Request, Response, Status};

use super::{Gateway, IDENTITY_HEADERS, identity, original};
use crate::{
    authn::{Admission, AuthnError},
    proto::{
        envoy::{
            config::core::v3::{
                HeaderValue as EnvoyHeader, HeaderValueOption, address,
                header_value_option::HeaderAppendAction,
            },
            service::auth::v3::{
                AttributeContext, CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
                attribute_context::HttpRequest, authorization_server::Authorization,
                check_response::HttpResponse,
            },
            r#type::v3::{HttpStatus, StatusCode as EnvoyStatus},
        },
        google::rpc::Status as RpcStatus,
    },
    rest::error_envelope,
};

pub struct EnvoyAuthorization {
    gateway: Arc<Gateway>,
}

impl EnvoyAuthorization {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self { gateway }
    }
}

#[tonic::async_trait]
impl Authorization for EnvoyAuthorization {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0);
        let attributes = request.into_inner().attributes.unwrap_or_default();
        let response = match self.judge_envoy(&attributes, peer).await {
            Ok(admission) => ok_response(&admission),
            Err(err) => denied_response(err),
        };
        Ok(Response::new(response))
    }
}

impl EnvoyAuthorization {
    /// Every refusal, a malformed check included, is a denied `CheckResponse`: Envoy treats an
    /// RPC error as a failure of the authorizer (a 503, or an allow under
    /// `failure_mode_allow`), so a bad request must not become one.
    async fn judge_envoy(
        &self,
        attributes: &AttributeContext,
        peer: Option<SocketAddr>,
    ) -> Result<Admission, AuthnError> {
        let http = attributes
            .request
            .as_ref()
            .and_then(|request| request.http.as_ref())
            .ok_or(AuthnError::InvalidCheck(
                "the check request has no HTTP attributes",
            ))?;
        let method = original::parse_method(&http.method)?;
        let path = original::normalize_target(&http.path)?;
        let headers = header_map(http)?;
        // Envoy's idea of the client counts only when Envoy is a trusted proxy; anyone else
        // calling Check is the client.
        let trusted = self.gateway.addresses.peer_is_trusted(peer);
        let client = || {
            let source = trusted.then(|| source_ip(attributes)).flatten();
            source.or_else(|| peer.map(|p| p.ip().to_canonical()))
        };
        self.gateway.judge(&method, &path, &headers, client).await
    }
}

/// The original request's headers, from the map Envoy sends by default or the raw list it
/// sends with `encode_raw_headers`.
fn header_map(http: &HttpRequest) -> Result<HeaderMap, AuthnError> {
    let bad = || AuthnError::InvalidCheck("the original request has a malformed header");
    let mut headers = HeaderMap::new();
    let raw = http.header_map.iter().flat_map(|map| {
        map.headers.iter().map(|h| {
            let value = if h.raw_value.is_empty() {
                h.value.as_bytes()
            } else {
                h.raw_value.as_slice()
            };
            (h.key.as_str(), value)
        })
    });
    for (name, value) in http
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .chain(raw)
    {
        // Pseudo-headers (`:path`, `:authority`, …) are described by the other fields.
        if name.starts_with(':') {
            continue;
        }
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        let value = HeaderValue::from_bytes(value).map_err(|_| bad())?;
        headers.append(name, value);
    }
    Ok(headers)
}

fn source_ip(attributes: &AttributeContext) -> Option<IpAddr> {
    let address = attributes.source.as_ref()?.address.as_ref()?;
    match address.address.as_ref()? {
        address::Address::SocketAddress(socket) => socket
            .address
            .parse::<IpAddr>()
            .ok()
            .map(|ip| ip.to_canonical()),
        address::Address::Pipe(_) => None,
    }
}

fn option(name: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(EnvoyHeader {
            key: name.to_owned(),
            value: value.to_owned(),
            raw_value: Vec::new(),
        }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        keep_empty_value: false,
        // `append` is deprecated in favour of `append_action`; Envoy refuses both set.
        ..Default::default()
    }
}

fn options(headers: &HeaderMap) -> Vec<HeaderValueOption> {
    headers
        .iter()
        .filter_map(|(name, value)| Some(option(name.as_str(), value.to_str().ok()?)))
        .collect()
}

/// Allowed: identity headers overwrite the upstream request's (empty ones are removed, so a
/// client's own never get through), and the rate-limit headers go back to the client.
fn ok_response(admission: &Admission) -> CheckResponse {
    let mut headers = Vec::new();
    let mut headers_to_remove = Vec::new();
    for (name, value) in identity(admission) {
        if value.is_empty() || HeaderValue::from_str(&value).is_err() {
            headers_to_remove.push(name.to_owned());
        } else {
            headers.push(option(name, &value));
        }
    }
    debug_assert_eq!(
        headers.len() + headers_to_remove.len(),
        IDENTITY_HEADERS.len()
    );
    CheckResponse {
        status: Some(RpcStatus {
            code: tonic::Code::Ok as i32,
            message: String::new(),
            details: Vec::new(),
        }),
        http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
            headers,
            headers_to_remove,
            response_headers_to_add: options(&admission.response_headers()),
        })),
    }
}

/// Refused: the REST answer for the same refusal (status, envelope, `WWW-Authenticate`,
/// `Retry-After`, rate-limit headers), with the matching gRPC code in `status`.
fn denied_response(err: AuthnError) -> CheckResponse {
    let status = Status::from(err);
    let (http, headers, body) = error_envelope(&status);
    let code = match http.as_u16() {
        400 => EnvoyStatus::BadRequest,
        401 => EnvoyStatus::Unauthorized,
        403 => EnvoyStatus::Forbidden,
        429 => EnvoyStatus::TooManyRequests,
        503 => EnvoyStatus::ServiceUnavailable,
        _ => EnvoyStatus::InternalServerError,
    };
    CheckResponse {
        status: Some(RpcStatus {
            code: status.code() as i32,
            message: status.message().to_owned(),
            details: Vec::new(),
        }),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus { code: code as i32 }),
            headers: options(&headers),
            body,
        })),
    }
}
