use std::process::ExitCode;

use clap::Parser;
use cloudsigma_auth::{
    cli,
    config::{Cli, Command},
    telemetry,
};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
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
