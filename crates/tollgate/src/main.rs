//! `tollgate`: the SIP edge's command line.
//!
//! `tollgate serve` reads the configuration file and the command-line
//! overrides, validates them and runs the edge. In this build the SIP
//! transports and the management API are not wired in yet, so `serve`
//! validates and prints its configuration (`--print-config`) and otherwise
//! says plainly that there is no server to run.

mod config;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::{Config, parse_listener};

/// A SIP edge for VoIP carriers.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the SIP edge and the management API.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Configuration file (TOML); every key is optional.
    #[arg(long, env = "TOLLGATE_CONFIG")]
    config: Option<PathBuf>,
    /// SIP listener, repeatable: udp:HOST:PORT, tcp:HOST:PORT or tls:HOST:PORT.
    #[arg(long = "sip", value_name = "URI")]
    sip: Vec<String>,
    /// Management API address.
    #[arg(long, value_name = "ADDR", env = "TOLLGATE_API")]
    api: Option<String>,
    /// Database URL (sqlite://FILE or postgres://…).
    #[arg(long, value_name = "URL", env = "TOLLGATE_DB")]
    db: Option<String>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

/// The configuration file overlaid with the command-line values.
fn effective_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Config::from_toml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => Config::default(),
    };
    if !args.sip.is_empty() {
        for (i, uri) in args.sip.iter().enumerate() {
            parse_listener(&format!("--sip[{i}]"), uri)?;
        }
        config.sip.listen = args.sip.clone();
    }
    if let Some(api) = &args.api {
        config.api.listen = api.clone();
    }
    if let Some(db) = &args.db {
        config.store.url = db.clone();
    }
    config.validate()?;
    Ok(config)
}

fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = effective_config(args)?;
    if args.print_config {
        let mut effective = config.clone();
        effective.sip.listen = config
            .listeners()?
            .iter()
            .map(ToString::to_string)
            .collect();
        print!("{}", effective.to_toml());
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("tollgate: configuration is valid:");
    for listener in config.listeners()? {
        eprintln!("  SIP {listener}");
    }
    eprintln!("  API {}  store {}", config.api.listen, config.store.url);
    eprintln!(
        "tollgate: this build has no SIP transport or API yet, so there is nothing to serve; \
         `tollgate serve --print-config` shows the configuration"
    );
    Ok(ExitCode::from(2))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Serve(args) => serve(args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("tollgate: {e:#}");
        ExitCode::FAILURE
    })
}
