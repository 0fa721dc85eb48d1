//! HTTP/1.1 as hookfence speaks it on both sides: request and response heads
//! parsed with `httparse` into where their parts lie ([`head`]), how a
//! message's body is delimited (RFC 9112 §6.3), the chunked transfer coding
//! ([`chunked`]), and the answers hookfence writes itself ([`answer`]).
//!
//! Pure functions over bytes: no sockets, no timeouts, no policy. Wherever two
//! HTTP parsers could read one message two ways (the root of request
//! smuggling), the message is refused instead of guessed at.
//!
//! hookfence parses HTTP/1 itself rather than through pingora's sessions:
//! those read a body only through their own 64 KiB buffer, copying it out
//! chunk by chunk (so every body was held twice), and build an owned header
//! map per message. Here a body is read once, into one buffer sized from its
//! `Content-Length`, and verified and forwarded from there; header lines are
//! borrowed from the head as it arrived (`crate::header_lines`).

pub mod answer;
pub mod chunked;
pub mod framing;
pub mod head;

pub use head::{Framing, HeadError, RequestHead, ResponseHead, Version};
