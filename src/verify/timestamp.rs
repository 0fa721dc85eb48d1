//! Signed timestamps and replay windows: where a signed timestamp lives, how it is written, and how
//! far from now it may be.
//!
//! A timestamp is only worth checking when the signature covers it: every
//! source here is either part of the signed template or inside the signed
//! body, and the config refuses custom schemes that would check an unsigned one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::HeaderName;
use serde::Deserialize;

use super::json_pointer::Pointer;

/// Where the timestamp is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampSource {
    Header(HeaderName),
    /// Inside the signature header (`t=` in Stripe's, `ts=` in Paddle's).
    SignatureHeader,
    /// A JSON pointer into the (signed) body, e.g. Linear's `/webhookTimestamp`.
    BodyJson(Pointer),
}

/// How the timestamp is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampFormat {
    UnixSeconds,
    UnixMillis,
    /// RFC 3339 in UTC, e.g. `2019-11-16T10:11:12.123Z` (Twitch).
    Rfc3339,
}

impl TimestampFormat {
    /// Seconds since the epoch (sub-second parts are dropped), or `None` if
    /// the text is not a timestamp of this format.
    pub fn parse(self, text: &[u8]) -> Option<i64> {
        let text = std::str::from_utf8(text).ok()?.trim();
        let all_digits = !text.is_empty() && text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit());
        match self {
            TimestampFormat::UnixSeconds => all_digits.then(|| text.parse().ok()).flatten(),
            TimestampFormat::UnixMillis => all_digits
                .then(|| text.parse::<i64>().ok().map(|ms| ms / 1000))
                .flatten(),
            TimestampFormat::Rfc3339 => {
                let at = humantime::parse_rfc3339(text).ok()?;
                Some(at.duration_since(UNIX_EPOCH).ok()?.as_secs().try_into().ok()?)
            }
        }
    }

    /// How `at` is written in this format (for `sign`).
    pub fn format(self, at: SystemTime) -> String {
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        match self {
            TimestampFormat::UnixSeconds => since.as_secs().to_string(),
            TimestampFormat::UnixMillis => since.as_millis().to_string(),
            TimestampFormat::Rfc3339 => humantime::format_rfc3339_millis(at).to_string(),
        }
    }
}

/// A scheme's signed timestamp and the replay window applied to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTimestamp {
    pub source: TimestampSource,
    pub format: TimestampFormat,
    /// How far the timestamp may be from now, in the past *or* the future (a
    /// future timestamp is a clock problem or a pre-signed replay). `None`:
    /// the timestamp is signed but its age is not checked (Discord documents
    /// no window; a route can set one).
    pub tolerance: Option<Duration>,
}

impl SignedTimestamp {
    /// Whether `timestamp` (seconds since the epoch) is within the window around `now`.
    pub fn admits(&self, timestamp: i64, now: SystemTime) -> bool {
        let Some(tolerance) = self.tolerance else {
            return true;
        };
        let now = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(_) => return false,
        };
        now.abs_diff(timestamp) <= tolerance.as_secs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(TimestampFormat::UnixSeconds.parse(b"1700000000"), Some(1_700_000_000));
        assert_eq!(TimestampFormat::UnixSeconds.parse(b" 17 "), Some(17));
        for bad in [&b""[..], b"-5", b"+5", b"1e9", b"12a", b"99999999999999999999"] {
            assert_eq!(TimestampFormat::UnixSeconds.parse(bad), None, "{bad:?}");
        }
        assert_eq!(TimestampFormat::UnixMillis.parse(b"1700000000999"), Some(1_700_000_000));
        assert_eq!(
            TimestampFormat::Rfc3339.parse(b"2023-11-14T22:13:20.123456789Z"),
            Some(1_700_000_000)
        );
        assert_eq!(TimestampFormat::Rfc3339.parse(b"yesterday"), None);
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        for f in [
            TimestampFormat::UnixSeconds,
            TimestampFormat::UnixMillis,
            TimestampFormat::Rfc3339,
        ] {
            assert_eq!(f.parse(f.format(at).as_bytes()), Some(1_700_000_000), "{f:?}");
        }
    }

    #[test]
    fn window_is_symmetric() {
        let mut w = SignedTimestamp {
            source: TimestampSource::SignatureHeader,
            format: TimestampFormat::UnixSeconds,
            tolerance: Some(Duration::from_secs(300)),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(w.admits(1_000_000, now));
        assert!(w.admits(1_000_000 - 300, now));
        assert!(w.admits(1_000_000 + 300, now));
        assert!(!w.admits(1_000_000 - 301, now));
        assert!(!w.admits(1_000_000 + 301, now));
        assert!(!w.admits(0, now));
        w.tolerance = None;
        assert!(w.admits(0, now), "no window: only the signature counts");
    }
}
