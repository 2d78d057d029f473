//! Slow and hostile connections (raw sockets), the drain deadline (the real binary, SIGTERM),
//! configuration errors (the real binary's exit code and stderr), trusted proxies, request ids,
//! and control characters from clients in the logs.

use std::{
    io::Read,
    net::SocketAddr,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{assert_error, envelope, spawn_app_with};

/// Slack for a loaded two-core machine on top of a configured timeout.
const SLACK: Duration = Duration::from_secs(3);

/// What the server sent until it closed the connection, and when it closed it. Panics when the
/// connection is still open after `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let remaining = within
            .checked_sub(started.elapsed())
            .unwrap_or(Duration::ZERO);
        match tokio::time::timeout(remaining, stream.read(&mut buf)).await {
            Ok(Ok(0)) => return (received, started.elapsed()),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            // A reset is a close too (the server may close with unread bytes pending).
            Ok(Err(_)) => return (received, started.elapsed()),
            Err(_) => panic!(
                "the connection is still open after {within:?}; received {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("the server accepts")
}

/// A complete GET /v1/health on `stream`, keeping the connection open; returns the status line.
async fn health_on(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    // The health body is a fixed small envelope: read until it is complete.
    while !received.ends_with(b"}}") {
        let n = tokio::time::timeout(SLACK, stream.read(&mut buf))
            .await
            .expect("the server answers")
            .unwrap();
        assert!(n > 0, "closed before answering");
        received.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&received)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected_within_the_header_timeout() {
    let app = spawn_app_with(|c| c.header_read_timeout = Duration::from_secs(1)).await;
    let mut stream = connect(app.addr).await;
    stream
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (received, after) = read_until_closed(&mut stream, Duration::from_secs(1) + SLACK).await;
    assert!(
        after >= Duration::from_millis(900),
        "closed after {after:?}"
    );
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "no answer but a timeout: {text}"
    );
}

#[tokio::test]
async fn a_client_that_connects_and_stays_silent_is_disconnected_within_the_header_timeout() {
    let app = spawn_app_with(|c| c.header_read_timeout = Duration::from_secs(1)).await;
    for first_bytes in [&b""[..], b"PRI * HTTP/2.0\r\n"] {
        let mut stream = connect(app.addr).await;
        stream.write_all(first_bytes).await.unwrap();
        let (received, after) =
            read_until_closed(&mut stream, Duration::from_secs(1) + SLACK).await;
        assert!(
            after >= Duration::from_millis(900),
            "closed after {after:?}"
        );
        assert!(received.is_empty(), "{received:?}");
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let app = spawn_app_with(|c| c.header_read_timeout = Duration::from_secs(1)).await;
    let mut stream = connect(app.addr).await;
    assert_eq!(health_on(&mut stream).await, "HTTP/1.1 200 OK");
    let (received, after) = read_until_closed(&mut stream, Duration::from_secs(1) + SLACK).await;
    assert!(
        after >= Duration::from_millis(900),
        "closed after {after:?}"
    );
    assert!(received.is_empty(), "{received:?}");
}

#[tokio::test]
async fn a_stalled_request_body_is_answered_and_the_connection_closed_within_the_body_timeout() {
    let app = spawn_app_with(|c| c.body_read_timeout = Duration::from_secs(1)).await;
    let mut stream = connect(app.addr).await;
    stream
        .write_all(
            b"POST /v1/auth/sign-in HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"email\":",
        )
        .await
        .unwrap();
    let (received, after) = read_until_closed(&mut stream, Duration::from_secs(1) + SLACK).await;
    assert!(
        after >= Duration::from_millis(900),
        "answered after {after:?}"
    );
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    let body: serde_json::Value = serde_json::from_str(body).expect("a JSON envelope");
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "ValidationError");
    assert_eq!(
        body["error"]["message"],
        "the request body could not be read"
    );
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_at_once_and_a_freed_slot_is_reused() {
    let app = spawn_app_with(|c| c.max_connections = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = connect(app.addr).await;
        assert_eq!(health_on(&mut stream).await, "HTTP/1.1 200 OK");
        held.push(stream);
    }
    let mut over = connect(app.addr).await;
    let (received, after) = read_until_closed(&mut over, Duration::from_secs(1)).await;
    assert!(received.is_empty(), "{received:?}");
    assert!(after < Duration::from_secs(1), "closed after {after:?}");

    // A closed connection gives its slot back; the server notices the close asynchronously.
    drop(held.pop());
    let deadline = Instant::now() + SLACK;
    loop {
        let mut stream = connect(app.addr).await;
        let answer = stream
            .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let (received, _) = read_until_closed(&mut stream, SLACK).await;
        if answer.is_ok() && received.starts_with(b"HTTP/1.1 200 OK") {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot was not reused");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn two_thousand_idle_connections_neither_lock_out_a_new_client_nor_stay_open() {
    let app = spawn_app_with(|c| c.header_read_timeout = Duration::from_secs(2)).await;
    let mut idle = Vec::new();
    for i in 0..2_000 {
        let mut stream = connect(app.addr).await;
        if i % 2 == 0 {
            stream
                .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        idle.push(stream);
    }
    let started = Instant::now();
    let response = app.get("/v1/health", None).await;
    let took = started.elapsed();
    let (status, _) = envelope(response).await;
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(1), "health took {took:?}");

    let closing = idle.into_iter().map(|mut stream| async move {
        read_until_closed(&mut stream, Duration::from_secs(2) + SLACK * 2).await
    });
    let closed = futures_util::future::join_all(closing).await;
    assert_eq!(closed.len(), 2_000);
}

/// Reads HTTP/2 frames: (type, flags, payload).
async fn read_frame(stream: &mut TcpStream, within: Duration) -> Option<(u8, u8, Vec<u8>)> {
    let mut head = [0u8; 9];
    match tokio::time::timeout(within, stream.read_exact(&mut head)).await {
        Ok(Ok(_)) => {}
        Ok(Err(_)) => return None,
        Err(_) => panic!("no HTTP/2 frame within {within:?}"),
    }
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await.ok()?;
    Some((head[3], head[4], payload))
}

const FRAME_SETTINGS: u8 = 0x4;
const FRAME_PING: u8 = 0x6;
const FRAME_GOAWAY: u8 = 0x7;
const FLAG_ACK: u8 = 0x1;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;

#[tokio::test]
async fn http2_connections_announce_the_stream_cap_and_a_peer_that_ignores_pings_is_dropped() {
    let app = spawn_app_with(|c| {
        c.http2_max_concurrent_streams = 7;
        c.http2_keepalive_interval = Duration::from_secs(1);
        c.http2_keepalive_timeout = Duration::from_secs(1);
    })
    .await;
    let mut stream = connect(app.addr).await;
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let (kind, flags, settings) = read_frame(&mut stream, SLACK).await.expect("settings");
    assert_eq!((kind, flags), (FRAME_SETTINGS, 0));
    let max_streams = settings
        .chunks_exact(6)
        .find(|s| u16::from_be_bytes([s[0], s[1]]) == SETTINGS_MAX_CONCURRENT_STREAMS)
        .map(|s| u32::from_be_bytes([s[2], s[3], s[4], s[5]]));
    assert_eq!(max_streams, Some(7));
    stream
        .write_all(b"\x00\x00\x00\x04\x01\x00\x00\x00\x00")
        .await
        .unwrap();

    let started = Instant::now();
    let mut pinged = None;
    let mut went_away = false;
    while let Some((kind, flags, _)) = read_frame(&mut stream, Duration::from_secs(2) + SLACK).await
    {
        match kind {
            FRAME_PING if flags & FLAG_ACK == 0 => pinged = pinged.or(Some(started.elapsed())),
            FRAME_GOAWAY => went_away = true,
            _ => {}
        }
    }
    let pinged = pinged.expect("a quiet connection is pinged");
    assert!(
        pinged < Duration::from_secs(1) + SLACK,
        "pinged after {pinged:?}"
    );
    let closed = started.elapsed();
    assert!(
        closed < Duration::from_secs(2) + SLACK,
        "closed after {closed:?}"
    );
    assert!(
        went_away || closed >= Duration::from_secs(2) - Duration::from_millis(200),
        "closed because the ping went unanswered"
    );
}

/// The real binary on a free port with a fresh SQLite file; `RUST_LOG` unset.
struct Binary {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn spawn_binary(args: &[&str], env: &[(&str, &str)]) -> Binary {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_cloudsigma-auth"));
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/bin.db?mode=rwc", dir.path().display()),
        )
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/v1/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the binary did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Binary {
        child,
        base,
        _dir: dir,
    }
}

impl Binary {
    fn addr(&self) -> SocketAddr {
        self.base.trim_start_matches("http://").parse().unwrap()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit on its own, at most `within`.
    async fn exit_within(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "still running after {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn logs(&mut self) -> String {
        let mut logs = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut logs)
            .unwrap();
        logs
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.child.kill().ok();
            self.child.wait().ok();
        }
    }
}

#[tokio::test]
async fn on_sigterm_a_request_that_never_finishes_does_not_outlive_the_drain_timeout() {
    let mut server = spawn_binary(
        &["--drain-timeout", "1s", "--body-read-timeout", "60s"],
        &[],
    )
    .await;
    let mut stalled = connect(server.addr()).await;
    stalled
        .write_all(b"POST /v1/auth/sign-in HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    // The request is in flight once the server has read its headers; a second request on
    // another connection, answered, shows the server is past accepting the first.
    let mut other = connect(server.addr()).await;
    assert_eq!(health_on(&mut other).await, "HTTP/1.1 200 OK");

    let signalled = Instant::now();
    server.signal("-TERM");
    let status = server.exit_within(Duration::from_secs(1) + SLACK).await;
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "{}", server.logs());
    assert!(
        took < Duration::from_secs(1) + SLACK,
        "exited after {took:?}"
    );
    assert!(
        took >= Duration::from_millis(900),
        "the in-flight request got its drain time: exited after {took:?}"
    );
    let logs = server.logs();
    assert!(logs.contains("drain timeout passed"), "{logs}");
}

/// Runs the binary to completion with `RUST_LOG` unset (the default log level).
fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_cloudsigma-auth"));
    command
        .args(args)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/x.db?mode=rwc", dir.path().display()),
        )
        .env_remove("RUST_LOG")
        .env_remove("CLOUDSIGMA_SERVICE_TOKEN")
        .env_remove("CLOUDSIGMA_CORS_ORIGINS");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the binary runs")
}

#[tokio::test]
async fn bad_configuration_is_one_error_line_on_stderr_and_exit_code_1() {
    let listen = ["serve", "--listen", "127.0.0.1:0"];
    // (arguments, environment, the expected error line)
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, String);
    let cases: Vec<Case> = vec![
        (
            listen.to_vec(),
            vec![("CLOUDSIGMA_CORS_ORIGINS", "*,https://app.example.com")],
            "error: CLOUDSIGMA_CORS_ORIGINS: \"*\" (any origin) cannot be combined with other origins\n".into(),
        ),
        (
            listen.to_vec(),
            vec![("CLOUDSIGMA_SERVICE_TOKEN", "short-but-secret-token")],
            "error: CLOUDSIGMA_SERVICE_TOKEN is too short: use at least 32 characters (e.g. openssl rand -hex 32)\n".into(),
        ),
        (
            listen.to_vec(),
            vec![("CLOUDSIGMA_TRUSTED_PROXIES", "10.0.0.1,10.1.2.3/8")],
            "error: invalid value '10.1.2.3/8' for '--trusted-proxies <TRUSTED_PROXIES>': \"10.1.2.3/8\" has host bits set; did you mean 10.0.0.0/8?\n".into(),
        ),
        (
            listen.to_vec(),
            vec![("CLOUDSIGMA_TRUSTED_PROXIES", "proxy.internal")],
            "error: invalid value 'proxy.internal' for '--trusted-proxies <TRUSTED_PROXIES>': \"proxy.internal\" is neither an IP address nor a CIDR range\n".into(),
        ),
        (
            vec!["serve", "--listen", "nowhere"],
            vec![],
            "error: invalid value 'nowhere' for '--listen <LISTEN>': invalid socket address syntax\n".into(),
        ),
        (
            vec!["serve", "--header-read-timeout", "0s"],
            vec![],
            "error: invalid value '0s' for '--header-read-timeout <HEADER_READ_TIMEOUT>': must be more than zero\n".into(),
        ),
    ];
    for (args, env, expected) in cases {
        let output = tokio::task::spawn_blocking({
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            let env: Vec<(String, String)> = env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let env: Vec<(&str, &str)> =
                    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                run_to_exit(&args, &env)
            }
        })
        .await
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            expected,
            "{args:?} {env:?}"
        );
        assert_eq!(output.status.code(), Some(1), "{args:?} {env:?}");
        assert!(output.stdout.is_empty(), "{args:?} {env:?}");
    }
}

#[tokio::test]
async fn a_busy_port_is_reported_before_the_database_is_touched() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || {
            run_to_exit(
                &["serve", "--listen", &addr],
                // Unreachable: connecting to it would fail with a database error instead.
                &[("DATABASE_URL", "postgres://nobody:hunter2@127.0.0.1:1/none")],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("error: cannot listen on {addr}: Address already in use (os error 98)\n")
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    drop(taken);
}

#[tokio::test]
async fn a_wildcard_cors_origin_allows_any_browser_origin() {
    let app = spawn_app_with(|c| c.cors_origins = vec!["*".into()]).await;
    let response = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/v1/usage"))
        .header("origin", "https://anything.example.net")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let response = app
        .http
        .get(app.url("/v1/health"))
        .header("origin", "https://other.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let (status, _) = envelope(response).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_client_request_id_is_echoed_only_when_short_and_plain() {
    let app = spawn_app_with(|_| {}).await;
    let echoed = |sent: String| {
        let request = app
            .http
            .get(app.url("/v1/health"))
            .header("x-request-id", sent);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            let ids: Vec<String> = response
                .headers()
                .get_all("x-request-id")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect();
            assert_eq!(ids.len(), 1, "{ids:?}");
            ids[0].clone()
        }
    };
    for kept in ["req-42_a.B", &"a".repeat(64)] {
        assert_eq!(echoed(kept.to_owned()).await, kept);
    }
    for replaced in [
        "a path=/v1/api-keys method=DELETE".to_owned(),
        "a".repeat(65),
        "id\"with:quote".to_owned(),
    ] {
        let got = echoed(replaced.clone()).await;
        assert_ne!(got, replaced);
        assert!(
            uuid::Uuid::parse_str(&got).is_ok(),
            "a fresh id replaces it: {got}"
        );
    }
}

#[tokio::test]
async fn a_trusted_proxy_range_names_the_client_from_forwarded_entries_with_ports() {
    let app = spawn_app_with(|c| {
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        c.auth_burst_per_address = 1;
    })
    .await;
    let sign_up = |forwarded: &str| {
        app.http
            .post(app.url("/v1/auth/sign-up"))
            .header("x-forwarded-for", forwarded)
            .json(&serde_json::json!({"email": "not-an-email", "password": "x"}))
            .send()
    };
    // One client address behind the proxy, whatever its source port: one budget.
    assert_error(
        sign_up("198.51.100.7:5678").await.unwrap(),
        400,
        "ValidationError",
    )
    .await;
    assert_error(
        sign_up("198.51.100.7:6000").await.unwrap(),
        429,
        "RateLimitExceeded",
    )
    .await;
    // Other clients have budgets of their own.
    assert_error(
        sign_up("[2001:db8::1]:443").await.unwrap(),
        400,
        "ValidationError",
    )
    .await;
    assert_error(
        sign_up("203.0.113.9, 198.51.100.8").await.unwrap(),
        400,
        "ValidationError",
    )
    .await;
}

#[tokio::test]
async fn an_ipv4_client_of_a_dual_stack_listener_matches_its_ipv4_trusted_proxy() {
    let app = spawn_app_with(|c| {
        c.listen = "[::]:0".parse().unwrap();
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        c.auth_burst_per_address = 1;
    })
    .await;
    let url = format!("http://127.0.0.1:{}/v1/auth/sign-up", app.addr.port());
    let sign_up = |forwarded: &str| {
        app.http
            .post(&url)
            .header("x-forwarded-for", forwarded)
            .json(&serde_json::json!({"email": "not-an-email", "password": "x"}))
            .send()
    };
    assert_error(
        sign_up("198.51.100.1").await.unwrap(),
        400,
        "ValidationError",
    )
    .await;
    assert_error(
        sign_up("198.51.100.2").await.unwrap(),
        400,
        "ValidationError",
    )
    .await;
    assert_error(
        sign_up("198.51.100.2").await.unwrap(),
        429,
        "RateLimitExceeded",
    )
    .await;
}

#[tokio::test]
async fn control_characters_sent_by_clients_are_escaped_in_text_and_json_logs() {
    // U+0085 (NEL) ends a line for some log readers; U+009B (CSI) starts a terminal escape.
    let user_agent = "evil\u{85}request_id=forged \u{9b}31mred";
    for format in ["text", "json"] {
        let mut server = spawn_binary(&["--log-format", format], &[]).await;
        let response = reqwest::Client::new()
            .get(format!("{}/v1/health", server.base))
            .header(
                "user-agent",
                reqwest::header::HeaderValue::from_bytes(user_agent.as_bytes()).unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        let logs = server.logs();
        // The text formatter escapes C1 characters itself (`\u{85}`); the log writer escapes
        // whatever reaches it (`\u0085`, also valid inside a JSON string).
        assert!(
            logs.contains("evil\\u0085request_id=forged \\u009b31mred")
                || logs.contains("evil\\u{85}request_id=forged \\u{9b}31mred"),
            "{format}: the user agent is logged, escaped: {logs}"
        );
        assert!(
            !logs.chars().any(|c| c.is_control() && c != '\n'),
            "{format}: no raw control character: {logs:?}"
        );
        if format == "json" {
            for line in logs.lines() {
                let line: serde_json::Value = serde_json::from_str(line).expect("one JSON object");
                // Lines of the start-up probe (which sends no user agent) have an empty one.
                if let Some(span) = line
                    .get("span")
                    .filter(|s| s.get("user_agent").is_some_and(|ua| ua != ""))
                {
                    assert_eq!(span["user_agent"], user_agent);
                }
            }
        }
    }
}

#[test]
fn debug_output_of_the_arguments_and_user_rows_shows_no_secret() {
    use clap::Parser;
    let cli = cloudsigma_auth::config::Cli::parse_from([
        "cloudsigma-auth",
        "--database-url",
        "postgres://app:db-password-hunter2@db.internal/auth",
        "--service-token",
        "service-token-0123456789abcdef0123456789",
    ]);
    let shown = format!("{cli:?}");
    assert!(!shown.contains("db-password-hunter2"), "{shown}");
    assert!(!shown.contains("service-token-0123456789"), "{shown}");
    assert!(shown.contains("db.internal"), "{shown}");

    let row = cloudsigma_auth::store::users::UserRow {
        id: "u1".into(),
        email: "ada@example.com".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        tier: "free".into(),
        team_id: None,
        created_at: 0,
        monthly_rule_allowance: None,
        issuer: None,
        subject: None,
        external_email: None,
    };
    let shown = format!("{row:?}");
    assert!(!shown.contains("argon2id"), "{shown}");
    assert!(shown.contains("ada@example.com"), "{shown}");
}
