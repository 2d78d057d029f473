//! The Cognito user-pool wire API: what the Cognito SDKs send (`POST /` with `X-Amz-Target`)
//! and what they expect back, over the same accounts, lockout, sessions and refresh rotation as
//! REST. SRP is spoken by `srp_client`, written apart from the service's own SRP code.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use cloudsigma_auth::{
    config::{Config, Switch},
    domain::clock::Clock,
};
use serde_json::{Value, json};

use crate::{
    auth::{PASSWORD, sign_up as rest_sign_up},
    helpers::{TestApp, envelope, spawn_app, spawn_app_with},
    srp_client::{Challenge, SrpClient, n},
};

const POOL_ID: &str = "eu-west-1_TestPool1";
const POOL_NAME: &str = "TestPool1";
const WEB: &str = "webclient";
const BOT: &str = "botclient";
const BOT_SECRET: &str = "bot-client-secret-0123456789";

fn pool(config: &mut Config) {
    config.cognito_pool_id = POOL_ID.parse().unwrap();
    config.app_clients = format!("{WEB},{BOT}:{BOT_SECRET}").parse().unwrap();
    config.cognito_srp = Switch::On;
    // These tests send many sign-ins from one address on purpose.
    config.auth_burst_per_address = 1_000;
    config.failed_auth_burst_per_address = 1_000;
}

async fn spawn_pool() -> TestApp {
    spawn_app_with(pool).await
}

/// One call as an SDK makes it.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    /// The error name, checked to be the same in the body and in `x-amzn-ErrorType`.
    fn error(&self) -> &str {
        assert_eq!(self.status, 400, "{}", self.body);
        let name = self.body["__type"]
            .as_str()
            .expect("an error names its type");
        let header = self.headers["x-amzn-errortype"].to_str().unwrap();
        assert_eq!(header, format!("{name}:"));
        assert_eq!(
            self.headers["content-type"], "application/x-amz-json-1.1",
            "{}",
            self.body
        );
        assert!(self.body["message"].is_string(), "{}", self.body);
        assert!(self.body.get("AuthenticationResult").is_none());
        name
    }

    fn message(&self) -> &str {
        self.body["message"].as_str().unwrap()
    }

    fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.headers["content-type"], "application/x-amz-json-1.1");
        assert!(self.headers.contains_key("x-amzn-requestid"));
        &self.body
    }
}

async fn call_raw(app: &TestApp, target: Option<&str>, body: impl Into<reqwest::Body>) -> Answer {
    let mut request = app
        .http
        .post(app.url("/"))
        .header("content-type", "application/x-amz-json-1.1")
        .body(body);
    if let Some(target) = target {
        request = request.header("x-amz-target", target);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON body: {text}"));
    Answer {
        status,
        headers,
        body,
    }
}

async fn call(app: &TestApp, operation: &str, body: Value) -> Answer {
    let target = format!("AWSCognitoIdentityProviderService.{operation}");
    call_raw(app, Some(&target), body.to_string()).await
}

async fn sign_up(app: &TestApp, email: &str) -> String {
    let answer = call(
        app,
        "SignUp",
        json!({"ClientId": WEB, "Username": email, "Password": PASSWORD,
               "UserAttributes": [{"Name": "email", "Value": email}], "ValidationData": null}),
    )
    .await;
    let body = answer.ok();
    assert_eq!(body["UserConfirmed"], true);
    body["UserSub"].as_str().unwrap().to_owned()
}

async fn password_auth(app: &TestApp, client: &str, username: &str, password: &str) -> Answer {
    call(
        app,
        "InitiateAuth",
        json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client,
               "AuthParameters": {"USERNAME": username, "PASSWORD": password, "DEVICE_KEY": null},
               "ClientMetadata": {}}),
    )
    .await
}

fn result(answer: &Answer) -> &Value {
    &answer.ok()["AuthenticationResult"]
}

fn token<'a>(answer: &'a Answer, name: &str) -> &'a str {
    result(answer)[name].as_str().unwrap()
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn secret_hash(username: &str, client: &str) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, BOT_SECRET.as_bytes());
    STANDARD.encode(hmac::sign(&key, format!("{username}{client}").as_bytes()).as_ref())
}

async fn usage_status(app: &TestApp, access_token: &str) -> u16 {
    app.get("/v1/usage", Some(access_token))
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_sdk_signs_up_signs_in_by_email_or_user_id_and_reads_its_user() {
    let app = spawn_pool().await;
    let sub = sign_up(&app, "ada@example.com").await;

    let by_email = password_auth(&app, WEB, "Ada@Example.com", PASSWORD).await;
    let result = result(&by_email);
    assert_eq!(result["TokenType"], "Bearer");
    assert_eq!(result["ExpiresIn"], 3600);
    let refresh = result["RefreshToken"].as_str().unwrap();
    assert!(
        refresh
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=.".contains(c))
    );
    assert_eq!(by_email.headers["cache-control"], "no-store");

    let access = claims(token(&by_email, "AccessToken"));
    assert_eq!(access["sub"], sub.as_str());
    assert_eq!(access["username"], sub.as_str());
    assert_eq!(access["client_id"], WEB);
    assert_eq!(access["token_use"], "access");
    assert_eq!(access["scope"], "aws.cognito.signin.user.admin");
    for claim in [
        "iss",
        "origin_jti",
        "event_id",
        "jti",
        "auth_time",
        "iat",
        "exp",
    ] {
        assert!(access.get(claim).is_some(), "access token has {claim}");
    }
    let id = claims(token(&by_email, "IdToken"));
    assert_eq!(id["aud"], WEB);
    assert_eq!(id["cognito:username"], sub.as_str());
    assert_eq!(id["email"], "ada@example.com");
    assert_eq!(id["token_use"], "id");
    assert_eq!(id["custom:tier"], "free");
    assert_eq!(id["event_id"], access["event_id"]);
    assert_eq!(id["origin_jti"], access["origin_jti"]);

    // The user id is the username; the email is an alias of it.
    let by_sub = password_auth(&app, WEB, &sub, PASSWORD).await;
    let access_token = token(&by_sub, "AccessToken").to_owned();
    let user = call(&app, "GetUser", json!({"AccessToken": access_token})).await;
    let user = user.ok();
    assert_eq!(user["Username"], sub.as_str());
    let attributes: Vec<(String, String)> = user["UserAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["Name"].as_str().unwrap().into(),
                a["Value"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(attributes.contains(&("sub".into(), sub.clone())));
    assert!(attributes.contains(&("email".into(), "ada@example.com".into())));
    assert!(attributes.contains(&("custom:tier".into(), "free".into())));

    // The token is a bearer token of the REST API like any other.
    assert_eq!(usage_status(&app, &access_token).await, 200);
    // And REST sign-in issues to the first app client.
    let (status, rest) = envelope(
        app.post(
            "/v1/auth/sign-in",
            None,
            &json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        claims(rest["data"]["accessToken"].as_str().unwrap())["client_id"],
        WEB
    );
}

#[tokio::test]
async fn refresh_token_auth_keeps_the_refresh_token_and_get_tokens_rotates_it() {
    let app = spawn_pool().await;
    sign_up(&app, "rota@example.com").await;
    let signed_in = password_auth(&app, WEB, "rota@example.com", PASSWORD).await;
    let first = token(&signed_in, "RefreshToken").to_owned();
    let auth_time = claims(token(&signed_in, "AccessToken"))["auth_time"].clone();

    app.clock.advance(Duration::from_secs(60));
    for flow in ["REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"] {
        let refreshed = call(
            &app,
            "InitiateAuth",
            json!({"AuthFlow": flow, "ClientId": WEB, "AuthParameters": {"REFRESH_TOKEN": first}}),
        )
        .await;
        let result = result(&refreshed);
        assert!(result.get("RefreshToken").is_none(), "{result}");
        let access = claims(result["AccessToken"].as_str().unwrap());
        assert_eq!(access["auth_time"], auth_time, "auth_time is the sign-in's");
        assert_eq!(
            usage_status(&app, result["AccessToken"].as_str().unwrap()).await,
            200
        );
    }

    let rotated = call(
        &app,
        "GetTokensFromRefreshToken",
        json!({"RefreshToken": first, "ClientId": WEB}),
    )
    .await;
    let second = token(&rotated, "RefreshToken").to_owned();
    assert_ne!(second, first);
    assert_eq!(
        claims(token(&rotated, "AccessToken"))["auth_time"],
        auth_time
    );

    // The rotated token, presented after the grace period, is a replay: the session ends.
    app.clock.advance(Duration::from_secs(60));
    let replay = call(
        &app,
        "GetTokensFromRefreshToken",
        json!({"RefreshToken": first, "ClientId": WEB}),
    )
    .await;
    assert_eq!(replay.error(), "NotAuthorizedException");
    let after = call(
        &app,
        "InitiateAuth",
        json!({"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": WEB,
               "AuthParameters": {"REFRESH_TOKEN": second}}),
    )
    .await;
    assert_eq!(after.error(), "NotAuthorizedException");
    assert_eq!(after.message(), "Invalid Refresh Token");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer_and_five_lock_the_account() {
    let app = spawn_pool().await;
    let sub = sign_up(&app, "lock@example.com").await;
    let unknown = password_auth(&app, WEB, "nobody@example.com", PASSWORD).await;
    assert_eq!(unknown.error(), "NotAuthorizedException");
    assert_eq!(unknown.message(), "Incorrect username or password.");
    let unknown_id =
        password_auth(&app, WEB, "0b7c0a58-7f7e-4b8e-9a57-1e1f4b1f0000", PASSWORD).await;
    assert_eq!(unknown_id.error(), "NotAuthorizedException");
    assert_eq!(unknown_id.message(), "Incorrect username or password.");

    for _ in 0..5 {
        let wrong = password_auth(&app, WEB, &sub, "wrong password").await;
        assert_eq!(wrong.error(), "NotAuthorizedException");
        assert_eq!(wrong.message(), "Incorrect username or password.");
    }
    // Locked, as Cognito says it (not TooManyRequests, which the SDKs would retry), and the
    // REST door sees the same lock.
    let locked = password_auth(&app, WEB, "lock@example.com", PASSWORD).await;
    assert_eq!(locked.error(), "NotAuthorizedException");
    assert_eq!(locked.message(), "Password attempts exceeded");
    let rest = app
        .post(
            "/v1/auth/sign-in",
            None,
            &json!({"email": "lock@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(rest.status(), 429);
}

#[tokio::test]
async fn sign_up_refusals_are_cognitos_exceptions() {
    let app = spawn_pool().await;
    sign_up(&app, "taken@example.com").await;
    let again = call(
        &app,
        "SignUp",
        json!({"ClientId": WEB, "Username": "TAKEN@example.com", "Password": PASSWORD}),
    )
    .await;
    assert_eq!(again.error(), "UsernameExistsException");
    let short = call(
        &app,
        "SignUp",
        json!({"ClientId": WEB, "Username": "short@example.com", "Password": "short"}),
    )
    .await;
    assert_eq!(short.error(), "InvalidPasswordException");
    let not_email = call(
        &app,
        "SignUp",
        json!({"ClientId": WEB, "Username": "just-a-name", "Password": PASSWORD}),
    )
    .await;
    assert_eq!(not_email.error(), "InvalidParameterException");
    let other_email = call(
        &app,
        "SignUp",
        json!({"ClientId": WEB, "Username": "one@example.com", "Password": PASSWORD,
               "UserAttributes": [{"Name": "email", "Value": "two@example.com"}]}),
    )
    .await;
    assert_eq!(other_email.error(), "InvalidParameterException");
    // Confirmation has nothing to do: every account is confirmed when it is made.
    let confirm = call(
        &app,
        "ConfirmSignUp",
        json!({"ClientId": WEB, "Username": "taken@example.com", "ConfirmationCode": "123456"}),
    )
    .await;
    assert_eq!(confirm.ok(), &json!({}));
}

#[tokio::test]
async fn global_sign_out_ends_every_session_and_revoke_token_ends_one() {
    let app = spawn_pool().await;
    sign_up(&app, "out@example.com").await;
    let one = password_auth(&app, WEB, "out@example.com", PASSWORD).await;
    let two = password_auth(&app, WEB, "out@example.com", PASSWORD).await;
    let three = password_auth(&app, WEB, "out@example.com", PASSWORD).await;

    let revoked = call(
        &app,
        "RevokeToken",
        json!({"Token": token(&three, "RefreshToken"), "ClientId": WEB}),
    )
    .await;
    assert_eq!(revoked.ok(), &json!({}));
    assert_eq!(usage_status(&app, token(&three, "AccessToken")).await, 401);
    assert_eq!(usage_status(&app, token(&one, "AccessToken")).await, 200);

    let out = call(
        &app,
        "GlobalSignOut",
        json!({"AccessToken": token(&one, "AccessToken")}),
    )
    .await;
    assert_eq!(out.ok(), &json!({}));
    for answer in [&one, &two] {
        let user = call(
            &app,
            "GetUser",
            json!({"AccessToken": token(answer, "AccessToken")}),
        )
        .await;
        assert_eq!(user.error(), "NotAuthorizedException");
        assert_eq!(usage_status(&app, token(answer, "AccessToken")).await, 401);
        let refresh = call(
            &app,
            "GetTokensFromRefreshToken",
            json!({"RefreshToken": token(answer, "RefreshToken"), "ClientId": WEB}),
        )
        .await;
        assert_eq!(refresh.error(), "NotAuthorizedException");
    }
}

#[tokio::test]
async fn change_password_needs_the_old_one_and_the_new_one_signs_in() {
    let app = spawn_pool().await;
    sign_up(&app, "change@example.com").await;
    let signed_in = password_auth(&app, WEB, "change@example.com", PASSWORD).await;
    let access = token(&signed_in, "AccessToken").to_owned();
    let wrong = call(
        &app,
        "ChangePassword",
        json!({"AccessToken": access, "PreviousPassword": "not the password",
               "ProposedPassword": "a brand new password"}),
    )
    .await;
    assert_eq!(wrong.error(), "NotAuthorizedException");
    let short = call(
        &app,
        "ChangePassword",
        json!({"AccessToken": access, "PreviousPassword": PASSWORD, "ProposedPassword": "short"}),
    )
    .await;
    assert_eq!(short.error(), "InvalidPasswordException");
    let changed = call(
        &app,
        "ChangePassword",
        json!({"AccessToken": access, "PreviousPassword": PASSWORD,
               "ProposedPassword": "a brand new password"}),
    )
    .await;
    assert_eq!(changed.ok(), &json!({}));
    assert_eq!(
        password_auth(&app, WEB, "change@example.com", PASSWORD)
            .await
            .error(),
        "NotAuthorizedException"
    );
    result(&password_auth(&app, WEB, "change@example.com", "a brand new password").await);
    // SRP follows the new password too.
    let (status, _) = srp_sign_in(&app, "change@example.com", "a brand new password").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_client_with_a_secret_proves_it_with_the_secret_hash_of_the_username() {
    let app = spawn_pool().await;
    let sub = sign_up(&app, "bot@example.com").await;
    let auth = |hash: Option<String>| {
        let mut parameters = json!({"USERNAME": "bot@example.com", "PASSWORD": PASSWORD});
        if let Some(hash) = hash {
            parameters["SECRET_HASH"] = json!(hash);
        }
        json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": BOT, "AuthParameters": parameters})
    };
    for bad in [
        None,
        Some(secret_hash("bot@example.com", WEB)),
        Some("!!".into()),
    ] {
        let refused = call(&app, "InitiateAuth", auth(bad)).await;
        assert_eq!(refused.error(), "NotAuthorizedException");
        assert!(
            refused.message().contains("secret hash"),
            "{}",
            refused.message()
        );
    }
    let signed_in = call(
        &app,
        "InitiateAuth",
        auth(Some(secret_hash("bot@example.com", BOT))),
    )
    .await;
    assert_eq!(claims(token(&signed_in, "AccessToken"))["client_id"], BOT);
    let refresh = token(&signed_in, "RefreshToken").to_owned();

    // A refresh proves the client with the canonical username: the user id.
    let refresh_with = |hash: String| {
        json!({"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": BOT,
               "AuthParameters": {"REFRESH_TOKEN": refresh, "SECRET_HASH": hash}})
    };
    let by_email = call(
        &app,
        "InitiateAuth",
        refresh_with(secret_hash("bot@example.com", BOT)),
    )
    .await;
    assert_eq!(by_email.error(), "NotAuthorizedException");
    result(&call(&app, "InitiateAuth", refresh_with(secret_hash(&sub, BOT))).await);

    // The token calls take the secret itself.
    let without = call(
        &app,
        "GetTokensFromRefreshToken",
        json!({"RefreshToken": refresh, "ClientId": BOT}),
    )
    .await;
    assert_eq!(without.error(), "NotAuthorizedException");
    let with = call(
        &app,
        "GetTokensFromRefreshToken",
        json!({"RefreshToken": refresh, "ClientId": BOT, "ClientSecret": BOT_SECRET}),
    )
    .await;
    result(&with);

    // A refresh token works only for the client its sign-in was for.
    let other_client = call(
        &app,
        "GetTokensFromRefreshToken",
        json!({"RefreshToken": token(&with, "RefreshToken"), "ClientId": WEB}),
    )
    .await;
    assert_eq!(other_client.error(), "NotAuthorizedException");
}

/// Signs in with SRP; returns the status of the answer to the challenge and its body.
async fn srp_sign_in(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    let client = SrpClient::new();
    let started = call(
        app,
        "InitiateAuth",
        json!({"AuthFlow": "USER_SRP_AUTH", "ClientId": WEB,
               "AuthParameters": {"USERNAME": username, "SRP_A": client.srp_a}}),
    )
    .await;
    let challenge = started.ok().clone();
    let answer = respond(app, &client, &challenge, password, app.clock.now()).await;
    (answer.status, answer.body)
}

async fn respond(
    app: &TestApp,
    client: &SrpClient,
    challenge: &Value,
    password: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Answer {
    assert_eq!(challenge["ChallengeName"], "PASSWORD_VERIFIER");
    let parameters = &challenge["ChallengeParameters"];
    let user_id = parameters["USER_ID_FOR_SRP"].as_str().unwrap();
    let secret_block = parameters["SECRET_BLOCK"].as_str().unwrap();
    let (signature, timestamp) = client.answer(
        &Challenge {
            pool_name: POOL_NAME,
            user_id,
            salt_hex: parameters["SALT"].as_str().unwrap(),
            srp_b_hex: parameters["SRP_B"].as_str().unwrap(),
            secret_block,
        },
        password,
        at,
    );
    call(
        app,
        "RespondToAuthChallenge",
        json!({"ChallengeName": "PASSWORD_VERIFIER", "ClientId": WEB,
               "ChallengeResponses": {"USERNAME": user_id, "PASSWORD_CLAIM_SECRET_BLOCK": secret_block,
                                      "TIMESTAMP": timestamp, "PASSWORD_CLAIM_SIGNATURE": signature}}),
    )
    .await
}

async fn srp_challenge(app: &TestApp, client: &SrpClient, username: &str) -> Value {
    call(
        app,
        "InitiateAuth",
        json!({"AuthFlow": "USER_SRP_AUTH", "ClientId": WEB,
               "AuthParameters": {"USERNAME": username, "SRP_A": client.srp_a}}),
    )
    .await
    .ok()
    .clone()
}

#[tokio::test]
async fn srp_proves_the_password_without_sending_it_and_issues_tokens() {
    let app = spawn_pool().await;
    let sub = sign_up(&app, "srp@example.com").await;
    let (status, body) = srp_sign_in(&app, "srp@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let access = body["AuthenticationResult"]["AccessToken"]
        .as_str()
        .unwrap();
    assert_eq!(claims(access)["sub"], sub.as_str());
    assert_eq!(usage_status(&app, access).await, 200);
    // By user id as well.
    let (status, _) = srp_sign_in(&app, &sub, PASSWORD).await;
    assert_eq!(status, 200);

    // A user who signed up before SRP was on gets a verifier at their next password sign-in.
    let before = spawn_app().await;
    rest_sign_up(&before, "early@example.com").await;
    let url = before.database_url.clone();
    let dir = before.stop().await;
    let app = crate::helpers::spawn_on(&url, pool).await;
    let client = SrpClient::new();
    let challenge = srp_challenge(&app, &client, "early@example.com").await;
    let refused = respond(&app, &client, &challenge, PASSWORD, app.clock.now()).await;
    assert_eq!(refused.error(), "NotAuthorizedException");
    result(&password_auth(&app, WEB, "early@example.com", PASSWORD).await);
    let (status, _) = srp_sign_in(&app, "early@example.com", PASSWORD).await;
    assert_eq!(status, 200);
    drop(dir);
}

#[tokio::test]
async fn a_wrong_srp_proof_is_a_failed_sign_in_and_counts_toward_the_lock() {
    let app = spawn_pool().await;
    sign_up(&app, "proof@example.com").await;
    for _ in 0..5 {
        let (status, body) = srp_sign_in(&app, "proof@example.com", "wrong password").await;
        assert_eq!(status, 400);
        assert_eq!(body["__type"], "NotAuthorizedException");
        assert_eq!(body["message"], "Incorrect username or password.");
    }
    let client = SrpClient::new();
    let locked = call(
        &app,
        "InitiateAuth",
        json!({"AuthFlow": "USER_SRP_AUTH", "ClientId": WEB,
               "AuthParameters": {"USERNAME": "proof@example.com", "SRP_A": client.srp_a}}),
    )
    .await;
    assert_eq!(locked.error(), "NotAuthorizedException");
    assert_eq!(locked.message(), "Password attempts exceeded");
}

#[tokio::test]
async fn an_unknown_user_gets_a_challenge_like_a_real_one_and_then_the_same_refusal() {
    let app = spawn_pool().await;
    let client = SrpClient::new();
    let first = srp_challenge(&app, &client, "ghost@example.com").await;
    let second = srp_challenge(&app, &client, "ghost@example.com").await;
    let (one, two) = (
        &first["ChallengeParameters"],
        &second["ChallengeParameters"],
    );
    assert_eq!(one["SALT"], two["SALT"], "a username keeps its salt");
    assert_eq!(one["USER_ID_FOR_SRP"], two["USER_ID_FOR_SRP"]);
    assert_ne!(one["USER_ID_FOR_SRP"], "ghost@example.com");
    let answer = respond(&app, &client, &first, PASSWORD, app.clock.now()).await;
    assert_eq!(answer.error(), "NotAuthorizedException");
    assert_eq!(answer.message(), "Incorrect username or password.");
}

#[tokio::test]
async fn an_srp_challenge_is_answered_once_and_only_in_time() {
    let app = spawn_pool().await;
    sign_up(&app, "once@example.com").await;
    let client = SrpClient::new();
    let challenge = srp_challenge(&app, &client, "once@example.com").await;
    result(&respond(&app, &client, &challenge, PASSWORD, app.clock.now()).await);
    let replay = respond(&app, &client, &challenge, PASSWORD, app.clock.now()).await;
    assert_eq!(replay.error(), "NotAuthorizedException");
    assert!(replay.message().contains("session"), "{}", replay.message());

    for skew in [-600_i64, 600] {
        let challenge = srp_challenge(&app, &client, "once@example.com").await;
        let at = app.clock.now() + chrono::Duration::seconds(skew);
        let stale = respond(&app, &client, &challenge, PASSWORD, at).await;
        assert_eq!(stale.error(), "NotAuthorizedException");
        assert!(stale.message().contains("TIMESTAMP"), "{}", stale.message());
    }

    let challenge = srp_challenge(&app, &client, "once@example.com").await;
    app.clock.advance(Duration::from_secs(301));
    let late = respond(&app, &client, &challenge, PASSWORD, app.clock.now()).await;
    assert_eq!(late.error(), "NotAuthorizedException");
}

#[tokio::test]
async fn an_srp_a_that_is_zero_modulo_n_is_refused_before_any_challenge() {
    let app = spawn_pool().await;
    sign_up(&app, "zero@example.com").await;
    let n = n();
    for a in [
        "0".to_owned(),
        n.to_str_radix(16),
        (&n * 2u32).to_str_radix(16),
        "xyz".into(),
        String::new(),
    ] {
        let refused = call(
            &app,
            "InitiateAuth",
            json!({"AuthFlow": "USER_SRP_AUTH", "ClientId": WEB,
                   "AuthParameters": {"USERNAME": "zero@example.com", "SRP_A": a}}),
        )
        .await;
        assert_eq!(refused.error(), "InvalidParameterException", "{a:.10}");
    }
}

#[tokio::test]
async fn with_srp_off_user_srp_auth_is_a_clear_invalid_parameter() {
    let app = spawn_app().await;
    rest_sign_up(&app, "off@example.com").await;
    let client = SrpClient::new();
    let refused = call(
        &app,
        "InitiateAuth",
        json!({"AuthFlow": "USER_SRP_AUTH", "ClientId": "cloudsigma_api",
               "AuthParameters": {"USERNAME": "off@example.com", "SRP_A": client.srp_a}}),
    )
    .await;
    assert_eq!(refused.error(), "InvalidParameterException");
    assert!(refused.message().contains("USER_PASSWORD_AUTH"));
    // The password flow works with the default client.
    result(&password_auth(&app, "cloudsigma_api", "off@example.com", PASSWORD).await);
    let stored: Option<i64> = {
        use sea_orm::{ConnectionTrait, Statement};
        let row = app
            .db()
            .query_one_raw(Statement::from_string(
                app.db().get_database_backend(),
                "SELECT COUNT(*) AS n FROM srp_verifiers",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "n").ok()
    };
    assert_eq!(stored, Some(0), "no verifier is kept while SRP is off");
}

#[tokio::test]
async fn bad_input_gets_a_json_error_with_its_type_never_a_500() {
    let app = spawn_pool().await;
    let target = |op: &str| format!("AWSCognitoIdentityProviderService.{op}");
    let missing = call_raw(&app, None, "{}").await;
    assert_eq!(missing.error(), "InvalidParameterException");
    for unknown in [
        "AWSCognitoIdentityProviderService.AdminCreateUser",
        "Other.InitiateAuth",
        "x",
    ] {
        assert_eq!(
            call_raw(&app, Some(unknown), "{}").await.error(),
            "UnknownOperationException"
        );
    }
    for body in ["not json", "", "[1,2]", "{\"AuthFlow\":"] {
        let answer = call_raw(&app, Some(&target("InitiateAuth")), body).await;
        assert_eq!(answer.error(), "SerializationException", "{body}");
    }
    let huge = format!("{{\"ClientId\": \"{}\"}}", "a".repeat(1 << 20));
    assert_eq!(
        call_raw(&app, Some(&target("SignUp")), huge).await.error(),
        "SerializationException"
    );

    // Every member of every operation, with the wrong type.
    let members = [
        (
            "InitiateAuth",
            vec!["AuthFlow", "ClientId", "AuthParameters"],
        ),
        (
            "RespondToAuthChallenge",
            vec!["ChallengeName", "ClientId", "ChallengeResponses"],
        ),
        (
            "SignUp",
            vec![
                "ClientId",
                "Username",
                "Password",
                "SecretHash",
                "UserAttributes",
            ],
        ),
        (
            "ConfirmSignUp",
            vec!["ClientId", "Username", "ConfirmationCode", "SecretHash"],
        ),
        ("GetUser", vec!["AccessToken"]),
        ("GlobalSignOut", vec!["AccessToken"]),
        ("RevokeToken", vec!["Token", "ClientId", "ClientSecret"]),
        (
            "GetTokensFromRefreshToken",
            vec!["RefreshToken", "ClientId", "ClientSecret"],
        ),
        (
            "ChangePassword",
            vec!["PreviousPassword", "ProposedPassword", "AccessToken"],
        ),
    ];
    for (operation, fields) in members {
        for field in fields {
            for wrong in [json!(987_654_321), json!(true), json!(["a"])] {
                let answer = call(&app, operation, json!({ field: wrong })).await;
                assert_eq!(
                    answer.error(),
                    "SerializationException",
                    "{operation}.{field}"
                );
                assert!(
                    !answer.message().contains("987654321"),
                    "the value is not echoed"
                );
            }
        }
        // Nothing at all: the first required member is named.
        let empty = call(&app, operation, json!({})).await;
        assert_eq!(empty.error(), "InvalidParameterException", "{operation}");
    }
    let nested = call(
        &app,
        "InitiateAuth",
        json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": WEB,
               "AuthParameters": {"USERNAME": 5, "PASSWORD": "secret-password-1"}}),
    )
    .await;
    assert_eq!(nested.error(), "SerializationException");
    assert!(!nested.message().contains("secret-password-1"));

    let unknown_client = password_auth(&app, "nosuchclient", "a@example.com", PASSWORD).await;
    assert_eq!(unknown_client.error(), "ResourceNotFoundException");
    let flow = call(
        &app,
        "InitiateAuth",
        json!({"AuthFlow": "CUSTOM_AUTH", "ClientId": WEB, "AuthParameters": {}}),
    )
    .await;
    assert_eq!(flow.error(), "InvalidParameterException");
    let no_password = call(
        &app,
        "InitiateAuth",
        json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": WEB,
               "AuthParameters": {"USERNAME": "a@example.com", "PASSWORD": null}}),
    )
    .await;
    assert_eq!(no_password.error(), "InvalidParameterException");
    let challenge = call(
        &app,
        "RespondToAuthChallenge",
        json!({"ChallengeName": "NEW_PASSWORD_REQUIRED", "ClientId": WEB, "ChallengeResponses": {}}),
    )
    .await;
    assert_eq!(challenge.error(), "InvalidParameterException");
    let bad_block = call(
        &app,
        "RespondToAuthChallenge",
        json!({"ChallengeName": "PASSWORD_VERIFIER", "ClientId": WEB,
               "ChallengeResponses": {"USERNAME": "u", "PASSWORD_CLAIM_SECRET_BLOCK": "bm90IGEgYmxvY2s=",
                                      "TIMESTAMP": "Tue Sep 25 00:09:40 UTC 2018",
                                      "PASSWORD_CLAIM_SIGNATURE": "c2ln"}}),
    )
    .await;
    assert_eq!(bad_block.error(), "NotAuthorizedException");
    for token in ["", "not-a-jwt", "csk_live_0123456789abcdef0123456789abcdef"] {
        let user = call(&app, "GetUser", json!({"AccessToken": token})).await;
        assert_eq!(user.error(), "NotAuthorizedException", "{token}");
    }
    // An SDK that still signs its requests is answered the same way.
    let signed = app
        .http
        .post(app.url("/"))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", target("GetUser"))
        .header("authorization", "AWS4-HMAC-SHA256 Credential=x/20260214/eu-west-1/cognito-idp/aws4_request, SignedHeaders=host, Signature=00")
        .header("x-amz-date", "20260214T100000Z")
        .body(json!({"AccessToken": "x"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 400);
    assert_eq!(
        signed.headers()["x-amzn-errortype"],
        "NotAuthorizedException:"
    );
}

#[tokio::test]
async fn browsers_get_cors_answers_and_the_pool_jwks_is_under_the_pool_id() {
    let app = spawn_app_with(|config| {
        pool(config);
        config.cors_origins = vec!["https://app.example.com".into()];
    })
    .await;
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-amz-target,x-amz-user-agent,cache-control,amz-sdk-invocation-id,amz-sdk-request",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for header in [
        "x-amz-target",
        "x-amz-user-agent",
        "amz-sdk-invocation-id",
        "amz-sdk-request",
        "cache-control",
    ] {
        assert!(allowed.contains(header), "{header} in {allowed}");
    }
    let answer = app
        .http
        .post(app.url("/"))
        .header("origin", "https://app.example.com")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "AWSCognitoIdentityProviderService.GetUser")
        .body("{}")
        .send()
        .await
        .unwrap();
    let exposed = answer.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("x-amzn-requestid") && exposed.contains("x-amzn-errortype"));

    let pool_keys: Value = app
        .http
        .get(app.url(&format!("/{POOL_ID}/.well-known/jwks.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys: Value = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(pool_keys["keys"].as_array().is_some_and(|k| !k.is_empty()));
    assert_eq!(pool_keys, keys);
}

#[tokio::test]
async fn a_token_of_an_app_client_no_longer_configured_is_refused_everywhere() {
    let app = spawn_pool().await;
    sign_up(&app, "gone@example.com").await;
    let web = password_auth(&app, WEB, "gone@example.com", PASSWORD).await;
    let access = token(&web, "AccessToken").to_owned();
    assert_eq!(usage_status(&app, &access).await, 200);

    // The same pool, keys and session, with the web client taken out of the configuration.
    let url = app.database_url.clone();
    let dir = app.stop().await;
    let app = crate::helpers::spawn_on(&url, |config| {
        pool(config);
        config.app_clients = format!("{BOT}:{BOT_SECRET}").parse().unwrap();
    })
    .await;
    assert_eq!(usage_status(&app, &access).await, 401);
    let user = call(&app, "GetUser", json!({"AccessToken": access})).await;
    assert_eq!(user.error(), "NotAuthorizedException");
    let refresh = call(
        &app,
        "GetTokensFromRefreshToken",
        json!({"RefreshToken": token(&web, "RefreshToken"), "ClientId": WEB}),
    )
    .await;
    assert_eq!(refresh.error(), "ResourceNotFoundException");
    drop(dir);
}
