//! Prometheus metrics on their own listener: a request moves exactly the counters it should,
//! labels never carry a user, key or prefix, and the public port does not serve them.

use std::collections::HashMap;

use serde_json::json;

use crate::{
    auth::{access, sign_in, sign_up},
    helpers::{TestApp, assert_error, create_key, set_tier, spawn_app_with},
};

async fn app_with_metrics() -> TestApp {
    spawn_app_with(|config| {
        config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
}

/// Every sample of the scrape, by its name and labels as written (`name{a="b",…}`).
async fn scrape(app: &TestApp) -> (String, HashMap<String, f64>) {
    let addr = app.metrics_addr.expect("metrics are on");
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    let samples = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect();
    (text, samples)
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

const USAGE_OK_REST: &str = r#"cloudsigma_auth_requests_total{rpc="/cloudsigma.v1.UsageService/GetUsage",protocol="rest",code="OK"}"#;
const USAGE_UNAUTH_REST: &str = r#"cloudsigma_auth_requests_total{rpc="/cloudsigma.v1.UsageService/GetUsage",protocol="rest",code="UNAUTHENTICATED"}"#;
const JWT_OK: &str = r#"cloudsigma_auth_authentications_total{method="jwt",outcome="ok"}"#;
const JWT_INVALID: &str =
    r#"cloudsigma_auth_authentications_total{method="jwt",outcome="invalid"}"#;
const JWT_REVOKED: &str =
    r#"cloudsigma_auth_authentications_total{method="jwt",outcome="revoked"}"#;
const KEY_DAILY: &str =
    r#"cloudsigma_auth_authentications_total{method="api_key",outcome="daily_limit"}"#;
const DAILY_REFUSALS: &str = "cloudsigma_auth_daily_limit_refusals_total";
const TOKEN_HITS: &str =
    r#"cloudsigma_auth_cache_lookups_total{cache="verified_tokens",result="hit"}"#;
const HASH_WAITS: &str = "cloudsigma_auth_hashing_wait_seconds_count";

#[tokio::test]
async fn a_request_moves_exactly_its_counters_and_no_label_names_a_user_or_key() {
    let app = app_with_metrics().await;
    sign_up(&app, "metered@example.com").await;
    set_tier(&app, "metered@example.com", "pro").await;
    let jwt = access(&sign_in(&app, "metered@example.com").await);
    let (_, before) = scrape(&app).await;
    assert!(
        value(&before, HASH_WAITS) >= 2.0,
        "sign-up and sign-in hashed"
    );

    assert_eq!(app.get("/v1/usage", Some(&jwt)).await.status(), 200);
    assert_eq!(app.get("/v1/usage", Some(&jwt)).await.status(), 200);
    assert_error(
        app.get("/v1/usage", Some("eyJ.not.a-token")).await,
        401,
        "Unauthorized",
    )
    .await;
    let (_, after) = scrape(&app).await;
    assert_eq!(
        value(&after, USAGE_OK_REST) - value(&before, USAGE_OK_REST),
        2.0
    );
    assert_eq!(
        value(&after, USAGE_UNAUTH_REST) - value(&before, USAGE_UNAUTH_REST),
        1.0
    );
    assert_eq!(value(&after, JWT_OK) - value(&before, JWT_OK), 2.0);
    assert_eq!(
        value(&after, JWT_INVALID) - value(&before, JWT_INVALID),
        1.0
    );
    assert!(
        value(&after, TOKEN_HITS) - value(&before, TOKEN_HITS) >= 1.0,
        "the second use of the token is answered from memory"
    );

    // A key used up for the day: one daily-limit refusal.
    let (key, prefix) = create_key(&app, &jwt, json!({"name": "m", "dailyLimit": 1})).await;
    assert_eq!(app.get("/v1/usage", Some(&key)).await.status(), 200);
    assert_error(
        app.get("/v1/usage", Some(&key)).await,
        429,
        "RateLimitExceeded",
    )
    .await;
    // Signed out: the token is revoked.
    assert_eq!(
        app.post("/v1/auth/sign-out", Some(&jwt), &json!({}))
            .await
            .status(),
        200
    );
    assert_error(app.get("/v1/usage", Some(&jwt)).await, 401, "Unauthorized").await;

    let (text, last) = scrape(&app).await;
    assert_eq!(value(&last, KEY_DAILY) - value(&after, KEY_DAILY), 1.0);
    assert_eq!(
        value(&last, DAILY_REFUSALS) - value(&after, DAILY_REFUSALS),
        1.0
    );
    assert_eq!(value(&last, JWT_REVOKED) - value(&after, JWT_REVOKED), 1.0);
    assert!(text.contains("cloudsigma_auth_request_duration_seconds_bucket{rpc=\"/cloudsigma.v1.UsageService/GetUsage\""));
    for secret in [
        "metered@example.com",
        key.as_str(),
        prefix.as_str(),
        jwt.as_str(),
    ] {
        assert!(!text.contains(secret), "the scrape names {secret}");
    }
}

#[tokio::test]
async fn grpc_web_gateway_and_unknown_paths_are_labelled_by_their_door() {
    let app = app_with_metrics().await;
    let (_, before) = scrape(&app).await;
    // The gateway check with no credential on a path that needs one.
    assert_eq!(app.get("/authz/check/v1/usage", None).await.status(), 401);
    // gRPC-web health.
    let response = app
        .http
        .post(app.url("/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc-web+proto")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A gRPC path the service does not have is not a label of its own.
    let response = app
        .http
        .post(app.url("/made.up.Service/Whatever"))
        .header("content-type", "application/grpc-web+proto")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "gRPC errors travel in the status");
    // The Cognito API: a known operation, and a made-up one.
    for target in [
        "AWSCognitoIdentityProviderService.GetUser",
        "AWSCognitoIdentityProviderService.MadeUpOperation",
    ] {
        let response = app
            .http
            .post(app.url("/"))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .body(r#"{"AccessToken": "not-a-token"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
    }
    let (text, after) = scrape(&app).await;
    let cognito = r#"cloudsigma_auth_requests_total{rpc="AWSCognitoIdentityProviderService.GetUser",protocol="cognito",code="UNAUTHENTICATED"}"#;
    let cognito_unknown = r#"cloudsigma_auth_requests_total{rpc="unknown",protocol="cognito",code="INVALID_ARGUMENT"}"#;
    assert_eq!(
        value(&after, cognito) - value(&before, cognito),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(&after, cognito_unknown) - value(&before, cognito_unknown),
        1.0,
        "{text}"
    );
    assert!(!text.contains("MadeUpOperation"));
    let gateway = r#"cloudsigma_auth_requests_total{rpc="/authz/check",protocol="gateway",code="UNAUTHENTICATED"}"#;
    let web = r#"cloudsigma_auth_requests_total{rpc="/grpc.health.v1.Health/Check",protocol="grpc-web",code="OK"}"#;
    let unknown =
        r#"cloudsigma_auth_requests_total{rpc="unknown",protocol="grpc-web",code="UNIMPLEMENTED"}"#;
    assert_eq!(
        value(&after, gateway) - value(&before, gateway),
        1.0,
        "{text}"
    );
    assert_eq!(value(&after, web) - value(&before, web), 1.0, "{text}");
    assert_eq!(
        value(&after, unknown) - value(&before, unknown),
        1.0,
        "{text}"
    );
    assert!(!text.contains("made.up"));
}

#[tokio::test]
async fn the_pool_and_the_hashing_queue_are_sampled_every_second() {
    let app = app_with_metrics().await;
    // The first sample is taken at start-up; wait for the scrape to show it.
    let samples = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            let (_, samples) = scrape(&app).await;
            if samples.contains_key("cloudsigma_auth_db_acquire_seconds_count") {
                return samples;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a sample within the first second");
    assert!(value(&samples, "cloudsigma_auth_db_acquire_seconds_count") >= 1.0);
    assert!(samples.contains_key(r#"cloudsigma_auth_db_connections{state="idle"}"#));
    assert!(samples.contains_key(r#"cloudsigma_auth_db_connections{state="in_use"}"#));
    assert_eq!(value(&samples, "cloudsigma_auth_hashing_queue_depth"), 0.0);
}

#[tokio::test]
async fn metrics_are_off_by_default_and_never_on_the_public_port() {
    let on = app_with_metrics().await;
    let response = on.get("/metrics", None).await;
    assert_eq!(response.status(), 404);
    let off = spawn_app_with(|_| {}).await;
    assert!(off.metrics_addr.is_none());
}
