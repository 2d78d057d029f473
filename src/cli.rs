//! The subcommands: serve (default), migrate, and the admin commands.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use crate::{
    audit::{self, Export},
    auth::{KeyRing, issuers},
    config::{Command, Config, IssuersCommand, MonthlyRules, SigningKeysCommand, UsersCommand},
    domain::{
        audit::{AuditEvent, EventType},
        clock::{SharedClock, SystemClock},
        email::Email,
        origin::RequestOrigin,
    },
    startup::{Application, Dependencies, StartupError},
    store::{self, audit::EventRow},
};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error(transparent)]
    Database(#[from] store::ConnectError),
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error("{0}")]
    Admin(String),
}

pub async fn run(config: Config, command: Command) -> Result<(), CliError> {
    match command {
        Command::Serve => {
            let app = Application::build(config, Dependencies::default()).await?;
            app.run_until_stopped(shutdown_signal())
                .await
                .map_err(CliError::Serve)
        }
        Command::Migrate => {
            store::connect(config.database_url.as_deref()).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::SigningKeys(SigningKeysCommand::Rotate) => {
            let db = store::connect(config.database_url.as_deref()).await?;
            let kid = KeyRing::rotate(&db, chrono::Utc::now().timestamp())
                .await
                .map_err(|e| CliError::Admin(format!("cannot rotate the signing key: {e}")))?;
            let event = AuditEvent::new(EventType::SigningKeyRotated, RequestOrigin::default())
                .detail(format!("kid {kid}"));
            let clock: SharedClock = Arc::new(SystemClock);
            audit::record_after(&db, &clock, event).await;
            println!("new active signing key: {kid}");
            Ok(())
        }
        Command::Audit { user, since } => print_audit_events(&config, user, since).await,
        Command::Issuers(IssuersCommand::Check) => check_issuers(&config).await,
        Command::Health { addr } => health(addr.unwrap_or(config.listen)).await,
        Command::Users(UsersCommand::SetTier {
            email,
            user_issuer,
            tier,
            team_id,
            monthly_rules,
        }) => {
            let db = store::connect(config.database_url.as_deref()).await?;
            // The account's unique name: the email of one of ours; for an external user, the
            // name we gave it, found by its email or subject at the issuer.
            let (email, shown) = match &user_issuer {
                None => {
                    let email = Email::parse(&email).map_err(|e| CliError::Admin(e.to_string()))?;
                    (email.as_str().to_owned(), email.to_string())
                }
                Some(iss) => {
                    let found = store::external_users::find_for_admin(&db, iss, email.trim())
                        .await
                        .map_err(|e| CliError::Admin(e.to_string()))?;
                    match found.as_slice() {
                        [user] => (user.email.clone(), format!("{email} at {iss}")),
                        [] => {
                            return Err(CliError::Admin(format!(
                                "no user {email} at issuer {iss}"
                            )));
                        }
                        _ => {
                            return Err(CliError::Admin(format!(
                                "more than one user {email} at issuer {iss}; give the subject"
                            )));
                        }
                    }
                }
            };
            // Without --team-id the team stays; --team-id "" removes it.
            let team_id = team_id.map(|t| Some(t.trim().to_owned()).filter(|t| !t.is_empty()));
            let now = chrono::Utc::now().timestamp();
            let found = store::users::set_tier(&db, &email, tier.as_str(), team_id, now)
                .await
                .map_err(|e| CliError::Admin(e.to_string()))?;
            if !found {
                return Err(CliError::Admin(format!("no user with email {shown}")));
            }
            if let Some(rules) = monthly_rules {
                let allowance = match rules {
                    MonthlyRules::Unlimited => None,
                    MonthlyRules::Limit(n) => Some(n),
                };
                store::users::set_monthly_rule_allowance(&db, &email, allowance, now)
                    .await
                    .map_err(|e| CliError::Admin(e.to_string()))?;
            }
            println!("{shown} is now on the {tier} tier");
            Ok(())
        }
    }
}

/// Prints the selected audit events as JSON lines, oldest first, for operators (and `jq`).
async fn print_audit_events(
    config: &Config,
    user: Option<String>,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(), CliError> {
    use std::io::Write;
    let db = store::connect(config.database_url.as_deref()).await?;
    let email = user
        .map(|user| Email::parse(&user).map_err(|e| CliError::Admin(e.to_string())))
        .transpose()?;
    let admin = |e: audit::AuditError| CliError::Admin(e.to_string());
    let mut export = Export::new(
        db,
        email.as_ref().map(Email::as_str),
        since.map(|at| at.timestamp()),
    )
    .await
    .map_err(admin)?;
    let mut out = std::io::stdout().lock();
    loop {
        let batch = export.next_batch().await.map_err(admin)?;
        if batch.is_empty() {
            return Ok(());
        }
        for event in batch {
            writeln!(out, "{}", event_line(event))
                .map_err(|e| CliError::Admin(format!("cannot write: {e}")))?;
        }
    }
}

/// One event as a JSON object with the REST field names (and the user's id and email, which
/// the REST listing leaves out because they are the caller's own); absent values are null.
fn event_line(event: EventRow) -> serde_json::Value {
    let time = chrono::DateTime::from_timestamp(event.at, 0)
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    serde_json::json!({
        "id": event.id.to_string(),
        "time": time,
        "type": event.event_type,
        "userId": event.user_id,
        "email": event.email,
        "keyPrefix": event.key_prefix,
        "clientAddress": event.client_address,
        "userAgent": event.user_agent,
        "requestId": event.request_id,
        "detail": event.detail,
    })
}

/// Fetches every configured JWKS once: its usable keys, or one line saying why not. Fails when
/// any issuer fails, so it can gate a deployment.
async fn check_issuers(config: &Config) -> Result<(), CliError> {
    let Some(path) = &config.trusted_issuers else {
        return Err(CliError::Admin(
            "no trusted issuers are configured (--trusted-issuers)".to_owned(),
        ));
    };
    let configs = issuers::config::load(path).map_err(CliError::Admin)?;
    let fetcher = issuers::Fetcher::new(config.jwks_limits()).map_err(CliError::Admin)?;
    let trusted = issuers::TrustedIssuers::new(configs, fetcher, Arc::new(SystemClock));
    let mut failed = 0;
    for (iss, result) in trusted.check().await {
        match result {
            Ok(set) => {
                let kids: Vec<&str> = set.keys.keys().map(String::as_str).collect();
                println!(
                    "{iss}: ok, {} RS256 key(s): {}{}",
                    kids.len(),
                    kids.join(", "),
                    match set.skipped {
                        0 => String::new(),
                        n => format!(" ({n} unusable key(s) skipped)"),
                    }
                );
            }
            Err(err) => {
                failed += 1;
                println!("{iss}: error: {err}");
            }
        }
    }
    if failed > 0 {
        return Err(CliError::Admin(format!(
            "{failed} issuer(s) failed the check"
        )));
    }
    Ok(())
}

/// Whether the instance at `addr` reports SERVING over `grpc.health.v1`, within 3 s.
async fn health(mut addr: SocketAddr) -> Result<(), CliError> {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    let check = async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
            .map_err(|status| format!("health check failed: {}", status.message()))?;
        Ok::<_, String>(response.into_inner().status())
    };
    match tokio::time::timeout(Duration::from_secs(3), check).await {
        Ok(Ok(ServingStatus::Serving)) => {
            println!("SERVING");
            Ok(())
        }
        Ok(Ok(status)) => Err(CliError::Admin(format!(
            "not serving: {}",
            status.as_str_name()
        ))),
        Ok(Err(err)) => Err(CliError::Admin(err)),
        Err(_) => Err(CliError::Admin(format!("{addr} did not answer within 3 s"))),
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}
