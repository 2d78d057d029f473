//! ApiKeyService: the documented key lifecycle, and API-key authentication on every protocol.

use std::sync::Arc;

use cloudsigma_auth::{
    api_keys::ApiKeys,
    authn::{AuthMethod, Principal},
    domain::{
        api_key::{ApiKeySecret, DailyLimitCeilings, KeyPrefix},
        clock::FakeClock,
        tier::Tier,
    },
    proto::cloudsigma::v1::{
        GetUsageRequest, ListApiKeysRequest, api_key_service_client::ApiKeyServiceClient,
        usage_service_client::UsageServiceClient,
    },
    store::entities::api_keys,
};
use hyper_util::rt::TokioExecutor;
use reqwest::Method;
use sea_orm::EntityTrait;
use serde_json::json;

use crate::{
    auth::{access, sign_in},
    helpers::{
        TestApp, assert_error, create_key, envelope, list_keys, reason, set_tier, spawn_app,
        spawn_app_with, spawn_on, user_on_tier,
    },
};

async fn usage(app: &TestApp, bearer: &str) -> reqwest::Response {
    app.get("/v1/usage", Some(bearer)).await
}

#[tokio::test]
async fn a_free_user_gets_403_on_create() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "free@example.com", "free").await;
    let response = app
        .post("/v1/api-keys", Some(&jwt), &json!({"name": "CI Pipeline"}))
        .await;
    assert_error(response, 403, "Forbidden").await;
    assert!(list_keys(&app, &jwt).await.is_empty());
}

#[tokio::test]
async fn a_key_is_shown_once_and_listed_without_its_secret() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "pro@example.com", "pro").await;
    let response = app
        .post(
            "/v1/api-keys",
            Some(&jwt),
            &json!({"name": "  CI Pipeline  "}),
        )
        .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let (status, body) = envelope(response).await;
    assert_eq!(status, 200);
    let created = &body["data"];
    let key = created["key"].as_str().unwrap();
    assert!(ApiKeySecret::parse(key).is_ok(), "{key}");
    assert_eq!(created["prefix"], &key[..17]);
    assert_eq!(created["name"], "CI Pipeline");
    assert_eq!(created["dailyLimit"], 250);
    assert_eq!(created["createdAt"], "2026-02-14T10:00:00Z");

    app.clock.advance(std::time::Duration::from_secs(5));
    let (_, second_prefix) =
        create_key(&app, &jwt, json!({"name": "nightly", "dailyLimit": 1000})).await;
    let listed = list_keys(&app, &jwt).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["prefix"], second_prefix.as_str(), "newest first");
    assert_eq!(
        listed[1],
        json!({
            "prefix": created["prefix"],
            "name": "CI Pipeline",
            "dailyLimit": 250,
            "usedToday": 0,
            "createdAt": "2026-02-14T10:00:00Z",
            "lastUsedAt": null,
        })
    );
    assert!(
        !list_keys(&app, &jwt)
            .await
            .iter()
            .any(|k| k.to_string().contains(key))
    );

    // Using the key shows in the list.
    app.clock.advance(std::time::Duration::from_secs(60));
    assert_eq!(usage(&app, key).await.status(), 200);
    let listed = list_keys(&app, &jwt).await;
    assert_eq!(listed[1]["usedToday"], 1);
    assert_eq!(listed[1]["lastUsedAt"], "2026-02-14T10:01:05Z");
}

#[tokio::test]
async fn an_api_key_gets_403_on_key_management_and_sign_out_and_is_not_counted() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "ops@example.com", "team").await;
    let (key, prefix) = create_key(&app, &jwt, json!({"name": "ops"})).await;
    let path = format!("/v1/api-keys/{prefix}");
    let attempts = [
        (Method::GET, "/v1/api-keys", json!({})),
        (Method::POST, "/v1/api-keys", json!({"name": "more"})),
        (Method::PATCH, path.as_str(), json!({"name": "renamed"})),
        (Method::DELETE, path.as_str(), json!({})),
        (Method::POST, "/v1/auth/sign-out", json!({})),
    ];
    for (method, path, body) in attempts {
        let response = app.send_json(method.clone(), path, Some(&key), &body).await;
        // Still an API-key request: it shows the key's untouched budget.
        assert_eq!(response.headers()["x-ratelimit-remaining"], "250");
        assert_error(response, 403, "Forbidden").await;
    }
    let listed = list_keys(&app, &jwt).await;
    assert_eq!(listed[0]["usedToday"], 0);
    assert_eq!(listed[0]["name"], "ops");
    // The key still works where keys are accepted.
    assert_eq!(usage(&app, &key).await.status(), 200);
}

#[tokio::test]
async fn another_users_prefix_gets_404_and_reveals_nothing() {
    let app = spawn_app().await;
    let alice = user_on_tier(&app, "alice@example.com", "pro").await;
    let bob = user_on_tier(&app, "bob@example.com", "pro").await;
    let (_, alices) = create_key(&app, &alice, json!({"name": "alice's"})).await;
    let (_, bobs) = create_key(&app, &bob, json!({"name": "bob's"})).await;
    app.send_json(
        Method::DELETE,
        &format!("/v1/api-keys/{bobs}"),
        Some(&bob),
        &json!({}),
    )
    .await;

    let mut messages = Vec::new();
    for prefix in [alices.as_str(), "csk_live_00000000", bobs.as_str()] {
        for (method, body) in [
            (Method::PATCH, json!({"name": "mine now"})),
            (Method::DELETE, json!({})),
        ] {
            let path = format!("/v1/api-keys/{prefix}");
            let response = app.send_json(method, &path, Some(&bob), &body).await;
            let error = assert_error(response, 404, "NotFound").await;
            messages.push(error["error"]["message"].clone());
        }
    }
    assert!(messages.windows(2).all(|w| w[0] == w[1]), "{messages:?}");
    assert_eq!(list_keys(&app, &alice).await[0]["name"], "alice's");
}

#[tokio::test]
async fn a_revoked_key_fails_on_the_next_request_on_every_instance() {
    let first = spawn_app().await;
    let second = spawn_on(&first.database_url, |_| {}).await;
    let jwt = user_on_tier(&first, "rev@example.com", "pro").await;
    let (key, prefix) = create_key(&first, &jwt, json!({"name": "short-lived"})).await;
    assert_eq!(usage(&first, &key).await.status(), 200);
    assert_eq!(usage(&second, &key).await.status(), 200);

    let response = first
        .send_json(
            Method::DELETE,
            &format!("/v1/api-keys/{prefix}"),
            Some(&jwt),
            &json!({}),
        )
        .await;
    let (status, body) = envelope(response).await;
    assert_eq!(
        (status, &body["data"]["message"]),
        (200, &json!("API key revoked"))
    );

    // Every instance refuses it on the very next request: the counting statement reads the
    // key as it is, whatever copy an instance holds (CONTRACT §5).
    assert_error(usage(&first, &key).await, 401, "Unauthorized").await;
    assert_error(usage(&second, &key).await, 401, "Unauthorized").await;
    assert!(list_keys(&first, &jwt).await.is_empty());
    let again = first
        .send_json(
            Method::DELETE,
            &format!("/v1/api-keys/{prefix}"),
            Some(&jwt),
            &json!({}),
        )
        .await;
    assert_error(again, 404, "NotFound").await;
}

#[tokio::test]
async fn a_downgraded_owners_key_gets_403_and_works_again_after_upgrade() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "down@example.com", "enterprise").await;
    let (key, _) = create_key(&app, &jwt, json!({"name": "prod"})).await;
    let (_, body) = envelope(usage(&app, &key).await).await;
    assert_eq!(body["data"]["tier"], "enterprise");

    // Tier changes come from the admin CLI (another process): seen within a second.
    set_tier(&app, "down@example.com", "free").await;
    app.clock.advance(std::time::Duration::from_secs(1));
    let refused = usage(&app, &key).await;
    assert_eq!(refused.headers()["x-ratelimit-remaining"], "249");
    assert_error(refused, 403, "Forbidden").await;
    assert_eq!(
        list_keys(&app, &jwt).await.len(),
        1,
        "the key is not deleted"
    );

    set_tier(&app, "down@example.com", "team").await;
    app.clock.advance(std::time::Duration::from_secs(1));
    let (status, body) = envelope(usage(&app, &key).await).await;
    assert_eq!((status, &body["data"]["tier"]), (200, &json!("team")));
}

#[tokio::test]
async fn update_renames_and_changes_the_limit_within_the_tier_ceiling() {
    let app = spawn_app_with(|c| c.pro_max_daily_limit = 500).await;
    let jwt = user_on_tier(&app, "upd@example.com", "pro").await;
    let (key, prefix) = create_key(&app, &jwt, json!({"name": "old name"})).await;
    assert_eq!(usage(&app, &key).await.status(), 200);
    let path = format!("/v1/api-keys/{prefix}");

    let response = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&jwt),
            &json!({"name": "new name", "dailyLimit": 500}),
        )
        .await;
    let (status, body) = envelope(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["prefix"], prefix.as_str());
    assert_eq!(body["data"]["name"], "new name");
    assert_eq!(body["data"]["dailyLimit"], 500);
    assert_eq!(body["data"]["usedToday"], 1, "the day's count is kept");
    assert!(body["data"]["createdAt"].is_string());

    for bad in [json!({}), json!({"dailyLimit": 501}), json!({"name": " "})] {
        let response = app.send_json(Method::PATCH, &path, Some(&jwt), &bad).await;
        assert_error(response, 400, "ValidationError").await;
    }
    let response = app
        .send_json(Method::PATCH, &path, Some(&jwt), &json!({"dailyLimit": 42}))
        .await;
    let (_, body) = envelope(response).await;
    assert_eq!(
        (
            body["data"]["name"].clone(),
            body["data"]["dailyLimit"].clone()
        ),
        (json!("new name"), json!(42))
    );
}

#[tokio::test]
async fn bad_names_and_limits_are_400() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "val@example.com", "pro").await;
    let bodies = [
        json!({"name": ""}),
        json!({"name": "    "}),
        json!({"name": "n".repeat(101)}),
        json!({"name": "line\nbreak"}),
        json!({"name": "bell\u{7}"}),
        json!({}),
        json!({"name": "ok", "dailyLimit": 0}),
        json!({"name": "ok", "dailyLimit": -1}),
        json!({"name": "ok", "dailyLimit": 2.5}),
        json!({"name": "ok", "dailyLimit": "100"}),
        json!({"name": "ok", "dailyLimit": 10_001}),
        json!({"name": "ok", "key": "csk_live_00000000000000000000000000000000"}),
    ];
    for body in bodies {
        let response = app.post("/v1/api-keys", Some(&jwt), &body).await;
        assert_error(response, 400, "ValidationError").await;
    }
    assert!(list_keys(&app, &jwt).await.is_empty());
    create_key(
        &app,
        &jwt,
        json!({"name": "n".repeat(100), "dailyLimit": 10_000}),
    )
    .await;
}

#[tokio::test]
async fn malformed_keys_and_headers_are_401_and_bad_prefixes_404() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "mal@example.com", "pro").await;
    let (key, _) = create_key(&app, &jwt, json!({"name": "real"})).await;
    let hex = &key["csk_live_".len()..];
    let headers = [
        format!("Bearer csk_live_{}", &hex[..31]),
        format!("Bearer {key}a"),
        format!("Bearer csk_live_{}", hex.to_uppercase()),
        format!("Bearer csk_test_{hex}"),
        format!("Bearer csk_live_{} {}", &hex[..16], &hex[16..]),
        format!("Bearer csk_live_%{}", &hex[1..]),
        "Bearer ".to_owned(),
        "Bearer".to_owned(),
        format!("Bearer Bearer {key}"),
        format!("Basic {key}"),
    ];
    for header in headers {
        let response = app
            .http
            .get(app.url("/v1/usage"))
            .header("authorization", header.as_str())
            .send()
            .await
            .unwrap();
        let body = assert_error(response, 401, "Unauthorized").await;
        assert!(
            !body.to_string().contains(hex),
            "{header}: the key is echoed"
        );
    }
    let response = app
        .http
        .get(app.url("/v1/usage"))
        .header("authorization", format!("bearer {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let long = "x".repeat(1024);
    for segment in ["..%2F", "%00", "csk_live_ABCDEF12", long.as_str(), "%E2%82"] {
        let path = format!("/v1/api-keys/{segment}");
        let response = app
            .send_json(Method::DELETE, &path, Some(&jwt), &json!({}))
            .await;
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "{segment}: {status}");
        envelope(response).await;
    }
    let response = app
        .send_json(Method::DELETE, "/v1/api-keys/../", Some(&jwt), &json!({}))
        .await;
    assert!(response.status().is_client_error());
}

#[tokio::test]
async fn api_keys_work_over_grpc_and_grpc_web_with_rate_limit_metadata() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "grpc@example.com", "pro").await;
    let (key, _) = create_key(&app, &jwt, json!({"name": "grpc", "dailyLimit": 5})).await;

    let mut request = tonic::Request::new(GetUsageRequest {});
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    let response = UsageServiceClient::new(app.channel().await)
        .get_usage(request)
        .await
        .unwrap();
    assert_eq!(response.metadata().get("x-ratelimit-limit").unwrap(), "5");
    assert_eq!(
        response.metadata().get("x-ratelimit-remaining").unwrap(),
        "4"
    );
    assert_eq!(response.into_inner().tier, "pro");

    let http1 = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
    let grpc_web = tower::ServiceBuilder::new()
        .layer(tonic_web::GrpcWebClientLayer::new())
        .service(http1);
    let mut web = UsageServiceClient::with_origin(grpc_web, app.url("").parse().unwrap());
    let mut request = tonic::Request::new(GetUsageRequest {});
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    let response = web.get_usage(request).await.unwrap();
    assert_eq!(
        response.metadata().get("x-ratelimit-remaining").unwrap(),
        "3"
    );

    // Key management over gRPC takes a JWT, and refuses the key.
    let mut client = ApiKeyServiceClient::new(app.channel().await);
    let mut request = tonic::Request::new(ListApiKeysRequest {});
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {jwt}").parse().unwrap());
    let keys = client
        .list_api_keys(request)
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(keys[0].used_today, 2);
    let mut request = tonic::Request::new(ListApiKeysRequest {});
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    let status = client.list_api_keys(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert_eq!(reason(&status), "Forbidden");
}

#[tokio::test]
async fn the_database_holds_no_plaintext_key() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "store@example.com", "pro").await;
    let (key, prefix) = create_key(&app, &jwt, json!({"name": "stored"})).await;
    assert_eq!(usage(&app, &key).await.status(), 200);

    let rows = api_keys::Entity::find().all(app.db()).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].prefix, prefix);
    assert_eq!(rows[0].digest, ApiKeySecret::parse(&key).unwrap().digest());
    assert!(!format!("{:?}", rows[0]).contains(&key));
    let secret_part = &key[17..];
    // On SQLite the whole database (and its write-ahead log) is searched byte by byte.
    if let Some(path) = app.database_url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap();
        for file in [path.to_owned(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                let text = String::from_utf8_lossy(&bytes);
                assert!(!text.contains(secret_part), "{file} holds the key");
            }
        }
    }
}

#[tokio::test]
async fn ten_thousand_keys_have_distinct_prefixes_and_the_exact_format() {
    let app = spawn_app().await;
    let email = "bulk@example.com";
    user_on_tier(&app, email, "enterprise").await;
    let user = cloudsigma_auth::store::users::find_by_email(app.db(), email)
        .await
        .unwrap()
        .unwrap();
    let caller = Principal {
        user_id: user.id,
        email: email.to_owned(),
        tier: Tier::Enterprise,
        team_id: None,
        monthly_rule_allowance: None,
        method: AuthMethod::Jwt {
            session_id: String::new(),
        },
    };
    let keys = Arc::new(ApiKeys::new(
        app.db().clone(),
        Arc::new(FakeClock::new(crate::helpers::start_time())),
        DailyLimitCeilings {
            pro: 10_000,
            team: 50_000,
            enterprise: 1_000_000,
        },
    ));
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let keys = keys.clone();
        let caller = caller.clone();
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::new();
            for i in 0..2_500 {
                let created = keys
                    .create(&caller, &format!("k{worker}-{i}"), None, Default::default())
                    .await
                    .unwrap();
                made.push(created.key.expose().to_owned());
            }
            made
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    assert_eq!(all.len(), 10_000);
    let mut prefixes = std::collections::HashSet::new();
    let mut secrets = std::collections::HashSet::new();
    for key in &all {
        let parsed = ApiKeySecret::parse(key).expect("csk_live_ + 32 lowercase hex");
        assert!(KeyPrefix::parse(parsed.prefix().as_str()).is_ok());
        assert!(
            prefixes.insert(parsed.prefix().as_str().to_owned()),
            "prefix reused"
        );
        assert!(secrets.insert(key.clone()));
    }
    assert_eq!(
        list_keys(&app, &access(&sign_in(&app, email).await))
            .await
            .len(),
        10_000
    );
}

#[tokio::test]
async fn a_keys_daily_history_counts_every_day_including_quiet_ones() {
    let app = crate::helpers::spawn_app().await;
    let jwt = user_on_tier(&app, "history@example.com", "pro").await;
    let (key, prefix) = create_key(&app, &jwt, json!({"name": "history"})).await;
    for _ in 0..3 {
        assert_eq!(app.get("/v1/usage", Some(&key)).await.status(), 200);
    }
    // Two days later (the clock is the service's), one more request.
    app.clock
        .advance(std::time::Duration::from_secs(2 * 86_400));
    assert_eq!(app.get("/v1/usage", Some(&key)).await.status(), 200);
    // The first access token expired meanwhile.
    let jwt = crate::auth::access(&crate::auth::sign_in(&app, "history@example.com").await);

    let path = format!("/v1/api-keys/{prefix}/usage?days=4");
    let (status, body) = envelope(app.get(&path, Some(&jwt)).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["prefix"], prefix.as_str());
    let days = body["data"]["days"].as_array().unwrap();
    let counts: Vec<i64> = days.iter().map(|d| d["count"].as_i64().unwrap()).collect();
    assert_eq!(counts, vec![0, 3, 0, 1], "{body}");
    // start_time() is 2026-02-14; two days on is the 16th, the last day listed.
    let dates: Vec<&str> = days.iter().map(|d| d["date"].as_str().unwrap()).collect();
    assert_eq!(
        dates,
        vec!["2026-02-13", "2026-02-14", "2026-02-15", "2026-02-16"]
    );

    // Thirty days without `days` (and with 0, proto3's unset value).
    for path in [
        format!("/v1/api-keys/{prefix}/usage"),
        format!("/v1/api-keys/{prefix}/usage?days=0"),
    ] {
        let (_, body) = envelope(app.get(&path, Some(&jwt)).await).await;
        assert_eq!(body["data"]["days"].as_array().unwrap().len(), 30, "{path}");
    }
    // Out of range, someone else's or an API key: refused.
    for days in ["401", "-1", "many"] {
        let response = app
            .get(
                &format!("/v1/api-keys/{prefix}/usage?days={days}"),
                Some(&jwt),
            )
            .await;
        assert_error(response, 400, "ValidationError").await;
    }
    let other = user_on_tier(&app, "nosy@example.com", "pro").await;
    assert_error(
        app.get(&format!("/v1/api-keys/{prefix}/usage"), Some(&other))
            .await,
        404,
        "NotFound",
    )
    .await;
    assert_error(
        app.get(&format!("/v1/api-keys/{prefix}/usage"), Some(&key))
            .await,
        403,
        "Forbidden",
    )
    .await;
}
