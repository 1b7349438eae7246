//! `casebook-server`: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CASEBOOK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("a TLS crypto provider was already installed"))?;
    let cli = casebook_server::cli::Cli::parse();
    match casebook_server::cli::run(cli).await {
        Ok(code) => Ok(code),
        // One line an operator (or a supervisor's log) reads at a glance.
        Err(e) => {
            eprintln!("casebook-server: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
