//! Load harness: starts the release server and drives it with many concurrent connections over
//! REST (HTTP/1.1 keep-alive) and gRPC, on SQLite and on PostgreSQL. Every scenario is reported
//! with requests/s, p50, p99 and its ratio to the health baseline of the same protocol, measured
//! in the same run. Not a test: it asserts nothing.
//!
//!     cargo bench --bench load                       # 5 s per scenario, 64 connections
//!     cargo bench --bench load -- --seconds 10 --connections 128
//!
//! PostgreSQL is used when `BENCH_DATABASE_URL` names a server (a fresh database is created on
//! it), or when one answers at postgres://postgres@127.0.0.1:5432/postgres.

use std::{
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use cloudsigma_auth::proto::cloudsigma::v1::{
    AuthenticateRequest, GetHealthRequest, auth_service_client::AuthServiceClient,
    health_service_client::HealthServiceClient,
};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const SERVICE_TOKEN: &str = "bench-service-token-0123456789abcdef";
const PASSWORD: &str = "correct horse battery";

struct Options {
    seconds: u64,
    connections: usize,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    Options {
        seconds: value("--seconds", 5),
        connections: usize::try_from(value("--connections", 64)).unwrap_or(64),
    }
}

struct Server {
    child: Child,
    base: String,
    addr: String,
    database_url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(database_url: &str) -> Server {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_cloudsigma-auth"))
        .args(["serve", "--listen", &addr])
        .env("DATABASE_URL", database_url)
        .env("CLOUDSIGMA_SERVICE_TOKEN", SERVICE_TOKEN)
        // Limiters are opened wide: this measures the service, not the throttles.
        .env("CLOUDSIGMA_ACCOUNT_BURST", "1000000000")
        .env("CLOUDSIGMA_ACCOUNT_RATE_PER_SECOND", "1000000000")
        .env("CLOUDSIGMA_AUTH_BURST_PER_ADDRESS", "1000000000")
        .env("CLOUDSIGMA_AUTH_RATE_PER_MINUTE_PER_ADDRESS", "1000000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the release binary starts (run `cargo bench`, which builds it)");
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(format!("{base}/v1/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server {
        child,
        base,
        addr,
        database_url: database_url.to_owned(),
    }
}

/// An enterprise user with a JWT and an API key of a large daily limit.
async fn credentials(server: &Server) -> (String, String) {
    let http = reqwest::Client::new();
    let email = "bench@example.com";
    http.post(format!("{}/v1/auth/sign-up", server.base))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_cloudsigma-auth"))
        .args(["users", "set-tier", email, "enterprise"])
        .env("DATABASE_URL", &server.database_url)
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let tokens: Value = http
        .post(format!("{}/v1/auth/sign-in", server.base))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwt = tokens["data"]["accessToken"].as_str().unwrap().to_owned();
    let created: Value = http
        .post(format!("{}/v1/api-keys", server.base))
        .bearer_auth(&jwt)
        .json(&json!({"name": "bench", "dailyLimit": 1_000_000}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["data"]["key"].as_str().unwrap().to_owned();
    (jwt, key)
}

struct Outcome {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Outcome {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[index]
    }
}

/// Runs `call` from `workers` tasks for `seconds`; each call returns whether it succeeded.
async fn drive<F, Fut>(workers: usize, seconds: u64, call: F) -> Outcome
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            while Instant::now() < deadline {
                let start = Instant::now();
                if !call(worker).await {
                    errors += 1;
                }
                latencies.push(start.elapsed());
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Outcome {
        requests: latencies.len(),
        errors,
        elapsed,
        latencies,
    }
}

fn rest_clients(n: usize) -> Arc<Vec<reqwest::Client>> {
    // One client per worker: each keeps its own HTTP/1.1 keep-alive connection.
    Arc::new((0..n).map(|_| reqwest::Client::new()).collect())
}

async fn rest_get(workers: usize, seconds: u64, url: String, bearer: Option<String>) -> Outcome {
    let clients = rest_clients(workers);
    drive(workers, seconds, move |worker| {
        let mut request = clients[worker].get(&url);
        if let Some(bearer) = &bearer {
            request = request.bearer_auth(bearer);
        }
        async move {
            match request.send().await {
                Ok(response) => {
                    let ok = response.status().is_success();
                    let _ = response.bytes().await;
                    ok
                }
                Err(_) => false,
            }
        }
    })
    .await
}

async fn channels(server: &Server, n: usize) -> Arc<Vec<Channel>> {
    let mut channels = Vec::new();
    for _ in 0..n {
        channels.push(
            Channel::from_shared(server.base.clone())
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    Arc::new(channels)
}

/// gRPC load: `workers` concurrent calls multiplexed over 8 HTTP/2 connections.
async fn grpc_health(server: &Server, workers: usize, seconds: u64) -> Outcome {
    let channels = channels(server, 8).await;
    drive(workers, seconds, move |worker| {
        let mut client = HealthClient::new(channels[worker % channels.len()].clone());
        async move {
            client
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .is_ok()
        }
    })
    .await
}

/// Our own health RPC over gRPC: like `GET /v1/health`, it pings the database.
async fn grpc_get_health(server: &Server, workers: usize, seconds: u64) -> Outcome {
    let channels = channels(server, 8).await;
    drive(workers, seconds, move |worker| {
        let mut client = HealthServiceClient::new(channels[worker % channels.len()].clone());
        async move { client.get_health(GetHealthRequest {}).await.is_ok() }
    })
    .await
}

async fn grpc_authenticate(server: &Server, workers: usize, seconds: u64, key: String) -> Outcome {
    let channels = channels(server, 8).await;
    drive(workers, seconds, move |worker| {
        let mut client = AuthServiceClient::new(channels[worker % channels.len()].clone());
        let mut request = tonic::Request::new(AuthenticateRequest {
            token: key.clone(),
            ..Default::default()
        });
        request
            .metadata_mut()
            .insert("x-cloudsigma-service-token", SERVICE_TOKEN.parse().unwrap());
        async move { client.authenticate(request).await.is_ok() }
    })
    .await
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn row(name: &str, outcome: &Outcome, baseline: Option<&Outcome>) {
    let ratio = baseline.map_or("1.00 (baseline)".to_owned(), |b| {
        format!("{:.2}", outcome.rps() / b.rps())
    });
    println!(
        "| {name} | {:.0} | {} | {} | {} | {ratio} |",
        outcome.rps(),
        ms(outcome.percentile(0.50)),
        ms(outcome.percentile(0.99)),
        outcome.errors,
    );
}

async fn throughput(label: &str, server: &Server, options: &Options) {
    let (jwt, key) = credentials(server).await;
    let (c, s) = (options.connections, options.seconds);
    let health = rest_get(c, s, format!("{}/v1/health", server.base), None).await;
    let grpc = grpc_health(server, c, s).await;
    let grpc_db = grpc_get_health(server, c, s).await;
    let usage_key = rest_get(c, s, format!("{}/v1/usage", server.base), Some(key.clone())).await;
    let usage_jwt = rest_get(c, s, format!("{}/v1/usage", server.base), Some(jwt)).await;
    let authenticate = grpc_authenticate(server, c, s, key).await;

    println!("\n### {label}: {c} concurrent connections, {s} s per scenario\n");
    println!("| scenario | requests/s | p50 ms | p99 ms | errors | ratio to baseline |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    row("REST `GET /v1/health` (REST baseline)", &health, None);
    row(
        "gRPC `grpc.health.v1.Health/Check` (gRPC baseline)",
        &grpc,
        None,
    );
    row(
        "gRPC `HealthService/GetHealth` (pings the database)",
        &grpc_db,
        Some(&grpc),
    );
    row(
        "REST `GET /v1/usage`, API key (metered)",
        &usage_key,
        Some(&health),
    );
    row("REST `GET /v1/usage`, JWT", &usage_jwt, Some(&health));
    row(
        "gRPC `AuthService/Authenticate`, API key (metered)",
        &authenticate,
        Some(&grpc),
    );
    println!(
        "\n`Authenticate` / `HealthService/GetHealth` (both over gRPC, both touching the \
         database): {:.2}",
        authenticate.rps() / grpc_db.rps()
    );
}

/// Sign-in latency alone, and `/v1/health` latency while sign-ins saturate the hashing pool.
async fn sign_in_isolation(server: &Server, options: &Options) {
    let s = options.seconds;
    let url = format!("{}/v1/auth/sign-in", server.base);
    let body = json!({"email": "bench@example.com", "password": PASSWORD});
    let sign_in = |workers: usize| {
        let clients = rest_clients(workers);
        let url = url.clone();
        let body = body.clone();
        drive(workers, s, move |worker| {
            let request = clients[worker].post(&url).json(&body);
            async move { matches!(request.send().await, Ok(r) if r.status().is_success()) }
        })
    };
    let health_url = format!("{}/v1/health", server.base);

    let idle_health = rest_get(1, s, health_url.clone(), None).await;
    let single = sign_in(1).await;
    let (saturated, health_under_load) =
        tokio::join!(sign_in(16), rest_get(1, s, health_url, None));

    println!("\n### Sign-in (Argon2id m=19 MiB, t=2, p=1) and health isolation, SQLite\n");
    println!("| scenario | requests/s | p50 ms | p99 ms | errors | ratio to baseline |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    row(
        "`GET /v1/health`, 1 connection, idle (baseline)",
        &idle_health,
        None,
    );
    row("`POST /v1/auth/sign-in`, 1 connection", &single, None);
    row(
        "`POST /v1/auth/sign-in`, 16 connections (saturated)",
        &saturated,
        None,
    );
    row(
        "`GET /v1/health`, 1 connection, during the 16 sign-ins",
        &health_under_load,
        Some(&idle_health),
    );
    println!(
        "\nHealth p50 during saturation / idle: {:.2}x; p99: {:.2}x",
        health_under_load.percentile(0.5).as_secs_f64() / idle_health.percentile(0.5).as_secs_f64(),
        health_under_load.percentile(0.99).as_secs_f64()
            / idle_health.percentile(0.99).as_secs_f64(),
    );
}

/// A fresh database on the PostgreSQL server, as (its URL, the admin URL, its name).
async fn postgres_url() -> Option<(String, String, String)> {
    let admin = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let db = Database::connect(&admin).await.ok()?;
    let name = format!("bench_{}", std::process::id());
    db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .ok()?;
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .ok()?;
    let base = admin.rsplit_once('/')?.0;
    Some((format!("{base}/{name}"), admin.clone(), name))
}

#[tokio::main]
async fn main() {
    let options = options();
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_owned())
            )
            .unwrap_or_default()
    );

    let dir = std::env::temp_dir().join(format!("cloudsigma-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = format!("sqlite://{}/bench.db?mode=rwc", dir.display());
    {
        let server = start(&sqlite).await;
        println!("server: {}", server.addr);
        throughput("SQLite", &server, &options).await;
        sign_in_isolation(&server, &options).await;
    }
    match postgres_url().await {
        Some((url, admin, name)) => {
            {
                let server = start(&url).await;
                throughput("PostgreSQL", &server, &options).await;
            }
            if let Ok(db) = Database::connect(&admin).await {
                let _ = db
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        }
        None => println!("\nPostgreSQL: no server answered; skipped"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
