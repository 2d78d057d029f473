//! The audit trail (CONTRACT §6): a user's security events over REST and gRPC, page by page,
//! never another user's and never a secret; the operator's `audit` command; retention.

use std::time::Duration;

use cloudsigma_auth::proto::cloudsigma::v1::{
    ListAuditEventsRequest, audit_service_client::AuditServiceClient,
};
use reqwest::Method;
use serde_json::{Value, json};
use tonic::metadata::MetadataValue;

use crate::{
    auth::{PASSWORD, access, cli, sign_in, sign_up},
    helpers::{TestApp, assert_error, envelope, set_tier, spawn_app, spawn_app_with},
};

const USER_AGENT: &str = "AuditTest/1.0 (\ttab)";
const TIDY_USER_AGENT: &str = "AuditTest/1.0 (tab)";

/// A request as a browser would send it: with a User-Agent and a request id of its own.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Value,
    request_id: &str,
) -> (u16, Value) {
    let mut request = app
        .http
        .request(method, app.url(path))
        .header("user-agent", USER_AGENT)
        .header("x-request-id", request_id)
        .json(&body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    envelope(request.send().await.unwrap()).await
}

/// One page of the caller's events, as the REST listing returns it.
async fn page(app: &TestApp, jwt: &str, query: &str) -> (Vec<Value>, String) {
    let (status, body) = envelope(
        app.get(&format!("/v1/audit-events{query}"), Some(jwt))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (
        body["data"]["events"].as_array().unwrap().clone(),
        body["data"]["nextPageToken"].as_str().unwrap().to_owned(),
    )
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every event of the caller, walking pages of `size`.
async fn walk(app: &TestApp, jwt: &str, size: u32) -> (Vec<Value>, usize) {
    let (mut events, mut token) = page(app, jwt, &format!("?pageSize={size}")).await;
    let mut pages = 1;
    while !token.is_empty() {
        let (more, next) = page(app, jwt, &format!("?pageSize={size}&pageToken={token}")).await;
        assert!(more.len() <= size as usize);
        assert!(!more.is_empty(), "a token never leads to an empty page");
        events.extend(more);
        token = next;
        pages += 1;
    }
    (events, pages)
}

#[tokio::test]
async fn a_users_security_events_are_listed_newest_first_with_their_origin_and_no_secret() {
    let app = spawn_app().await;
    let email = "audited@example.com";
    let credentials = json!({"email": email, "password": PASSWORD});
    let (status, _) = send(
        &app,
        Method::POST,
        "/v1/auth/sign-up",
        None,
        credentials.clone(),
        "req-sign-up",
    )
    .await;
    assert_eq!(status, 200);
    set_tier(&app, email, "pro").await;
    let wrong = "not the password at all";
    let (status, _) = send(
        &app,
        Method::POST,
        "/v1/auth/sign-in",
        None,
        json!({"email": email, "password": wrong}),
        "req-failed",
    )
    .await;
    assert_eq!(status, 401);
    let (_, first) = send(
        &app,
        Method::POST,
        "/v1/auth/sign-in",
        None,
        credentials.clone(),
        "req-sign-in",
    )
    .await;
    let jwt = access(&first["data"]);
    let (status, created) = send(
        &app,
        Method::POST,
        "/v1/api-keys",
        Some(&jwt),
        json!({"name": "ci"}),
        "req-key",
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let key = created["data"]["key"].as_str().unwrap().to_owned();
    let prefix = created["data"]["prefix"].as_str().unwrap().to_owned();
    let key_path = format!("/v1/api-keys/{prefix}");
    let (status, _) = send(
        &app,
        Method::PATCH,
        &key_path,
        Some(&jwt),
        json!({"dailyLimit": 50}),
        "req-update",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(
        &app,
        Method::DELETE,
        &key_path,
        Some(&jwt),
        json!({}),
        "req-revoke",
    )
    .await;
    assert_eq!(status, 200);
    let (_, second) = send(
        &app,
        Method::POST,
        "/v1/auth/sign-in",
        None,
        credentials,
        "req-second",
    )
    .await;
    let (status, _) = send(
        &app,
        Method::POST,
        "/v1/auth/sign-out",
        Some(&access(&second["data"])),
        json!({}),
        "req-sign-out",
    )
    .await;
    assert_eq!(status, 200);

    let response = app.get("/v1/audit-events", Some(&jwt)).await;
    let text = response.text().await.unwrap();
    // Nothing a client must keep secret is in the trail, only the key's public prefix.
    for secret in [
        PASSWORD,
        wrong,
        key.as_str(),
        first["data"]["accessToken"].as_str().unwrap(),
        first["data"]["refreshToken"].as_str().unwrap(),
        first["data"]["idToken"].as_str().unwrap(),
        second["data"]["refreshToken"].as_str().unwrap(),
    ] {
        assert!(!text.contains(secret), "{secret} is in {text}");
    }
    let body: Value = serde_json::from_str(&text).unwrap();
    let events = body["data"]["events"].as_array().unwrap();
    assert_eq!(
        types(events),
        [
            "sign_out",
            "sign_in",
            "api_key_revoked",
            "api_key_updated",
            "api_key_created",
            "sign_in",
            "sign_in_failed",
            "tier_changed",
            "sign_up",
        ]
    );
    assert_eq!(body["data"]["nextPageToken"], "", "one page holds them all");
    let request_ids = [
        "req-sign-out",
        "req-second",
        "req-revoke",
        "req-update",
        "req-key",
        "req-sign-in",
        "req-failed",
        "",
        "req-sign-up",
    ];
    for (event, request_id) in events.iter().zip(request_ids) {
        assert_eq!(event["requestId"], request_id, "{event}");
        assert!(event["time"].as_str().unwrap().ends_with('Z'), "{event}");
        let by_operator = event["type"] == "tier_changed";
        let (address, agent) = if by_operator {
            ("", "")
        } else {
            ("127.0.0.1", TIDY_USER_AGENT)
        };
        assert_eq!(event["clientAddress"], address, "{event}");
        assert_eq!(event["userAgent"], agent, "{event}");
        let key_event = event["type"].as_str().unwrap().starts_with("api_key_");
        let expected_prefix = if key_event { prefix.as_str() } else { "" };
        assert_eq!(event["keyPrefix"], expected_prefix, "{event}");
    }
    assert_eq!(events[3]["detail"], "dailyLimit 50");
    assert_eq!(events[7]["detail"], "tier pro");
    let ids: Vec<i64> = ids(events).iter().map(|id| id.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
}

#[tokio::test]
async fn pages_of_two_walk_every_event_once_and_never_reach_another_users() {
    let app = spawn_app().await;
    sign_up(&app, "mine@example.com").await;
    let mine = access(&sign_in(&app, "mine@example.com").await);
    sign_up(&app, "theirs@example.com").await;
    let theirs = access(&sign_in(&app, "theirs@example.com").await);
    for _ in 0..3 {
        sign_in(&app, "mine@example.com").await;
        sign_in(&app, "theirs@example.com").await;
    }
    app.post("/v1/auth/sign-out", Some(&theirs), &json!({"global": true}))
        .await;
    let theirs = access(&sign_in(&app, "theirs@example.com").await);

    let (all, _) = page(&app, &mine, "?pageSize=100").await;
    assert_eq!(all.len(), 5, "sign-up and four sign-ins: {all:?}");
    let (walked, pages) = walk(&app, &mine, 2).await;
    assert_eq!(pages, 3);
    assert_eq!(ids(&walked), ids(&all), "each event once, in order");

    // A page larger than the maximum is served at the maximum; the default is 50.
    let (coerced, _) = page(&app, &mine, "?pageSize=1000").await;
    assert_eq!(coerced.len(), 5);

    // Another user's listing holds none of these, even when handed this user's token.
    let (their_events, _) = page(&app, &theirs, "?pageSize=100").await;
    assert!(types(&their_events).contains(&"sign_out_everywhere"));
    let (_, my_token) = page(&app, &mine, "?pageSize=1").await;
    let (with_my_token, _) = page(&app, &theirs, &format!("?pageToken={my_token}")).await;
    for event in their_events.iter().chain(&with_my_token) {
        assert!(!ids(&all).contains(&event["id"].as_str().unwrap().to_owned()));
    }

    assert_error(
        app.get("/v1/audit-events?pageToken=not-a-token!", Some(&mine))
            .await,
        400,
        "ValidationError",
    )
    .await;
    assert_error(
        app.get("/v1/audit-events?pageSize=-1", Some(&mine)).await,
        400,
        "ValidationError",
    )
    .await;
}

#[tokio::test]
async fn the_listing_takes_a_jwt_only_and_answers_over_grpc_too() {
    let app = spawn_app().await;
    let jwt = crate::helpers::user_on_tier(&app, "grpc@example.com", "pro").await;
    let (key, _) = crate::helpers::create_key(&app, &jwt, json!({"name": "ci"})).await;
    assert_error(
        app.get("/v1/audit-events", Some(&key)).await,
        403,
        "Forbidden",
    )
    .await;
    assert_error(app.get("/v1/audit-events", None).await, 401, "Unauthorized").await;

    let mut client = AuditServiceClient::new(app.channel().await);
    let bearer: MetadataValue<_> = format!("Bearer {jwt}").parse().unwrap();
    let mut request = tonic::Request::new(ListAuditEventsRequest {
        page_size: 2,
        page_token: String::new(),
    });
    request
        .metadata_mut()
        .insert("authorization", bearer.clone());
    let first = client
        .list_audit_events(request)
        .await
        .unwrap()
        .into_inner();
    let kinds: Vec<_> = first.events.iter().map(|e| e.r#type.as_str()).collect();
    assert_eq!(kinds, ["api_key_created", "sign_in"]);
    assert!(!first.next_page_token.is_empty());
    let mut request = tonic::Request::new(ListAuditEventsRequest {
        page_size: 2,
        page_token: first.next_page_token,
    });
    request.metadata_mut().insert("authorization", bearer);
    let second = client
        .list_audit_events(request)
        .await
        .unwrap()
        .into_inner();
    let kinds: Vec<_> = second.events.iter().map(|e| e.r#type.as_str()).collect();
    assert_eq!(kinds, ["tier_changed", "sign_up"]);
    assert!(second.next_page_token.is_empty());
}

#[tokio::test]
async fn refresh_token_reuse_and_a_lockout_are_recorded() {
    let app = spawn_app().await;
    let email = "replayed@example.com";
    sign_up(&app, email).await;
    let tokens = sign_in(&app, email).await;
    let refresh = |token: Value| {
        let app = &app;
        async move {
            app.post("/v1/auth/refresh", None, &json!({"refreshToken": token}))
                .await
                .status()
        }
    };
    assert_eq!(refresh(tokens["refreshToken"].clone()).await, 200);
    // Past the grace period, the rotated token is a replay: the session is revoked.
    app.clock.advance(Duration::from_secs(60));
    assert_eq!(refresh(tokens["refreshToken"].clone()).await, 401);

    for _ in 0..5 {
        let response = app
            .post(
                "/v1/auth/sign-in",
                None,
                &json!({"email": email, "password": "wrong password"}),
            )
            .await;
        assert_eq!(response.status(), 401);
    }
    let refused = app
        .post(
            "/v1/auth/sign-in",
            None,
            &json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(refused.status(), 429);
    app.clock.advance(Duration::from_secs(60));
    let jwt = access(&sign_in(&app, email).await);

    let (events, _) = page(&app, &jwt, "").await;
    assert_eq!(
        types(&events),
        [
            "sign_in",
            "sign_in_locked_out",
            "sign_in_locked_out",
            "sign_in_failed",
            "sign_in_failed",
            "sign_in_failed",
            "sign_in_failed",
            "refresh_reuse_detected",
            "sign_in",
            "sign_up",
        ]
    );
    assert!(
        events[1]["detail"].as_str().unwrap().starts_with("refused"),
        "{}",
        events[1]
    );
    assert_eq!(events[2]["detail"], "locked for 1 s after 5 failures");
}

#[tokio::test]
async fn operators_read_the_trail_as_json_lines_by_user_and_time() {
    let app = spawn_app().await;
    sign_up(&app, "first@example.com").await;
    sign_up(&app, "second@example.com").await;
    // A failed sign-in of an unknown email belongs to nobody.
    let unknown = app
        .post(
            "/v1/auth/sign-in",
            None,
            &json!({"email": "nobody@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(unknown.status(), 401);
    app.clock.advance(Duration::from_secs(3_600));
    sign_in(&app, "first@example.com").await;

    let lines = |out: String| -> Vec<Value> {
        out.lines()
            .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
            .collect()
    };
    let everything = lines(cli(&app, &["audit"]).await);
    assert_eq!(
        types(&everything),
        ["sign_up", "sign_up", "sign_in_failed", "sign_in"],
        "oldest first"
    );
    assert_eq!(everything[2]["userId"], Value::Null);
    assert_eq!(everything[2]["email"], Value::Null);

    let first = lines(cli(&app, &["audit", "--user", "First@Example.com"]).await);
    assert_eq!(types(&first), ["sign_up", "sign_in"]);
    for event in &first {
        assert_eq!(event["email"], "first@example.com");
        assert!(event["userId"].is_string());
        assert_eq!(event["clientAddress"], "127.0.0.1");
    }
    assert_eq!(first[0]["time"], "2026-02-14T10:00:00Z");

    let recent = lines(cli(&app, &["audit", "--since", "2026-02-14T10:30:00+00:00"]).await);
    assert_eq!(types(&recent), ["sign_in"]);
    assert_eq!(recent[0]["email"], "first@example.com");
    let none = cli(
        &app,
        &[
            "audit",
            "--user",
            "second@example.com",
            "--since",
            "2026-02-14T10:30:00Z",
        ],
    )
    .await;
    assert_eq!(none, "");
}

#[tokio::test]
async fn events_past_the_audit_retention_are_purged() {
    let app = spawn_app_with(|c| {
        c.audit_retention_days = 30;
        c.purge_interval_secs = 1;
    })
    .await;
    sign_up(&app, "old@example.com").await;
    app.clock.advance(Duration::from_secs(29 * 86_400));
    sign_up(&app, "recent@example.com").await;
    app.clock.advance(Duration::from_secs(2 * 86_400));

    let started = std::time::Instant::now();
    loop {
        let out = cli(&app, &["audit"]).await;
        let emails: Vec<Value> = out
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap()["email"].clone())
            .collect();
        if emails == [json!("recent@example.com")] {
            break;
        }
        assert_eq!(emails.len(), 2, "{out}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no purge round removed the old event"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
