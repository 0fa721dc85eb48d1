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
    /// RFC 3339, e.g. `2019-11-16T10:11:12.123Z` (Twitch) or with an
    /// offset, `2020-01-01T00:00:00-07:00` (Box).
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
            TimestampFormat::Rfc3339 => parse_rfc3339(text),
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

/// RFC 3339 in seconds since the epoch. humantime reads UTC (`Z`) only: a
/// numeric offset is read here and applied to the local time before it.
fn parse_rfc3339(text: &str) -> Option<i64> {
    let split = text.len().checked_sub(6).filter(|&i| text.is_char_boundary(i));
    let Some((local, [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2])) =
        split.map(|i| (&text[..i], &text.as_bytes()[i..]))
    else {
        return seconds(humantime::parse_rfc3339(text).ok()?);
    };
    let digits = [*h1, *h2, *m1, *m2];
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let [h1, h2, m1, m2] = digits.map(|d| i64::from(d - b'0'));
    let (hours, minutes) = (h1 * 10 + h2, m1 * 10 + m2);
    if hours > 23 || minutes > 59 {
        return None;
    }
    let offset = (hours * 3600 + minutes * 60) * if *sign == b'-' { -1 } else { 1 };
    // The local time with `Z` instead, on the stack (a timestamp is short).
    let mut buffer = [0u8; 40];
    let utc = buffer.get_mut(..=local.len())?;
    utc[..local.len()].copy_from_slice(local.as_bytes());
    utc[local.len()] = b'Z';
    let local_secs = seconds(humantime::parse_rfc3339(std::str::from_utf8(utc).ok()?).ok()?)?;
    Some(local_secs - offset)
}

fn seconds(at: SystemTime) -> Option<i64> {
    at.duration_since(UNIX_EPOCH).ok()?.as_secs().try_into().ok()
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
    /// Whether `timestamp` (seconds since the epoch) is within the window
    /// around `now`; if not, by how much it is off.
    pub fn admits(&self, timestamp: i64, now: SystemTime) -> Result<(), Staleness> {
        let Some(tolerance) = self.tolerance else {
            return Ok(());
        };
        let now = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        if now.abs_diff(timestamp) <= tolerance.as_secs() {
            Ok(())
        } else {
            Err(Staleness {
                age_secs: now.saturating_sub(timestamp),
                window_secs: tolerance.as_secs(),
            })
        }
    }
}

/// How far a signed timestamp was outside its replay window, for the
/// operator (the sender is only told "stale timestamp").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Staleness {
    /// Seconds from the timestamp to now; negative for one in the future.
    pub age_secs: i64,
    pub window_secs: u64,
}

impl std::fmt::Display for Staleness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let window = self.window_secs;
        if self.age_secs >= 0 {
            write!(f, "timestamp {} s old, window {window} s", self.age_secs)
        } else {
            write!(
                f,
                "timestamp {} s in the future, window {window} s",
                self.age_secs.unsigned_abs()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_offsets_are_applied() {
        let parse = |text: &str| TimestampFormat::Rfc3339.parse(text.as_bytes());
        assert_eq!(parse("2020-01-01T07:00:00Z"), Some(1_577_862_000));
        assert_eq!(parse("2020-01-01T00:00:00-07:00"), Some(1_577_862_000));
        assert_eq!(parse("2020-01-01T09:30:00+02:30"), Some(1_577_862_000));
        assert_eq!(parse("2020-01-01T07:00:00.250+00:00"), Some(1_577_862_000));
        for bad in [
            "2020-01-01T00:00:00-24:00",
            "2020-01-01T00:00:00-0a:00",
            "2020-01-01T00:00:00",
            "-07:00",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

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
        assert!(w.admits(1_000_000, now).is_ok());
        assert!(w.admits(1_000_000 - 300, now).is_ok());
        assert!(w.admits(1_000_000 + 300, now).is_ok());
        let old = w.admits(1_000_000 - 301, now).unwrap_err();
        assert_eq!(old.to_string(), "timestamp 301 s old, window 300 s");
        let ahead = w.admits(1_000_000 + 412, now).unwrap_err();
        assert_eq!(ahead.to_string(), "timestamp 412 s in the future, window 300 s");
        assert!(w.admits(0, now).is_err());
        w.tolerance = None;
        assert!(w.admits(0, now).is_ok(), "no window: only the signature counts");
    }
}
