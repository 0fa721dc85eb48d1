//! hookfence: a pingora-based reverse proxy that forwards only webhook
//! deliveries whose origin it has verified.
//!
//! Module map (see DESIGN.md): [`config`] parses and validates the TOML;
//! [`routing`] matches paths; [`verify`] is the pure verification library;
//! [`proxy`] is the pingora data path; [`outcome`] is the one result enum;
//! [`telemetry`] sets up tracing and the audit record; [`server`] assembles
//! the pingora server.

pub mod admin;
pub mod admission;
pub mod catalogue;
pub mod config;
pub mod deadline;
pub mod dedup;
pub mod filter;
pub mod header_lines;
pub mod http1;
pub mod outcome;
pub mod proxy;
pub mod redis_connection;
pub mod reload;
pub mod routing;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod upstream;
pub mod verify;
