//! What hookfence tells its operators: the audit record (one per delivery),
//! Prometheus metrics, the recent-deliveries ring behind `/deliveries`, and
//! the log output. Business rules live elsewhere; this module only records.

pub mod audit;
pub mod logging;
pub mod metrics;
pub mod queue_metrics;
pub mod recent;
pub mod timeline;

pub use audit::AuditRecord;
pub use logging::LogFormat;
