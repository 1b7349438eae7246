//! `casebook-server`: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = casebook_server::cli::Cli::parse();
    // A configuration that does not resolve is reported by `run` below, in text.
    let format = cli.resolve().map(|c| c.log_format).unwrap_or_default();
    casebook_server::observe::logs::init(format)?;
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("a TLS crypto provider was already installed"))?;
    match casebook_server::cli::run(cli).await {
        Ok(code) => Ok(code),
        // One line an operator (or a supervisor's log) reads at a glance.
        Err(e) => {
            eprintln!("casebook-server: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
