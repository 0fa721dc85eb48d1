//! The provider catalogue as text. `hookfence providers` and
//! `docs/providers.md` are generated from the presets themselves, so the
//! documentation cannot drift from the data (a test compares the file).

use std::fmt::Write as _;

use crate::verify::display_header_name;
use crate::verify::encoding::{Encoding, KeyEncoding};
use crate::verify::field::Field;
use crate::verify::presets::{Preset, PRESETS};
use crate::verify::spec::{FormatSpec, SchemeSpec, SignatureSpec, TimestampSourceSpec, TokenSpec};

/// One preset, described for people.
pub struct Description {
    pub credential: String,
    pub algorithm: String,
    pub signed: String,
    pub replay_window: String,
    pub delivery_id: String,
    pub event: String,
    pub keys: String,
}

pub fn describe(preset: &Preset) -> Description {
    let credential: Vec<_> = preset.schemes.iter().map(credential).collect();
    let (algorithm, signed, window) = match preset.schemes.first() {
        Some(SchemeSpec::Signature(s)) => (
            format!("{}, {}", s.algorithm.name(), encoding(s.encoding)),
            format!("`{}`", s.signed),
            window(s),
        ),
        _ => (
            "token, constant-time compare".into(),
            "— (the body is not signed)".into(),
            "—".into(),
        ),
    };
    Description {
        credential: credential.join("; or "),
        algorithm,
        signed,
        replay_window: window,
        delivery_id: field(preset.delivery_id),
        event: field(preset.event),
        keys: key_encoding(preset.key_encoding),
    }
}

fn credential(spec: &SchemeSpec<&str>) -> String {
    match spec {
        SchemeSpec::Signature(s) => {
            let sig = format!("<{}>", encoding(s.encoding));
            let header = display_header_name(s.header);
            let layout = match &s.format {
                FormatSpec::Single { prefix } => format!("`{header}: {prefix}{sig}`"),
                FormatSpec::List { separator, prefix } => {
                    let separator = if *separator == ' ' { "space" } else { "comma" };
                    format!("`{header}: {prefix}{sig}` (several, {separator}-separated)")
                }
                FormatSpec::Pairs {
                    separator,
                    signature_key,
                    timestamp_key,
                } => match timestamp_key {
                    Some(ts) => format!(
                        "`{header}: {ts}=<timestamp>{separator}{signature_key}={sig}[{separator}{signature_key}=…]`"
                    ),
                    None => format!("`{header}: {signature_key}={sig}`"),
                },
            };
            let mut text = layout;
            if let Some(id) = s.id_header {
                let _ = write!(text, ", `{}`", display_header_name(id));
            }
            if let Some(TimestampSourceSpec::Header(ts)) = s.timestamp.as_ref().map(|t| &t.source) {
                let _ = write!(text, ", `{}`", display_header_name(ts));
            }
            text
        }
        SchemeSpec::Token(TokenSpec::Header(h)) => format!("token in `{}`", display_header_name(h)),
        SchemeSpec::Token(TokenSpec::Query(q)) => format!("token in query parameter `{q}`"),
        SchemeSpec::Token(TokenSpec::Basic) => "`Authorization: Basic` (secret = `user:password`)".into(),
        SchemeSpec::Token(TokenSpec::Bearer) => "`Authorization: Bearer <token>`".into(),
    }
}

/// A field as the config writes it, header names in their documented case.
fn field(text: Option<&str>) -> String {
    match text.map(Field::parse) {
        Some(Ok(field)) => format!("`{field}`"),
        _ => "—".into(),
    }
}

fn window(spec: &SignatureSpec<&str>) -> String {
    let Some(ts) = &spec.timestamp else {
        return "none signed (deduplicate by id)".into();
    };
    let place = match &ts.source {
        TimestampSourceSpec::Header(h) => format!("`{}`", display_header_name(h)),
        TimestampSourceSpec::SignatureHeader => "in the signature header".into(),
        TimestampSourceSpec::BodyJson(p) => format!("body `{p}`"),
    };
    match ts.tolerance_secs {
        Some(secs) => format!("±{secs} s ({place})"),
        None => format!("signed, no default window ({place}); set `replay_window`"),
    }
}

fn encoding(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Hex => "hex",
        Encoding::Base64 => "base64",
        Encoding::Base64url => "base64url",
        Encoding::Base64urlUnpadded => "base64url, unpadded",
    }
}

fn key_encoding(encoding: KeyEncoding) -> String {
    match encoding {
        KeyEncoding::Text => "text, as given".into(),
        other => other.describe(),
    }
}

/// The environment variable an example config reads the key from.
pub fn example_variable(preset: &Preset) -> String {
    format!("{}_WEBHOOK_SECRET", preset.name.to_ascii_uppercase().replace('-', "_"))
}

/// A route for `preset`, ready to paste into a config.
pub fn example_route(preset: &Preset) -> String {
    let mut route = format!(
        "[[routes]]\nname = \"{name}\"\npath = \"/hooks/{name}\"\nupstream = \"http://127.0.0.1:3000\"\nprovider = \"{name}\"\nsecrets = [\"env:{var}\"]\n",
        name = preset.name,
        var = example_variable(preset),
    );
    if preset.schemes.iter().any(SchemeSpec::signs_url) {
        route.push_str("public_url = \"https://hooks.example.com\"   # as registered with the sender\n");
    }
    if preset.ping_event.is_some() {
        route.push_str("answer_ping = true\n");
    }
    route
}

/// The whole of docs/providers.md.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Providers\n\n\
         <!-- Generated by `hookfence providers --markdown` from src/verify/presets.rs; a test keeps it current. -->\n\n\
         Every preset hookfence ships, what it checks, and a route to copy. A preset is data: where the\n\
         proof is, which bytes are signed, with which algorithm, and how old a delivery may be. Replay\n\
         windows apply both ways (a timestamp too far in the future is refused too); `replay_window` on a\n\
         route changes one. Schemes that sign no timestamp can be replayed: turn on deduplication by\n\
         delivery id for them. A custom scheme (`[routes.custom]`, see README) covers any other sender.\n\n\
         | provider | proof | algorithm | signed bytes | replay window | delivery id | event | key format |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for preset in PRESETS {
        let d = describe(preset);
        let _ = writeln!(
            out,
            "| [`{}`]({}) | {} | {} | {} | {} | {} | {} | {} |",
            preset.name,
            preset.docs,
            d.credential,
            d.algorithm,
            d.signed,
            d.replay_window,
            d.delivery_id,
            d.event,
            d.keys
        );
    }
    out.push_str(
        "\nLeft out because their scheme could not be confirmed from the provider's own documentation or\n\
         SDK: **Atlassian Bamboo** (no signing feature found; its webhook templates can send a static\n\
         token header — use `[routes.custom]` with `kind = \"token\"`) and **Vercel** (HMAC-SHA1 of the\n\
         body is documented, the encoding is not — a custom scheme can express it once checked against a\n\
         real delivery).\n\n## Routes to copy\n",
    );
    for preset in PRESETS {
        let _ = write!(
            out,
            "\n### {}\n\nScheme documented at <{}>.\n\n```toml\n{}```\n",
            preset.name,
            preset.docs,
            example_route(preset)
        );
    }
    out
}
