//! Prometheus metrics (`metrics` + `metrics-exporter-prometheus`), served on their own listener
//! (`--metrics-listen`) so the public port never exposes them. Each application owns its
//! recorder (no global one), so two instances in one process keep separate counts. Labels are
//! closed sets chosen here — RPC paths of the service, protocols, codes, reasons — never a user
//! id, email, key or prefix, and a path the service does not have is counted as `unknown`.
//! Disabled, every call is a no-op.

use std::{collections::HashSet, sync::Arc, time::Duration};

use metrics::{Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// The door a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    GrpcWeb,
    Rest,
    Gateway,
    Cognito,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::GrpcWeb => "grpc-web",
            Protocol::Rest => "rest",
            Protocol::Gateway => "gateway",
            Protocol::Cognito => "cognito",
        }
    }
}

/// How an authentication ended, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    Ok,
    Missing,
    Invalid,
    Expired,
    Revoked,
    Forbidden,
    DailyLimit,
    AccountRate,
    AddressRate,
    Unavailable,
}

impl AuthOutcome {
    fn as_str(self) -> &'static str {
        match self {
            AuthOutcome::Ok => "ok",
            AuthOutcome::Missing => "missing",
            AuthOutcome::Invalid => "invalid",
            AuthOutcome::Expired => "expired",
            AuthOutcome::Revoked => "revoked",
            AuthOutcome::Forbidden => "forbidden",
            AuthOutcome::DailyLimit => "daily_limit",
            AuthOutcome::AccountRate => "account_rate",
            AuthOutcome::AddressRate => "address_rate",
            AuthOutcome::Unavailable => "unavailable",
        }
    }
}

pub const REQUESTS: &str = "cloudsigma_auth_requests_total";
pub const REQUEST_DURATION: &str = "cloudsigma_auth_request_duration_seconds";
pub const AUTHENTICATIONS: &str = "cloudsigma_auth_authentications_total";
pub const DAILY_LIMIT_REFUSALS: &str = "cloudsigma_auth_daily_limit_refusals_total";
pub const HASHING_QUEUE: &str = "cloudsigma_auth_hashing_queue_depth";
pub const HASHING_WAIT: &str = "cloudsigma_auth_hashing_wait_seconds";
pub const DB_CONNECTIONS: &str = "cloudsigma_auth_db_connections";
pub const DB_ACQUIRE: &str = "cloudsigma_auth_db_acquire_seconds";
pub const CACHE_LOOKUPS: &str = "cloudsigma_auth_cache_lookups_total";

/// Latency buckets (seconds): sub-millisecond answers from memory up to the 5 s timeouts.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// RPC paths that may appear as a label.
    rpcs: HashSet<String>,
}

#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<Inner>>);

impl Metrics {
    pub fn disabled() -> Self {
        Self(None)
    }

    /// A recorder whose `rpc` label takes the paths in `rpcs`.
    pub fn enabled(rpcs: HashSet<String>) -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        Self(Some(Arc::new(Inner {
            recorder,
            handle,
            rpcs,
        })))
    }

    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.0.as_ref().map_or_else(String::new, |inner| {
            inner.handle.run_upkeep();
            inner.handle.render()
        })
    }

    fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label::new(*k, (*v).to_owned()))
            .collect();
        Key::from_parts(name, labels)
    }

    fn count(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        if let Some(inner) = &self.0 {
            inner
                .recorder
                .register_counter(&Self::key(name, labels), &METADATA)
                .increment(1);
        }
    }

    fn observe(&self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        if let Some(inner) = &self.0 {
            inner
                .recorder
                .register_histogram(&Self::key(name, labels), &METADATA)
                .record(value);
        }
    }

    fn set(&self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        if let Some(inner) = &self.0 {
            inner
                .recorder
                .register_gauge(&Self::key(name, labels), &METADATA)
                .set(value);
        }
    }

    /// One answered request of `rpc` (a gRPC path), with its gRPC code and how long it took.
    pub fn request(&self, rpc: &str, protocol: Protocol, code: tonic::Code, took: Duration) {
        let Some(inner) = &self.0 else {
            return;
        };
        let rpc = if inner.rpcs.contains(rpc) {
            rpc
        } else {
            "unknown"
        };
        let code = code_name(code);
        self.count(
            REQUESTS,
            &[
                ("rpc", rpc),
                ("protocol", protocol.as_str()),
                ("code", code),
            ],
        );
        self.observe(REQUEST_DURATION, &[("rpc", rpc)], took.as_secs_f64());
    }

    /// One authentication by `method` (`jwt`, `api_key`, or `none` without a credential).
    pub fn authentication(&self, method: &'static str, outcome: AuthOutcome) {
        self.count(
            AUTHENTICATIONS,
            &[("method", method), ("outcome", outcome.as_str())],
        );
        if outcome == AuthOutcome::DailyLimit {
            self.count(DAILY_LIMIT_REFUSALS, &[]);
        }
    }

    /// How long a password check or hash waited for its turn.
    pub fn hashing_wait(&self, waited: Duration) {
        self.observe(HASHING_WAIT, &[], waited.as_secs_f64());
    }

    pub fn hashing_queue(&self, depth: usize) {
        self.set(HASHING_QUEUE, &[], depth as f64);
    }

    pub fn db_pool(&self, in_use: u32, idle: u32) {
        self.set(DB_CONNECTIONS, &[("state", "in_use")], f64::from(in_use));
        self.set(DB_CONNECTIONS, &[("state", "idle")], f64::from(idle));
    }

    pub fn db_acquire(&self, took: Duration) {
        self.observe(DB_ACQUIRE, &[], took.as_secs_f64());
    }

    /// A lookup in one of the in-memory copies (`verified_tokens`, `sessions`, `api_keys`).
    pub fn cache(&self, cache: &'static str, hit: bool) {
        self.count(
            CACHE_LOOKUPS,
            &[
                ("cache", cache),
                ("result", if hit { "hit" } else { "miss" }),
            ],
        );
    }
}

/// The gRPC code's name as Prometheus label value (`OK`, `UNAUTHENTICATED`, …).
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Answers `GET /metrics` (any path, in fact) with the text exposition. Served by start-up on
/// the metrics listener with the same connection limits and timeouts as the public port.
pub fn router(metrics: Metrics) -> axum::Router {
    axum::Router::new().fallback(move || {
        let metrics = metrics.clone();
        async move {
            (
                [(
                    http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                metrics.render(),
            )
        }
    })
}
