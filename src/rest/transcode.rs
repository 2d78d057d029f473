//! REST/JSON → gRPC → REST/JSON. A REST request is turned into the gRPC request of its
//! annotated RPC and sent through the same authentication layer and services as native gRPC;
//! the gRPC answer is turned back into the contract's JSON envelope. Status codes come from the
//! gRPC status (`ErrorCode::of`), so there is one error mapping, not two.

use std::convert::Infallible;

use axum::body::Body as AxumBody;
use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prost::Message;
use prost_reflect::{DynamicMessage, ReflectMessage};
use serde_json::json;
use tonic::Status;
use tower::{ServiceExt, util::BoxCloneSyncService};

use super::{
    OPENAPI_PATH, OpenApi,
    json::{message_from_json, message_to_json, set_from_text},
    routes::{BodyRule, Lookup, Route, Routes},
};
use crate::grpc::errors::{ErrorCode, error, internal};

/// The gRPC services behind the authentication layer, as the REST layer calls them.
pub type GrpcStack =
    BoxCloneSyncService<Request<tonic::body::Body>, Response<tonic::body::Body>, Infallible>;

/// Largest accepted request body (CONTRACT §2, 413 above it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Request headers passed on to the gRPC services. Credentials travel only in
/// `Authorization`; anything else that could carry one is dropped.
const FORWARDED_REQUEST_HEADERS: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::USER_AGENT,
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-request-id"),
];

/// gRPC response metadata that REST clients see as HTTP headers.
const FORWARDED_RESPONSE_HEADERS: [&str; 8] = [
    "cache-control",
    "www-authenticate",
    "retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "ratelimit-policy",
    "ratelimit",
];

#[derive(Clone)]
pub struct Rest {
    routes: Routes,
    grpc: GrpcStack,
    description: OpenApi,
}

impl Rest {
    pub fn new(routes: Routes, grpc: GrpcStack, description: OpenApi) -> Self {
        Self {
            routes,
            grpc,
            description,
        }
    }

    pub async fn handle(&self, request: Request<AxumBody>) -> Response<AxumBody> {
        if request.uri().path() == OPENAPI_PATH {
            return self.description.respond(request.method());
        }
        let (route, vars) = match find_route(&self.routes, request.method(), request.uri().path()) {
            Ok(found) => found,
            Err(response) => return *response,
        };
        match self.call(route, vars, request).await {
            Ok(response) => response,
            Err(status) => render_error(&status, None),
        }
    }

    async fn call(
        &self,
        route: &Route,
        vars: Vec<(prost_reflect::FieldDescriptor, String)>,
        request: Request<AxumBody>,
    ) -> Result<Response<AxumBody>, Status> {
        let (parts, body) = request.into_parts();
        let body = read_body(body).await?;
        let message = decode_message(route, vars, parts.uri.query(), &body)?;

        let mut grpc_request = Request::builder()
            .method(Method::POST)
            .uri(route.grpc_path.as_str())
            .header(header::CONTENT_TYPE, "application/grpc")
            .header(header::TE, "trailers")
            .body(tonic::body::Body::new(http_body_util::Full::new(frame(
                &message,
            ))))
            .map_err(|e| internal(&e))?;
        for name in FORWARDED_REQUEST_HEADERS {
            for value in parts.headers.get_all(&name) {
                grpc_request
                    .headers_mut()
                    .append(name.clone(), value.clone());
            }
        }
        *grpc_request.extensions_mut() = parts.extensions;

        let Ok(response) = self.grpc.clone().oneshot(grpc_request).await;
        let (parts, body) = response.into_parts();
        if let Some(status) = Status::from_header_map(&parts.headers)
            && status.code() != tonic::Code::Ok
        {
            return Err(status);
        }
        let collected = body.collect().await?;
        let trailers = collected.trailers().cloned().unwrap_or_default();
        match Status::from_header_map(&trailers) {
            Some(status) if status.code() == tonic::Code::Ok => {}
            Some(status) => return Err(status),
            None => return Err(error(ErrorCode::InternalError, "internal error")),
        }
        let payload = unframe(collected.to_bytes())
            .ok_or_else(|| error(ErrorCode::InternalError, "internal error"))?;
        let message =
            DynamicMessage::decode(route.rpc.output(), payload).map_err(|e| internal(&e))?;
        render_success(route, &message, &parts.headers)
    }
}

/// The values of a route's path variables.
type PathVars = Vec<(prost_reflect::FieldDescriptor, String)>;

/// The route of a request, or the rendered 404 / 405 (with `Allow`), boxed: a refusal is the
/// rare path and should not make every answer carry a whole response.
fn find_route<'a>(
    routes: &'a Routes,
    method: &Method,
    path: &str,
) -> Result<(&'a Route, PathVars), Box<Response<AxumBody>>> {
    match routes.lookup(method, path) {
        Lookup::Found(route, vars) => Ok((route, vars)),
        Lookup::NotFound => Err(Box::new(render_error(
            &error(ErrorCode::NotFound, "no such path"),
            None,
        ))),
        Lookup::WrongMethod(allowed) => {
            let status = error(
                ErrorCode::MethodNotAllowed,
                "method not allowed on this path",
            );
            Err(Box::new(render_error(&status, Some(allowed))))
        }
    }
}

fn decode_message(
    route: &Route,
    vars: Vec<(prost_reflect::FieldDescriptor, String)>,
    query: Option<&str>,
    body: &[u8],
) -> Result<DynamicMessage, Status> {
    request_message(route, vars, query, body)
        .map_err(|message| error(ErrorCode::ValidationError, message))
}

/// The gRPC request (its path and message) that a REST request stands for: route matching,
/// path variables, query string and proto3 JSON body, with no I/O. `Rest::handle` takes these
/// same steps before calling the service; this entry point lets property tests and the fuzz
/// target hold every input to "a request or a rendered 4xx, never a panic".
pub fn transcode_request(
    routes: &Routes,
    method: &Method,
    uri: &http::Uri,
    body: &[u8],
) -> Result<(String, DynamicMessage), Box<Response<AxumBody>>> {
    let (route, vars) = find_route(routes, method, uri.path())?;
    let message = decode_message(route, vars, uri.query(), body)
        .map_err(|status| Box::new(render_error(&status, None)))?;
    Ok((route.grpc_path.clone(), message))
}

async fn read_body(body: AxumBody) -> Result<Bytes, Status> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(error(
            ErrorCode::PayloadTooLarge,
            "request body is over 64 KiB",
        )),
        Err(_) => Err(error(
            ErrorCode::ValidationError,
            "the request body could not be read",
        )),
    }
}

fn request_message(
    route: &Route,
    vars: Vec<(prost_reflect::FieldDescriptor, String)>,
    query: Option<&str>,
    body: &[u8],
) -> Result<DynamicMessage, String> {
    let input = route.rpc.input();
    let mut message = match &route.body {
        BodyRule::Whole => message_from_json(input, body)?,
        BodyRule::Field(field) => {
            let mut wrapped = br#"{""#.to_vec();
            wrapped.extend_from_slice(field.json_name().as_bytes());
            wrapped.extend_from_slice(br#"":"#);
            wrapped.extend_from_slice(if body.is_empty() { b"null" } else { body });
            wrapped.push(b'}');
            message_from_json(input, &wrapped)?
        }
        // Like other transcoders, a route without a body mapping ignores any body sent.
        BodyRule::None => DynamicMessage::new(input),
    };
    if matches!(route.body, BodyRule::None) {
        // Query parameters fill scalar fields that exist; anything else in the query string
        // (a stray `access_token`, a cache buster) is ignored, never used as a credential.
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let desc = message.descriptor();
            if let Some(field) = desc
                .get_field_by_json_name(&key)
                .or_else(|| desc.get_field_by_name(&key))
                && !vars.iter().any(|(f, _)| f == &field)
            {
                set_from_text(&mut message, &field, &value)?;
            }
        }
    }
    for (field, raw) in vars {
        let text = percent_encoding::percent_decode_str(&raw)
            .decode_utf8()
            .map_err(|_| format!("{} is not valid UTF-8", field.json_name()))?;
        set_from_text(&mut message, &field, &text)?;
    }
    Ok(message)
}

/// A gRPC length-prefixed message frame (uncompressed).
fn frame(message: &DynamicMessage) -> Bytes {
    let len = message.encoded_len();
    let mut buf = BytesMut::with_capacity(5 + len);
    buf.put_u8(0);
    buf.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    message.encode(&mut buf).expect("buffer has capacity");
    buf.freeze()
}

fn unframe(mut data: Bytes) -> Option<Bytes> {
    if data.len() < 5 || data[0] != 0 {
        return None;
    }
    let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
    let payload = data.split_off(5);
    (payload.len() == len).then_some(payload)
}

fn render_success(
    route: &Route,
    message: &DynamicMessage,
    grpc_headers: &HeaderMap,
) -> Result<Response<AxumBody>, Status> {
    let mut response = if message.descriptor().full_name() == "google.api.HttpBody" {
        // A raw document (the JWKS): its bytes and content type, no envelope.
        let content_type = message
            .get_field_by_name("content_type")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let data = message
            .get_field_by_name("data")
            .and_then(|v| v.as_bytes().cloned())
            .unwrap_or_default();
        let mut response = Response::new(AxumBody::from(data));
        if let Ok(value) = HeaderValue::from_str(&content_type) {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
        response
    } else {
        let mut data = message_to_json(message).map_err(|e| internal(&e))?;
        if let Some(field) = &route.response_body {
            data = data
                .get_mut(field.json_name())
                .map(serde_json::Value::take)
                .unwrap_or(serde_json::Value::Null);
        }
        json_response(StatusCode::OK, &json!({"success": true, "data": data}))
    };
    copy_forwarded(grpc_headers, response.headers_mut());
    Ok(response)
}

/// The error envelope for a status; HTTP status and code come from `ErrorCode::of`.
pub fn render_error(status: &Status, allowed: Option<Vec<Method>>) -> Response<AxumBody> {
    let (http, headers, body) = error_envelope(status);
    let mut response = Response::new(AxumBody::from(body));
    *response.status_mut() = http;
    *response.headers_mut() = headers;
    if let Some(allowed) = allowed {
        let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
            response.headers_mut().insert(header::ALLOW, value);
        }
    }
    response
}

/// The parts of the error envelope for a status: HTTP status, headers (content type, and the
/// status's `WWW-Authenticate`, `Retry-After` and rate-limit headers) and body.
pub fn error_envelope(status: &Status) -> (StatusCode, HeaderMap, String) {
    let code = ErrorCode::of(status);
    let http =
        StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "success": false,
        "error": {"code": code.as_str(), "message": status.message()},
    });
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    copy_forwarded(status.metadata().as_ref(), &mut headers);
    (http, headers, body.to_string())
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<AxumBody> {
    let mut response = Response::new(AxumBody::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn copy_forwarded(from: &HeaderMap, to: &mut HeaderMap) {
    for name in FORWARDED_RESPONSE_HEADERS {
        if let Some(value) = from.get(name) {
            to.insert(HeaderName::from_static(name), value.clone());
        }
    }
}
