//! Request and response heads: parsed by httparse, kept as the bytes that
//! arrived plus where each part lies, with the body's framing decided once
//! (RFC 9112 §6.3) and every ambiguity refused.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::Method;

use crate::header_lines::{names_equal, HeaderLines, Line};

/// Largest head accepted, request line and final empty line included.
/// Webhook senders send one or two KiB; nginx's default limit is 4 × 8 KiB.
pub const MAX_HEAD: usize = 64 * 1024;
/// Most header lines accepted in one head.
pub const MAX_HEADERS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    fn from_minor(minor: Option<u8>) -> Option<Self> {
        match minor {
            Some(0) => Some(Version::Http10),
            Some(1) => Some(Version::Http11),
            _ => None,
        }
    }
}

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
    /// Everything until the connection closes (responses only).
    UntilClose,
}

/// Why a head was refused. The `Display` text is what a client is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("malformed request")]
    Malformed,
    #[error("request header too large")]
    TooLarge,
    /// RFC 9112 §3.2: an HTTP/1.1 request has exactly one `Host`.
    #[error("missing or repeated Host header")]
    Host,
    /// A `Host` (or an absolute-form target's authority) that is not
    /// `host[:port]` as RFC 3986 writes them (userinfo included: RFC 9110
    /// §4.2.4 forbids it in an http URI).
    #[error("invalid Host")]
    InvalidHost,
    #[error("multiple Content-Length headers")]
    MultipleLengths,
    #[error("invalid Content-Length")]
    InvalidLength,
    #[error("both Content-Length and Transfer-Encoding")]
    LengthAndEncoding,
    /// `chunked` is not the final coding (or is repeated), or HTTP/1.0
    /// claims a transfer coding: the body's end cannot be known.
    #[error("invalid Transfer-Encoding")]
    InvalidEncoding,
    /// A coding hookfence does not decode (`gzip, chunked`).
    #[error("unsupported Transfer-Encoding")]
    UnsupportedEncoding,
}

impl HeadError {
    /// The status a client is answered with.
    pub fn status(self) -> u16 {
        match self {
            HeadError::TooLarge => 431,
            HeadError::UnsupportedEncoding => 501,
            _ => 400,
        }
    }
}

/// Where a part of the head lies in its bytes.
type Span = (usize, usize);

/// The parts every head has: its bytes and its header lines.
#[derive(Debug)]
struct Block {
    bytes: Bytes,
    lines: Vec<Line>,
}

impl Block {
    fn text(&self, (start, end): Span) -> &[u8] {
        self.bytes.get(start..end).unwrap_or_default()
    }

    fn headers(&self) -> HeaderLines<'_> {
        HeaderLines::new(&self.bytes, &self.lines)
    }
}

/// Offsets of the slices httparse returned, relative to the buffer parsed.
struct Offsets(usize);

impl Offsets {
    fn of(buf: &[u8]) -> Self {
        Offsets(buf.as_ptr() as usize)
    }

    fn span(&self, part: &[u8]) -> Span {
        let start = (part.as_ptr() as usize).saturating_sub(self.0);
        (start, start + part.len())
    }

    fn lines(&self, headers: &[httparse::Header<'_>]) -> Vec<Line> {
        headers
            .iter()
            .map(|h| Line::new(self.span(h.name.as_bytes()), self.span(h.value)))
            .collect()
    }
}

/// What the framing and persistence rules need from a head, gathered in
/// one pass over its lines.
#[derive(Debug, Clone, Copy, Default)]
struct Facts<'a> {
    hosts: usize,
    /// The first `Host` value.
    host: Option<&'a [u8]>,
    /// The first `Content-Length` value, and how many lines there were.
    content_length: Option<&'a [u8]>,
    content_lengths: usize,
    transfer_encoding: bool,
    expects_continue: bool,
    /// `Connection` tokens: `close`, `keep-alive`, and any other, which
    /// names a header as hop-by-hop.
    close: bool,
    keep_alive: bool,
    names_headers: bool,
}

impl<'a> Facts<'a> {
    fn of(headers: HeaderLines<'a>) -> Self {
        let mut facts = Self::default();
        for (name, value) in headers.iter() {
            // The length first: most names match none of these.
            match name.len() {
                4 if names_equal(name, b"host") => {
                    facts.hosts += 1;
                    facts.host.get_or_insert(value);
                }
                6 if names_equal(name, b"expect") => {
                    facts.expects_continue |= value.eq_ignore_ascii_case(b"100-continue");
                }
                10 if names_equal(name, b"connection") => {
                    for token in list_items(std::iter::once(value)) {
                        if names_equal(token, b"close") {
                            facts.close = true;
                        } else if names_equal(token, b"keep-alive") {
                            facts.keep_alive = true;
                        } else {
                            facts.names_headers = true;
                        }
                    }
                }
                14 if names_equal(name, b"content-length") => {
                    facts.content_lengths += 1;
                    facts.content_length.get_or_insert(value);
                }
                17 if names_equal(name, b"transfer-encoding") => facts.transfer_encoding = true,
                _ => {}
            }
        }
        facts
    }

    /// Whether the connection persists after this message (RFC 9112 §9.3).
    fn persists(&self, version: Version) -> bool {
        !self.close && (version == Version::Http11 || self.keep_alive)
    }

    /// The `Content-Length`: one line, digits only.
    fn content_length(&self) -> Result<Option<u64>, HeadError> {
        if self.content_lengths > 1 {
            return Err(HeadError::MultipleLengths);
        }
        let Some(value) = self.content_length else {
            return Ok(None);
        };
        // Digits only: no sign, no list ("5, 5"), no spaces inside.
        if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
            return Err(HeadError::InvalidLength);
        }
        Ok(Some(
            value
                .iter()
                .fold(0u64, |length, digit| length * 10 + u64::from(digit - b'0')),
        ))
    }
}

/// The comma-separated tokens of every `Connection` line.
pub fn connection_tokens(headers: HeaderLines<'_>) -> impl Iterator<Item = &[u8]> {
    list_items(headers.get_all("connection"))
}

/// The items of a comma-separated header list, trimmed, empty ones skipped.
fn list_items<'a>(values: impl Iterator<Item = &'a [u8]>) -> impl Iterator<Item = &'a [u8]> {
    values
        .flat_map(|value| value.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|item| !item.is_empty())
}

/// The transfer codings of a message, outermost last.
fn transfer_codings(headers: HeaderLines<'_>) -> Vec<&[u8]> {
    list_items(headers.get_all("transfer-encoding")).collect()
}

/// A request head, its bytes split off the connection's buffer.
#[derive(Debug)]
pub struct RequestHead {
    block: Block,
    pub method: Method,
    target: Span,
    /// The authority of an absolute-form target (`http://authority/path`),
    /// which RFC 9112 §3.2.2 puts before the `Host` header.
    authority: Option<Span>,
    /// A `Host` header came (always, for HTTP/1.1).
    pub has_host: bool,
    /// The target in origin form, kept as text: routing, verification and
    /// forwarding read it several times.
    origin: Box<str>,
    /// Where the path ends in `origin` (at `?`, or its end).
    path_end: usize,
    pub version: Version,
    pub framing: Framing,
    /// The connection may serve another request after this one, as far as
    /// the client is concerned.
    pub persistent: bool,
    /// `Expect: 100-continue`: the client waits to be invited to send its body.
    pub expects_continue: bool,
    /// `Connection` names headers of its own to drop when forwarding.
    pub connection_names_headers: bool,
}

/// The length of a head httparse found complete in `buffered` bytes;
/// `None` while more bytes may complete it. Past `MAX_HEAD` bytes or
/// `MAX_HEADERS` lines a head is too large, complete or not.
fn head_length(parsed: httparse::Result<usize>, buffered: usize) -> Result<Option<usize>, HeadError> {
    match parsed {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD => Ok(Some(len)),
        Ok(httparse::Status::Complete(_)) | Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) if buffered >= MAX_HEAD => Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(HeadError::Malformed),
    }
}

impl RequestHead {
    /// Parses the request head at the start of `buf`. When complete, its bytes
    /// are split off `buf` (what follows stays there: the body, or a pipelined
    /// request); `Ok(None)` means more bytes are needed.
    pub fn parse(buf: &mut BytesMut) -> Result<Option<Self>, HeadError> {
        read_higher_minor_as_1_1(buf, Start::RequestLine);
        let mut storage = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut []);
        let parsed =
            httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut request, buf, &mut storage);
        let Some(len) = head_length(parsed, buf.len())? else {
            return Ok(None);
        };
        let (Some(method), Some(target)) = (request.method, request.path) else {
            return Err(HeadError::Malformed);
        };
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| HeadError::Malformed)?;
        let version = Version::from_minor(request.version).ok_or(HeadError::Malformed)?;
        if has_bare_lf(&buf[..len]) {
            return Err(HeadError::Malformed);
        }
        let offsets = Offsets::of(buf);
        let (origin, authority) = origin_form(target);
        let authority = authority.map(|a| offsets.span(a.as_bytes()));
        let path_end = origin.find('?').unwrap_or(origin.len());
        let target = offsets.span(target.as_bytes());
        let lines = offsets.lines(request.headers);
        let block = Block {
            bytes: buf.split_to(len).freeze(),
            lines,
        };

        let facts = Facts::of(block.headers());
        // HTTP/1.1 needs exactly one; HTTP/1.0 may have none, never two
        // (which one would the upstream believe?).
        if facts.hosts > 1 || (version == Version::Http11 && facts.hosts == 0) {
            return Err(HeadError::Host);
        }
        // Backends build URLs and pick virtual hosts from it: only what
        // RFC 3986 calls a host and port goes upstream.
        let authority_text = authority.map(|span| block.text(span));
        if !facts.host.is_none_or(is_valid_authority) || !authority_text.is_none_or(is_valid_authority) {
            return Err(HeadError::InvalidHost);
        }
        let framing = request_framing(block.headers(), &facts, version)?;
        Ok(Some(Self {
            method,
            target,
            authority,
            has_host: facts.hosts == 1,
            origin,
            path_end,
            version,
            framing,
            persistent: facts.persists(version),
            expects_continue: facts.expects_continue && version == Version::Http11,
            connection_names_headers: facts.names_headers,
            block,
        }))
    }

    pub fn headers(&self) -> HeaderLines<'_> {
        self.block.headers()
    }

    /// Moves the head's bytes to an allocation of their own, so that the
    /// buffer they were read into (shared with what followed them) can be
    /// freed while the request goes on.
    pub fn detach(&mut self) {
        self.block.bytes = Bytes::copy_from_slice(&self.block.bytes);
    }

    /// A copy of the head's bytes as received, for the console's view of a
    /// delivery; `None` past `limit` bytes (a hostile head is not worth
    /// keeping).
    pub fn copy_within(&self, limit: usize) -> Option<Bytes> {
        (self.block.bytes.len() <= limit).then(|| Bytes::copy_from_slice(&self.block.bytes))
    }

    /// The request target exactly as sent.
    pub fn target(&self) -> &str {
        // httparse admits only valid UTF-8 in a target.
        std::str::from_utf8(self.block.text(self.target)).unwrap_or_default()
    }

    /// The authority an absolute-form target named, if it was one.
    pub fn authority(&self) -> Option<&[u8]> {
        self.authority.map(|span| self.block.text(span))
    }

    /// The target in origin form (`/path?query`): an absolute-form target
    /// (`http://host/path`) loses its scheme and authority.
    pub fn origin_form(&self) -> &str {
        &self.origin
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        &self.origin[..self.path_end]
    }

    /// The raw query string, without `?`.
    pub fn query(&self) -> Option<&str> {
        self.origin.get(self.path_end + 1..)
    }

    /// Whether the request has a body to read.
    pub fn has_body(&self) -> bool {
        !matches!(self.framing, Framing::Empty | Framing::Length(0))
    }
}

/// A request target in origin form, and the authority an absolute-form
/// target names: `http://host?q` becomes `/?q` and `host`; `*` and
/// authority-form targets stay as they are (no route matches them).
fn origin_form(target: &str) -> (Box<str>, Option<&str>) {
    if target.starts_with('/') {
        return (target.into(), None);
    }
    let after_scheme = ["http://", "https://"].iter().find_map(|scheme| {
        let head = target.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme).then(|| &target[scheme.len()..])
    });
    let Some(rest) = after_scheme else {
        return (target.into(), None);
    };
    let (authority, origin) = match rest.find(['/', '?']) {
        Some(at) if rest[at..].starts_with('/') => (&rest[..at], rest[at..].into()),
        Some(at) => (&rest[..at], format!("/{}", &rest[at..]).into()),
        None => (rest, "/".into()),
    };
    (origin, Some(authority).filter(|a| !a.is_empty()))
}

/// Whether `value` is `host [ ":" port ]` (RFC 3986 §3.2.2–3.2.3; RFC 9110
/// §7.2): a reg-name (unreserved, sub-delims, percent-encoded octets) or
/// IPv4 address, or an IPv6 literal in brackets; a port of at most five
/// digits up to 65535. No userinfo, no whitespace, no other delimiter. An
/// empty value is allowed (RFC 9112 §3.2, a target without authority).
fn is_valid_authority(value: &[u8]) -> bool {
    if value.is_empty() {
        return true;
    }
    let (host_ok, rest) = match value.strip_prefix(b"[") {
        Some(literal) => match memchr::memchr(b']', literal) {
            Some(end) => (
                std::str::from_utf8(&literal[..end]).is_ok_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok()),
                &literal[end + 1..],
            ),
            None => return false,
        },
        None => {
            let end = memchr::memchr(b':', value).unwrap_or(value.len());
            (!value[..end].is_empty() && is_reg_name(&value[..end]), &value[end..])
        }
    };
    let port_ok = match rest.strip_prefix(b":") {
        None => rest.is_empty(),
        Some(port) => {
            port.len() <= 5
                && port.iter().all(u8::is_ascii_digit)
                && port.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')) <= 65535
        }
    };
    host_ok && port_ok
}

/// RFC 3986 reg-name: unreserved, sub-delims and `%HH`.
fn is_reg_name(name: &[u8]) -> bool {
    let mut at = 0;
    while at < name.len() {
        let b = name[at];
        if b == b'%' {
            let hex = |i: usize| name.get(i).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(at + 1) && hex(at + 2)) {
                return false;
            }
            at += 3;
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b)) {
            return false;
        }
        at += 1;
    }
    true
}

/// Which line a head starts with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// `METHOD target HTTP/1.x`
    RequestLine,
    /// `HTTP/1.x status reason`
    StatusLine,
}

/// RFC 9112 §2.3: a message of a higher minor version (`HTTP/1.2`) is read
/// as the highest this side speaks, HTTP/1.1. httparse knows only `1.0` and
/// `1.1`: the digit is rewritten in place, in the bytes that are parsed and
/// not forwarded (hookfence writes its own request and status lines).
fn read_higher_minor_as_1_1(buf: &mut [u8], start: Start) {
    const NAME: &[u8] = b"HTTP/1.";
    let Some(line_end) = memchr::memchr(b'\n', buf) else {
        return;
    };
    let line = &buf[..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digit_at = match start {
        Start::RequestLine if line.len() > NAME.len() + 1 => {
            let version = &line[line.len() - NAME.len() - 1..];
            (version.starts_with(NAME) && line[..line.len() - NAME.len() - 1].ends_with(b" ")).then_some(line.len() - 1)
        }
        Start::StatusLine => (line.starts_with(NAME) && line.get(NAME.len() + 1) == Some(&b' ')).then_some(NAME.len()),
        Start::RequestLine => None,
    };
    if let Some(at) = digit_at {
        if (b'2'..=b'9').contains(&buf[at]) {
            buf[at] = b'1';
        }
    }
}

/// Whether a head ends its lines with a bare LF anywhere. httparse accepts
/// them (RFC 9112 §2.2 lets a recipient); a parser in front of hookfence may
/// not, and two parsers splitting lines differently is a smuggling vector.
fn has_bare_lf(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', head).any(|at| at == 0 || head[at - 1] != b'\r')
}

/// RFC 9112 §6.3 for requests, refusing what §6.1 and §6.3 let a server refuse.
fn request_framing(headers: HeaderLines<'_>, facts: &Facts<'_>, version: Version) -> Result<Framing, HeadError> {
    if !facts.transfer_encoding {
        return Ok(facts.content_length()?.map_or(Framing::Empty, Framing::Length));
    }
    // Framed both ways: two parsers could disagree on where the body ends.
    if facts.content_lengths > 0 {
        return Err(HeadError::LengthAndEncoding);
    }
    if version == Version::Http10 {
        return Err(HeadError::InvalidEncoding);
    }
    let codings = transfer_codings(headers);
    let chunked = |c: &&[u8]| c.eq_ignore_ascii_case(b"chunked");
    match codings.split_last() {
        Some((last, before)) if chunked(last) && !before.iter().any(chunked) => {
            if before.is_empty() {
                Ok(Framing::Chunked)
            } else {
                Err(HeadError::UnsupportedEncoding)
            }
        }
        _ => Err(HeadError::InvalidEncoding),
    }
}

/// A response head from the upstream.
#[derive(Debug)]
pub struct ResponseHead {
    block: Block,
    pub status: u16,
    reason: Span,
    pub version: Version,
    pub framing: Framing,
    /// The upstream keeps the connection open after this answer.
    pub persistent: bool,
    /// Framed by both `Content-Length` and `Transfer-Encoding`: the length
    /// is not relayed, and the connection is not reused (RFC 9112 §6.3).
    pub length_and_encoding: bool,
    /// Transfer codings other than `chunked` (`gzip, chunked`): the body
    /// cannot be handed to an HTTP/1.0 client decoded.
    pub other_codings: bool,
}

impl ResponseHead {
    /// Parses the response head at the start of `buf`, splitting it off when
    /// complete. `head_request`: the answer is to a HEAD request, so it has
    /// no body whatever its headers say.
    pub fn parse(buf: &mut BytesMut, head_request: bool) -> Result<Option<Self>, HeadError> {
        read_higher_minor_as_1_1(buf, Start::StatusLine);
        let mut storage = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut []);
        let parsed =
            httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut response, buf, &mut storage);
        let Some(len) = head_length(parsed, buf.len())? else {
            return Ok(None);
        };
        let Some(status) = response.code else {
            return Err(HeadError::Malformed);
        };
        let version = Version::from_minor(response.version).ok_or(HeadError::Malformed)?;
        let offsets = Offsets::of(buf);
        let reason = offsets.span(response.reason.unwrap_or_default().as_bytes());
        let lines = offsets.lines(response.headers);
        let block = Block {
            bytes: buf.split_to(len).freeze(),
            lines,
        };
        let facts = Facts::of(block.headers());
        let (framing, length_and_encoding) = response_framing(block.headers(), &facts, status, head_request)?;
        let other_codings = facts.transfer_encoding
            && transfer_codings(block.headers())
                .iter()
                .any(|c| !c.eq_ignore_ascii_case(b"chunked"));
        let persistent = facts.persists(version) && framing != Framing::UntilClose;
        Ok(Some(Self {
            status,
            reason,
            version,
            framing,
            persistent: persistent && !length_and_encoding,
            length_and_encoding,
            other_codings,
            block,
        }))
    }

    pub fn headers(&self) -> HeaderLines<'_> {
        self.block.headers()
    }

    /// The reason phrase as sent (may be empty).
    pub fn reason(&self) -> &[u8] {
        self.block.text(self.reason)
    }

    /// An interim answer (1xx) that a final one follows.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status)
    }
}

/// RFC 9112 §6.3 for responses: `(framing, framed both ways)`.
fn response_framing(
    headers: HeaderLines<'_>,
    facts: &Facts<'_>,
    status: u16,
    head_request: bool,
) -> Result<(Framing, bool), HeadError> {
    if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok((Framing::Empty, false));
    }
    if facts.transfer_encoding {
        // `gzip, chunked` is chunked too: relayed as it is, codings and all.
        let chunked = transfer_codings(headers)
            .last()
            .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"));
        let framing = if chunked { Framing::Chunked } else { Framing::UntilClose };
        return Ok((framing, facts.content_lengths > 0));
    }
    let framing = facts.content_length()?.map_or(Framing::UntilClose, Framing::Length);
    Ok((framing, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(raw: &[u8]) -> Result<Option<RequestHead>, HeadError> {
        RequestHead::parse(&mut BytesMut::from(raw))
    }

    fn framing(raw: &str) -> Result<Framing, HeadError> {
        request(raw.as_bytes()).map(|head| head.expect("complete").framing)
    }

    #[test]
    fn only_a_host_and_port_are_a_host() {
        for good in [
            "hooks.example.com",
            "hooks.example.com:8443",
            "127.0.0.1:80",
            "[::1]:8080",
            "[2001:db8::1]",
            "xn--bcher-kva.example",
            "a_b~c!$&'()*+,;=.d",
            "h%41st",
            "",
        ] {
            let raw = format!("POST /h HTTP/1.1\r\nHost: {good}\r\n\r\n");
            assert!(request(raw.as_bytes()).is_ok(), "{good:?} refused");
        }
        for bad in [
            "a b",
            "evil/x",
            "user@evil",
            "a, b",
            "x:99999999",
            "x:65536",
            "a#b?c",
            "[::1",
            "[nope]:80",
            "[::1]x",
            "h%4",
            "h%zz",
            ":80",
            "a:b:c",
            "host:-1",
        ] {
            let raw = format!("POST /h HTTP/1.1\r\nHost: {bad}\r\n\r\n");
            assert_eq!(request(raw.as_bytes()).unwrap_err(), HeadError::InvalidHost, "{bad:?}");
        }
        let raw = b"POST /h HTTP/1.1\r\nHost: caf\xc3\xa9.example\r\n\r\n";
        assert_eq!(request(raw).unwrap_err(), HeadError::InvalidHost, "non-ASCII");
        // An absolute-form target's authority is the host forwarded: held to
        // the same rule, userinfo refused.
        for bad in ["http://user:pw@evil/hooks/github", "http://a%zz/h", "http://a:99999/h"] {
            let raw = format!("POST {bad} HTTP/1.1\r\nHost: fine\r\n\r\n");
            assert_eq!(request(raw.as_bytes()).unwrap_err(), HeadError::InvalidHost, "{bad}");
        }
    }

    #[test]
    fn a_higher_minor_version_is_read_as_http_1_1() {
        for raw in [
            &b"POST /h HTTP/1.2\r\nHost: a\r\n\r\n"[..],
            b"POST /h HTTP/1.9\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        ] {
            let head = request(raw).unwrap().unwrap();
            assert_eq!(head.version, Version::Http11, "{}", String::from_utf8_lossy(raw));
            assert!(head.persistent);
        }
        for refused in [
            &b"POST /h HTTP/2.0\r\nHost: a\r\n\r\n"[..],
            b"POST /h HTTP/1.10\r\nHost: a\r\n\r\n",
            b"POST /h HTTP/1.x\r\nHost: a\r\n\r\n",
        ] {
            assert_eq!(request(refused).unwrap_err(), HeadError::Malformed);
        }
        let answer = ResponseHead::parse(&mut BytesMut::from(&b"HTTP/1.3 204 No Content\r\n\r\n"[..]), false)
            .unwrap()
            .unwrap();
        assert_eq!((answer.status, answer.version), (204, Version::Http11));
        // Only the version's digit is read differently: a target that ends
        // like a version is left alone.
        let head = request(b"GET /HTTP/1.2 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap().unwrap();
        assert_eq!(head.path(), "/HTTP/1.2");
    }

    #[test]
    fn a_request_head_is_split_off_and_read_in_place() {
        let mut buf = BytesMut::from(
            &b"\r\nPOST http://hooks.example.com/hooks/gh?x=1&y=a:b HTTP/1.1\r\nHost: hooks.example.com\r\nX-Sig:  sha256=aa \r\nContent-Length: 4\r\n\r\nbodyPOST"[..],
        );
        let head = RequestHead::parse(&mut buf).unwrap().unwrap();
        assert_eq!(&buf[..], b"bodyPOST", "the body and what follows stay in the buffer");
        assert_eq!(head.method, Method::POST);
        assert_eq!(head.version, Version::Http11);
        assert_eq!(head.target(), "http://hooks.example.com/hooks/gh?x=1&y=a:b");
        assert_eq!(head.origin_form(), "/hooks/gh?x=1&y=a:b");
        assert_eq!(head.path(), "/hooks/gh");
        assert_eq!(head.query(), Some("x=1&y=a:b"));
        assert_eq!(head.authority(), Some(&b"hooks.example.com"[..]));
        for (target, origin, path, query) in [
            ("/h", "/h", "/h", None),
            ("/h?", "/h?", "/h", Some("")),
            ("http://example.com", "/", "/", None),
            ("HTTPS://example.com?x=1", "/?x=1", "/", Some("x=1")),
            ("*", "*", "*", None),
        ] {
            let raw = format!("OPTIONS {target} HTTP/1.1\r\nHost: x\r\n\r\n");
            let head = request(raw.as_bytes()).unwrap().unwrap();
            assert_eq!(
                (head.origin_form(), head.path(), head.query()),
                (origin, path, query),
                "{target}"
            );
        }
        assert_eq!(head.framing, Framing::Length(4));
        assert!(head.persistent && !head.expects_continue);
        let names: Vec<&[u8]> = head.headers().iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [&b"Host"[..], b"X-Sig", b"Content-Length"],
            "the request line is no header"
        );
        assert_eq!(
            head.headers().get("x-sig"),
            Some(&b"sha256=aa"[..]),
            "whitespace around values trimmed"
        );
    }

    #[test]
    fn partial_heads_wait_and_oversized_ones_are_refused() {
        assert!(request(b"POST /h HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
        let huge = format!("POST /h HTTP/1.1\r\nHost: x\r\nX-Pad: {}", "a".repeat(MAX_HEAD));
        assert_eq!(request(huge.as_bytes()).unwrap_err(), HeadError::TooLarge);
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        let many = format!("POST /h HTTP/1.1\r\nHost: x\r\n{many}\r\n");
        assert_eq!(request(many.as_bytes()).unwrap_err(), HeadError::TooLarge);
        assert_eq!(HeadError::TooLarge.status(), 431);
    }

    #[test]
    fn malformed_heads_are_refused() {
        for raw in [
            &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
            b"POST /h HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
            b"POST /h HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
            b"POST /h HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n",
            b"POST /h HTTP/1.1\r\nHost : x\r\n\r\n",
            b"POST  /h HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /h HTTP/1.1\nHost: x\r\n\r\n",
            b"POST /h HTTP/1.1\r\nHost: x\n\r\n",
            b"POST /h HTTP/1.1\r\nHost: x\r\n\n",
        ] {
            assert_eq!(
                request(raw).unwrap_err(),
                HeadError::Malformed,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn http11_needs_exactly_one_host_and_none_may_have_two() {
        assert_eq!(request(b"POST /h HTTP/1.1\r\n\r\n").unwrap_err(), HeadError::Host);
        for version in ["1.0", "1.1"] {
            let raw = format!("POST /h HTTP/{version}\r\nHost: a\r\nHost: b\r\n\r\n");
            assert_eq!(request(raw.as_bytes()).unwrap_err(), HeadError::Host, "{version}");
        }
        let old = request(b"POST /h HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!old.persistent, "HTTP/1.0 closes by default");
        assert!(!old.has_host);
        let kept = request(b"POST /h HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(kept.persistent);
    }

    #[test]
    fn request_framing_refuses_ambiguity() {
        let head = "POST /h HTTP/1.1\r\nHost: x\r\n";
        assert_eq!(framing(&format!("{head}\r\n")), Ok(Framing::Empty));
        assert_eq!(
            framing(&format!("{head}Content-Length: 0\r\n\r\n")),
            Ok(Framing::Length(0))
        );
        assert_eq!(
            framing(&format!("{head}Transfer-Encoding: Chunked\r\n\r\n")),
            Ok(Framing::Chunked)
        );
        for (lines, error) in [
            ("Content-Length: 4\r\nContent-Length: 4", HeadError::MultipleLengths),
            ("Content-Length: 4, 4", HeadError::InvalidLength),
            ("Content-Length: +4", HeadError::InvalidLength),
            ("Content-Length: 0x4", HeadError::InvalidLength),
            ("Content-Length: 99999999999999999999", HeadError::InvalidLength),
            ("Content-Length:", HeadError::InvalidLength),
            (
                "Content-Length: 4\r\nTransfer-Encoding: chunked",
                HeadError::LengthAndEncoding,
            ),
            ("Transfer-Encoding: chunked, gzip", HeadError::InvalidEncoding),
            (
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
                HeadError::InvalidEncoding,
            ),
            ("Transfer-Encoding: identity", HeadError::InvalidEncoding),
            ("Transfer-Encoding: gzip, chunked", HeadError::UnsupportedEncoding),
        ] {
            assert_eq!(framing(&format!("{head}{lines}\r\n\r\n")), Err(error), "{lines}");
        }
        assert_eq!(
            framing("POST /h HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(HeadError::InvalidEncoding)
        );
    }

    #[test]
    fn connection_options_and_expect() {
        let head = request(
            b"POST /h HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Private\r\nconnection: Close\r\nExpect: 100-Continue\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(!head.persistent);
        assert!(head.connection_names_headers);
        assert!(head.expects_continue);
        let tokens: Vec<&[u8]> = connection_tokens(head.headers()).collect();
        assert_eq!(tokens, [&b"keep-alive"[..], b"X-Private", b"Close"]);
    }

    fn response(raw: &[u8], head_request: bool) -> Result<Option<ResponseHead>, HeadError> {
        ResponseHead::parse(&mut BytesMut::from(raw), head_request)
    }

    #[test]
    fn response_framing_follows_rfc_9112() {
        let framed = |raw: &str, head_request: bool| {
            let head = response(raw.as_bytes(), head_request).unwrap().unwrap();
            (head.framing, head.persistent)
        };
        assert_eq!(
            framed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", false),
            (Framing::Length(2), true)
        );
        assert_eq!(
            framed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", true),
            (Framing::Empty, true)
        );
        assert_eq!(framed("HTTP/1.1 204 No Content\r\n\r\n", false), (Framing::Empty, true));
        assert_eq!(
            framed("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", false),
            (Framing::Empty, true)
        );
        assert_eq!(
            framed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false),
            (Framing::Chunked, true)
        );
        assert_eq!(framed("HTTP/1.1 200 OK\r\n\r\n", false), (Framing::UntilClose, false));
        assert_eq!(
            framed("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false),
            (Framing::UntilClose, false)
        );
        assert_eq!(
            framed(
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
                false
            ),
            (Framing::Length(2), false)
        );
        assert_eq!(
            framed("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", false),
            (Framing::Length(2), false)
        );
        let both = response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(both.framing, Framing::Chunked, "chunked wins");
        assert!(both.length_and_encoding && !both.persistent);
        assert_eq!(
            response(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
                false
            )
            .unwrap_err(),
            HeadError::MultipleLengths
        );
        let interim = response(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert!(interim.is_interim());
        assert_eq!(interim.reason(), b"Early Hints");
        assert!(response(b"HTTP/1.1 2", false).unwrap().is_none());
        assert_eq!(
            response(b"HTTP/2 200\r\n\r\n", false).unwrap_err(),
            HeadError::Malformed
        );
    }
}
