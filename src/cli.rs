//! The subcommands: serve (default), migrate, and the admin commands.

use crate::{
    config::{Command, Config},
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
        Command::SigningKeys(_) | Command::Users(_) => Err(CliError::Admin(
            "this command is not available yet".to_owned(),
        )),
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
