//! The upstream client: pooled connections ([`pool`]), an owned request
//! that can be stored and sent again ([`request`]), and one exchange —
//! the request sent, the final answer's head read ([`exchange`]) — over
//! TCP or TLS ([`tls`]). Direct
//! forwarding and the delivery queue's workers share it; it knows nothing
//! of routes' verification or of the client that sent a delivery.

pub mod exchange;
pub mod pool;
pub mod request;
pub mod tls;

pub use exchange::{send, FailureKind, ForwardError, Response, ResponseParts, BODY_BUFFER, UPSTREAM_IDLE};
pub use pool::UpstreamPool;
pub use request::{put_header, Corrupt, Request};
