//! Lowercase hex written by hand, for the few bytes the data path turns
//! into text on every delivery (trace ids, dedup keys and claim tokens):
//! the `hex` crate's iterator and the formatter's `{:x}` cost several times
//! as many instructions for them.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes` into `out`, which must be twice as long.
pub fn put(bytes: &[u8], out: &mut [u8]) {
    debug_assert_eq!(out.len(), 2 * bytes.len());
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

/// The 32 hex digits of a 128-bit value, most significant first.
pub fn of_u128(value: u128) -> [u8; 32] {
    let mut out = [0u8; 32];
    put(&value.to_be_bytes(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_written_as_the_hex_crate_writes_it() {
        let bytes: Vec<u8> = (0..=255).collect();
        let mut out = vec![0u8; 512];
        super::put(&bytes, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), hex::encode(&bytes));
    }

    #[test]
    fn a_u128_is_written_as_the_formatter_writes_it() {
        for value in [0, 1, 0xabc, u128::MAX, 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210] {
            assert_eq!(super::of_u128(value).as_slice(), format!("{value:032x}").as_bytes());
        }
    }
}
