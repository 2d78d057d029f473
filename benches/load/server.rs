//! The server under test: the release binary started as a child process with its limiters opened
//! wide, and the accounts, keys and counters the scenarios need, all through its public REST
//! surface and its `users set-tier` command.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

/// What internal callers send as `x-cloudsigma-service-token` (at least 32 characters).
pub const SERVICE_TOKEN: &str = "bench-service-token-0123456789abcdef0123456789";
const PASSWORD: &str = "correct horse battery staple";
const EMAIL: &str = "bench@example.com";
/// Every key's daily limit: the enterprise ceiling, so that no run meets a 429.
const DAILY_LIMIT: u64 = 1_000_000;

/// Every setting the harness gives the server, in one place. Limiters are opened wide so that the
/// service is measured, not its throttles. `BENCH_SERVER_ENV` (`NAME=value,NAME=value`) adds or
/// overrides entries without editing this list, for limits that newer builds may add.
const SERVER_ENV: &[(&str, &str)] = &[
    ("CLOUDSIGMA_SERVICE_TOKEN", SERVICE_TOKEN),
    ("CLOUDSIGMA_ACCOUNT_BURST", "1000000000"),
    ("CLOUDSIGMA_ACCOUNT_RATE_PER_SECOND", "1000000000"),
    ("CLOUDSIGMA_AUTH_BURST_PER_ADDRESS", "1000000000"),
    ("CLOUDSIGMA_AUTH_RATE_PER_MINUTE_PER_ADDRESS", "1000000000"),
    ("CLOUDSIGMA_ENTERPRISE_MAX_DAILY_LIMIT", "1000000"),
    ("RUST_LOG", "warn"),
];

/// The server environment after `BENCH_SERVER_ENV`, as written in the report.
pub fn server_env() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = SERVER_ENV
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let extra = std::env::var("BENCH_SERVER_ENV").unwrap_or_default();
    for pair in extra.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, value) = pair
            .split_once('=')
            .unwrap_or_else(|| panic!("BENCH_SERVER_ENV entry `{pair}` is not NAME=value"));
        env.retain(|(k, _)| k != name.trim());
        env.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    env
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_cloudsigma-auth")
}

pub struct Server {
    child: Child,
    pub addr: String,
    pub base: String,
    database_url: String,
    http: reqwest::Client,
    jwt: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        // The child is ours; a kill that fails means it already exited.
        if self.child.kill().is_ok() {
            self.child.wait().ok();
        }
    }
}

impl Server {
    /// Starts the server on a free port and waits (with a deadline) until it answers.
    pub async fn start(database_url: &str, log: &Path, trusted_issuers: &Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free local port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut command = Command::new(binary());
        command
            .args(["serve", "--listen", &addr])
            .env("DATABASE_URL", database_url)
            .env("CLOUDSIGMA_TRUSTED_ISSUERS", trusted_issuers)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("server log file"));
        for (name, value) in server_env() {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the release binary starts");
        let base = format!("http://{addr}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = http
                .get(format!("{base}/.well-known/jwks.json"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the server exited with {status} during start-up; see {}",
                    log.display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the server did not answer within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut server = Server {
            child,
            addr,
            base,
            database_url: database_url.to_owned(),
            http,
            jwt: String::new(),
        };
        server.jwt = server.enterprise_user().await;
        server
    }

    /// The owner's access token.
    pub fn jwt(&self) -> &str {
        &self.jwt
    }

    async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Signs up the bench user, makes it enterprise with the CLI and signs in.
    async fn enterprise_user(&self) -> String {
        let credentials = json!({"email": EMAIL, "password": PASSWORD});
        let (status, body) = self
            .post("/v1/auth/sign-up", None, credentials.clone())
            .await;
        assert_eq!(status, 200, "sign-up: {body}");
        let output = Command::new(binary())
            .args(["users", "set-tier", EMAIL, "enterprise"])
            .env("DATABASE_URL", &self.database_url)
            .env("RUST_LOG", "off")
            .output()
            .expect("the CLI runs");
        assert!(
            output.status.success(),
            "users set-tier: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let (status, body) = self.post("/v1/auth/sign-in", None, credentials).await;
        assert_eq!(status, 200, "sign-in: {body}");
        body["data"]["accessToken"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }

    /// A new API key of the bench user. A tier change by the CLI may reach a running instance
    /// only after its cache refreshes, so a 403 is retried until a deadline.
    pub async fn create_key(&self, name: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let body = json!({"name": name, "dailyLimit": DAILY_LIMIT});
            let (status, body) = self.post("/v1/api-keys", Some(&self.jwt), body).await;
            if status == 200 {
                return body["data"]["key"].as_str().expect("a key").to_owned();
            }
            assert!(
                status == 403 && Instant::now() < deadline,
                "creating a key answered {status}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The sum of `usedToday` over every key of the bench user.
    pub async fn used_today(&self) -> u64 {
        let response = self
            .http
            .get(format!("{}/v1/api-keys", self.base))
            .bearer_auth(&self.jwt)
            .send()
            .await
            .expect("the server answers");
        assert!(response.status().is_success(), "listing keys failed");
        let body: Value = response.json().await.expect("a JSON body");
        body["data"]["keys"]
            .as_array()
            .expect("a key list")
            .iter()
            .map(|k| k["usedToday"].as_u64().expect("usedToday"))
            .sum()
    }
}
