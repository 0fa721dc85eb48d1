//! hookfence: a pingora-based reverse proxy that forwards only webhook
//! deliveries whose origin it has verified.
//!
//! ARCHITECTURE.md maps the modules: [`config`] parses and validates the
//! TOML; [`routing`] matches paths; [`verify`] is the pure verification
//! library; [`http1`] reads and writes HTTP/1; [`upstream`] sends requests
//! to backends; [`proxy`] is the data path; [`dedup`] remembers delivery
//! ids; [`outcome`] is the one result enum; [`telemetry`] records;
//! [`admin`] serves operators; [`server`] assembles the pingora server and
//! [`shutdown`] stops it.

pub mod admin;
pub mod admission;
pub mod catalogue;
pub mod config;
pub mod deadline;
pub mod dedup;
pub mod delivery;
pub mod filter;
pub mod header_lines;
pub mod http1;
pub mod listener_certificate;
pub mod lower_hex;
pub mod outcome;
pub mod proxy;
pub mod redis_connection;
pub mod reload;
pub mod routing;
pub mod server;
pub mod shutdown;
pub mod state;
pub mod telemetry;
pub mod trace_context;
pub mod upstream;
pub mod verify;
