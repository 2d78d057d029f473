//! The gateway check (CONTRACT §6): HTTP under `/authz/check` and Envoy's gRPC
//! `Authorization/Check`, judged with the gateway rules, the same credentials, limits and daily
//! counts as the service's own endpoints.

use std::time::Duration;

use cloudsigma_auth::proto::envoy::{
    config::core::v3::{Address, SocketAddress, address, socket_address},
    service::auth::v3::{
        AttributeContext, CheckRequest, CheckResponse,
        attribute_context::{HttpRequest, Peer, Request as AttributeRequest},
        authorization_client::AuthorizationClient,
        check_response::HttpResponse,
    },
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    auth::{access, sign_in, sign_up},
    helpers::{
        TestApp, assert_error, create_key, envelope, list_keys, spawn_app, spawn_app_with,
        user_on_tier,
    },
};

fn trusting_localhost(c: &mut cloudsigma_auth::config::Config) {
    c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
}

async fn check(app: &TestApp, path: &str, bearer: Option<&str>) -> reqwest::Response {
    app.get(&format!("/authz/check{path}"), bearer).await
}

async fn used_today(app: &TestApp, jwt: &str) -> i64 {
    list_keys(app, jwt).await[0]["usedToday"].as_i64().unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn an_allowed_key_gets_exactly_200_with_identity_and_rate_limit_headers_and_is_counted() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "gw@example.com", "team").await;
    let (key, prefix) = create_key(&app, &jwt, json!({"name": "gw"})).await;

    let response = check(&app, "/v1/findings/42?page=2", Some(&key)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-cloudsigma-auth-method"), "API_KEY");
    assert_eq!(header(&response, "x-cloudsigma-key-prefix"), prefix);
    assert_eq!(header(&response, "x-cloudsigma-email"), "gw@example.com");
    assert_eq!(header(&response, "x-cloudsigma-tier"), "team");
    assert_eq!(header(&response, "x-cloudsigma-team-id"), "");
    assert_eq!(header(&response, "x-ratelimit-limit"), "250");
    assert_eq!(header(&response, "x-ratelimit-remaining"), "249");
    let user_id = header(&response, "x-cloudsigma-user-id").to_owned();
    let (_, body) = envelope(response).await;
    assert_eq!(body["data"]["userId"], user_id);
    assert_eq!(body["data"]["authMethod"], "API_KEY");
    assert_eq!(used_today(&app, &jwt).await, 1);
}

#[tokio::test]
async fn a_jwt_is_allowed_where_the_rules_take_one_and_a_key_is_refused_there() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "rules@example.com", "pro").await;
    let (key, _) = create_key(&app, &jwt, json!({"name": "rules"})).await;

    let response = check(&app, "/v1/api-keys", Some(&jwt)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-cloudsigma-auth-method"), "JWT");
    assert_eq!(header(&response, "x-cloudsigma-key-prefix"), "");
    assert!(response.headers().get("x-ratelimit-limit").is_none());

    let refused = check(&app, "/v1/api-keys/abc", Some(&key)).await;
    assert!(refused.headers().contains_key("x-ratelimit-limit"));
    assert_error(refused, 403, "Forbidden").await;
    assert_eq!(used_today(&app, &jwt).await, 0, "a refusal is not counted");
    let two_slashes = check(&app, "/v1//api-keys", Some(&key)).await;
    assert_error(two_slashes, 403, "Forbidden").await;

    // The rules follow the documented API: sign-in is public, sign-out takes a JWT, a key's
    // usage takes either; health is public; paths outside /v1 are refused whatever the
    // credential.
    let sign_in = app
        .http
        .post(app.url("/authz/check/v1/auth/sign-in"))
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in.status(), 200);
    let sign_out = app
        .http
        .post(app.url("/authz/check/v1/auth/sign-out"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_error(sign_out, 403, "Forbidden").await;
    assert_eq!(check(&app, "/v1/usage", Some(&key)).await.status(), 200);
    let put = app
        .http
        .put(app.url("/authz/check/v1/api-keys"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_error(put, 403, "Forbidden").await;
    let public = check(&app, "/v1/health", None).await;
    assert_eq!(public.status(), 200);
    assert_eq!(header(&public, "x-cloudsigma-user-id"), "");
    assert_error(
        check(&app, "/admin/users", Some(&jwt)).await,
        403,
        "Forbidden",
    )
    .await;
    assert_error(
        check(&app, "/V1/API-KEYS", Some(&key)).await,
        403,
        "Forbidden",
    )
    .await;
    assert_error(
        check(&app, "/v1//api-keys", Some(&key)).await,
        403,
        "Forbidden",
    )
    .await;
    assert_error(
        check(&app, "/v1/api%2Dkeys", Some(&key)).await,
        403,
        "Forbidden",
    )
    .await;
}

#[tokio::test]
async fn refusals_carry_the_rest_status_envelope_and_headers() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "deny@example.com", "pro").await;
    let (key, _) = create_key(&app, &jwt, json!({"name": "d", "dailyLimit": 2})).await;

    let missing = check(&app, "/v1/usage", None).await;
    assert_eq!(header(&missing, "www-authenticate"), "Bearer");
    assert_error(missing, 401, "Unauthorized").await;
    let huge = format!("Bearer {}", "a".repeat(10 * 1024));
    let response = app
        .http
        .get(app.url("/authz/check/v1/usage"))
        .header("authorization", huge)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "Unauthorized").await;

    for _ in 0..2 {
        assert_eq!(check(&app, "/v1/usage", Some(&key)).await.status(), 200);
    }
    let limited = check(&app, "/v1/usage", Some(&key)).await;
    assert!(header(&limited, "retry-after").parse::<u64>().unwrap() >= 1);
    assert_eq!(header(&limited, "x-ratelimit-remaining"), "0");
    assert_error(limited, 429, "RateLimitExceeded").await;
    assert_eq!(used_today(&app, &jwt).await, 2);
}

#[tokio::test]
async fn forwarded_originals_count_only_from_trusted_proxies() {
    let trusted = spawn_app_with(trusting_localhost).await;
    let jwt = user_on_tier(&trusted, "proxy@example.com", "pro").await;
    let (key, _) = create_key(&trusted, &jwt, json!({"name": "p"})).await;
    let nginx = |uri: &str, method: &str| {
        trusted
            .http
            .get(trusted.url("/authz/check"))
            .bearer_auth(&key)
            .header("x-original-uri", uri)
            .header("x-original-method", method)
            .send()
    };
    assert_eq!(nginx("/v1/usage?x=1", "POST").await.unwrap().status(), 200);
    assert_error(
        nginx("/v1/api-keys", "GET").await.unwrap(),
        403,
        "Forbidden",
    )
    .await;
    let traefik = trusted
        .http
        .get(trusted.url("/authz/check"))
        .bearer_auth(&key)
        .header("x-forwarded-uri", "/v1/api-keys/x")
        .header("x-forwarded-method", "DELETE")
        .send()
        .await
        .unwrap();
    assert_error(traefik, 403, "Forbidden").await;
    // A check naming two originals (a proxy's own pair, and a client's other pair passed on):
    // refused, never guessed at.
    let both = trusted
        .http
        .get(trusted.url("/authz/check"))
        .bearer_auth(&key)
        .header("x-forwarded-uri", "/v1/api-keys")
        .header("x-forwarded-method", "POST")
        .header("x-original-uri", "/v1/health")
        .send()
        .await
        .unwrap();
    assert_error(both, 400, "ValidationError").await;
    // Bad originals are a 400, never an allow.
    for (uri, method) in [
        ("v1/usage", "GET"),
        ("/v1/../admin", "GET"),
        ("/v1/usage", "get"),
        ("/v1/usage", "GETGETGETGETGETGETGETGET"),
    ] {
        assert_error(nginx(uri, method).await.unwrap(), 400, "ValidationError").await;
    }

    // From a peer that is not a trusted proxy, the path after the prefix is judged.
    let untrusted = spawn_app().await;
    let jwt = user_on_tier(&untrusted, "direct@example.com", "pro").await;
    let (key, _) = create_key(&untrusted, &jwt, json!({"name": "u"})).await;
    let smuggled = untrusted
        .http
        .get(untrusted.url("/authz/check/v1/api-keys"))
        .bearer_auth(&key)
        .header("x-original-uri", "/v1/usage")
        .header("x-forwarded-uri", "/v1/usage")
        .send()
        .await
        .unwrap();
    assert_error(smuggled, 403, "Forbidden").await;
    let no_path = untrusted
        .http
        .get(untrusted.url("/authz/check"))
        .bearer_auth(&key)
        .header("x-original-uri", "/v1/usage")
        .send()
        .await
        .unwrap();
    assert_error(no_path, 400, "ValidationError").await;
    assert_eq!(used_today(&untrusted, &jwt).await, 0);
}

#[tokio::test]
async fn the_check_answers_without_reading_the_request_body() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "body@example.com", "pro").await;
    let (key, _) = create_key(&app, &jwt, json!({"name": "b"})).await;
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    // A 1 MB body is announced, and only its first kilobyte is ever sent.
    let head = format!(
        "POST /authz/check/v1/usage HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\n\
         content-length: 1048576\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&[b'x'; 1024]).await.unwrap();
    let mut answer = vec![0; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut answer))
        .await
        .expect("answered while the body is still coming")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]).to_lowercase();
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert!(
        answer.contains("x-cloudsigma-auth-method: api_key"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_rules_file_decides_which_paths_need_what() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        r#"
[[rule]]
prefix = "/v1/findings"
access = "jwt_or_api_key"

[[rule]]
prefix = "/v1/findings"
methods = ["DELETE"]
access = "jwt"
"#,
    )
    .unwrap();
    let app = spawn_app_with(|c| c.gateway_rules = Some(rules.clone())).await;
    let jwt = user_on_tier(&app, "file@example.com", "pro").await;
    let (key, _) = create_key(&app, &jwt, json!({"name": "f"})).await;
    let send = |method: reqwest::Method, path: &str| {
        app.http
            .request(method, app.url(&format!("/authz/check{path}")))
            .bearer_auth(&key)
            .send()
    };
    assert_eq!(
        send(reqwest::Method::GET, "/v1/findings/1")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_error(
        send(reqwest::Method::DELETE, "/v1/findings/1")
            .await
            .unwrap(),
        403,
        "Forbidden",
    )
    .await;
    // Not in the file: refused.
    assert_error(
        send(reqwest::Method::GET, "/v1/usage").await.unwrap(),
        403,
        "Forbidden",
    )
    .await;

    std::fs::write(&rules, "[[rule]]\nprefix = \"v1\"\naccess = \"jwt\"\n").unwrap();
    let (url, _dir) = crate::helpers::fresh_database().await;
    let mut config =
        cloudsigma_auth::config::Config::with_defaults("127.0.0.1:0".parse().unwrap(), &url);
    config.gateway_rules = Some(rules.clone());
    let refused = cloudsigma_auth::startup::Application::build(config, Default::default()).await;
    let message = refused
        .err()
        .expect("a bad rules file stops start-up")
        .to_string();
    assert!(message.contains("gateway rules"), "{message}");
}

fn check_request(
    path: &str,
    method: &str,
    bearer: Option<&str>,
    source: Option<&str>,
) -> CheckRequest {
    let mut headers = std::collections::HashMap::new();
    if let Some(bearer) = bearer {
        headers.insert("authorization".to_owned(), format!("Bearer {bearer}"));
    }
    headers.insert("x-cloudsigma-user-id".to_owned(), "smuggled".to_owned());
    CheckRequest {
        attributes: Some(AttributeContext {
            source: source.map(|ip| Peer {
                address: Some(Address {
                    address: Some(address::Address::SocketAddress(SocketAddress {
                        address: ip.to_owned(),
                        port_specifier: Some(socket_address::PortSpecifier::PortValue(40000)),
                        ..Default::default()
                    })),
                }),
                ..Default::default()
            }),
            request: Some(AttributeRequest {
                http: Some(HttpRequest {
                    method: method.to_owned(),
                    path: path.to_owned(),
                    headers,
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
    }
}

async fn envoy_check(app: &TestApp, request: CheckRequest) -> CheckResponse {
    AuthorizationClient::new(app.channel().await)
        .check(request)
        .await
        .expect("Check answers")
        .into_inner()
}

fn headers_of(
    options: &[cloudsigma_auth::proto::envoy::config::core::v3::HeaderValueOption],
) -> Vec<(String, String)> {
    options
        .iter()
        .map(|o| {
            let h = o.header.as_ref().unwrap();
            (h.key.clone(), h.value.clone())
        })
        .collect()
}

#[tokio::test]
async fn envoy_grpc_check_allows_with_upstream_headers_and_denies_with_the_rest_answer() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "envoy@example.com", "enterprise").await;
    let (key, prefix) = create_key(&app, &jwt, json!({"name": "e", "dailyLimit": 1})).await;

    let allowed = envoy_check(&app, check_request("/v1/usage?x", "GET", Some(&key), None)).await;
    assert_eq!(allowed.status.unwrap().code, 0);
    let Some(HttpResponse::OkResponse(ok)) = allowed.http_response else {
        panic!("not an ok_response");
    };
    let upstream = headers_of(&ok.headers);
    assert!(upstream.contains(&("x-cloudsigma-key-prefix".to_owned(), prefix.clone())));
    assert!(upstream.contains(&("x-cloudsigma-auth-method".to_owned(), "API_KEY".to_owned())));
    assert!(
        upstream
            .iter()
            .any(|(k, v)| k == "x-cloudsigma-user-id" && v != "smuggled")
    );
    assert!(
        ok.headers.iter().all(|o| o.append_action == 2),
        "headers overwrite"
    );
    assert_eq!(
        ok.headers_to_remove,
        vec!["x-cloudsigma-team-id".to_owned()]
    );
    let to_client = headers_of(&ok.response_headers_to_add);
    assert!(to_client.contains(&("x-ratelimit-remaining".to_owned(), "0".to_owned())));
    assert_eq!(used_today(&app, &jwt).await, 1);

    // The key's day is used up: 429 with Retry-After and the envelope.
    let denied = envoy_check(&app, check_request("/v1/usage", "GET", Some(&key), None)).await;
    assert_eq!(
        denied.status.unwrap().code,
        tonic::Code::ResourceExhausted as i32
    );
    let Some(HttpResponse::DeniedResponse(denied)) = denied.http_response else {
        panic!("not a denied_response");
    };
    assert_eq!(denied.status.unwrap().code, 429);
    let headers = headers_of(&denied.headers);
    assert!(headers.iter().any(|(k, _)| k == "retry-after"));
    let body: Value = serde_json::from_str(&denied.body).unwrap();
    assert_eq!(body["error"]["code"], "RateLimitExceeded");

    // No credential: 401 with WWW-Authenticate; a key where only JWTs go: 403.
    for (request, status) in [
        (check_request("/v1/usage", "GET", None, None), 401),
        (check_request("/v1/api-keys", "GET", Some(&key), None), 403),
        (check_request("/internal", "GET", Some(&jwt), None), 403),
    ] {
        let Some(HttpResponse::DeniedResponse(denied)) =
            envoy_check(&app, request).await.http_response
        else {
            panic!("not a denied_response");
        };
        assert_eq!(denied.status.unwrap().code, status);
        if status == 401 {
            assert!(
                headers_of(&denied.headers)
                    .contains(&("www-authenticate".to_owned(), "Bearer".to_owned()))
            );
        }
    }
    // A JWT: allowed, and every key header empty is removed upstream.
    let Some(HttpResponse::OkResponse(ok)) = envoy_check(
        &app,
        check_request("/v1/api-keys", "POST", Some(&jwt), None),
    )
    .await
    .http_response
    else {
        panic!("not an ok_response");
    };
    assert!(
        ok.headers_to_remove
            .contains(&"x-cloudsigma-key-prefix".to_owned())
    );
    assert!(ok.response_headers_to_add.is_empty());
}

#[tokio::test]
async fn envoy_grpc_check_denies_malformed_checks_with_invalid_argument_and_a_400() {
    let app = spawn_app().await;
    let key = "csk_live_00000000000000000000000000000000";
    let mut requests = vec![CheckRequest::default()];
    for (path, method) in [
        ("v1/usage", "GET"),
        ("/v1/usage", "NOT A METHOD"),
        ("/v1/%ff", "GET"),
    ] {
        requests.push(check_request(path, method, Some(key), None));
    }
    for request in requests {
        // A denial, not an RPC error: Envoy would count an error as the authorizer failing.
        let response = envoy_check(&app, request).await;
        assert_eq!(
            response.status.unwrap().code,
            tonic::Code::InvalidArgument as i32
        );
        let Some(HttpResponse::DeniedResponse(denied)) = response.http_response else {
            panic!("a malformed check was not denied");
        };
        assert_eq!(denied.status.unwrap().code, 400);
        let body: Value = serde_json::from_str(&denied.body).unwrap();
        assert_eq!(body["error"]["code"], "ValidationError");
    }
}

#[tokio::test]
async fn the_end_client_of_a_trusted_envoy_is_the_address_that_is_limited() {
    let app = spawn_app_with(|c| {
        trusting_localhost(c);
        c.failed_auth_burst_per_address = 2;
        c.failed_auth_rate_per_minute_per_address = 1;
    })
    .await;
    sign_up(&app, "limit@example.com").await;
    let jwt = access(&sign_in(&app, "limit@example.com").await);
    let bad = "csk_live_0123456789abcdef0123456789abcdef";
    for _ in 0..2 {
        let response = envoy_check(
            &app,
            check_request("/v1/usage", "GET", Some(bad), Some("198.51.100.7")),
        )
        .await;
        let Some(HttpResponse::DeniedResponse(denied)) = response.http_response else {
            panic!("allowed a bad key");
        };
        assert_eq!(denied.status.unwrap().code, 401);
    }
    // That client is now blocked, even with a good credential; another client is not.
    let blocked = envoy_check(
        &app,
        check_request("/v1/usage", "GET", Some(&jwt), Some("198.51.100.7")),
    )
    .await;
    let Some(HttpResponse::DeniedResponse(denied)) = blocked.http_response else {
        panic!("a blocked address was allowed");
    };
    assert_eq!(denied.status.unwrap().code, 429);
    let other = envoy_check(
        &app,
        check_request("/v1/usage", "GET", Some(&jwt), Some("198.51.100.8")),
    )
    .await;
    assert!(matches!(
        other.http_response,
        Some(HttpResponse::OkResponse(_))
    ));
}
