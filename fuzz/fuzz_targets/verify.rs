//! Every preset against arbitrary credentials and bodies: no panic, and
//! never a verified delivery (the fuzzer does not know the key).
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use hookfence::header_lines::OwnedHeaderLines;
use http::HeaderValue;
use libfuzzer_sys::fuzz_target;

use hookfence::verify::presets::PRESETS;
use hookfence::verify::{Location, Presented};

/// Keys in each preset's format (Standard Webhooks: whsec_; Discord: a public key).
fn key_text(preset: &hookfence::verify::presets::Preset) -> &'static str {
    // Whichever form the preset's keys take: text, whsec_ (Svix and
    // Standard Webhooks), an Ed25519 public key in hex (Discord) or base64
    // (Telnyx), a P-256 public key (SendGrid).
    [
        "fuzz-secret-key-that-is-long-enough",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==",
    ]
    .into_iter()
    .find(|key| preset.key(key).is_ok())
    .unwrap_or("fuzz-secret-key-that-is-long-enough")
}

fuzz_target!(|data: &[u8]| {
    // Layout: [preset index][value length][header value][query length][query][body...]
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let preset = &PRESETS[usize::from(which) % PRESETS.len()];
    let Some((&value_len, rest)) = rest.split_first() else {
        return;
    };
    let (value, rest) = rest.split_at(usize::from(value_len).min(rest.len()));
    let Some((&query_len, rest)) = rest.split_first() else {
        return;
    };
    let (query, body) = rest.split_at(usize::from(query_len).min(rest.len()));

    let verifier = preset.verifier(true).expect("presets build");
    let keys = [preset.key(key_text(preset)).expect("valid key")];
    let mut headers = OwnedHeaderLines::new();
    // The value goes into every header any scheme of the preset reads, if
    // it is one a header can hold on the wire (no CR, LF or NUL).
    if HeaderValue::from_bytes(value).is_ok() {
        for scheme in verifier.schemes() {
            if let Location::Header(name) = scheme.location() {
                headers.push(name.as_str(), value);
            }
        }
        for name in [
            "x-slack-request-timestamp",
            "webhook-id",
            "webhook-timestamp",
            "svix-id",
            "svix-timestamp",
            "x-signature-timestamp",
            "twitch-eventsub-message-id",
            "twitch-eventsub-message-timestamp",
            "x-zm-request-timestamp",
        ] {
            headers.push(name, value);
        }
    }
    let query = std::str::from_utf8(query).ok();
    let delivery = Presented {
        method: "POST",
        headers: headers.lines(),
        query,
        url: Some("https://hooks.example.com/fuzz"),
        body,
        now: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    };
    assert!(
        verifier.verify(&delivery, &keys).is_err(),
        "{}: a forged delivery verified",
        preset.name
    );
});
