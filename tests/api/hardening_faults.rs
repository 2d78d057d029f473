//! Faults and growth: a SIGKILL under load, a PostgreSQL outage and its recovery, the refund of
//! a counted request whose answer failed, and the purge of data past its retention.

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use cloudsigma_auth::domain::clock::Clock;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    auth::{PASSWORD, access, sign_in, sign_up},
    helpers::{
        TestApp, assert_error, create_key, envelope, fresh_database, list_keys, set_tier,
        spawn_app_with, spawn_on,
    },
};

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` every 20 ms until it holds or `within` has passed; returns the time it took.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn used_today(http: &reqwest::Client, base: &str, jwt: &str) -> i64 {
    let response = http
        .get(format!("{base}/v1/api-keys"))
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(response).await;
    assert_eq!(status, 200, "{body}");
    // Summed over the caller's keys: only one of them is used at a time in these tests.
    body["data"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["usedToday"].as_i64().unwrap())
        .sum()
}

// ---------------------------------------------------------------------------------------------
// kill -9 under load

const ISSUER: &str = "http://auth.faults.test";

/// The real binary serving on `database_url`.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(database_url: &str) -> Server {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let child = Command::new(env!("CARGO_BIN_EXE_cloudsigma-auth"))
            .env("DATABASE_URL", database_url)
            .env("CLOUDSIGMA_LISTEN", addr.to_string())
            // Tokens from before the restart must verify after it, whatever the port.
            .env("CLOUDSIGMA_ISSUER", ISSUER)
            .env("CLOUDSIGMA_ACCOUNT_BURST", "100000")
            .env("CLOUDSIGMA_ACCOUNT_RATE_PER_SECOND", "100000")
            .env("RUST_LOG", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let mut server = Server {
            child,
            base: format!("http://{addr}"),
        };
        let http = reqwest::Client::new();
        let health = format!("{}/v1/health", server.base);
        let started = Instant::now();
        loop {
            if let Ok(response) = http.get(&health).send().await
                && response.status() == 200
            {
                return server;
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("the server exited while starting: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the server did not answer /v1/health"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown code runs.
    fn kill_9(&mut self) {
        use std::os::unix::process::ExitStatusExt;
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert_eq!(status.signal(), Some(9), "{status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Kill and reap; the error of a child already gone is of no interest.
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn cli(database_url: &str, args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_cloudsigma-auth"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn post(http: &reqwest::Client, url: String, bearer: Option<&str>, body: Value) -> Value {
    let mut request = http.post(url).json(&body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let (status, body) = envelope(request.send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

/// A session (sign-in tokens) and a key made through the binary's API.
async fn session_and_key(http: &reqwest::Client, base: &str, email: &str) -> (Value, String) {
    let credentials = json!({"email": email, "password": PASSWORD});
    let tokens = post(http, format!("{base}/v1/auth/sign-in"), None, credentials).await;
    let key = post(
        http,
        format!("{base}/v1/api-keys"),
        Some(&access(&tokens)),
        json!({"name": "load", "dailyLimit": 10_000}),
    )
    .await;
    (tokens, key["key"].as_str().unwrap().to_owned())
}

/// Every credential made before the kill still works after the restart.
async fn still_works(http: &reqwest::Client, base: &str, tokens: &Value, key: &str) {
    let response = http
        .get(format!("{base}/v1/usage"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the key authenticates");
    let response = http
        .get(format!("{base}/v1/usage"))
        .bearer_auth(access(tokens))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the access token works");
    let refreshed = post(
        http,
        format!("{base}/v1/auth/refresh"),
        None,
        json!({"refreshToken": tokens["refreshToken"]}),
    )
    .await;
    let response = http
        .get(format!("{base}/v1/usage"))
        .bearer_auth(access(&refreshed))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the refreshed access token works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sigkill_under_load_loses_no_answered_count_and_no_credential() {
    const CLIENTS: usize = 32;
    // Far below the limit of 10,000, so every answer before the kill is a 200.
    const MAX_REQUESTS: usize = 6_000;
    let (database_url, _dir) = fresh_database().await;
    let email = "kill@example.com";
    let http = reqwest::Client::new();

    let mut server = Server::start(&database_url).await;
    let base = server.base.clone();
    post(
        &http,
        format!("{base}/v1/auth/sign-up"),
        None,
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    cli(&database_url, &["users", "set-tier", email, "pro"]);
    let (tokens, key) = session_and_key(&http, &base, email).await;

    let ok = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let unexpected = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (http, url, key) = (http.clone(), format!("{base}/v1/usage"), key.clone());
        let (ok, sent, unexpected) = (ok.clone(), sent.clone(), unexpected.clone());
        clients.push(tokio::spawn(async move {
            while sent.fetch_add(1, Ordering::SeqCst) < MAX_REQUESTS {
                // A transport error means the server is gone: this client stops.
                let Ok(response) = http.get(&url).bearer_auth(&key).send().await else {
                    return;
                };
                if response.status() == 200 {
                    ok.fetch_add(1, Ordering::SeqCst);
                } else {
                    unexpected.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    // Mid-run: a second session and key made under load must survive too.
    eventually(Duration::from_secs(60), "500 answers under load", || {
        let done = ok.load(Ordering::SeqCst) >= 500;
        async move { done }
    })
    .await;
    let (late_tokens, late_key) = session_and_key(&http, &base, email).await;
    eventually(Duration::from_secs(60), "1,000 answers under load", || {
        let done = ok.load(Ordering::SeqCst) >= 1_000;
        async move { done }
    })
    .await;
    server.kill_9();
    let killed_early = sent.load(Ordering::SeqCst) < MAX_REQUESTS;
    for client in clients {
        client.await.unwrap();
    }
    let ok = ok.load(Ordering::SeqCst);
    assert!(killed_early, "the run ended before the kill");
    assert_eq!(
        unexpected.load(Ordering::SeqCst),
        0,
        "only 200s before the kill"
    );

    let server = Server::start(&database_url).await;
    let base = server.base.clone();
    let used = used_today(&http, &base, &access(&tokens)).await;
    // At least every answered request; at most one unanswered request in flight per client.
    assert!(
        (ok as i64..=(ok + CLIENTS) as i64).contains(&used),
        "usedToday {used} for {ok} answers"
    );
    assert!(used <= 10_000);
    still_works(&http, &base, &tokens, &key).await;
    still_works(&http, &base, &late_tokens, &late_key).await;
}

// ---------------------------------------------------------------------------------------------
// A PostgreSQL outage

/// A private PostgreSQL cluster in a temporary directory, run as the `postgres` user; stopped
/// and started by the test without touching the machine's server.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl Cluster {
    fn bin_dir() -> PathBuf {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql")
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists())
            .collect();
        found.sort();
        found.pop().expect("initdb under /usr/lib/postgresql/*/bin")
    }

    fn as_postgres(&self, program: &str, args: &[&str]) {
        let output = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .args(args)
            .output()
            .expect("runuser runs");
        assert!(
            output.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn create() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("chown")
            .args(["postgres:postgres", &dir.path().display().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "chown the cluster directory");
        let cluster = Cluster {
            dir,
            bin: Self::bin_dir(),
            port: free_port(),
        };
        cluster.as_postgres(
            "initdb",
            &["-D", &cluster.data(), "-A", "trust", "-U", "postgres"],
        );
        cluster.start();
        cluster
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    fn stop(&self) {
        self.as_postgres(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn is_running(path: &Path) -> bool {
        path.join("postmaster.pid").exists()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if Self::is_running(&self.dir.path().join("data")) {
            // Best effort: a failure to stop leaves a stray server, reported by the status.
            let stopped = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"))
                .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
                .status();
            if !matches!(stopped, Ok(status) if status.success()) {
                eprintln!("could not stop the test cluster in {}", self.data());
            }
        }
    }
}

async fn grpc_health(app: &TestApp) -> Option<ServingStatus> {
    let channel = tonic::transport::Channel::from_shared(app.url(""))
        .unwrap()
        .connect()
        .await
        .ok()?;
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .ok()?;
    Some(answer.into_inner().status())
}

/// A request that needs the database answers 503 `ServiceUnavailable` within 2 s.
async fn unavailable_in_time(request: reqwest::RequestBuilder, what: &str) {
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(10), request.send())
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer in 10 s"))
        .unwrap();
    let took = started.elapsed();
    assert_eq!(
        response.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    assert_error(response, 503, "ServiceUnavailable").await;
    assert!(took < Duration::from_secs(2), "{what} took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_outage_is_503_within_two_seconds_and_heals_without_a_restart() {
    let cluster = Cluster::create();
    let app = spawn_on(&cluster.url(), |c| {
        c.account_burst = 10_000;
        c.account_rate_per_second = 10_000;
    })
    .await;
    sign_up(&app, "outage@example.com").await;
    set_tier(&app, "outage@example.com", "pro").await;
    let jwt = access(&sign_in(&app, "outage@example.com").await);
    let (key, _) = create_key(&app, &jwt, json!({"name": "outage"})).await;
    assert_eq!(app.get("/v1/usage", Some(&key)).await.status(), 200);
    assert_eq!(grpc_health(&app).await, Some(ServingStatus::Serving));

    cluster.stop();
    let took = eventually(
        Duration::from_secs(5),
        "gRPC health NOT_SERVING",
        || async { grpc_health(&app).await == Some(ServingStatus::NotServing) },
    )
    .await;
    assert!(took < Duration::from_secs(1), "NOT_SERVING after {took:?}");

    unavailable_in_time(
        app.http.get(app.url("/v1/usage")).bearer_auth(&key),
        "API key",
    )
    .await;
    unavailable_in_time(
        app.http.get(app.url("/v1/api-keys")).bearer_auth(&jwt),
        "JWT, key listing",
    )
    .await;
    // Checking a signed-in user's token needs no database: its session and user are in memory.
    let mut authenticate =
        cloudsigma_auth::proto::cloudsigma::v1::auth_service_client::AuthServiceClient::new(
            app.channel().await,
        );
    let mut request = tonic::Request::new(
        cloudsigma_auth::proto::cloudsigma::v1::AuthenticateRequest {
            token: jwt.clone(),
            ..Default::default()
        },
    );
    request.metadata_mut().insert(
        "x-cloudsigma-service-token",
        crate::helpers::SERVICE_TOKEN.parse().unwrap(),
    );
    let checked = tokio::time::timeout(Duration::from_secs(2), authenticate.authenticate(request))
        .await
        .expect("answered in time")
        .expect("the token is accepted during the outage")
        .into_inner();
    assert_eq!(checked.email, "outage@example.com");
    unavailable_in_time(
        app.http
            .post(app.url("/v1/auth/sign-in"))
            .json(&json!({"email": "outage@example.com", "password": PASSWORD})),
        "sign-in",
    )
    .await;
    unavailable_in_time(app.http.get(app.url("/v1/health")), "REST health").await;
    // Ten at once: each waits on its own, none waits behind the others for ever.
    let burst: Vec<_> = (0..10)
        .map(|_| {
            let request = app.http.get(app.url("/v1/usage")).bearer_auth(&key);
            tokio::spawn(unavailable_in_time(request, "a request of a burst"))
        })
        .collect();
    for request in burst {
        request.await.unwrap();
    }
    // The signing keys are cached (for a minute since start-up, which this test stays well
    // within): the key set is served without the database.
    let (status, body) = envelope_or_raw(app.get("/.well-known/jwks.json", None).await).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["keys"].as_array().is_some_and(|keys| !keys.is_empty()));

    cluster.start();
    let took = eventually(Duration::from_secs(5), "requests succeed again", || {
        let request = app.http.get(app.url("/v1/usage")).bearer_auth(&key).send();
        async move { matches!(request.await, Ok(response) if response.status() == 200) }
    })
    .await;
    assert!(took < Duration::from_secs(5));
    eventually(
        Duration::from_secs(5),
        "gRPC health SERVING again",
        || async { grpc_health(&app).await == Some(ServingStatus::Serving) },
    )
    .await;
    assert_eq!(app.get("/v1/usage", Some(&jwt)).await.status(), 200);
}

/// The JWKS document is plain JSON, not the envelope.
async fn envelope_or_raw(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_write_lock_held_elsewhere_on_sqlite_is_503_not_500() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/auth.db?mode=rwc", dir.path().display());
    let app = spawn_on(&url, |_| {}).await;
    sign_up(&app, "locked@example.com").await;
    set_tier(&app, "locked@example.com", "pro").await;
    let jwt = access(&sign_in(&app, "locked@example.com").await);
    let (key, _) = create_key(&app, &jwt, json!({"name": "locked"})).await;

    // Another process holding the write lock (a backup, a stuck admin session).
    let holder = sea_orm::Database::connect(&url).await.unwrap();
    let lock = sea_orm::TransactionTrait::begin(&holder).await.unwrap();
    lock.execute_unprepared("UPDATE users SET tier = tier")
        .await
        .unwrap();
    // Counting the key's request needs the write lock.
    unavailable_in_time(
        app.http.get(app.url("/v1/usage")).bearer_auth(&key),
        "locked",
    )
    .await;

    lock.rollback().await.unwrap();
    assert_eq!(app.get("/v1/usage", Some(&key)).await.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// Refund

/// GetUsage over gRPC-web with a body that is not a GetUsageRequest: the key is admitted and
/// counted, then tonic cannot decode the message and answers an error.
async fn garbled_get_usage(app: &TestApp, key: &str) -> reqwest::Response {
    // One uncompressed frame of two bytes: field 1, length-delimited, 5 bytes long, but the
    // message ends there.
    let frame = vec![0u8, 0, 0, 0, 2, 0x0a, 0x05];
    app.http
        .post(app.url("/cloudsigma.v1.UsageService/GetUsage"))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .bearer_auth(key)
        .body(frame)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_counted_request_whose_answer_fails_is_given_back() {
    let app = spawn_app_with(|_| {}).await;
    sign_up(&app, "refund@example.com").await;
    set_tier(&app, "refund@example.com", "pro").await;
    let jwt = access(&sign_in(&app, "refund@example.com").await);
    let (key, _) = create_key(&app, &jwt, json!({"name": "refund", "dailyLimit": 5})).await;

    for _ in 0..3 {
        let response = garbled_get_usage(&app, &key).await;
        let headers = response.headers();
        assert_eq!(headers["grpc-status"], "13", "{headers:?}");
        assert_eq!(headers["x-ratelimit-limit"], "5");
        assert_eq!(headers["x-ratelimit-remaining"], "5", "given back");
    }
    assert_eq!(list_keys(&app, &jwt).await[0]["usedToday"], 0);

    // The same key with a good request is counted, so the refund above is what kept it at 0.
    let response = app.get("/v1/usage", Some(&key)).await;
    assert_eq!(response.headers()["x-ratelimit-remaining"], "4");
    assert_eq!(response.status(), 200);
    assert_eq!(list_keys(&app, &jwt).await[0]["usedToday"], 1);
}

// ---------------------------------------------------------------------------------------------
// Purge

const DAY: u64 = 86_400;

async fn integers(db: &DatabaseConnection, sql: &str) -> Vec<i64> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get_by_index::<i64>(0).unwrap())
        .collect()
}

async fn strings(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect()
}

async fn failed_sign_in(app: &TestApp, email: &str) {
    let response = app
        .post(
            "/v1/auth/sign-in",
            None,
            &json!({"email": email, "password": "not the password"}),
        )
        .await;
    assert_error(response, 401, "Unauthorized").await;
}

#[tokio::test]
async fn the_purge_removes_ended_sessions_stale_failures_and_old_usage_and_keeps_the_rest() {
    let app = spawn_app_with(|c| {
        c.purge_interval_secs = 1;
        c.session_retention_days = 7;
        c.sign_in_failure_retention_days = 1;
        c.usage_retention_days = 400;
        // Many sign-ins from one address in this test.
        c.auth_burst_per_address = 1_000;
    })
    .await;
    let email = "purge@example.com";
    sign_up(&app, email).await;
    set_tier(&app, email, "pro").await;

    // Old: a session signed out, one left to expire, a failure record, a day of key usage.
    let signed_out = sign_in(&app, email).await;
    let response = app
        .post("/v1/auth/sign-out", Some(&access(&signed_out)), &json!({}))
        .await;
    assert_eq!(response.status(), 200);
    let expiring = sign_in(&app, email).await;
    let (key, _) = create_key(&app, &access(&expiring), json!({"name": "old"})).await;
    assert_eq!(app.get("/v1/usage", Some(&key)).await.status(), 200);
    failed_sign_in(&app, "old-typo@example.com").await;
    let old_day = app.clock.now().timestamp().div_euclid(DAY as i64);

    // 401 days later: everything above is past its retention.
    app.clock.advance(Duration::from_secs(401 * DAY));
    let recent_since = app.clock.now().timestamp();
    let live = sign_in(&app, email).await;
    let recently_out = sign_in(&app, email).await;
    let response = app
        .post(
            "/v1/auth/sign-out",
            Some(&access(&recently_out)),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.get("/v1/usage", Some(&key)).await.status(), 200);
    failed_sign_in(&app, "new-typo@example.com").await;
    let today = app.clock.now().timestamp().div_euclid(DAY as i64);

    // A marker inserted last: once it is gone, a purge round ran after the recent rows existed.
    let key_id = integers(app.db(), "SELECT id FROM api_keys").await[0];
    let marker_day = old_day - 10;
    app.db()
        .execute_unprepared(&format!(
            "INSERT INTO api_key_usage (key_id, day, count, last_grant) \
             VALUES ({key_id}, {marker_day}, 3, 3)"
        ))
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "a purge round", || async {
        !integers(app.db(), "SELECT day FROM api_key_usage")
            .await
            .contains(&marker_day)
    })
    .await;

    let old_sessions = integers(
        app.db(),
        &format!("SELECT auth_time FROM sessions WHERE auth_time < {recent_since}"),
    )
    .await;
    assert!(old_sessions.is_empty(), "ended sessions purged");
    let old_tokens = integers(
        app.db(),
        &format!("SELECT created_at FROM refresh_tokens WHERE created_at < {recent_since}"),
    )
    .await;
    assert!(old_tokens.is_empty(), "their refresh tokens purged");
    assert_eq!(
        integers(app.db(), "SELECT auth_time FROM sessions")
            .await
            .len(),
        2,
        "the live session and the recently ended one are kept"
    );
    assert_eq!(
        strings(app.db(), "SELECT email FROM sign_in_failures").await,
        vec!["new-typo@example.com".to_owned()]
    );
    assert_eq!(
        integers(app.db(), "SELECT day FROM api_key_usage").await,
        vec![today]
    );

    // Through the API: the live session and the key work, today's count is intact, and the
    // purged sessions stay dead.
    assert_eq!(list_keys(&app, &access(&live)).await[0]["usedToday"], 1);
    let refreshed = app
        .post(
            "/v1/auth/refresh",
            None,
            &json!({"refreshToken": live["refreshToken"]}),
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    assert_eq!(app.get("/v1/usage", Some(&key)).await.status(), 200);
    for gone in [&signed_out, &expiring] {
        let response = app
            .post(
                "/v1/auth/refresh",
                None,
                &json!({"refreshToken": gone["refreshToken"]}),
            )
            .await;
        assert_error(response, 401, "Unauthorized").await;
    }
}
