//! How a signature header is laid out: one signature (`sha256=<hex>`), a list
//! of versioned signatures (`v1,<b64> v1,<b64>`), or key=value pairs that
//! also carry the timestamp (`t=<ts>,v1=<hex>,v1=<hex>`).
//!
//! Parsing never allocates and never decides validity on its own: it yields
//! the candidate signatures; the engine decodes and compares them.

/// At most this many signatures are considered in one header. Senders list
/// one per active secret (two during a rotation); more is an attack on CPU.
pub const MAX_CANDIDATES: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderFormat {
    /// The whole value, after `prefix`, is one signature.
    Single { prefix: String },
    /// Items separated by `separator`, each `prefix<signature>`; items with
    /// another prefix (another scheme version) are skipped.
    List { separator: char, prefix: String },
    /// `key=value` pairs separated by `separator`: every `signature_key` value
    /// is a candidate, `timestamp_key` names the signed timestamp.
    Pairs {
        separator: char,
        signature_key: String,
        timestamp_key: Option<String>,
    },
}

/// What a header value holds, borrowed from it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed<'v> {
    candidates: [&'v [u8]; MAX_CANDIDATES],
    len: usize,
    /// The timestamp carried inside the header (`Pairs` with a timestamp key).
    pub timestamp: Option<&'v [u8]>,
}

impl<'v> Parsed<'v> {
    pub fn candidates(&self) -> &[&'v [u8]] {
        &self.candidates[..self.len]
    }

    fn push(&mut self, candidate: &'v [u8]) -> Result<(), Malformed> {
        let slot = self.candidates.get_mut(self.len).ok_or(Malformed)?;
        *slot = candidate;
        self.len += 1;
        Ok(())
    }
}

/// The header does not have the scheme's layout.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

impl HeaderFormat {
    /// Splits a header value into candidate signatures (and timestamp). A
    /// value with no candidate at all, more than [`MAX_CANDIDATES`], or a
    /// repeated timestamp is malformed.
    pub fn parse<'v>(&self, value: &'v [u8]) -> Result<Parsed<'v>, Malformed> {
        let mut parsed = Parsed::default();
        match self {
            HeaderFormat::Single { prefix } => {
                // Whitespace around the value is not part of it (RFC 9110
                // §5.5); inside it, after the prefix (`sha256= ab`), it is
                // a malformed signature: no sender writes one, and a
                // backend that checks again would refuse it.
                let value = value.trim_ascii();
                let signature = value.strip_prefix(prefix.as_bytes()).ok_or(Malformed)?;
                if signature.first().is_some_and(u8::is_ascii_whitespace) {
                    return Err(Malformed);
                }
                parsed.push(signature)?;
            }
            HeaderFormat::List { separator, prefix } => {
                for item in split(value, *separator) {
                    if let Some(signature) = item.strip_prefix(prefix.as_bytes()) {
                        parsed.push(signature)?;
                    }
                }
            }
            HeaderFormat::Pairs {
                separator,
                signature_key,
                timestamp_key,
            } => {
                for item in split(value, *separator) {
                    let Some(eq) = memchr::memchr(b'=', item) else {
                        return Err(Malformed);
                    };
                    let (key, value) = (item[..eq].trim_ascii(), item[eq + 1..].trim_ascii());
                    if key == signature_key.as_bytes() {
                        parsed.push(value)?;
                    } else if timestamp_key.as_deref().is_some_and(|t| key == t.as_bytes())
                        && parsed.timestamp.replace(value).is_some()
                    {
                        return Err(Malformed);
                    }
                }
            }
        }
        if parsed.len == 0 {
            return Err(Malformed);
        }
        Ok(parsed)
    }

    /// How a sender would write one signature in this format (for `sign`).
    pub fn write(&self, encoded: &str, timestamp: Option<&str>) -> String {
        match self {
            HeaderFormat::Single { prefix } | HeaderFormat::List { prefix, .. } => format!("{prefix}{encoded}"),
            HeaderFormat::Pairs {
                separator,
                signature_key,
                timestamp_key,
            } => match (timestamp_key, timestamp) {
                (Some(key), Some(ts)) => format!("{key}={ts}{separator}{signature_key}={encoded}"),
                _ => format!("{signature_key}={encoded}"),
            },
        }
    }

    /// Whether the timestamp lives inside this header.
    pub fn carries_timestamp(&self) -> bool {
        matches!(
            self,
            HeaderFormat::Pairs {
                timestamp_key: Some(_),
                ..
            }
        )
    }
}

/// Non-empty, trimmed items of a separated list. The separator is found
/// with memchr: a byte-by-byte split was an eighth of a 1 KiB Stripe
/// verification (perf, `benches/verify.rs`).
fn split(value: &[u8], separator: char) -> impl Iterator<Item = &[u8]> {
    let mut buf = [0; 4];
    let separator = separator.encode_utf8(&mut buf).as_bytes()[0];
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let remaining = rest?;
        Some(match memchr::memchr(separator, remaining) {
            Some(at) => {
                rest = Some(&remaining[at + 1..]);
                &remaining[..at]
            }
            None => {
                rest = None;
                remaining
            }
        })
    })
    .map(<[u8]>::trim_ascii)
    .filter(|item| !item.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(format: &HeaderFormat, value: &str) -> Result<Vec<String>, Malformed> {
        Ok(format
            .parse(value.as_bytes())?
            .candidates()
            .iter()
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect())
    }

    #[test]
    fn single() {
        let f = HeaderFormat::Single {
            prefix: "sha256=".into(),
        };
        assert_eq!(candidates(&f, "sha256=ab"), Ok(vec!["ab".into()]));
        assert_eq!(candidates(&f, "sha1=ab"), Err(Malformed));
        assert_eq!(candidates(&f, "SHA256=ab"), Err(Malformed));
        assert_eq!(
            candidates(&f, " sha256=ab "),
            Ok(vec!["ab".into()]),
            "whitespace around the value"
        );
        assert_eq!(candidates(&f, "sha256= ab"), Err(Malformed), "whitespace inside it");
        assert_eq!(candidates(&f, "sha256=\tab"), Err(Malformed));
    }

    #[test]
    fn list_skips_other_versions() {
        let f = HeaderFormat::List {
            separator: ' ',
            prefix: "v1,".into(),
        };
        assert_eq!(
            candidates(&f, "v1,AAA=  v2,BBB= v1,CCC="),
            Ok(vec!["AAA=".into(), "CCC=".into()])
        );
        assert_eq!(candidates(&f, "v2,BBB="), Err(Malformed));
        assert_eq!(candidates(&f, ""), Err(Malformed));
        let many = ["v1,A"; MAX_CANDIDATES + 1].join(" ");
        assert_eq!(candidates(&f, &many), Err(Malformed));
    }

    #[test]
    fn pairs_carry_the_timestamp() {
        let f = HeaderFormat::Pairs {
            separator: ',',
            signature_key: "v1".into(),
            timestamp_key: Some("t".into()),
        };
        let parsed = f.parse(b"t=123,v1=aa,v0=bb,v1=cc").unwrap();
        assert_eq!(parsed.candidates(), [b"aa", b"cc"]);
        assert_eq!(parsed.timestamp, Some(&b"123"[..]));
        assert_eq!(f.parse(b"t=1,t=2,v1=aa"), Err(Malformed), "two timestamps");
        assert_eq!(f.parse(b"t=1"), Err(Malformed), "no signature");
        assert_eq!(f.parse(b"t=1,garbage,v1=aa"), Err(Malformed));
        assert_eq!(f.write("aa", Some("123")), "t=123,v1=aa");
    }
}
