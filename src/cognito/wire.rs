//! Requests and answers on the wire: which operation a request names, its JSON body, and the
//! headers every answer carries (`x-amzn-RequestId`; on errors `x-amzn-ErrorType` beside the
//! `__type` of the body, since the SDKs read the name from different places).

use std::{net::SocketAddr, sync::Arc, time::Instant};

use axum::{body::Body as AxumBody, extract::ConnectInfo};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Value, json};

use super::{
    errors::{CognitoError, ErrorType},
    operations::{Call, Operation},
};
use crate::{
    auth::Accounts,
    authn::Gate,
    domain::{
        app_client::{AppClients, PoolId},
        client_address::{AddressBucket, bucket},
        origin::RequestOrigin,
    },
    grpc::client_address::ClientAddresses,
    metrics::{Metrics, Protocol},
    quota::KeyedLimiter,
    rest::MAX_BODY_BYTES,
};

/// The service name every target starts with.
const TARGET_PREFIX: &str = "AWSCognitoIdentityProviderService.";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Whether a request is for this door: `POST /` that names a target or speaks the AWS JSON
/// protocol (so a request that forgot its target still gets a Cognito-shaped error).
pub fn is_cognito<B>(request: &Request<B>) -> bool {
    if request.method() != Method::POST || request.uri().path() != "/" {
        return false;
    }
    let headers = request.headers();
    headers.contains_key("x-amz-target")
        || headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-amz-json"))
}

/// What the door is configured with.
pub struct CognitoSettings {
    pub pool: PoolId,
    pub clients: Arc<AppClients>,
    pub srp: bool,
}

pub struct Cognito {
    pub(super) accounts: Arc<Accounts>,
    pub(super) gate: Arc<Gate>,
    pub(super) settings: CognitoSettings,
    addresses: ClientAddresses,
    per_address: Arc<KeyedLimiter<AddressBucket>>,
    metrics: Metrics,
}

impl Cognito {
    pub fn new(
        accounts: Arc<Accounts>,
        gate: Arc<Gate>,
        settings: CognitoSettings,
        addresses: ClientAddresses,
        per_address: Arc<KeyedLimiter<AddressBucket>>,
        metrics: Metrics,
    ) -> Self {
        Self {
            accounts,
            gate,
            settings,
            addresses,
            per_address,
            metrics,
        }
    }

    pub async fn handle(&self, request: Request<AxumBody>) -> Response<AxumBody> {
        let started = Instant::now();
        let (parts, body) = request.into_parts();
        let request_id = parts.headers.get("x-request-id").cloned();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0);
        let client_ip = self.addresses.client_ip(peer, &parts.headers);
        let call = Call {
            origin: RequestOrigin::new(
                client_ip.map(|ip| ip.to_string()),
                parts
                    .headers
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok()),
                request_id
                    .as_ref()
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            ),
            client_ip,
        };
        let (rpc, result) = match operation(&parts.headers) {
            Ok(operation) => {
                let result = match read_body(body).await {
                    Ok(body) => self.dispatch(operation, &call, &body).await,
                    Err(err) => Err(err),
                };
                (operation.target(), result)
            }
            Err(err) => ("unknown", Err(err)),
        };
        let code = result
            .as_ref()
            .map_or_else(|e| e.kind.code(), |_| tonic::Code::Ok);
        self.metrics
            .request(rpc, Protocol::Cognito, code, started.elapsed());
        render(result, request_id)
    }

    /// Sign-up, sign-in and refresh are limited per client address, as on REST.
    pub(super) fn limit_address(&self, call: &Call) -> Result<(), CognitoError> {
        let Some(address) = call.client_ip else {
            return Ok(());
        };
        self.per_address
            .check(&bucket(address, self.gate.ipv6_prefix_length))
            .map_err(|retry_after| crate::auth::AuthError::AddressLimited { retry_after }.into())
    }
}

/// The operation named by `X-Amz-Target`.
fn operation(headers: &HeaderMap) -> Result<Operation, CognitoError> {
    let target = headers
        .get("x-amz-target")
        .ok_or_else(|| CognitoError::invalid("The X-Amz-Target header is required"))?
        .to_str()
        .map_err(|_| unknown_operation())?;
    target
        .strip_prefix(TARGET_PREFIX)
        .and_then(Operation::parse)
        .ok_or_else(unknown_operation)
}

fn unknown_operation() -> CognitoError {
    CognitoError::new(
        ErrorType::UnknownOperation,
        "X-Amz-Target names no operation of this user pool",
    )
}

async fn read_body(body: AxumBody) -> Result<Bytes, CognitoError> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(CognitoError::new(
            ErrorType::Serialization,
            "The request body is over 64 KiB",
        )),
        Err(_) => Err(CognitoError::new(
            ErrorType::Serialization,
            "The request body could not be read",
        )),
    }
}

fn render(
    result: Result<Value, CognitoError>,
    request_id: Option<HeaderValue>,
) -> Response<AxumBody> {
    let (status, body, error) = match result {
        Ok(body) => (http::StatusCode::OK, body, None),
        Err(err) => (
            err.kind.status(),
            json!({"__type": err.kind.name(), "message": err.message}),
            Some(err),
        ),
    };
    let mut response = Response::new(AxumBody::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    // Answers carry tokens, or say something about an account: never kept by a cache.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(id) = request_id {
        headers.insert("x-amzn-requestid", id);
    }
    if let Some(err) = error {
        if let Ok(value) = HeaderValue::from_str(&format!("{}:", err.kind.name())) {
            headers.insert("x-amzn-errortype", value);
        }
        if let Some(retry_after) = err.retry_after {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.as_secs().max(1)),
            );
        }
    }
    response
}
