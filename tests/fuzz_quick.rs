//! A short fuzzing pass in the test suite (the full one is scripts/fuzz.sh):
//! the signature-header parsers, every preset, the config parser, route
//! matching and the HTTP/1 head and chunked parsers on arbitrary input never
//! panic, and nothing forged verifies.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderValue, Method};

use bytes::BytesMut;
use proptest::prelude::*;

use hookfence::header_lines::OwnedHeaderLines;
use hookfence::http1::chunked::ChunkedDecoder;
use hookfence::http1::{Framing, RequestHead, ResponseHead};

use hookfence::config::Config;
use hookfence::routing::{PathPattern, Routable, RouteMatch, RouteTable};
use hookfence::verify::header_format::HeaderFormat;
use hookfence::verify::presets::PRESETS;
use hookfence::verify::{Location, Presented};

/// Header values as senders and attackers write them: signature-ish text
/// as well as raw bytes.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "(sha1=|sha256=|v0=|v1=|v1,|t=[0-9]{1,12},v1=|ts=[0-9]{1,10};h1=)?[0-9a-fA-F+/=]{0,130}"
            .prop_map(String::into_bytes),
        "[ -~]{0,200}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn forged_deliveries_never_verify(preset in 0..PRESETS.len(), value in header_value(),
                                      query in "[ -~]{0,60}", body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let preset = &PRESETS[preset];
        let verifier = preset.verifier(true).unwrap();
        let keys = [preset.key(preset.example_key()).unwrap()];
        let mut headers = OwnedHeaderLines::new();
        // Only bytes a header value can hold on the wire (no CR, LF or NUL).
        if HeaderValue::from_bytes(&value).is_ok() {
            for scheme in verifier.schemes() {
                if let Location::Header(name) = scheme.location() {
                    headers.push(name.as_str(), &value);
                }
            }
            for name in ["x-slack-request-timestamp", "webhook-id", "webhook-timestamp", "x-signature-timestamp",
                         "twitch-eventsub-message-id", "twitch-eventsub-message-timestamp", "x-zm-request-timestamp",
                         "x-frameio-request-timestamp", "x-zendesk-webhook-signature-timestamp", "box-delivery-timestamp",
                         "telnyx-timestamp", "x-hubspot-request-timestamp", "x-twilio-email-event-webhook-timestamp"] {
                headers.push(name, &value);
            }
        }
        let delivery = Presented {
            method: "POST",
            headers: headers.lines(),
            query: Some(&query),
            url: Some("https://hooks.example.com/quick"),
            body: &body,
            now: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        };
        prop_assert!(verifier.verify(&delivery, &keys).is_err(), "{} verified a forged delivery", preset.name);
    }

    #[test]
    fn signature_header_layouts_parse_anything(value in proptest::collection::vec(any::<u8>(), 0..300)) {
        for format in [
            HeaderFormat::Single { prefix: "sha256=".into() },
            HeaderFormat::List { separator: ' ', prefix: "v1,".into() },
            HeaderFormat::Pairs { separator: ',', signature_key: "v1".into(), timestamp_key: Some("t".into()) },
        ] {
            if let Ok(parsed) = format.parse(&value) {
                prop_assert!(!parsed.candidates().is_empty());
                for candidate in parsed.candidates() {
                    prop_assert!(candidate.len() <= value.len());
                }
            }
        }
    }

    #[test]
    fn the_config_parser_reports_errors_with_the_file(text in "[ -~\n]{0,400}", mutation in 0usize..400) {
        // Arbitrary text, and a valid config with one byte replaced.
        let valid = "[server]\nlisten = \"127.0.0.1:8080\"\n[[routes]]\nname = \"g\"\npath = \"/g\"\nupstream = \"http://127.0.0.1:1\"\nprovider = \"github\"\nsecrets = [\"env:S\"]\n";
        let mut mutated = valid.as_bytes().to_vec();
        let at = mutation % mutated.len();
        mutated[at] = text.as_bytes().first().copied().unwrap_or(b'#');
        for source in [text.clone(), String::from_utf8_lossy(&mutated).into_owned()] {
            if let Err(errors) = Config::parse(Path::new("quick.toml"), &source, &|_| Some("secret".into())) {
                prop_assert!(!errors.0.is_empty());
                for error in &errors.0 {
                    prop_assert!(error.to_string().starts_with("quick.toml"), "{}", error);
                }
            }
        }
    }

    #[test]
    fn route_matching_never_matches_dot_segments(patterns in proptest::collection::vec("(/([a-z]{1,3}|\\{[a-z]\\}|\\*|\\.|\\.\\.)){1,4}", 0..6),
                                                  path in "(/([a-z]{1,3}|\\.|\\.\\.|%2[eE]|%2[eE]%2[eE])){0,5}") {
        struct Route(PathPattern, Vec<Method>);
        impl Routable for Route {
            fn pattern(&self) -> &PathPattern { &self.0 }
            fn methods(&self) -> &[Method] { &self.1 }
        }
        let routes: Vec<Route> = patterns.iter().filter_map(|p| PathPattern::parse(p).ok()).map(|p| Route(p, vec![Method::POST])).collect();
        if let Ok(table) = RouteTable::new(routes) {
            if let RouteMatch::Found { .. } = table.find(&Method::POST, &path) {
                let dotted = path.split('/').any(|s| {
                    let s = s.to_ascii_lowercase().replace("%2e", ".");
                    s == "." || s == ".."
                });
                prop_assert!(!dotted, "{} matched", path);
            }
        }
    }

    #[test]
    fn http1_heads_parse_anything_and_stay_within_their_bytes(
        raw in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..600),
            "(POST|GET|PRI) (/[ -~]{0,20}|\\*|http://[a-z]{1,5}[/?]?[ -~]{0,10}) HTTP/1\\.[01]\r\n([A-Za-z-]{1,12}:[ -~]{0,20}\r\n){0,6}\r\n[ -~]{0,20}".prop_map(String::into_bytes),
        ],
        split in any::<usize>(),
    ) {
        let mut buf = BytesMut::from(&raw[..]);
        if let Ok(Some(head)) = RequestHead::parse(&mut buf) {
            prop_assert!(buf.len() < raw.len(), "the head was split off");
            prop_assert!(head.path().len() <= head.origin_form().len());
            for (name, value) in head.headers().iter() {
                prop_assert!(!name.is_empty() && name.len() + value.len() < raw.len());
            }
            // A head is complete regardless of how its bytes arrived.
            let cut = split % raw.len();
            let mut partial = BytesMut::from(&raw[..cut]);
            if let Ok(Some(early)) = RequestHead::parse(&mut partial) {
                prop_assert_eq!(early.target(), head.target());
            }
        }
        let mut buf = BytesMut::from(&raw[..]);
        if let Ok(Some(head)) = ResponseHead::parse(&mut buf, false) {
            prop_assert!(head.framing != Framing::Empty || head.status < 200 || head.status == 204 || head.status == 304);
        }
    }

    #[test]
    fn the_chunked_decoder_takes_anything_and_never_yields_more_than_it_is_fed(
        input in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..400),
            "([0-9a-fA-F]{1,3}(;[ -~]{0,8})?\r\n[ -~]{0,20}\r\n){0,4}0\r\n([A-Za-z]{1,5}: [ -~]{0,8}\r\n)?\r\n[ -~]{0,10}".prop_map(String::into_bytes),
        ],
        limit in 0u64..100,
    ) {
        let mut decoder = ChunkedDecoder::new(limit);
        let mut decoded = 0;
        if let Ok(consumed) = decoder.feed(&input, |data| decoded += data.len()) {
            prop_assert!(consumed <= input.len());
            prop_assert!(decoded <= consumed);
            prop_assert!(decoded as u64 <= limit);
            prop_assert!(decoder.is_done() || consumed == input.len());
        }
    }
}
