//! Command line and environment: every flag has an environment variable (CONTRACT §1).
//! Parsing happens here once; the rest of the crate receives typed values.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    str::FromStr,
    time::Duration,
};

use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use secrecy::SecretString;

use crate::{
    auth::issuers::FetchLimits,
    domain::{
        app_client::{AppClients, PoolId},
        tier::Tier,
    },
};

/// Authentication and API-key service of the CloudSigma API.
#[derive(Debug, Parser)]
#[command(name = "cloudsigma-auth", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve gRPC, gRPC-web and REST on one port (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage the token signing keys.
    #[command(subcommand)]
    SigningKeys(SigningKeysCommand),
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Ask a running instance's gRPC health service whether it is serving: exit status 0 when
    /// SERVING, 1 otherwise (a container health check).
    Health {
        /// The instance's address; by default the --listen address, on loopback when it is
        /// the unspecified address.
        #[arg(long)]
        addr: Option<SocketAddr>,
    },
    /// Check the trusted external issuers.
    #[command(subcommand)]
    Issuers(IssuersCommand),
    /// Print audit events as JSON lines, oldest first.
    Audit {
        /// Only this user's events (their email).
        #[arg(long)]
        user: Option<String>,
        /// Only events at or after this time (RFC 3339, e.g. 2026-11-28T00:00:00Z).
        #[arg(long, value_parser = parse_rfc3339)]
        since: Option<chrono::DateTime<chrono::Utc>>,
    },
}

fn parse_rfc3339(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|at| at.to_utc())
        .map_err(|e| format!("expected an RFC 3339 time such as 2026-11-28T00:00:00Z: {e}"))
}

#[derive(Debug, Subcommand)]
pub enum IssuersCommand {
    /// Fetch every configured JWKS once and print its usable keys, or why it cannot be used.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum SigningKeysCommand {
    /// Add a new active signing key; older keys keep verifying until their tokens expire.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Change a user's tier (and team).
    SetTier {
        /// The user's email (with --user-issuer: their email or subject at that issuer).
        email: String,
        /// The user's external issuer (`iss`), for a user of a trusted external issuer.
        #[arg(long)]
        user_issuer: Option<String>,
        /// free, pro, team or enterprise.
        tier: Tier,
        /// The user's team id (an empty value removes it; without the flag the team stays).
        #[arg(long)]
        team_id: Option<String>,
        /// Monthly rule allowance on the enterprise tier; "unlimited" (the default) or a number.
        #[arg(long, value_parser = parse_allowance)]
        monthly_rules: Option<MonthlyRules>,
    },
}

/// An enterprise monthly rule allowance given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonthlyRules {
    Unlimited,
    Limit(i32),
}

fn parse_allowance(raw: &str) -> Result<MonthlyRules, String> {
    if raw == "unlimited" {
        return Ok(MonthlyRules::Unlimited);
    }
    match raw.parse::<i32>() {
        Ok(n) if n >= 0 => Ok(MonthlyRules::Limit(n)),
        _ => Err("expected a non-negative number or \"unlimited\"".to_owned()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A feature switched `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    pub fn is_on(self) -> bool {
        self == Switch::On
    }
}

/// Settings shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address of the one listener for gRPC, gRPC-web and REST.
    #[arg(
        long,
        env = "CLOUDSIGMA_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,

    /// sqlite://… or postgres://…; default: an SQLite file under ./data/.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,

    /// `iss` of every issued token; default http://<listen address>.
    #[arg(long, env = "CLOUDSIGMA_ISSUER", global = true)]
    pub issuer: Option<String>,

    /// Token that internal callers send as `x-cloudsigma-service-token`; internal RPCs are
    /// refused when unset.
    #[arg(
        long,
        env = "CLOUDSIGMA_SERVICE_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub service_token: Option<SecretString>,

    /// Comma-separated origins allowed to call REST and gRPC-web from a browser.
    #[arg(
        long,
        env = "CLOUDSIGMA_CORS_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_origins: Vec<String>,

    /// Burst of the per-account request limiter.
    #[arg(
        long,
        env = "CLOUDSIGMA_ACCOUNT_BURST",
        default_value_t = 100,
        global = true
    )]
    pub account_burst: u32,

    /// Sustained requests per second of the per-account limiter.
    #[arg(
        long,
        env = "CLOUDSIGMA_ACCOUNT_RATE_PER_SECOND",
        default_value_t = 50,
        global = true
    )]
    pub account_rate_per_second: u32,

    /// Burst of sign-up, sign-in and refresh per client address.
    #[arg(
        long,
        env = "CLOUDSIGMA_AUTH_BURST_PER_ADDRESS",
        default_value_t = 20,
        global = true
    )]
    pub auth_burst_per_address: u32,

    /// Sustained sign-up, sign-in and refresh per minute per client address.
    #[arg(
        long,
        env = "CLOUDSIGMA_AUTH_RATE_PER_MINUTE_PER_ADDRESS",
        default_value_t = 60,
        global = true
    )]
    pub auth_rate_per_minute_per_address: u32,

    /// Comma-separated proxy addresses or CIDR ranges (10.0.0.0/8, fd00::/8) whose
    /// X-Forwarded-For entries are trusted.
    #[arg(
        long,
        env = "CLOUDSIGMA_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<TrustedProxy>,

    /// A TOML file of gateway rules (`[[rule]]` with `prefix`, `access` and optional
    /// `methods`) for the gateway check; without it, the rules of the documented API.
    #[arg(long, env = "CLOUDSIGMA_GATEWAY_RULES", global = true)]
    pub gateway_rules: Option<std::path::PathBuf>,

    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9090), apart from the public
    /// port; off when not given.
    #[arg(long, env = "CLOUDSIGMA_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,

    /// A TOML file of trusted external issuers (`[[issuer]]` with `iss`, `client_ids` and
    /// optional `jwks_uri`, `token_use`, claim names and `authoritative`) whose tokens are
    /// accepted beside our own.
    #[arg(long, env = "CLOUDSIGMA_TRUSTED_ISSUERS", global = true)]
    pub trusted_issuers: Option<std::path::PathBuf>,

    /// The user-pool id that the Cognito wire API answers as, in Cognito's form
    /// `<region>_<id>`; SRP hashes its `<id>` into every verifier.
    #[arg(
        long,
        env = "CLOUDSIGMA_COGNITO_POOL_ID",
        default_value = "eu-west-1_CloudSigma",
        global = true
    )]
    pub cognito_pool_id: PoolId,

    /// App clients, comma-separated `id` or `id:secret` (ids of [A-Za-z0-9_+]); tokens name one
    /// as `client_id`/`aud`, and REST sign-in issues them to the first.
    #[arg(
        long,
        env = "CLOUDSIGMA_APP_CLIENTS",
        default_value = "cloudsigma_api",
        hide_env_values = true,
        global = true
    )]
    pub app_clients: AppClients,

    /// SRP sign-in (`USER_SRP_AUTH`) on the Cognito wire API. On, every password sign-in
    /// stores an SRP verifier, which is as sensitive as a fast password hash.
    #[arg(
        long,
        env = "CLOUDSIGMA_COGNITO_SRP",
        value_enum,
        default_value_t = Switch::Off,
        global = true
    )]
    pub cognito_srp: Switch,

    /// Longest wait for an external issuer's JWKS, in milliseconds (connecting takes at most
    /// 2 s of it).
    #[arg(
        long,
        env = "CLOUDSIGMA_JWKS_TIMEOUT_MS",
        default_value_t = 5_000,
        value_parser = clap::value_parser!(u64).range(1..=60_000),
        global = true
    )]
    pub jwks_timeout_ms: u64,

    /// Highest daily limit of an API key on the pro tier.
    #[arg(
        long,
        env = "CLOUDSIGMA_PRO_MAX_DAILY_LIMIT",
        default_value_t = 10_000,
        global = true
    )]
    pub pro_max_daily_limit: u32,

    /// Highest daily limit of an API key on the team tier.
    #[arg(
        long,
        env = "CLOUDSIGMA_TEAM_MAX_DAILY_LIMIT",
        default_value_t = 50_000,
        global = true
    )]
    pub team_max_daily_limit: u32,

    /// Highest daily limit of an API key on the enterprise tier.
    #[arg(
        long,
        env = "CLOUDSIGMA_ENTERPRISE_MAX_DAILY_LIMIT",
        default_value_t = 1_000_000,
        global = true
    )]
    pub enterprise_max_daily_limit: u32,

    /// Log format: text, or json for one JSON object per line.
    #[arg(
        long,
        env = "CLOUDSIGMA_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// Time a client has to send its request line and headers, on a new connection and on an
    /// idle HTTP/1.1 keep-alive connection (which is closed when it runs out), e.g. 10s, 500ms.
    #[arg(
        long,
        env = "CLOUDSIGMA_HEADER_READ_TIMEOUT",
        default_value = "10s",
        value_parser = parse_duration,
        global = true
    )]
    pub header_read_timeout: Duration,

    /// Time a client has to send a whole request body once its headers arrived.
    #[arg(
        long,
        env = "CLOUDSIGMA_BODY_READ_TIMEOUT",
        default_value = "30s",
        value_parser = parse_duration,
        global = true
    )]
    pub body_read_timeout: Duration,

    /// Open connections at most; a connection over it is closed at once.
    #[arg(
        long,
        env = "CLOUDSIGMA_MAX_CONNECTIONS",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u32).range(1..),
        global = true
    )]
    pub max_connections: u32,

    /// Interval of the HTTP/2 keep-alive pings sent to a connection that is quiet.
    #[arg(
        long,
        env = "CLOUDSIGMA_HTTP2_KEEPALIVE_INTERVAL",
        default_value = "60s",
        value_parser = parse_duration,
        global = true
    )]
    pub http2_keepalive_interval: Duration,

    /// Time to answer an HTTP/2 keep-alive ping before the connection is closed.
    #[arg(
        long,
        env = "CLOUDSIGMA_HTTP2_KEEPALIVE_TIMEOUT",
        default_value = "20s",
        value_parser = parse_duration,
        global = true
    )]
    pub http2_keepalive_timeout: Duration,

    /// Concurrent streams (requests) on one HTTP/2 connection at most.
    #[arg(
        long,
        env = "CLOUDSIGMA_HTTP2_MAX_CONCURRENT_STREAMS",
        default_value_t = 200,
        value_parser = clap::value_parser!(u32).range(1..),
        global = true
    )]
    pub http2_max_concurrent_streams: u32,

    /// On SIGINT/SIGTERM, time given to in-flight requests before the process exits anyway.
    #[arg(
        long,
        env = "CLOUDSIGMA_DRAIN_TIMEOUT",
        default_value = "30s",
        value_parser = parse_duration,
        global = true
    )]
    pub drain_timeout: Duration,

    /// Longest wait for a database connection, in milliseconds; past it a request answers 503.
    #[arg(
        long,
        env = "CLOUDSIGMA_DATABASE_ACQUIRE_TIMEOUT_MS",
        default_value_t = 1_500,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub database_acquire_timeout_ms: u64,

    /// Longest run of one SQL statement on PostgreSQL, in milliseconds (0: no limit).
    #[arg(
        long,
        env = "CLOUDSIGMA_DATABASE_STATEMENT_TIMEOUT_MS",
        default_value_t = 5_000,
        global = true
    )]
    pub database_statement_timeout_ms: u64,

    /// How often each instance reads the change log for sign-outs, revoked sessions and tier or
    /// team changes made elsewhere (at most 1s). On PostgreSQL a notification usually brings
    /// them at once; the poll is the fallback.
    #[arg(
        long,
        env = "CLOUDSIGMA_CHANGE_POLL_INTERVAL",
        default_value = "250ms",
        value_parser = parse_poll_interval,
        global = true
    )]
    pub change_poll_interval: Duration,

    /// Seconds between two purges of expired sessions, refresh tokens, sign-in failures, old key
    /// usage and old audit events.
    #[arg(
        long,
        env = "CLOUDSIGMA_PURGE_INTERVAL_SECS",
        default_value_t = 3_600,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub purge_interval_secs: u64,

    /// Days an ended (expired or revoked) session and its refresh tokens are kept.
    #[arg(
        long,
        env = "CLOUDSIGMA_SESSION_RETENTION_DAYS",
        default_value_t = 7,
        global = true
    )]
    pub session_retention_days: u32,

    /// Days a sign-in failure record is kept after its last failure and lock.
    #[arg(
        long,
        env = "CLOUDSIGMA_SIGN_IN_FAILURE_RETENTION_DAYS",
        default_value_t = 1,
        global = true
    )]
    pub sign_in_failure_retention_days: u32,

    /// Days of daily API-key usage kept (400: a year of history stays).
    #[arg(
        long,
        env = "CLOUDSIGMA_USAGE_RETENTION_DAYS",
        default_value_t = 400,
        global = true
    )]
    pub usage_retention_days: u32,

    /// Days an audit event is kept.
    #[arg(
        long,
        env = "CLOUDSIGMA_AUDIT_RETENTION_DAYS",
        default_value_t = 365,
        global = true
    )]
    pub audit_retention_days: u32,
    /// IPv6 clients are limited per prefix of this length (one subscriber usually holds a
    /// whole /64); IPv4 clients per address.
    #[arg(
        long,
        env = "CLOUDSIGMA_IPV6_PREFIX_LENGTH",
        default_value_t = crate::domain::client_address::DEFAULT_IPV6_PREFIX_LENGTH,
        value_parser = clap::value_parser!(u8).range(1..=128),
        global = true
    )]
    pub ipv6_prefix_length: u8,

    /// Failed credential checks (unknown API key, bad or expired token) a client address may
    /// make at once before every credential from it is refused with 429.
    #[arg(
        long,
        env = "CLOUDSIGMA_FAILED_AUTH_BURST_PER_ADDRESS",
        default_value_t = 30,
        global = true
    )]
    pub failed_auth_burst_per_address: u32,

    /// Failed credential checks per minute per client address, sustained.
    #[arg(
        long,
        env = "CLOUDSIGMA_FAILED_AUTH_RATE_PER_MINUTE_PER_ADDRESS",
        default_value_t = 60,
        global = true
    )]
    pub failed_auth_rate_per_minute_per_address: u32,
    /// Seconds during which a rotated refresh token still gets its (same) successor; later it
    /// revokes the session. 0 to 10.
    #[arg(
        long,
        env = "CLOUDSIGMA_REFRESH_GRACE_SECONDS",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(0..=10),
        global = true
    )]
    pub refresh_grace_seconds: u64,

    /// Sign-ins and sign-ups that may wait for password hashing; past it they get 503 at once.
    #[arg(
        long,
        env = "CLOUDSIGMA_HASHING_QUEUE_LENGTH",
        default_value_t = 64,
        global = true
    )]
    pub hashing_queue_length: usize,

    /// Longest wait for password hashing, in milliseconds; past it the answer is 503.
    #[arg(
        long,
        env = "CLOUDSIGMA_HASHING_QUEUE_WAIT_MS",
        default_value_t = 2000,
        global = true
    )]
    pub hashing_queue_wait_ms: u64,
}

impl Config {
    /// The JWKS fetch timeouts.
    pub fn jwks_limits(&self) -> FetchLimits {
        let total = Duration::from_millis(self.jwks_timeout_ms);
        FetchLimits {
            connect_timeout: total.min(Duration::from_secs(2)),
            total_timeout: total,
        }
    }

    /// The configuration with every default, listening on `listen`; what tests start from.
    pub fn with_defaults(listen: SocketAddr, database_url: &str) -> Self {
        let mut config = Cli::parse_from(["cloudsigma-auth"]).config;
        config.listen = listen;
        config.database_url = Some(DatabaseUrl(database_url.to_owned()));
        config
    }

    pub fn issuer(&self, bound: SocketAddr) -> String {
        self.issuer
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }
}

/// A database URL whose `Debug` hides the password, so printing the configuration is safe.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl std::ops::Deref for DatabaseUrl {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Ok(Self(raw.to_owned()))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A password hides in the user info (`user:password@`) or in a `password=` parameter;
        // both are replaced, the rest (host, database) helps when reading a configuration dump.
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return f.write_str("\"[REDACTED]\"");
        };
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority_end = before_query.find('/').unwrap_or(before_query.len());
        let (authority, path) = before_query.split_at(authority_end);
        let authority = match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{user}:[REDACTED]@{host}")
            }
            None => authority.to_owned(),
        };
        let query = if query.to_ascii_lowercase().contains("password") {
            "?[REDACTED]".to_owned()
        } else if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        write!(f, "\"{scheme}://{authority}{path}{query}\"")
    }
}

/// A proxy whose `X-Forwarded-For` entries are believed: one address or a CIDR range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy(IpNet);

impl TrustedProxy {
    /// Whether `address` is this proxy; an IPv4-mapped IPv6 address (what a `[::]` listener
    /// reports for an IPv4 peer) counts as its IPv4 address.
    pub fn contains(&self, address: IpAddr) -> bool {
        self.0.contains(&address.to_canonical())
    }
}

impl FromStr for TrustedProxy {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        let net = match raw.parse::<IpNet>() {
            Ok(net) => net,
            Err(_) => raw
                .parse::<IpAddr>()
                .map(IpNet::from)
                .map_err(|_| format!("{raw:?} is neither an IP address nor a CIDR range"))?,
        };
        // 10.1.2.3/8 is refused rather than silently widened to 10.0.0.0/8.
        if net.trunc() != net {
            return Err(format!(
                "{raw:?} has host bits set; did you mean {}?",
                net.trunc()
            ));
        }
        let net = match net {
            IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
                Some(v4) if v6.prefix_len() >= 96 => IpNet::V4(
                    ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_err(|e| e.to_string())?,
                ),
                _ => net,
            },
            IpNet::V4(_) => net,
        };
        Ok(Self(net))
    }
}

/// A duration such as `10s`, `500ms` or `2m`; a bare number is seconds. Zero is refused: every
/// duration here is a timeout or an interval.
/// A change-log poll interval: a duration of at most one second (the propagation bound).
fn parse_poll_interval(raw: &str) -> Result<Duration, String> {
    let interval = parse_duration(raw)?;
    if interval > Duration::from_secs(1) {
        return Err("must be at most 1s".to_owned());
    }
    Ok(interval)
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| "expected a duration such as 10s, 500ms or 2m".to_owned())?;
    let duration = match unit.trim() {
        "ms" => Duration::from_millis(number),
        "" | "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        _ => return Err("expected a duration such as 10s, 500ms or 2m".to_owned()),
    };
    if duration.is_zero() {
        return Err("must be more than zero".to_owned());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_database_url_hides_its_password() {
        let url: DatabaseUrl = "postgres://app:hunter2@db.internal:5432/auth?sslmode=require"
            .parse()
            .unwrap();
        let shown = format!("{url:?}");
        assert_eq!(
            shown,
            "\"postgres://app:[REDACTED]@db.internal:5432/auth?sslmode=require\""
        );
        let sqlite: DatabaseUrl = "sqlite://./data/x.db?mode=rwc".parse().unwrap();
        assert_eq!(format!("{sqlite:?}"), "\"sqlite://./data/x.db?mode=rwc\"");
        let query: DatabaseUrl = "postgres://db/auth?user=app&password=hunter2"
            .parse()
            .unwrap();
        assert_eq!(format!("{query:?}"), "\"postgres://db/auth?[REDACTED]\"");
    }

    #[test]
    fn debug_of_the_configuration_shows_no_secret() {
        let mut config = Config::with_defaults(
            "127.0.0.1:0".parse().unwrap(),
            "postgres://app:hunter2@db/auth",
        );
        config.service_token = Some("a-service-token-of-at-least-32-chars".to_owned().into());
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("a-service-token"), "{shown}");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        let range: TrustedProxy = "10.0.0.0/8".parse().unwrap();
        assert!(range.contains("10.1.2.3".parse().unwrap()));
        assert!(range.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!range.contains("11.0.0.1".parse().unwrap()));
        let single: TrustedProxy = "127.0.0.1".parse().unwrap();
        assert!(single.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!single.contains("127.0.0.2".parse().unwrap()));
        let mapped: TrustedProxy = "::ffff:192.168.0.0/112".parse().unwrap();
        assert!(mapped.contains("192.168.7.7".parse().unwrap()));
        let v6: TrustedProxy = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!("10.1.2.3/8".parse::<TrustedProxy>().is_err());
        assert!("proxy.internal".parse::<TrustedProxy>().is_err());
    }

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5h").is_err());
    }
}
