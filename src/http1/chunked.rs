//! The chunked transfer coding (RFC 9112 §7.1), decoded incrementally from
//! whatever bytes have arrived so far.
//!
//! Strict, because a lenient chunk parser is a classic smuggling vector: every
//! line ends in CRLF (a bare LF or CR is an error), a chunk size is 1 to 16
//! hex digits, extensions may hold no control characters, and the size line
//! and the trailer section are bounded. Extensions and trailers are checked
//! and then dropped: a body is forwarded with a `Content-Length`.

/// Longest chunk-size line, extensions included.
pub const MAX_SIZE_LINE: usize = 4096;
/// Largest trailer section.
pub const MAX_TRAILERS: usize = 16 * 1024;
/// Most trailer fields, as for a head's header lines (`MAX_HEADERS`).
pub const MAX_TRAILER_FIELDS: usize = 128;
/// Framing bytes (size lines, extensions, line ends, trailers) allowed
/// beyond one per body byte: the body limit counts decoded bytes, and
/// without this a sender could stream framing around a one-byte body until
/// the body timeout. Real senders send chunks of kilobytes.
pub const FRAMING_ALLOWANCE: u64 = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("invalid chunked framing")]
    Invalid,
    /// The chunk sizes declared add up to more than the decoder's limit.
    #[error("body too large")]
    TooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size.
    Size,
    /// Whitespace after the size: only `;` or the line end may follow.
    SizeSpace,
    /// A chunk extension, up to the line end.
    Extension,
    /// The LF of a size line.
    SizeLf,
    /// Chunk data; this many bytes left.
    Data(u64),
    DataCr,
    DataLf,
    /// The start of a trailer line, or the empty line that ends the body.
    TrailerStart,
    /// A trailer field's name, up to its colon.
    TrailerName,
    /// A trailer field's value, up to the line end.
    TrailerLine,
    TrailerLf,
    /// The LF of the final empty line.
    EndLf,
    Done,
}

/// Decodes one chunked body.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// The chunk size being read.
    size: u64,
    digits: usize,
    /// Bytes of the current size line.
    line: usize,
    /// Bytes of the trailer section so far.
    trailers: usize,
    /// Trailer fields so far.
    trailer_fields: usize,
    /// Sum of the chunk sizes declared so far.
    total: u64,
    limit: u64,
    /// Framing bytes read so far.
    framing: u64,
}

fn hex_value(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    }
}

/// A `tchar` of RFC 9110 §5.6.2: what a field name is made of.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Bytes allowed inside an extension or a trailer line: tab, visible ASCII,
/// space, and obs-text.
fn is_line_text(b: u8) -> bool {
    b == b'\t' || (b >= b' ' && b != 0x7f)
}

impl ChunkedDecoder {
    /// A decoder refusing bodies whose chunks add up to more than `limit`
    /// bytes (checked when a chunk's size arrives, before its data).
    pub fn new(limit: u64) -> Self {
        Self {
            state: State::Size,
            size: 0,
            digits: 0,
            line: 0,
            trailers: 0,
            trailer_fields: 0,
            total: 0,
            limit,
            framing: 0,
        }
    }

    /// The body ended (last chunk and trailer section read).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes declared by the chunk sizes read so far.
    pub fn declared(&self) -> u64 {
        self.total
    }

    /// Decodes from `input`, handing each piece of chunk data to `data`.
    /// Returns how many bytes of `input` belong to the body: all of them,
    /// unless the body ended inside `input`, where what follows is not the
    /// body's (a pipelined request, or garbage after an answer).
    pub fn feed(&mut self, input: &[u8], mut data: impl FnMut(&[u8])) -> Result<usize, ChunkError> {
        let mut at = 0;
        while at < input.len() {
            if let State::Data(left) = self.state {
                let available = input.len() - at;
                let take = usize::try_from(left).map_or(available, |left| left.min(available));
                data(&input[at..at + take]);
                at += take;
                let left = left - take as u64;
                self.state = if left == 0 { State::DataCr } else { State::Data(left) };
                continue;
            }
            if self.state == State::Done {
                break;
            }
            self.step(input[at])?;
            at += 1;
        }
        Ok(at)
    }

    /// One framing byte.
    fn step(&mut self, b: u8) -> Result<(), ChunkError> {
        use State::*;
        self.framing += 1;
        if self.framing > FRAMING_ALLOWANCE.saturating_add(self.total) {
            return Err(ChunkError::Invalid);
        }
        if matches!(self.state, Size | SizeSpace | Extension | SizeLf) {
            self.line += 1;
            if self.line > MAX_SIZE_LINE {
                return Err(ChunkError::Invalid);
            }
        }
        if matches!(self.state, TrailerStart | TrailerName | TrailerLine | TrailerLf | EndLf) {
            self.trailers += 1;
            if self.trailers > MAX_TRAILERS {
                return Err(ChunkError::Invalid);
            }
        }
        self.state = match (self.state, b) {
            (Size, _) if hex_value(b).is_some() => {
                self.digits += 1;
                if self.digits > 16 {
                    return Err(ChunkError::Invalid);
                }
                self.size = (self.size << 4) | hex_value(b).unwrap_or_default();
                Size
            }
            (Size, _) if self.digits == 0 => return Err(ChunkError::Invalid),
            (Size | SizeSpace, b' ' | b'\t') => SizeSpace,
            (Size | SizeSpace, b';') => Extension,
            (Size | SizeSpace | Extension, b'\r') => SizeLf,
            (Extension, _) if is_line_text(b) => Extension,
            (SizeLf, b'\n') => self.chunk_started()?,
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => Size,
            (TrailerStart, b'\r') => EndLf,
            // A trailer line is a field: a name of token characters, a
            // colon, a value. Whitespace first would be an obsolete line
            // folding; a line without a colon is not a field (it may be
            // the next request, pipelined after a body missing its last
            // empty line, and must not be swallowed as a trailer).
            (TrailerStart | TrailerName, _) if is_token(b) => TrailerName,
            (TrailerName, b':') => {
                self.trailer_fields += 1;
                if self.trailer_fields > MAX_TRAILER_FIELDS {
                    return Err(ChunkError::Invalid);
                }
                TrailerLine
            }
            (TrailerLine, b'\r') => TrailerLf,
            (TrailerLine, _) if is_line_text(b) => TrailerLine,
            (TrailerLf, b'\n') => TrailerStart,
            (EndLf, b'\n') => Done,
            _ => return Err(ChunkError::Invalid),
        };
        Ok(())
    }

    /// A size line ended: the chunk's data follows, or the trailers.
    fn chunk_started(&mut self) -> Result<State, ChunkError> {
        let size = std::mem::take(&mut self.size);
        self.digits = 0;
        self.line = 0;
        self.total = self.total.checked_add(size).ok_or(ChunkError::TooLarge)?;
        if self.total > self.limit {
            return Err(ChunkError::TooLarge);
        }
        Ok(if size == 0 {
            State::TrailerStart
        } else {
            State::Data(size)
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Decodes `input` fed in pieces split at `cuts`; returns the body and
    /// the bytes consumed.
    fn decode(input: &[u8], cuts: &[usize], limit: u64) -> Result<(Vec<u8>, usize, bool), ChunkError> {
        let mut decoder = ChunkedDecoder::new(limit);
        let mut body = Vec::new();
        let mut consumed = 0;
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        points.push(input.len());
        points.sort_unstable();
        let mut from = 0;
        for to in points {
            if decoder.is_done() {
                break;
            }
            consumed += decoder.feed(&input[from..to], |d| body.extend_from_slice(d))?;
            from = to;
        }
        Ok((body, consumed, decoder.is_done()))
    }

    fn encode(body: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = body;
        let mut sizes = sizes.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
            out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    proptest! {
        #[test]
        fn any_chunking_fed_in_any_pieces_decodes_to_the_body(
            body in proptest::collection::vec(any::<u8>(), 0..2000),
            sizes in proptest::collection::vec(1usize..300, 1..8),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
            after in proptest::collection::vec(any::<u8>(), 0..20),
        ) {
            let mut framed = encode(&body, &sizes);
            let length = framed.len();
            framed.extend_from_slice(&after);
            let (decoded, consumed, done) = decode(&framed, &cuts, u64::MAX).unwrap();
            prop_assert!(done);
            prop_assert_eq!(decoded, body);
            prop_assert_eq!(consumed, length, "what follows the body is not consumed");
        }

        #[test]
        fn a_body_cut_short_is_never_done(
            body in proptest::collection::vec(any::<u8>(), 1..500),
            sizes in proptest::collection::vec(1usize..100, 1..4),
            keep in any::<usize>(),
        ) {
            let framed = encode(&body, &sizes);
            let keep = keep % framed.len();
            let (_, consumed, done) = decode(&framed[..keep], &[], u64::MAX).unwrap();
            prop_assert!(!done);
            prop_assert_eq!(consumed, keep);
        }
    }

    #[test]
    fn extensions_and_trailers_are_accepted_and_dropped() {
        let framed =
            b"5 ;name=\"v\\\"x\"\r\nhello\r\n6;a;b=c\r\n world\r\n0;last\r\nX-Checksum: abc\r\nX-Other:\t\xe9\r\n\r\n";
        let (body, consumed, done) = decode(framed, &[3, 17, 40], u64::MAX).unwrap();
        assert_eq!(
            (body.as_slice(), consumed, done),
            (&b"hello world"[..], framed.len(), true)
        );
    }

    #[test]
    fn ambiguous_or_unbounded_framing_is_refused() {
        let long_extension = format!("1;{}\r\na\r\n0\r\n\r\n", "x".repeat(MAX_SIZE_LINE));
        let long_trailers = format!("0\r\nX-T: {}\r\n\r\n", "x".repeat(MAX_TRAILERS));
        let many_trailers = format!("0\r\n{}\r\n", "X: y\r\n".repeat(MAX_TRAILER_FIELDS + 1));
        for framed in [
            &b"\r\nhello\r\n0\r\n\r\n"[..],  // no size
            b";x\r\n",                       // no size, an extension
            b"5\nhello\r\n0\r\n\r\n",        // bare LF after the size
            b"5\r\nhello\n0\r\n\r\n",        // bare LF after the data
            b"5\r\nhelloX\r\n0\r\n\r\n",     // data longer than its size
            b"5\r\nhello\r\n0\r\n\n",        // bare LF ending the body
            b"5\r\nhello\r\n0\r\n\r\r",      // CR CR
            b"+5\r\nhello\r\n0\r\n\r\n",     // a sign
            b"0x5\r\nhello\r\n0\r\n\r\n",    // a prefix
            b"5 5\r\nhello\r\n",             // digits after whitespace
            b"5;a\x00b\r\nhello\r\n",        // a control byte in an extension
            b"5;a\nb\r\nhello\r\n",          // a bare LF in an extension
            b"10000000000000000\r\n",        // 17 digits
            b"0\r\n folded: x\r\n\r\n",      // obs-fold in the trailers
            b"0\r\nX-T: a\nb\r\n\r\n",       // a bare LF in a trailer
            b"0\r\nPOST /next HTTP/1.1\r\n", // a line that is no field: a pipelined request
            b"0\r\nX-T\r\n\r\n",             // a trailer without a colon
            b"0\r\nX T: a\r\n\r\n",          // a space in a field name
            b"0\r\n: a\r\n\r\n",             // no field name
            long_extension.as_bytes(),
            long_trailers.as_bytes(),
            many_trailers.as_bytes(),
        ] {
            assert_eq!(
                decode(framed, &[], u64::MAX).unwrap_err(),
                ChunkError::Invalid,
                "{}",
                String::from_utf8_lossy(framed)
            );
        }
    }

    #[test]
    fn framing_beyond_one_byte_per_body_byte_and_an_allowance_is_refused() {
        // One-byte chunks with long extensions: framing far beyond the body.
        let chunk = format!("1;{}\r\nx\r\n", "e".repeat(2000));
        let framed = chunk.repeat(40);
        assert_eq!(
            decode(framed.as_bytes(), &[], u64::MAX).unwrap_err(),
            ChunkError::Invalid
        );
        // Small chunks with plain framing are fine.
        let body = vec![b'y'; 100_000];
        let (decoded, _, done) = decode(&encode(&body, &[16]), &[], u64::MAX).unwrap();
        assert!(done && decoded == body);
    }

    #[test]
    fn the_limit_is_checked_when_a_size_arrives() {
        assert_eq!(
            decode(b"400\r\n", &[], 1023).unwrap_err(),
            ChunkError::TooLarge,
            "refused before any of its data"
        );
        assert_eq!(
            decode(b"ffffffffffffffff\r\n", &[], u64::MAX).map(|(_, n, _)| n),
            Ok(18)
        );
        let mut decoder = ChunkedDecoder::new(u64::MAX);
        decoder.feed(b"ffffffffffffffff\r\n", |_| {}).unwrap();
        decoder.state = State::Size;
        assert_eq!(
            decoder.feed(b"1\r\n", |_| {}),
            Err(ChunkError::TooLarge),
            "the sum overflows"
        );
        let exact = decode(b"400\r\n", &[], 1024).unwrap();
        assert_eq!(exact.1, 5);
    }
}
