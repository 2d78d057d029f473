//! The OpenAPI 3.1 description of the REST surface, served at [`OPENAPI_PATH`]. It is built once
//! at start-up from the routes the transcoder serves and the access rules the authentication
//! layer enforces, so an annotated RPC is described the moment it is routed; nothing about a
//! path, a field or a credential is written here. Descriptions are the protos' comments.

mod errors;
mod rules;
mod schemas;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use axum::body::Body as AxumBody;
use bytes::Bytes;
use http::{HeaderValue, Method, Response, header};
use serde_json::{Map, Value as Json, json};

use self::{
    errors::{error_envelope, error_responses, response_name},
    schemas::{Direction, Schemas},
};
use super::routes::{BodyRule, Route, Routes};
use crate::{
    descriptors,
    grpc::errors::{ErrorCode, error},
    proto::cloudsigma::v1::Access,
};

/// Where the document is served (CONTRACT §6).
pub const OPENAPI_PATH: &str = "/openapi.json";

/// The security schemes, both `Authorization: Bearer`; they differ in what the token is.
const JWT: &str = "jwt";
const API_KEY: &str = "apiKey";

/// The rendered document, shared by every request.
#[derive(Debug, Clone)]
pub struct OpenApi(Bytes);

impl OpenApi {
    /// `rules` are the access rules by gRPC path (`descriptors::access_rules`).
    pub fn build(routes: &Routes, rules: &HashMap<String, Access>) -> Self {
        Self(Bytes::from(document(routes, rules).to_string()))
    }

    /// The answer to a request for [`OPENAPI_PATH`]: the document to a GET, 405 otherwise.
    pub fn respond(&self, method: &Method) -> Response<AxumBody> {
        if method != Method::GET {
            let status = error(
                ErrorCode::MethodNotAllowed,
                "method not allowed on this path",
            );
            return super::render_error(&status, Some(vec![Method::GET]));
        }
        let mut response = Response::new(AxumBody::from(self.0.clone()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// The document as JSON.
pub fn document(routes: &Routes, rules: &HashMap<String, Access>) -> Json {
    let mut schemas = None;
    let mut paths: BTreeMap<String, Map<String, Json>> = BTreeMap::new();
    let mut tags = BTreeMap::new();
    for route in routes.iter() {
        let access = rules
            .get(&route.grpc_path)
            .copied()
            .unwrap_or(Access::Unspecified);
        let Some(security) = security(access) else {
            // Internal and unannotated RPCs are refused to every REST caller (the service token
            // travels only as gRPC metadata); there is nothing to describe.
            continue;
        };
        let schemas = schemas.get_or_insert_with(|| Schemas::new(route.rpc.parent_pool()));
        let service = route.rpc.parent_service();
        tags.entry(service.name().to_owned()).or_insert_with(|| {
            let mut tag = json!({"name": service.name()});
            if let Some(text) = descriptors::comments(
                service.parent_file().file_descriptor_proto(),
                service.path(),
            ) {
                tag["description"] = Json::String(text);
            }
            tag
        });
        let operation = operation(route, access, security, schemas);
        paths
            .entry(route.template.clone())
            .or_default()
            .insert(route.method.as_str().to_ascii_lowercase(), operation);
    }
    paths.insert(OPENAPI_PATH.to_owned(), describe_self());

    let mut components = json!({
        "schemas": schemas.map(Schemas::into_components).unwrap_or_default(),
        "responses": error_responses(),
        "securitySchemes": {
            JWT: {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An access token from sign-in or refresh (RS256; verify with the JWKS).",
            },
            API_KEY: {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "csk_live_<32 hex>",
                "description": "An API key, sent as the bearer token. Counts against the key's daily limit.",
            },
        },
    });
    components["schemas"]["Error"] = error_envelope(&ErrorCode::ALL);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "CloudSigma authentication API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Sign-up, sign-in, tokens, sessions, API keys and usage. Every answer \
                but the JWKS and this document is a JSON envelope: \
                `{\"success\": true, \"data\": ...}` or \
                `{\"success\": false, \"error\": {\"code\", \"message\"}}`.",
        },
        "tags": tags.into_values().collect::<Vec<_>>(),
        "paths": paths,
        "components": components,
    })
}

/// The security requirement of an access rule; `None` for RPCs REST callers cannot use.
fn security(access: Access) -> Option<Json> {
    match access {
        Access::Public => Some(json!([])),
        Access::Jwt => Some(json!([{JWT: []}])),
        Access::JwtOrApiKey => Some(json!([{JWT: []}, {API_KEY: []}])),
        Access::Internal | Access::Unspecified => None,
    }
}

fn operation(route: &Route, access: Access, security: Json, schemas: &mut Schemas) -> Json {
    let rpc = &route.rpc;
    let input = rpc.input();
    let path_fields = route.path_fields();
    let mut operation = json!({
        "operationId": format!("{}_{}", rpc.parent_service().name(), rpc.name()),
        "tags": [rpc.parent_service().name()],
        "security": security,
    });
    if let Some(text) = descriptors::comments(rpc.parent_file().file_descriptor_proto(), rpc.path())
    {
        let summary = first_sentence(&text);
        if summary != text {
            operation["description"] = Json::String(text);
        }
        operation["summary"] = Json::String(summary);
    }

    let mut parameters: Vec<Json> = path_fields
        .iter()
        .map(|field| parameter("path", field, true, schemas))
        .collect();
    match &route.body {
        // Without a body mapping, the scalar fields not bound by the path come from the query.
        BodyRule::None => parameters.extend(
            input
                .fields()
                .filter(|f| !path_fields.contains(f) && is_query_scalar(f))
                .map(|field| parameter("query", &field, false, schemas)),
        ),
        BodyRule::Whole => {
            let schema = if path_fields.is_empty() {
                schemas.reference(&input, Direction::Request)
            } else {
                schemas.object(&input, Direction::Request, &path_fields)
            };
            operation["requestBody"] =
                request_body(schema, schemas.body_is_required(&input, &path_fields));
        }
        BodyRule::Field(field) => {
            let schema = schemas.field(field, Direction::Request);
            operation["requestBody"] = request_body(schema, true);
        }
    }
    if !parameters.is_empty() {
        operation["parameters"] = Json::Array(parameters);
    }

    let mut responses = Map::new();
    responses.insert("200".to_owned(), success(route, schemas));
    let takes_input = input.fields().next().is_some();
    let authenticated = access != Access::Public;
    for (code, applies) in [
        (ErrorCode::ValidationError, takes_input),
        (ErrorCode::Unauthorized, authenticated),
        (ErrorCode::Forbidden, authenticated),
        (ErrorCode::NotFound, !path_fields.is_empty()),
        (
            ErrorCode::PayloadTooLarge,
            !matches!(route.body, BodyRule::None),
        ),
        (ErrorCode::RateLimitExceeded, authenticated),
        (ErrorCode::InternalError, true),
        (ErrorCode::ServiceUnavailable, true),
    ] {
        if applies {
            responses.insert(
                code.http_status().to_string(),
                json!({"$ref": format!("#/components/responses/{}", response_name(code.http_status()))}),
            );
        }
    }
    // What an RPC refuses beyond its credential and input (a taken email, a wrong password, a
    // free tier) is written in its comment, not in a machine-readable form; `default` covers it.
    responses.insert(
        "default".to_owned(),
        json!({"$ref": "#/components/responses/Error"}),
    );
    operation["responses"] = Json::Object(responses);
    operation
}

fn parameter(
    location: &str,
    field: &prost_reflect::FieldDescriptor,
    required: bool,
    schemas: &mut Schemas,
) -> Json {
    // A path template names the proto field; the query string takes the JSON name.
    let name = if location == "path" {
        field.name()
    } else {
        field.json_name()
    };
    let mut parameter = json!({
        "name": name,
        "in": location,
        "required": required,
        "schema": schemas.field(field, Direction::Request),
    });
    if let Some(text) =
        descriptors::comments(field.parent_file().file_descriptor_proto(), field.path())
    {
        parameter["description"] = Json::String(text);
    }
    parameter
}

/// The query string sets scalar fields only (`json::set_from_text`).
fn is_query_scalar(field: &prost_reflect::FieldDescriptor) -> bool {
    use prost_reflect::Kind;
    !field.is_list()
        && !field.is_map()
        && !matches!(
            field.kind(),
            Kind::Message(_) | Kind::Enum(_) | Kind::Bytes | Kind::Float | Kind::Double
        )
}

fn request_body(schema: Json, required: bool) -> Json {
    json!({"required": required, "content": {"application/json": {"schema": schema}}})
}

fn success(route: &Route, schemas: &mut Schemas) -> Json {
    let output = route.rpc.output();
    if output.full_name() == "google.api.HttpBody" {
        return json!({
            "description": "The document itself, in the media type of its Content-Type (no envelope).",
            "content": {"*/*": {"schema": {}}},
        });
    }
    let data = match &route.response_body {
        Some(field) => {
            let schema = schemas.field(field, Direction::Response);
            if field.supports_presence() {
                json!({"anyOf": [schema, {"type": "null"}]})
            } else {
                schema
            }
        }
        None => schemas.reference(&output, Direction::Response),
    };
    json!({
        "description": "Success.",
        "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["success", "data"],
            "properties": {"success": {"const": true}, "data": data},
        }}},
    })
}

/// `GET /openapi.json` itself, so that the document lists every path the service answers.
fn describe_self() -> Map<String, Json> {
    let operation = json!({
        "operationId": "GetOpenApi",
        "summary": "This description of the REST API (OpenAPI 3.1).",
        "security": [],
        "responses": {
            "200": {
                "description": "The OpenAPI document (no envelope).",
                "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}},
            },
        },
    });
    Map::from_iter([("get".to_owned(), operation)])
}

fn first_sentence(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.find(". ") {
        Some(end) => flat[..=end].to_owned(),
        None => flat,
    }
}
