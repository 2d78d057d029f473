//! Command line and environment: every flag has an environment variable (CONTRACT §1).
//! Parsing happens here once; the rest of the crate receives typed values.

use std::net::{IpAddr, SocketAddr};

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::domain::tier::Tier;

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
        /// The user's email.
        email: String,
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
    pub database_url: Option<String>,

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

    /// Comma-separated proxy addresses whose last X-Forwarded-For entry is trusted.
    #[arg(
        long,
        env = "CLOUDSIGMA_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<IpAddr>,

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
    /// The configuration with every default, listening on `listen`; what tests start from.
    pub fn with_defaults(listen: SocketAddr, database_url: &str) -> Self {
        let mut config = Cli::parse_from(["cloudsigma-auth"]).config;
        config.listen = listen;
        config.database_url = Some(database_url.to_owned());
        config
    }

    pub fn issuer(&self, bound: SocketAddr) -> String {
        self.issuer
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }
}
