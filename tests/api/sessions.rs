//! Sessions (CONTRACT §6): a user lists their active sign-in sessions and ends any one of them.

use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    auth::{access, sign_up},
    helpers::{TestApp, assert_error, create_key, envelope, spawn_app, user_on_tier},
};

const PASSWORD: &str = "correct horse battery";

async fn sign_in_as(app: &TestApp, email: &str, user_agent: &str) -> Value {
    let response = app
        .http
        .post(app.url("/v1/auth/sign-in"))
        .header("user-agent", user_agent)
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(response).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

async fn sessions(app: &TestApp, jwt: &str) -> Vec<Value> {
    let (status, body) = envelope(app.get("/v1/auth/sessions", Some(jwt)).await).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["sessions"].as_array().unwrap().clone()
}

async fn revoke(app: &TestApp, jwt: &str, id: &str) -> reqwest::Response {
    app.send_json(
        Method::DELETE,
        &format!("/v1/auth/sessions/{id}"),
        Some(jwt),
        &json!({}),
    )
    .await
}

#[tokio::test]
async fn a_user_sees_each_sign_in_with_where_it_came_from_and_which_is_their_own() {
    let app = spawn_app().await;
    sign_up(&app, "two@example.com").await;
    let phone = sign_in_as(&app, "two@example.com", "Phone/1.0 (\ttab)").await;
    app.clock.advance(std::time::Duration::from_secs(5));
    let laptop = sign_in_as(&app, "two@example.com", "Laptop/2.0").await;

    let listed = sessions(&app, &access(&laptop)).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    // Newest first; the caller's own is marked.
    assert_eq!(listed[0]["userAgent"], "Laptop/2.0");
    assert_eq!(listed[0]["current"], true);
    assert_eq!(
        listed[1]["userAgent"], "Phone/1.0 (tab)",
        "control characters dropped"
    );
    assert_eq!(listed[1]["current"], false);
    for session in &listed {
        assert_eq!(session["clientAddress"], "127.0.0.1");
        assert!(session["createdAt"].as_str().unwrap().ends_with('Z'));
        assert!(
            session.get("lastRefreshedAt").is_none_or(Value::is_null),
            "{session}"
        );
    }

    // A refresh shows as the session's last refresh.
    let refreshed = app
        .post(
            "/v1/auth/refresh",
            None,
            &json!({"refreshToken": phone["refreshToken"]}),
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    let listed = sessions(&app, &access(&phone)).await;
    let phone_row = listed.iter().find(|s| s["current"] == true).unwrap();
    assert!(phone_row["lastRefreshedAt"].is_string(), "{phone_row}");
}

#[tokio::test]
async fn revoking_a_session_ends_its_tokens_on_the_next_request_and_only_its_own() {
    let app = spawn_app().await;
    sign_up(&app, "lost@example.com").await;
    let phone = sign_in_as(&app, "lost@example.com", "Phone").await;
    let laptop = sign_in_as(&app, "lost@example.com", "Laptop").await;
    let listed = sessions(&app, &access(&laptop)).await;
    let phone_id = listed.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get("/v1/usage", Some(&access(&phone))).await.status(),
        200
    );

    let response = revoke(&app, &access(&laptop), &phone_id).await;
    let (status, body) = envelope(response).await;
    assert_eq!(
        (status, &body["data"]["message"]),
        (200, &json!("Session revoked"))
    );

    assert_error(
        app.get("/v1/usage", Some(&access(&phone))).await,
        401,
        "Unauthorized",
    )
    .await;
    let refresh = app
        .post(
            "/v1/auth/refresh",
            None,
            &json!({"refreshToken": phone["refreshToken"]}),
        )
        .await;
    assert_error(refresh, 401, "Unauthorized").await;
    assert_eq!(
        app.get("/v1/usage", Some(&access(&laptop))).await.status(),
        200
    );
    assert_eq!(sessions(&app, &access(&laptop)).await.len(), 1);

    // Revoked already, unknown, or another user's: 404, and nothing changes.
    assert_error(
        revoke(&app, &access(&laptop), &phone_id).await,
        404,
        "NotFound",
    )
    .await;
    assert_error(
        revoke(&app, &access(&laptop), "no-such-session").await,
        404,
        "NotFound",
    )
    .await;
    let other = user_on_tier(&app, "other@example.com", "pro").await;
    let laptop_id = sessions(&app, &access(&laptop)).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_error(revoke(&app, &other, &laptop_id).await, 404, "NotFound").await;
    assert_eq!(
        app.get("/v1/usage", Some(&access(&laptop))).await.status(),
        200
    );
}

#[tokio::test]
async fn sessions_take_a_jwt_only_and_sign_out_everywhere_ends_them_all() {
    let app = spawn_app().await;
    let jwt = user_on_tier(&app, "keys@example.com", "pro").await;
    let (key, _) = create_key(&app, &jwt, json!({"name": "ci"})).await;
    assert_error(
        app.get("/v1/auth/sessions", Some(&key)).await,
        403,
        "Forbidden",
    )
    .await;
    assert_error(
        app.get("/v1/auth/sessions", None).await,
        401,
        "Unauthorized",
    )
    .await;

    let second = sign_in_as(&app, "keys@example.com", "Second").await;
    assert_eq!(sessions(&app, &jwt).await.len(), 2);
    let out = app
        .post("/v1/auth/sign-out", Some(&jwt), &json!({"global": true}))
        .await;
    assert_eq!(out.status(), 200);
    assert_error(
        app.get("/v1/usage", Some(&access(&second))).await,
        401,
        "Unauthorized",
    )
    .await;
    let fresh = sign_in_as(&app, "keys@example.com", "Fresh").await;
    let listed = sessions(&app, &access(&fresh)).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["userAgent"], "Fresh");
}
