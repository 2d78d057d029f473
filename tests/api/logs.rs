//! Nothing secret reaches the logs: the real binary runs at debug level, the test uses it with
//! passwords, tokens and keys, then searches everything it logged for them.

use std::{
    io::Read,
    process::{Command, Stdio},
    time::Duration,
};

use cloudsigma_auth::proto::cloudsigma::v1::{
    AuthenticateRequest, GetUsageRequest, auth_service_client::AuthServiceClient,
    usage_service_client::UsageServiceClient,
};
use serde_json::{Value, json};

#[tokio::test]
async fn no_log_line_contains_a_password_token_or_key() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloudsigma-auth"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/logs.db?mode=rwc", dir.path().display()),
        )
        .env("RUST_LOG", "debug")
        .env(
            "CLOUDSIGMA_SERVICE_TOKEN",
            "service-token-secret-0123456789abcdef",
        )
        .env("CLOUDSIGMA_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{base}/v1/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let password = "secret-password-Ω-123";
    let mut secrets = vec![
        password.to_owned(),
        "service-token-secret-0123456789abcdef".to_owned(),
    ];
    let post = |path: &str, bearer: Option<&str>, body: Value| {
        let mut request = http.post(format!("{base}{path}")).json(&body);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send()
    };
    post(
        "/v1/auth/sign-up",
        None,
        json!({"email": "log@example.com", "password": password}),
    )
    .await
    .unwrap();
    // On a paid tier before the first token is used, so no instance holds the old tier.
    let set_tier = Command::new(env!("CARGO_BIN_EXE_cloudsigma-auth"))
        .args(["users", "set-tier", "log@example.com", "pro"])
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/logs.db?mode=rwc", dir.path().display()),
        )
        .env("RUST_LOG", "off")
        .status()
        .unwrap();
    assert!(set_tier.success());
    post(
        "/v1/auth/sign-in",
        None,
        json!({"email": "log@example.com", "password": "wrong-password-Ω"}),
    )
    .await
    .unwrap();
    secrets.push("wrong-password-Ω".to_owned());
    let tokens: Value = post(
        "/v1/auth/sign-in",
        None,
        json!({"email": "log@example.com", "password": password}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let access = tokens["data"]["accessToken"].as_str().unwrap().to_owned();
    let refresh = tokens["data"]["refreshToken"].as_str().unwrap().to_owned();
    secrets.extend([access.clone(), refresh.clone()]);
    secrets.push(tokens["data"]["idToken"].as_str().unwrap().to_owned());
    http.get(format!("{base}/v1/usage?access_token={access}"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    let rotated: Value = post("/v1/auth/refresh", None, json!({"refreshToken": refresh}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(rotated["data"]["refreshToken"].as_str().unwrap().to_owned());

    // An API key (the user was put on pro right after sign-up), used over REST, gRPC and the
    // internal Authenticate RPC.
    let created: Value = post("/v1/api-keys", Some(&access), json!({"name": "logged"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["data"]["key"].as_str().unwrap().to_owned();
    secrets.push(key.clone());
    http.get(format!("{base}/v1/usage"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    http.get(format!("{base}/v1/api-keys"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let channel = tonic::transport::Channel::from_shared(base.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let bearer = format!("Bearer {key}");
    let mut request = tonic::Request::new(GetUsageRequest {});
    request
        .metadata_mut()
        .insert("authorization", bearer.parse().unwrap());
    UsageServiceClient::new(channel.clone())
        .get_usage(request)
        .await
        .unwrap();
    for token in [key.clone(), format!("{key}0")] {
        let mut request = tonic::Request::new(AuthenticateRequest {
            token,
            ..Default::default()
        });
        request.metadata_mut().insert(
            "x-cloudsigma-service-token",
            "service-token-secret-0123456789abcdef".parse().unwrap(),
        );
        let _ = AuthServiceClient::new(channel.clone())
            .authenticate(request)
            .await;
    }

    post("/v1/auth/sign-out", Some(&access), json!({}))
        .await
        .unwrap();
    post("/v1/auth/sign-in", Some(&access), json!({}))
        .await
        .unwrap();

    child.kill().unwrap();
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    child.wait().unwrap();
    assert!(logs.contains("listening"), "the logs were captured: {logs}");
    assert!(logs.contains("/v1/usage"), "requests were logged: {logs}");
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "CLOUDSIGMA_LOG_FORMAT=json writes one JSON object per line: {line}"
        );
    }
    for secret in &secrets {
        // Tokens are also checked by their signature part alone.
        let tail = secret.rsplit('.').next().unwrap();
        assert!(!logs.contains(secret.as_str()), "a secret is in the logs");
        assert!(
            tail.len() < 16 || !logs.contains(tail),
            "a token signature is in the logs"
        );
    }
}
