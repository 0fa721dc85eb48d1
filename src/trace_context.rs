//! W3C Trace Context across the hookfence hop: the sender's `traceparent`
//! is continued (same trace id, hookfence's own span id as the parent the
//! backend sees, the sender's flags), `tracestate` passes with it; when no
//! valid `traceparent` came, a trace is started. The trace id goes into the
//! audit record and `/deliveries`, so one delivery can be followed from
//! hookfence's log into the backend's.
//!
//! A started trace is marked sampled (`01`): hookfence records every
//! delivery (its audit record), so the trace is recorded at least there.
//! A delivery a shadow route forwards unverified gets a trace started here
//! instead of the sender's: who sent it is unknown, and the backend should
//! not take its trace state (or its sampling decision) on trust.
//! A `traceparent` that does not parse (or comes twice) is not repaired:
//! a new trace starts and the sender's `tracestate`, which belonged to the
//! broken one, is dropped (W3C Trace Context §3.2, §4.3).

use crate::header_lines::HeaderLines;
use crate::lower_hex;

/// The version hookfence writes.
const VERSION: &[u8] = b"00";
/// `00-<32 hex>-<16 hex>-<2 hex>`.
const TRACEPARENT_LEN: usize = 55;
/// Flags of a trace hookfence starts: sampled.
const STARTED_FLAGS: u8 = 0x01;
/// The flags version 00 defines (sampled); a later version's other bits
/// are not forwarded under 00.
const KNOWN_FLAGS: u8 = 0x01;

/// A trace id, kept as bytes: written out (32 lowercase hex digits) only
/// where it is shown, not for every delivery's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceId([u8; 16]);

impl std::fmt::Display for TraceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = [0u8; 32];
        lower_hex::put(&self.0, &mut text);
        // Hex digits are ASCII.
        f.write_str(std::str::from_utf8(&text).unwrap_or_default())
    }
}

impl serde::Serialize for TraceId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The trace a delivery belongs to, and hookfence's span in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 16],
    /// hookfence's span: the parent the backend sees.
    span_id: [u8; 8],
    flags: u8,
    /// No valid `traceparent` came: this trace started here.
    started: bool,
}

impl TraceContext {
    /// Continues the sender's trace, or starts one.
    pub fn of(headers: HeaderLines<'_>) -> Self {
        let continued = match headers.single("traceparent") {
            Ok(Some(value)) => parse(value),
            Ok(None) | Err(_) => None,
        };
        match continued {
            Some((trace_id, flags)) => Self {
                trace_id,
                span_id: new_span_id(),
                flags: flags & KNOWN_FLAGS,
                started: false,
            },
            None => Self::start(),
        }
    }

    /// A new trace, started here.
    pub fn start() -> Self {
        Self {
            trace_id: new_trace_id(),
            span_id: new_span_id(),
            flags: STARTED_FLAGS,
            started: true,
        }
    }

    /// The trace id (written as 32 lowercase hex digits).
    pub fn trace_id(&self) -> TraceId {
        TraceId(self.trace_id)
    }

    /// Whether the trace started here (the sender's `tracestate`, if any,
    /// is then not forwarded).
    pub fn started(&self) -> bool {
        self.started
    }

    /// The `traceparent` value to forward.
    pub fn traceparent(&self) -> [u8; TRACEPARENT_LEN] {
        let mut value = [b'-'; TRACEPARENT_LEN];
        value[..2].copy_from_slice(VERSION);
        lower_hex::put(&self.trace_id, &mut value[3..35]);
        lower_hex::put(&self.span_id, &mut value[36..52]);
        lower_hex::put(&[self.flags], &mut value[53..55]);
        value
    }
}

/// The trace id and flags of a valid `traceparent` value (version 00, or
/// a later version read as 00 as §4.3 says; never `ff`).
fn parse(value: &[u8]) -> Option<([u8; 16], u8)> {
    let value = value.trim_ascii();
    let head = value.get(..TRACEPARENT_LEN)?;
    let version = &head[..2];
    if !is_lower_hex(version) || version == b"ff" {
        return None;
    }
    // Version 00 is exactly 55 characters; a later one may add fields after
    // a dash.
    if version == VERSION && value.len() != TRACEPARENT_LEN {
        return None;
    }
    if value.len() > TRACEPARENT_LEN && value[TRACEPARENT_LEN] != b'-' {
        return None;
    }
    if head[2] != b'-' || head[35] != b'-' || head[52] != b'-' {
        return None;
    }
    let (trace, parent, flags) = (&head[3..35], &head[36..52], &head[53..55]);
    if !(is_lower_hex(trace) && is_lower_hex(parent) && is_lower_hex(flags)) {
        return None;
    }
    let mut trace_id = [0u8; 16];
    let mut parent_id = [0u8; 8];
    let mut flag_byte = [0u8; 1];
    hex::decode_to_slice(trace, &mut trace_id).ok()?;
    hex::decode_to_slice(parent, &mut parent_id).ok()?;
    hex::decode_to_slice(flags, &mut flag_byte).ok()?;
    if trace_id == [0; 16] || parent_id == [0; 8] {
        return None;
    }
    Some((trace_id, flag_byte[0]))
}

/// Only lowercase hex is valid in `traceparent`.
fn is_lower_hex(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn new_trace_id() -> [u8; 16] {
    loop {
        let id = fastrand::u128(..).to_be_bytes();
        if id != [0; 16] {
            return id;
        }
    }
}

fn new_span_id() -> [u8; 8] {
    loop {
        let id = fastrand::u64(..).to_be_bytes();
        if id != [0; 8] {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specification_example_parses() {
        let (trace, flags) = parse(VALID.as_bytes()).expect("valid");
        assert_eq!(hex::encode(trace), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(flags, 1);
    }

    #[test]
    fn a_later_version_is_read_as_version_00() {
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-adds";
        assert!(parse(later.as_bytes()).is_some());
        assert!(parse(b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x").is_none());
    }

    #[test]
    fn invalid_values_are_refused() {
        for invalid in [
            "",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        ] {
            assert!(parse(invalid.as_bytes()).is_none(), "{invalid}");
        }
    }
}
