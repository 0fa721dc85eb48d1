//! docs/providers.md is generated from the presets; these tests keep the
//! file current and prove every route it offers for copying validates.

use std::path::Path;

use hookfence::catalogue;
use hookfence::config::Config;
use hookfence::verify::encoding::KeyEncoding;
use hookfence::verify::presets::PRESETS;

#[test]
fn docs_providers_md_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/providers.md");
    let on_disk = std::fs::read_to_string(path).expect("docs/providers.md exists");
    assert!(
        on_disk == catalogue::markdown(),
        "docs/providers.md is out of date: run `hookfence providers --markdown > docs/providers.md`"
    );
}

#[test]
fn every_example_route_validates() {
    for preset in PRESETS {
        let key = match preset.key_encoding {
            KeyEncoding::Base64 { .. } => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            // RFC 8032 test key 1.
            KeyEncoding::Hex { .. } => "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            KeyEncoding::Text => "example-secret",
        };
        let variable = catalogue::example_variable(preset);
        let source = format!(
            "[server]\nlisten = \"127.0.0.1:8080\"\n\n{}",
            catalogue::example_route(preset)
        );
        let parsed = Config::parse(Path::new("example.toml"), &source, &|name| {
            (name == variable).then(|| key.to_owned())
        });
        assert!(parsed.is_ok(), "{}: {}\n{source}", preset.name, parsed.unwrap_err());
    }
}
