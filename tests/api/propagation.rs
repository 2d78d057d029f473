//! CONTRACT §5: how changes reach every instance. Key revocation, a lowered limit and a
//! downgrade are decided by the counting statement, so they refuse the very next request on any
//! instance; sign-out, revoked sessions and tier changes reach the other instances through the
//! change log within a second. Two instances share one database (SQLite file or PostgreSQL).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::{
    auth::{access, cli, sign_in},
    helpers::{
        TestApp, assert_error, create_key, envelope, spawn_app_with, spawn_on, user_on_tier,
    },
};

/// The contract's bound for what travels through the change log.
const PROPAGATION_BOUND: Duration = Duration::from_secs(1);

fn wide_limits(c: &mut cloudsigma_auth::config::Config) {
    c.account_burst = 100_000;
    c.account_rate_per_second = 100_000;
    c.failed_auth_burst_per_address = 100_000;
    c.failed_auth_rate_per_minute_per_address = 100_000;
    c.issuer = Some("https://auth.cloudsigma.test".to_owned());
}

/// The service's time, for changes written the way the CLI writes them (a change dated long
/// ago would be purged as stale before an instance reads it).
fn now(app: &TestApp) -> i64 {
    use cloudsigma_auth::domain::clock::Clock;
    app.clock.now().timestamp()
}

async fn two_instances() -> (TestApp, TestApp) {
    let a = spawn_app_with(wide_limits).await;
    let b = spawn_on(&a.database_url, wide_limits).await;
    (a, b)
}

/// Changes a key's daily limit through `app`.
async fn set_daily_limit(app: &TestApp, jwt: &str, prefix: &str, limit: i32) {
    let response = app
        .send_json(
            Method::PATCH,
            &format!("/v1/api-keys/{prefix}"),
            Some(jwt),
            &json!({"dailyLimit": limit}),
        )
        .await;
    assert_eq!(response.status(), 200);
}

async fn usage_status(app: &TestApp, bearer: &str) -> u16 {
    app.get("/v1/usage", Some(bearer)).await.status().as_u16()
}

/// Sends `bearer` to `/v1/usage` on `app` until `done` accepts the answer, and returns how
/// long that took; fails past twice the bound.
async fn time_until(
    app: &TestApp,
    bearer: &str,
    done: impl Fn(u16, &serde_json::Value) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let (status, body) = envelope(app.get("/v1/usage", Some(bearer)).await).await;
        if done(status, &body) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < 2 * PROPAGATION_BOUND,
            "the change never arrived: {status} {body}"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_limit_lowered_through_one_instance_holds_on_the_next_request_of_another() {
    let (a, b) = two_instances().await;
    let jwt = user_on_tier(&a, "lower@example.com", "pro").await;
    let (key, prefix) = create_key(&a, &jwt, json!({"name": "ci"})).await;
    for _ in 0..3 {
        assert_eq!(usage_status(&b, &key).await, 200);
    }

    set_daily_limit(&a, &jwt, &prefix, 3).await;

    let refused = b.get("/v1/usage", Some(&key)).await;
    assert_eq!(refused.headers()["x-ratelimit-limit"], "3");
    assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
    assert!(refused.headers().contains_key("retry-after"));
    assert_error(refused, 429, "RateLimitExceeded").await;

    // Raised again, the day's count is intact: 3 used of 5.
    set_daily_limit(&a, &jwt, &prefix, 5).await;
    let allowed = b.get("/v1/usage", Some(&key)).await;
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["x-ratelimit-limit"], "5");
    assert_eq!(allowed.headers()["x-ratelimit-remaining"], "1");
}

#[tokio::test]
async fn a_downgrade_refuses_keys_on_the_next_request_of_every_instance() {
    let (a, b) = two_instances().await;
    let jwt = user_on_tier(&a, "down@example.com", "team").await;
    let (key, _) = create_key(&a, &jwt, json!({"name": "ci"})).await;
    assert_eq!(usage_status(&a, &key).await, 200);
    assert_eq!(usage_status(&b, &key).await, 200);

    // What `users set-tier` does, with no wait for the instances to hear of it.
    let found =
        cloudsigma_auth::store::users::set_tier(a.db(), "down@example.com", "free", None, now(&a))
            .await
            .unwrap();
    assert!(found);

    for app in [&a, &b] {
        let refused = app.get("/v1/usage", Some(&key)).await;
        assert!(refused.headers().contains_key("x-ratelimit-limit"));
        assert_error(refused, 403, "Forbidden").await;
    }
}

#[tokio::test]
async fn no_request_sent_after_a_revocation_was_answered_succeeds() {
    let app = spawn_app_with(wide_limits).await;
    let jwt = user_on_tier(&app, "race@example.com", "enterprise").await;
    let (key, prefix) = create_key(&app, &jwt, json!({"name": "race", "dailyLimit": 100000})).await;
    assert_eq!(usage_status(&app, &key).await, 200);

    let revoked_at = std::sync::Arc::new(std::sync::OnceLock::<Instant>::new());
    let mut users = Vec::new();
    for _ in 0..32 {
        let (http, url, key, revoked_at) = (
            app.http.clone(),
            app.url("/v1/usage"),
            key.clone(),
            revoked_at.clone(),
        );
        users.push(tokio::spawn(async move {
            let mut late_successes = 0;
            let mut refusals_after = 0;
            // Each user keeps going until it has seen the key refused twice after the answer.
            while refusals_after < 2 {
                let sent = Instant::now();
                let status = http
                    .get(&url)
                    .bearer_auth(&key)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                let after = revoked_at.get().is_some_and(|at| sent > *at);
                match status {
                    200 if after => late_successes += 1,
                    200 => {}
                    401 if after => refusals_after += 1,
                    401 => {}
                    other => panic!("unexpected status {other}"),
                }
            }
            late_successes
        }));
    }
    // Revoke while the users are busy.
    for _ in 0..20 {
        assert_eq!(usage_status(&app, &key).await, 200);
    }
    let response = app
        .send_json(
            Method::DELETE,
            &format!("/v1/api-keys/{prefix}"),
            Some(&jwt),
            &json!({}),
        )
        .await;
    revoked_at.set(Instant::now()).unwrap();
    assert_eq!(response.status(), 200);

    for user in users {
        assert_eq!(
            user.await.unwrap(),
            0,
            "a request sent after the DELETE got a 200"
        );
    }
}

#[tokio::test]
async fn signing_out_on_one_instance_fails_the_token_on_another_within_a_second() {
    let (a, b) = two_instances().await;
    crate::auth::sign_up(&a, "away@example.com").await;
    let jwt = access(&sign_in(&a, "away@example.com").await);
    assert_eq!(usage_status(&b, &jwt).await, 200);

    let response = a.post("/v1/auth/sign-out", Some(&jwt), &json!({})).await;
    assert_eq!(response.status(), 200);
    // The instance that signed out refuses at once.
    assert_error(a.get("/v1/usage", Some(&jwt)).await, 401, "Unauthorized").await;

    let took = time_until(&b, &jwt, |status, body| {
        status == 401 && body["error"]["code"] == "Unauthorized"
    })
    .await;
    println!("sign-out reached the other instance in {took:?}");
    assert!(took < PROPAGATION_BOUND, "took {took:?}");
}

#[tokio::test]
async fn a_replayed_refresh_token_fails_the_session_on_another_instance_within_a_second() {
    let (a, b) = two_instances().await;
    crate::auth::sign_up(&a, "replay@example.com").await;
    let tokens = sign_in(&a, "replay@example.com").await;
    let jwt = access(&tokens);
    let refresh = tokens["refreshToken"].as_str().unwrap().to_owned();
    assert_eq!(usage_status(&b, &jwt).await, 200);

    let body = json!({"refreshToken": refresh});
    let rotate = || a.post("/v1/auth/refresh", None, &body);
    assert_eq!(rotate().await.status(), 200);
    a.clock.advance(Duration::from_secs(60));
    assert_error(rotate().await, 401, "Unauthorized").await;

    let took = time_until(&b, &jwt, |status, _| status == 401).await;
    println!("refresh reuse reached the other instance in {took:?}");
    assert!(took < PROPAGATION_BOUND, "took {took:?}");
}

#[tokio::test]
async fn a_tier_change_reaches_every_instance_within_a_second() {
    let (a, b) = two_instances().await;
    let jwt = user_on_tier(&a, "upgrade@example.com", "pro").await;
    for app in [&a, &b] {
        let (_, body) = envelope(app.get("/v1/usage", Some(&jwt)).await).await;
        assert_eq!(body["data"]["tier"], "pro");
    }

    // What `users set-tier` does (another process), timed from its commit.
    let found = cloudsigma_auth::store::users::set_tier(
        a.db(),
        "upgrade@example.com",
        "team",
        Some(Some("team-9".to_owned())),
        now(&a),
    )
    .await
    .unwrap();
    assert!(found);

    for app in [&a, &b] {
        let took = time_until(app, &jwt, |status, body| {
            status == 200 && body["data"]["tier"] == "team"
        })
        .await;
        println!("the tier change reached an instance in {took:?}");
        assert!(took < PROPAGATION_BOUND, "took {took:?}");
    }
}

#[tokio::test]
async fn the_cli_tier_change_is_seen_by_a_running_instance() {
    let (a, _b) = two_instances().await;
    let jwt = user_on_tier(&a, "cli@example.com", "pro").await;
    let (_, body) = envelope(a.get("/v1/usage", Some(&jwt)).await).await;
    assert_eq!(body["data"]["tier"], "pro");
    // `cli` returns once the instance has read the change the CLI logged.
    cli(&a, &["users", "set-tier", "cli@example.com", "enterprise"]).await;
    let (_, body) = envelope(a.get("/v1/usage", Some(&jwt)).await).await;
    assert_eq!(body["data"]["tier"], "enterprise");
}
