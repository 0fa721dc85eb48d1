//! How signatures and keys are written as text: hex (either case), base64.
//!
//! Decoding writes into a caller's stack buffer: verification decodes a
//! presented signature on every delivery and should not allocate for it.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::Deserialize;

/// The largest signature any scheme carries (a DER ECDSA P-256 signature:
/// 72 bytes; SHA-512 HMAC and Ed25519: 64).
pub const MAX_SIGNATURE: usize = 72;

/// How a signature's bytes are written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Hex digits, either case.
    Hex,
    /// Standard base64 alphabet, with padding.
    Base64,
    /// URL-safe base64 alphabet (`-`, `_`), with padding.
    Base64url,
    /// URL-safe base64 alphabet without padding (Sanity).
    #[serde(rename = "base64url-unpadded")]
    Base64urlUnpadded,
}

impl Encoding {
    /// Decodes into `out`; `None` if `text` is not valid in this encoding or
    /// longer than any signature.
    pub fn decode<'o>(self, text: &[u8], out: &'o mut [u8; MAX_SIGNATURE]) -> Option<&'o [u8]> {
        let len = match self {
            Encoding::Hex => decode_hex(text, out)?,
            Encoding::Base64 => STANDARD.decode_slice(text, out).ok()?,
            Encoding::Base64url => URL_SAFE.decode_slice(text, out).ok()?,
            Encoding::Base64urlUnpadded => URL_SAFE_NO_PAD.decode_slice(text, out).ok()?,
        };
        Some(&out[..len])
    }

    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Hex => hex::encode(bytes),
            Encoding::Base64 => STANDARD.encode(bytes),
            Encoding::Base64url => URL_SAFE.encode(bytes),
            Encoding::Base64urlUnpadded => URL_SAFE_NO_PAD.encode(bytes),
        }
    }
}

/// Keys are decoded leniently about padding, as the Standard Webhooks
/// reference library does (`b64decode(secret + "==")`); signatures are not.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Hex digit values; 0xFF marks a byte that is not a hex digit.
static HEX_VALUES: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Hex (either case) into `out`, without a branch per digit: an invalid
/// digit's 0xFF sets bits no valid digit has, checked once at the end.
fn decode_hex(text: &[u8], out: &mut [u8; MAX_SIGNATURE]) -> Option<usize> {
    let len = text.len() / 2;
    if !text.len().is_multiple_of(2) || len > out.len() {
        return None;
    }
    let mut invalid = 0u8;
    for (pair, byte) in text.chunks_exact(2).zip(out.iter_mut()) {
        let (high, low) = (HEX_VALUES[usize::from(pair[0])], HEX_VALUES[usize::from(pair[1])]);
        invalid |= high | low;
        *byte = (high << 4) | (low & 0x0F);
    }
    (invalid < 16).then_some(len)
}

/// How a configured key is written: most providers hand out a text secret
/// that is used as-is; Standard Webhooks hands out `whsec_<base64>`, and
/// Ed25519 public keys come as hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEncoding {
    /// The bytes of the text, as given.
    Text,
    /// Hex; `len` is the exact decoded length required, if any.
    Hex { len: Option<usize> },
    /// Standard base64 after an optional literal prefix (`whsec_`), which is
    /// removed when present.
    Base64 { prefix: &'static str },
}

impl KeyEncoding {
    /// Decodes a configured key. Errors describe the format, never the key.
    pub fn decode(self, text: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            KeyEncoding::Text => Ok(text.to_vec()),
            KeyEncoding::Hex { len } => {
                let bytes = hex::decode(text.trim_ascii()).map_err(|_| "is not valid hex".to_owned())?;
                match len {
                    Some(len) if bytes.len() != len => Err(format!(
                        "must be {len} bytes ({} hex digits), not {}",
                        len * 2,
                        bytes.len()
                    )),
                    _ => Ok(bytes),
                }
            }
            KeyEncoding::Base64 { prefix } => {
                let text = text.strip_prefix(prefix.as_bytes()).unwrap_or(text);
                LENIENT_BASE64
                    .decode(text.trim_ascii())
                    .map_err(|_| format!("is not valid base64 (optionally after `{prefix}`)"))
            }
        }
    }

    pub fn describe(self) -> String {
        match self {
            KeyEncoding::Text => "text".into(),
            KeyEncoding::Hex { len: Some(len) } => format!("hex, {len} bytes"),
            KeyEncoding::Hex { len: None } => "hex".into(),
            KeyEncoding::Base64 { prefix: "" } => "base64".into(),
            KeyEncoding::Base64 { prefix } => format!("base64, optionally prefixed `{prefix}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_decode_in_either_hex_case_and_refuse_garbage() {
        let mut buf = [0; MAX_SIGNATURE];
        assert_eq!(Encoding::Hex.decode(b"0aFf", &mut buf), Some(&[0x0a, 0xff][..]));
        assert_eq!(Encoding::Hex.decode(b"0aF", &mut buf), None);
        assert_eq!(Encoding::Hex.decode(b"zz", &mut buf), None);
        assert_eq!(Encoding::Hex.decode(b"0g", &mut buf), None);
        assert_eq!(Encoding::Hex.decode(b"/0", &mut buf), None, "the byte before '0'");
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(
            Encoding::Hex.decode(hex::encode(&all[..64]).as_bytes(), &mut buf),
            Some(&all[..64])
        );
        assert_eq!(
            Encoding::Hex.decode(hex::encode_upper(&all[192..]).as_bytes(), &mut buf),
            Some(&all[192..])
        );
        assert_eq!(
            Encoding::Hex.decode(&[b'a'; 2 * MAX_SIGNATURE + 2], &mut buf),
            None,
            "longer than any signature"
        );
        assert_eq!(Encoding::Base64.decode(b"AP8=", &mut buf), Some(&[0x00, 0xff][..]));
        assert_eq!(Encoding::Base64.decode(b"AP8", &mut buf), None, "padding required");
        assert_eq!(Encoding::Base64url.decode(b"_-8=", &mut buf), Some(&[0xff, 0xef][..]));
        assert_eq!(Encoding::Base64.decode(b"_-8=", &mut buf), None);
    }

    #[test]
    fn keys() {
        assert_eq!(KeyEncoding::Text.decode(b"abc"), Ok(b"abc".to_vec()));
        let whsec = KeyEncoding::Base64 { prefix: "whsec_" };
        assert_eq!(whsec.decode(b"whsec_AP8="), Ok(vec![0, 255]));
        assert_eq!(whsec.decode(b"AP8="), Ok(vec![0, 255]));
        assert_eq!(whsec.decode(b"whsec_AP8"), Ok(vec![0, 255]), "padding optional");
        assert!(whsec.decode(b"whsec_***").is_err());
        let ed = KeyEncoding::Hex { len: Some(2) };
        assert_eq!(ed.decode(b"00ff"), Ok(vec![0, 255]));
        assert!(ed.decode(b"00").unwrap_err().contains("must be 2 bytes"));
    }
}
