//! Hardening of the password and refresh paths: a session has one refresh lineage however its
//! token is replayed or raced (over REST and gRPC), and a flood of password checks past the
//! bounded hashing queue is answered 503 at once while health stays fast.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use clap::Parser;
use cloudsigma_auth::{
    config::Cli,
    proto::cloudsigma::v1::{
        GetUsageRequest, RefreshTokenRequest, SignInRequest,
        auth_service_client::AuthServiceClient, usage_service_client::UsageServiceClient,
    },
    store::entities::refresh_tokens,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tonic_types::StatusExt;

use crate::{
    auth::{access, signed_in},
    helpers::{TestApp, envelope, reason, spawn_app, spawn_app_with},
};

/// Past the default grace period of 5 s.
const AFTER_GRACE: Duration = Duration::from_secs(6);

#[derive(Clone, Copy, Debug)]
enum Transport {
    Rest,
    Grpc,
}

/// The tokens of a successful refresh.
#[derive(Debug, Clone)]
struct Refreshed {
    refresh_token: String,
    access_token: String,
}

fn session_of(access_token: &str) -> String {
    let payload = access_token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["origin_jti"].as_str().unwrap().to_owned()
}

/// Refreshes and expects success.
async fn refresh_ok(app: &TestApp, transport: Transport, token: &str) -> Refreshed {
    match transport {
        Transport::Rest => {
            let response = app
                .post("/v1/auth/refresh", None, &json!({"refreshToken": token}))
                .await;
            assert_eq!(response.headers()["cache-control"], "no-store");
            let (status, body) = envelope(response).await;
            assert_eq!(status, 200, "{body}");
            Refreshed {
                refresh_token: body["data"]["refreshToken"].as_str().unwrap().to_owned(),
                access_token: access(&body["data"]),
            }
        }
        Transport::Grpc => {
            let mut client = AuthServiceClient::new(app.channel().await);
            let response = client
                .refresh_token(RefreshTokenRequest {
                    refresh_token: token.to_owned(),
                })
                .await
                .expect("the refresh succeeds");
            assert_eq!(
                response
                    .metadata()
                    .get("cache-control")
                    .and_then(|v| v.to_str().ok())
                    .unwrap(),
                "no-store"
            );
            let tokens = response.into_inner();
            Refreshed {
                refresh_token: tokens.refresh_token,
                access_token: tokens.access_token,
            }
        }
    }
}

/// Refreshes and expects 401 `Unauthorized` (gRPC UNAUTHENTICATED) with `WWW-Authenticate`.
async fn assert_refresh_refused(app: &TestApp, transport: Transport, token: &str) {
    match transport {
        Transport::Rest => {
            let response = app
                .post("/v1/auth/refresh", None, &json!({"refreshToken": token}))
                .await;
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let (status, body) = envelope(response).await;
            assert_eq!(
                (status, &body["error"]["code"]),
                (401, &json!("Unauthorized"))
            );
            assert!(!body.to_string().contains(token), "the token is echoed");
        }
        Transport::Grpc => {
            let mut client = AuthServiceClient::new(app.channel().await);
            let status = client
                .refresh_token(RefreshTokenRequest {
                    refresh_token: token.to_owned(),
                })
                .await
                .err()
                .unwrap_or_else(|| panic!("the refresh is refused"));
            assert_eq!(status.code(), tonic::Code::Unauthenticated);
            assert_eq!(reason(&status), "Unauthorized");
            assert_eq!(
                status
                    .metadata()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap(),
                "Bearer"
            );
        }
    }
}

/// Whether an access token authenticates its next request; a refusal must be a 401 with
/// `WWW-Authenticate: Bearer`.
async fn access_works(app: &TestApp, transport: Transport, access_token: &str) -> bool {
    match transport {
        Transport::Rest => {
            let response = app.get("/v1/usage", Some(access_token)).await;
            if response.status() == 200 {
                return true;
            }
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let (status, body) = envelope(response).await;
            assert_eq!(
                (status, &body["error"]["code"]),
                (401, &json!("Unauthorized"))
            );
            false
        }
        Transport::Grpc => {
            let mut client = UsageServiceClient::new(app.channel().await);
            let mut request = tonic::Request::new(GetUsageRequest {});
            request.metadata_mut().insert(
                "authorization",
                format!("Bearer {access_token}").parse().unwrap(),
            );
            match client.get_usage(request).await {
                Ok(_) => true,
                Err(status) => {
                    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
                    assert_eq!(reason(&status), "Unauthorized");
                    assert_eq!(
                        status
                            .metadata()
                            .get("www-authenticate")
                            .and_then(|v| v.to_str().ok())
                            .unwrap(),
                        "Bearer"
                    );
                    false
                }
            }
        }
    }
}

/// Refresh tokens of the session that have not been exchanged yet, as the database has them.
async fn live_refresh_tokens(app: &TestApp, session: &str) -> usize {
    refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::SessionId.eq(session))
        .filter(refresh_tokens::Column::RotatedAt.is_null())
        .all(app.db())
        .await
        .unwrap()
        .len()
}

/// A signed-in session: (refresh token, session id).
async fn session(app: &TestApp, email: &str) -> (String, String) {
    let tokens = signed_in(app, email).await;
    (
        tokens["refreshToken"].as_str().unwrap().to_owned(),
        session_of(&access(&tokens)),
    )
}

async fn replays_within_the_grace_period_get_the_same_successor(transport: Transport) {
    let app = spawn_app().await;
    let (r0, session) = session(&app, "replay@example.com").await;
    let r1 = refresh_ok(&app, transport, &r0).await;
    assert_ne!(r1.refresh_token, r0);

    for _ in 0..3 {
        let again = refresh_ok(&app, transport, &r0).await;
        assert_eq!(again.refresh_token, r1.refresh_token, "a second lineage");
        assert_ne!(again.access_token, r1.access_token, "fresh access tokens");
        assert_eq!(session_of(&again.access_token), session);
        assert!(access_works(&app, transport, &again.access_token).await);
    }
    assert_eq!(live_refresh_tokens(&app, &session).await, 1);

    // After the grace period, the one token handed out works and rotates on.
    app.clock.advance(AFTER_GRACE);
    let r2 = refresh_ok(&app, transport, &r1.refresh_token).await;
    assert_ne!(r2.refresh_token, r1.refresh_token);
    assert!(access_works(&app, transport, &r2.access_token).await);
    assert_eq!(live_refresh_tokens(&app, &session).await, 1);
}

#[tokio::test]
async fn replays_within_the_grace_period_get_the_same_successor_over_rest() {
    replays_within_the_grace_period_get_the_same_successor(Transport::Rest).await;
}

#[tokio::test]
async fn replays_within_the_grace_period_get_the_same_successor_over_grpc() {
    replays_within_the_grace_period_get_the_same_successor(Transport::Grpc).await;
}

async fn a_rotated_token_after_the_grace_period_revokes_the_session(transport: Transport) {
    let app = spawn_app().await;
    let (r0, _) = session(&app, "thief@example.com").await;
    let victim = refresh_ok(&app, transport, &r0).await;
    // A thief replaying the stolen token within the grace period gets the victim's successor,
    // not a lineage of its own.
    let thief = refresh_ok(&app, transport, &r0).await;
    assert_eq!(thief.refresh_token, victim.refresh_token);

    app.clock.advance(AFTER_GRACE);
    assert_refresh_refused(&app, transport, &r0).await;
    // The whole session ended: its refresh token and, on their next request, its access
    // tokens.
    assert_refresh_refused(&app, transport, &victim.refresh_token).await;
    assert!(!access_works(&app, transport, &victim.access_token).await);
    assert!(!access_works(&app, transport, &thief.access_token).await);
}

#[tokio::test]
async fn a_rotated_token_after_the_grace_period_revokes_the_session_over_rest() {
    a_rotated_token_after_the_grace_period_revokes_the_session(Transport::Rest).await;
}

#[tokio::test]
async fn a_rotated_token_after_the_grace_period_revokes_the_session_over_grpc() {
    a_rotated_token_after_the_grace_period_revokes_the_session(Transport::Grpc).await;
}

async fn ten_concurrent_refreshes_leave_one_lineage(transport: Transport) {
    let app = spawn_app().await;
    let (r0, session) = session(&app, "race@example.com").await;
    let answers =
        futures_util::future::join_all((0..10).map(|_| refresh_ok(&app, transport, &r0))).await;
    let handed_out: HashSet<_> = answers.iter().map(|a| a.refresh_token.clone()).collect();
    assert_eq!(handed_out.len(), 1, "{} lineages", handed_out.len());
    assert_eq!(live_refresh_tokens(&app, &session).await, 1);

    // After the grace period exactly one refresh token works: the one every answer carried.
    app.clock.advance(AFTER_GRACE);
    let only = handed_out.into_iter().next().unwrap();
    let next = refresh_ok(&app, transport, &only).await;
    assert!(access_works(&app, transport, &next.access_token).await);
    assert_refresh_refused(&app, transport, &r0).await;
}

#[tokio::test]
async fn ten_concurrent_refreshes_of_one_token_leave_one_lineage_over_rest() {
    ten_concurrent_refreshes_leave_one_lineage(Transport::Rest).await;
}

#[tokio::test]
async fn ten_concurrent_refreshes_of_one_token_leave_one_lineage_over_grpc() {
    ten_concurrent_refreshes_leave_one_lineage(Transport::Grpc).await;
}

#[tokio::test]
async fn a_successor_already_rotated_is_still_the_only_answer_and_the_chain_has_one_live_end() {
    let app = spawn_app().await;
    let (r0, session) = session(&app, "chain@example.com").await;
    let r1 = refresh_ok(&app, Transport::Rest, &r0).await;
    app.clock.advance(Duration::from_secs(2));
    let r2 = refresh_ok(&app, Transport::Rest, &r1.refresh_token).await;
    // R0 is still within its grace period: it gets R1 again, which is already rotated, so no
    // new live token appears.
    app.clock.advance(Duration::from_secs(2));
    let again = refresh_ok(&app, Transport::Rest, &r0).await;
    assert_eq!(again.refresh_token, r1.refresh_token);
    assert_eq!(live_refresh_tokens(&app, &session).await, 1);

    app.clock.advance(AFTER_GRACE);
    let r3 = refresh_ok(&app, Transport::Rest, &r2.refresh_token).await;
    assert!(access_works(&app, Transport::Rest, &r3.access_token).await);
    // R1 handed out by the late replay is dead after its own grace period, and using it ends
    // the session.
    assert_refresh_refused(&app, Transport::Rest, &r1.refresh_token).await;
    assert_refresh_refused(&app, Transport::Rest, &r3.refresh_token).await;
}

#[tokio::test]
async fn the_grace_period_is_configurable_up_to_ten_seconds() {
    let app = spawn_app_with(|c| c.refresh_grace_seconds = 10).await;
    let (r0, _) = session(&app, "slow-tab@example.com").await;
    let r1 = refresh_ok(&app, Transport::Rest, &r0).await;
    app.clock.advance(Duration::from_secs(9));
    let again = refresh_ok(&app, Transport::Rest, &r0).await;
    assert_eq!(again.refresh_token, r1.refresh_token);
    app.clock.advance(Duration::from_secs(2));
    assert_refresh_refused(&app, Transport::Rest, &r0).await;
    assert_refresh_refused(&app, Transport::Rest, &r1.refresh_token).await;

    for (value, accepted) in [("0", true), ("10", true), ("11", false), ("-1", false)] {
        let parsed = Cli::try_parse_from(["cloudsigma-auth", "--refresh-grace-seconds", value]);
        assert_eq!(parsed.is_ok(), accepted, "--refresh-grace-seconds {value}");
    }
}

/// What one flood request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// The password was checked (a wrong one: 401; a sign-up: 200).
    Checked,
    /// Refused at once: 503 `ServiceUnavailable` with `Retry-After`.
    Busy,
}

async fn rest_flood_request(app: &TestApp, path: &str, email: String) -> Answer {
    let response = app
        .post(
            path,
            None,
            &json!({"email": email, "password": "wrong password"}),
        )
        .await;
    let status = response.status().as_u16();
    if status == 503 {
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry_after >= 1);
        let (_, body) = envelope(response).await;
        assert_eq!(body["error"]["code"], "ServiceUnavailable", "{body}");
        return Answer::Busy;
    }
    let expected = if path.ends_with("sign-up") { 200 } else { 401 };
    assert_eq!(status, expected, "{path}");
    Answer::Checked
}

async fn grpc_flood_request(client: &mut AuthServiceClient<tonic::transport::Channel>) -> Answer {
    let email = format!("grpc-{}@example.com", uuid::Uuid::new_v4().simple());
    let status = client
        .sign_in(SignInRequest {
            email,
            password: "wrong password".into(),
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("nobody signs in"));
    if status.code() == tonic::Code::Unavailable {
        assert_eq!(reason(&status), "ServiceUnavailable");
        let retry = status.get_error_details().retry_info().cloned();
        let delay = retry.and_then(|r| r.retry_delay).expect("RetryInfo");
        assert!(delay >= Duration::from_secs(1));
        assert!(status.metadata().contains_key("retry-after"));
        return Answer::Busy;
    }
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    Answer::Checked
}

#[tokio::test]
async fn a_flood_of_password_checks_past_the_queue_is_answered_503_at_once_and_health_stays_fast() {
    let app = Arc::new(
        spawn_app_with(|c| {
            c.auth_burst_per_address = 1_000_000;
            c.auth_rate_per_minute_per_address = 1_000_000;
            c.hashing_queue_length = 2;
            c.hashing_queue_wait_ms = 500;
        })
        .await,
    );
    let channel = app.channel().await;
    let flood_for = Duration::from_secs(2);
    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));

    // 200 clients: REST sign-ins, REST sign-ups and gRPC sign-ins, each sending its next
    // request as soon as the last one is answered, for the length of the flood.
    let (flood_app, flood_channel) = (app.clone(), channel.clone());
    let clients: Vec<_> = (0..200)
        .map(move |i| {
            let app = flood_app.clone();
            let mut grpc = AuthServiceClient::new(flood_channel.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while started.elapsed() < flood_for {
                    let sent = Instant::now();
                    let email = format!("flood-{}@example.com", uuid::Uuid::new_v4().simple());
                    let answer = match i % 4 {
                        0 => grpc_flood_request(&mut grpc).await,
                        1 => rest_flood_request(&app, "/v1/auth/sign-up", email).await,
                        _ => rest_flood_request(&app, "/v1/auth/sign-in", email).await,
                    };
                    answers.push((i % 4, answer, sent.elapsed()));
                }
                answers
            })
        })
        .collect();
    let flood = tokio::spawn({
        let done = done.clone();
        async move {
            let answers = futures_util::future::join_all(clients).await;
            done.store(true, Ordering::SeqCst);
            answers
        }
    });

    // Meanwhile, one client checks health, one request after the other.
    let health = reqwest::Client::new();
    let mut latencies = Vec::new();
    while !done.load(Ordering::SeqCst) {
        let sent = Instant::now();
        let response = health.get(app.url("/v1/health")).send().await.unwrap();
        latencies.push(sent.elapsed());
        assert_eq!(response.status(), 200);
    }

    let answers: Vec<_> = flood
        .await
        .unwrap()
        .into_iter()
        .flat_map(|client| client.unwrap())
        .collect();
    let slowest = answers.iter().map(|(_, _, took)| *took).max().unwrap();
    assert!(
        slowest < Duration::from_secs(3),
        "a request waited {slowest:?}"
    );
    for (kind, name) in [(0, "gRPC sign-in"), (1, "sign-up"), (2, "sign-in")] {
        let of_kind = |wanted| {
            answers
                .iter()
                .filter(|(k, answer, _)| {
                    (*k == kind || (kind == 2 && *k == 3)) && *answer == wanted
                })
                .count()
        };
        assert!(of_kind(Answer::Busy) > 0, "no {name} was refused as busy");
    }
    // Which kind wins the two queue places is chance; that some are served is not.
    let served = answers
        .iter()
        .filter(|(_, answer, _)| *answer == Answer::Checked)
        .count();
    assert!(served > 0, "no password check was served during the flood");

    latencies.sort();
    assert!(latencies.len() >= 20, "{} health checks", latencies.len());
    let p99 = latencies[(latencies.len() * 99).div_ceil(100) - 1];
    assert!(
        p99 < Duration::from_millis(500),
        "health p99 {p99:?} over {} checks during the flood",
        latencies.len()
    );
}
