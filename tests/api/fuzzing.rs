//! Inputs that fuzzing (fuzz/, `.ci/fuzz.sh`) turned up or aims at, kept as tests through real
//! clients so they stay fixed without a nightly toolchain.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use cloudsigma_auth::store::entities::signing_keys;
use jsonwebtoken::{Algorithm, EncodingKey};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

use crate::{
    auth::{access, signed_in},
    helpers::{envelope, spawn_app},
};

/// A copy of `token` with its claims changed, signed again with the service's active key (read
/// from the database), so only the claim checks can tell it apart from a real token.
async fn resigned(app: &crate::helpers::TestApp, token: &str, changes: Value) -> String {
    let key = signing_keys::Entity::find()
        .order_by_desc(signing_keys::Column::CreatedAt)
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    for (name, value) in changes.as_object().unwrap() {
        claims[name] = value.clone();
    }
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": key.kid});
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let encoding = EncodingKey::from_rsa_pem(key.private_key_pem.as_bytes()).unwrap();
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &encoding, Algorithm::RS256).unwrap();
    format!("{message}.{signature}")
}

#[tokio::test]
async fn an_access_token_expiring_at_the_end_of_time_is_checked_without_overflowing() {
    let app = spawn_app().await;
    let tokens = signed_in(&app, "far-future@example.com").await;
    let token = resigned(&app, &access(&tokens), json!({"exp": i64::MAX})).await;

    // The expiry check adds the leeway to `exp`; at i64::MAX that overflowed (a panic in
    // builds with overflow checks, a wrapped negative expiry without them).
    let (status, body) = envelope(app.get("/v1/usage", Some(&token)).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);

    let (status, body) = envelope(
        app.get(
            "/v1/usage",
            Some(&resigned(&app, &access(&tokens), json!({"exp": i64::MIN})).await),
        )
        .await,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "Unauthorized");
}
