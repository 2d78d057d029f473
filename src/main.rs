use std::process::ExitCode;

use clap::{Parser, error::ErrorKind};
use cloudsigma_auth::{
    cli,
    config::{Cli, Command},
    telemetry,
};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err)
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            err.exit()
        }
        Err(err) if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprint!("{err}");
            return ExitCode::FAILURE;
        }
        Err(err) => {
            // Bad configuration is one line, like every other start-up failure; clap's usage
            // text after it would bury the reason.
            let text = err.to_string();
            let reason = text.lines().next().unwrap_or("invalid arguments");
            let reason = reason.strip_prefix("error: ").unwrap_or(reason);
            eprintln!("error: {reason}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init(cli.config.log_format);
    let command = cli.command.unwrap_or(Command::Serve);
    match cli::run(cli.config, command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
