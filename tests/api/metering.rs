//! Metering: exact daily key limits under concurrency and across instances, the rate-limit
//! headers, the per-account limiter, monthly usage, and the internal RPCs.

use std::time::Duration;

use cloudsigma_auth::proto::cloudsigma::v1::{
    AuthenticateRequest, RecordUsageRequest, auth_service_client::AuthServiceClient,
    usage_service_client::UsageServiceClient,
};
use reqwest::Method;
use serde_json::json;
use tonic_types::StatusExt;

use crate::{
    auth::sign_up,
    helpers::{
        SERVICE_TOKEN, TestApp, assert_error, create_key, envelope, list_keys, reason, spawn_app,
        spawn_app_with, spawn_on, user_on_tier,
    },
};

/// The per-account limiter is opened wide where a test is about the daily count.
fn wide_account_limit(c: &mut cloudsigma_auth::config::Config) {
    c.account_burst = 10_000;
    c.account_rate_per_second = 10_000;
}

async fn usage(app: &TestApp, bearer: &str) -> reqwest::Response {
    app.get("/v1/usage", Some(bearer)).await
}

async fn used_today(app: &TestApp, jwt: &str) -> i64 {
    list_keys(app, jwt).await[0]["usedToday"].as_i64().unwrap()
}

/// Fires `n` concurrent requests with `key`, spread over `apps`; returns (ok, 429s).
async fn burst(apps: &[&TestApp], key: &str, n: usize) -> (usize, usize) {
    let mut tasks = Vec::new();
    for i in 0..n {
        let app = apps[i % apps.len()];
        let request = app.http.get(app.url("/v1/usage")).bearer_auth(key).send();
        tasks.push(tokio::spawn(async move {
            let response = request.await.unwrap();
            let status = response.status().as_u16();
            if status == 429 {
                let retry: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry >= 1);
            }
            status
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for task in tasks {
        match task.await.unwrap() {
            200 => ok += 1,
            429 => limited += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    (ok, limited)
}

#[tokio::test]
async fn exactly_the_remaining_requests_succeed_under_concurrency() {
    let app = spawn_app_with(wide_account_limit).await;
    let jwt = user_on_tier(&app, "burst@example.com", "pro").await;
    let (key, _) = create_key(&app, &jwt, json!({"name": "burst"})).await;
    let (ok, limited) = burst(&[&app], &key, 300).await;
    assert_eq!((ok, limited), (250, 50));
    assert_eq!(used_today(&app, &jwt).await, 250);
}

#[tokio::test]
async fn two_instances_on_one_database_share_the_exact_limit() {
    let config = |c: &mut cloudsigma_auth::config::Config| {
        wide_account_limit(c);
        c.issuer = Some("https://auth.cloudsigma.test".to_owned());
    };
    let first = spawn_app_with(config).await;
    let second = spawn_on(&first.database_url, config).await;
    let jwt = user_on_tier(&first, "shared@example.com", "pro").await;
    let (key, _) = create_key(&first, &jwt, json!({"name": "shared"})).await;
    let (ok, limited) = burst(&[&first, &second], &key, 300).await;
    assert_eq!((ok, limited), (250, 50));
    assert_eq!(used_today(&second, &jwt).await, 250);
}

#[tokio::test]
async fn the_count_survives_a_restart() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "restart@example.com", "pro").await;
    let (key, _) = create_key(&app, &jwt, json!({"name": "r", "dailyLimit": 5})).await;
    for _ in 0..3 {
        assert_eq!(usage(&app, &key).await.status(), 200);
    }
    let url = app.database_url.clone();
    let dir = app.stop().await;
    let again = spawn_on(&url, |_| {}).await;
    let response = usage(&again, &key).await;
    assert_eq!(response.headers()["x-ratelimit-remaining"], "1");
    assert_eq!(usage(&again, &key).await.status(), 200);
    assert_error(usage(&again, &key).await, 429, "RateLimitExceeded").await;
    drop(dir);
}

#[tokio::test]
async fn the_day_rolls_over_at_utc_midnight() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "midnight@example.com", "pro").await;
    let (key, _) = create_key(&app, &jwt, json!({"name": "m", "dailyLimit": 2})).await;
    app.clock.set("2026-02-14T23:59:58Z".parse().unwrap());
    assert_eq!(usage(&app, &key).await.status(), 200);
    let response = usage(&app, &key).await;
    assert_eq!(response.headers()["x-ratelimit-reset"], "1771113600");
    let limited = usage(&app, &key).await;
    assert_eq!(limited.headers()["retry-after"], "2");
    assert_error(limited, 429, "RateLimitExceeded").await;

    app.clock.advance(Duration::from_secs(2));
    let response = usage(&app, &key).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-ratelimit-remaining"], "1");
    assert_eq!(response.headers()["x-ratelimit-reset"], "1771200000");
    let jwt = crate::auth::access(&crate::auth::sign_in(&app, "midnight@example.com").await);
    assert_eq!(used_today(&app, &jwt).await, 1);
}

#[tokio::test]
async fn changing_the_limit_mid_day_keeps_the_count() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "change@example.com", "pro").await;
    let (key, prefix) = create_key(&app, &jwt, json!({"name": "c", "dailyLimit": 3})).await;
    for _ in 0..3 {
        assert_eq!(usage(&app, &key).await.status(), 200);
    }
    assert_eq!(usage(&app, &key).await.status(), 429);
    let path = format!("/v1/api-keys/{prefix}");
    app.send_json(Method::PATCH, &path, Some(&jwt), &json!({"dailyLimit": 4}))
        .await;
    assert_eq!(usage(&app, &key).await.status(), 200);
    assert_eq!(usage(&app, &key).await.status(), 429);
    app.send_json(Method::PATCH, &path, Some(&jwt), &json!({"dailyLimit": 2}))
        .await;
    assert_eq!(usage(&app, &key).await.status(), 429);
    assert_eq!(used_today(&app, &jwt).await, 4);
}

#[tokio::test]
async fn refused_requests_are_not_counted() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "refused@example.com", "pro").await;
    let (key, _) = create_key(&app, &jwt, json!({"name": "x", "dailyLimit": 2})).await;
    // 403: a key on a JWT-only endpoint, and a key whose owner left the paid tiers.
    app.get("/v1/api-keys", Some(&key)).await;
    crate::helpers::set_tier(&app, "refused@example.com", "free").await;
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(usage(&app, &key).await.status(), 403);
    crate::helpers::set_tier(&app, "refused@example.com", "pro").await;
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(used_today(&app, &jwt).await, 0);
    // 429s do not count either.
    assert_eq!(usage(&app, &key).await.status(), 200);
    assert_eq!(usage(&app, &key).await.status(), 200);
    for _ in 0..3 {
        assert_eq!(usage(&app, &key).await.status(), 429);
    }
    assert_eq!(used_today(&app, &jwt).await, 2);
}

#[tokio::test]
async fn rate_limit_headers_are_right_before_and_after_the_limit() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "headers@example.com", "pro").await;
    let (key, _) = create_key(&app, &jwt, json!({"name": "h", "dailyLimit": 2})).await;
    // 10:00:00 UTC: 14 hours to the reset.
    let reset_in = 14 * 3600;
    let reset = 1_771_113_600;
    for remaining in [1, 0] {
        let response = usage(&app, &key).await;
        assert_eq!(response.status(), 200);
        let h = response.headers();
        assert_eq!(h["x-ratelimit-limit"], "2");
        assert_eq!(h["x-ratelimit-remaining"], remaining.to_string().as_str());
        assert_eq!(h["x-ratelimit-reset"], reset.to_string().as_str());
        assert_eq!(h["ratelimit-policy"], "\"daily\";q=2;w=86400");
        assert_eq!(
            h["ratelimit"],
            format!("\"daily\";r={remaining};t={reset_in}").as_str()
        );
        assert!(!h.contains_key("retry-after"));
    }
    let response = usage(&app, &key).await;
    let h = response.headers().clone();
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(h["retry-after"], reset_in.to_string().as_str());
    assert_eq!(
        h["ratelimit"],
        format!("\"daily\";r=0;t={reset_in}").as_str()
    );
    assert_error(response, 429, "RateLimitExceeded").await;
    // JWT requests carry no daily headers.
    assert!(
        !usage(&app, &jwt)
            .await
            .headers()
            .contains_key("x-ratelimit-limit")
    );
}

#[tokio::test]
async fn the_per_account_limiter_covers_jwts_and_keys_together() {
    let app = spawn_app_with(|c| {
        c.account_burst = 10;
        c.account_rate_per_second = 5;
    })
    .await;
    let jwt = user_on_tier(&app, "acct@example.com", "pro").await;
    // Creating the key is one request of the account.
    let (key, _) = create_key(&app, &jwt, json!({"name": "a"})).await;
    for i in 0..9 {
        let bearer = if i % 2 == 0 { &key } else { &jwt };
        assert_eq!(usage(&app, bearer).await.status(), 200, "request {i}");
    }
    let limited = usage(&app, &key).await;
    assert!(
        limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_error(limited, 429, "RateLimitExceeded").await;
    assert_error(usage(&app, &jwt).await, 429, "RateLimitExceeded").await;
    // Another account is not affected.
    let other = user_on_tier(&app, "other@example.com", "pro").await;
    assert_eq!(usage(&app, &other).await.status(), 200);
    // One second later, five more.
    app.clock.advance(Duration::from_secs(1));
    for _ in 0..5 {
        assert_eq!(usage(&app, &jwt).await.status(), 200);
    }
    assert_eq!(usage(&app, &jwt).await.status(), 429);
    app.clock.advance(Duration::from_secs(1));
    // The key's day counted only the key requests the account limiter let through.
    assert_eq!(used_today(&app, &jwt).await, 5);
}

fn internal<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("x-cloudsigma-service-token", SERVICE_TOKEN.parse().unwrap());
    request
}

#[tokio::test]
async fn record_usage_counts_up_to_the_free_allowance_and_no_further() {
    let app = spawn_app().await;
    let user = sign_up(&app, "rules@example.com").await;
    let user_id = user["userId"].as_str().unwrap().to_owned();
    let jwt = crate::auth::access(&crate::auth::sign_in(&app, "rules@example.com").await);
    let mut client = UsageServiceClient::new(app.channel().await);

    let status = client
        .record_usage(RecordUsageRequest {
            user_id: user_id.clone(),
            rules: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);

    let recorded = client
        .record_usage(internal(RecordUsageRequest {
            user_id: user_id.clone(),
            rules: 15,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((recorded.used, recorded.limit), (15, 20));
    let status = client
        .record_usage(internal(RecordUsageRequest {
            user_id: user_id.clone(),
            rules: 6,
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(reason(&status), "TierLimitExceeded");
    assert!(status.get_error_details().retry_info().is_some());
    let recorded = client
        .record_usage(internal(RecordUsageRequest {
            user_id: user_id.clone(),
            rules: 5,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(recorded.used, 20);
    let status = client
        .record_usage(internal(RecordUsageRequest {
            user_id: user_id.clone(),
            rules: 1,
        }))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "TierLimitExceeded");
    for bad in [0, -3] {
        let status = client
            .record_usage(internal(RecordUsageRequest {
                user_id: user_id.clone(),
                rules: bad,
            }))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }

    let (status, body) = envelope(usage(&app, &jwt).await).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        json!({"used": 20, "limit": 20, "tier": "free", "periodStart": "2026-02-01T00:00:00Z"})
    );
    // A new month starts from zero.
    app.clock.set("2026-03-01T00:00:00Z".parse().unwrap());
    let jwt = crate::auth::access(&crate::auth::sign_in(&app, "rules@example.com").await);
    let (_, body) = envelope(usage(&app, &jwt).await).await;
    assert_eq!(body["data"]["used"], 0);
    assert_eq!(body["data"]["periodStart"], "2026-03-01T00:00:00Z");
}

#[tokio::test]
async fn paid_tiers_have_no_monthly_ceiling() {
    let app = spawn_app().await;
    sign_up(&app, "big@example.com").await;
    crate::helpers::set_tier(&app, "big@example.com", "team").await;
    let user = cloudsigma_auth::store::users::find_by_email(app.db(), "big@example.com")
        .await
        .unwrap()
        .unwrap();
    let mut client = UsageServiceClient::new(app.channel().await);
    let recorded = client
        .record_usage(internal(RecordUsageRequest {
            user_id: user.id,
            rules: 5_000,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((recorded.used, recorded.limit), (5_000, -1));
}

#[tokio::test]
async fn authenticate_counts_an_api_key_like_a_rest_request() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "svc@example.com", "enterprise").await;
    let (key, prefix) = create_key(&app, &jwt, json!({"name": "svc", "dailyLimit": 2})).await;
    let mut client = AuthServiceClient::new(app.channel().await);

    let status = client
        .authenticate(AuthenticateRequest {
            token: key.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert_eq!(used_today(&app, &jwt).await, 0);

    // The key acts with its owner's current team.
    crate::helpers::set_tier_and_team(&app, "svc@example.com", "enterprise", Some("team-7")).await;
    app.clock.advance(Duration::from_secs(1));
    let response = client
        .authenticate(internal(AuthenticateRequest {
            token: key.clone(),
            ..Default::default()
        }))
        .await
        .unwrap();
    let metadata = response.metadata();
    assert_eq!(metadata.get("x-ratelimit-remaining").unwrap(), "1");
    assert_eq!(
        metadata.get("ratelimit-policy").unwrap(),
        "\"daily\";q=2;w=86400"
    );
    assert_eq!(
        metadata.get("ratelimit").unwrap(),
        format!("\"daily\";r=1;t={}", 14 * 3600 - 1).as_str()
    );
    let principal = response.into_inner();
    assert_eq!(principal.team_id, "team-7");
    assert_eq!(principal.method, "API_KEY");
    assert_eq!(principal.key_prefix, prefix);
    assert_eq!(principal.tier, "enterprise");
    assert_eq!(principal.email, "svc@example.com");
    let state = principal.rate_limit.unwrap();
    assert_eq!(
        (state.limit, state.remaining, state.reset),
        (2, 1, 1_771_113_600)
    );

    assert_eq!(usage(&app, &key).await.status(), 200);
    let status = client
        .authenticate(internal(AuthenticateRequest {
            token: key.clone(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(reason(&status), "RateLimitExceeded");
    let retry = status.get_error_details().retry_info().cloned().unwrap();
    assert_eq!(retry.retry_delay, Some(Duration::from_secs(14 * 3600 - 1)));
    assert_eq!(status.metadata().get("x-ratelimit-remaining").unwrap(), "0");
    assert_eq!(used_today(&app, &jwt).await, 2);

    let status = client
        .authenticate(internal(AuthenticateRequest {
            token: "csk_live_nothex".to_owned(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}

#[tokio::test]
async fn internal_rpcs_are_refused_when_no_service_token_is_configured() {
    let app = spawn_app_with(|c| c.service_token = None).await;
    let mut client = UsageServiceClient::new(app.channel().await);
    let status = client
        .record_usage(internal(RecordUsageRequest {
            user_id: "x".into(),
            rules: 1,
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert_eq!(reason(&status), "Forbidden");
}

#[tokio::test]
async fn an_enterprise_allowance_is_set_per_user() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "corp@example.com", "enterprise").await;
    let (_, body) = envelope(usage(&app, &jwt).await).await;
    assert_eq!(body["data"]["limit"], -1, "unlimited by default");

    crate::auth::cli(
        &app,
        &[
            "users",
            "set-tier",
            "corp@example.com",
            "enterprise",
            "--monthly-rules",
            "30",
        ],
    )
    .await;
    let jwt = crate::auth::access(&crate::auth::sign_in(&app, "corp@example.com").await);
    let (_, body) = envelope(usage(&app, &jwt).await).await;
    assert_eq!(body["data"]["limit"], 30);

    let user = cloudsigma_auth::store::users::find_by_email(app.db(), "corp@example.com")
        .await
        .unwrap()
        .unwrap();
    let mut client = UsageServiceClient::new(app.channel().await);
    let record = |rules| {
        internal(RecordUsageRequest {
            user_id: user.id.clone(),
            rules,
        })
    };
    assert_eq!(
        client
            .record_usage(record(30))
            .await
            .unwrap()
            .into_inner()
            .limit,
        30
    );
    let status = client.record_usage(record(1)).await.unwrap_err();
    assert_eq!(reason(&status), "TierLimitExceeded");
}
