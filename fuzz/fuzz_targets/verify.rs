//! Every preset against arbitrary credentials and bodies: no panic, and
//! never a verified delivery (the fuzzer does not know the key).
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use hookfence::header_lines::OwnedHeaderLines;
use http::HeaderValue;
use libfuzzer_sys::fuzz_target;

use hookfence::verify::presets::PRESETS;
use hookfence::verify::{Location, Presented};

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
    let keys = [preset.key(preset.example_key()).expect("valid key")];
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
