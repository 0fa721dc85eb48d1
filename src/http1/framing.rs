//! How much of what arrives belongs to a message's body, whatever its
//! framing (RFC 9112 §6.3): an exact length, chunks, or up to the
//! connection's end. Used to relay an upstream's answer to the client and
//! to drain one nobody reads.

use super::chunked::{ChunkError, ChunkedDecoder};
use super::{Framing, ResponseHead};

/// How an answer's body reaches the client it is relayed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRelay {
    /// As the upstream framed it.
    AsFramed,
    /// Chunked framing removed (an HTTP/1.0 client): the body ends with the
    /// connection.
    Dechunked,
    /// Chunked framing added to a body the upstream ended by closing (an
    /// HTTP/1.1 client).
    Rechunked,
}

impl BodyRelay {
    /// How `answer` reaches a client speaking HTTP/1.1 (`http11`) or 1.0,
    /// and whether the client's connection may then persist (`keep_client`:
    /// it may as far as the client is concerned). `Err` when it cannot
    /// reach that client faithfully.
    pub fn for_client(answer: &ResponseHead, http11: bool, keep_client: bool) -> Result<(Self, bool), &'static str> {
        Ok(match answer.framing {
            // An HTTP/1.0 client cannot read chunked framing (RFC 9112
            // §6.1): it gets the body decoded, ending with the connection —
            // unless other codings sit under the chunks, which it would
            // then take for the body itself.
            Framing::Chunked if !http11 && answer.other_codings => {
                return Err("an answer with transfer codings beyond chunked cannot reach an HTTP/1.0 client")
            }
            Framing::Chunked if !http11 => (BodyRelay::Dechunked, false),
            // An answer the upstream ends by closing reaches an HTTP/1.1
            // client chunked: its end is then seen (and a break is too), and
            // the client's connection may stay.
            Framing::UntilClose if http11 && !answer.other_codings => (BodyRelay::Rechunked, keep_client),
            Framing::UntilClose => (BodyRelay::AsFramed, false),
            _ => (BodyRelay::AsFramed, keep_client),
        })
    }
}

/// Follows one body through the bytes that arrive for it.
pub enum BodyFramer {
    Exact(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

/// What one call to [`BodyFramer::take`] found.
pub struct Progress {
    /// Bytes of the input that are the body's.
    pub consumed: usize,
    /// The body ended.
    pub done: bool,
}

impl BodyFramer {
    pub fn new(framing: Framing) -> Self {
        match framing {
            Framing::Empty => BodyFramer::Exact(0),
            Framing::Length(n) => BodyFramer::Exact(n),
            Framing::Chunked => BodyFramer::Chunked(ChunkedDecoder::new(u64::MAX)),
            Framing::UntilClose => BodyFramer::UntilClose,
        }
    }

    /// Takes the body's part of `input`; decoded chunk data goes to `data`.
    pub fn take(&mut self, input: &[u8], data: impl FnMut(&[u8])) -> Result<Progress, ChunkError> {
        Ok(match self {
            BodyFramer::Exact(left) => {
                let take = usize::try_from(*left).map_or(input.len(), |left| left.min(input.len()));
                *left -= take as u64;
                Progress {
                    consumed: take,
                    done: *left == 0,
                }
            }
            BodyFramer::Chunked(decoder) => Progress {
                consumed: decoder.feed(input, data)?,
                done: decoder.is_done(),
            },
            BodyFramer::UntilClose => Progress {
                consumed: input.len(),
                done: false,
            },
        })
    }
}
