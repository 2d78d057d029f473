//! Trusted external issuers: tokens of a Cognito user pool (played by `cognito_pool`) accepted
//! exactly like our own, and every way such a token or its issuer can be wrong refused with a
//! 401, never a 500 and never a fetch per request.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use cloudsigma_auth::{
    config::Config,
    proto::cloudsigma::v1::{AuthenticateRequest, auth_service_client::AuthServiceClient},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::{
    auth::cli,
    cognito_pool::{Behaviour, CLIENT_ID, Pool},
    helpers::{
        SERVICE_TOKEN, TestApp, assert_error, changes_read, create_key, envelope, list_keys,
        spawn_app_with, spawn_on,
    },
};

/// Writes a trusted-issuers file for these entries; the directory lives as long as the guard.
fn issuers_file(entries: &[String]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("issuers.toml");
    std::fs::write(&path, entries.join("\n")).unwrap();
    (dir, path)
}

fn trusting(path: PathBuf) -> impl FnOnce(&mut Config) {
    move |config: &mut Config| {
        config.trusted_issuers = Some(path);
        config.issuer = Some("https://auth.cloudsigma.test".to_owned());
        // These tests send many refused tokens from one address on purpose.
        config.failed_auth_burst_per_address = 100_000;
        config.failed_auth_rate_per_minute_per_address = 100_000;
        // ... and one test polls a second instance until the sign-out reaches it.
        config.account_burst = 100_000;
        config.account_rate_per_second = 100_000;
    }
}

/// An app trusting `entries`, once it has fetched `pool`'s JWKS at start-up.
async fn app_trusting(pool: &Pool, entries: &[String]) -> TestApp {
    let (_dir, path) = issuers_file(entries);
    let app = spawn_app_with(trusting(path)).await;
    pool.fetched(1).await;
    app
}

async fn usage_status(app: &TestApp, bearer: &str) -> u16 {
    app.get("/v1/usage", Some(bearer)).await.status().as_u16()
}

#[tokio::test]
async fn a_cognito_access_token_is_accepted_like_our_own_on_every_door() {
    let pool = Pool::start("eu-west-1_AbC123xyz", 1).await;
    let app = app_trusting(&pool, &[pool.entry("")]).await;
    let token = pool.access_token(&app, "sub-alice", "origin-1", 0, |_| {});

    let (status, body) = envelope(app.get("/v1/usage", Some(&token)).await).await;
    assert_eq!(status, 200, "{body}");

    // The gateway check says who it is.
    let response = app.get("/authz/check/v1/usage", Some(&token)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-cloudsigma-auth-method"], "JWT");
    assert_eq!(response.headers()["x-cloudsigma-tier"], "free");
    let user_id = response.headers()["x-cloudsigma-user-id"].to_str().unwrap();
    assert!(
        !user_id.is_empty() && user_id != "sub-alice",
        "a local user id"
    );

    // The internal Authenticate RPC takes it too.
    let mut client = AuthServiceClient::new(app.channel().await);
    let mut request = tonic::Request::new(AuthenticateRequest {
        token: token.clone(),
        ..Default::default()
    });
    request
        .metadata_mut()
        .insert("x-cloudsigma-service-token", SERVICE_TOKEN.parse().unwrap());
    let principal = client.authenticate(request).await.unwrap().into_inner();
    assert_eq!(principal.user_id, user_id);
    assert_eq!(principal.method, "JWT");

    // Its sign-in is listed as a session of the user, and is the caller's own.
    let (status, body) = envelope(app.get("/v1/auth/sessions", Some(&token)).await).await;
    assert_eq!(status, 200, "{body}");
    let sessions = body["data"]["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{body}");
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(
        pool.fetches(),
        1,
        "verified with the key fetched at start-up"
    );
}

#[tokio::test]
async fn tokens_of_an_untrusted_issuer_or_signed_by_another_trusted_issuer_are_refused() {
    let trusted = Pool::start("eu-west-1_Trusted1", 1).await;
    let other = Pool::start("eu-west-1_Trusted2", 1).await;
    let stranger = Pool::start("eu-west-1_Stranger", 1).await;
    let (_dir, path) = issuers_file(&[trusted.entry(""), other.entry("")]);
    let app = spawn_app_with(trusting(path)).await;
    trusted.fetched(1).await;
    other.fetched(1).await;

    // A pool nobody configured.
    let token = stranger.access_token(&app, "sub-x", "o-1", 0, |_| {});
    assert_error(
        app.get("/v1/usage", Some(&token)).await,
        401,
        "Unauthorized",
    )
    .await;
    // Issuer confusion: signed with one trusted pool's key, claiming the other pool.
    let confused = trusted.access_token(&app, "sub-x", "o-2", 0, |claims| {
        claims.insert("iss".into(), json!(other.iss));
    });
    for _ in 0..20 {
        assert_error(
            app.get("/v1/usage", Some(&confused)).await,
            401,
            "Unauthorized",
        )
        .await;
    }
    assert_eq!(
        stranger.fetches(),
        0,
        "an untrusted issuer is never contacted"
    );
    assert_eq!(
        other.fetches(),
        1,
        "a foreign kid within the refetch interval causes no fetch"
    );
    // Our own issuer still works beside them.
    crate::auth::sign_up(&app, "own@example.com").await;
    let own = crate::auth::access(&crate::auth::sign_in(&app, "own@example.com").await);
    assert_eq!(usage_status(&app, &own).await, 200);
}

#[tokio::test]
async fn the_wrong_client_an_id_token_or_a_token_out_of_its_time_is_refused() {
    let pool = Pool::start("eu-west-1_Claims", 1).await;
    let app = app_trusting(&pool, &[pool.entry("")]).await;
    let now = {
        use cloudsigma_auth::domain::clock::Clock;
        app.clock.now().timestamp()
    };
    let refused = [
        pool.access_token(&app, "s", "o", 0, |c| {
            c.insert("client_id".into(), json!("another-client"));
        }),
        pool.access_token(&app, "s", "o", 0, |c| {
            c.remove("client_id");
            c.insert("aud".into(), json!(CLIENT_ID));
        }),
        pool.id_token(&app, "s", "s@example.com", "pro", 0),
        pool.access_token(&app, "s", "o", 0, |c| {
            c.insert("exp".into(), json!(now - 60));
        }),
        pool.access_token(&app, "s", "o", 0, |c| {
            c.insert("nbf".into(), json!(now + 600));
        }),
        pool.access_token(&app, "s", "o", 0, |c| {
            c.insert("iat".into(), json!(now + 600));
        }),
        pool.access_token(&app, "s", "o", 0, |c| {
            c.insert("token_use".into(), json!("refresh"));
        }),
        pool.access_token(&app, "s", "o", 0, |c| {
            c.remove("origin_jti");
            c.remove("jti");
        }),
        pool.access_token(&app, "s", "o", 0, |c| {
            c.insert("iss".into(), json!(format!("{}/", pool.iss)));
        }),
    ];
    for (i, token) in refused.iter().enumerate() {
        let response = app.get("/v1/usage", Some(token)).await;
        assert_eq!(response.status(), 401, "case {i}");
        assert_error(response, 401, "Unauthorized").await;
    }
    // The same claims with the right client pass.
    let good = pool.access_token(&app, "s", "o", 0, |_| {});
    assert_eq!(usage_status(&app, &good).await, 200);
}

#[tokio::test]
async fn id_tokens_are_accepted_when_the_issuer_allows_them() {
    let pool = Pool::start("eu-west-1_IdTokens", 1).await;
    let app = app_trusting(&pool, &[pool.entry("token_use = [\"access\", \"id\"]")]).await;
    let id = pool.id_token(&app, "sub-id", "id@example.com", "pro", 0);
    let response = app.get("/authz/check/v1/usage", Some(&id)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-cloudsigma-email"], "id@example.com");
}

#[tokio::test]
async fn an_algorithm_other_than_rs256_or_a_key_in_the_header_is_refused() {
    let pool = Pool::start("eu-west-1_Algs", 1).await;
    let app = app_trusting(&pool, &[pool.entry("")]).await;
    let claims = {
        let token = pool.access_token(&app, "s", "o", 0, |_| {});
        let payload = token.split('.').nth(1).unwrap().to_owned();
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
    };
    let kid = pool.key(0).kid.clone();
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some(kid.clone());
    // A header that points at a key elsewhere is refused even with a good signature.
    let mut with_jku = Header::new(Algorithm::RS256);
    with_jku.kid = Some(kid.clone());
    with_jku.jku = Some("http://127.0.0.1:1/jwks.json".to_owned());
    let no_kid = Header::new(Algorithm::RS256);
    let refused = [
        pool.sign(&claims, 0, Algorithm::RS512),
        pool.sign(&claims, 0, Algorithm::PS256),
        jsonwebtoken::encode(&hs256, &claims, &EncodingKey::from_secret(b"secret")).unwrap(),
        pool.sign_with_header(&claims, 0, with_jku),
        pool.sign_with_header(&claims, 0, no_kid),
        // alg "none", hand-made: no library will sign it.
        {
            use base64::Engine;
            let b64 = |v: &serde_json::Value| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
            };
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "kid": kid})),
                b64(&claims)
            )
        },
    ];
    for (i, token) in refused.iter().enumerate() {
        let response = app.get("/v1/usage", Some(token)).await;
        assert_eq!(response.status(), 401, "case {i}");
        assert_error(response, 401, "Unauthorized").await;
    }
    // The same claims signed as the pool signs are accepted.
    let good = pool.sign(&claims, 0, Algorithm::RS256);
    assert_eq!(usage_status(&app, &good).await, 200);
    assert_eq!(pool.fetches(), 1, "no refetch for any of them");
}

#[tokio::test]
async fn a_missing_or_unknown_kid_causes_one_refetch_at_most() {
    let pool = Pool::start("eu-west-1_Kids", 1).await;
    let app = app_trusting(&pool, &[pool.entry("")]).await;
    // Past the refetch interval, a flood of made-up key ids costs the issuer one request.
    app.clock.advance(Duration::from_secs(11));
    let claims = json!({"sub": "s", "iss": pool.iss, "client_id": CLIENT_ID, "origin_jti": "o",
        "token_use": "access", "iat": 0, "exp": i64::MAX / 2});
    let mut users = Vec::new();
    for i in 0..30 {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(format!("made-up-{i}"));
        let token = pool.sign_with_header(&claims, 0, header);
        let app_url = app.url("/v1/usage");
        let http = app.http.clone();
        users.push(tokio::spawn(async move {
            http.get(app_url).bearer_auth(token).send().await.unwrap()
        }));
    }
    for user in users {
        assert_error(user.await.unwrap(), 401, "Unauthorized").await;
    }
    assert_eq!(pool.fetches(), 2, "one refetch for thirty unknown kids");
    let no_kid = pool.sign_with_header(&claims, 0, Header::new(Algorithm::RS256));
    assert_error(
        app.get("/v1/usage", Some(&no_kid)).await,
        401,
        "Unauthorized",
    )
    .await;
    assert_eq!(pool.fetches(), 2, "a token without a kid fetches nothing");
}

#[tokio::test]
async fn a_new_key_at_the_issuer_is_fetched_once_and_accepted() {
    let pool = Pool::start("eu-west-1_Rotate", 2).await;
    let app = app_trusting(&pool, &[pool.entry("")]).await;
    let old = pool.access_token(&app, "s", "o-old", 0, |_| {});
    assert_eq!(usage_status(&app, &old).await, 200);

    pool.publish(&[0, 1]);
    app.clock.advance(Duration::from_secs(11));
    let new = pool.access_token(&app, "s", "o-new", 1, |_| {});
    assert_eq!(usage_status(&app, &new).await, 200);
    assert_eq!(usage_status(&app, &new).await, 200);
    assert_eq!(usage_status(&app, &old).await, 200);
    assert_eq!(pool.fetches(), 2, "one refetch for the new kid");
}

#[tokio::test]
async fn a_key_dropped_from_the_jwks_stops_verifying_after_the_refresh() {
    let pool = Pool::start("eu-west-1_Drop", 2).await;
    pool.publish(&[0, 1]);
    pool.cache_control("public, max-age=120");
    let app = app_trusting(&pool, &[pool.entry("")]).await;
    let dropped = pool.access_token(&app, "s", "o-1", 0, |_| {});
    let kept = pool.access_token(&app, "s", "o-2", 1, |_| {});
    assert_eq!(usage_status(&app, &dropped).await, 200);

    pool.publish(&[1]);
    app.clock.advance(Duration::from_secs(121));
    // The stale set still answers while it is read again in the background.
    assert_eq!(usage_status(&app, &dropped).await, 200);
    pool.fetched(2).await;
    let refused = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let response = app.get("/v1/usage", Some(&dropped)).await;
            if response.status() == 401 {
                return response;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the dropped key is refused once the new set is in");
    assert_error(refused, 401, "Unauthorized").await;
    assert_eq!(usage_status(&app, &kept).await, 200);
}

#[tokio::test]
async fn a_broken_jwks_endpoint_refuses_its_tokens_and_harms_nothing_else() {
    let cases = [
        Behaviour::Fail500,
        Behaviour::Html,
        Behaviour::Huge,
        Behaviour::HugeStreamed,
        Behaviour::SymmetricKeys,
        Behaviour::Slow,
    ];
    for behaviour in cases {
        let pool = Pool::start("eu-west-1_Broken", 1).await;
        pool.behave(behaviour);
        let (_dir, path) = issuers_file(&[pool.entry("")]);
        // Start-up does not wait for the issuer: a slow one would hold it for 10 s.
        let app = spawn_app_with(|config| {
            trusting(path)(config);
            config.jwks_timeout_ms = 500;
        })
        .await;
        pool.fetched(1).await;
        let token = pool.access_token(&app, "s", "o", 0, |_| {});
        let started = Instant::now();
        let response = app.get("/v1/usage", Some(&token)).await;
        assert_eq!(response.status(), 401, "{behaviour:?}");
        assert_error(response, 401, "Unauthorized").await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{behaviour:?} held the request for {:?}",
            started.elapsed()
        );
        // Everything else keeps working.
        crate::auth::sign_up(&app, "other@example.com").await;
    }
}

#[tokio::test]
async fn an_issuer_failing_at_start_up_is_used_once_it_answers() {
    let pool = Pool::start("eu-west-1_Later", 1).await;
    pool.behave(Behaviour::Fail500);
    let app = app_trusting(&pool, &[pool.entry("")]).await;
    let token = pool.access_token(&app, "s", "o", 0, |_| {});
    assert_error(
        app.get("/v1/usage", Some(&token)).await,
        401,
        "Unauthorized",
    )
    .await;

    pool.behave(Behaviour::Serve);
    app.clock.advance(Duration::from_secs(11));
    assert_eq!(usage_status(&app, &token).await, 200);
    assert_eq!(pool.fetches(), 2);
}

#[tokio::test]
async fn an_issuer_that_cannot_be_reached_refuses_its_tokens_and_start_up_goes_on() {
    // A port that refuses connections, then a pool on another port: the file names the first.
    let pool = Pool::start("eu-west-1_Down", 1).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let entry = pool.entry(&format!(
        "jwks_uri = \"http://{closed}/eu-west-1_Down/.well-known/jwks.json\""
    ));
    let (_dir, path) = issuers_file(&[entry]);
    let app = spawn_app_with(trusting(path)).await;
    let token = pool.access_token(&app, "s", "o", 0, |_| {});
    let started = Instant::now();
    assert_error(
        app.get("/v1/usage", Some(&token)).await,
        401,
        "Unauthorized",
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(pool.fetches(), 0);
    crate::auth::sign_up(&app, "up@example.com").await;
}

#[tokio::test]
async fn tier_comes_from_the_token_when_the_issuer_is_authoritative() {
    let pool = Pool::start("eu-west-1_Authority", 1).await;
    let app = app_trusting(&pool, &[pool.entry("authoritative = true")]).await;
    let pro = pool.access_token(&app, "sub-p", "o-1", 0, |c| {
        c.insert("custom:tier".into(), json!("pro"));
        c.insert("custom:teamId".into(), json!("team-9"));
    });
    let response = app.get("/authz/check/v1/usage", Some(&pro)).await;
    assert_eq!(response.headers()["x-cloudsigma-tier"], "pro");
    assert_eq!(response.headers()["x-cloudsigma-team-id"], "team-9");
    // Keys made with it work like any other.
    let (key, _) = create_key(&app, &pro, json!({"name": "ci"})).await;
    let response = app.get("/v1/usage", Some(&key)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-ratelimit-limit"], "250");

    // A later token on the free tier downgrades the account, and its keys with it.
    let free = pool.access_token(&app, "sub-p", "o-2", 0, |c| {
        c.insert("custom:tier".into(), json!("free"));
    });
    assert_eq!(usage_status(&app, &free).await, 200);
    assert_error(app.get("/v1/usage", Some(&key)).await, 403, "Forbidden").await;
    assert_error(
        app.post("/v1/api-keys", Some(&free), &json!({"name": "more"}))
            .await,
        403,
        "Forbidden",
    )
    .await;
}

#[tokio::test]
async fn tier_comes_from_the_local_record_when_the_issuer_is_not_authoritative() {
    let pool = Pool::start("eu-west-1_Local", 1).await;
    let app = app_trusting(&pool, &[pool.entry("")]).await;
    let claims_enterprise = pool.access_token(&app, "sub-l", "o-1", 0, |c| {
        c.insert("custom:tier".into(), json!("enterprise"));
        c.insert("email".into(), json!("local@example.com"));
    });
    assert_error(
        app.post(
            "/v1/api-keys",
            Some(&claims_enterprise),
            &json!({"name": "x"}),
        )
        .await,
        403,
        "Forbidden",
    )
    .await;

    let printed = cli(
        &app,
        &[
            "users",
            "set-tier",
            "local@example.com",
            "team",
            "--user-issuer",
            &pool.iss,
        ],
    )
    .await;
    assert!(printed.contains("team tier"), "{printed}");
    let response = app
        .get("/authz/check/v1/usage", Some(&claims_enterprise))
        .await;
    assert_eq!(response.headers()["x-cloudsigma-tier"], "team");
    create_key(&app, &claims_enterprise, json!({"name": "x"})).await;
}

#[tokio::test]
async fn the_same_email_at_two_issuers_and_here_is_three_users() {
    let a = Pool::start("eu-west-1_PoolA", 1).await;
    let b = Pool::start("eu-west-1_PoolB", 1).await;
    let (_dir, path) = issuers_file(&[
        a.entry("authoritative = true"),
        b.entry("authoritative = true"),
    ]);
    let app = spawn_app_with(trusting(path)).await;
    a.fetched(1).await;
    b.fetched(1).await;
    let same = |c: &mut serde_json::Map<String, serde_json::Value>| {
        c.insert("email".into(), json!("same@example.com"));
        c.insert("custom:tier".into(), json!("pro"));
    };
    let at_a = a.access_token(&app, "sub-1", "o-a", 0, same);
    let at_b = b.access_token(&app, "sub-1", "o-b", 0, same);
    create_key(&app, &at_a, json!({"name": "a"})).await;
    assert_eq!(list_keys(&app, &at_a).await.len(), 1);
    assert_eq!(
        list_keys(&app, &at_b).await.len(),
        0,
        "B's user is another user"
    );
    // Our own sign-up with that email is a third account, not a takeover.
    crate::auth::sign_up(&app, "same@example.com").await;
    let own = crate::auth::access(&crate::auth::sign_in(&app, "same@example.com").await);
    assert_eq!(list_keys(&app, &own).await.len(), 0);
}

#[tokio::test]
async fn signing_out_an_external_token_refuses_its_sign_in_on_every_instance_within_a_second() {
    let pool = Pool::start("eu-west-1_SignOut", 1).await;
    let (_dir, path) = issuers_file(&[pool.entry("")]);
    let a = spawn_app_with(trusting(path.clone())).await;
    pool.fetched(1).await;
    let b = spawn_on(&a.database_url, trusting(path)).await;
    pool.fetched(2).await;
    let token = pool.access_token(&a, "sub-o", "origin-1", 0, |_| {});
    let other_sign_in = pool.access_token(&a, "sub-o", "origin-2", 0, |_| {});
    assert_eq!(usage_status(&a, &token).await, 200);
    assert_eq!(usage_status(&b, &token).await, 200);

    let response = a.post("/v1/auth/sign-out", Some(&token), &json!({})).await;
    assert_eq!(response.status(), 200);
    assert_error(a.get("/v1/usage", Some(&token)).await, 401, "Unauthorized").await;
    let start = Instant::now();
    loop {
        let status = usage_status(&b, &token).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(start.elapsed() < Duration::from_secs(2), "never refused");
        tokio::task::yield_now().await;
    }
    let took = start.elapsed();
    println!("an external sign-out reached the other instance in {took:?}");
    assert!(took < Duration::from_secs(1), "took {took:?}");

    // A new token of the same sign-in (as Cognito mints on refresh) is refused too; another
    // sign-in of the user is not.
    let refreshed = pool.access_token(&a, "sub-o", "origin-1", 0, |_| {});
    assert_error(
        b.get("/v1/usage", Some(&refreshed)).await,
        401,
        "Unauthorized",
    )
    .await;
    assert_error(
        a.get("/v1/usage", Some(&refreshed)).await,
        401,
        "Unauthorized",
    )
    .await;
    assert_eq!(usage_status(&b, &other_sign_in).await, 200);
    changes_read(&b).await;
}

#[tokio::test]
async fn a_malformed_trusted_issuers_file_stops_start_up_with_one_line() {
    let (_dir, path) = issuers_file(&[
        "[[issuer]]\niss = \"http://issuer.example/pool\"\nclient_ids = [\"a\"]".to_owned(),
    ]);
    let (database_url, _db_dir) = crate::helpers::fresh_database().await;
    let mut config = Config::with_defaults("127.0.0.1:0".parse().unwrap(), &database_url);
    config.trusted_issuers = Some(path);
    let err = cloudsigma_auth::startup::Application::build(
        config,
        cloudsigma_auth::startup::Dependencies::default(),
    )
    .await
    .err()
    .expect("start-up fails");
    let message = err.to_string();
    assert!(message.contains("issuers.toml"), "{message}");
    assert!(message.contains("loopback"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[tokio::test]
async fn issuers_check_prints_each_issuers_keys_or_why_not() {
    let good = Pool::start("eu-west-1_Good", 2).await;
    good.publish(&[0, 1]);
    let bad = Pool::start("eu-west-1_Bad", 1).await;
    bad.behave(Behaviour::Html);
    let (_dir, path) = issuers_file(&[good.entry(""), bad.entry("")]);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_cloudsigma-auth"))
            .args(["issuers", "check", "--trusted-issuers"])
            .arg(&path)
            .env("RUST_LOG", "off")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "a failing issuer fails the check");
    let good_line = stdout.lines().find(|l| l.starts_with(&good.iss)).unwrap();
    assert!(good_line.contains("ok, 2 RS256 key(s)"), "{stdout}");
    assert!(good_line.contains(&good.key(0).kid) && good_line.contains(&good.key(1).kid));
    let bad_line = stdout.lines().find(|l| l.starts_with(&bad.iss)).unwrap();
    assert!(
        bad_line.contains("error: the JWKS is not a JSON key set"),
        "{stdout}"
    );
}
