//! hookfence's delivery ids: 26 characters of Crockford base32, a 48-bit
//! millisecond timestamp then 80 random bits (the ULID layout). They sort
//! by creation time, which keeps listings in arrival order, and replicas
//! never need to agree on them.

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A fresh id for a delivery received at `received_ms`.
pub fn new(received_ms: u64) -> String {
    let random = u128::from(fastrand::u64(..)) << 16 | u128::from(fastrand::u16(..));
    let value = (u128::from(received_ms & 0xFFFF_FFFF_FFFF) << 80) | (random & ((1u128 << 80) - 1));
    let mut out = [0u8; 26];
    for (i, slot) in out.iter_mut().enumerate() {
        // 26 digits of 5 bits cover 130 bits: the first digit holds 3.
        let shift = 5 * (25 - i);
        *slot = ALPHABET[((value >> shift) & 0x1F) as usize];
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// Whether `text` could be an id made here (admin API input is checked
/// before it names a key in a store).
pub fn is_valid(text: &str) -> bool {
    text.len() == 26 && text.bytes().all(|b| ALPHABET.contains(&b)) && text.as_bytes()[0] <= b'7'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_are_unique() {
        let earlier = new(1_700_000_000_000);
        let later = new(1_700_000_000_001);
        assert!(earlier < later, "{earlier} {later}");
        assert!(is_valid(&earlier) && is_valid(&later));
        let many: std::collections::HashSet<String> = (0..10_000).map(|_| new(5)).collect();
        assert_eq!(many.len(), 10_000);
        assert!(!is_valid("../../etc/passwd"));
        assert!(!is_valid("8ZZZZZZZZZZZZZZZZZZZZZZZZZ"), "beyond 128 bits");
        assert!(!is_valid("0123456789abcdefghjkmnpqrs"), "lowercase is not written here");
    }
}
