//! AuthService: sign-up, sign-in, lockout, tokens, refresh rotation, sign-out, JWKS, and the
//! attacks a bearer JWT must survive.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use cloudsigma_auth::{
    proto::cloudsigma::v1::{
        AuthenticateRequest, SignInRequest, auth_service_client::AuthServiceClient,
    },
    store::entities::signing_keys,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

use crate::helpers::{
    SERVICE_TOKEN, TestApp, assert_error, envelope, reason, spawn_app, spawn_app_with, spawn_on,
};

pub const PASSWORD: &str = "correct horse battery";

pub async fn sign_up(app: &TestApp, email: &str) -> Value {
    let response = app
        .post(
            "/v1/auth/sign-up",
            None,
            &json!({"email": email, "password": PASSWORD}),
        )
        .await;
    let (status, body) = envelope(response).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

/// Signs up and in; returns the sign-in `data`.
pub async fn signed_in(app: &TestApp, email: &str) -> Value {
    sign_up(app, email).await;
    sign_in(app, email).await
}

pub async fn sign_in(app: &TestApp, email: &str) -> Value {
    let response = app
        .post(
            "/v1/auth/sign-in",
            None,
            &json!({"email": email, "password": PASSWORD}),
        )
        .await;
    let (status, body) = envelope(response).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

pub fn access(tokens: &Value) -> String {
    tokens["accessToken"].as_str().unwrap().to_owned()
}

/// Runs the binary's admin CLI against the app's database, and waits until the app has read
/// the changes it logged.
pub async fn cli(app: &TestApp, args: &[&str]) -> String {
    let url = app.database_url.clone();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_cloudsigma-auth"))
            .args(&args)
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "off")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    })
    .await
    .unwrap();
    crate::helpers::changes_read(app).await;
    out
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn jwks(app: &TestApp) -> Value {
    let response = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    response.json().await.unwrap()
}

async fn usage_status(app: &TestApp, bearer: &str) -> u16 {
    app.get("/v1/usage", Some(bearer)).await.status().as_u16()
}

#[tokio::test]
async fn sign_up_creates_a_free_user_once_per_email() {
    let app = spawn_app().await;
    let user = sign_up(&app, "  Alice@Example.COM ").await;
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["tier"], "free");
    assert!(!user["userId"].as_str().unwrap().is_empty());
    let again = app
        .post(
            "/v1/auth/sign-up",
            None,
            &json!({"email": "ALICE@example.com", "password": "another password"}),
        )
        .await;
    assert_error(again, 409, "Conflict").await;
}

#[tokio::test]
async fn sign_up_validates_email_and_password_length() {
    let app = spawn_app().await;
    for (email, password) in [
        ("not-an-email", PASSWORD.to_owned()),
        ("a@b", PASSWORD.to_owned()),
        ("bob@example.com", "7 chars".to_owned()),
        ("bob@example.com", "p".repeat(257)),
    ] {
        let response = app
            .post(
                "/v1/auth/sign-up",
                None,
                &json!({"email": email, "password": password}),
            )
            .await;
        let body = assert_error(response, 400, "ValidationError").await;
        assert!(!body.to_string().contains(&password));
    }
    // 256 characters of any Unicode are accepted, and not truncated: a 255-character prefix
    // does not sign in.
    let long = "ü".repeat(256);
    let response = app
        .post(
            "/v1/auth/sign-up",
            None,
            &json!({"email": "long@example.com", "password": long}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let prefix: String = long.chars().take(255).collect();
    let response = app
        .post(
            "/v1/auth/sign-in",
            None,
            &json!({"email": "long@example.com", "password": prefix}),
        )
        .await;
    assert_error(response, 401, "Unauthorized").await;
}

#[tokio::test]
async fn a_sign_up_body_that_sets_tier_team_or_sub_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    for extra in [
        json!({"tier": "enterprise"}),
        json!({"teamId": "team-1"}),
        json!({"sub": "admin"}),
    ] {
        let mut body = json!({"email": "eve@example.com", "password": PASSWORD});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        assert_error(
            app.post("/v1/auth/sign-up", None, &body).await,
            400,
            "ValidationError",
        )
        .await;
    }
    let tokens = signed_in(&app, "eve@example.com").await;
    assert_eq!(claims_of(&access(&tokens))["custom:tier"], "free");
}

#[tokio::test]
async fn sign_in_issues_cognito_shaped_tokens_that_verify_against_the_jwks() {
    let app = spawn_app().await;
    let user = sign_up(&app, "carol@example.com").await;
    let response = app
        .post(
            "/v1/auth/sign-in",
            None,
            &json!({"email": "carol@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let (_, body) = envelope(response).await;
    let tokens = &body["data"];
    assert_eq!(tokens["expiresIn"], 3600);
    assert_eq!(tokens["tokenType"], "Bearer");
    assert!(tokens["refreshToken"].as_str().unwrap().len() >= 43);

    let jwks = jwks(&app).await;
    let key = &jwks["keys"][0];
    let mut fields: Vec<_> = key.as_object().unwrap().keys().cloned().collect();
    fields.sort();
    assert_eq!(fields, ["alg", "e", "kid", "kty", "n", "use"]);
    let decoding =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
    let issuer = format!("http://{}", app.addr);

    let access_token = tokens["accessToken"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(access_token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&issuer]);
    validation.validate_exp = false; // the test clock is in the past
    let claims = jsonwebtoken::decode::<Value>(access_token, &decoding, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], user["userId"]);
    assert_eq!(claims["token_use"], "access");
    assert_eq!(claims["client_id"], "cloudsigma_api");
    assert_eq!(claims["username"], user["userId"]);
    assert_eq!(claims["custom:tier"], "free");
    assert_eq!(claims["custom:teamId"], "");
    assert_eq!(
        claims["exp"].as_i64().unwrap(),
        claims["iat"].as_i64().unwrap() + 3600
    );
    for claim in ["jti", "auth_time", "origin_jti"] {
        assert!(!claims[claim].is_null(), "{claim}");
    }
    assert!(claims.get("aud").is_none());

    let id_token = tokens["idToken"].as_str().unwrap();
    validation.set_audience(&["cloudsigma_api"]);
    let id = jsonwebtoken::decode::<Value>(id_token, &decoding, &validation)
        .unwrap()
        .claims;
    assert_eq!(id["token_use"], "id");
    assert_eq!(id["email"], "carol@example.com");
    assert_eq!(id["cognito:username"], user["userId"]);
    assert_eq!(id["origin_jti"], claims["origin_jti"]);
    assert_eq!(id["custom:tier"], "free");
    assert!(id.get("client_id").is_none());
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let app = spawn_app().await;
    sign_up(&app, "dave@example.com").await;
    let wrong = app
        .post(
            "/v1/auth/sign-in",
            None,
            &json!({"email": "dave@example.com", "password": "wrong password"}),
        )
        .await;
    assert_eq!(wrong.headers()["www-authenticate"], "Bearer");
    let wrong = assert_error(wrong, 401, "Unauthorized").await;
    let unknown = app
        .post(
            "/v1/auth/sign-in",
            None,
            &json!({"email": "nobody@example.com", "password": "wrong password"}),
        )
        .await;
    let unknown = assert_error(unknown, 401, "Unauthorized").await;
    assert_eq!(wrong, unknown);
}

async fn sign_in_with(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.post(
        "/v1/auth/sign-in",
        None,
        &json!({"email": email, "password": password}),
    )
    .await
}

#[tokio::test]
async fn five_failures_lock_the_email_with_a_doubling_retry_after() {
    let app = spawn_app().await;
    sign_up(&app, "erin@example.com").await;
    for _ in 0..5 {
        let response = sign_in_with(&app, "Erin@example.com", "wrong password").await;
        assert_eq!(response.status(), 401);
    }
    // Locked for 1 s: even the right password is refused, and trying does not extend it.
    let locked = sign_in_with(&app, "erin@example.com", PASSWORD).await;
    assert_eq!(locked.headers()["retry-after"], "1");
    assert_error(locked, 429, "RateLimitExceeded").await;
    app.clock.advance(Duration::from_secs(1));
    // The sixth failure locks for 2 s.
    assert_eq!(
        sign_in_with(&app, "erin@example.com", "wrong password")
            .await
            .status(),
        401
    );
    let locked = sign_in_with(&app, "erin@example.com", PASSWORD).await;
    assert_eq!(locked.headers()["retry-after"], "2");
    app.clock.advance(Duration::from_secs(2));
    // A success resets the count.
    assert_eq!(
        sign_in_with(&app, "erin@example.com", PASSWORD)
            .await
            .status(),
        200
    );
    for _ in 0..4 {
        sign_in_with(&app, "erin@example.com", "wrong password").await;
    }
    assert_eq!(
        sign_in_with(&app, "erin@example.com", PASSWORD)
            .await
            .status(),
        200
    );

    // Emails that do not exist lock the same way.
    for _ in 0..5 {
        sign_in_with(&app, "ghost@example.com", "wrong password").await;
    }
    let locked = sign_in_with(&app, "ghost@example.com", "wrong password").await;
    assert_error(locked, 429, "RateLimitExceeded").await;
}

#[tokio::test]
async fn one_address_cannot_spray_sign_ins_past_its_burst() {
    let app = spawn_app_with(|c| {
        c.auth_burst_per_address = 3;
        c.auth_rate_per_minute_per_address = 60;
    })
    .await;
    for i in 0..3 {
        let response = sign_in_with(&app, &format!("u{i}@example.com"), "wrong password").await;
        assert_eq!(response.status(), 401);
    }
    let limited = sign_in_with(&app, "u9@example.com", "wrong password").await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_error(limited, 429, "RateLimitExceeded").await;
    app.clock.advance(Duration::from_secs(1));
    let response = sign_in_with(&app, "u9@example.com", "wrong password").await;
    assert_eq!(response.status(), 401);
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.post("/v1/auth/refresh", None, &json!({"refreshToken": token}))
        .await
}

#[tokio::test]
async fn refresh_rotates_and_a_replayed_token_revokes_the_session() {
    let app = spawn_app().await;
    let first = signed_in(&app, "frank@example.com").await;
    let old = first["refreshToken"].as_str().unwrap();

    let response = refresh(&app, old).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let (status, body) = envelope(response).await;
    assert_eq!(status, 200);
    let second = body["data"].clone();
    assert_ne!(second["refreshToken"], first["refreshToken"]);
    assert_eq!(second["expiresIn"], 3600);
    assert_eq!(
        claims_of(&access(&second))["origin_jti"],
        claims_of(&access(&first))["origin_jti"]
    );
    assert_eq!(usage_status(&app, &access(&second)).await, 200);

    // A second tab refreshing with the same token at the same moment still works, and gets
    // the same successor: the session keeps one lineage.
    let (status, body) = envelope(refresh(&app, old).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["refreshToken"], second["refreshToken"]);

    // Past the grace period, the old token is a replay: the whole session ends.
    app.clock.advance(Duration::from_secs(6));
    assert_error(refresh(&app, old).await, 401, "Unauthorized").await;
    let newest = second["refreshToken"].as_str().unwrap();
    assert_error(refresh(&app, newest).await, 401, "Unauthorized").await;
    assert_eq!(usage_status(&app, &access(&second)).await, 401);
}

#[tokio::test]
async fn refresh_tokens_end_thirty_days_after_sign_in() {
    let app = spawn_app().await;
    let tokens = signed_in(&app, "gina@example.com").await;
    let mut current = tokens["refreshToken"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        app.clock.advance(Duration::from_secs(14 * 24 * 3600));
        let (status, body) = envelope(refresh(&app, &current).await).await;
        assert_eq!(status, 200);
        current = body["data"]["refreshToken"].as_str().unwrap().to_owned();
    }
    app.clock.advance(Duration::from_secs(2 * 24 * 3600));
    assert_error(refresh(&app, &current).await, 401, "Unauthorized").await;
}

#[tokio::test]
async fn bad_refresh_tokens_are_401() {
    let app = spawn_app().await;
    let tokens = signed_in(&app, "hank@example.com").await;
    for bad in [
        URL_SAFE_NO_PAD.encode([7u8; 32]),
        access(&tokens),
        tokens["idToken"].as_str().unwrap().to_owned(),
        String::new(),
        "x".repeat(5000),
    ] {
        assert_error(refresh(&app, &bad).await, 401, "Unauthorized").await;
    }
}

#[tokio::test]
async fn sign_out_ends_the_session_and_global_sign_out_ends_all() {
    let app = spawn_app().await;
    let laptop = signed_in(&app, "ivy@example.com").await;
    let phone = sign_in(&app, "ivy@example.com").await;

    let response = app
        .post("/v1/auth/sign-out", Some(&access(&laptop)), &json!({}))
        .await;
    let (status, body) = envelope(response).await;
    assert_eq!(
        (status, &body["data"]["message"]),
        (200, &json!("Signed out"))
    );
    assert_eq!(usage_status(&app, &access(&laptop)).await, 401);
    let laptop_refresh = laptop["refreshToken"].as_str().unwrap();
    assert_error(refresh(&app, laptop_refresh).await, 401, "Unauthorized").await;
    assert_eq!(usage_status(&app, &access(&phone)).await, 200);

    // Signing in again in the same second works.
    let again = sign_in(&app, "ivy@example.com").await;
    assert_eq!(usage_status(&app, &access(&again)).await, 200);

    let response = app
        .post(
            "/v1/auth/sign-out",
            Some(&access(&phone)),
            &json!({"global": true}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(usage_status(&app, &access(&phone)).await, 401);
    assert_eq!(usage_status(&app, &access(&again)).await, 401);
    let phone_refresh = phone["refreshToken"].as_str().unwrap();
    assert_error(refresh(&app, phone_refresh).await, 401, "Unauthorized").await;
}

/// The active private key, read from the database: forged tokens below are signed with the
/// real key, so only the checks under test can reject them.
async fn real_key(app: &TestApp) -> (String, EncodingKey) {
    let key = signing_keys::Entity::find()
        .order_by_desc(signing_keys::Column::CreatedAt)
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    (
        key.kid,
        EncodingKey::from_rsa_pem(key.private_key_pem.as_bytes()).unwrap(),
    )
}

fn forge(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{signature}")
}

fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[tokio::test]
async fn forged_and_malformed_bearer_jwts_are_401() {
    let app = spawn_app().await;
    let tokens = signed_in(&app, "judy@example.com").await;
    let good = access(&tokens);
    assert_eq!(usage_status(&app, &good).await, 200);
    let claims = claims_of(&good);
    let (kid, key) = real_key(&app).await;
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let with = |changes: Value| {
        let mut c = claims.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let jwk = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"});
    let jwks = jwks(&app).await;
    let public_pem = {
        use aws_lc_rs::{encoding::AsDer, rsa::PublicKeyComponents};
        let n = URL_SAFE_NO_PAD
            .decode(jwks["keys"][0]["n"].as_str().unwrap())
            .unwrap();
        let e = URL_SAFE_NO_PAD
            .decode(jwks["keys"][0]["e"].as_str().unwrap())
            .unwrap();
        let der = PublicKeyComponents { n, e }.as_der().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
    };
    let hmac_with_public = EncodingKey::from_secret(public_pem.as_bytes());
    let tampered = {
        let parts: Vec<_> = good.split('.').collect();
        let raised = URL_SAFE_NO_PAD.encode(with(json!({"custom:tier": "enterprise"})).to_string());
        format!("{}.{}.{}", parts[0], raised, parts[2])
    };
    let other_sub = {
        let parts: Vec<_> = good.split('.').collect();
        let changed = URL_SAFE_NO_PAD.encode(with(json!({"sub": "someone-else"})).to_string());
        format!("{}.{}.{}", parts[0], changed, parts[2])
    };
    let issuer = claims["iss"].as_str().unwrap().to_owned();

    let mut attacks: Vec<(&str, String)> = vec![
        ("tier raised", tampered),
        ("sub changed", other_sub),
        ("truncated", good[..good.len() - 10].to_owned()),
        ("two segments", good.rsplit_once('.').unwrap().0.to_owned()),
        ("extra segment", format!("{good}.AAAA")),
        ("garbage", "not.a.jwt".to_owned()),
        (
            "HS256 with our public key",
            forge(
                &json!({"alg": "HS256", "typ": "JWT", "kid": kid}),
                &claims,
                &hmac_with_public,
                Algorithm::HS256,
            ),
        ),
        (
            "RS512",
            forge(
                &json!({"alg": "RS512", "kid": kid}),
                &claims,
                &key,
                Algorithm::RS512,
            ),
        ),
        (
            "PS256",
            forge(
                &json!({"alg": "PS256", "kid": kid}),
                &claims,
                &key,
                Algorithm::PS256,
            ),
        ),
        (
            "unknown kid",
            forge(
                &json!({"alg": "RS256", "kid": "nope"}),
                &claims,
                &key,
                Algorithm::RS256,
            ),
        ),
        (
            "empty kid",
            forge(
                &json!({"alg": "RS256", "kid": ""}),
                &claims,
                &key,
                Algorithm::RS256,
            ),
        ),
        (
            "missing kid",
            forge(&json!({"alg": "RS256"}), &claims, &key, Algorithm::RS256),
        ),
        (
            "absurd kid",
            forge(
                &json!({"alg": "RS256", "kid": "k".repeat(4000)}),
                &claims,
                &key,
                Algorithm::RS256,
            ),
        ),
        (
            "jku header",
            forge(
                &json!({"alg": "RS256", "kid": kid, "jku": "http://127.0.0.1:1/jwks"}),
                &claims,
                &key,
                Algorithm::RS256,
            ),
        ),
        (
            "x5u header",
            forge(
                &json!({"alg": "RS256", "kid": kid, "x5u": "http://127.0.0.1:1/cert"}),
                &claims,
                &key,
                Algorithm::RS256,
            ),
        ),
        (
            "jwk header",
            forge(
                &json!({"alg": "RS256", "kid": kid, "jwk": jwk}),
                &claims,
                &key,
                Algorithm::RS256,
            ),
        ),
        (
            "missing exp",
            forge(&header, &with(json!({"exp": null})), &key, Algorithm::RS256),
        ),
        (
            "exp as a string",
            forge(
                &header,
                &with(json!({"exp": claims["exp"].to_string()})),
                &key,
                Algorithm::RS256,
            ),
        ),
        (
            "missing iss",
            forge(&header, &with(json!({"iss": null})), &key, Algorithm::RS256),
        ),
        (
            "wrong iss",
            forge(
                &header,
                &with(json!({"iss": "https://evil.example.com"})),
                &key,
                Algorithm::RS256,
            ),
        ),
        (
            "iss with a trailing slash",
            forge(
                &header,
                &with(json!({"iss": format!("{issuer}/")})),
                &key,
                Algorithm::RS256,
            ),
        ),
        (
            "token_use id",
            forge(
                &header,
                &with(json!({"token_use": "id"})),
                &key,
                Algorithm::RS256,
            ),
        ),
        (
            "unknown client_id",
            forge(
                &header,
                &with(json!({"client_id": "someone-else"})),
                &key,
                Algorithm::RS256,
            ),
        ),
        ("id token", tokens["idToken"].as_str().unwrap().to_owned()),
        (
            "refresh token",
            tokens["refreshToken"].as_str().unwrap().to_owned(),
        ),
    ];
    for spelling in ["none", "None", "NONE", "nOnE"] {
        attacks.push((
            "alg none",
            unsigned(&json!({"alg": spelling, "kid": kid}), &claims),
        ));
    }
    for (name, token) in attacks {
        let response = app.get("/v1/usage", Some(&token)).await;
        let body = assert_error(response, 401, "Unauthorized").await;
        assert!(
            !body.to_string().contains(&token),
            "{name}: the token is echoed"
        );
    }
    // The real token still works: nothing above disturbed it.
    assert_eq!(usage_status(&app, &good).await, 200);
}

#[tokio::test]
async fn expiry_allows_a_few_seconds_of_leeway_and_no_more() {
    let app = spawn_app().await;
    let token = access(&signed_in(&app, "kim@example.com").await);
    app.clock.advance(Duration::from_secs(3600 + 3));
    assert_eq!(usage_status(&app, &token).await, 200);
    app.clock.advance(Duration::from_secs(3));
    assert_eq!(usage_status(&app, &token).await, 401);
}

#[tokio::test]
async fn credentials_outside_the_authorization_header_are_ignored() {
    let app = spawn_app().await;
    let token = access(&signed_in(&app, "lee@example.com").await);
    let response = app
        .get(
            &format!("/v1/usage?access_token={token}&token={token}"),
            None,
        )
        .await;
    assert_error(response, 401, "Unauthorized").await;
    let response = app
        .http
        .get(app.url("/v1/usage"))
        .header("cookie", format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "Unauthorized").await;
    let oversized = format!("Bearer {token}{}", "A".repeat(8 * 1024));
    let response = app
        .http
        .get(app.url("/v1/usage"))
        .header("authorization", oversized)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "Unauthorized").await;
    let response = app
        .http
        .get(app.url("/v1/usage"))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the scheme is case-insensitive");
}

#[tokio::test]
async fn set_tier_changes_the_claims_of_the_next_tokens() {
    let app = spawn_app().await;
    signed_in(&app, "mia@example.com").await;
    let out = cli(
        &app,
        &[
            "users",
            "set-tier",
            "MIA@example.com",
            "team",
            "--team-id",
            "team-42",
        ],
    )
    .await;
    assert!(out.contains("team"));
    let claims = claims_of(&access(&sign_in(&app, "mia@example.com").await));
    assert_eq!(claims["custom:tier"], "team");
    assert_eq!(claims["custom:teamId"], "team-42");
    // Without --team-id the team stays; an empty one removes it.
    cli(
        &app,
        &["users", "set-tier", "mia@example.com", "enterprise"],
    )
    .await;
    let claims = claims_of(&access(&sign_in(&app, "mia@example.com").await));
    assert_eq!(
        (&claims["custom:tier"], &claims["custom:teamId"]),
        (&json!("enterprise"), &json!("team-42"))
    );
    cli(
        &app,
        &[
            "users",
            "set-tier",
            "mia@example.com",
            "pro",
            "--team-id",
            "",
        ],
    )
    .await;
    let claims = claims_of(&access(&sign_in(&app, "mia@example.com").await));
    assert_eq!(claims["custom:teamId"], "");
}

#[tokio::test]
async fn two_tabs_refreshing_at_once_both_get_tokens() {
    let app = spawn_app().await;
    let tokens = signed_in(&app, "tabs@example.com").await;
    let token = tokens["refreshToken"].as_str().unwrap();
    let (first, second) = tokio::join!(refresh(&app, token), refresh(&app, token));
    let (first, second) = (envelope(first).await, envelope(second).await);
    assert_eq!((first.0, second.0), (200, 200), "{first:?} {second:?}");
    assert_eq!(
        first.1["data"]["refreshToken"], second.1["data"]["refreshToken"],
        "both tabs continue one lineage"
    );
    for (_, body) in [first, second] {
        assert_eq!(usage_status(&app, &access(&body["data"])).await, 200);
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_sign_in_budget() {
    let app = spawn_app_with(|c| {
        c.auth_burst_per_address = 2;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let from = |client: &'static str| {
        app.http
            .post(app.url("/v1/auth/sign-in"))
            .header("x-forwarded-for", format!("203.0.113.99, {client}"))
            .json(&json!({"email": "x@example.com", "password": "wrong password"}))
            .send()
    };
    assert_eq!(from("198.51.100.1").await.unwrap().status(), 401);
    assert_eq!(from("198.51.100.1").await.unwrap().status(), 401);
    assert_eq!(from("198.51.100.1").await.unwrap().status(), 429);
    // Another client behind the same proxy is not affected; the first entry (which the client
    // itself could forge) is not what counts.
    assert_eq!(from("198.51.100.2").await.unwrap().status(), 401);

    // Without the proxy being trusted, X-Forwarded-For is ignored: all share 127.0.0.1.
    let direct = spawn_app_with(|c| c.auth_burst_per_address = 2).await;
    for (i, expected) in [401, 401, 429].into_iter().enumerate() {
        let response = direct
            .http
            .post(direct.url("/v1/auth/sign-in"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({"email": "x@example.com", "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
    }
}

#[tokio::test]
async fn rotated_keys_keep_verifying_and_every_instance_shares_them() {
    // Instances behind one load balancer share the issuer.
    let issuer = |c: &mut cloudsigma_auth::config::Config| {
        c.issuer = Some("https://auth.cloudsigma.test".to_owned());
    };
    let first = spawn_app_with(issuer).await;
    let before = signed_in(&first, "nina@example.com").await;
    let old_kid = jsonwebtoken::decode_header(access(&before)).unwrap().kid;

    cli(&first, &["signing-keys", "rotate"]).await;
    let second = spawn_on(&first.database_url, issuer).await;
    second
        .clock
        .set(cloudsigma_auth::domain::clock::Clock::now(&*first.clock));
    let after = sign_in(&second, "nina@example.com").await;
    let new_kid = jsonwebtoken::decode_header(access(&after)).unwrap().kid;
    assert_ne!(old_kid, new_kid);

    let published: Vec<_> = jwks(&second).await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert!(published.contains(old_kid.as_ref().unwrap()));
    assert!(published.contains(new_kid.as_ref().unwrap()));

    // A token of the old key verifies on the new instance, and the first instance learns the
    // new key when it meets it (its reload on an unknown kid is throttled to once a second of
    // the service clock).
    assert_eq!(usage_status(&second, &access(&before)).await, 200);
    first.clock.advance(Duration::from_millis(1100));
    assert_eq!(usage_status(&first, &access(&after)).await, 200);
}

#[tokio::test]
async fn internal_authenticate_resolves_a_jwt_only_with_the_service_token() {
    let app = spawn_app().await;
    let user = sign_up(&app, "olga@example.com").await;
    let token = access(&sign_in(&app, "olga@example.com").await);
    let mut client = AuthServiceClient::new(app.channel().await);

    let status = client
        .authenticate(AuthenticateRequest {
            token: token.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert_eq!(reason(&status), "Forbidden");

    let mut request = tonic::Request::new(AuthenticateRequest {
        token: token.clone(),
        ..Default::default()
    });
    request
        .metadata_mut()
        .insert("x-cloudsigma-service-token", SERVICE_TOKEN.parse().unwrap());
    let principal = client.authenticate(request).await.unwrap().into_inner();
    assert_eq!(principal.user_id, user["userId"].as_str().unwrap());
    assert_eq!(principal.email, "olga@example.com");
    assert_eq!(principal.tier, "free");
    assert_eq!(principal.method, "JWT");
    assert!(principal.rate_limit.is_none());

    let mut request = tonic::Request::new(AuthenticateRequest {
        token: format!("{token}x"),
        ..Default::default()
    });
    request
        .metadata_mut()
        .insert("x-cloudsigma-service-token", SERVICE_TOKEN.parse().unwrap());
    let status = client.authenticate(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}

#[tokio::test]
async fn grpc_sign_in_returns_tokens_and_no_store_metadata() {
    let app = spawn_app().await;
    sign_up(&app, "pat@example.com").await;
    let mut client = AuthServiceClient::new(app.channel().await);
    let response = client
        .sign_in(SignInRequest {
            email: "pat@example.com".into(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap();
    assert_eq!(
        response.metadata().get("cache-control").unwrap(),
        "no-store"
    );
    let tokens = response.into_inner();
    assert_eq!(tokens.expires_in, 3600);
    assert_eq!(usage_status(&app, &tokens.access_token).await, 200);

    let Err(status) = client
        .sign_in(SignInRequest {
            email: "pat@example.com".into(),
            password: "wrong password".into(),
        })
        .await
    else {
        panic!("a wrong password signs in");
    };
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(reason(&status), "Unauthorized");
}

#[tokio::test]
async fn parallel_guesses_cannot_outrun_the_lockout_and_parallel_sign_ins_all_work() {
    let app = spawn_app_with(|c| c.auth_burst_per_address = 1000).await;
    sign_up(&app, "para@example.com").await;
    let guesses = (0..10).map(|_| sign_in_with(&app, "para@example.com", "wrong password"));
    let statuses: Vec<u16> = futures_util::future::join_all(guesses)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    let locked = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((wrong, locked), (5, 5), "{statuses:?}");

    app.clock.advance(Duration::from_secs(1));
    sign_up(&app, "ci-bot@example.com").await;
    let sign_ins = (0..8).map(|_| sign_in_with(&app, "ci-bot@example.com", PASSWORD));
    for response in futures_util::future::join_all(sign_ins).await {
        assert_eq!(response.status(), 200);
    }
}
