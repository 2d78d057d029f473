//! The subcommands: serve (default), migrate, and the admin commands.

use crate::{
    auth::KeyRing,
    config::{Command, Config, MonthlyRules, SigningKeysCommand, UsersCommand},
    domain::email::Email,
    startup::{Application, Dependencies, StartupError},
    store,
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
            println!("new active signing key: {kid}");
            Ok(())
        }
        Command::Users(UsersCommand::SetTier {
            email,
            tier,
            team_id,
            monthly_rules,
        }) => {
            let email = Email::parse(&email).map_err(|e| CliError::Admin(e.to_string()))?;
            let db = store::connect(config.database_url.as_deref()).await?;
            // Without --team-id the team stays; --team-id "" removes it.
            let team_id = team_id.map(|t| Some(t.trim().to_owned()).filter(|t| !t.is_empty()));
            let now = chrono::Utc::now().timestamp();
            let found = store::users::set_tier(&db, email.as_str(), tier.as_str(), team_id, now)
                .await
                .map_err(|e| CliError::Admin(e.to_string()))?;
            if !found {
                return Err(CliError::Admin(format!("no user with email {email}")));
            }
            if let Some(rules) = monthly_rules {
                let allowance = match rules {
                    MonthlyRules::Unlimited => None,
                    MonthlyRules::Limit(n) => Some(n),
                };
                store::users::set_monthly_rule_allowance(&db, email.as_str(), allowance, now)
                    .await
                    .map_err(|e| CliError::Admin(e.to_string()))?;
            }
            println!("{email} is now on the {tier} tier");
            Ok(())
        }
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
