//! The `hookfence` command: `run` a proxy, `check` a config, list the
//! `providers`, `sign` a test delivery, and operate the delivery `queue`.

mod queue;
mod send;
mod sign;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use hookfence::catalogue;
use hookfence::config::{Config, ConfigErrors, Keys, Verification};
use hookfence::telemetry::{logging, LogFormat};
use hookfence::verify::presets::PRESETS;

#[derive(Parser)]
#[command(version, about = "A reverse proxy that forwards only verified webhook deliveries")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve deliveries with the given config (SIGHUP reloads it, SIGTERM drains and exits).
    Run {
        #[arg(short, long)]
        config: PathBuf,
        /// Log format; overrides `[log] format` (level: `[log] level`, or RUST_LOG).
        #[arg(long, value_enum, env = "HOOKFENCE_LOG_FORMAT")]
        log_format: Option<Format>,
    },
    /// Validate a config (syntax, keys, secrets, routes) and print its routes.
    Check {
        #[arg(short, long)]
        config: PathBuf,
    },
    /// List the provider presets and what each checks.
    Providers {
        /// Print docs/providers.md (a table and a route to copy per provider).
        #[arg(long)]
        markdown: bool,
    },
    /// Make a correctly signed test delivery: print its headers, a curl
    /// command, or send it.
    Sign(Box<sign::SignArgs>),
    /// The delivery queue through the admin API: list, show, replay, drop.
    Queue(queue::QueueArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

pub fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run { config, log_format } => run(&config, log_format),
        Command::Check { config } => match Config::load(&config) {
            Ok(config) => {
                let mut stderr = std::io::stderr().lock();
                for warning in &config.warnings {
                    let _ = writeln!(stderr, "warning: {warning}");
                }
                output(&routes(&config))
            }
            Err(errors) => refuse(&errors),
        },
        Command::Providers { markdown: true } => output(&catalogue::markdown()),
        Command::Providers { markdown: false } => output(&providers()),
        Command::Sign(args) => match sign::run(&args) {
            Ok(text) => output(&text),
            Err(message) => {
                let _ = writeln!(std::io::stderr().lock(), "hookfence sign: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Queue(args) => match queue::run(&args) {
            Ok(text) => output(&text),
            Err(message) => {
                let _ = writeln!(std::io::stderr().lock(), "hookfence queue: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(path: &std::path::Path, log_format: Option<Format>) -> ExitCode {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(errors) => return refuse(&errors),
    };
    let format = match log_format {
        Some(Format::Human) => LogFormat::Human,
        Some(Format::Json) => LogFormat::Json,
        None => config.log.format,
    };
    logging::init(format, &config.log.level);
    match hookfence::server::run(config) {
        Ok(never) => match never {},
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::from(1)
        }
    }
}

/// Writes to stdout. A closed pipe (`hookfence providers | head`) ends the
/// command quietly instead of panicking as `println!` would.
fn output(text: &str) -> ExitCode {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Reports config errors on stderr; exit status 2 means "config refused".
fn refuse(errors: &ConfigErrors) -> ExitCode {
    let _ = writeln!(std::io::stderr().lock(), "{errors}");
    ExitCode::from(2)
}

fn providers() -> String {
    let mut out = String::new();
    for preset in PRESETS {
        let d = catalogue::describe(preset);
        let plain = |s: &str| s.replace('`', "");
        let _ = writeln!(out, "{:<18} {}", preset.name, plain(&d.credential));
        let _ = writeln!(
            out,
            "{:<18} {}; signs {}; replay window {}",
            "",
            d.algorithm,
            plain(&d.signed),
            plain(&d.replay_window)
        );
    }
    out
}

fn routes(config: &Config) -> String {
    let server = &config.server;
    let mut listeners: Vec<String> = server.listen.clone();
    listeners.extend(
        server
            .tls
            .iter()
            .flat_map(|t| t.listen.iter().map(|a| format!("{a} (tls)"))),
    );
    let mut out = format!(
        "{}: ok, listening on {}; admin API on {}\n",
        config.source.display(),
        listeners.join(", "),
        server.admin_listen.as_deref().unwrap_or("(off)")
    );
    if config.uses_queue() {
        let store = match &config.queue.backend {
            hookfence::delivery::QueueBackend::Embedded { data_dir } => format!("embedded in {}", data_dir.display()),
            hookfence::delivery::QueueBackend::Redis(_) => "redis".to_owned(),
        };
        let _ = writeln!(out, "  delivery queue: {store}");
    }
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
        let dedup = if route.dedup.enabled { "dedup" } else { "no dedup" };
        let delivery = match (route.delivery.mode, &route.delivery.ordering_key) {
            (hookfence::delivery::Mode::Direct, _) => String::new(),
            (mode, None) => format!("; delivery {}", mode.as_str()),
            (mode, Some(key)) => format!("; delivery {} ordered by {key}", mode.as_str()),
        };
        let upstream = &route.upstream;
        let _ = writeln!(
            out,
            "  {:<16} {:<8} {:<36} -> http://{}{}  verify: {verification}; {dedup}{delivery}",
            route.name,
            methods.join(","),
            route.pattern.as_str(),
            upstream.address(),
            upstream.path.as_deref().unwrap_or("")
        );
    }
    out
}
