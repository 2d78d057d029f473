//! The accept loop. Connections are served by hyper with a timer, so its header-read timeout
//! (which is also the HTTP/1.1 keep-alive idle timeout) fires; `axum::serve` runs hyper without
//! one. HTTP/1.1 and HTTP/2 (h2c, what gRPC uses) share the port; open connections are capped;
//! shutdown drains for a bounded time.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Extension, Router, extract::ConnectInfo};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{
        conn::auto,
        graceful::{GracefulShutdown, Watcher},
    },
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
};
use tower::Layer;

use crate::config::Config;

/// How connections are held to account; every value comes from the configuration.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub http2_keepalive_interval: Duration,
    pub http2_keepalive_timeout: Duration,
    pub http2_max_concurrent_streams: u32,
    pub drain_timeout: Duration,
}

impl ConnectionLimits {
    pub fn from_config(config: &Config) -> Self {
        Self {
            header_read_timeout: config.header_read_timeout,
            max_connections: usize::try_from(config.max_connections).unwrap_or(usize::MAX),
            http2_keepalive_interval: config.http2_keepalive_interval,
            http2_keepalive_timeout: config.http2_keepalive_timeout,
            http2_max_concurrent_streams: config.http2_max_concurrent_streams,
            drain_timeout: config.drain_timeout,
        }
    }
}

/// What a client sends first on an HTTP/2 connection without prior negotiation.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How often, at most, refused connections are reported while at the cap.
const CAP_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// Serves until `shutdown` resolves; then stops accepting, asks every connection to finish
/// (HTTP/1.1 closes after the current response, HTTP/2 sends GOAWAY) and, once the drain
/// timeout has passed, closes whatever is still open.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let builder = Arc::new(connection_builder(&limits));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut refused = Refusals::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        accept_failed(err).await;
                        continue;
                    }
                };
                // Over the cap the connection is closed at once: a queue of waiting sockets
                // would hold the file descriptors the cap is there to protect.
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    drop(stream);
                    refused.count(limits.max_connections);
                    continue;
                };
                connections.spawn(connection(
                    builder.clone(),
                    stream,
                    peer,
                    router.clone(),
                    graceful.watcher(),
                    limits.header_read_timeout,
                    slot,
                ));
            }
        }
    }
    drop(listener);
    let open = graceful.count();
    if open > 0 {
        tracing::info!(open, "draining connections");
    }
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "drain timeout passed; closing the remaining connections"
        );
    }
    // Aborts what is left and waits for it, so no request outlives the server.
    connections.shutdown().await;
    Ok(())
}

fn connection_builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.http2_keepalive_interval)
        .keep_alive_timeout(limits.http2_keepalive_timeout)
        .max_concurrent_streams(limits.http2_max_concurrent_streams);
    builder
}

async fn connection(
    builder: Arc<auto::Builder<TokioExecutor>>,
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    watcher: Watcher,
    header_read_timeout: Duration,
    _slot: OwnedSemaphorePermit,
) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(error = %err, "cannot set TCP_NODELAY");
    }
    let Some(io) = first_bytes(stream, header_read_timeout).await else {
        return;
    };
    // Handlers read the peer address as axum's `ConnectInfo`, as with `axum::serve`.
    let service = TowerToHyperService::new(Extension(ConnectInfo(peer)).layer(router));
    let served = watcher.watch(builder.serve_connection(TokioIo::new(io), service));
    if let Err(err) = served.await {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}

/// Waits, within the header-read timeout, for enough bytes to tell HTTP/1.1 from HTTP/2 and
/// returns the stream with those bytes put back. hyper's own protocol sniffing has no timer:
/// a client that connects and stays silent would otherwise hold its connection for ever.
async fn first_bytes(
    mut stream: TcpStream,
    timeout: Duration,
) -> Option<impl AsyncRead + AsyncWrite + Unpin + Send + 'static> {
    let mut buf = [0u8; H2_PREFACE.len()];
    let mut filled = 0;
    let sniff = async {
        loop {
            let n = stream.read(&mut buf[filled..]).await?;
            if n == 0 {
                return Ok::<bool, io::Error>(false);
            }
            filled += n;
            if filled == buf.len() || buf[..filled] != H2_PREFACE[..filled] {
                return Ok(true);
            }
        }
    };
    match tokio::time::timeout(timeout, sniff).await {
        Ok(Ok(true)) => {}
        Ok(Ok(false) | Err(_)) | Err(_) => return None,
    }
    let (read, write) = stream.into_split();
    let replayed = std::io::Cursor::new(buf[..filled].to_vec()).chain(read);
    Some(tokio::io::join(replayed, write))
}

/// Accept fails when the process is out of file descriptors (or a client gave up during the
/// handshake); pausing briefly lets open connections finish instead of spinning.
async fn accept_failed(err: io::Error) {
    match err.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::Interrupted => {}
        _ => {
            tracing::warn!(error = %err, "cannot accept a connection");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Connections refused at the cap, reported at most once a minute so a flood does not become
/// a flood of log lines.
#[derive(Default)]
struct Refusals {
    since_report: u64,
    last_report: Option<Instant>,
}

impl Refusals {
    fn count(&mut self, cap: usize) {
        self.since_report += 1;
        let due = self
            .last_report
            .is_none_or(|at| at.elapsed() >= CAP_WARNING_INTERVAL);
        if due {
            tracing::warn!(
                max_connections = cap,
                refused = self.since_report,
                "connection cap reached; closing new connections"
            );
            self.since_report = 0;
            self.last_report = Some(Instant::now());
        }
    }
}
