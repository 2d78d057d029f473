//! Floods of bad credentials: failed authentications limited per client address bucket (IPv6
//! per prefix), `Authenticate` limited by the end client's address, unknown API keys refused
//! from memory, and unknown `kid`s reloading the key set at most once per interval.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use clap::Parser;
use cloudsigma_auth::{
    auth::KeyRing,
    config::{Cli, Config},
    domain::{api_key::ApiKeySecret, clock::FakeClock},
    proto::cloudsigma::v1::{
        AuthenticateRequest, GetUsageRequest, auth_service_client::AuthServiceClient,
        usage_service_client::UsageServiceClient,
    },
    startup::{Application, Dependencies},
};
use serde_json::json;
use tokio::sync::oneshot;
use tonic_types::StatusExt;

use crate::{
    auth::{access, sign_in, signed_in},
    helpers::{
        SERVICE_TOKEN, TestApp, assert_error, create_key, fresh_database, reason, spawn_app,
        spawn_app_with, start_time, user_on_tier,
    },
};

/// A small failure budget: `burst` failures, then one more a second.
fn failure_budget(burst: u32) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.failed_auth_burst_per_address = burst;
        c.failed_auth_rate_per_minute_per_address = 60;
    }
}

/// A well-formed API key that was never issued.
fn unknown_key() -> String {
    ApiKeySecret::generate().expose().to_owned()
}

/// An RS256 token naming a key id nobody issued (its signature is never reached).
fn token_with_unknown_kid() -> String {
    let kid = uuid::Uuid::new_v4().simple().to_string();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let claims = json!({"sub": "x", "exp": 4_000_000_000_i64, "iss": "x"});
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode([7_u8; 256]),
    )
}

/// `token` with its signature changed.
fn with_bad_signature(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[0] ^= 1;
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn internal<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("x-cloudsigma-service-token", SERVICE_TOKEN.parse().unwrap());
    request
}

fn authenticate(token: &str, client_address: &str) -> tonic::Request<AuthenticateRequest> {
    internal(AuthenticateRequest {
        token: token.to_owned(),
        client_address: client_address.to_owned(),
    })
}

/// A RESOURCE_EXHAUSTED status as the contract shapes it: RateLimitExceeded, RetryInfo and
/// `retry-after`.
fn assert_rate_limited(status: &tonic::Status) {
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert_eq!(reason(status), "RateLimitExceeded");
    let retry = status.get_error_details().retry_info().cloned();
    assert_eq!(
        retry.and_then(|r| r.retry_delay),
        Some(Duration::from_secs(1))
    );
    assert_eq!(status.metadata().get("retry-after").unwrap(), "1");
}

async fn usage_with_forwarded(app: &TestApp, bearer: &str, client: &str) -> reqwest::Response {
    app.http
        .get(app.url("/v1/usage"))
        .bearer_auth(bearer)
        .header("x-forwarded-for", client)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn failed_authentications_past_the_burst_block_every_credential_from_the_address() {
    let app = spawn_app_with(failure_budget(3)).await;
    let jwt = user_on_tier(&app, "flood@example.com", "pro").await;
    let (key, _) = create_key(&app, &jwt, json!({"name": "ci"})).await;

    let bad = [
        unknown_key(),
        token_with_unknown_kid(),
        with_bad_signature(&jwt),
    ];
    for token in &bad {
        assert_error(app.get("/v1/usage", Some(token)).await, 401, "Unauthorized").await;
    }
    // The address is blocked: a right credential is refused unchecked like a wrong one, so
    // guessing learns nothing while it lasts.
    for token in [&key, &jwt, &bad[0]] {
        let response = app.get("/v1/usage", Some(token)).await;
        assert_eq!(response.headers()["retry-after"], "1");
        assert_error(response, 429, "RateLimitExceeded").await;
    }
    // No credential, nothing checked: still the plain 401.
    assert_error(app.get("/v1/usage", None).await, 401, "Unauthorized").await;

    let mut grpc = UsageServiceClient::new(app.channel().await);
    let mut request = tonic::Request::new(GetUsageRequest::default());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    assert_rate_limited(&grpc.get_usage(request).await.unwrap_err());

    // One failure refills a second later.
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(app.get("/v1/usage", Some(&key)).await.status(), 200);
    assert_error(
        app.get("/v1/usage", Some(&bad[0])).await,
        401,
        "Unauthorized",
    )
    .await;
    let response = app.get("/v1/usage", Some(&key)).await;
    assert_error(response, 429, "RateLimitExceeded").await;
}

#[tokio::test]
async fn ipv6_clients_behind_a_trusted_proxy_are_limited_per_64_prefix() {
    let app = spawn_app_with(|c| {
        failure_budget(2)(c);
        c.auth_burst_per_address = 2;
        // Parsed as an operator writes it, whatever type the list holds.
        c.trusted_proxies = Cli::parse_from(["cloudsigma-auth", "--trusted-proxies", "127.0.0.1"])
            .config
            .trusted_proxies;
    })
    .await;
    let jwt = user_on_tier(&app, "six@example.com", "pro").await;
    let (key, _) = create_key(&app, &jwt, json!({"name": "ci"})).await;

    for client in ["2001:db8:1:2::1", "2001:db8:1:2::2"] {
        let response = usage_with_forwarded(&app, &unknown_key(), client).await;
        assert_error(response, 401, "Unauthorized").await;
    }
    // Another address of the same /64 is in the same, now blocked, bucket.
    let response = usage_with_forwarded(&app, &key, "2001:db8:1:2:ffff::9").await;
    assert_error(response, 429, "RateLimitExceeded").await;
    // The neighbouring /64 and the proxy itself are other buckets.
    let response = usage_with_forwarded(&app, &key, "2001:db8:1:3::1").await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.get("/v1/usage", Some(&key)).await.status(), 200);

    // Sign-in is limited per /64 as well.
    let sign_in_from = |client: &'static str| {
        app.http
            .post(app.url("/v1/auth/sign-in"))
            .header("x-forwarded-for", client)
            .json(&json!({"email": "six@example.com", "password": "wrong password"}))
            .send()
    };
    for client in ["2001:db8:9:9::1", "2001:db8:9:9::2"] {
        assert_error(sign_in_from(client).await.unwrap(), 401, "Unauthorized").await;
    }
    let response = sign_in_from("2001:db8:9:9:abcd::1").await.unwrap();
    assert!(response.headers().contains_key("retry-after"));
    assert_error(response, 429, "RateLimitExceeded").await;
}

#[tokio::test]
async fn authenticate_is_limited_by_the_client_address_it_is_given_not_the_callers() {
    let app = spawn_app_with(failure_budget(2)).await;
    let jwt = user_on_tier(&app, "gateway@example.com", "pro").await;
    let (key, _) = create_key(&app, &jwt, json!({"name": "ci"})).await;
    let mut client = AuthServiceClient::new(app.channel().await);

    // Without an end-client address the caller is never limited: it fronts many clients.
    for _ in 0..5 {
        let status = client
            .authenticate(authenticate(&unknown_key(), ""))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }
    for address in ["2001:db8:a:b::1", "2001:db8:a:b::2"] {
        let status = client
            .authenticate(authenticate(&unknown_key(), address))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }
    // The end client's /64 is blocked, even for a valid key.
    let status = client
        .authenticate(authenticate(&key, "2001:db8:a:b:ffff::1"))
        .await
        .unwrap_err();
    assert_rate_limited(&status);
    // Other clients of the same caller, and the caller itself, go on.
    for address in ["2001:db8:a:c::1", "192.0.2.1", ""] {
        let principal = client
            .authenticate(authenticate(&key, address))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(principal.method, "API_KEY");
    }
    assert_eq!(app.get("/v1/usage", Some(&key)).await.status(), 200);

    // An IPv4-mapped IPv6 address is the IPv4 client.
    for address in ["::ffff:198.51.100.7", "198.51.100.7"] {
        let status = client
            .authenticate(authenticate(&unknown_key(), address))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }
    let status = client
        .authenticate(authenticate(&key, "198.51.100.7"))
        .await
        .unwrap_err();
    assert_rate_limited(&status);

    let status = client
        .authenticate(authenticate(&key, "not an address"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(reason(&status), "ValidationError");
}

#[tokio::test]
async fn unknown_keys_and_invalid_jwts_are_refused_without_a_database_query() {
    let app = spawn_app().await;
    let tokens = signed_in(&app, "cheap@example.com").await;
    let jwt = access(&tokens);
    let expired = access(&sign_in(&app, "cheap@example.com").await);
    let unknown = unknown_key();
    assert_error(
        app.get("/v1/usage", Some(&unknown)).await,
        401,
        "Unauthorized",
    )
    .await;

    app.db().close_by_ref().await.unwrap();
    // The database is really gone: a key it has not been asked about cannot be judged.
    assert_error(
        app.get("/v1/usage", Some(&unknown_key())).await,
        503,
        "ServiceUnavailable",
    )
    .await;
    // The same unknown key again is refused from memory.
    assert_error(
        app.get("/v1/usage", Some(&unknown)).await,
        401,
        "Unauthorized",
    )
    .await;
    for token in [with_bad_signature(&jwt), token_with_unknown_kid()] {
        assert_error(
            app.get("/v1/usage", Some(&token)).await,
            401,
            "Unauthorized",
        )
        .await;
    }
    // Past its lifetime the token is refused on its own claims.
    app.clock.advance(Duration::from_secs(2 * 3600));
    assert_error(
        app.get("/v1/usage", Some(&expired)).await,
        401,
        "Unauthorized",
    )
    .await;
}

/// An application whose key ring the test can watch.
struct Watched {
    http: reqwest::Client,
    url: String,
    clock: Arc<FakeClock>,
    ring: Arc<KeyRing>,
    _stop: oneshot::Sender<()>,
    _dir: Option<tempfile::TempDir>,
}

async fn spawn_watched() -> Watched {
    let (database_url, dir) = fresh_database().await;
    let mut config = Config::with_defaults("127.0.0.1:0".parse().unwrap(), &database_url);
    // Every forged token below fails; this test is about reloads, not the failure limit.
    config.failed_auth_burst_per_address = 10_000;
    let clock = Arc::new(FakeClock::new(start_time()));
    let app = Application::build(
        config,
        Dependencies {
            clock: clock.clone(),
        },
    )
    .await
    .expect("application starts");
    let url = format!("http://{}/v1/usage", app.local_addr());
    let ring = app.key_ring();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        stopped.await.ok();
    }));
    Watched {
        http: reqwest::Client::new(),
        url,
        clock,
        ring,
        _stop: stop,
        _dir: dir,
    }
}

/// Sends `n` tokens with distinct unknown `kid`s at once; all must be refused with 401.
async fn flood_of_unknown_kids(app: &Watched, n: usize) {
    let requests = (0..n).map(|_| {
        app.http
            .get(&app.url)
            .bearer_auth(token_with_unknown_kid())
            .send()
    });
    for response in futures_util::future::join_all(requests).await {
        assert_error(response.unwrap(), 401, "Unauthorized").await;
    }
}

#[tokio::test]
async fn concurrent_unknown_kids_share_one_key_set_reload_per_interval() {
    let app = spawn_watched().await;
    assert_eq!(app.ring.reloads(), 0);

    app.clock.advance(Duration::from_secs(2));
    flood_of_unknown_kids(&app, 64).await;
    assert_eq!(app.ring.reloads(), 1, "one reload for the whole flood");

    // Within the interval, unknown kids are refused from the fresh copy.
    flood_of_unknown_kids(&app, 64).await;
    assert_eq!(app.ring.reloads(), 1);

    app.clock.advance(Duration::from_secs(2));
    flood_of_unknown_kids(&app, 64).await;
    assert_eq!(app.ring.reloads(), 2);
}
