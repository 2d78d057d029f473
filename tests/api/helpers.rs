//! Spawning the application and the clients that talk to it.
// Shared by every test area; not each area uses every helper.
#![allow(dead_code)]

use std::{net::SocketAddr, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use cloudsigma_auth::{
    auth::LiveState,
    config::Config,
    domain::clock::{Clock, FakeClock},
    startup::{Application, Dependencies},
};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::transport::Channel;

pub const SERVICE_TOKEN: &str = "internal-service-token-for-tests";

pub struct TestApp {
    pub addr: SocketAddr,
    /// Where the metrics are served, when the test turned them on.
    pub metrics_addr: Option<SocketAddr>,
    pub http: reqwest::Client,
    pub clock: Arc<FakeClock>,
    pub database_url: String,
    pub live: Arc<LiveState>,
    db: DatabaseConnection,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh, empty database: a temporary SQLite file, or a new PostgreSQL database when
/// `TEST_DATABASE_URL` names a server.
pub async fn fresh_database() -> (String, Option<tempfile::TempDir>) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("t_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(&admin_url)
                .await
                .expect("PostgreSQL is reachable");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let base = admin_url.rsplit_once('/').expect("URL has a database").0;
            (format!("{base}/{name}"), None)
        }
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}/auth.db?mode=rwc", dir.path().display());
            (url, Some(dir))
        }
    }
}

pub fn start_time() -> DateTime<Utc> {
    "2026-02-14T10:00:00Z".parse().unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(customize: impl FnOnce(&mut Config)) -> TestApp {
    let (database_url, dir) = fresh_database().await;
    let mut app = spawn_on(&database_url, customize).await;
    app._dir = dir;
    app
}

/// Starts an application on an existing database (a second instance, or a restart).
pub async fn spawn_on(database_url: &str, customize: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::with_defaults("127.0.0.1:0".parse().unwrap(), database_url);
    config.service_token = Some(SERVICE_TOKEN.to_owned().into());
    customize(&mut config);
    let clock = Arc::new(FakeClock::new(start_time()));
    let deps = Dependencies {
        clock: clock.clone(),
    };
    let app = Application::build(config, deps)
        .await
        .expect("application starts");
    let addr = app.local_addr();
    let metrics_addr = app.metrics_addr();
    let db = app.db().clone();
    let live = app.live_state();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        metrics_addr,
        http: reqwest::Client::new(),
        clock,
        database_url: database_url.to_owned(),
        live,
        db,
        shutdown: Some(tx),
        server: Some(server),
        _dir: None,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url(""))
            .unwrap()
            .connect()
            .await
            .expect("gRPC connects")
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Stops the server gracefully and waits for it; the database is kept.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        self._dir.take()
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.url(path));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send().await.unwrap()
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, self.url(path)).json(body);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send().await.unwrap()
    }

    pub async fn post(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.send_json(reqwest::Method::POST, path, bearer, body)
            .await
    }
}

/// Reads a response as the contract's envelope and returns (HTTP status, body).
pub async fn envelope(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("a JSON body");
    assert_eq!(
        body["success"],
        status < 400,
        "envelope of a {status}: {body}"
    );
    (status, body)
}

/// Asserts an error envelope with this status and code.
pub async fn assert_error(
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> serde_json::Value {
    let (got, body) = envelope(response).await;
    assert_eq!(
        (got, body["error"]["code"].as_str().unwrap_or("")),
        (status, code),
        "{body}"
    );
    assert!(body["error"]["message"].is_string());
    body
}

/// The `ErrorInfo` reason of a gRPC status.
pub fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    let details = status.get_error_details();
    let info = details.error_info().expect("status carries ErrorInfo");
    assert_eq!(info.domain, "cloudsigma.a13e.com");
    info.reason.clone()
}

/// Puts a user on a tier directly in the database (what `users set-tier` does), and waits until
/// the instance has read the change.
pub async fn set_tier(app: &TestApp, email: &str, tier: &str) {
    set_tier_and_team(app, email, tier, None).await;
}

/// [`set_tier`], and the team when `team` is given.
pub async fn set_tier_and_team(app: &TestApp, email: &str, tier: &str, team: Option<&str>) {
    let team = team.map(|team| Some(team.to_owned()));
    // Logged at the service's time: a change dated long ago would be purged as stale.
    let now = app.clock.now().timestamp();
    let found = cloudsigma_auth::store::users::set_tier(app.db(), email, tier, team, now)
        .await
        .unwrap();
    assert!(found, "{email} exists");
    changes_read(app).await;
}

/// Waits until the instance has read every change logged so far. This only orders a test's
/// steps; the propagation bound itself is measured by the `propagation` tests, so the wait
/// allows for a machine busy with the rest of the suite.
pub async fn changes_read(app: &TestApp) {
    let latest = cloudsigma_auth::store::changes::latest(app.db())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), app.live.applied(latest))
        .await
        .expect("the instance reads the change log");
}

/// A signed-up user on `tier`; returns an access token.
pub async fn user_on_tier(app: &TestApp, email: &str, tier: &str) -> String {
    crate::auth::sign_up(app, email).await;
    set_tier(app, email, tier).await;
    crate::auth::access(&crate::auth::sign_in(app, email).await)
}

/// Creates a key and returns (key, prefix).
pub async fn create_key(app: &TestApp, jwt: &str, body: serde_json::Value) -> (String, String) {
    let (status, body) = envelope(app.post("/v1/api-keys", Some(jwt), &body).await).await;
    assert_eq!(status, 200, "{body}");
    (
        body["data"]["key"].as_str().unwrap().to_owned(),
        body["data"]["prefix"].as_str().unwrap().to_owned(),
    )
}

/// The caller's keys as listed.
pub async fn list_keys(app: &TestApp, jwt: &str) -> Vec<serde_json::Value> {
    let (status, body) = envelope(app.get("/v1/api-keys", Some(jwt)).await).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["keys"].as_array().unwrap().clone()
}
