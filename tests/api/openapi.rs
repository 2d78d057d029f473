//! `GET /openapi.json`: an OpenAPI 3.1 description generated from the protos, checked against
//! the service that serves it (routes, methods, credentials, and real answers).

use std::collections::BTreeSet;

use cloudsigma_auth::{descriptors, rest::Routes};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    auth::{PASSWORD, sign_up},
    helpers::{TestApp, create_key, envelope, spawn_app, user_on_tier},
};

async fn description(app: &TestApp) -> Value {
    let response = app.get("/openapi.json", None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

/// The document's operations as (path, method).
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            found.insert((path.clone(), method.to_uppercase()));
        }
    }
    found
}

/// A concrete path for a template: variables become a well-formed key prefix.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|part| {
            if part.starts_with('{') {
                "csk_live_0123abcd"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn the_description_is_openapi_3_1_and_needs_no_credential() {
    let app = spawn_app().await;
    let doc = description(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    let response = app
        .http
        .post(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET");
    let (status, body) = envelope(response).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("MethodNotAllowed"))
    );
}

#[tokio::test]
async fn every_rest_route_is_described_with_the_methods_the_service_answers() {
    let app = spawn_app().await;
    let doc = description(&app).await;
    let described = operations(&doc);

    let routes = Routes::from_pool(&descriptors::pool()).unwrap();
    let routed: BTreeSet<(String, String)> = routes
        .iter()
        .map(|r| (r.template.clone(), r.method.as_str().to_owned()))
        .chain([("/openapi.json".to_owned(), "GET".to_owned())])
        .collect();
    assert_eq!(described, routed);
    // Each operation carries its RPC's comment from the protos.
    for (path, method) in &described {
        let summary = &doc["paths"][path][method.to_lowercase()]["summary"];
        assert!(
            summary.as_str().is_some_and(|s| !s.is_empty()),
            "{method} {path}"
        );
    }

    // The service agrees: a method no route has is refused with exactly the described ones.
    let paths: BTreeSet<&String> = described.iter().map(|(path, _)| path).collect();
    for path in paths {
        let response = app
            .http
            .request(Method::PUT, app.url(&concrete(path)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{path}");
        let allowed: BTreeSet<String> = response.headers()["allow"]
            .to_str()
            .unwrap()
            .split(", ")
            .map(str::to_owned)
            .collect();
        let documented: BTreeSet<String> = described
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, method)| method.clone())
            .collect();
        assert_eq!(allowed, documented, "{path}");
    }
}

#[tokio::test]
async fn security_follows_each_rpcs_access_rule() {
    let app = spawn_app().await;
    let doc = description(&app).await;
    for name in ["jwt", "apiKey"] {
        let scheme = &doc["components"]["securitySchemes"][name];
        assert_eq!(
            (scheme["type"].as_str(), scheme["scheme"].as_str()),
            (Some("http"), Some("bearer"))
        );
    }
    let security = |path: &str, method: &str| doc["paths"][path][method]["security"].clone();
    assert_eq!(security("/v1/auth/sign-in", "post"), json!([]));
    assert_eq!(security("/v1/api-keys", "post"), json!([{"jwt": []}]));
    assert_eq!(
        security("/v1/usage", "get"),
        json!([{"jwt": []}, {"apiKey": []}])
    );

    // And the service enforces what is described: an operation that names no scheme does not
    // look at a bearer (sign-in and refresh answer 401 for what is in their body, not for a
    // missing credential); one that names a scheme answers 401 without a credential; and
    // exactly those naming `apiKey` accept an API key.
    let jwt = user_on_tier(&app, "owner@example.com", "pro").await;
    let (key, _) = create_key(&app, &jwt, json!({"name": "openapi"})).await;
    for (path, method) in operations(&doc) {
        let schemes: Vec<String> = doc["paths"][&path][method.to_lowercase()]["security"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|requirement| requirement.as_object().unwrap().keys().cloned())
            .collect();
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let url = app.url(&concrete(&path));
        let anonymous = app.http.request(method.clone(), &url).send().await.unwrap();
        if schemes.is_empty() {
            let garbage = app
                .http
                .request(method.clone(), &url)
                .bearer_auth("not-a-credential")
                .send()
                .await
                .unwrap();
            assert_eq!(anonymous.status(), garbage.status(), "{method} {path}");
            continue;
        }
        assert_eq!(anonymous.status(), 401, "{method} {path}");
        let with_key = app
            .http
            .request(method.clone(), &url)
            .bearer_auth(&key)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let accepted = with_key.status() != 403;
        assert_eq!(
            accepted,
            schemes.contains(&"apiKey".to_owned()),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn real_answers_match_their_described_schemas() {
    let app = spawn_app().await;
    let doc = description(&app).await;
    let schema = |path: &str, method: &str, status: &str| {
        let response = &doc["paths"][path][method]["responses"][status];
        let response = resolve(&doc, response);
        response["content"]["application/json"]["schema"].clone()
    };

    // The request schema says what sign-in needs.
    let sign_in = resolve(
        &doc,
        &doc["paths"]["/v1/auth/sign-in"]["post"]["requestBody"]["content"]["application/json"]["schema"],
    );
    assert_eq!(sign_in["required"], json!(["email", "password"]));
    assert_eq!(sign_in["additionalProperties"], false);

    sign_up(&app, "schema@example.com").await;
    let body = json!({"email": "schema@example.com", "password": PASSWORD});
    let (status, signed_in) = envelope(app.post("/v1/auth/sign-in", None, &body).await).await;
    assert_eq!(status, 200);
    validate(
        &doc,
        &schema("/v1/auth/sign-in", "post", "200"),
        &signed_in,
        "$",
    );

    // Timestamps, a null one, lists, and a response narrowed by `response_body`.
    let jwt = user_on_tier(&app, "keys@example.com", "pro").await;
    let created = app
        .post("/v1/api-keys", Some(&jwt), &json!({"name": "ci"}))
        .await;
    let (_, created) = envelope(created).await;
    validate(&doc, &schema("/v1/api-keys", "post", "200"), &created, "$");
    let prefix = created["data"]["prefix"].as_str().unwrap();
    let (_, listed) = envelope(app.get("/v1/api-keys", Some(&jwt)).await).await;
    assert!(listed["data"]["keys"][0]["lastUsedAt"].is_null());
    validate(&doc, &schema("/v1/api-keys", "get", "200"), &listed, "$");
    let path = format!("/v1/api-keys/{prefix}");
    let patched = app
        .send_json(Method::PATCH, &path, Some(&jwt), &json!({"dailyLimit": 10}))
        .await;
    let (_, patched) = envelope(patched).await;
    validate(
        &doc,
        &schema("/v1/api-keys/{prefix}", "patch", "200"),
        &patched,
        "$",
    );

    // An error envelope matches the response described for its status.
    let refused = app
        .post("/v1/auth/sign-up", None, &json!({"email": "x"}))
        .await;
    let (status, refused) = envelope(refused).await;
    assert_eq!(status, 400);
    validate(
        &doc,
        &schema("/v1/auth/sign-up", "post", "400"),
        &refused,
        "$",
    );
}

/// Follows a `$ref` (to this document) once.
fn resolve<'a>(doc: &'a Value, node: &'a Value) -> &'a Value {
    match node["$ref"].as_str() {
        Some(pointer) => doc
            .pointer(pointer.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{pointer} resolves")),
        None => node,
    }
}

/// Checks `value` against the JSON Schema keywords the document uses for bodies.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(doc, schema);
    if let Some(alternatives) = schema["anyOf"].as_array() {
        let matched = alternatives.iter().any(|alternative| {
            std::panic::catch_unwind(|| validate(doc, alternative, value, at)).is_ok()
        });
        assert!(matched, "{at}: {value} matches none of {alternatives:?}");
    }
    if let Some(expected) = schema.get("const") {
        assert_eq!(value, expected, "{at}");
    }
    if let Some(values) = schema["enum"].as_array() {
        assert!(values.contains(value), "{at}: {value} not in {values:?}");
    }
    if !schema["type"].is_null() {
        let types: Vec<&str> = match &schema["type"] {
            Value::Array(types) => types.iter().filter_map(Value::as_str).collect(),
            single => vec![single.as_str().unwrap()],
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let fits = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        assert!(fits, "{at}: {value} is not {types:?}");
    }
    if schema["format"] == "date-time"
        && let Some(text) = value.as_str()
    {
        assert!(
            chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            "{at}: {text}"
        );
    }
    if let (Some(object), Some(required)) = (value.as_object(), schema["required"].as_array()) {
        for name in required {
            assert!(
                object.contains_key(name.as_str().unwrap()),
                "{at}: {name} is missing"
            );
        }
    }
    if let (Some(object), Some(properties)) = (value.as_object(), schema["properties"].as_object())
    {
        for (name, item) in object {
            // Stricter than JSON Schema: every field the service sends must be described.
            let property = properties.get(name);
            let property = property.unwrap_or_else(|| panic!("{at}: {name} is not described"));
            validate(doc, property, item, &format!("{at}.{name}"));
        }
    }
    if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            validate(doc, schema, item, &format!("{at}[{i}]"));
        }
    }
}
