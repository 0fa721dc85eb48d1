//! The `hookfence` command: `run` a proxy, `check` a config.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use hookfence::config::{Config, Keys, Verification};
use hookfence::telemetry::{self, LogFormat};

#[derive(Parser)]
#[command(version, about = "A reverse proxy that forwards only verified webhook deliveries")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve deliveries with the given config.
    Run {
        #[arg(short, long)]
        config: PathBuf,
        /// Log format (level from RUST_LOG, default info).
        #[arg(long, value_enum, default_value_t = Format::Human, env = "HOOKFENCE_LOG_FORMAT")]
        log_format: Format,
    },
    /// Validate a config (syntax, keys, secrets, routes) and print its routes.
    Check {
        #[arg(short, long)]
        config: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run { config, log_format } => {
            telemetry::init(match log_format {
                Format::Human => LogFormat::Human,
                Format::Json => LogFormat::Json,
            });
            match Config::load(&config) {
                Ok(config) => hookfence::server::run(config),
                Err(errors) => {
                    eprintln!("{errors}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Check { config } => match Config::load(&config) {
            Ok(config) => {
                print_routes(&config);
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::from(2)
            }
        },
    }
}

fn print_routes(config: &Config) {
    println!(
        "{}: ok, listening on {}",
        config.source.display(),
        config.server.listen.join(", ")
    );
    for route in config.routes.routes() {
        let methods: Vec<_> = route.methods.iter().map(|m| m.as_str()).collect();
        let verification = match &route.verification {
            Verification::Verified { verifier, keys } => {
                let provider = route.provider.map_or("custom", |p| p.name);
                let places: Vec<_> = verifier.schemes().iter().map(|s| s.location().to_string()).collect();
                let tenants = match keys {
                    Keys::Fixed(keys) => format!("{} key(s)", keys.len()),
                    Keys::PerTenant { param, tenants, .. } => format!("{} tenant(s) by {{{param}}}", tenants.len()),
                };
                format!("{provider} ({}; {tenants})", places.join(", "))
            }
            Verification::Unsigned => "UNSIGNED".to_owned(),
        };
        let upstream = &route.upstream;
        println!(
            "  {:<16} {:<8} {:<36} -> http://{}{}  verify: {verification}",
            route.name,
            methods.join(","),
            route.pattern.as_str(),
            upstream.address(),
            upstream.path.as_deref().unwrap_or("")
        );
    }
}
