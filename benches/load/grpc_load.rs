//! The Rust load process, for gRPC scenarios that need a different request body on every call
//! (h2load sends one body): the bench binary re-executes itself as `load …`, so the load still
//! comes from a process other than the server. Like `h2load -c4 -m8 -t1` it keeps a fixed number
//! of calls in flight over a few HTTP/2 connections from one thread; unlike h2load it stops
//! issuing at the deadline and waits for every call it sent, so its counts are exact.

use std::{
    collections::BTreeMap,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use cloudsigma_auth::proto::{
    cloudsigma::v1::{
        AuthenticateRequest, GetHealthRequest, auth_service_client::AuthServiceClient,
        health_service_client::HealthServiceClient,
    },
    envoy::service::auth::v3::{
        AttributeContext, CheckRequest,
        attribute_context::{HttpRequest, Request as AttributeRequest},
        authorization_client::AuthorizationClient,
    },
};
use prost::Message;
use serde_json::{Value, json};
use tonic::{Request, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{measure::Measured, server::SERVICE_TOKEN};

/// The RPCs the load process can drive.
#[derive(Clone, Copy)]
pub enum Rpc {
    Check,
    Authenticate,
}

impl Rpc {
    fn name(self) -> &'static str {
        match self {
            Rpc::Check => "check",
            Rpc::Authenticate => "authenticate",
        }
    }
}

/// Runs the load process and reads its result.
pub fn run(
    rpc: Rpc,
    addr: &str,
    seconds: u64,
    tokens_file: Option<&std::path::Path>,
) -> Result<Measured, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let output = Command::new(exe)
        .args([
            "load",
            rpc.name(),
            addr,
            &seconds.to_string(),
            &tokens_file.map_or("-".to_owned(), |p| p.display().to_string()),
        ])
        .output()
        .map_err(|e| format!("the load process did not start: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BENCH "))
        .ok_or_else(|| {
            format!(
                "the load process printed no result: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    let result: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let number = |name: &str| result[name].as_f64().unwrap_or(f64::NAN);
    let ok = result["ok"].as_u64().unwrap_or(0);
    let failed = result["failed"].as_u64().unwrap_or(0);
    Ok(Measured {
        rps: (ok + failed) as f64 / number("seconds"),
        p50_us: number("p50_us"),
        p99_us: number("p99_us"),
        ok,
        metered_ok: ok,
        failed,
        in_flight: 0,
        problem: result["errors"]
            .as_str()
            .filter(|e| !e.is_empty())
            .map(|e| format!("gRPC errors: {e}")),
    })
}

/// Entry point of `load <rpc> <addr> <seconds> <tokens file>`: prints one `BENCH {json}` line.
pub fn main(args: &[String]) {
    let [rpc, addr, seconds, tokens_file] = args else {
        panic!("usage: load <check|authenticate> <addr> <seconds> <tokens file>");
    };
    let rpc = match rpc.as_str() {
        "check" => Rpc::Check,
        "authenticate" => Rpc::Authenticate,
        other => panic!("unknown rpc {other}"),
    };
    let seconds: u64 = seconds.parse().expect("seconds");
    let tokens_text = match tokens_file.as_str() {
        "-" => String::new(),
        path => std::fs::read_to_string(path).expect("tokens file"),
    };
    let tokens: Vec<String> = tokens_text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let result = runtime.block_on(drive(rpc, addr, Duration::from_secs(seconds), tokens));
    println!("BENCH {result}");
}

const CONNECTIONS: usize = 4;
const STREAMS_PER_CONNECTION: usize = 8;

async fn connect(addr: &str) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("an address")
        .connect()
        .await
        .expect("the server accepts a connection")
}

fn with_service_token<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "x-cloudsigma-service-token",
        SERVICE_TOKEN.parse().expect("ASCII"),
    );
    request
}

async fn call(rpc: Rpc, channel: Channel, token: &str) -> Result<(), tonic::Code> {
    let result = match rpc {
        Rpc::Check => HealthClient::new(channel)
            .check(with_service_token(HealthCheckRequest::default()))
            .await
            .map(drop),
        Rpc::Authenticate => AuthServiceClient::new(channel)
            .authenticate(with_service_token(AuthenticateRequest {
                token: token.to_owned(),
                ..Default::default()
            }))
            .await
            .map(drop),
    };
    result.map_err(|status| status.code())
}

async fn drive(rpc: Rpc, addr: &str, duration: Duration, tokens: Vec<String>) -> Value {
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        channels.push(connect(addr).await);
    }
    let tokens = Arc::new(if tokens.is_empty() {
        vec![String::new()]
    } else {
        tokens
    });
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for stream in 0..CONNECTIONS * STREAMS_PER_CONNECTION {
        let channel = channels[stream % CONNECTIONS].clone();
        let (tokens, next) = (tokens.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            while Instant::now() < deadline {
                let token = &tokens[next.fetch_add(1, Ordering::Relaxed) % tokens.len()];
                let start = Instant::now();
                let outcome = call(rpc, channel.clone(), token).await;
                latencies.push(start.elapsed());
                if let Err(code) = outcome {
                    *errors.entry(format!("{code:?}")).or_default() += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for task in tasks {
        let (l, e) = task.await.expect("a load task");
        latencies.extend(l);
        for (code, n) in e {
            *errors.entry(code).or_default() += n;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    let failed: u64 = errors.values().sum();
    let micros = |p: f64| crate::measure::percentile(&latencies, p).as_secs_f64() * 1e6;
    json!({
        "ok": latencies.len() as u64 - failed,
        "failed": failed,
        "errors": errors.iter().map(|(c, n)| format!("{c}: {n}")).collect::<Vec<_>>().join(", "),
        "seconds": seconds,
        "p50_us": micros(0.50),
        "p99_us": micros(0.99),
    })
}

/// The length of the gRPC frame (5-byte prefix and message) of a successful answer, from one
/// call: h2load cannot see `grpc-status`, but an error answer carries no message, so the DATA
/// bytes it received tell how many answers were successful.
/// An Envoy ext_authz check of `GET /v1/usage` carrying `token` as its bearer credential.
pub fn envoy_check_request(token: &str) -> CheckRequest {
    let headers = [("authorization".to_owned(), format!("Bearer {token}"))]
        .into_iter()
        .collect();
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(AttributeRequest {
                http: Some(HttpRequest {
                    method: "GET".to_owned(),
                    path: "/v1/usage".to_owned(),
                    headers,
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
    }
}

pub async fn answer_frame_len(addr: &str, method: &str, token: &str) -> usize {
    let channel = connect(addr).await;
    let len = match method {
        "/grpc.health.v1.Health/Check" => HealthClient::new(channel)
            .check(with_service_token(HealthCheckRequest::default()))
            .await
            .map(|r| r.into_inner().encoded_len()),
        "/cloudsigma.v1.HealthService/GetHealth" => HealthServiceClient::new(channel)
            .get_health(with_service_token(GetHealthRequest {}))
            .await
            .map(|r| r.into_inner().encoded_len()),
        "/cloudsigma.v1.AuthService/Authenticate" => AuthServiceClient::new(channel)
            .authenticate(with_service_token(AuthenticateRequest {
                token: token.to_owned(),
                ..Default::default()
            }))
            .await
            .map(|r| r.into_inner().encoded_len()),
        "/envoy.service.auth.v3.Authorization/Check" => AuthorizationClient::new(channel)
            .check(envoy_check_request(token))
            .await
            .map(|r| r.into_inner().encoded_len()),
        other => panic!("no probe for {other}"),
    };
    5 + len.unwrap_or_else(|status| panic!("probe of {method} failed: {status:?}"))
}
