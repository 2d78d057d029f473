//! The REST transcoder (`rest::transcode_request`): method + path + query + body into the gRPC
//! request of the matching RPC, with the service's real route table.
//!
//! Properties: never a panic; a refusal is a rendered JSON error envelope with a 4xx status
//! (404, 405 with `Allow`, or 400), never a 5xx; its message repeats no word of the input
//! that is not a field name or a word of the service's own messages; an accepted request names
//! an RPC of the route table and its message survives proto3 JSON and protobuf round trips.
#![no_main]

use std::{collections::HashSet, sync::OnceLock};

use arbitrary::Arbitrary;
use cloudsigma_auth::{
    descriptors,
    rest::{Routes, transcode_request},
};
use http::{Method, StatusCode, header};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use prost_reflect::{DynamicMessage, ReflectMessage};

struct Fixture {
    routes: Routes,
    /// `(method, template)` of every route, to aim the fuzzer at real paths.
    templates: Vec<(Method, String)>,
    grpc_paths: HashSet<String>,
    /// Words an error message may contain even when the client sent them too.
    vocabulary: HashSet<String>,
    runtime: tokio::runtime::Runtime,
}

/// Words of the transcoder's own error messages.
const MESSAGE_WORDS: &str = "no such path; method not allowed on this path; malformed JSON at line \
    column; the request body must be a JSON object; the request body takes no fields; unknown \
    field; expected; the request body does not match the expected fields; must be an array; must \
    be an integer, a non-negative integer, a number, true or false, a string, an object; has an \
    invalid value; cannot be given in the URL; is not valid UTF-8";

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let pool = descriptors::pool();
        let routes = Routes::from_pool(&pool).expect("route table");
        let templates = routes
            .iter()
            .map(|r| (r.method.clone(), r.template.clone()))
            .collect();
        let grpc_paths = routes.iter().map(|r| r.grpc_path.clone()).collect();
        let mut vocabulary: HashSet<String> = words(MESSAGE_WORDS).collect();
        for message in pool.all_messages() {
            for field in message.fields() {
                vocabulary.extend(words(field.json_name()));
                vocabulary.extend(words(field.name()));
            }
        }
        Fixture {
            routes,
            templates,
            grpc_paths,
            vocabulary,
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime"),
        }
    })
}

/// Words of three or more letters and digits, lower-cased. Numbers alone are left out: the
/// JSON error names a line and column, which may equal a number the client sent.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() >= 3 && !w.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_lowercase)
}

#[derive(Arbitrary, Debug)]
struct Input {
    method: MethodChoice,
    path: PathChoice,
    query: Option<String>,
    body: Body,
}

#[derive(Arbitrary, Debug)]
enum MethodChoice {
    OfRoute,
    Get,
    Post,
    Patch,
    Delete,
    Put,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum PathChoice {
    /// A route's template with each `{variable}` replaced by fuzzed text (percent-encoded or
    /// not, as sent).
    Route {
        index: u8,
        variable: String,
    },
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Body {
    Bytes(Vec<u8>),
    /// A JSON object with fuzzed members (more likely to reach the field checks).
    Object(Vec<(String, JsonValue)>),
}

#[derive(Arbitrary, Debug)]
enum JsonValue {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Text(String),
    Array(Vec<i32>),
    Object(Vec<(String, String)>),
}

impl JsonValue {
    fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            JsonValue::Null => json!(null),
            JsonValue::Bool(b) => json!(b),
            JsonValue::Int(i) => json!(i),
            JsonValue::Uint(u) => json!(u),
            JsonValue::Float(f) => json!(f),
            JsonValue::Text(t) => json!(t),
            JsonValue::Array(items) => json!(items),
            JsonValue::Object(members) => serde_json::Value::Object(
                members.iter().map(|(k, v)| (k.clone(), json!(v))).collect(),
            ),
        }
    }
}

fuzz_target!(|input: Input| {
    let fx = fixture();
    let (route_method, path) = match &input.path {
        PathChoice::Route { index, variable } => {
            let (method, template) = &fx.templates[usize::from(*index) % fx.templates.len()];
            let path = template
                .split('/')
                .map(|part| {
                    if part.starts_with('{') {
                        variable.as_str()
                    } else {
                        part
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            (method.clone(), path)
        }
        PathChoice::Raw(path) => (Method::GET, path.clone()),
    };
    let method = match &input.method {
        MethodChoice::OfRoute => route_method,
        MethodChoice::Get => Method::GET,
        MethodChoice::Post => Method::POST,
        MethodChoice::Patch => Method::PATCH,
        MethodChoice::Delete => Method::DELETE,
        MethodChoice::Put => Method::PUT,
        MethodChoice::Other(name) => match Method::from_bytes(name.as_bytes()) {
            Ok(method) => method,
            Err(_) => return,
        },
    };
    let target = match &input.query {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    // What hyper would refuse before the service sees it is out of scope.
    let Ok(uri) = target.parse::<http::Uri>() else {
        return;
    };
    let body = match &input.body {
        Body::Bytes(bytes) => bytes.clone(),
        Body::Object(members) => serde_json::Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
        )
        .to_string()
        .into_bytes(),
    };

    match transcode_request(&fx.routes, &method, &uri, &body) {
        Ok((grpc_path, message)) => accepted(fx, &grpc_path, &message),
        Err(response) => refused(fx, *response, &target, &body),
    }
});

fn accepted(fx: &Fixture, grpc_path: &str, message: &DynamicMessage) {
    assert!(fx.grpc_paths.contains(grpc_path), "{grpc_path}");
    let desc = message.descriptor();
    let wire = message.encode_to_vec();
    let decoded =
        DynamicMessage::decode(desc.clone(), wire.as_slice()).expect("protobuf round trip");
    assert_eq!(&decoded, message);
    let json = serde_json::to_value(message).expect("proto3 JSON");
    let back = DynamicMessage::deserialize(desc, json).expect("proto3 JSON round trip");
    assert_eq!(&back, message);
}

fn refused(fx: &Fixture, response: http::Response<axum::body::Body>, target: &str, body: &[u8]) {
    let status = response.status();
    assert!(status.is_client_error(), "{status} for {target:?}");
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    if status == StatusCode::METHOD_NOT_ALLOWED {
        assert!(response.headers().contains_key(header::ALLOW));
    }
    let bytes = fx
        .runtime
        .block_on(response.into_body().collect())
        .expect("an in-memory body")
        .to_bytes();
    let envelope: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON envelope");
    assert_eq!(envelope["success"], false);
    let code = envelope["error"]["code"].as_str().expect("an error code");
    let expected_code = match status {
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::METHOD_NOT_ALLOWED => "MethodNotAllowed",
        StatusCode::BAD_REQUEST => "ValidationError",
        other => panic!("unexpected status {other}"),
    };
    assert_eq!(code, expected_code);
    let message = envelope["error"]["message"].as_str().expect("a message");
    let sent: HashSet<String> = words(target)
        .chain(words(&String::from_utf8_lossy(body)))
        .collect();
    for word in words(message) {
        assert!(
            !sent.contains(&word) || fx.vocabulary.contains(&word),
            "the error message {message:?} repeats {word:?} from the request"
        );
    }
}
