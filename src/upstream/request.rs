//! A request as it goes upstream, owned and storable: what direct
//! forwarding sends at once and what the delivery queue persists and sends
//! later, attempt after attempt.
//!
//! It holds what the proxy decided to forward (the method, the target, the
//! header lines in their order and spelling, the exact body bytes) and
//! leaves out what belongs to one attempt: framing (`Content-Length` is
//! written from the body), the route's upstream path and the headers made at
//! send time (`sign_forwarded`, the queue's delivery id and attempt number).

use bytes::{BufMut, Bytes, BytesMut};
use http::Method;

use crate::config::Upstream;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The request target in origin form (`/path?query`), as forwarded when
    /// the route's upstream has no path of its own.
    pub target: Bytes,
    /// Header lines, each `Name: value\r\n`, as they go upstream.
    pub headers: Bytes,
    /// The body exactly as received.
    pub body: Bytes,
}

/// The stored form's first byte: a later change of layout gets a new one.
const ENCODING_V1: u8 = 1;

/// A stored request that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored request is unreadable: {0}")]
pub struct Corrupt(&'static str);

impl Request {
    /// Bytes held, for queue accounting.
    pub fn size(&self) -> usize {
        self.method.as_str().len() + self.target.len() + self.headers.len() + self.body.len()
    }

    pub fn is_head(&self) -> bool {
        self.method == Method::HEAD
    }

    /// The head to send upstream: request line, the stored header lines,
    /// `Content-Length`, then `extra` header lines (made for this attempt),
    /// then the empty line. The body follows it unchanged.
    pub fn head_for(&self, upstream: &Upstream, extra: &[(&[u8], &[u8])]) -> BytesMut {
        let target: &[u8] = upstream.path.as_deref().map_or(&self.target, str::as_bytes);
        let extra_size: usize = extra.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
        let mut head = BytesMut::with_capacity(target.len() + self.headers.len() + extra_size + 64);
        head.put_slice(self.method.as_str().as_bytes());
        head.put_u8(b' ');
        head.put_slice(target);
        head.put_slice(b" HTTP/1.1\r\n");
        head.put_slice(&self.headers);
        head.put_slice(b"Content-Length: ");
        head.put_slice(itoa::Buffer::new().format(self.body.len()).as_bytes());
        head.put_slice(b"\r\n");
        for (name, value) in extra {
            put_header(&mut head, name, value);
        }
        head.put_slice(b"\r\n");
        head
    }

    /// The header lines as (name, value) pairs, in order.
    pub fn header_lines(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.headers
            .split(|&b| b == b'\n')
            .filter_map(|line| line.strip_suffix(b"\r"))
            .filter_map(|line| {
                let colon = memchr::memchr(b':', line)?;
                Some((&line[..colon], line[colon + 1..].trim_ascii()))
            })
    }

    /// The stored form: a version byte, then method, target, header lines
    /// and body, each preceded by its length (u32, little-endian; the body
    /// u64).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0; self.encoded_len()];
        self.encode_into(&mut out);
        out
    }

    /// The length of [`Request::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        1 + 4 * 3 + 8 + self.size()
    }

    /// Writes the stored form into `out`, exactly [`Request::encoded_len`]
    /// bytes long (a store's own buffer: no copy in between).
    pub fn encode_into(&self, out: &mut [u8]) {
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&[ENCODING_V1]);
        for part in [self.method.as_str().as_bytes(), &self.target, &self.headers] {
            put(&(part.len() as u32).to_le_bytes());
            put(part);
        }
        put(&(self.body.len() as u64).to_le_bytes());
        put(&self.body);
    }

    /// Reads back what [`Request::encode`] wrote. `stored` is shared, not
    /// copied: the parts are slices of it.
    pub fn decode(stored: Bytes) -> Result<Self, Corrupt> {
        let mut reader = Reader { rest: stored };
        if reader.take(1)?[..] != [ENCODING_V1] {
            return Err(Corrupt("unknown encoding"));
        }
        let method = reader.part_u32()?;
        let method = Method::from_bytes(&method).map_err(|_| Corrupt("invalid method"))?;
        let target = reader.part_u32()?;
        let headers = reader.part_u32()?;
        let body_len = u64::from_le_bytes(reader.array()?);
        let body_len = usize::try_from(body_len).map_err(|_| Corrupt("body length"))?;
        let body = reader.take(body_len)?;
        if !reader.rest.is_empty() {
            return Err(Corrupt("trailing bytes"));
        }
        Ok(Self {
            method,
            target,
            headers,
            body,
        })
    }
}

pub fn put_header(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.put_slice(name);
    out.put_slice(b": ");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

struct Reader {
    rest: Bytes,
}

impl Reader {
    fn take(&mut self, n: usize) -> Result<Bytes, Corrupt> {
        if self.rest.len() < n {
            return Err(Corrupt("truncated"));
        }
        Ok(self.rest.split_to(n))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Corrupt> {
        let bytes = self.take(N)?;
        let mut array = [0u8; N];
        array.copy_from_slice(&bytes);
        Ok(array)
    }

    fn part_u32(&mut self) -> Result<Bytes, Corrupt> {
        let len = u32::from_le_bytes(self.array()?);
        self.take(len as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Request {
        Request {
            method: Method::POST,
            target: Bytes::from_static(b"/hooks/github?x=1"),
            headers: Bytes::from_static(b"Host: example.com\r\nX-GitHub-Event: push\r\nX-Empty: \r\n"),
            body: Bytes::from_static(b"{\"zen\":\"x\"}\r\n\0\xff"),
        }
    }

    fn upstream(path: Option<&str>) -> Upstream {
        Upstream {
            host: "127.0.0.1".into(),
            port: 3000,
            address: None,
            path: path.map(str::to_owned),
            tls: None,
        }
    }

    #[test]
    fn the_head_carries_the_stored_lines_the_length_and_the_attempts_headers() {
        let request = sample();
        let head = request.head_for(&upstream(None), &[(b"X-Hookfence-Attempt", b"2")]);
        assert_eq!(
            &head[..],
            &b"POST /hooks/github?x=1 HTTP/1.1\r\nHost: example.com\r\nX-GitHub-Event: push\r\nX-Empty: \r\nContent-Length: 15\r\nX-Hookfence-Attempt: 2\r\n\r\n"[..]
        );
        let head = request.head_for(&upstream(Some("/in")), &[]);
        assert!(
            head.starts_with(b"POST /in HTTP/1.1\r\n"),
            "the route's path replaces the target"
        );
    }

    #[test]
    fn stored_requests_read_back_exactly_and_damage_is_refused() {
        let request = sample();
        let stored = request.encode();
        assert_eq!(Request::decode(Bytes::from(stored.clone())).unwrap(), request);
        for cut in 0..stored.len() {
            assert!(
                Request::decode(Bytes::copy_from_slice(&stored[..cut])).is_err(),
                "cut at {cut}"
            );
        }
        let mut longer = stored.clone();
        longer.push(0);
        assert!(Request::decode(Bytes::from(longer)).is_err());
        let mut other_version = stored;
        other_version[0] = 9;
        assert!(Request::decode(Bytes::from(other_version)).is_err());
        let lines: Vec<_> = sample().header_lines().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
        assert_eq!(lines[1], (b"X-GitHub-Event".to_vec(), b"push".to_vec()));
        assert_eq!(lines[2], (b"X-Empty".to_vec(), b"".to_vec()));
    }
}
