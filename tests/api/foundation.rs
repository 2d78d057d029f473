//! One port, four protocols; the REST codec's own errors; health; start-up failures.

use std::{process::Command, time::Duration};

use base64::Engine;
use cloudsigma_auth::{
    descriptors,
    proto::cloudsigma::v1::{GetHealthRequest, health_service_client::HealthServiceClient},
    rest::Routes,
};
use hyper_util::rt::TokioExecutor;
use reqwest::Method;
use serde_json::json;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::helpers::{assert_error, envelope, spawn_app, spawn_app_with};

#[tokio::test]
async fn rest_health_answers_the_envelope_over_http1() {
    let app = spawn_app().await;
    let response = app.get("/v1/health", None).await;
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert!(response.headers().contains_key("x-request-id"));
    let (status, body) = envelope(response).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"success": true, "data": {"status": "ok"}}));
}

#[tokio::test]
async fn rest_health_answers_over_http2_on_the_same_port() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = client.get(app.url("/v1/health")).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let (status, body) = envelope(response).await;
    assert_eq!((status, &body["data"]["status"]), (200, &json!("ok")));
}

#[tokio::test]
async fn grpc_clients_reach_our_health_and_the_standard_health_service() {
    let app = spawn_app().await;
    let channel = app.channel().await;
    let ours = HealthServiceClient::new(channel.clone())
        .get_health(GetHealthRequest {})
        .await
        .unwrap();
    assert_eq!(ours.into_inner().status, "ok");
    let standard = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(standard.into_inner().status(), ServingStatus::Serving);
}

#[tokio::test]
async fn a_grpc_web_client_reaches_the_services_over_http1() {
    let app = spawn_app().await;
    let http1 = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
    let grpc_web = tower::ServiceBuilder::new()
        .layer(tonic_web::GrpcWebClientLayer::new())
        .service(http1);
    let mut client = HealthServiceClient::with_origin(grpc_web, app.url("").parse().unwrap());
    let response = client.get_health(GetHealthRequest {}).await.unwrap();
    assert_eq!(response.into_inner().status, "ok");
}

#[tokio::test]
async fn grpc_web_text_is_answered_in_base64() {
    let app = spawn_app().await;
    // An empty GetHealthRequest: one uncompressed frame of length zero.
    let frame = base64::engine::general_purpose::STANDARD.encode([0u8, 0, 0, 0, 0]);
    let response = app
        .http
        .post(app.url("/cloudsigma.v1.HealthService/GetHealth"))
        .header("content-type", "application/grpc-web-text")
        .header("accept", "application/grpc-web-text")
        .header("x-grpc-web", "1")
        .body(frame)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let decoded: Vec<u8> = text
        .split_inclusive('=')
        .flat_map(|chunk| {
            base64::engine::general_purpose::STANDARD
                .decode(chunk)
                .unwrap()
        })
        .collect();
    // Data frame: flag 0, length, then the message with field 1 = "ok".
    assert_eq!(&decoded[..9], &[0, 0, 0, 0, 4, 0x0a, 2, b'o', b'k']);
    let trailers = String::from_utf8_lossy(&decoded[9..]);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
}

#[tokio::test]
async fn reflection_lists_every_service_over_v1_and_v1alpha() {
    use tokio_stream_shim::once;
    let app = spawn_app().await;
    let channel = app.channel().await;

    let mut v1 = tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(
        channel.clone(),
    );
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut stream = v1
        .server_reflection_info(once(request))
        .await
        .unwrap()
        .into_inner();
    let answer = stream.message().await.unwrap().unwrap();
    let Some(
        tonic_reflection::pb::v1::server_reflection_response::MessageResponse::ListServicesResponse(
            list,
        ),
    ) = answer.message_response
    else {
        panic!("a list of services");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "cloudsigma.v1.AuthService",
        "cloudsigma.v1.ApiKeyService",
        "cloudsigma.v1.UsageService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }

    let mut v1alpha =
        tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient::new(
            channel,
        );
    let request = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "cloudsigma.v1.ApiKeyService".to_owned(),
            ),
        ),
    };
    let mut stream = v1alpha
        .server_reflection_info(once(request))
        .await
        .unwrap()
        .into_inner();
    let answer = stream.message().await.unwrap().unwrap();
    assert!(matches!(
        answer.message_response,
        Some(tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(_))
    ));
}

/// A one-item request stream for the streaming reflection RPC.
mod tokio_stream_shim {
    pub fn once<T: Send + 'static>(item: T) -> impl futures_util::Stream<Item = T> + Send {
        futures_util::stream::iter([item])
    }
}

#[tokio::test]
async fn an_unknown_path_is_404_not_found() {
    let app = spawn_app().await;
    assert_error(app.get("/v1/nothing-here", None).await, 404, "NotFound").await;
    assert_error(app.get("/v1/health/", None).await, 404, "NotFound").await;
    assert_error(app.get("/", None).await, 404, "NotFound").await;
}

#[tokio::test]
async fn a_known_path_with_the_wrong_method_is_405() {
    let app = spawn_app().await;
    let response = app
        .send_json(Method::DELETE, "/v1/health", None, &json!({}))
        .await;
    assert_eq!(response.headers()["allow"], "GET");
    assert_error(response, 405, "MethodNotAllowed").await;
    let response = app.get("/v1/auth/sign-in", None).await;
    assert_error(response, 405, "MethodNotAllowed").await;
}

#[tokio::test]
async fn malformed_json_and_unknown_fields_are_400() {
    let app = spawn_app().await;
    for body in [
        "{\"email\": ",
        "[1, 2]",
        "\"text\"",
        "{\"email\": \"a@example.com\", \"password\": \"long enough\", \"tier\": \"enterprise\"}",
        "{\"email\": 5, \"password\": \"long enough\"}",
    ] {
        let response = app
            .http
            .post(app.url("/v1/auth/sign-up"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let error = assert_error(response, 400, "ValidationError").await;
        assert!(!error.to_string().contains("enterprise"));
    }
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let app = spawn_app().await;
    let big = json!({"email": "a@example.com", "password": "x".repeat(65 * 1024)});
    assert_error(
        app.post("/v1/auth/sign-up", None, &big).await,
        413,
        "PayloadTooLarge",
    )
    .await;
    // Just under the limit is read (and then judged on its content).
    let fits = json!({"email": "a@example.com", "password": "x".repeat(60 * 1024)});
    let (status, _) = envelope(app.post("/v1/auth/sign-up", None, &fits).await).await;
    assert_ne!(status, 413);
}

#[tokio::test]
async fn every_annotated_rpc_is_answered_by_rest() {
    let app = spawn_app().await;
    let routes = Routes::from_pool(&descriptors::pool()).unwrap();
    let mut count = 0;
    for route in routes.iter() {
        count += 1;
        let path = route
            .template
            .split('/')
            .map(|p| {
                if p.starts_with('{') {
                    "csk_live_0123abcd"
                } else {
                    p
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        let response = app
            .http
            .request(method, app.url(&path))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(
            status != 404 && status != 405 && status < 500,
            "{} {} answered {status}",
            route.method,
            route.template
        );
    }
    assert!(count >= 11, "{count} annotated RPCs");
}

#[tokio::test]
async fn health_is_503_and_grpc_health_not_serving_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.db().close_by_ref().await.unwrap();
    assert_error(app.get("/v1/health", None).await, 503, "ServiceUnavailable").await;

    let mut health = HealthClient::new(app.channel().await);
    let mut status = ServingStatus::Serving;
    for _ in 0..40 {
        status = health
            .check(HealthCheckRequest {
                service: "cloudsigma.v1.AuthService".to_owned(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        if status == ServingStatus::NotServing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, ServingStatus::NotServing);
}

#[tokio::test]
async fn browsers_from_a_configured_origin_pass_the_cors_preflight() {
    let app = spawn_app_with(|c| c.cors_origins = vec!["https://app.example.com".into()]).await;
    let response = app
        .http
        .request(Method::OPTIONS, app.url("/v1/usage"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let response = app
        .http
        .get(app.url("/v1/health"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

fn run_binary(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cloudsigma-auth"));
    command
        .args(args)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "off");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn bad_configuration_stops_start_up_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/x.db?mode=rwc", dir.path().display());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = listener.local_addr().unwrap().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["serve", "--listen", "not-an-address"], "--listen"),
        (
            vec![
                "serve",
                "--database-url",
                "mysql://localhost/db",
                "--listen",
                "127.0.0.1:0",
            ],
            "DATABASE_URL",
        ),
        (
            vec![
                "serve",
                "--database-url",
                "postgres://nobody:hunter2@127.0.0.1:1/none",
                "--listen",
                "127.0.0.1:0",
            ],
            "cannot connect to the database",
        ),
        (
            vec!["serve", "--database-url", &sqlite, "--listen", &taken],
            "cannot listen on",
        ),
    ];
    for (args, expected) in cases {
        let (ok, stderr) = tokio::task::spawn_blocking({
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            move || run_binary(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[])
        })
        .await
        .unwrap();
        assert!(!ok, "{args:?} must fail");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            !stderr.contains("hunter2"),
            "the password is not echoed: {stderr}"
        );
    }
    drop(listener);
}

#[tokio::test]
async fn migrate_applies_the_schema_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/m.db?mode=rwc", dir.path().display());
    let (ok, stderr) = tokio::task::spawn_blocking(move || {
        run_binary(&["migrate", "--database-url", &sqlite], &[])
    })
    .await
    .unwrap();
    assert!(ok, "{stderr}");
    assert!(dir.path().join("m.db").exists());
}

#[tokio::test]
async fn grpc_errors_carry_error_info_with_the_contract_code() {
    use cloudsigma_auth::proto::cloudsigma::v1::{
        GetUsageRequest, usage_service_client::UsageServiceClient,
    };
    let app = spawn_app().await;
    let status = UsageServiceClient::new(app.channel().await)
        .get_usage(GetUsageRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(crate::helpers::reason(&status), "Unauthorized");
}

#[tokio::test]
async fn shutdown_stops_the_listener_cleanly() {
    let app = spawn_app().await;
    let url = app.url("/v1/health");
    app.stop().await;
    assert!(reqwest::get(url).await.is_err());
}

#[tokio::test]
async fn an_oversized_grpc_message_is_resource_exhausted_payload_too_large() {
    use cloudsigma_auth::proto::cloudsigma::v1::{
        SignUpRequest, auth_service_client::AuthServiceClient,
    };
    let app = spawn_app().await;
    let status = AuthServiceClient::new(app.channel().await)
        .sign_up(SignUpRequest {
            email: "big@example.com".into(),
            password: "x".repeat(70 * 1024),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(crate::helpers::reason(&status), "PayloadTooLarge");
}

#[tokio::test]
async fn an_empty_service_token_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/x.db?mode=rwc", dir.path().display());
    let (ok, stderr) = tokio::task::spawn_blocking(move || {
        run_binary(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                &sqlite,
            ],
            &[("CLOUDSIGMA_SERVICE_TOKEN", "")],
        )
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(stderr.contains("CLOUDSIGMA_SERVICE_TOKEN"), "{stderr}");
}

#[test]
fn rest_paths_are_written_in_the_protos_only() {
    fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if std::fs::read_to_string(&path).unwrap().contains("/v1/") {
                found.push(path.display().to_string());
            }
        }
    }
    let mut found = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    assert!(found.is_empty(), "REST paths outside the protos: {found:?}");
}

#[tokio::test]
async fn browsers_can_call_grpc_web_from_a_configured_origin() {
    let app = spawn_app_with(|c| c.cors_origins = vec!["https://app.example.com".into()]).await;
    let path = "/cloudsigma.v1.HealthService/GetHealth";
    let preflight = app
        .http
        .request(Method::OPTIONS, app.url(path))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-grpc-web,authorization",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let response = app
        .http
        .post(app.url(path))
        .header("origin", "https://app.example.com")
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    let exposed = headers["access-control-expose-headers"].to_str().unwrap();
    for name in [
        "grpc-status",
        "grpc-message",
        "x-ratelimit-remaining",
        "retry-after",
    ] {
        assert!(exposed.contains(name), "{name} is exposed: {exposed}");
    }
}

/// `cloudsigma-auth health` (the container health check) against `addr`.
async fn health_command(addr: std::net::SocketAddr) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_cloudsigma-auth"))
            .args(["health", "--addr", &addr.to_string()])
            .env("RUST_LOG", "off")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_health_command_exits_0_for_a_serving_instance_and_1_for_none() {
    let app = crate::helpers::spawn_app().await;
    let serving = health_command(app.addr).await;
    assert!(serving.status.success(), "{serving:?}");
    assert_eq!(String::from_utf8_lossy(&serving.stdout).trim(), "SERVING");

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let refused = health_command(closed).await;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cannot connect"));
}
