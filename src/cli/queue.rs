//! `hookfence queue`: the delivery queue through the admin API — list,
//! show, replay, drop. The admin address and token come from the flags, or
//! from the config file hookfence runs on (`--config`), or the defaults
//! (`http://127.0.0.1:9090`, `$HOOKFENCE_ADMIN_TOKEN`).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use hookfence::config::{resolve_secret, DEFAULT_ADMIN_LISTEN};

/// The environment variable a token is read from when no config is given.
pub const TOKEN_ENV: &str = "HOOKFENCE_ADMIN_TOKEN";

#[derive(Args)]
pub struct QueueArgs {
    /// The admin API, e.g. http://127.0.0.1:9090 (default: the config's
    /// admin_listen, else 127.0.0.1:9090).
    #[arg(long)]
    admin: Option<String>,
    /// The config hookfence runs on: its admin_listen and admin_token.
    #[arg(short, long)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Every queue (no route), or a route's pending (or dead) deliveries.
    List {
        route: Option<String>,
        /// List dead letters instead of pending deliveries.
        #[arg(long)]
        dead: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// One delivery: its attempts and its request's head.
    Show { route: String, id: String },
    /// Replays one delivery, or with no id every dead letter of the route.
    Replay { route: String, id: Option<String> },
    /// Discards a dead letter (or a delivery waiting, not one being attempted).
    Drop { route: String, id: String },
}

/// Runs the action; the admin API's answer, pretty-printed, or why not.
pub fn run(args: &QueueArgs) -> Result<String, String> {
    let (base, token) = endpoint(args)?;
    let (method, path) = match &args.action {
        Action::List { route: None, .. } => ("GET", "/queue".to_owned()),
        Action::List {
            route: Some(route),
            dead,
            limit,
        } => (
            "GET",
            format!(
                "/queue/{}?state={}&limit={limit}",
                segment(route),
                if *dead { "dead" } else { "pending" }
            ),
        ),
        Action::Show { route, id } => ("GET", format!("/queue/{}/{}", segment(route), segment(id))),
        Action::Replay { route, id: None } => ("POST", format!("/queue/{}/replay", segment(route))),
        Action::Replay { route, id: Some(id) } => ("POST", format!("/queue/{}/{}/replay", segment(route), segment(id))),
        Action::Drop { route, id } => ("DELETE", format!("/queue/{}/{}", segment(route), segment(id))),
    };
    let mut headers = Vec::new();
    if let Some(token) = token {
        headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
    }
    let answer = super::send::request(method, &format!("{base}{path}"), &headers, b"")?;
    let (status, body) = super::send::status_and_body(&answer)?;
    let pretty = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_owned());
    if (200..300).contains(&status) {
        Ok(format!("{pretty}\n"))
    } else {
        Err(format!("the admin API answered {status}: {pretty}"))
    }
}

/// A route name or id as one path segment: both are made of URL-safe
/// characters when valid; anything else is percent-encoded.
fn segment(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The admin API's base URL and the token to send.
fn endpoint(args: &QueueArgs) -> Result<(String, Option<String>), String> {
    let server = match &args.config {
        Some(path) => Some(admin_settings(path)?),
        None => None,
    };
    let base = match (&args.admin, &server) {
        (Some(admin), _) => admin.trim_end_matches('/').to_owned(),
        (None, Some((Some(address), _))) if address == "off" => {
            return Err("the config turns the admin API off (admin_listen = \"off\")".into())
        }
        (None, Some((Some(address), _))) => format!("http://{}", loopback_for(address)),
        (None, _) => format!("http://{DEFAULT_ADMIN_LISTEN}"),
    };
    let token = match server.and_then(|(_, token)| token) {
        Some(token) => Some(token),
        None => std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()),
    };
    Ok((base, token))
}

/// `server.admin_listen` and the resolved `server.admin_token` of a config
/// file. Only these are read: the rest (route secrets, say) need not be
/// resolvable where the command runs.
fn admin_settings(path: &Path) -> Result<(Option<String>, Option<String>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let table: toml::Table = text.parse().map_err(|e| format!("{}: {e}", path.display()))?;
    let server = table.get("server").and_then(toml::Value::as_table);
    let text_of = |key: &str| server.and_then(|s| s.get(key)).and_then(toml::Value::as_str);
    let token = match text_of("admin_token") {
        Some(reference) => {
            let base = path.parent().unwrap_or(Path::new("."));
            let secret = resolve_secret(reference, &|name| std::env::var(name).ok(), base)
                .map_err(|e| format!("{}: server.admin_token: {e}", path.display()))?;
            Some(String::from_utf8_lossy(secret.expose()).into_owned())
        }
        None => None,
    };
    Ok((text_of("admin_listen").map(str::to_owned), token))
}

/// A listener on every address is reached on loopback.
fn loopback_for(address: &str) -> String {
    match address.parse::<std::net::SocketAddr>() {
        Ok(mut addr) if addr.ip().is_unspecified() => {
            addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
            addr.to_string()
        }
        _ => address.to_owned(),
    }
}
