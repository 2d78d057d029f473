//! Builds the application: database, state, the gRPC services behind the authentication layer,
//! the REST transcoder, gRPC-web, reflection and health, all on one listener.

mod observe;
mod serve;

use std::{convert::Infallible, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, body::Body as AxumBody};
use http::{HeaderName, HeaderValue, Method, Request, Response, header};
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;
pub use serve::ConnectionLimits;
use tokio::{net::TcpListener, task::JoinHandle};
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn, util::BoxCloneSyncService};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    timeout::RequestBodyDeadlineLayer,
    trace::{DefaultOnResponse, TraceLayer},
};

use self::observe::{http_outcome, rpc_paths, sample_gauges};
use crate::{
    api_keys::ApiKeys,
    audit::AuditTrail,
    auth::{
        Accounts, AuthError, HashingLimits, KeyRing, Lineage, LiveState, PasswordHasher,
        RefreshRules, SrpVerifiers, Tokens,
        follow::follow,
        issuers::{self, Fetcher, TrustedIssuers},
    },
    authn::{AuthLayer, Gate},
    cognito::{self, Cognito, CognitoSettings},
    config::Config,
    descriptors,
    domain::api_key::DailyLimitCeilings,
    domain::client_address::AddressBucket,
    domain::clock::{SharedClock, SystemClock},
    gateway::{self, EnvoyAuthorization, Gateway},
    grpc::{
        api_keys::ApiKeyApi,
        audit::AuditApi,
        auth::AuthApi,
        client_address::ClientAddresses,
        health::{HealthApi, report_database_health},
        usage::UsageApi,
    },
    metrics::{self, Metrics, Protocol},
    proto::{
        DESCRIPTOR_SET,
        cloudsigma::v1::{
            api_key_service_server::ApiKeyServiceServer, audit_service_server::AuditServiceServer,
            auth_service_server::AuthServiceServer, health_service_server::HealthServiceServer,
            usage_service_server::UsageServiceServer,
        },
        envoy::service::auth::v3::authorization_server::AuthorizationServer,
    },
    quota::{DailyMeter, FailureLimiter, KeyedLimiter, Usage},
    rest::{self, GrpcStack, MAX_BODY_BYTES, Rest},
    retention::{PurgeTask, Purger, Retention},
    store,
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] store::ConnectError),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("CLOUDSIGMA_CORS_ORIGINS has an invalid origin")]
    CorsOrigin,
    #[error("CLOUDSIGMA_CORS_ORIGINS: \"*\" (any origin) cannot be combined with other origins")]
    CorsWildcardMixed,
    #[error(
        "CLOUDSIGMA_SERVICE_TOKEN is too short: use at least {MIN_SERVICE_TOKEN_CHARS} characters (e.g. openssl rand -hex 32)"
    )]
    ShortServiceToken,
    #[error("the API description is inconsistent: {0}")]
    Descriptors(String),
    #[error("CLOUDSIGMA_SERVICE_TOKEN is set but empty; unset it to disable internal RPCs")]
    EmptyServiceToken,
    #[error("cannot load the signing keys: {0}")]
    Keys(#[from] AuthError),
    #[error("cannot load the refresh-token secret: {0}")]
    LineageSecret(AuthError),
    #[error("cannot read the change log: {0}")]
    ChangeLog(#[from] store::StoreError),
    #[error(transparent)]
    GatewayRules(#[from] gateway::rules::RulesError),
    #[error("--trusted-issuers: {0}")]
    TrustedIssuers(String),
    #[error("cannot delete the SRP verifiers (SRP is off): {0}")]
    SrpVerifiers(store::StoreError),
}

/// What tests may replace; production uses the defaults.
#[derive(Clone)]
pub struct Dependencies {
    pub clock: SharedClock,
}

impl Default for Dependencies {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
        }
    }
}

/// Connections the metrics listener holds at once.
const METRICS_MAX_CONNECTIONS: usize = 64;

/// Shortest accepted service token: a shared secret short enough to guess is no secret.
pub const MIN_SERVICE_TOKEN_CHARS: usize = 32;

pub struct Application {
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    db: DatabaseConnection,
    background: Vec<JoinHandle<()>>,
    purge: PurgeTask,
    key_ring: Arc<KeyRing>,
    live: Arc<LiveState>,
    metrics_addr: Option<SocketAddr>,
}

impl Application {
    pub async fn build(config: Config, deps: Dependencies) -> Result<Self, StartupError> {
        if config
            .service_token
            .as_ref()
            .is_some_and(|token| token.expose_secret().trim().is_empty())
        {
            return Err(StartupError::EmptyServiceToken);
        }
        if config
            .service_token
            .as_ref()
            .is_some_and(|token| token.expose_secret().chars().count() < MIN_SERVICE_TOKEN_CHARS)
        {
            return Err(StartupError::ShortServiceToken);
        }
        let cors = cors(&config.cors_origins)?;
        let gateway_rules = match &config.gateway_rules {
            Some(path) => Some(gateway::Rules::load(path)?),
            None => None,
        };
        let issuer_configs = match &config.trusted_issuers {
            Some(path) => issuers::config::load(path).map_err(StartupError::TrustedIssuers)?,
            None => Vec::new(),
        };
        // The port first: a port in use is reported before the database is touched (and before
        // migrations run against it).
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| StartupError::Listen(config.listen, e))?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|e| StartupError::Listen(addr, e))?,
            ),
            None => None,
        };
        let metrics = match &metrics_listener {
            Some(_) => Metrics::enabled(rpc_paths()),
            None => Metrics::disabled(),
        };
        let db =
            store::connect_with(config.database_url.as_deref(), database_timeouts(&config)).await?;
        let clock = deps.clock;
        let bound = listener
            .local_addr()
            .map_err(|e| StartupError::Listen(config.listen, e))?;

        let key_ring = Arc::new(KeyRing::load_or_create(db.clone(), clock.clone()).await?);
        let app_clients = Arc::new(config.app_clients.clone());
        let tokens = Arc::new(Tokens::new(
            config.issuer(bound),
            key_ring.clone(),
            clock.clone(),
            app_clients.clone(),
        ));
        // Hashing takes every core but one: a burst of sign-ins queues instead of starving the
        // runtime threads that answer everything else.
        let hashing_threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get().saturating_sub(1))
            .max(1);
        let hasher = PasswordHasher::new(HashingLimits {
            concurrency: hashing_threads,
            queue_length: config.hashing_queue_length,
            max_wait: Duration::from_millis(config.hashing_queue_wait_ms),
        })
        .with_metrics(metrics.clone());
        let hasher = Arc::new(hasher);
        // Changes logged before this instance started concern nothing it holds.
        let changes_from = store::changes::latest(&db).await?;
        let live = Arc::new(
            LiveState::new(db.clone(), clock.clone(), changes_from).with_metrics(metrics.clone()),
        );
        let lineage = Lineage::load_or_create(&db, clock.now().timestamp())
            .await
            .map_err(StartupError::LineageSecret)?;
        let accounts = Accounts::new(
            db.clone(),
            clock.clone(),
            hasher.clone(),
            tokens,
            RefreshRules {
                lineage,
                grace: Duration::from_secs(config.refresh_grace_seconds),
            },
            live.clone(),
        );
        let trusted_issuers = Arc::new(TrustedIssuers::new(
            issuer_configs,
            Fetcher::new(config.jwks_limits()).map_err(StartupError::TrustedIssuers)?,
            clock.clone(),
        ));
        let accounts = accounts.with_trusted_issuers(trusted_issuers.clone());
        // A verifier is as sensitive as a fast password hash: none is kept while SRP is off.
        let accounts = if config.cognito_srp.is_on() {
            accounts.with_srp(SrpVerifiers::new(config.cognito_pool_id.name()))
        } else {
            let dropped = store::srp::delete_all_verifiers(&db)
                .await
                .map_err(StartupError::SrpVerifiers)?;
            if dropped > 0 {
                tracing::info!(dropped, "SRP is off: the stored SRP verifiers were deleted");
            }
            accounts
        };
        let accounts = Arc::new(accounts);

        let keys = Arc::new(
            ApiKeys::new(
                db.clone(),
                clock.clone(),
                DailyLimitCeilings {
                    pro: clamp_i32(config.pro_max_daily_limit),
                    team: clamp_i32(config.team_max_daily_limit),
                    enterprise: clamp_i32(config.enterprise_max_daily_limit),
                },
            )
            .with_metrics(metrics.clone()),
        );
        let per_account = Arc::new(KeyedLimiter::new(
            config.account_burst,
            config.account_rate_per_second,
            Duration::from_secs(1),
            clock.clone(),
        ));

        let failed_auth = Arc::new(FailureLimiter::new(
            config.failed_auth_burst_per_address,
            config.failed_auth_rate_per_minute_per_address,
            Duration::from_secs(60),
            clock.clone(),
        ));

        let pool = descriptors::pool();
        let gate = Arc::new(Gate {
            rules: descriptors::access_rules(&pool),
            service_token: config.service_token.clone(),
            accounts: accounts.clone(),
            keys: keys.clone(),
            meter: Arc::new(DailyMeter::new(db.clone(), clock.clone())),
            per_account: per_account.clone(),
            failed_auth: failed_auth.clone(),
            ipv6_prefix_length: config.ipv6_prefix_length,
            metrics: metrics.clone(),
        });
        let rest_routes = rest::Routes::from_pool(&pool).map_err(StartupError::Descriptors)?;
        // Described from the same routes and rules that serve and guard them.
        let description = rest::OpenApi::build(&rest_routes, &gate.rules);
        let gateway_rules =
            gateway_rules.unwrap_or_else(|| gateway::Rules::documented(&rest_routes, &gate.rules));
        let gateway = Arc::new(Gateway::new(
            gate.clone(),
            gateway_rules,
            ClientAddresses::new(config.trusted_proxies.clone()),
        ));
        let per_address = Arc::new(KeyedLimiter::new(
            config.auth_burst_per_address,
            config.auth_rate_per_minute_per_address,
            Duration::from_secs(60),
            clock.clone(),
        ));

        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        let service_names = pool
            .services()
            .filter(|s| s.package_name() == descriptors::PACKAGE)
            .map(|s| s.full_name().to_owned())
            .collect();
        let mut background = vec![
            tokio::spawn(report_database_health(
                db.clone(),
                health_reporter,
                service_names,
            )),
            tokio::spawn(shrink_limiters(per_address.clone(), per_account)),
            tokio::spawn(shrink_failure_limiter(failed_auth)),
            // In the background: start-up does not wait for (or fail on) an external issuer.
            tokio::spawn(trusted_issuers.fetch_all()),
            tokio::spawn(follow(
                live.clone(),
                changes_from,
                config.change_poll_interval,
                config
                    .database_url
                    .as_deref()
                    .filter(|url| url.starts_with("postgres"))
                    .map(str::to_owned),
            )),
        ];

        let metrics_addr = metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok());
        if let Some(listener) = metrics_listener {
            // The public port's accept loop, timeouts and connection cap (a scraper needs few).
            let limits = ConnectionLimits {
                max_connections: METRICS_MAX_CONNECTIONS,
                ..ConnectionLimits::from_config(&config)
            };
            let router = metrics::router(metrics.clone());
            background.push(tokio::spawn(async move {
                if let Err(err) =
                    serve::serve(listener, router, limits, std::future::pending()).await
                {
                    tracing::warn!(error = %err, "the metrics listener stopped");
                }
            }));
            background.push(tokio::spawn(sample_gauges(
                db.clone(),
                hasher.clone(),
                metrics.clone(),
            )));
        }

        let purger = Arc::new(Purger::new(
            db.clone(),
            clock.clone(),
            Retention {
                sessions_days: config.session_retention_days,
                sign_in_failures_days: config.sign_in_failure_retention_days,
                usage_days: config.usage_retention_days,
                audit_events_days: config.audit_retention_days,
            },
        ));
        let purge = purger.start(Duration::from_secs(config.purge_interval_secs));

        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection()
            .build_v1()
            .map_err(|e| StartupError::Descriptors(e.to_string()))?;
        let reflection_v1alpha = reflection()
            .build_v1alpha()
            .map_err(|e| StartupError::Descriptors(e.to_string()))?;

        let routes = tonic::service::Routes::new(
            HealthServiceServer::new(HealthApi::new(db.clone()))
                .max_decoding_message_size(MAX_BODY_BYTES),
        )
        .add_service(
            AuthServiceServer::new(AuthApi::new(
                accounts.clone(),
                gate.clone(),
                ClientAddresses::new(config.trusted_proxies.clone()),
                per_address.clone(),
            ))
            .max_decoding_message_size(MAX_BODY_BYTES),
        )
        .add_service(
            UsageServiceServer::new(UsageApi::new(Arc::new(Usage::new(
                db.clone(),
                clock.clone(),
            ))))
            .max_decoding_message_size(MAX_BODY_BYTES),
        )
        .add_service(
            ApiKeyServiceServer::new(ApiKeyApi::new(keys))
                .max_decoding_message_size(MAX_BODY_BYTES),
        )
        .add_service(
            AuditServiceServer::new(AuditApi::new(Arc::new(AuditTrail::new(db.clone()))))
                .max_decoding_message_size(MAX_BODY_BYTES),
        )
        .add_service(
            AuthorizationServer::new(EnvoyAuthorization::new(gateway.clone()))
                .max_decoding_message_size(MAX_BODY_BYTES),
        )
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
        let grpc: GrpcStack = BoxCloneSyncService::new(
            AuthLayer::new(
                gate.clone(),
                ClientAddresses::new(config.trusted_proxies.clone()),
            )
            .layer(routes),
        );

        let cognito = Arc::new(Cognito::new(
            accounts.clone(),
            gate,
            CognitoSettings {
                pool: config.cognito_pool_id.clone(),
                clients: app_clients,
                srp: config.cognito_srp.is_on(),
            },
            ClientAddresses::new(config.trusted_proxies.clone()),
            per_address,
            metrics.clone(),
        ));
        // Cognito publishes a pool's keys under the pool id; the SDKs' verifiers look there.
        let pool_jwks: Arc<str> =
            format!("/{}/.well-known/jwks.json", config.cognito_pool_id).into();
        let rest = Rest::new(rest_routes, grpc.clone(), description);
        let grpc_web = tonic_web::GrpcWebLayer::new().layer(grpc);
        let dispatch = service_fn(move |mut request: Request<AxumBody>| {
            let rest = rest.clone();
            let grpc_web = grpc_web.clone();
            let gateway = gateway.clone();
            let metrics = metrics.clone();
            let cognito = cognito.clone();
            let pool_jwks = pool_jwks.clone();
            async move {
                // The door is marked for the metrics of the RPC layer behind it.
                let response: Response<AxumBody> = if is_grpc(&request) {
                    let protocol = if is_grpc_web(&request) {
                        Protocol::GrpcWeb
                    } else {
                        Protocol::Grpc
                    };
                    request.extensions_mut().insert(protocol);
                    let Ok(response) = grpc_web.oneshot(request).await;
                    response.map(AxumBody::new)
                } else if gateway::is_check(request.uri().path()) {
                    let started = std::time::Instant::now();
                    let response = gateway.handle_http(request).await;
                    metrics.request(
                        gateway::CHECK_PREFIX,
                        Protocol::Gateway,
                        http_outcome(response.status()),
                        started.elapsed(),
                    );
                    response
                } else if cognito::is_cognito(&request) {
                    cognito.handle(request).await
                } else {
                    if request.uri().path() == &*pool_jwks {
                        *request.uri_mut() = http::Uri::from_static("/.well-known/jwks.json");
                    }
                    request.extensions_mut().insert(Protocol::Rest);
                    rest.handle(request).await
                };
                Ok::<_, Infallible>(response)
            }
        });

        let router = Router::new().fallback_service(dispatch).layer(
            ServiceBuilder::new()
                .map_request(drop_unsafe_request_id::<AxumBody>)
                .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), NewRequestId))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
                .layer(cors)
                // A whole-body deadline, not an idle timer: a client trickling a byte at a
                // time cannot hold a request open either.
                .layer(RequestBodyDeadlineLayer::new(config.body_read_timeout)),
        );

        Ok(Self {
            listener,
            router,
            limits: ConnectionLimits::from_config(&config),
            db,
            background,
            purge,
            key_ring,
            live,
            metrics_addr,
        })
    }

    /// Where the metrics are served, when they are.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The database handle, for tests that need to break or inspect it.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// What this instance holds in memory about sessions and users, for tests that wait until
    /// it has read a change.
    pub fn live_state(&self) -> Arc<LiveState> {
        self.live.clone()
    }

    /// The signing key ring, for tests that count its reloads.
    pub fn key_ring(&self) -> Arc<KeyRing> {
        self.key_ring.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests
    /// finish for at most the drain timeout.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(address = %self.local_addr(), "listening");
        let result = serve::serve(self.listener, self.router, self.limits, shutdown).await;
        for task in self.background {
            task.abort();
        }
        self.purge.stop().await;
        result
    }
}

/// Forgets limiter state of idle keys once a minute, so memory follows active clients only.
async fn shrink_limiters(
    per_address: Arc<KeyedLimiter<AddressBucket>>,
    per_account: Arc<KeyedLimiter<String>>,
) {
    loop {
        tokio::time::sleep(Duration::from_secs(60)).await;
        per_address.shrink();
        per_account.shrink();
    }
}

fn database_timeouts(config: &Config) -> store::Timeouts {
    store::Timeouts {
        acquire: Duration::from_millis(config.database_acquire_timeout_ms),
        statement: (config.database_statement_timeout_ms > 0)
            .then(|| Duration::from_millis(config.database_statement_timeout_ms)),
    }
}

/// Forgets failure counts of quiet addresses and blocks that are over, once a minute.
async fn shrink_failure_limiter(failed_auth: Arc<FailureLimiter<AddressBucket>>) {
    loop {
        tokio::time::sleep(Duration::from_secs(60)).await;
        failed_auth.shrink();
    }
}

fn clamp_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request id from the client is kept only when it is short and plain, so it cannot forge
/// log fields or carry a payload into every log line of the request; otherwise a fresh one is
/// made.
fn drop_unsafe_request_id<B>(mut request: Request<B>) -> Request<B> {
    let safe = request
        .headers()
        .get_all(&REQUEST_ID)
        .iter()
        .map(|value| is_safe_request_id(value.as_bytes()))
        .collect::<Vec<_>>();
    if safe != [true] {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

fn is_safe_request_id(value: &[u8]) -> bool {
    (1..=64).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[derive(Clone, Copy)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// The span of one request: method, path (never the query string, which may hold a stray
/// credential) and request id.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Client text: the log writer escapes control characters in it (see telemetry).
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
        user_agent = %user_agent,
    )
}

/// gRPC and gRPC-web requests go to the gRPC stack; everything else is REST.
fn is_grpc<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

fn is_grpc_web<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc-web"))
}

/// `*` alone allows any origin: requests carry their credential in `Authorization`, never in a
/// cookie, so a foreign page can use only a token it already holds.
fn cors(origins: &[String]) -> Result<CorsLayer, StartupError> {
    let origins: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    let allow_origin = if origins.contains(&"*") {
        if origins.len() > 1 {
            return Err(StartupError::CorsWildcardMixed);
        }
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .into_iter()
                .map(|o| HeaderValue::from_str(o).map_err(|_| StartupError::CorsOrigin))
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let exposed = [
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "ratelimit-policy",
        "ratelimit",
        "retry-after",
        "x-request-id",
        // The Cognito API's answers (the SDKs read the error name from one or the other).
        "x-amzn-requestid",
        "x-amzn-errortype",
    ]
    .map(HeaderName::from_static);
    let allowed_headers = [
        "authorization",
        "content-type",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
        "x-request-id",
        // What the Cognito SDKs send.
        "x-amz-target",
        "x-amz-user-agent",
        "cache-control",
        "amz-sdk-invocation-id",
        "amz-sdk-request",
    ]
    .map(HeaderName::from_static);
    Ok(CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(allowed_headers)
        .expose_headers(exposed)
        .max_age(Duration::from_secs(600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_request_ids_are_safe() {
        assert!(is_safe_request_id(b"req-1.2_3"));
        assert!(is_safe_request_id(&[b'a'; 64]));
        assert!(!is_safe_request_id(&[b'a'; 65]));
        assert!(!is_safe_request_id(b""));
        assert!(!is_safe_request_id(b"a path=/health method=DELETE"));
        assert!(!is_safe_request_id("caf\u{e9}".as_bytes()));
    }

    #[test]
    fn a_wildcard_origin_cannot_be_mixed_with_others() {
        assert!(cors(&["*".to_owned()]).is_ok());
        assert!(matches!(
            cors(&["*".to_owned(), "https://a.example".to_owned()]),
            Err(StartupError::CorsWildcardMixed)
        ));
    }
}
